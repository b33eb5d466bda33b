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
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Hashable
from typing import Generic, Literal, TypeAlias, TypeVar

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.workqueue.metrics import MetricsProvider, QueueMetrics, new_queue_metrics

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
        # _drain, _thread_waiters, _async_waiters, and the metrics' bookkeeping.
        self._lock = threading.Lock()
        # Threads blocked in get() wait here for an item or shutdown.
        self._item_available = threading.Condition(self._lock)
        # shut_down_with_drain() waits here for _processing to empty.
        self._processing_empty = threading.Condition(self._lock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._drain = False
        # How many threads wait on _item_available, so add() skips notify() when
        # there are none (the common case for a busy queue).
        self._thread_waiters = 0
        # asyncio tasks blocked in get_async(), oldest first; each future is
        # resolved on its own loop to wake its task.
        self._async_waiters: deque[asyncio.Future[None]] = deque()
        self._metrics: QueueMetrics[T] = new_queue_metrics(
            metrics_provider, name, clock, self._lock
        )

    def add(self, item: T) -> None:
        """Mark ``item`` as needing processing; ignored once the queue is shutting down."""
        with self._lock:
            if self._shutting_down or item in self._dirty:
                return
            self._metrics.add(item)
            self._dirty.add(item)
            if item in self._processing:
                # done() will queue it; handing it out now would let two
                # workers hold it at once.
                return
            self._queue.append(item)
            self._wake_one_locked()

    def __len__(self) -> int:
        """Items waiting to be handed out (for information: do not gate add or get on it)."""
        with self._lock:
            return len(self._queue)

    def get(self) -> GetResult[T]:
        """Block until an item can be processed; the caller must :meth:`done` it.

        Returns ``(None, True)`` only when the queue is shutting down *and*
        empty, so items queued before shutdown are still handed out.
        """
        with self._lock:
            while not self._queue and not self._shutting_down:
                self._thread_waiters += 1
                try:
                    self._item_available.wait()
                finally:
                    self._thread_waiters -= 1
            return self._pop_locked()

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
                        if self._queue:
                            self._wake_one_locked()
                raise

    def done(self, item: T) -> None:
        """Mark ``item`` finished; if it was added meanwhile, queue it again.

        A ``done`` for an item no worker holds is ignored, so a stray call can
        never put a queued item in the queue twice.
        """
        with self._lock:
            if item not in self._processing:
                return
            self._metrics.done(item)
            self._processing.remove(item)
            if item in self._dirty:
                self._queue.append(item)
                self._wake_one_locked()
            elif not self._processing and self._drain:
                self._processing_empty.notify_all()

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
        self._metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item, False

    def _wake_one_locked(self) -> None:
        """Wake one waiter for a newly queued item, async waiters first.

        Each queued item wakes exactly one waiter. A woken waiter may find the
        item already taken by a worker that was not waiting; it then waits
        again, which is correct because that item did get a worker.
        """
        while self._async_waiters:
            fut = self._async_waiters.popleft()
            try:
                fut.get_loop().call_soon_threadsafe(_wake, fut)
                return
            except RuntimeError:
                continue  # its loop is closed: that waiter is gone, try the next
        if self._thread_waiters:
            self._item_available.notify()

    def _shut_down_locked(self) -> None:
        self._shutting_down = True
        self._item_available.notify_all()
        self._processing_empty.notify_all()
        while self._async_waiters:
            fut = self._async_waiters.popleft()
            # A closed loop (RuntimeError) has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                fut.get_loop().call_soon_threadsafe(_wake, fut)
