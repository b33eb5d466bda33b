"""The fake clock's sleep: woken by time reaching its deadline or by its stop event."""

from __future__ import annotations

import threading

from kubeloop.leaderelection import FakeClock, RealClock


def test_fake_clock_sleep_ends_at_its_deadline_or_when_stopped() -> None:
    clock, stop = FakeClock(), threading.Event()
    results: list[bool] = []
    sleeper = threading.Thread(target=lambda: results.append(clock.sleep(5, stop)))
    sleeper.start()
    assert clock.wait_for_sleepers(1)
    clock.step(4.9)
    assert clock.sleepers() == 1
    clock.step(0.1)
    sleeper.join(10)
    assert results == [False]
    sleeper = threading.Thread(target=lambda: results.append(clock.sleep(5, stop)))
    sleeper.start()
    assert clock.wait_for_sleepers(1)
    clock.set_and_wake(stop)
    sleeper.join(10)
    assert results == [False, True]
    assert clock.sleep(5, stop) is True  # already stopped: no wait


def test_real_clock_sleep_returns_at_once_when_stopped() -> None:
    stop = threading.Event()
    assert RealClock().sleep(0, stop) is False
    stop.set()
    assert RealClock().sleep(60, stop) is True
    assert RealClock().wall().tzinfo is not None
