"""RealFIFO: the informer's queue, every change in the order it arrived.

A :class:`~kubeloop.cache.delta_fifo.DeltaFIFO` groups changes by key and
hands a key out once with all its pending deltas; RealFIFO is one flat list of
deltas, popped in arrival order, nothing merged. That is what informers use
(client-go's InOrderInformers, GA and locked on since 1.36): handlers see
events across keys in the order the server sent them, and the queue needs no
per-key bookkeeping::

    fifo = RealFIFO(atomic_events=True, unlock_while_processing=True)
    fifo.add(obj)
    fifo.pop_batch(apply_batch, apply_one)  # or fifo.pop(apply_one)

Why the rules below exist:

- ``replace`` (a relist) must report the deletions the watch missed. With
  ``atomic_events`` (client-go's AtomicFIFO, the informer default) it queues
  the whole list as one REPLACED_ALL delta, and the consumer compares it with
  its cache when it gets there (:func:`reconcile_replacement`): everything
  queued before has been applied by then, so the comparison is exact, and no
  reader ever sees half a relist. Without it, ``replace`` compares with the
  queue and ``known_objects`` at once and queues tombstones first, then one
  REPLACED delta per listed object.
- ``resync`` with ``atomic_events`` queues one SYNC_ALL delta, which the
  consumer turns into an update for every cached object at that point of the
  stream; without, a SYNC delta per known key that has nothing queued (a
  queued change is newer than the known object, which must not overtake it).
- ``unlock_while_processing`` (client-go's UnlockWhileProcessingFIFO) lets
  producers queue while the consumer's ``process`` runs, so a slow handler
  fan-out does not stall the watch. It needs ``atomic_events``: an unlocked
  queue can no longer ask ``known_objects`` for a consistent picture. The
  lock stays held while two batches or more are queued, as back-pressure.
- ``pop_batch`` (client-go's InOrderInformersBatchProcess) hands out up to
  ``batch_size`` consecutive deltas, at most one per key (so a batch can be
  applied in any order), never mixing the initial list with what follows it,
  and never REPLACED_ALL, SYNC_ALL or BOOKMARK (each is popped alone).
- ``has_synced`` turns true once everything the first ``replace`` queued was
  processed (or at once if anything else came first), and then stays true.
- ``process_on_arrival`` (kubeloop's own, not client-go's): a producer that
  queues onto an idle queue (nothing queued, nothing being processed) runs
  the pop itself instead of waking the consumer thread. In Go the hand-off to
  the informer goroutine is nearly free; in CPython waking a thread costs a
  system call and a GIL hand-over per event, and the profile of an update
  storm showed a fifth of the informer's CPU in ``Condition.notify``. Order
  and every rule above stay: one pop at a time (a consumer waits while a
  producer processes, and the reverse), and whenever deltas are already
  queued or being processed, producers only queue and the consumer thread
  takes them, so a burst still finds the watch reading on while it is
  worked off.
"""

from __future__ import annotations

import builtins
import functools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubeloop.cache.delta_fifo import (
    Delta,
    Deltas,
    DeltaType,
    PopProcessFunc,
    TransformFunc,
    key_of,
    wait_until_queued,
)
from kubeloop.cache.informer_metrics import NO_FIFO_METRICS, FIFOMetrics
from kubeloop.cache.keys import DeletedFinalStateUnknown, KeyFunc, meta_namespace_key_func
from kubeloop.cache.store import KeyListerGetter
from kubeloop.clock import REAL_CLOCK, Clock

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BookmarkInfo",
    "ProcessBatchFunc",
    "RealFIFO",
    "ReplacedAllInfo",
    "SyncAllInfo",
    "reconcile_replacement",
]

_log = logging.getLogger(__name__)

#: The most deltas one ``pop_batch`` hands out (client-go's defaultBatchSize).
DEFAULT_BATCH_SIZE = 1000

#: Called by ``pop_batch`` with deltas of distinct keys, oldest first, and
#: whether they belong to the initial list.
ProcessBatchFunc = Callable[[builtins.list[Delta], bool], None]

# Delta types that may share a batch; the others carry no single object.
_BATCHABLE = frozenset(
    {DeltaType.SYNC, DeltaType.REPLACED, DeltaType.ADDED, DeltaType.UPDATED, DeltaType.DELETED}
)


@dataclass(frozen=True, slots=True)
class ReplacedAllInfo:
    """The object of a REPLACED_ALL delta: one relist, transformed already."""

    resource_version: str
    objects: builtins.list[Any]


@dataclass(frozen=True, slots=True)
class SyncAllInfo:
    """The object of a SYNC_ALL delta: re-deliver every cached object."""


@dataclass(frozen=True, slots=True)
class BookmarkInfo:
    """The object of a BOOKMARK delta."""

    resource_version: str


class RealFIFO:
    """An in-order delta queue (client-go's RealFIFO).

    ``known_objects`` (the consumer's cache) is needed without
    ``atomic_events``, for ``replace`` and ``resync``, and refused with it
    (an atomic queue never reads the cache, which is what allows
    ``unlock_while_processing``). ``transformer`` runs on every object as it
    is queued, except tombstones and Sync deltas (made from objects that were
    transformed already). ``emit_delta_type_bookmark`` (atomic only) makes
    ``bookmark`` queue a BOOKMARK delta. ``metrics`` reports the number of
    queued deltas and how long each pop's processing took, on ``clock``.

    The consumer must be a single thread: with ``unlock_while_processing``,
    two concurrent pops could run ``process`` side by side.
    """

    def __init__(
        self,
        key_func: KeyFunc = meta_namespace_key_func,
        known_objects: KeyListerGetter | None = None,
        transformer: TransformFunc | None = None,
        *,
        atomic_events: bool = False,
        unlock_while_processing: bool = False,
        emit_delta_type_bookmark: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        metrics: FIFOMetrics = NO_FIFO_METRICS,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if atomic_events and known_objects is not None:
            raise ValueError("RealFIFO: known_objects must not be given with atomic_events")
        if not atomic_events:
            if known_objects is None:
                raise ValueError("RealFIFO: known_objects is required without atomic_events")
            if unlock_while_processing:
                raise ValueError("RealFIFO: unlock_while_processing requires atomic_events")
            if emit_delta_type_bookmark:
                raise ValueError("RealFIFO: emit_delta_type_bookmark requires atomic_events")
        if batch_size < 1:
            raise ValueError(f"RealFIFO: batch_size must be at least 1, not {batch_size}")
        self._key_func = key_func
        self._known_objects = known_objects
        self._transformer = transformer
        self._atomic_events = atomic_events
        self._unlock_while_processing = unlock_while_processing
        self._emit_delta_type_bookmark = emit_delta_type_bookmark
        self._batch_size = batch_size
        self._queued_items = metrics.queued_items
        self._processing_latency = metrics.processing_latency
        self._now = clock.now
        # Guards everything below; pops wait on it for work. Held while
        # ``process`` runs unless unlock_while_processing lets it go.
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[Delta] = deque()
        # True once anything was added, or the first replace() happened.
        self._populated = False
        # Deltas queued by the first replace() whose processing has not ended.
        self._initial_population_count = 0
        # Set once, when the initial population has been processed.
        self._synced = False
        self._closed = False
        # True while a pop's ``process`` runs (on the consumer thread or,
        # with process_on_arrival, a producer's): pops take turns.
        self._processing = False
        # (process_batch, process_single, on_error) once process_on_arrival.
        self._on_arrival: (
            tuple[ProcessBatchFunc | None, PopProcessFunc, Callable[[Exception], None]] | None
        ) = None

    # -- producer side ------------------------------------------------------

    def add(self, obj: Any) -> None:
        self._record_first_change_and_append(DeltaType.ADDED, obj)

    def update(self, obj: Any) -> None:
        self._record_first_change_and_append(DeltaType.UPDATED, obj)

    def delete(self, obj: Any) -> None:
        """Queue a deletion; unlike DeltaFIFO, also of a key nobody knows."""
        self._record_first_change_and_append(DeltaType.DELETED, obj)

    def replace(self, objs: builtins.list[Any], resource_version: str = "") -> None:
        """Queue a relist: one REPLACED_ALL delta (atomic), or tombstones for
        what vanished followed by a REPLACED delta per object."""
        with self._cond:
            if self._atomic_events:
                if self._transformer is not None:
                    objs = [self._transformer(obj) for obj in objs]
                self._append_locked(
                    Delta(DeltaType.REPLACED_ALL, ReplacedAllInfo(resource_version, objs))
                )
            else:
                assert self._known_objects is not None  # checked in __init__
                reconcile_replacement(
                    list(self._items),
                    self._known_objects,
                    objs,
                    self.key_of,
                    lambda tombstone: self._append_locked(Delta(DeltaType.DELETED, tombstone)),
                    lambda obj: self._append_locked(self._transformed(DeltaType.REPLACED, obj)),
                )
            if not self._populated:
                self._populated = True
                self._initial_population_count = len(self._items)
                self._check_synced_locked()
            self._hand_over_locked()

    def resync(self) -> None:
        """Queue SYNC_ALL (atomic), or a Sync delta per known key with
        nothing queued."""
        with self._cond:
            if self._atomic_events:
                self._append_locked(Delta(DeltaType.SYNC_ALL, SyncAllInfo()))
                self._hand_over_locked()
                return
            known = self._known_objects
            assert known is not None  # checked in __init__
            queued = {self.key_of(delta) for delta in self._items}
            for key in known.list_keys():
                # A queued change is newer than the known object: a Sync
                # carrying the known object must not follow it.
                if key in queued:
                    continue
                obj, exists = known.get_by_key(key)
                if not exists:
                    _log.error("key %s does not exist in known objects, cannot sync it", key)
                    continue
                self._append_locked(Delta(DeltaType.SYNC, obj))
            self._hand_over_locked()

    def bookmark(self, resource_version: str) -> None:
        """Queue a BOOKMARK delta, if ``emit_delta_type_bookmark``; else nothing."""
        if not self._emit_delta_type_bookmark:
            return
        with self._cond:
            self._append_locked(Delta(DeltaType.BOOKMARK, BookmarkInfo(resource_version)))
            self._hand_over_locked()

    def close(self) -> None:
        """Wake every pop; once empty, pops raise FIFOClosedError."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- consumer side ------------------------------------------------------

    def pop(self, process: PopProcessFunc, timeout: float | None = None) -> Deltas:
        """Block until a delta is queued, remove it, run ``process([delta],
        is_in_initial_list)`` and return ``[delta]``.

        Raises FIFOClosedError when the queue is closed and empty, and
        TimeoutError when ``timeout`` passes with nothing to pop.
        """
        with self._cond:
            self._wait_for_turn_locked(timeout)
            return self._pop_locked(process, None)

    def pop_batch(
        self,
        process_batch: ProcessBatchFunc,
        process_single: PopProcessFunc,
        timeout: float | None = None,
    ) -> None:
        """Block until deltas are queued, remove a batch of them (see the
        module docstring for what may share one) and run ``process_batch``
        on it, or ``process_single`` when the batch is a single delta."""
        with self._cond:
            self._wait_for_turn_locked(timeout)
            self._pop_batch_locked(process_batch, process_single, None)

    def process_on_arrival(
        self,
        process_batch: ProcessBatchFunc | None,
        process_single: PopProcessFunc,
        on_error: Callable[[Exception], None],
    ) -> None:
        """Let a producer that queues onto an idle queue process it itself
        (see the module docstring), as ``pop_batch(process_batch,
        process_single)`` would, or ``pop(process_single)`` without
        ``process_batch``. ``on_error`` gets what processing raised there,
        where the consumer thread's loop would have caught it: the producer
        (the reflector) must not see it."""
        with self._cond:
            self._on_arrival = (process_batch, process_single, on_error)

    # -- inspection ---------------------------------------------------------

    def has_synced(self) -> bool:
        """True once the first ``replace``'s deltas were all processed, or
        once anything was added, updated or deleted first."""
        with self._cond:
            return self._synced

    def is_closed(self) -> bool:
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        """The number of queued deltas."""
        with self._cond:
            return len(self._items)

    def queued(self) -> builtins.list[Delta]:
        """A copy of the queued deltas, oldest first (for tests and debugging)."""
        with self._cond:
            return list(self._items)

    def key_of(self, obj: Any) -> str:
        """The key of an object, of a tombstone, of a Delta or of a Deltas list."""
        return key_of(self._key_func, obj)

    # -- internals ----------------------------------------------------------

    def _record_first_change_and_append(self, action: DeltaType, obj: Any) -> None:
        with self._cond:
            self._populated = True
            self._check_synced_locked()
            self._append_locked(self._transformed(action, obj))
            self._hand_over_locked()

    def _transformed(self, action: DeltaType, obj: Any) -> Delta:
        # The key must be computable before anything is queued; a tombstone
        # carries an object that was transformed when it was first queued.
        self.key_of(obj)
        if self._transformer is not None and type(obj) is not DeletedFinalStateUnknown:
            obj = self._transformer(obj)
        return Delta(action, obj)

    def _append_locked(self, delta: Delta) -> None:
        # The consumer is woken (or the producer processes) by
        # _hand_over_locked, once the producer's bookkeeping is done.
        self._items.append(delta)
        self._queued_items.set(len(self._items))

    def _hand_over_locked(self) -> None:
        """After a producer queued: process on arrival if the queue was
        idle, else wake the consumer."""
        on_arrival = self._on_arrival
        if on_arrival is None or self._processing or self._closed or not self._items:
            self._cond.notify()
            return
        process_batch, process_single, on_error = on_arrival
        if process_batch is None:
            self._pop_locked(process_single, on_error)
        else:
            self._pop_batch_locked(process_batch, process_single, on_error)
        if self._items:  # queued meanwhile by another producer: the consumer's turn
            self._cond.notify()

    def _check_synced_locked(self) -> None:
        if self._populated and self._initial_population_count == 0:
            self._synced = True

    def _take_batch_locked(self) -> builtins.list[Delta]:
        items = self._items
        limit = self._batch_size
        if self._initial_population_count > 0:
            # The initial list is processed apart from what follows it, so
            # is_in_initial_list is right for every delta of a batch.
            limit = min(limit, self._initial_population_count)
        batch: builtins.list[Delta] = []
        keys: set[str] = set()
        while items and len(batch) < limit:
            delta = items[0]
            if delta.type not in _BATCHABLE:
                if not batch:
                    batch.append(items.popleft())
                break
            try:
                key = self.key_of(delta)
            except Exception:
                # Hand the broken delta out (with what precedes it) as a
                # single pop would, and end the batch there.
                batch.append(items.popleft())
                break
            if key in keys:
                break  # one delta per key: a batch may be applied in any order
            keys.add(key)
            batch.append(items.popleft())
        return batch

    def _wait_for_turn_locked(self, timeout: float | None) -> None:
        # Deltas to pop, and no pop processing (a producer's, on arrival).
        deadline = None if timeout is None else self._now() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - self._now())
            wait_until_queued(self._cond, self._items, lambda: self._closed, remaining, "RealFIFO")
            if not self._processing:
                return
            timed_out = not self._cond.wait(remaining)
            if timed_out and deadline is not None and self._now() >= deadline:
                raise TimeoutError("RealFIFO.pop: nothing to pop in time")

    def _pop_locked(
        self, process: PopProcessFunc, on_error: Callable[[Exception], None] | None
    ) -> Deltas:
        is_in_initial_list = not self._synced
        deltas = [self._items.popleft()]
        self._queued_items.set(len(self._items))
        self._process_locked(lambda: process(deltas, is_in_initial_list), 1, on_error)
        return deltas

    def _pop_batch_locked(
        self,
        process_batch: ProcessBatchFunc,
        process_single: PopProcessFunc,
        on_error: Callable[[Exception], None] | None,
    ) -> None:
        is_in_initial_list = not self._synced
        batch = self._take_batch_locked()
        self._queued_items.set(len(self._items))
        if len(batch) == 1:
            self._process_locked(lambda: process_single(batch, is_in_initial_list), 1, on_error)
        else:
            process = functools.partial(process_batch, batch, is_in_initial_list)
            self._process_locked(process, len(batch), on_error)

    def _process_locked(
        self,
        process: Callable[[], None],
        popped: int,
        on_error: Callable[[Exception], None] | None,
    ) -> None:
        # Producers may queue meanwhile unless two batches are waiting
        # already: then they wait, so the queue cannot grow without bound.
        unlock = self._unlock_while_processing and len(self._items) < 2 * self._batch_size
        self._processing = True
        if unlock:
            self._cond.release()
        start = self._now()
        try:
            process()
        except Exception as err:
            if on_error is None:
                raise
            on_error(err)
        finally:
            self._processing_latency.observe(self._now() - start)
            if unlock:
                self._cond.acquire()
            self._processing = False
            # Only after processing, so has_synced is never true while the
            # last of the initial list is still being applied.
            if self._initial_population_count > 0:
                self._initial_population_count -= popped
                self._check_synced_locked()


def reconcile_replacement(
    queued: Iterable[Delta],
    known_objects: KeyListerGetter,
    new_items: builtins.list[Any],
    key_func: KeyFunc,
    on_delete: Callable[[DeletedFinalStateUnknown], None],
    on_replace: Callable[[Any], None],
) -> None:
    """Compare a relist with what is queued and known; report deletions
    first, then every listed object, in list order.

    A key queued but not listed gets a tombstone carrying its newest queued
    object, unless its newest delta is a deletion already; a key known but
    neither queued nor listed gets one carrying the known object. Deletions
    go first because a listed object may reuse a deleted one's name::

        >>> cache = Indexer(meta_namespace_key_func)
        >>> cache.add({"metadata": {"name": "old"}})
        >>> gone, listed, key = [], [], meta_namespace_key_func
        >>> new = [{"metadata": {"name": "new"}}]
        >>> reconcile_replacement([], cache, new, key, gone.append, listed.append)
        >>> [tombstone.key for tombstone in gone], len(listed)
        (['old'], 1)
    """
    new_keys = {key_func(obj) for obj in new_items}
    newest: dict[str, Delta] = {}
    for delta in queued:
        newest[key_func(delta.object)] = delta  # dict order: first time queued
    for key, delta in newest.items():
        if key in new_keys or delta.type is DeltaType.DELETED:
            continue
        on_delete(DeletedFinalStateUnknown(key, delta.object))
    for key in known_objects.list_keys():
        if key in new_keys or key in newest:
            continue
        obj, exists = known_objects.get_by_key(key)
        if not exists:
            _log.error("key %s is not in known objects: its tombstone carries no object", key)
        on_delete(DeletedFinalStateUnknown(key, obj if exists else None))
    for obj in new_items:
        on_replace(obj)
