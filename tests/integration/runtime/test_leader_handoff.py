"""Leader election: a standby keeps warm caches and reconciles nothing; on
SIGTERM-style stop the leader finishes its in-flight reconcile while still
holding the Lease, and the next leader starts only after that."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubeloop.client import Client
from kubeloop.errors import is_conflict
from kubeloop.runtime import Context, LeaderElectionOptions, Manager
from tests.integration.support import wait_until

from .conftest import WAIT, configmap

LEASE = "runtime-handoff"


def election(namespace: str, identity: str) -> LeaderElectionOptions:
    """Short durations (lease 4 s, renew deadline 3 s, retry 0.5 s), so a test
    sees several renewals and a lost lease within seconds."""
    return LeaderElectionOptions(
        id=LEASE,
        namespace=namespace,
        identity=identity,
        lease_duration=4.0,
        renew_deadline=3.0,
        retry_period=0.5,
    )


def test_the_old_leader_stops_reconciling_before_the_new_one_starts(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    leases = client.resource(
        "coordination.k8s.io/v1", "leases", namespace=namespace, namespaced=True
    )
    log: list[tuple[str, str, str]] = []
    cond = threading.Condition()
    release = threading.Event()

    def reconciler(who: str) -> Callable[[Context[Any], Any], None]:
        def reconcile(ctx: Context[Any], obj: Any) -> None:
            with cond:
                log.append((who, "start", ctx.name))
                cond.notify_all()
            if who == "a" and ctx.name == "slow":
                assert release.wait(WAIT)
            with cond:
                log.append((who, "end", ctx.name))
                cond.notify_all()

        return reconcile

    def elected(identity: str) -> Manager:
        manager = make_manager(name=f"m-{identity}", leader_election=election(namespace, identity))
        manager.controller(("v1", "ConfigMap"), reconciler(identity))
        return manager

    def wait_log(what: Callable[[], bool]) -> None:
        with cond:
            assert cond.wait_for(what, WAIT), log

    a, b = elected("a"), elected("b")
    stop_a, stop_b = threading.Event(), threading.Event()
    codes: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda: codes.update(a=a.run(stop_a)), name="kubeloop-test-a"),
        threading.Thread(target=lambda: codes.update(b=b.run(stop_b)), name="kubeloop-test-b"),
    ]
    try:
        cms.create(configmap("first"))
        threads[0].start()
        wait_log(lambda: ("a", "end", "first") in log)
        threads[1].start()
        wait_until(b.cache.has_synced, WAIT, "the standby's caches to sync")
        cms.create(configmap("slow"))
        wait_log(lambda: ("a", "start", "slow") in log)
        stop_a.set()  # a drains: its reconcile of "slow" is still running
        renewed = _renew_times(leases)
        wait_until(lambda: len(renewed()) >= 3, WAIT, "a to keep renewing while it drains")
        with cond:
            assert not any(who == "b" for who, _, _ in log), "b reconciled while a held the lease"
        release.set()
        wait_log(lambda: ("b", "end", "slow") in log)
    finally:
        release.set()
        stop_a.set()
        stop_b.set()
        for thread in threads:
            if thread.is_alive() or thread.ident is not None:
                thread.join(WAIT)
    assert codes == {"a": 0, "b": 0}
    first_b = next(i for i, (who, _, _) in enumerate(log) if who == "b")
    assert all(who == "a" for who, _, _ in log[:first_b])
    assert ("a", "end", "slow") in log[:first_b], "b started before a finished"
    assert ("b", "start", "slow") in log[first_b:]  # the new leader picks the key up


def _renew_times(leases: Any) -> Callable[[], set[str]]:
    """A function returning every renewTime the Lease has shown so far, held by a."""
    seen: set[str] = set()

    def read() -> set[str]:
        spec = leases.get(LEASE).get("spec") or {}
        if spec.get("holderIdentity") == "a":
            seen.add(spec.get("renewTime", ""))
        return seen

    return read


def test_losing_the_lease_stops_the_controllers_and_exits_1(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    leases = client.resource(
        "coordination.k8s.io/v1", "leases", namespace=namespace, namespaced=True
    )
    reconciled = threading.Event()
    manager = make_manager(leader_election=election(namespace, "a"))
    manager.controller(("v1", "ConfigMap"), lambda ctx, obj: reconciled.set())
    codes: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: codes.append(manager.run(stop)), name="kubeloop-test-a"
    )
    cms.create(configmap("first"))
    thread.start()
    try:
        assert reconciled.wait(WAIT)
        _steal(leases)
        thread.join(WAIT)
    finally:
        stop.set()
        thread.join(WAIT)
    assert codes == [1]
    runner = manager.controllers[0].runner
    assert runner is not None and runner.queue.shutting_down()
    assert leases.get(LEASE)["spec"]["holderIdentity"] == "thief"  # not released over the thief


def _steal(leases: Any) -> None:
    """Another candidate takes the Lease (retrying while a's renewals win)."""
    for _ in range(20):
        lease = leases.get(LEASE)
        lease["spec"].update(holderIdentity="thief", leaseDurationSeconds=3600)
        try:
            leases.update(lease)
            return
        except Exception as err:
            if not is_conflict(err):
                raise
    raise AssertionError("could not take the Lease")
