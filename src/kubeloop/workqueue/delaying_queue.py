"""A work queue that can add an item later: requeue after a failure without a hot loop.

::

    q: DelayingQueue[str] = DelayingQueue("networks")
    q.add_after("default/net-a", 2.5)   # handed out by get() in 2.5 s

Pending items sit in a min-heap ordered by ready time, watched by one timer
thread that sleeps on a condition until the earliest item is due (or an even
earlier one arrives), so there is no polling and no thread per item. The
thread starts with the first delayed add: a queue that never delays costs no
thread.

Adding an item that is already waiting keeps the *earlier* ready time
(client-go's rule): a fresh event must not be held back by an old back-off.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.workqueue.metrics import MetricsProvider, new_retries_metric
from kubeloop.workqueue.queue import Queue

__all__ = ["DelayingQueue"]

T = TypeVar("T", bound=Hashable)


class _WaitFor(Generic[T]):
    """An item and when to add it; ordered by (ready_at, seq) in the heap."""

    __slots__ = ("cancelled", "item", "ready_at", "seq")

    def __init__(self, item: T, ready_at: float, seq: int) -> None:
        self.item = item
        self.ready_at = ready_at
        # Ties in ready_at go first-come first-served, and items need not be orderable.
        self.seq = seq
        # Set when an earlier add_after for the same item replaced this entry;
        # heapq cannot move an entry, so the stale one is skipped when popped.
        self.cancelled = False

    def __lt__(self, other: _WaitFor[T]) -> bool:
        return (self.ready_at, self.seq) < (other.ready_at, other.seq)


class DelayingQueue(Queue[T]):
    """A :class:`Queue` with :meth:`add_after`; same constructor arguments.

    A named queue also counts ``workqueue_retries_total`` (every
    :meth:`add_after`, as in client-go).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        metrics_provider: MetricsProvider | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        super().__init__(name, metrics_provider=metrics_provider, clock=clock)
        self._retries = new_retries_metric(metrics_provider, name)
        # Guards _heap, _waiting, _seq, _timer_stopped and _timer; the timer
        # thread sleeps on it until the head of _heap is due.
        self._timer_lock = threading.Lock()
        self._timer_wakeup = threading.Condition(self._timer_lock)
        self._heap: list[_WaitFor[T]] = []
        self._waiting: dict[T, _WaitFor[T]] = {}
        self._seq = itertools.count()
        self._timer_stopped = False
        self._timer: threading.Thread | None = None

    def add_after(self, item: T, seconds: float) -> None:
        """Add ``item`` once ``seconds`` have passed; at once if ``seconds <= 0``.

        If ``item`` is already waiting, the earlier of the two times wins.
        Ignored once the queue is shutting down.
        """
        if self.shutting_down():
            return
        self._retries.inc()
        if seconds <= 0:
            self.add(item)
            return
        ready_at = self._clock.now() + seconds
        with self._timer_lock:
            if self._timer_stopped:
                return
            existing = self._waiting.get(item)
            if existing is not None:
                if existing.ready_at <= ready_at:
                    return
                existing.cancelled = True
            entry = _WaitFor(item, ready_at, next(self._seq))
            heapq.heappush(self._heap, entry)
            self._waiting[item] = entry
            if self._timer is None:
                self._timer = threading.Thread(
                    target=self._waiting_loop,
                    name=f"workqueue-delay-{self.name or id(self)}",
                    daemon=True,
                )
                self._timer.start()
            elif self._heap[0] is entry:
                # Only a new head changes when the timer must wake.
                self._timer_wakeup.notify()

    def shut_down(self) -> None:
        self._stop_timer()
        super().shut_down()

    def shut_down_with_drain(self) -> None:
        self._stop_timer()
        super().shut_down_with_drain()

    def _stop_timer(self) -> None:
        """Stop the timer thread and drop pending items: adds after shutdown are dropped anyway."""
        with self._timer_lock:
            self._timer_stopped = True
            self._heap.clear()
            self._waiting.clear()
            self._timer_wakeup.notify()
            timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join()

    def _waiting_loop(self) -> None:
        """Move due items into the queue, then sleep until the next is due or a new head arrives."""
        heap = self._heap
        with self._timer_lock:
            while not self._timer_stopped:
                now = self._clock.now()
                while heap and heap[0].ready_at <= now:
                    entry = heapq.heappop(heap)
                    if entry.cancelled:
                        continue
                    del self._waiting[entry.item]
                    # Lock order is always timer lock, then queue lock; nothing
                    # takes them the other way round.
                    self.add(entry.item)
                self._clock.wait(self._timer_wakeup, heap[0].ready_at if heap else None)
