"""The run() loop on a fake clock: acquire, lead, renew, give up, release,
and the callbacks around them."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.clock import FakeClock
from kubeloop.errors import InternalError
from kubeloop.leaderelection import (
    LeaderCallbacks,
    LeaderElectionRecord,
    LeaderElector,
    PrometheusLeaderMetrics,
)

from .helpers import LockStore, Recorder, candidate, running


def held_by(holder: str) -> LeaderElectionRecord:
    return LeaderElectionRecord(holder, 15, None, None, 0)


def step_and_settle(clock: FakeClock, seconds: float) -> None:
    """Move time and wait until the elector has reacted and sleeps again."""
    clock.step(seconds)
    assert clock.wait_for_waiters(1)


def test_run_acquires_leads_renews_every_retry_period_and_releases_on_stop() -> None:
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec)
    with running(elector, clock):
        rec.wait_for("started")
        rec.wait_for("leader me")
        assert clock.wait_for_waiters(1)
        assert elector.is_leader()
        # Acquired (get, create), then renewed at once as client-go does.
        assert store.calls == [("me", "get"), ("me", "create"), ("me", "update")]
        for n in range(1, 4):
            step_and_settle(clock, 2.0)
            assert store.count("update") == 1 + n
            assert store.current().renew_time == clock.wall()
    assert rec.entries()[2:] == ["work done", "stopped"]
    released = store.current()
    assert released.holder_identity == ""
    assert released.lease_duration_seconds == 1
    assert released.leader_transitions == 0
    assert not elector.is_leader()
    assert elector.config.lock.events == ["became leader", "stopped leading"]  # type: ignore[attr-defined]


def test_on_stopped_leading_runs_even_when_stopped_before_acquiring() -> None:
    store, clock, rec = LockStore(held_by("other")), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec)
    with running(elector, clock):
        assert clock.wait_for_waiters(1)
        rec.wait_for("leader other")
    assert rec.entries() == ["leader other", "stopped"]
    assert store.current() == held_by("other")


def test_acquire_retries_every_retry_period_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kubeloop.leaderelection.leader_election.random.random", lambda: 0.5)
    store, clock = LockStore(held_by("other")), FakeClock()
    elector = candidate(store, "me", clock)
    with running(elector, clock):
        assert clock.wait_for_waiters(1)
        assert store.count("get") == 1
        # 2 s * (1 + 0.5 * 1.2) = 3.2 s
        step_and_settle(clock, 3.1)
        assert store.count("get") == 1
        step_and_settle(clock, 0.1)
        assert store.count("get") == 2


def test_a_candidate_takes_over_once_the_leader_stops_renewing() -> None:
    store, clock, rec = LockStore(held_by("other")), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec)
    with running(elector, clock):
        assert clock.wait_for_waiters(1)
        while clock.now() < 15.0:
            assert not elector.is_leader()
            step_and_settle(clock, 2.2 * 2)  # the longest jittered retry
        rec.wait_for("started")
        rec.wait_for("leader me")
        assert elector.is_leader()
        assert store.current().holder_identity == "me"
        assert store.current().leader_transitions == 1
    assert rec.entries()[0] == "leader other"
    assert set(rec.entries()[1:3]) == {"leader me", "started"}


def test_a_leader_that_cannot_renew_within_the_renew_deadline_gives_up() -> None:
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec, release_on_cancel=False)
    with running(elector, clock) as run:
        rec.wait_for("started")
        assert clock.wait_for_waiters(1)
        store.error = InternalError(500, "InternalError", "etcd is down")
        # The failing renewal starts at t=2; the deadline is 10 s later.
        for _ in range(5):
            step_and_settle(clock, 2.0)
            assert elector.is_leader(), clock.now()
        clock.step(2.0)  # t=12
        run.wait_ended()
        assert not run.stop.is_set()
        assert not elector.is_leader()
        assert rec.entries()[2:] == ["work done", "stopped"]


def test_a_leader_whose_lock_was_taken_stops_leading_and_leaves_the_lock_alone() -> None:
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec)
    with running(elector, clock) as run:
        rec.wait_for("started")
        assert clock.wait_for_waiters(1)
        store.put(LeaderElectionRecord("other", 15, None, None, 1))
        step_and_settle(clock, 2.0)
        assert not elector.is_leader()  # it saw "other": not leading, though still trying
        assert elector.get_leader() == "other"
        rec.wait_for("leader other")
        clock.set_and_wake(run.stop)
        run.wait_ended()
    assert store.current().holder_identity == "other"
    assert rec.entries()[3:] == ["work done", "stopped"]


def test_the_work_has_ended_before_the_lock_is_released() -> None:
    store, clock = LockStore(), FakeClock()
    holder_when_work_ended: list[str] = []
    rec = Recorder()

    def started(stop_leading: threading.Event) -> None:
        rec.started(stop_leading)
        holder_when_work_ended.append(store.current().holder_identity)

    elector = candidate(store, "me", clock, callbacks=LeaderCallbacks(started, rec.stopped))
    with running(elector, clock):
        rec.wait_for("started")
    assert holder_when_work_ended == ["me"]
    assert store.current().holder_identity == ""


def test_without_release_on_cancel_the_lock_stays_held_after_stop() -> None:
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec, release_on_cancel=False)
    with running(elector, clock):
        rec.wait_for("started")
    assert store.current().holder_identity == "me"
    assert store.current().lease_duration_seconds == 15
    assert not elector.is_leader()


def test_callbacks_that_raise_do_not_break_the_loop() -> None:
    store, clock = LockStore(), FakeClock()
    started = threading.Event()

    def boom(*_: object) -> None:
        started.set()
        raise RuntimeError("callback failed")

    elector = candidate(store, "me", clock, callbacks=LeaderCallbacks(boom, boom, boom))
    with running(elector, clock):
        assert started.wait(10)
        assert clock.wait_for_waiters(1)
        step_and_settle(clock, 2.0)
        assert elector.is_leader()


def test_run_cannot_be_entered_twice_at_once() -> None:
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec)
    with running(elector, clock):
        rec.wait_for("started")
        with pytest.raises(RuntimeError, match="already running"):
            elector.run(threading.Event())


def test_run_can_be_called_again_after_it_returned() -> None:
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector = candidate(store, "me", clock, rec)
    for _ in range(2):
        with running(elector, clock):
            rec.wait_for("started")
            assert elector.is_leader()
        with rec.cond:
            rec.log.clear()
    assert store.current().leader_transitions == 1


def test_leader_metrics_follow_leadership() -> None:
    registry = CollectorRegistry()
    store, clock, rec = LockStore(), FakeClock(), Recorder()
    elector: LeaderElector = candidate(
        store, "me", clock, rec, name="ctl", metrics=PrometheusLeaderMetrics(registry)
    )

    def status() -> float | None:
        return registry.get_sample_value("leader_election_master_status", {"name": "ctl"})

    with running(elector, clock):
        rec.wait_for("started")
        assert status() == 1.0
        assert clock.wait_for_waiters(1)
        store.put(store.current())  # a foreign write forces the slow path
        step_and_settle(clock, 2.0)
        assert registry.get_sample_value("leader_election_slowpath_total", {"name": "ctl"}) == 1
    assert status() == 0.0
