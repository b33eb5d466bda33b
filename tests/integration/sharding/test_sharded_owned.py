"""Owned objects reconcile their owner on the owner's replica.

Sharding by uid: a Deployment's own uid hashes anywhere, so the owned kind
is watched whole (metadata only) and an event is mapped to its
controller-owner through the ownerReference's uid, whose shard decides;
sharding by namespace: owner and owned share the namespace, hence the shard."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kubeloop.cache import ShardKey
from kubeloop.client import Client
from kubeloop.testenv._controlplane import ControlPlane
from tests.integration.sharding.replicas import Group
from tests.integration.sharding.test_sharded_replicas import (
    NETWORKS,
    create_networks,
    scratch_namespaces,
)
from tests.integration.support import deployment

SHARDS = 12


def owned_by(net: dict[str, Any]) -> dict[str, Any]:
    d = deployment(net["metadata"]["name"])
    d["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "samplecrd.k8s.io/v1",
            "kind": "Network",
            "name": net["metadata"]["name"],
            "uid": net["metadata"]["uid"],
            "controller": True,
        }
    ]
    return d


@pytest.mark.parametrize("shard_by", ["uid", "namespace"])
def test_a_change_to_an_owned_object_reconciles_its_owner_on_the_owners_replica(
    gated_client: Client, gated_testenv: ControlPlane, shard_by: str
) -> None:
    with scratch_namespaces(gated_client, 4) as namespaces:
        lease_ns, object_nss = namespaces[0], namespaces[1:]
        keys = create_networks(gated_client, object_nss, 10)
        owner_shard: dict[str, int] = {}
        key = ShardKey("uid" if shard_by == "uid" else "namespace", SHARDS)
        for ns in object_nss:
            deployments = gated_client.resource("apps/v1", "deployments", namespace=ns)
            for net in gated_client.resource(*NETWORKS, namespace=ns).list().items:
                deployments.create(owned_by(net))
                value = net["metadata"]["uid"] if shard_by == "uid" else ns
                owner_shard[f"{ns}/{net['metadata']['name']}"] = key.shard_of_value(value)
        extra = ["--owns-deployments", "--shard-by", shard_by]
        group = Group(str(gated_testenv.kubeconfig), lease_ns, SHARDS, extra)
        try:
            group.start("r1")
            group.start("r2")
            group.wait(lambda g: g.balanced(2), 90, "2 replicas to share the shards")
            group.wait(lambda g: g.reconciled_since(0) >= keys, 90, "every Network reconciled")
            with group.cond:
                holder = {s: r for r, shards in group.held().items() for s in shards}
            since = time.monotonic()
            for ns in object_nss:
                deployments = gated_client.resource("apps/v1", "deployments", namespace=ns)
                for d in deployments.list().items:
                    d["metadata"].setdefault("annotations", {})["touched"] = "yes"
                    deployments.update(d)
            group.wait(lambda g: g.reconciled_since(since) >= keys, 60, "owners reconciled")
            with group.cond:
                # This test's keys: the replicas watch every namespace, and
                # an earlier test's Networks may still be going away.
                after = [r for r in group.reconciles if r.start >= since and r.key in owner_shard]
            moves = [
                f"{who}: {line}"
                for who, lines in group.errors.items()
                for line in lines
                if "Shard lost" in line or "Shard released" in line
            ]
            assert after and all(r.replica == holder.get(owner_shard[r.key]) for r in after), (
                f"holders {holder}; shards moved: {moves[:20]}"
            )
            if shard_by == "uid":  # 30 uids: both replicas hold owners (3 namespaces may not)
                assert {r.replica for r in after} == {"r1", "r2"}
            assert group.overlaps() == []
        finally:
            group.close()
        assert group.tracebacks() == []
