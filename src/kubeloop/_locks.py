"""Locks for the short critical sections that threads share under the GIL.

Why not a plain ``threading.Lock``: under the GIL, the holder of a lock
that guards a few dictionary operations is almost always a thread that was
preempted inside them and now only waits for the GIL. A thread that blocks
on the lock then registers as a waiter; every release pays a futex wake-up,
the woken waiter must win the GIL back before it can run, and meanwhile the
others find the lock taken in turn: a *lock convoy*, which feeds itself once
it starts. Profiled on 2 cores (CPython 3.11): two worker threads of a
no-op reconcile, whose only locks were the rate limiter's, the last-known
states' and the metrics', spent 70 us of CPU per key against 12.7 us with
one worker, four futex calls per key; with the locks below, 9.5 us. The
workqueue's own lock showed the same (88% of the context switches of 4
producers and 4 consumers were in ``lock.acquire``).

So a thread that finds the lock taken gives up the GIL with
``time.sleep(0)`` and tries again, which lets the holder finish its few
operations; only a holder that stays away (an overloaded machine, or a lock
held across I/O) makes it block after all.

::

    lock = YieldingLock()
    with lock:
        counts[key] += 1

    acquire(handler_lock)          # any lock: Lock, RLock
    try:
        ...
    finally:
        handler_lock.release()
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["YieldingLock", "acquire", "acquire_contended"]

# How often a thread that finds a lock taken gives up the GIL and tries
# again before it blocks on the lock.
_YIELDS_BEFORE_BLOCKING = 20


class _Lock(Protocol):
    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


def acquire_contended(lock: _Lock) -> None:
    """Take ``lock``, which was just found taken, without joining a lock convoy."""
    for _ in range(_YIELDS_BEFORE_BLOCKING):
        time.sleep(0)  # gives up the GIL
        if lock.acquire(False):
            return
    lock.acquire()


def acquire(lock: _Lock) -> None:
    """Take ``lock`` (a ``Lock`` or ``RLock``), yielding the GIL while it is taken."""
    if not lock.acquire(False):
        acquire_contended(lock)


class YieldingLock:
    """A non-reentrant lock whose ``with`` yields the GIL instead of queueing
    while another thread holds it (see the module docs)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        lock = self._lock
        if not lock.acquire(False):
            acquire_contended(lock)

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        if timeout < 0:
            acquire_contended(self._lock)
            return True
        return self._lock.acquire(True, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()
