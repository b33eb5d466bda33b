"""The work queue: deduplicating, fair, and never handing one item to two workers.

A controller turns every watch event into a key and adds it here; workers take
keys out, reconcile, and mark them done::

    q: Queue[str] = Queue("networks")
    q.add("default/net-a")

    item, shutdown = q.get()      # blocks; (None, True) once shut down and empty
    if not shutdown:
        try:
            reconcile(item)
        finally:
            q.done(item)

The rules (client-go's, see ``util/workqueue/queue.go``) come from three
collections guarded by one lock:

- ``dirty``: every item that needs processing. An item already dirty is not
  added twice, so a burst of events for one key costs one reconcile.
- ``processing``: items a worker holds. An item added while it is processed
  is only marked dirty; :meth:`Queue.done` puts it back in the queue. So no
  two workers ever hold the same item, and no add is lost: the worker that
  finishes will see the item again.
- ``queue``: the FIFO order of items that are dirty and not processing.

Shutdown stops new adds, but items already queued are still handed out, so a
controller can finish its backlog; :meth:`Queue.shut_down_with_drain` also
waits for the items in flight.

Threads call :meth:`Queue.get`; asyncio tasks ``await`` :meth:`Queue.get_async`.
Both kinds of worker may share one queue.

Why the locking looks the way it does (profiled with py-spy and perf, 4
producers and 4 consumers on 2 cores, CPython 3.11): the work per item is a
few set and deque operations, and what cost the time was a *lock convoy*.
A thread preempted by the GIL while holding the queue's lock made the others
block on it; from then on every release paid a futex wake-up (a third of the
GIL-holding time), a waiter handed the lock while lacking the GIL stalled the
runner in turn, and 88% of all context switches were in ``lock.acquire``:
up to 0.6 switches and 4 us of CPU per item against 0.75 us single-threaded.
So a thread that finds the lock taken gives up the GIL and retries instead of
queueing on the lock (:func:`kubeloop._locks.acquire_contended`), and the critical sections
call nothing they do not need (no metric hooks for an unnamed queue, no
wake-up unless a getter sleeps). A sleeping getter is woken by popping it,
so one item wakes one getter once, however many adds follow before it runs,
and its lock is released only after the queue's, so that it does not wake
to find the queue's lock still taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Hashable
from typing import Generic, Literal, TypeAlias, TypeVar

from kubeloop._locks import acquire_contended
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.workqueue.metrics import (
    NO_QUEUE_METRICS,
    MetricsProvider,
    QueueMetrics,
    new_queue_metrics,
)

__all__ = ["GetResult", "Queue"]

T = TypeVar("T", bound=Hashable)

GetResult: TypeAlias = tuple[T, Literal[False]] | tuple[None, Literal[True]]
"""``(item, False)``, or ``(None, True)`` once the queue is shut down and empty.

mypy narrows the item when the shutdown flag is tested on the tuple
(``got = q.get(); if got[1]: return``); after ``item, shutdown = q.get()`` it
cannot, and ``item`` stays ``T | None``.
"""


def _wake(fut: asyncio.Future[None]) -> None:
    """Resolve an async waiter's future; runs on the waiter's own event loop."""
    if not fut.done():
        fut.set_result(None)


class Queue(Generic[T]):
    """A work queue with client-go's guarantees (see the module docs).

    ``name`` turns on metrics (via ``metrics_provider``, else the global
    provider); an unnamed queue records none. ``clock`` times the metrics.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        metrics_provider: MetricsProvider | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.name = name
        self._clock = clock
        # Guards every field below: _queue, _dirty, _processing, _shutting_down,
        # _drain, _sleepers, _async_waiters, and the metrics' bookkeeping.
        self._lock = threading.Lock()
        # shut_down_with_drain() waits here for _processing to empty.
        self._processing_empty = threading.Condition(self._lock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._drain = False
        # Threads asleep in get(), oldest first, each blocked on a lock of its
        # own that the waker releases. Waking pops the sleeper, so it is woken
        # once however many items arrive before it runs.
        self._sleepers: deque[threading.Lock] = deque()
        # asyncio tasks blocked in get_async(), oldest first; each future is
        # resolved on its own loop to wake its task.
        self._async_waiters: deque[asyncio.Future[None]] = deque()
        self._metrics: QueueMetrics[T] = new_queue_metrics(
            metrics_provider, name, clock, self._lock
        )
        # Whether the hooks record anything: an unnamed queue skips the calls.
        self._record = self._metrics is not NO_QUEUE_METRICS

    def add(self, item: T) -> None:
        """Mark ``item`` as needing processing; ignored once the queue is shutting down."""
        lock = self._lock
        if not lock.acquire(False):
            acquire_contended(lock)
        sleeper = None
        try:
            if self._shutting_down or item in self._dirty:
                return
            if self._record:
                self._metrics.add(item)
            self._dirty.add(item)
            if item in self._processing:
                # done() will queue it; handing it out now would let two
                # workers hold it at once.
                return
            self._queue.append(item)
            if self._sleepers or self._async_waiters:
                sleeper = self._wake_one_locked()
        finally:
            lock.release()
        if sleeper is not None:
            sleeper.release()  # after the queue's lock: see _wake_one_locked

    def __len__(self) -> int:
        """Items waiting to be handed out (for information: do not gate add or get on it)."""
        with self._lock:
            return len(self._queue)

    def get(self) -> GetResult[T]:
        """Block until an item can be processed; the caller must :meth:`done` it.

        Returns ``(None, True)`` only when the queue is shutting down *and*
        empty, so items queued before shutdown are still handed out.
        """
        lock = self._lock
        if not lock.acquire(False):
            acquire_contended(lock)
        try:
            while not self._queue and not self._shutting_down:
                self._sleep_locked()
            return self._pop_locked()
        finally:
            lock.release()

    async def get_async(self) -> GetResult[T]:
        """Like :meth:`get`, but waits without blocking the event loop.

        The lock is held only for a few dictionary operations, never while
        waiting; the task sleeps on a future that :meth:`add` (from any thread)
        resolves on this loop. Cancelling the task while it waits loses no item:
        a wake-up it received but could not use is passed to another waiter.
        """
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._queue or self._shutting_down:
                    return self._pop_locked()
                fut: asyncio.Future[None] = loop.create_future()
                self._async_waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                with self._lock:
                    try:
                        self._async_waiters.remove(fut)
                    except ValueError:
                        # We were already chosen to take an item; let someone else.
                        self._pass_wake_up_on_locked()
                raise

    def done(self, item: T) -> None:
        """Mark ``item`` finished; if it was added meanwhile, queue it again.

        A ``done`` for an item no worker holds is ignored, so a stray call can
        never put a queued item in the queue twice.
        """
        lock = self._lock
        if not lock.acquire(False):
            acquire_contended(lock)
        sleeper = None
        try:
            if item not in self._processing:
                return
            if self._record:
                self._metrics.done(item)
            self._processing.remove(item)
            if item in self._dirty:
                self._queue.append(item)
                if self._sleepers or self._async_waiters:
                    sleeper = self._wake_one_locked()
            elif self._drain and not self._processing:
                self._processing_empty.notify_all()
        finally:
            lock.release()
        if sleeper is not None:
            sleeper.release()

    def shut_down(self) -> None:
        """Stop accepting adds; workers drain the queue, then :meth:`get` reports shutdown.

        Returns at once, and also releases a :meth:`shut_down_with_drain`
        still waiting (as on a second SIGTERM).
        """
        with self._lock:
            self._drain = False
            self._shut_down_locked()

    def shut_down_with_drain(self) -> None:
        """Like :meth:`shut_down`, then wait until no item is being processed.

        Every worker must call :meth:`done`, or this waits for ever (a later
        :meth:`shut_down` from another thread ends the wait). From asyncio, run
        it in a thread (``await asyncio.to_thread(q.shut_down_with_drain)``) so
        that async workers can still reach ``done``.
        """
        with self._lock:
            self._drain = True
            self._shut_down_locked()
            while self._processing and self._drain:
                self._processing_empty.wait()

    def shutting_down(self) -> bool:
        """Whether a shutdown has begun (adds are being dropped)."""
        with self._lock:
            return self._shutting_down

    def _pop_locked(self) -> GetResult[T]:
        if not self._queue:
            return None, True
        item = self._queue.popleft()
        if self._record:
            self._metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item, False

    def _wake_one_locked(self) -> threading.Lock | None:
        """Wake one waiter for a newly queued item, async waiters first; a
        sleeping thread is chosen here and returned, for the caller to
        release once it has released the queue's lock.

        Each queued item wakes exactly one waiter. A woken waiter may find the
        item already taken by a worker that was not waiting; it then waits
        again, which is correct because that item did get a worker.

        Why the release waits for the queue's lock to be free: a thread woken
        under it wakes only to find the lock taken, and spins on it until the
        waker is done (py-spy, the benchmarks' update storm: 16 % of the
        workers' GIL-holding samples were that spin). The chosen sleeper is
        off the list already, so no other add can choose it again, and one
        interrupted meanwhile passes its wake-up on (see _sleep_locked).
        """
        while self._async_waiters:
            fut = self._async_waiters.popleft()
            try:
                fut.get_loop().call_soon_threadsafe(_wake, fut)
                return None
            except RuntimeError:
                continue  # its loop is closed: that waiter is gone, try the next
        if self._sleepers:
            return self._sleepers.popleft()
        return None

    def _sleep_locked(self) -> None:
        """Release the queue's lock until woken, as ``Condition.wait`` would.

        An interrupt (KeyboardInterrupt in the main thread) that arrives after
        the wake-up passes the wake-up on, so no queued item is left without a
        worker.
        """
        sleeper = threading.Lock()
        sleeper.acquire()
        self._sleepers.append(sleeper)
        self._lock.release()
        woken = False
        try:
            sleeper.acquire()
            woken = True
        finally:
            acquire_contended(self._lock)
            if not woken:
                try:
                    self._sleepers.remove(sleeper)
                except ValueError:
                    self._pass_wake_up_on_locked()

    def _pass_wake_up_on_locked(self) -> None:
        """A waiter chosen for an item it will not take (interrupted, or
        cancelled) hands the wake-up on; rare, so released at once."""
        if self._queue:
            sleeper = self._wake_one_locked()
            if sleeper is not None:
                sleeper.release()

    def _shut_down_locked(self) -> None:
        self._shutting_down = True
        while self._sleepers:
            self._sleepers.popleft().release()
        self._processing_empty.notify_all()
        while self._async_waiters:
            fut = self._async_waiters.popleft()
            # A closed loop (RuntimeError) has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                fut.get_loop().call_soon_threadsafe(_wake, fut)
