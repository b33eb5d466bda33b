"""DeltaFIFO: the per-key, compressing queue between a reflector and a cache.

Informers queue through :class:`~kubeloop.cache.real_fifo.RealFIFO` by
default (client-go's InOrderInformers); DeltaFIFO stays selectable
(``SharedIndexInformer(queue_options=InformerQueueOptions(in_order=False))``)
for consumers that want every pending change of one key handed over together.
This module also holds the vocabulary both queues share: :class:`DeltaType`,
:class:`Delta`, :func:`key_of`.

It keeps, per object key, the list of changes ("deltas") seen since the key
was last popped, and hands keys out in the order they were first queued, each
once. The consumer gets every delta for a key together, so it can apply them
to its cache in order and never misses a deletion::

    fifo = DeltaFIFO(known_objects=indexer)
    fifo.add(obj)
    fifo.pop(lambda deltas, is_in_initial_list: apply(deltas))

Why the rules below exist:

- A deletion for a key that is neither queued nor known is dropped: a relist
  already reported it (as a tombstone), so reporting it twice would deliver a
  second ``on_delete`` for one object.
- ``replace`` (a relist) cannot see deletions that happened while the watch
  was down, so it synthesises them: every previously known or queued key that
  is missing from the new list gets a ``DeletedFinalStateUnknown`` tombstone
  carrying the last state the cache had.
- ``resync`` re-queues known objects as Sync deltas, but never for a key that
  already has deltas pending: those deltas are newer than the known object,
  and a stale Sync delivered after them would roll the cache back.
"""

from __future__ import annotations

import builtins
import enum
import threading
from collections import deque
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any

from kubeloop.cache.informer_metrics import NO_FIFO_METRICS, FIFOMetrics
from kubeloop.cache.keys import DeletedFinalStateUnknown, KeyFunc, meta_namespace_key_func
from kubeloop.cache.store import KeyListerGetter
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import KubeloopError

__all__ = [
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Deltas",
    "FIFOClosedError",
    "PopProcessFunc",
    "TransformFunc",
    "key_of",
    "wait_until_queued",
]


class DeltaType(enum.StrEnum):
    """What happened to an object, named as client-go names it."""

    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    #: The object was in a relist (``replace``); informers treat it as an
    #: add or an update depending on whether it was known.
    REPLACED = "Replaced"
    #: A periodic resync re-delivered a known object unchanged.
    SYNC = "Sync"
    #: A whole relist in one delta (an atomic RealFIFO's ``replace``): its
    #: object is a ReplacedAllInfo, and the consumer works out the deletions.
    REPLACED_ALL = "ReplacedAll"
    #: Every cached object is to be re-delivered (an atomic RealFIFO's
    #: ``resync``): its object is a SyncAllInfo.
    SYNC_ALL = "SyncAll"
    #: The server vouched for a resourceVersion (a RealFIFO's ``bookmark``):
    #: its object is a BookmarkInfo.
    BOOKMARK = "Bookmark"


@dataclass(frozen=True, slots=True)
class Delta:
    """One change: its type and the object after it (or a tombstone)."""

    type: DeltaType
    object: Any


#: All changes for one key, oldest first.
Deltas = list[Delta]

#: Called by ``pop`` with the popped deltas and whether they belong to the
#: initial list; it runs with the queue locked (see :meth:`DeltaFIFO.pop`).
PopProcessFunc = Callable[[Deltas, bool], None]

#: Applied to every object as it is queued (except tombstones and Sync).
TransformFunc = Callable[[Any], Any]


class FIFOClosedError(KubeloopError):
    """``pop`` was called on (or was waiting in) a closed, empty queue."""


def key_of(key_func: KeyFunc, obj: Any) -> str:
    """The key of an object, a tombstone, a Delta or a Deltas list (its newest).

    Both FIFOs name what they hold this way, so a consumer can ask for the key
    of whatever ``pop`` gave it::

        >>> key_of(meta_namespace_key_func, [Delta(DeltaType.ADDED, {"metadata": {"name": "a"}})])
        'a'
    """
    if type(obj) is list:
        if not obj:
            raise ValueError("0 length Deltas object; can't get key")
        obj = obj[-1]
    if type(obj) is Delta:
        obj = obj.object
    if type(obj) is DeletedFinalStateUnknown:
        return obj.key
    return key_func(obj)


def wait_until_queued(
    cond: threading.Condition,
    queued: Sized,
    is_closed: Callable[[], bool],
    timeout: float | None,
    name: str,
) -> None:
    """Wait, holding ``cond``, until ``queued`` is not empty.

    A closed queue still hands out what it holds (a consumer drains it), so
    closing only ends the wait once nothing is left: FIFOClosedError then.
    TimeoutError when ``timeout`` passes with nothing queued.
    """
    while not queued:
        if is_closed():
            raise FIFOClosedError(f"{name}: manipulating with closed queue")
        if not cond.wait(timeout) and not queued:
            if is_closed():
                continue
            raise TimeoutError(f"{name}.pop: nothing queued")


def _is_deletion_dup(newer: Delta, older: Delta) -> Delta | None:
    # Of two consecutive deletions keep the one with more information: the
    # older one, unless it is only a tombstone.
    if newer.type is not DeltaType.DELETED or older.type is not DeltaType.DELETED:
        return None
    if type(older.object) is DeletedFinalStateUnknown:
        return newer
    return older


class DeltaFIFO:
    """A producer/consumer queue of per-key deltas (client-go's DeltaFIFO).

    ``known_objects`` is the consumer's cache (an informer passes its
    indexer); it decides which deletions are meaningful and what ``replace``
    and ``resync`` act on. ``transformer`` runs on every object as it is
    queued, except tombstones (their object was transformed already) and
    Sync deltas (they carry objects from the cache, transformed already).
    ``emit_delta_type_replaced`` makes ``replace`` queue Replaced rather than
    Sync deltas; informers always want that, so it defaults to True.
    ``metrics`` reports the number of queued keys and how long each pop's
    ``process`` took, timed on ``clock`` (see :mod:`kubeloop.cache.informer_metrics`).
    """

    def __init__(
        self,
        key_func: KeyFunc = meta_namespace_key_func,
        known_objects: KeyListerGetter | None = None,
        transformer: TransformFunc | None = None,
        *,
        emit_delta_type_replaced: bool = True,
        metrics: FIFOMetrics = NO_FIFO_METRICS,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._key_func = key_func
        self._known_objects = known_objects
        self._transformer = transformer
        self._emit_delta_type_replaced = emit_delta_type_replaced
        self._queued_items = metrics.queued_items
        self._processing_latency = metrics.processing_latency
        self._now = clock.now
        # Guards everything below; pop() waits on it for work, and runs the
        # process function while holding it.
        self._cond = threading.Condition(threading.Lock())
        self._items: dict[str, Deltas] = {}
        self._queue: deque[str] = deque()
        # True once anything was added, or the first replace() happened.
        self._populated = False
        # Keys queued by the first replace() that have not been popped yet.
        self._initial_population_count = 0
        self._closed = False

    # -- producer side ------------------------------------------------------

    def add(self, obj: Any) -> None:
        with self._cond:
            self._populated = True
            self._queue_action_locked(DeltaType.ADDED, obj)

    def update(self, obj: Any) -> None:
        with self._cond:
            self._populated = True
            self._queue_action_locked(DeltaType.UPDATED, obj)

    def delete(self, obj: Any) -> None:
        """Queue a deletion, unless the key is neither known nor queued."""
        key = self.key_of(obj)
        with self._cond:
            self._populated = True
            if key not in self._items:
                if self._known_objects is None:
                    return
                _, exists = self._known_objects.get_by_key(key)
                if not exists:
                    return
            self._queue_action_locked(DeltaType.DELETED, obj)

    def replace(self, objs: builtins.list[Any], resource_version: str = "") -> None:
        """Queue every listed object, then tombstones for keys that vanished."""
        action = DeltaType.REPLACED if self._emit_delta_type_replaced else DeltaType.SYNC
        with self._cond:
            keys: set[str] = set()
            for obj in objs:
                keys.add(self._queue_action_locked(action, obj))

            queued_deletions = 0
            # Keys with pending deltas that the new list no longer has.
            for key in [k for k in self._items if k not in keys]:
                newest = self._items[key][-1].object
                if type(newest) is DeletedFinalStateUnknown:
                    newest = newest.obj
                queued_deletions += 1
                self._queue_action_locked(DeltaType.DELETED, DeletedFinalStateUnknown(key, newest))

            # Known keys, with nothing queued, that the new list no longer has.
            if self._known_objects is not None:
                for key in self._known_objects.list_keys():
                    if key in keys or self._items.get(key):
                        continue
                    known, exists = self._known_objects.get_by_key(key)
                    queued_deletions += 1
                    self._queue_action_locked(
                        DeltaType.DELETED,
                        DeletedFinalStateUnknown(key, known if exists else None),
                    )

            if not self._populated:
                self._populated = True
                self._initial_population_count = len(keys) + queued_deletions

    def resync(self) -> None:
        """Queue a Sync delta for every known key that has nothing pending."""
        if self._known_objects is None:
            return
        with self._cond:
            for key in self._known_objects.list_keys():
                obj, exists = self._known_objects.get_by_key(key)
                if not exists:
                    continue
                # A pending delta is newer than the cached object: a Sync
                # carrying the cached object would roll the cache back.
                if self._items.get(self.key_of(obj)):
                    continue
                self._queue_action_locked(DeltaType.SYNC, obj)

    def close(self) -> None:
        """Wake every ``pop``; once empty, ``pop`` raises FIFOClosedError."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- consumer side ------------------------------------------------------

    def pop(self, process: PopProcessFunc, timeout: float | None = None) -> Deltas:
        """Block until a key is queued, remove it and run ``process`` on its
        deltas, then return them.

        ``process`` runs with the queue locked, so the consumer's cache
        (``known_objects``) is updated atomically with the queue: ``delete``,
        ``replace`` and ``resync`` never see a popped-but-not-yet-applied key.
        Keep it quick (no I/O): producers wait meanwhile.

        Raises FIFOClosedError when the queue is closed and empty, and
        TimeoutError when ``timeout`` passes with nothing to pop.
        """
        with self._cond:
            wait_until_queued(self._cond, self._queue, lambda: self._closed, timeout, "DeltaFIFO")
            is_in_initial_list = not self._has_synced_locked()
            key = self._queue.popleft()
            if self._initial_population_count > 0:
                self._initial_population_count -= 1
            deltas = self._items.pop(key)
            self._queued_items.set(len(self._items))
            start = self._now()
            try:
                process(deltas, is_in_initial_list)
            finally:
                self._processing_latency.observe(self._now() - start)
            return deltas

    # -- inspection ---------------------------------------------------------

    def has_synced(self) -> bool:
        """True once the first ``replace`` has been fully popped (tombstones
        included), or once anything was added, updated or deleted first."""
        with self._cond:
            return self._has_synced_locked()

    def list(self) -> builtins.list[Any]:
        """The newest object of every queued key."""
        with self._cond:
            return [deltas[-1].object for deltas in self._items.values()]

    def list_keys(self) -> builtins.list[str]:
        """Queued keys, in pop order."""
        with self._cond:
            return list(self._queue)

    def get(self, obj: Any) -> tuple[Deltas, bool]:
        return self.get_by_key(self.key_of(obj))

    def get_by_key(self, key: str) -> tuple[Deltas, bool]:
        """A copy of the deltas queued for ``key``."""
        with self._cond:
            deltas = self._items.get(key)
            if deltas is None:
                return [], False
            return list(deltas), True

    def is_closed(self) -> bool:
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def key_of(self, obj: Any) -> str:
        """The key of an object, of a tombstone, or of a Deltas list."""
        return key_of(self._key_func, obj)

    # -- internals ----------------------------------------------------------

    def _has_synced_locked(self) -> bool:
        return self._populated and self._initial_population_count == 0

    def _queue_action_locked(self, action: DeltaType, obj: Any) -> str:
        key = self.key_of(obj)
        if (
            self._transformer is not None
            and action is not DeltaType.SYNC
            and type(obj) is not DeletedFinalStateUnknown
        ):
            obj = self._transformer(obj)
        delta = Delta(action, obj)
        deltas = self._items.get(key)
        if deltas is None:
            self._items[key] = [delta]
            self._queue.append(key)
            # The only place the number of queued keys grows.
            self._queued_items.set(len(self._items))
            self._cond.notify()
            return key
        # Re-listing and watching can report one deletion twice; only the
        # newest two deltas are compared, as in client-go.
        kept = _is_deletion_dup(delta, deltas[-1])
        if kept is None:
            deltas.append(delta)
        else:
            deltas[-1] = kept
        self._cond.notify()
        return key
