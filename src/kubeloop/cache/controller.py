"""Controller: a reflector filling a queue, and a loop draining it.

This is client-go's low-level ``cache.Controller`` (``cache.New(Config)``):
the :class:`~kubeloop.cache.shared_informer.SharedIndexInformer` is built on
it, and it is useful alone when one process function should see every delta
synchronously::

    fifo = RealFIFO(atomic_events=True)
    controller = Controller(Config(
        queue=fifo,
        list_watch=lw,
        process=lambda deltas, initial: process_deltas(handler, store, deltas, initial),
        process_batch=lambda batch, initial: process_deltas_in_batch(
            handler, store, batch, initial
        ),
    ))
    controller.run(stop)  # blocks until stop is set

Which queue an informer gets is :class:`InformerQueueOptions`' choice
(client-go's feature gates), made by :func:`new_queue_fifo`; how deltas
become cache writes and handler calls is :func:`process_deltas`.
"""

from __future__ import annotations

import builtins
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from kubeloop.cache.delta_fifo import (
    Delta,
    DeltaFIFO,
    Deltas,
    DeltaType,
    FIFOClosedError,
    PopProcessFunc,
    TransformFunc,
)
from kubeloop.cache.indexer import Indexer
from kubeloop.cache.informer_metrics import NO_FIFO_METRICS, FIFOMetrics
from kubeloop.cache.keys import (
    DeletedFinalStateUnknown,
    KeyFunc,
    deletion_handling_meta_namespace_key_func,
)
from kubeloop.cache.listwatch import ListerWatcher
from kubeloop.cache.queue import Queue, QueueWithBatch
from kubeloop.cache.real_fifo import (
    ProcessBatchFunc,
    RealFIFO,
    ReplacedAllInfo,
    reconcile_replacement,
)
from kubeloop.cache.reflector import Reflector, ReflectorOptions, WatchErrorHandler
from kubeloop.cache.stop import on_stop
from kubeloop.cache.store import BookmarkStore, Store
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import KubeloopError

__all__ = [
    "BatchProcessError",
    "Config",
    "Controller",
    "DeltaHandler",
    "InformerQueueOptions",
    "new_queue_fifo",
    "process_deltas",
    "process_deltas_in_batch",
]

_log = logging.getLogger(__name__)

# Deltas that carry one object to add to the cache or update in it.
_UPSERTS = frozenset({DeltaType.SYNC, DeltaType.REPLACED, DeltaType.ADDED, DeltaType.UPDATED})


class DeltaHandler(Protocol):
    """What :func:`process_deltas` notifies (a ResourceEventHandler)."""

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None: ...

    def on_update(self, old: Any, new: Any) -> None: ...

    def on_delete(self, obj: Any) -> None: ...


class BatchProcessError(KubeloopError):
    """Some deltas of a batch could not be applied to the cache; the others
    were applied and notified. ``errors`` holds what each failure raised."""

    def __init__(self, message: str, errors: builtins.list[Exception]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass
class Config:
    """What a :class:`Controller` runs."""

    queue: Queue
    list_watch: ListerWatcher
    process: PopProcessFunc
    #: Given, and the queue can batch (a RealFIFO), it is handed several
    #: deltas of distinct keys at once; ``process`` still gets the rest.
    process_batch: ProcessBatchFunc | None = None
    #: How often the reflector asks the queue to resync (0: never).
    full_resync_period: float = 0.0
    #: Consulted before each resync; None means always.
    should_resync: Callable[[], bool] | None = None
    watch_error_handler: WatchErrorHandler | None = None
    reflector_options: ReflectorOptions = field(default_factory=ReflectorOptions)
    #: Applied by the reflector to each object as it arrives, before the
    #: queue (give the queue no transformer of its own then).
    transform: TransformFunc | None = None
    #: A queue that can (a RealFIFO) is processed by the producer that
    #: queues onto it while it is idle, not handed to the process thread
    #: (see kubeloop.cache.real_fifo).
    process_on_arrival: bool = False


@dataclass(frozen=True, slots=True)
class InformerQueueOptions:
    """The queue an informer uses: client-go's four feature gates, per informer.

    The defaults are client-go 1.36's: a RealFIFO (InOrderInformers: events in
    arrival order), popped in batches (InOrderInformersBatchProcess), whose
    relists are applied atomically (AtomicFIFO), and which producers can fill
    while the informer notifies (UnlockWhileProcessingFIFO; only with
    ``atomic``, ignored otherwise). ``in_order=False`` selects the DeltaFIFO,
    which has no batches, no atomic relists and holds its lock while processing::

        SharedIndexInformer(lw, queue_options=InformerQueueOptions(in_order=False))

    ``process_on_arrival`` (kubeloop's, RealFIFO only) lets the reflector
    apply a change to the cache and notify handlers itself when the queue is
    idle, instead of waking the informer's thread for every event (see
    :mod:`kubeloop.cache.real_fifo`); ``False`` gives client-go's hand-off.
    """

    in_order: bool = True
    batch_process: bool = True
    atomic: bool = True
    unlock_while_processing: bool = True
    process_on_arrival: bool = True


def new_queue_fifo(
    options: InformerQueueOptions,
    known_objects: Store,
    metrics: FIFOMetrics = NO_FIFO_METRICS,
    clock: Clock = REAL_CLOCK,
) -> Queue:
    """The queue ``options`` asks for, in front of the cache ``known_objects``
    (client-go's newQueueFIFO). An atomic RealFIFO never reads the cache."""
    if not options.in_order:
        return DeltaFIFO(known_objects=known_objects, metrics=metrics, clock=clock)
    if options.atomic:
        return RealFIFO(
            atomic_events=True,
            unlock_while_processing=options.unlock_while_processing,
            emit_delta_type_bookmark=True,
            metrics=metrics,
            clock=clock,
        )
    return RealFIFO(known_objects=known_objects, metrics=metrics, clock=clock)


class Controller:
    """Runs a reflector into ``config.queue`` and pops it into ``config.process``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # Guards _reflector (created by run, read by other threads).
        self._lock = threading.Lock()
        self._reflector: Reflector | None = None

    def run(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set; on return the reflector has ended."""
        cfg = self.config
        reflector = Reflector(
            cfg.list_watch,
            # The reflector only writes (ReflectorStore), though its
            # parameter is typed as a full Store.
            cast(Store, cfg.queue),
            cfg.full_resync_period,
            cfg.reflector_options,
            should_resync=cfg.should_resync,
            watch_error_handler=cfg.watch_error_handler,
            transform=cfg.transform,
        )
        with self._lock:
            self._reflector = reflector
        if cfg.process_on_arrival and isinstance(cfg.queue, RealFIFO):
            batch = cfg.process_batch
            cfg.queue.process_on_arrival(batch, cfg.process, _process_error)
        unregister = on_stop(stop, cfg.queue.close)
        thread = threading.Thread(
            target=reflector.run,
            args=(stop,),
            name=f"kubeloop-reflector-{reflector.name}",
            daemon=True,
        )
        thread.start()
        try:
            self._process_loop(stop)
        finally:
            unregister()
            thread.join()

    def _process_loop(self, stop: threading.Event) -> None:
        cfg = self.config
        pop: Callable[[], object]
        if cfg.process_batch is not None and isinstance(cfg.queue, QueueWithBatch):
            pop = functools.partial(cfg.queue.pop_batch, cfg.process_batch, cfg.process)
        else:
            pop = functools.partial(cfg.queue.pop, cfg.process)
        # Checking stop between pops ends the loop promptly even with a
        # backlog; close() wakes a pop waiting on an empty queue.
        while not stop.is_set():
            try:
                pop()
            except FIFOClosedError:
                return
            except Exception as err:
                _process_error(err)

    def has_synced(self) -> bool:
        """True once the initial list has been fully processed."""
        return self.config.queue.has_synced()

    def last_sync_resource_version(self) -> str:
        with self._lock:
            reflector = self._reflector
        return reflector.last_sync_resource_version() if reflector is not None else ""


def _process_error(err: Exception) -> None:
    # A process error loses only these deltas, as in client-go without
    # RetryOnError; the next relist or resync repairs it.
    _log.error("error processing deltas", exc_info=err)


def process_deltas(
    handler: DeltaHandler,
    client_state: Store,
    deltas: Deltas,
    is_in_initial_list: bool,
    key_func: KeyFunc = deletion_handling_meta_namespace_key_func,
) -> None:
    """Apply popped deltas to the cache and notify ``handler``, in order.

    Anything carrying one object but a deletion becomes an update if the key
    is cached (so a relist of a known object is an update, a relist of a new
    one an add); a deletion may carry a DeletedFinalStateUnknown tombstone.
    REPLACED_ALL replaces the cache and reports what the relist deleted, then
    what it listed; SYNC_ALL re-delivers every cached object as an update;
    BOOKMARK is passed to a store that takes bookmarks. ``key_func`` must be
    the cache's: it matches listed objects with cached ones.
    """
    upsert = _upsert_for(client_state)
    for delta in deltas:
        kind, obj = delta.type, delta.object
        if kind is DeltaType.DELETED:
            client_state.delete(obj)
            handler.on_delete(obj)
        elif kind in _UPSERTS:
            old, existed = upsert(obj)
            if existed:
                handler.on_update(old, obj)
            else:
                handler.on_add(obj, is_in_initial_list)
        elif kind is DeltaType.REPLACED_ALL:
            _process_replaced_all(handler, client_state, obj, is_in_initial_list, key_func)
        elif kind is DeltaType.SYNC_ALL:
            for cached in client_state.list():
                handler.on_update(cached, cached)
        elif kind is DeltaType.BOOKMARK:
            if isinstance(client_state, BookmarkStore):
                client_state.bookmark(obj.resource_version)
        else:
            raise ValueError(f"unknown delta type {kind!r}")


def process_deltas_in_batch(
    handler: DeltaHandler,
    client_state: Store,
    deltas: builtins.list[Delta],
    is_in_initial_list: bool,
) -> None:
    """Apply a batch of deltas (one per key) to the cache, then notify.

    Every delta is written before the first handler call, so a handler (or a
    lister it consults) already sees the whole batch; on an Indexer the batch
    is one transaction (client-go's ``TransactionStore``), so a lister in
    another thread never sees part of it. A delta the cache refuses is
    skipped and not notified; the others go on, and BatchProcessError
    reports the refusals.
    """
    for delta in deltas:
        if delta.type is not DeltaType.DELETED and delta.type not in _UPSERTS:
            raise ValueError(f"delta type {delta.type} is not supported in batch processing")
    applied: builtins.list[tuple[Delta, Any, bool]] = []
    errors: builtins.list[Exception] = []
    if isinstance(client_state, Indexer):
        # One transaction: a lister in another thread sees all of the batch
        # or none of it.
        ops = [(delta.type is DeltaType.DELETED, delta.object) for delta in deltas]
        for delta, result in zip(deltas, client_state.transaction(ops), strict=True):
            if isinstance(result, Exception):
                errors.append(result)
            else:
                applied.append((delta, *result))
    else:
        upsert = _upsert_for(client_state)
        for delta in deltas:
            try:
                if delta.type is DeltaType.DELETED:
                    client_state.delete(delta.object)
                    applied.append((delta, None, False))
                else:
                    old, existed = upsert(delta.object)
                    applied.append((delta, old, existed))
            except Exception as err:
                errors.append(err)
    for delta, old, existed in applied:
        if delta.type is DeltaType.DELETED:
            handler.on_delete(delta.object)
        elif existed:
            handler.on_update(old, delta.object)
        else:
            handler.on_add(delta.object, is_in_initial_list)
    if errors:
        raise BatchProcessError(
            f"{len(errors)} of {len(deltas)} deltas of the batch were not applied: {errors[0]!r}",
            errors,
        )


def _upsert_for(client_state: Store) -> Callable[[Any], tuple[Any, bool]]:
    # An Indexer adds-or-updates under one lock; any other store in two steps.
    if isinstance(client_state, Indexer):
        return client_state.upsert

    def upsert(obj: Any) -> tuple[Any, bool]:
        old, existed = client_state.get(obj)
        if existed:
            client_state.update(obj)
        else:
            client_state.add(obj)
        return old, existed

    return upsert


_ABSENT = object()


def _process_replaced_all(
    handler: DeltaHandler,
    client_state: Store,
    info: ReplacedAllInfo,
    is_in_initial_list: bool,
    key_func: KeyFunc,
) -> None:
    # Everything queued before this relist has been applied, so the cache is
    # exactly what the relist is to be compared with.
    if isinstance(client_state, Indexer):
        # One key per object and one step: the cache swaps its content and
        # hands back the old one, which is what the comparison needs.
        items = {key_func(obj): obj for obj in info.objects}
        previous = client_state.replace_keyed(items, info.resource_version)
        for key, gone in previous.items():
            if key not in items:
                handler.on_delete(DeletedFinalStateUnknown(key, gone))
        for key, obj in items.items():
            old = previous.get(key, _ABSENT)
            if old is _ABSENT:
                handler.on_add(obj, is_in_initial_list)
            else:
                handler.on_update(old, obj)
        return
    deletions: builtins.list[DeletedFinalStateUnknown] = []
    replacements: builtins.list[tuple[Any, Any, bool]] = []

    def replaced(obj: Any) -> None:
        old, existed = client_state.get(obj)
        replacements.append((obj, old, existed))

    reconcile_replacement((), client_state, info.objects, key_func, deletions.append, replaced)
    # The cache first, so that handlers see the state their events describe.
    client_state.replace(info.objects, info.resource_version)
    for tombstone in deletions:
        handler.on_delete(tombstone)
    for obj, old, existed in replacements:
        if existed:
            handler.on_update(old, obj)
        else:
            handler.on_add(obj, is_in_initial_list)
