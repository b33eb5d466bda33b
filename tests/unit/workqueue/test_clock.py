"""Clocks: the fake clock's waits are what make the delaying-queue tests sleep-free."""

from __future__ import annotations

import threading
import time

from kubeloop.workqueue import REAL_CLOCK, FakeClock


def test_fake_clock_moves_only_when_stepped() -> None:
    clock = FakeClock(start=100.0)
    assert clock.now() == 100.0
    clock.step(2.5)
    assert clock.now() == 102.5
    clock.set_time(7.0)
    assert clock.now() == 7.0


def test_fake_clock_wait_returns_at_once_when_the_deadline_has_passed() -> None:
    clock = FakeClock(start=10.0)
    cond = threading.Condition()
    with cond:
        clock.wait(cond, 10.0)
        clock.wait(cond, 5.0)
    assert not clock.has_waiters()


def test_fake_clock_step_wakes_a_waiter() -> None:
    clock = FakeClock()
    cond = threading.Condition()
    woke_at: list[float] = []

    def waiter() -> None:
        with cond:
            while clock.now() < 1.0:
                clock.wait(cond, 1.0)
            woke_at.append(clock.now())

    thread = threading.Thread(target=waiter)
    thread.start()
    assert clock.wait_for_waiters(1)
    clock.step(0.5)  # not due: the waiter re-checks and waits again
    assert clock.wait_for_waiters(1)
    assert woke_at == []
    clock.step(0.5)
    thread.join(10)
    assert woke_at == [1.0]
    assert not clock.has_waiters()


def test_fake_clock_waiter_notified_by_its_owner_deregisters() -> None:
    clock = FakeClock()
    cond = threading.Condition()
    done = threading.Event()

    def waiter() -> None:
        with cond:
            clock.wait(cond, None)
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert clock.wait_for_waiters(1)
    with cond:
        cond.notify_all()
    assert done.wait(10)
    thread.join(10)
    assert not clock.has_waiters()


def test_wait_for_waiters_times_out() -> None:
    assert not FakeClock().wait_for_waiters(1, timeout=0.01)


def test_real_clock_wait_honours_the_deadline() -> None:
    cond = threading.Condition()
    start = time.monotonic()
    with cond:
        REAL_CLOCK.wait(cond, REAL_CLOCK.now() + 0.02)
    assert time.monotonic() - start >= 0.015
