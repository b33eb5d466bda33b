"""Time for leader election: a monotonic reading, the wall time, and a stoppable sleep.

The elector reads time for three different purposes, so a clock answers three
questions:

- :meth:`Clock.now`: monotonic seconds, to judge expiry and deadlines. A
  lease expires by the *local* time since this process last saw the record
  change, never by comparing the record's ``renewTime`` with our wall clock:
  the candidates' clocks need not agree, only tick at the same rate.
- :meth:`Clock.wall`: the UTC wall time written into ``acquireTime`` and
  ``renewTime``, which people and ``kubectl`` read.
- :meth:`Clock.sleep`: wait ``seconds`` or until the stop event is set,
  whichever is first.

Production code uses :data:`REAL_CLOCK`. Tests pass a :class:`FakeClock`, move
it with :meth:`FakeClock.step` and wait for the elector to be asleep again with
:meth:`FakeClock.wait_for_sleepers`, so a 15 s lease takes microseconds and no
test sleeps in the hope that a thread has caught up::

    clock = FakeClock()
    elector = LeaderElector(config, clock=clock)
    threading.Thread(target=elector.run, args=(stop,)).start()
    clock.wait_for_sleepers(1)       # first attempt made, now waiting to retry
    clock.step(config.retry_period * 2.2)
    clock.set_and_wake(stop)         # a plain stop.set() would not wake a fake sleep
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["REAL_CLOCK", "Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    """What a :class:`~kubeloop.leaderelection.LeaderElector` needs from time."""

    def now(self) -> float:
        """Seconds on a monotonic scale; only differences between readings matter."""
        ...

    def wall(self) -> datetime:
        """The current UTC wall time, for the timestamps written into the lock."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` or until ``stop`` is set; return whether ``stop`` is set."""
        ...


class RealClock:
    """:func:`time.monotonic` and an interruptible ``stop.wait``."""

    now = staticmethod(time.monotonic)

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


REAL_CLOCK = RealClock()
"""The clock every elector uses unless told otherwise."""

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class _Sleeper:
    """One thread blocked in :meth:`FakeClock.sleep`."""

    __slots__ = ("deadline", "stop")

    def __init__(self, deadline: float, stop: threading.Event) -> None:
        self.deadline = deadline
        self.stop = stop


class FakeClock:
    """A clock that moves only when a test calls :meth:`step`.

    A sleeper wakes when time reaches its deadline or when its stop event is
    set *through* :meth:`set_and_wake` (an ``Event`` cannot notify anyone
    else, so a bare ``stop.set()`` is only seen at the next :meth:`step`).
    Woken sleepers leave the sleeper list at once, before their threads run,
    so ``step(); wait_for_sleepers(1)`` returns only once the elector has
    reacted to the step and is sleeping again.
    """

    def __init__(self, start: float = 0.0) -> None:
        # Guards _now and _sleepers; notified whenever either changes.
        self._cond = threading.Condition()
        self._now = start
        self._sleepers: list[_Sleeper] = []

    def now(self) -> float:
        with self._cond:
            return self._now

    def wall(self) -> datetime:
        """A fixed epoch plus :meth:`now`, so timestamps are reproducible."""
        return _EPOCH + timedelta(seconds=self.now())

    def step(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper now due."""
        with self._cond:
            self._now += seconds
            self._release_due()

    def set_and_wake(self, event: threading.Event) -> None:
        """Set ``event`` and wake the sleepers it stops."""
        event.set()
        with self._cond:
            self._release_due()

    def _release_due(self) -> None:
        # Caller holds _cond.
        self._sleepers = [
            s for s in self._sleepers if s.deadline > self._now and not s.stop.is_set()
        ]
        self._cond.notify_all()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        with self._cond:
            sleeper = _Sleeper(self._now + seconds, stop)
            if seconds > 0 and not stop.is_set():
                self._sleepers.append(sleeper)
                self._cond.notify_all()
                while sleeper in self._sleepers:
                    self._cond.wait()
            return stop.is_set()

    def sleepers(self) -> int:
        """How many threads are blocked in :meth:`sleep`."""
        with self._cond:
            return len(self._sleepers)

    def wait_for_sleepers(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` threads sleep; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._sleepers) >= count, timeout)
