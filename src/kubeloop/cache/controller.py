"""Controller: a reflector filling a queue, and a loop draining it.

This is client-go's low-level ``cache.Controller`` (``cache.New(Config)``):
the :class:`~kubeloop.cache.shared_informer.SharedIndexInformer` is built on
it, and it is useful alone when one process function should see every delta
synchronously::

    fifo = DeltaFIFO(known_objects=store)
    controller = Controller(Config(
        queue=fifo,
        list_watch=lw,
        process=lambda deltas, initial: process_deltas(handler, store, deltas, initial),
    ))
    controller.run(stop)  # blocks until stop is set
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeloop.cache.delta_fifo import (
    DeltaFIFO,
    Deltas,
    DeltaType,
    FIFOClosedError,
    PopProcessFunc,
    TransformFunc,
)
from kubeloop.cache.indexer import Indexer
from kubeloop.cache.listwatch import ListerWatcher
from kubeloop.cache.reflector import Reflector, ReflectorOptions, WatchErrorHandler
from kubeloop.cache.stop import on_stop
from kubeloop.cache.store import Store

__all__ = ["Config", "Controller", "DeltaHandler", "process_deltas"]

_log = logging.getLogger(__name__)


class DeltaHandler(Protocol):
    """What :func:`process_deltas` notifies (a ResourceEventHandler)."""

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None: ...

    def on_update(self, old: Any, new: Any) -> None: ...

    def on_delete(self, obj: Any) -> None: ...


@dataclass
class Config:
    """What a :class:`Controller` runs."""

    queue: DeltaFIFO
    list_watch: ListerWatcher
    process: PopProcessFunc
    #: How often the reflector asks the queue to resync (0: never).
    full_resync_period: float = 0.0
    #: Consulted before each resync; None means always.
    should_resync: Callable[[], bool] | None = None
    watch_error_handler: WatchErrorHandler | None = None
    reflector_options: ReflectorOptions = field(default_factory=ReflectorOptions)
    #: Applied by the reflector to each object as it arrives, before the
    #: queue (give the queue no transformer of its own then).
    transform: TransformFunc | None = None


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
            cfg.queue,
            cfg.full_resync_period,
            cfg.reflector_options,
            should_resync=cfg.should_resync,
            watch_error_handler=cfg.watch_error_handler,
            transform=cfg.transform,
        )
        with self._lock:
            self._reflector = reflector
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
        # Checking stop between pops ends the loop promptly even with a
        # backlog; close() wakes a pop waiting on an empty queue.
        while not stop.is_set():
            try:
                self.config.queue.pop(self.config.process)
            except FIFOClosedError:
                return
            except Exception:
                # A process error loses only this key's deltas, as in client-go
                # without RetryOnError; the next relist or resync repairs it.
                _log.exception("error processing deltas")

    def has_synced(self) -> bool:
        """True once the initial list has been fully processed."""
        return self.config.queue.has_synced()

    def last_sync_resource_version(self) -> str:
        with self._lock:
            reflector = self._reflector
        return reflector.last_sync_resource_version() if reflector is not None else ""


def process_deltas(
    handler: DeltaHandler, client_state: Store, deltas: Deltas, is_in_initial_list: bool
) -> None:
    """Apply popped deltas to the cache and notify ``handler``, in order.

    Anything but a deletion becomes an update if the key is cached (so a
    relist of a known object is an update, a relist of a new one an add).
    A deletion may carry a DeletedFinalStateUnknown tombstone.
    """
    upsert = client_state.upsert if isinstance(client_state, Indexer) else None
    for delta in deltas:
        obj = delta.object
        if delta.type is DeltaType.DELETED:
            client_state.delete(obj)
            handler.on_delete(obj)
            continue
        if upsert is not None:
            old, existed = upsert(obj)
        else:
            old, existed = client_state.get(obj)
            if existed:
                client_state.update(obj)
            else:
                client_state.add(obj)
        if existed:
            handler.on_update(old, obj)
        else:
            handler.on_add(obj, is_in_initial_list)
