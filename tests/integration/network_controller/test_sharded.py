"""network-controller --shard-count: three replicas share one mock backend
(a file lock makes it safe to share) and the Networks; each replica's
backend sweep judges only the entries of the shards it holds, so none
deletes another's networks, and an orphan is deleted exactly once; a
replica killed and one joining move shards without losing a network."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.testenv._controlplane import ControlPlane
from tests.integration.support import network, wait_until

pytestmark = pytest.mark.integration

SHARDS = 12
LEASES = "network-controller-networks-shard-"


def replica(kubeconfig: str, state: Path, namespace: str, lease_ns: str) -> ControllerProcess:
    return ControllerProcess(
        kubeconfig,
        str(state),
        [
            "--namespace", namespace,
            "--shard-count", str(SHARDS),
            "--leader-elect-namespace", lease_ns,
            "--leader-elect-lease-duration=4s",
            "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=0.5s",
            "--resync", "2s",
            "--kube-api-qps", "200", "--kube-api-burst", "400",
            "-v", "4",
        ],
    )  # fmt: skip


def ready(client: Client, namespace: str) -> set[str]:
    nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
    out = set()
    for n in nets.list().items:
        conditions = (n.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            out.add(n["metadata"]["name"])
    return out


def holders(client: Client, lease_ns: str) -> dict[int, str]:
    leases = client.resource("coordination.k8s.io/v1", "leases", namespace=lease_ns)
    return {
        int(lease["metadata"]["name"][len(LEASES) :]): lease["spec"].get("holderIdentity") or ""
        for lease in leases.list().items
        if lease["metadata"]["name"].startswith(LEASES)
    }


def operations(state: Path) -> list[dict[str, Any]]:
    path = state / "operations.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def identity(proc: ControllerProcess) -> str:
    """Who the replica holds shards as, from its first "became leader" line."""
    line = proc.wait_for(lambda text: "became leader" in text and LEASES in text, 0)
    match = re.search(LEASES + r"\d+: (\S+) became leader", line)
    assert match, line
    return match.group(1)


def held_by(client: Client, lease_ns: str, replicas: set[str]) -> bool:
    """Every shard held, each by one of ``replicas``, and each of them holding some."""
    held = holders(client, lease_ns)
    return len(held) == SHARDS and set(held.values()) == replicas


def sweeps(proc: ControllerProcess, mark: int, n: int) -> None:
    proc.wait_for_lines(lambda line: "backend sweep: starting" in line, mark, n, 60)


def test_sharded_replicas_share_the_backend_and_never_sweep_each_others_networks(
    gated_client: Client, gated_testenv: ControlPlane, tmp_path: Path
) -> None:
    client, kubeconfig = gated_client, str(gated_testenv.kubeconfig)
    namespaces = client.resource("v1", "namespaces")
    ns, lease_ns = (f"nsh-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for name in (ns, lease_ns):
        namespaces.create({"metadata": {"name": name}})
    state = tmp_path / "state"
    state.mkdir()
    # An orphan left by someone: a network whose Network is gone.
    orphan = {"id": "x", "cidr": "10.9.0.0/24", "gateway": "10.9.0.1", "uid": str(uuid.uuid4())}
    (state / "networks.json").write_text(json.dumps({f"{ns}/orphan": orphan}))
    nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=ns)
    names = {f"net-{i}" for i in range(150)}
    for name in sorted(names):
        nets.create(network(name))
    procs = {r: replica(kubeconfig, state, ns, lease_ns) for r in ("a", "b", "c")}
    try:
        for p in procs.values():
            p.start()
        wait_until(lambda: ready(client, ns) == names, 120, "every Network Ready")
        ids = {r: identity(p) for r, p in procs.items()}
        wait_until(lambda: held_by(client, lease_ns, set(ids.values())), 60, "a, b, c holding")
        wait_until(
            lambda: f"{ns}/orphan" not in json.loads((state / "networks.json").read_text()),
            60,
            "the orphan deleted",
        )
        # A replica dies, another joins: the shards move, nothing is lost.
        procs.pop("b").kill()
        procs["d"] = replica(kubeconfig, state, ns, lease_ns)
        procs["d"].start()
        ids["d"] = identity(procs["d"])
        live = {ids[r] for r in ("a", "c", "d")}
        wait_until(lambda: held_by(client, lease_ns, live), 60, "a, c and d holding")
        marks = {r: p.mark() for r, p in procs.items()}
        for r, p in procs.items():
            sweeps(p, marks[r], 2)  # two full sweeps on every live replica after the moves
        backend = json.loads((state / "networks.json").read_text())
        assert set(backend) == {f"{ns}/{n}" for n in names}
        ops = operations(state)
        deletes = [op["key"] for op in ops if op["op"] == "delete"]
        assert deletes == [f"{ns}/orphan"]  # once, by one replica; no one else's network
        creates = [op["key"] for op in ops if op["op"] == "create"]
        assert sorted(creates) == sorted(f"{ns}/{n}" for n in names)  # each exactly once
    finally:
        for p in procs.values():
            p.kill()
        for name in (ns, lease_ns):
            namespaces.delete(name)
    assert not [line for p in procs.values() for line in p.lines if "Traceback" in line]
