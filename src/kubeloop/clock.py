"""Time for every layer: one :class:`Clock` protocol, the real clock and one fake.

Back-offs, delays, rate limits, lease expiry and resync periods are all "now
plus a duration", so everything that reads or waits on time takes a
:class:`Clock`. Production code uses :data:`REAL_CLOCK`; tests pass a
:class:`FakeClock` and move it by hand, so a 1000 s back-off or a 15 s lease
takes microseconds and no test depends on scheduler luck::

    clock = FakeClock()
    q = DelayingQueue(clock=clock)
    q.add_after("key", 5.0)
    clock.step(5.0)
    assert q.get() == ("key", False)

A clock answers four questions, because its users need four different things:

- :meth:`Clock.now`: monotonic seconds, for deadlines and durations (only
  differences between readings mean anything, so NTP and DST cannot move a
  delay). A lease expires by the *local* time since this process last saw the
  record change, never by comparing the record's ``renewTime`` with our wall
  clock: the candidates' clocks need not agree, only tick at the same rate.
- :meth:`Clock.wall`: the UTC wall time written into a Lease's
  ``acquireTime`` and ``renewTime``, which people and ``kubectl`` read.
- :meth:`Clock.sleep`: wait a duration or until a stop event is set (the
  leader elector between attempts, the reflector between back-offs).
- :meth:`Clock.wait`: wait on a held :class:`threading.Condition` until it is
  notified or a deadline passes (the delaying queue's timer thread, which is
  woken early whenever a new item becomes the head).

With a fake clock "due" is decided by :meth:`FakeClock.step`, not by the wall
clock, so the fake has to implement the waiting too, not only the reading.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["REAL_CLOCK", "Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    """What kubeloop needs from time: two readings and two ways to wait."""

    def now(self) -> float:
        """Seconds on a monotonic scale; only differences between readings matter."""
        ...

    def wall(self) -> datetime:
        """The current UTC wall time, for timestamps others read (a Lease's renewTime)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` or until ``stop`` is set; return whether ``stop`` is set."""
        ...

    def wait(self, cond: threading.Condition, deadline: float | None) -> None:
        """Wait on ``cond`` until it is notified or :meth:`now` reaches ``deadline``.

        The caller holds ``cond``'s lock, exactly as for ``cond.wait()``. ``None``
        means no deadline. Like ``Condition.wait``, this may return early; the
        caller re-checks its own state.
        """
        ...


class RealClock:
    """:func:`time.monotonic`, :func:`datetime.now` in UTC, and the threading waits."""

    # The builtin itself, not a method calling it: the workqueue's metrics
    # read the clock three times per item.
    now = staticmethod(time.monotonic)

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))

    def wait(self, cond: threading.Condition, deadline: float | None) -> None:
        if deadline is None:
            cond.wait()
            return
        timeout = deadline - time.monotonic()
        if timeout > 0:
            cond.wait(timeout)


REAL_CLOCK = RealClock()
"""The clock everything uses unless told otherwise."""

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class _Waiter:
    """One thread blocked in :meth:`FakeClock.sleep` (``stop`` given) or
    :meth:`FakeClock.wait` (``cond`` given)."""

    __slots__ = ("cond", "deadline", "released", "stop")

    def __init__(
        self,
        deadline: float,
        *,
        stop: threading.Event | None = None,
        cond: threading.Condition | None = None,
    ) -> None:
        self.deadline = deadline
        self.stop = stop
        self.cond = cond
        self.released = False

    def wakes_at(self, now: float) -> bool:
        # A wait() may return early (its caller re-checks its own state), so
        # any move wakes it; a sleep() lasts its time unless it is stopped.
        if self.cond is not None:
            return True
        return self.deadline <= now or (self.stop is not None and self.stop.is_set())


class FakeClock:
    """A clock that moves only when a test calls :meth:`step` or :meth:`set_time`.

    Every move (:meth:`step`, :meth:`set_time`, :meth:`set_and_wake`)
    releases the threads blocked in :meth:`sleep` whose time is up or whose
    stop event is set, and *every* thread blocked in :meth:`wait`. Waiters
    all wake because each re-checks its own state anyway, and because one
    whose condition its owner has just notified is still counted as waiting
    until it runs: releasing it too makes the count wait for its reaction.
    An ``Event`` notifies nobody, so a bare ``stop.set()`` is seen only at
    the next move; :meth:`set_and_wake` is a set and a move in one.

    The one way to know that background threads have reacted is
    :meth:`wait_for_waiters`: a released thread leaves the waiter list at
    once, *before* it runs, so after a move ``wait_for_waiters(n)`` returns
    only once every thread the move woke has done its work and is blocked
    again (a sleeper the move did not wake never left). Pass the number of
    threads that should be blocked once all is quiet::

        clock = FakeClock()
        elector = LeaderElector(config, clock=clock)
        threading.Thread(target=elector.run, args=(stop,)).start()
        assert clock.wait_for_waiters(1)   # first attempt made, now waiting to retry
        clock.step(config.retry_period * 2.2)
        assert clock.wait_for_waiters(1)   # retried, and waiting again
        clock.set_and_wake(stop)           # a plain stop.set() would not wake a fake sleep

    :meth:`wall` is a fixed epoch plus :meth:`now`, so timestamps are
    reproducible.
    """

    def __init__(self, start: float = 0.0) -> None:
        # Guards _now and _waiters; notified whenever either changes, which
        # also wakes the threads in sleep() (they wait on it).
        self._cond = threading.Condition()
        self._now = start
        # Threads blocked in sleep() or wait(), one entry per thread.
        self._waiters: list[_Waiter] = []

    # -- reading ---------------------------------------------------------------

    def now(self) -> float:
        with self._cond:
            return self._now

    def wall(self) -> datetime:
        return _EPOCH + timedelta(seconds=self.now())

    # -- moving (the test's side) ----------------------------------------------

    def step(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and release the threads it wakes."""
        with self._cond:
            new_time = self._now + seconds
        self.set_time(new_time)

    def set_time(self, t: float) -> None:
        """Jump to ``t`` (also backwards) and release the threads it wakes."""
        with self._cond:
            self._now = t
        self._release()

    def set_and_wake(self, event: threading.Event) -> None:
        """Set ``event`` and release the sleepers it stops (and every waiter)."""
        event.set()
        self._release()

    def _release(self) -> None:
        with self._cond:
            woken = [w for w in self._waiters if w.wakes_at(self._now)]
            for w in woken:
                w.released = True
            self._waiters = [w for w in self._waiters if not w.released]
            self._cond.notify_all()
        # Notify waiters' conditions outside our lock: a thread in wait() holds
        # its condition's lock while it takes ours, so taking them in the other
        # order could deadlock.
        for w in woken:
            if w.cond is not None:
                with w.cond:
                    w.cond.notify_all()

    # -- waiting (the code under test's side) ----------------------------------

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        with self._cond:
            if seconds > 0 and not stop.is_set():
                waiter = _Waiter(self._now + seconds, stop=stop)
                self._waiters.append(waiter)
                self._cond.notify_all()
                while not waiter.released:
                    self._cond.wait()
            return stop.is_set()

    def wait(self, cond: threading.Condition, deadline: float | None) -> None:
        with self._cond:
            # The deadline is absolute, so a step that raced ahead of our caller's
            # last reading is seen here and we do not sleep through it.
            if deadline is not None and deadline <= self._now:
                return
            waiter = _Waiter(math.inf if deadline is None else deadline, cond=cond)
            self._waiters.append(waiter)
            self._cond.notify_all()
        try:
            cond.wait()
        finally:
            with self._cond:
                # Still listed if our owner notified us rather than a step.
                if not waiter.released:
                    self._waiters.remove(waiter)
                    self._cond.notify_all()

    # -- observing (the test's side) -------------------------------------------

    def waiters(self) -> int:
        """How many threads are blocked in :meth:`sleep` or :meth:`wait`."""
        with self._cond:
            return len(self._waiters)

    def wait_for_waiters(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` threads are blocked; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._waiters) >= count, timeout)
