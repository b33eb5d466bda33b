"""kubeloop.clock: the real clock, and the fake one every layer's tests move by hand.

The fake's promise that makes those tests sleep-free: after a step,
``wait_for_waiters(n)`` returns only once every thread the step woke has
reacted and is blocked again, whether it waits in ``sleep`` (the leader
elector, the reflector) or in ``wait`` (the delaying queue's timer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta

import pytest

from kubeloop.clock import REAL_CLOCK, Clock, FakeClock, RealClock

WAIT = 10.0  # seconds: generous upper bound for anything awaited


@contextmanager
def background(target: Callable[[], object]) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=target, name="kubeloop-test-clock-user")
    thread.start()
    try:
        yield thread
    finally:
        thread.join(WAIT)
        assert not thread.is_alive(), "background thread did not end"


def test_both_clocks_are_clocks() -> None:
    clocks: list[Clock] = [REAL_CLOCK, FakeClock()]
    assert all(isinstance(c.now(), float) for c in clocks)


# -- the real clock -------------------------------------------------------------


def test_real_clock_now_is_the_monotonic_builtin_itself() -> None:
    # No wrapper call on the workqueue's hot path.
    assert REAL_CLOCK.now is time.monotonic


def test_real_clock_wall_is_utc() -> None:
    assert REAL_CLOCK.wall().utcoffset() == timedelta(0)


def test_real_clock_sleep_returns_at_once_when_stopped() -> None:
    stop = threading.Event()
    assert RealClock().sleep(0, stop) is False
    assert RealClock().sleep(-1, stop) is False
    stop.set()
    assert RealClock().sleep(60, stop) is True


def test_real_clock_wait_honours_the_deadline() -> None:
    cond = threading.Condition()
    start = time.monotonic()
    with cond:
        REAL_CLOCK.wait(cond, REAL_CLOCK.now() + 0.02)
        REAL_CLOCK.wait(cond, REAL_CLOCK.now() - 1)  # passed: no wait at all
    assert time.monotonic() - start >= 0.015


# -- the fake clock: time ---------------------------------------------------------


def test_fake_clock_moves_only_when_the_test_moves_it() -> None:
    clock = FakeClock(start=100.0)
    assert clock.now() == 100.0
    clock.step(2.5)
    assert clock.now() == 102.5
    clock.set_time(7.0)  # also backwards
    assert clock.now() == 7.0


def test_fake_clock_wall_follows_now_from_a_fixed_utc_epoch() -> None:
    clock = FakeClock()
    start = clock.wall()
    assert start.tzinfo is UTC
    assert FakeClock().wall() == start
    clock.step(90)
    assert clock.wall() - start == timedelta(seconds=90)


# -- the fake clock: sleep --------------------------------------------------------


def test_fake_sleep_ends_at_its_deadline_and_not_before() -> None:
    clock, stop = FakeClock(), threading.Event()
    results: list[bool] = []
    with background(lambda: results.append(clock.sleep(5, stop))):
        assert clock.wait_for_waiters(1)
        clock.step(4.9)
        assert clock.waiters() == 1
        assert results == []
        clock.step(0.1)
    assert results == [False]
    assert clock.waiters() == 0


def test_fake_sleep_ends_when_its_stop_is_set_through_set_and_wake() -> None:
    clock, stop, other = FakeClock(), threading.Event(), threading.Event()
    results: list[bool] = []
    with background(lambda: results.append(clock.sleep(5, stop))):
        assert clock.wait_for_waiters(1)
        clock.set_and_wake(other)  # not this sleeper's stop
        assert clock.waiters() == 1
        clock.set_and_wake(stop)
    assert results == [True]


def test_fake_sleep_sees_a_plain_stop_set_at_the_next_step() -> None:
    # An Event notifies nobody, so the fake learns of a bare set() only when
    # the time moves (even by less than the sleep).
    clock, stop = FakeClock(), threading.Event()
    results: list[bool] = []
    with background(lambda: results.append(clock.sleep(5, stop))):
        assert clock.wait_for_waiters(1)
        stop.set()
        assert clock.waiters() == 1
        clock.step(0.1)
    assert results == [True]


def test_fake_sleep_returns_at_once_when_stopped_or_given_no_time() -> None:
    clock, stop = FakeClock(), threading.Event()
    assert clock.sleep(0, stop) is False
    assert clock.sleep(-1, stop) is False
    stop.set()
    assert clock.sleep(5, stop) is True
    assert clock.waiters() == 0


# -- the fake clock: wait ---------------------------------------------------------


def test_fake_wait_returns_at_once_when_the_deadline_has_passed() -> None:
    clock = FakeClock(start=10.0)
    cond = threading.Condition()
    with cond:
        clock.wait(cond, 10.0)
        clock.wait(cond, 5.0)
    assert clock.waiters() == 0


def test_fake_wait_wakes_at_every_step_and_the_caller_rechecks() -> None:
    clock = FakeClock()
    cond = threading.Condition()
    wakes: list[float] = []

    def waiter() -> None:
        with cond:
            while clock.now() < 1.0:
                clock.wait(cond, 1.0)
                wakes.append(clock.now())

    with background(waiter):
        assert clock.wait_for_waiters(1)
        clock.step(0.5)  # not due: woken, re-checks, waits again
        assert clock.wait_for_waiters(1)
        assert wakes == [0.5]
        clock.step(0.5)
    assert wakes == [0.5, 1.0]
    assert clock.waiters() == 0


def test_fake_wait_without_deadline_ends_when_its_owner_notifies() -> None:
    clock = FakeClock()
    cond = threading.Condition()
    notified = False

    def waiter() -> None:
        with cond:
            while not notified:
                clock.wait(cond, None)

    with background(waiter):
        assert clock.wait_for_waiters(1)
        clock.step(1e9)
        assert clock.wait_for_waiters(1)  # woken, nothing to do, waiting again
        with cond:
            notified = True
            cond.notify_all()
    assert clock.waiters() == 0  # deregistered itself


# -- the fake clock: waiting for the threads -------------------------------------


def test_wait_for_waiters_counts_sleeping_and_waiting_threads_alike() -> None:
    clock, stop = FakeClock(), threading.Event()
    cond = threading.Condition()

    def waiter() -> None:
        with cond:
            clock.wait(cond, 3.0)

    with background(lambda: clock.sleep(3.0, stop)), background(waiter):
        assert clock.wait_for_waiters(2)
        assert clock.waiters() == 2
        clock.step(3.0)
    assert clock.waiters() == 0


def test_wait_for_waiters_times_out() -> None:
    assert FakeClock().wait_for_waiters(1, timeout=0.01) is False


def sleeper(clock: FakeClock, stop: threading.Event, reacted: list[float]) -> Callable[[], None]:
    """An elector-like loop: sleep a second, then react to the time."""

    def loop() -> None:
        while not clock.sleep(1.0, stop):
            reacted.append(clock.now())

    return loop


def waiter(clock: FakeClock, stop: threading.Event, reacted: list[float]) -> Callable[[], None]:
    """A timer-like loop: wait on its condition until a second later, then react."""
    cond = threading.Condition()

    def loop() -> None:
        with cond:
            due = clock.now() + 1.0
            while not stop.is_set():
                if clock.now() >= due:
                    reacted.append(clock.now())
                    due += 1.0
                clock.wait(cond, due)

    return loop


@pytest.mark.parametrize("user", [sleeper, waiter], ids=["sleep", "wait"])
def test_after_a_step_wait_for_waiters_returns_only_once_the_woken_thread_reacted(
    user: Callable[[FakeClock, threading.Event, list[float]], Callable[[], None]],
) -> None:
    clock, stop = FakeClock(), threading.Event()
    reacted: list[float] = []
    with background(user(clock, stop, reacted)):
        assert clock.wait_for_waiters(1)
        for n in range(1, 101):
            clock.step(1.0)
            assert clock.wait_for_waiters(1)
            # Read right after: had the woken thread still been counted as
            # waiting, this would usually run before its reaction.
            assert len(reacted) == n, f"step {n}: wait_for_waiters returned before the reaction"
        stop.set()
        clock.step(1.0)
    assert reacted == [float(n) for n in range(1, 101)]


def test_a_step_waits_for_a_waiter_its_owner_notified_but_that_has_not_run() -> None:
    # The delaying queue's case: add_after notifies the timer, the test steps
    # at once. The timer is still listed (it has not run), so the step must
    # release it too, or wait_for_waiters would count it and return early.
    clock = FakeClock()
    cond = threading.Condition()
    items: list[str] = []
    handled: list[str] = []

    def timer() -> None:
        with cond:
            while True:
                handled.extend(items)
                items.clear()
                if "stop" in handled:
                    return
                clock.wait(cond, None)

    with background(timer):
        assert clock.wait_for_waiters(1)
        with cond:  # the timer cannot run before the step
            items.append("key")
            cond.notify_all()
            clock.step(0)
        assert clock.wait_for_waiters(1)
        assert handled == ["key"]
        with cond:
            items.append("stop")
            cond.notify_all()


def test_a_woken_waiter_leaves_the_list_before_it_runs() -> None:
    # Holding the waiter's condition keeps it from running at all after the
    # step, so what the count says comes from the step alone.
    clock = FakeClock()
    cond = threading.Condition()

    def waiter() -> None:
        with cond:
            clock.wait(cond, 1.0)

    with background(waiter):
        assert clock.wait_for_waiters(1)
        with cond:
            clock.step(1.0)
            assert clock.waiters() == 0
