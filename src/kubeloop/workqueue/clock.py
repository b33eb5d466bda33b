"""Time sources for the workqueue: the real monotonic clock and a fake one for tests.

Delays and rate limits are all "now plus a duration", so everything that reads
time takes a :class:`Clock`. Production code uses :data:`REAL_CLOCK`; tests
pass a :class:`FakeClock` and move time with :meth:`FakeClock.step`, so a test
of a 1000 s back-off takes microseconds and never depends on scheduler luck::

    clock = FakeClock()
    q = DelayingQueue(clock=clock)
    q.add_after("key", 5.0)
    clock.step(5.0)
    assert q.get() == ("key", False)

A clock must also know how to *wait*: the delaying queue's timer thread sleeps
on a :class:`threading.Condition` until the next item is due, and with a fake
clock "due" is decided by :meth:`FakeClock.step`, not by the wall clock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["REAL_CLOCK", "Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    """What the workqueue needs from time: a reading and a way to sleep until a reading."""

    def now(self) -> float:
        """Seconds on a monotonic scale; only differences between readings matter."""
        ...

    def wait(self, cond: threading.Condition, deadline: float | None) -> None:
        """Wait on ``cond`` until it is notified or :meth:`now` reaches ``deadline``.

        The caller holds ``cond``'s lock, exactly as for ``cond.wait()``. ``None``
        means no deadline. Like ``Condition.wait``, this may return early; the
        caller re-checks its own state.
        """
        ...


class RealClock:
    """:func:`time.monotonic`, so delays are immune to wall-clock jumps (NTP, DST)."""

    # The builtin itself, not a method calling it: metrics read the clock
    # three times per item.
    now = staticmethod(time.monotonic)

    def wait(self, cond: threading.Condition, deadline: float | None) -> None:
        if deadline is None:
            cond.wait()
            return
        timeout = deadline - time.monotonic()
        if timeout > 0:
            cond.wait(timeout)


REAL_CLOCK = RealClock()
"""The clock every queue and limiter uses unless told otherwise."""


class FakeClock:
    """A clock that moves only when a test calls :meth:`step` or :meth:`set_time`.

    Threads waiting through :meth:`wait` are woken whenever the time moves.
    :meth:`wait_for_waiters` lets a test wait until a background thread has
    finished reacting to a step (it is waiting again), instead of sleeping and
    hoping.
    """

    def __init__(self, start: float = 0.0) -> None:
        # Guards _now and _waiters; _waiters_changed is notified when one is added.
        self._lock = threading.Lock()
        self._waiters_changed = threading.Condition(self._lock)
        self._now = start
        # Conditions of the threads blocked in wait(), one entry per thread.
        self._waiters: list[threading.Condition] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def step(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every waiting thread."""
        with self._lock:
            new_time = self._now + seconds
        self.set_time(new_time)

    def set_time(self, t: float) -> None:
        """Jump to ``t`` and wake every waiting thread.

        All waiters wake, not only those now due: each re-checks its own state
        (``Clock.wait`` may return early). So once :meth:`wait_for_waiters`
        sees them waiting again, every one of them has reacted to the new time.
        """
        with self._lock:
            self._now = t
            woken, self._waiters = self._waiters, []
        # Notify outside our lock: a waiter holds its condition's lock while it
        # takes ours in wait(), so taking them in the other order could deadlock.
        for cond in woken:
            with cond:
                cond.notify_all()

    def wait(self, cond: threading.Condition, deadline: float | None) -> None:
        with self._lock:
            # The deadline is absolute, so a step that raced ahead of our caller's
            # last reading is seen here and we do not sleep through it.
            if deadline is not None and deadline <= self._now:
                return
            self._waiters.append(cond)
            self._waiters_changed.notify_all()
        try:
            cond.wait()
        finally:
            with self._lock:
                # Gone already if a step woke us; present if our owner notified us.
                if cond in self._waiters:
                    self._waiters.remove(cond)

    def has_waiters(self) -> bool:
        """Whether any thread is blocked in :meth:`wait`."""
        with self._lock:
            return bool(self._waiters)

    def wait_for_waiters(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` threads are waiting; False on timeout."""
        with self._waiters_changed:
            return self._waiters_changed.wait_for(lambda: len(self._waiters) >= count, timeout)
