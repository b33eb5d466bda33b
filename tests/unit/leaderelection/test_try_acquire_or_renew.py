"""One election attempt at a time, after client-go's TestTryAcquireOrRenew:
who may take the lock, when it counts as expired, what gets written."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeloop.clock import FakeClock
from kubeloop.errors import InternalError
from kubeloop.leaderelection import LeaderElectionRecord

from .helpers import LockStore, candidate

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def held_by(holder: str, lease: int = 15, transitions: int = 3) -> LeaderElectionRecord:
    return LeaderElectionRecord(holder, lease, LONG_AGO, LONG_AGO, transitions)


def test_acquires_by_creating_the_lock_when_there_is_none() -> None:
    store, clock = LockStore(), FakeClock()
    elector = candidate(store, "baz", clock)
    assert elector.try_acquire_or_renew()
    record = store.current()
    assert record.holder_identity == "baz"
    assert record.lease_duration_seconds == 15
    assert record.leader_transitions == 0
    assert record.acquire_time == record.renew_time == clock.wall()
    assert elector.get_leader() == "baz"
    assert store.calls == [("baz", "get"), ("baz", "create")]


def test_acquires_an_unheld_lock_at_once_counting_a_transition() -> None:
    store = LockStore(LeaderElectionRecord("", 1, LONG_AGO, LONG_AGO, 4))
    elector = candidate(store, "baz", FakeClock())
    assert elector.try_acquire_or_renew()
    assert store.current().holder_identity == "baz"
    assert store.current().leader_transitions == 5


def test_does_not_acquire_a_lock_held_by_another_and_unexpired() -> None:
    store = LockStore(held_by("bing"))
    elector = candidate(store, "baz", FakeClock())
    assert not elector.try_acquire_or_renew()
    assert elector.get_leader() == "bing"
    assert not elector.is_leader()
    assert store.current() == held_by("bing")
    assert store.count("update") == 0


def test_acquires_a_lock_once_unchanged_for_its_lease_duration_of_local_time() -> None:
    store, clock = LockStore(held_by("bing")), FakeClock()
    elector = candidate(store, "baz", clock)
    # The record's renewTime is decades old: irrelevant, only local time counts.
    assert not elector.try_acquire_or_renew()
    clock.step(14.9)
    assert not elector.try_acquire_or_renew()
    clock.step(0.2)
    assert elector.try_acquire_or_renew()
    record = store.current()
    assert record.holder_identity == "baz"
    assert record.leader_transitions == 4
    assert record.acquire_time == clock.wall()


def test_expiry_uses_the_holders_lease_duration_not_ours() -> None:
    store, clock = LockStore(held_by("bing", lease=5)), FakeClock()
    elector = candidate(store, "baz", clock, lease_duration=60, renew_deadline=40)
    assert not elector.try_acquire_or_renew()
    clock.step(5.1)
    assert elector.try_acquire_or_renew()
    assert store.current().lease_duration_seconds == 60


def test_a_renewal_by_the_holder_restarts_the_expiry_clock() -> None:
    store, clock = LockStore(held_by("bing")), FakeClock()
    elector = candidate(store, "baz", clock)
    assert not elector.try_acquire_or_renew()
    clock.step(10)
    store.put(LeaderElectionRecord("bing", 15, LONG_AGO, datetime.now(UTC), 3))
    assert not elector.try_acquire_or_renew()  # seen changed at t=10
    clock.step(14.9)
    assert not elector.try_acquire_or_renew()
    clock.step(0.2)
    assert elector.try_acquire_or_renew()


def test_renews_its_own_lock_optimistically_keeping_acquire_time_and_transitions() -> None:
    store, clock = LockStore(), FakeClock()
    elector = candidate(store, "baz", clock)
    assert elector.try_acquire_or_renew()
    acquired = store.current()
    calls = len(store.calls)
    clock.step(2)
    assert elector.try_acquire_or_renew()
    renewed = store.current()
    assert store.calls[calls:] == [("baz", "update")]  # fast path: no get
    assert renewed.acquire_time == acquired.acquire_time
    assert renewed.renew_time == clock.wall() != acquired.renew_time
    assert renewed.leader_transitions == acquired.leader_transitions


def test_renewal_falls_back_to_reading_the_lock_when_it_changed_under_us() -> None:
    store, clock = LockStore(), FakeClock()
    elector = candidate(store, "baz", clock)
    assert elector.try_acquire_or_renew()
    store.put(store.current())  # e.g. someone edited a label: a new version, still ours
    clock.step(2)
    assert elector.try_acquire_or_renew()
    assert store.calls[-3:] == [("baz", "update"), ("baz", "get"), ("baz", "update")]
    assert store.current().holder_identity == "baz"
    assert store.current().leader_transitions == 0


def test_a_leader_whose_lock_was_taken_does_not_take_it_back() -> None:
    store, clock = LockStore(), FakeClock()
    elector = candidate(store, "baz", clock)
    assert elector.try_acquire_or_renew()
    store.put(held_by("bing", transitions=1))
    clock.step(2)
    assert not elector.try_acquire_or_renew()
    assert elector.get_leader() == "bing"
    assert store.current().holder_identity == "bing"


def test_leader_transitions_count_every_change_of_holder() -> None:
    store, clock = LockStore(), FakeClock()
    a = candidate(store, "a", clock)
    b = candidate(store, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.step(15.1)
    assert b.try_acquire_or_renew()
    assert store.current().leader_transitions == 1
    assert b.try_acquire_or_renew()  # renewing is not a transition
    assert store.current().leader_transitions == 1
    assert not a.try_acquire_or_renew()  # a sees b's record: changed, so not expired
    clock.step(15.1)
    assert a.try_acquire_or_renew()
    assert store.current().leader_transitions == 2


def test_of_two_candidates_racing_for_an_expired_lock_only_the_first_write_wins() -> None:
    store, clock = LockStore(held_by("old")), FakeClock()
    a = candidate(store, "a", clock)
    b = candidate(store, "b", clock)
    assert not a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.step(15.1)
    # a takes the lock after b has read it and before b writes.
    won: list[bool] = []
    store.before["update"] = lambda: won.append(a.try_acquire_or_renew())
    assert not b.try_acquire_or_renew()
    assert won == [True]
    assert store.current().holder_identity == "a"
    assert store.count("update", "b") == 1  # tried, and conflicted
    assert not b.try_acquire_or_renew()
    assert b.get_leader() == "a"


def test_an_error_reading_the_lock_fails_the_attempt_without_writing() -> None:
    store = LockStore()
    store.error = InternalError(500, "InternalError", "etcd is down")
    elector = candidate(store, "baz", FakeClock())
    assert not elector.try_acquire_or_renew()
    assert store.calls == [("baz", "get")]
    assert elector.get_leader() == ""


def test_losing_the_race_to_create_the_lock_fails_the_attempt() -> None:
    store = LockStore()
    # b creates the lock between a's get (NotFound) and a's create.
    store.before["create"] = lambda: store.put(held_by("b"))
    a = candidate(store, "a", FakeClock())
    assert not a.try_acquire_or_renew()
    assert store.current().holder_identity == "b"
    assert a.get_leader() == ""


def test_check_fails_when_the_leader_has_not_renewed_for_lease_plus_tolerance() -> None:
    store, clock = LockStore(), FakeClock()
    elector = candidate(store, "baz", clock)
    assert elector.check()
    assert elector.try_acquire_or_renew()
    clock.step(15 + 20)
    assert elector.check(max_tolerable_expired_lease=20)
    clock.step(0.1)
    assert not elector.check(max_tolerable_expired_lease=20)
