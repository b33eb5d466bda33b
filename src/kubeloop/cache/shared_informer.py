"""SharedIndexInformer: one cache and one watch shared by many handlers.

::

    informer = SharedIndexInformer(ListWatch.from_client(pods), resync_period=30.0,
                                   indexers={NAMESPACE_INDEX: meta_namespace_index_func})
    informer.add_event_handler(ResourceEventHandlerFuncs(add_func=on_new_pod))
    threading.Thread(target=informer.run, args=(stop,), daemon=True).start()
    wait_for_cache_sync(stop, informer.has_synced)

The informer queues through a :class:`~kubeloop.cache.real_fifo.RealFIFO`
by default, as client-go 1.36 does (see :class:`InformerQueueOptions`): watch
events reach handlers in the order they arrived, a relist is applied to the
cache at once (handlers then hear of its deletions first, then of what it
listed), and deltas of distinct keys are applied in batches, the whole batch
written to the indexer before its first notification. ``queue_options=
InformerQueueOptions(in_order=False)`` brings back the DeltaFIFO.

How a delta becomes an event: Sync, Replaced, Added and Updated deltas
update the indexer and become ``on_update(old, new)`` when the key was cached,
``on_add(obj, is_in_initial_list)`` otherwise; Deleted deltas remove the key
and become ``on_delete(obj)`` (``obj`` may be a tombstone). An update whose
resourceVersion did not change is a resync: only handlers whose own resync
period is due receive it, so handlers that asked for no resync see only real
changes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Generic, TypeVar

from kubeloop.cache._processor import (
    ADD,
    DELETE,
    UPDATE,
    ProcessorListener,
    SharedProcessor,
    determine_resync_period,
)
from kubeloop.cache.accessor import get_resource_version
from kubeloop.cache.controller import (
    Config,
    Controller,
    InformerQueueOptions,
    new_queue_fifo,
    process_deltas,
    process_deltas_in_batch,
)
from kubeloop.cache.delta_fifo import Delta, Deltas, TransformFunc
from kubeloop.cache.handlers import ResourceEventHandler, ResourceEventHandlerRegistration
from kubeloop.cache.index import Indexers
from kubeloop.cache.indexer import Indexer
from kubeloop.cache.informer_metrics import (
    InformerMetricsProvider,
    InformerNameAndResource,
    new_fifo_metrics,
    new_store_resource_version_metric,
)
from kubeloop.cache.keys import deletion_handling_meta_namespace_key_func
from kubeloop.cache.listwatch import ListerWatcher
from kubeloop.cache.reflector import ReflectorOptions, WatchErrorHandler
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import KubeloopError

__all__ = ["InformerStateError", "SharedIndexInformer"]

_log = logging.getLogger(__name__)

#: Handler resync periods below this are raised to it.
MINIMUM_RESYNC_PERIOD = 1.0


class InformerStateError(KubeloopError):
    """The call is not allowed in the informer's current state (e.g.
    ``set_transform`` after start, ``add_event_handler`` after stop)."""


T = TypeVar("T")


class SharedIndexInformer(Generic[T]):
    """An informer whose cache, watch and resync are shared by its handlers;
    ``T`` is what it holds (``SharedIndexInformer[Network]`` from
    ``factory.informer_for(Network)``), for the type checker only.

    ``resync_period`` is both the default handler resync period and how often
    the reflector checks whether any handler is due (handlers added before
    start with a shorter period lower the latter). ``clock`` decides when a
    handler's resync is due; ``reflector_options`` tunes the reflector;
    ``queue_options`` picks the queue (a batching, atomic RealFIFO by default).
    """

    def __init__(
        self,
        list_watch: ListerWatcher,
        resync_period: float = 0.0,
        indexers: Indexers | None = None,
        *,
        reflector_options: ReflectorOptions | None = None,
        clock: Clock = REAL_CLOCK,
        identifier: InformerNameAndResource | None = None,
        metrics_provider: InformerMetricsProvider | None = None,
        queue_options: InformerQueueOptions | None = None,
    ) -> None:
        self._list_watch = list_watch
        self._queue_options = queue_options or InformerQueueOptions()
        self._indexer = Indexer(
            deletion_handling_meta_namespace_key_func,
            indexers,
            resource_version_metric=new_store_resource_version_metric(identifier, metrics_provider),
        )
        # Bound once here; the FIFO built at run() reports through them.
        self._fifo_metrics = new_fifo_metrics(identifier, metrics_provider)
        self._processor = SharedProcessor(clock)
        self._clock = clock
        self._reflector_options = reflector_options or ReflectorOptions()
        self._default_handler_resync_period = resync_period
        # Guards _started, _stopped, _controller, _resync_check_period,
        # _transform and _watch_error_handler.
        self._started_lock = threading.Lock()
        self._started = False
        self._stopped = False
        self._controller: Controller | None = None
        self._resync_check_period = resync_period
        self._transform: TransformFunc | None = None
        self._watch_error_handler: WatchErrorHandler | None = None
        # Held while deltas are applied and while a handler joins or leaves,
        # so a joining handler's replay of the cache and the live stream of
        # events neither overlap nor leave a gap.
        self._block_deltas = threading.Lock()
        # The thread applying deltas while it does (under _block_deltas): a
        # synchronous handler runs there and must not take that lock again.
        self._applying_thread: int | None = None

    # -- configuration (before start) ----------------------------------------

    def set_transform(self, transform: TransformFunc) -> None:
        """Transform every object before it is cached (e.g. drop fields).

        It runs once per object received, as it arrives from the server and
        before anything else sees it, so it may change the object in place.
        """
        with self._started_lock:
            if self._started:
                raise InformerStateError("informer has already started: cannot set a transform")
            self._transform = transform

    def set_watch_error_handler(self, handler: WatchErrorHandler) -> None:
        """Called whenever the reflector's list-and-watch fails."""
        with self._started_lock:
            if self._started:
                raise InformerStateError(
                    "informer has already started: cannot set a watch error handler"
                )
            self._watch_error_handler = handler

    def add_indexers(self, indexers: Indexers) -> None:
        self._indexer.add_indexers(indexers)

    # -- handlers -------------------------------------------------------------

    def add_event_handler(
        self,
        handler: ResourceEventHandler,
        resync_period: float | None = None,
        *,
        synchronous: bool = False,
    ) -> ResourceEventHandlerRegistration:
        """Register ``handler``; if the informer runs already, it first gets
        every cached object as ``on_add(obj, is_in_initial_list=True)``.

        ``synchronous``: call it on the thread that updates the cache, with
        no buffer and thread of its own; only for a handler that never
        blocks, such as one that only adds keys to a workqueue (see
        :mod:`kubeloop.cache._processor`)::

            informer.add_event_handler(
                ResourceEventHandlerFuncs(add_func=lambda o: queue.add(key(o))),
                synchronous=True,
            )
        """
        self._refuse_from_synchronous_handler("add_event_handler")
        if resync_period is None:
            resync_period = self._default_handler_resync_period
        with self._started_lock:
            if self._stopped:
                raise InformerStateError(
                    f"handler {handler!r} was not added to shared informer "
                    "because it has stopped already"
                )
            if resync_period > 0:
                if resync_period < MINIMUM_RESYNC_PERIOD:
                    _log.warning(
                        "resync period %s is too small, using %s",
                        resync_period,
                        MINIMUM_RESYNC_PERIOD,
                    )
                    resync_period = MINIMUM_RESYNC_PERIOD
                if resync_period < self._resync_check_period:
                    if self._started:
                        resync_period = self._resync_check_period
                    else:
                        self._resync_check_period = resync_period
                        self._processor.resync_check_period_changed(resync_period)
            listener = ProcessorListener(
                handler,
                resync_period,
                determine_resync_period(resync_period, self._resync_check_period),
                self._clock.now(),
                self._controller_has_synced,
                synchronous=synchronous,
            )
            if not self._started:
                self._processor.add_listener(listener)
                return listener
            with self._block_deltas:
                self._processor.add_listener(listener)
                # Queued before the registration is returned, so has_synced
                # can never be true before the replay was handled.
                for item in self._indexer.list():
                    listener.add((ADD, item, True))
            return listener

    def remove_event_handler(self, registration: ResourceEventHandlerRegistration) -> None:
        """Stop delivering to a handler; unknown registrations are ignored."""
        self._refuse_from_synchronous_handler("remove_event_handler")
        with self._started_lock, self._block_deltas:
            self._processor.remove_listener(registration)

    def is_registered(self, registration: ResourceEventHandlerRegistration) -> bool:
        return self._processor.is_registered(registration)

    def handler_count(self) -> int:
        return len(self._processor)

    # -- running ----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Fill the cache and notify handlers until ``stop`` is set; returns
        once the reflector and every handler thread have ended."""
        with self._started_lock:
            if self._started:
                _log.warning("the shared informer has started, run more than once is not allowed")
                return
            # The reflector, not the queue, applies the transform: as each
            # object arrives, so that what it drops never piles up over a
            # whole initial list (see kubeloop.cache.reflector).
            fifo = new_queue_fifo(
                self._queue_options, self._indexer, self._fifo_metrics, self._clock
            )
            batch = self._handle_batch_deltas if self._queue_options.batch_process else None
            self._controller = Controller(
                Config(
                    queue=fifo,
                    list_watch=self._list_watch,
                    process=self._handle_deltas,
                    process_batch=batch,
                    full_resync_period=self._resync_check_period,
                    should_resync=self._processor.should_resync,
                    watch_error_handler=self._watch_error_handler,
                    reflector_options=self._reflector_options,
                    transform=self._transform,
                    process_on_arrival=self._queue_options.process_on_arrival,
                )
            )
            self._started = True
        self._processor.run()
        try:
            self._controller.run(stop)
        finally:
            with self._started_lock:
                self._stopped = True  # no new handlers
            self._processor.stop()

    def has_started(self) -> bool:
        with self._started_lock:
            return self._started

    def is_stopped(self) -> bool:
        with self._started_lock:
            return self._stopped

    def has_synced(self) -> bool:
        """True once the initial list has been fully applied to the cache."""
        with self._started_lock:
            return self._controller_has_synced()

    def _controller_has_synced(self) -> bool:
        controller = self._controller
        return controller is not None and controller.has_synced()

    def last_sync_resource_version(self) -> str:
        with self._started_lock:
            controller = self._controller
        return controller.last_sync_resource_version() if controller is not None else ""

    def get_store(self) -> Indexer:
        return self._indexer

    def get_indexer(self) -> Indexer:
        return self._indexer

    # -- delta handling (runs in the queue's pop) ------------------------------
    # A DeltaFIFO, or a RealFIFO without unlock_while_processing, holds its
    # lock meanwhile; an unlocking RealFIFO lets the reflector queue on.

    def _handle_deltas(self, deltas: Deltas, is_in_initial_list: bool) -> None:
        with self._block_deltas:
            self._applying_thread = threading.get_ident()
            try:
                process_deltas(self, self._indexer, deltas, is_in_initial_list)
            finally:
                self._applying_thread = None

    def _handle_batch_deltas(self, deltas: list[Delta], is_in_initial_list: bool) -> None:
        with self._block_deltas:
            self._applying_thread = threading.get_ident()
            try:
                process_deltas_in_batch(self, self._indexer, deltas, is_in_initial_list)
            finally:
                self._applying_thread = None

    def _refuse_from_synchronous_handler(self, what: str) -> None:
        if self._applying_thread == threading.get_ident():
            raise InformerStateError(
                f"{what} was called from a synchronous event handler of this informer,"
                " which runs while the informer applies a change: it would wait for"
                " itself. Call it from another thread, or register the handler"
                " without synchronous=True"
            )

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self._processor.distribute((ADD, obj, is_in_initial_list), False)

    def on_update(self, old: Any, new: Any) -> None:
        # An unchanged resourceVersion means a Sync or a relist that saw no
        # change: deliver it only to handlers whose resync is due.
        try:
            is_sync = get_resource_version(old) == get_resource_version(new)
        except Exception:
            is_sync = False
        self._processor.distribute((UPDATE, old, new), is_sync)

    def on_delete(self, obj: Any) -> None:
        self._processor.distribute((DELETE, obj, None), False)
