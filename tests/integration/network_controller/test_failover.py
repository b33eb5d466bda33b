"""Two controller replicas with leader election: one works, the other takes
over when the leader dies, and no key is reconciled by both at once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client, ResourceClient
from kubeloop.leaderelection.resource_lock import parse_micro_time
from tests.integration.support import network, wait_until

pytestmark = pytest.mark.integration

LEASE, RENEW, RETRY = 4.0, 3.0, 0.5
LEASE_NAME = "network-controller"  # --leader-elect-id's default


def _identity(proc: ControllerProcess) -> str:
    """The identity a replica leads as, from its "became leader" line."""
    line = proc.wait_for(lambda line: '"became leader' in line, 0)
    m = re.search(r'"became leader[^"]*" .*identity="([^"]+)"', line)
    assert m, line
    return m.group(1)


def _lease_history(
    leases: ResourceClient, start: dict[str, Any], until_holder: str
) -> list[dict[str, Any]]:
    """The Lease's spec in ``start`` and at each change after it, up to the
    first one held by ``until_holder``."""
    specs: list[dict[str, Any]] = [start["spec"]]
    since = start["metadata"]["resourceVersion"]
    with leases.watch(resource_version=since, timeout_seconds=60) as w:
        for event in w:
            if event.object["metadata"]["name"] != LEASE_NAME:
                continue
            spec = event.object["spec"]
            specs.append(spec)
            if spec.get("holderIdentity") == until_holder:
                return specs
    raise AssertionError(f"the watch ended before {until_holder} held the Lease: {specs}")


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

        leases = client.resource(
            "coordination.k8s.io/v1", "leases", namespace=namespace, namespaced=True
        )
        # The Lease now, and every version after it, in order, through a watch.
        current = leases.get(LEASE_NAME)
        leader.kill()  # SIGKILL: no release, the lease must expire
        nets.create(network("n5", "10.5.0.0/16", "10.5.0.1"))
        standby.wait_for(lambda line: "became leader" in line, 0, timeout=60)
        old_id, new_id = _identity(leader), _identity(standby)
        history = _lease_history(leases, current, until_holder=new_id)
        # The killed leader's renewals, then the standby's takeover; nobody between.
        *renewals, taken = history
        assert renewals and {r["holderIdentity"] for r in renewals} == {old_id}, history
        last = renewals[-1]
        assert taken["leaseTransitions"] == last["leaseTransitions"] + 1
        waited = parse_micro_time(taken["acquireTime"]) - parse_micro_time(last["renewTime"])
        print(f"takeover after SIGKILL of the leader: {waited.total_seconds():.2f}s")
        # The standby saw the last renewal after it was written and waited a
        # whole lease from then (its monotonic clock; both clocks are this
        # machine's): never sooner, however slow the machine.
        assert last["leaseDurationSeconds"] == int(LEASE)
        assert waited.total_seconds() >= LEASE, "taken before the killed leader's lease expired"
        # The backend logs an operation after it changed the state file, so
        # the log, not the file, says the new leader is done with n5 (a kill
        # between the two leaves the file ahead of the log).
        wait_until(lambda: _logged(state, f"{namespace}/n5"), 30, "the new leader to create n5")
    finally:
        a.kill()
        b.kill()
    ops = _operations(state)
    pids = [op["pid"] for op in ops]
    # One writer at a time: the old leader's operations all come before the
    # new leader's first one, and n5, created after the kill, is the new one's.
    first_other = next(i for i, pid in enumerate(pids) if pid != pids[0])
    assert all(pid != pids[0] for pid in pids[first_other:]), ops
    assert ops[-1]["key"] == f"{namespace}/n5", ops


def _operations(state: Path) -> list[dict[str, Any]]:
    """The mock backend's operations log, whole lines only."""
    try:
        lines = (state / "operations.log").read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("\n")]


def _logged(state: Path, key: str) -> bool:
    return any(op["key"] == key for op in _operations(state))
