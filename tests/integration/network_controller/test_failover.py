"""Two controller replicas with leader election: one works, the other takes
over when the leader dies, and no key is reconciled by both at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kubeloop.client import Client
from network_controller.walkthrough import ControllerProcess
from tests.integration.support import network, wait_until

pytestmark = pytest.mark.integration

LEASE, RENEW, RETRY = 4.0, 3.0, 0.5


def _replica(kubeconfig: str, state: Path, namespace: str) -> ControllerProcess:
    return ControllerProcess(
        kubeconfig,
        str(state),
        [
            "--namespace",
            namespace,
            "--leader-elect",
            "--leader-elect-namespace",
            namespace,
            "--leader-elect-lease-duration",
            f"{LEASE}s",
            "--leader-elect-renew-deadline",
            f"{RENEW}s",
            "--leader-elect-retry-period",
            f"{RETRY}s",
            "--resync",
            "2s",
        ],
    )


def test_the_standby_takes_over_after_the_leader_is_killed(
    kubeconfig: str, client: Client, network_crd: str, namespace: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    a, b = _replica(kubeconfig, state, namespace), _replica(kubeconfig, state, namespace)
    a.start()
    b.start()
    nets = client.resource(network_crd, "networks", namespace=namespace)
    try:
        leader = None

        def someone_leads() -> bool:
            nonlocal leader
            for p in (a, b):
                if any("became leader" in line for line in p.lines):
                    leader = p
            return leader is not None

        wait_until(someone_leads, 30, "a leader")
        assert leader is not None
        standby = b if leader is a else a
        for i in range(5):
            nets.create(network(f"n{i}", f"10.{i}.0.0/16", f"10.{i}.0.1"))
        backend = state / "networks.json"

        def in_backend(n: int) -> bool:
            try:
                return len(json.loads(backend.read_text())) >= n
            except (FileNotFoundError, json.JSONDecodeError):
                return False

        wait_until(lambda: in_backend(5), 30, "5 networks in the backend")
        assert not any("became leader" in line for line in standby.lines)

        leader.kill()  # SIGKILL: no release, the lease must expire
        killed_at = time.monotonic()
        nets.create(network("n5", "10.5.0.0/16", "10.5.0.1"))
        mark = 0
        standby.wait_for(lambda line: "became leader" in line, mark, timeout=30)
        takeover = time.monotonic() - killed_at
        print(f"takeover after SIGKILL of the leader: {takeover:.2f}s")
        assert takeover <= LEASE + RETRY * 1.2 + 2.0
        wait_until(lambda: in_backend(6), 30, "the new leader to create n5")
    finally:
        a.kill()
        b.kill()
    ops = [json.loads(line) for line in (state / "operations.log").read_text().splitlines()]
    pids = [op["pid"] for op in ops]
    # One writer at a time: the old leader's operations all come before the
    # new leader's first one.
    first_other = next(i for i, pid in enumerate(pids) if pid != pids[0])
    assert all(pid != pids[0] for pid in pids[first_other:])
