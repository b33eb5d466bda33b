"""Member Leases on the real API server: replicas count each other, and the
Leases of replicas that are gone are deleted, while a live one's is kept.

One fake clock for every replica (their monotonic and wall clocks), so
"unchanged for ten lease durations" takes no real time."""

from __future__ import annotations

import uuid

import pytest

from kubeloop.client import Client
from kubeloop.clock import FakeClock
from kubeloop.runtime.membership import GC_LEASE_DURATIONS, GROUP_LABEL, Membership

pytestmark = pytest.mark.integration

LEASE = 4.0


def member_leases(client: Client, namespace: str, group: str) -> set[str]:
    leases = client.resource(
        "coordination.k8s.io/v1", "leases", namespace=namespace, namespaced=True
    )
    items = leases.list(label_selector=f"{GROUP_LABEL}={group}").items
    return {lease["spec"].get("holderIdentity") or "" for lease in items}


def test_gone_replicas_member_leases_are_deleted_and_live_ones_kept(
    client: Client, namespace: str
) -> None:
    group, clock = f"g-{uuid.uuid4().hex[:6]}", FakeClock(1000.0)

    def member(identity: str) -> Membership:
        return Membership(client, namespace, group, identity, lease_duration=LEASE, clock=clock)

    a, b, c, crashed = member("a"), member("b"), member("c"), member("crashed")
    for m in (a, b, c, crashed):
        assert m.heartbeat()
    assert a.live() == {"a", "b", "c", "crashed"}

    b.leave()  # a clean stop: an empty holder
    clock.step(LEASE / 2)
    for m in (a, c):
        m.heartbeat()
    assert a.live() == {"a", "c", "crashed"}
    clock.step(LEASE)  # the left Lease unchanged for one lease duration: deleted
    for m in (a, c):
        m.heartbeat()
    assert a.live() == {"a", "c"}  # crashed: not renewed for a lease duration
    assert member_leases(client, namespace, group) == {"a", "c", "crashed"}

    # crashed stays unrenewed; c keeps renewing: after ten lease durations
    # only crashed's Lease goes.
    for _ in range(2 * GC_LEASE_DURATIONS):
        clock.step(LEASE / 2)
        for m in (a, c):
            m.heartbeat()
        a.live()
    assert member_leases(client, namespace, group) == {"a", "c"}

    # A replica whose Lease was deleted while it was away creates it again.
    assert crashed.heartbeat()
    assert "crashed" in member_leases(client, namespace, group)
    assert a.live() == {"a", "c", "crashed"}
