"""Replicas of one sharded controller on the real API server: every object
reconciled, each by one replica at a time; a killed replica's shards taken
over after lease expiry; a joiner handed shards; with the server applying
shardSelector (gate on) and with the client filtering (gate off)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from kubeloop.cache import ShardKey
from kubeloop.client import Client
from kubeloop.testenv._controlplane import ControlPlane
from tests.integration.sharding.replicas import LEASE_DURATION, Group
from tests.integration.support import network

SHARDS = 12
NETWORKS = "samplecrd.k8s.io/v1", "networks"


@contextlib.contextmanager
def scratch_namespaces(client: Client, n: int) -> Iterator[list[str]]:
    namespaces = client.resource("v1", "namespaces")
    names = [f"shr-{uuid.uuid4().hex[:8]}" for _ in range(n)]
    for name in names:
        namespaces.create({"metadata": {"name": name}})
    try:
        yield names
    finally:
        for name in names:
            namespaces.delete(name)


def create_networks(client: Client, namespaces: list[str], per_namespace: int) -> set[str]:
    def create(ns: str) -> list[str]:
        nets = client.resource(*NETWORKS, namespace=ns)
        for i in range(per_namespace):
            nets.create(network(f"net-{i}"))
        return [f"{ns}/net-{i}" for i in range(per_namespace)]

    with ThreadPoolExecutor(len(namespaces)) as pool:
        return {key for keys in pool.map(create, namespaces) for key in keys}


def ready_keys(client: Client, namespaces: list[str]) -> set[str]:
    ready = set()
    for ns in namespaces:
        for net in client.resource(*NETWORKS, namespace=ns).list().items:
            conditions = (net.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                ready.add(f"{ns}/{net['metadata']['name']}")
    return ready


def shard_keys(client: Client, namespaces: list[str]) -> dict[int, set[str]]:
    """``shard -> keys`` of the Networks, by the same hash as the server's."""
    key = ShardKey("uid", SHARDS)
    out: dict[int, set[str]] = {}
    for ns in namespaces:
        for net in client.resource(*NETWORKS, namespace=ns).list().items:
            shard = key.shard_of_value(net["metadata"]["uid"])
            out.setdefault(shard, set()).add(f"{ns}/{net['metadata']['name']}")
    return out


def check_steady(group: Group, total: int, gate_on: bool) -> None:
    """Each replica caches its third; receives its third (gate on) or everything."""
    with group.cond:
        cached = {r: s["cached"] for r, s in group.stats.items()}
        received = {r: s["received"] for r, s in group.stats.items()}
    assert sum(cached.values()) == total
    third, sent = total / 3, sum(received.values())
    for r in cached:
        if total >= 3000:  # smaller runs: too few objects for a 15% bound on every seed
            assert abs(cached[r] - third) <= 0.15 * third, cached
        if gate_on:  # the server sent each replica only its own objects' events
            assert abs(received[r] - sent / 3) <= 0.15 * sent / 3, received
        else:  # the client filtered: every replica received every object
            assert received[r] >= total, received


def run_replicas(client: Client, kubeconfig: str, per_namespace: int, gate_on: bool) -> None:
    with scratch_namespaces(client, 4) as namespaces:
        lease_ns, object_nss = namespaces[0], namespaces[1:]
        keys = create_networks(client, object_nss, per_namespace)
        by_shard = shard_keys(client, object_nss)
        extra = [] if gate_on else ["--shard-selector", "auto"]
        group = Group(kubeconfig, lease_ns, SHARDS, extra)
        try:
            for name in ("r1", "r2", "r3"):
                group.start(name)
            group.wait(lambda g: g.balanced(3), 90, "3 replicas to hold 4 shards each")
            group.wait(lambda g: g.reconciled_since(0) >= keys, 180, "every Network reconciled")
            assert ready_keys(client, object_nss) == keys
            check_steady(group, len(keys), gate_on)

            # SIGKILL r2: its shards move once their Leases expire.
            with group.cond:
                lost = group.held()["r2"]
            moved = set().union(*(by_shard.get(s, set()) for s in lost))
            killed = group.kill("r2")
            group.wait(lambda g: g.balanced(2), 60, "r1 and r3 to take r2's shards")
            group.wait(lambda g: g.reconciled_since(killed) >= moved, 60, "r2's keys reconciled")
            with group.cond:
                first = {}
                for r in group.reconciles:
                    if r.start >= killed and r.key in moved:
                        first[r.key] = min(first.get(r.key, r.end), r.end)
            takeover = max(first.values()) - killed
            assert takeover <= LEASE_DURATION + 10, takeover
            print(f"takeover after SIGKILL: {takeover:.1f}s")

            # A joiner: shards are handed over, without Delete events.
            joined = time.monotonic()
            group.start("r4")
            group.wait(lambda g: g.balanced(3), 60, "r4 to be handed its shards")
            print(f"rebalance after a join: {time.monotonic() - joined:.1f}s")
            with group.cond:
                handed = set().union(*(by_shard.get(s, set()) for s in group.held()["r4"]))
            group.wait(lambda g: g.reconciled_since(joined) >= handed, 60, "r4's keys reconciled")
            assert group.overlaps() == []
            if gate_on:  # scale 3 -> 5 -> 2 (SIGTERM, as a Deployment scales down)
                group.start("r5")
                group.start("r6")
                group.wait(lambda g: g.balanced(5), 60, "5 replicas sharing the shards")
                for name in ("r1", "r3", "r4"):
                    assert group.stop(name) == 0  # a clean stop releases, exits 0
                group.wait(lambda g: g.balanced(2), 60, "r5 and r6 holding every shard")
                group.wait(
                    lambda g: all(
                        g.reconciled_by(replica) >= by_shard.get(shard, set())
                        for replica, shards in g.held().items()
                        for shard in shards
                    ),
                    60,
                    "every key reconciled by its shard's final holder",
                )
            else:
                assert group.stop("r1") == 0  # a clean stop releases its shards, exits 0
        finally:
            group.close()
        assert [r for r in group.reconciles if not r.had_object] == []  # no Delete delivered
        assert group.overlaps() == []
        assert group.tracebacks() == []


def test_replicas_share_take_over_and_hand_over_shards_with_the_server_filtering(
    gated_client: Client, gated_testenv: ControlPlane
) -> None:
    run_replicas(gated_client, str(gated_testenv.kubeconfig), 1000, gate_on=True)


def test_the_same_with_the_gate_off_and_the_client_filtering(
    client: Client, kubeconfig: str, network_crd: str
) -> None:
    run_replicas(client, kubeconfig, 200, gate_on=False)
