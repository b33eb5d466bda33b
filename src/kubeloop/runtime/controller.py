"""A controller: a reconcile function plus what it watches.

::

    controller = (
        Controller(Foo, reconcile, workers=2)            # the primary kind
        .owns(("apps/v1", "Deployment"))                  # Deployments wake their Foo
        .watches(("v1", "ConfigMap"), foos_using_configmap)
    )
    manager.add(controller)                               # or manager.controller(Foo, reconcile)

The builder only declares; the manager's :class:`Cache` starts the
informers (before leadership, so a standby has warm caches), and
:meth:`Controller.run` does the rest while this process leads: wait until
every source's kind is served and its informer has started, add the event
handlers (the cache replays every object to them), wait for the handlers
to have seen the initial list, start the workers, and on stop let
in-flight reconciles finish (see :class:`Runner`).

Options, after controller-runtime's: ``filters`` per source (default: drop
resyncs); ``namespace``, ``label_selector``, ``field_selector`` and
``transform`` per source (the cache's ``ByObject``); ``workers``
(``MaxConcurrentReconciles``); ``timeout`` per reconcile;
``requeue_every``: reconcile every cached key that often (the
sample-controller's resync); ``requeue_keys``: the keys each of those
rounds reconciles instead, e.g. a sweep of the actual state that also finds
objects deleted while the controller was down; given it, a round runs as
soon as the workers start (and only then, without ``requeue_every``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar, cast

from kubeloop.cache import (
    ResourceEventHandlerRegistration,
    meta_namespace_key_func,
    wait_for_cache_sync,
)
from kubeloop.runtime.async_runner import AsyncRunner
from kubeloop.runtime.cache import Cache, CacheEntry
from kubeloop.runtime.context import EventRecorderLike
from kubeloop.runtime.kinds import Kind, KindRef, kind_of
from kubeloop.runtime.metrics import ReconcileMetrics
from kubeloop.runtime.predicates import FilterLike, normalize_filters
from kubeloop.runtime.runner import AsyncReconciler, Reconciler, Runner, is_async_reconciler
from kubeloop.runtime.sources import Mapper, Role, Scope, Source, SourceHandler, owner_key
from kubeloop.workqueue import (
    REAL_CLOCK,
    Clock,
    PrometheusMetricsProvider,
    RateLimiter,
    RateLimitingQueue,
)

__all__ = ["Controller"]

_log = logging.getLogger("kubeloop.runtime")

T = TypeVar("T")


def _scope(namespace: str | None, label_selector: str | None, field_selector: str | None) -> Scope:
    return Scope(namespace, label_selector, field_selector)


class Controller(Generic[T]):
    """Declares one controller; ``T`` is the primary object's type (``dict``
    for a resource named by apiVersion, the model for a typed one).

    ``name`` (default: the primary kind, lower case) labels metrics, the
    queue and log lines; it must be unique in a manager.
    """

    def __init__(
        self,
        for_kind: KindRef,
        reconcile: Reconciler[T] | AsyncReconciler[T],
        *,
        name: str | None = None,
        workers: int = 1,
        filters: Sequence[FilterLike] | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[Any], Any] | None = None,
        timeout: float | None = None,
        requeue_every: float | None = None,
        requeue_keys: Callable[[], Iterable[str]] | None = None,
        rate_limiter: RateLimiter[str] | None = None,
    ) -> None:
        primary = kind_of(for_kind)
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if requeue_every is not None and requeue_every <= 0:
            raise ValueError(f"requeue_every must be positive, not {requeue_every!r}")
        self.name = name or (primary.kind or primary.plural).lower()
        self.reconcile = reconcile
        self.workers = workers
        self.timeout = timeout
        self.requeue_every = requeue_every
        self.requeue_keys = requeue_keys
        self.rate_limiter = rate_limiter
        self.sources: list[Source] = [
            Source(
                primary,
                "for",
                normalize_filters(filters),
                _scope(namespace, label_selector, field_selector),
                transform,
            )
        ]
        # Set by bind(): the parts that exist only inside a manager.
        self._cache: Cache | None = None
        self._entries: list[CacheEntry] = []
        self.runner: Runner[T] | None = None
        self._registrations: list[tuple[CacheEntry, ResourceEventHandlerRegistration]] = []

    def __repr__(self) -> str:
        return f"Controller({self.name!r}, for {self.sources[0].kind})"

    # -- declarations ----------------------------------------------------------
    def owns(
        self,
        kind: KindRef,
        *,
        filters: Sequence[FilterLike] | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[Any], Any] | None = None,
        metadata_only: bool = True,
    ) -> Controller[T]:
        """Reconcile the controller (``ownerReferences`` entry with
        ``controller: true`` of the primary's group and kind) of every
        object of ``kind`` that changes.

        The mapping reads only metadata, so by default the owned objects
        are watched and cached as metadata alone
        (:class:`~kubeloop.typed.PartialObjectMetadata`): no spec or status
        in memory. When the cache has a full informer of ``kind`` (a
        ``manager.lister(kind)`` or another controller's primary, declared
        before the manager runs), this source shares it instead. Pass
        ``metadata_only=False`` when ``filters`` or ``transform`` read more
        than metadata."""
        return self._add(
            kind,
            "owns",
            None,
            filters,
            namespace,
            label_selector,
            field_selector,
            transform,
            metadata_only=metadata_only,
        )

    def watches(
        self,
        kind: KindRef,
        mapper: Mapper,
        *,
        filters: Sequence[FilterLike] | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> Controller[T]:
        """Reconcile the keys ``mapper(obj)`` returns for every object of
        ``kind`` that changes (old and new object, on an update)."""
        return self._add(
            kind, "watches", mapper, filters, namespace, label_selector, field_selector, transform
        )

    def _add(
        self,
        kind: KindRef,
        role: Role,
        mapper: Mapper | None,
        filters: Sequence[FilterLike] | None,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        transform: Callable[[Any], Any] | None,
        *,
        metadata_only: bool = False,
    ) -> Controller[T]:
        if self._cache is not None:
            raise RuntimeError(f"{self.name}: add sources before the controller joins a manager")
        scope = _scope(namespace, label_selector, field_selector)
        filters_ = normalize_filters(filters)
        source = Source(kind_of(kind), role, filters_, scope, transform, mapper, metadata_only)
        self.sources.append(source)
        return self

    # -- inside a manager ------------------------------------------------------
    def bind(
        self,
        cache: Cache,
        *,
        recorder: EventRecorderLike | None = None,
        metrics: ReconcileMetrics | None = None,
        metrics_provider: PrometheusMetricsProvider | None = None,
        clock: Clock = REAL_CLOCK,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Register the sources with ``cache`` and make the runner (the
        manager does this when the controller is added): worker threads for
        a plain reconcile, tasks on ``loop`` (the manager's) for an
        ``async def`` one."""
        if self._cache is not None:
            raise RuntimeError(f"{self.name}: already bound to a manager")
        self._cache = cache
        self._entries = [
            cache.register(s.kind, s.scope, s.transform, metadata_only=s.metadata_only)
            for s in self.sources
        ]
        queue: RateLimitingQueue[str] = RateLimitingQueue(
            self.rate_limiter, self.name, metrics_provider=metrics_provider, clock=clock
        )
        options: dict[str, Any] = {
            "queue": queue,
            "metrics": metrics,
            "recorder": recorder,
            "timeout": self.timeout,
            "clock": clock,
        }
        if self.is_async:
            reconcile = cast("AsyncReconciler[T]", self.reconcile)
            self.runner = AsyncRunner(self.name, reconcile, self._get, loop=loop, **options)
        else:
            self.runner = Runner(self.name, self.reconcile, self._get, **options)

    @property
    def is_async(self) -> bool:
        """Whether the reconcile is ``async def`` (run as tasks on a loop)."""
        return is_async_reconciler(self.reconcile)

    @property
    def primary(self) -> CacheEntry:
        if not self._entries:
            raise RuntimeError(f"{self.name}: not bound to a manager")
        return self._entries[0]

    def _get(self, key: str) -> T | None:
        obj, exists = self.primary.indexer().get_by_key(key)
        return obj if exists else None

    def has_synced(self) -> bool:
        """Every source's informer started and synced."""
        return bool(self._entries) and all(e.has_synced() for e in self._entries)

    def run(self, stop: threading.Event, shutdown_timeout: float | None = None) -> bool:
        """Reconcile until ``stop`` is set, then stop taking work and wait
        up to ``shutdown_timeout`` for in-flight reconciles; True when they
        all finished."""
        cache, runner = self._cache, self.runner
        if cache is None or runner is None:
            raise RuntimeError(f"{self.name}: add the controller to a manager first")
        log = runner.log
        log.info("Starting Controller")
        reads = cache.read_entries()
        for entry in [*self._entries, *reads]:
            if not cache.wait_ready(entry, stop):
                log.info("Stopped before every source was served")
                return runner.stop(0)
        primary = self.primary.kind
        assert primary is not None
        runner.kind = (primary.api_version, primary.kind)
        try:
            self._add_handlers(runner, primary)
            log.info("Waiting for caches to sync")
            synced = wait_for_cache_sync(
                stop,
                *(r.has_synced for _, r in self._registrations),
                *(entry.has_synced for entry in reads),
            )
            if not synced:
                return runner.stop(0)
            runner.start(self.workers)
            ticker = self._start_requeue(runner, stop)
            stop.wait()
            log.info("Shutdown signal received, waiting for all workers to finish")
            drained = runner.stop(shutdown_timeout)
            if ticker is not None:
                ticker.join()
            return drained
        except BaseException:
            runner.stop(0)  # shut the queue (and its timer) down on the way out
            raise
        finally:
            self._remove_handlers()

    def _add_handlers(self, runner: Runner[T], primary: Kind) -> None:
        for source, entry in zip(self.sources, self._entries, strict=True):
            handler = self._handler(source, runner, primary)
            assert entry.informer is not None
            # For and Owns map with our own pure functions: called on the
            # informer's thread (no thread wake-up per event); a watches()
            # mapper is the user's and may block, so it gets a buffer and
            # thread of its own, as in client-go.
            synchronous = source.role in ("for", "owns")
            registration = entry.informer.add_event_handler(handler, synchronous=synchronous)
            self._registrations.append((entry, registration))
            runner.log.info("Starting EventSource", source=f"{source.role} {entry}")

    def _handler(self, source: Source, runner: Runner[T], primary: Kind) -> SourceHandler:
        enqueue = runner.queue.add
        if source.role == "for":
            return SourceHandler(
                source,
                self.name,
                lambda obj: [meta_namespace_key_func(obj)],
                enqueue,
                runner.last_known.record,
            )
        if source.role == "owns":

            def owner(obj: Any) -> list[str]:
                key = owner_key(obj, primary)
                return [key] if key is not None else []

            return SourceHandler(source, self.name, owner, enqueue)
        assert source.mapper is not None
        return SourceHandler(source, self.name, source.mapper, enqueue)

    def _remove_handlers(self) -> None:
        for entry, registration in self._registrations:
            if entry.informer is not None:
                entry.informer.remove_event_handler(registration)
        self._registrations.clear()

    def _start_requeue(self, runner: Runner[T], stop: threading.Event) -> threading.Thread | None:
        return start_requeue(
            runner,
            stop,
            self.requeue_every,
            self.requeue_keys,
            lambda: self.primary.indexer().list_keys(),
        )


def start_requeue(
    runner: Runner[Any],
    stop: threading.Event,
    period: float | None,
    keys: Callable[[], Iterable[str]] | None,
    cached_keys: Callable[[], Iterable[str]],
) -> threading.Thread | None:
    """The ``requeue_every`` / ``requeue_keys`` rounds in a thread (None
    when neither is set): ``keys()`` (default: ``cached_keys()``) added to
    the queue every ``period``, and a first round at once when ``keys`` is
    given."""
    if period is None and keys is None:
        return None

    def round_() -> None:
        try:
            for key in keys() if keys is not None else cached_keys():
                runner.queue.add(key)
        except Exception:
            runner.log.exception("periodic requeue failed")

    def tick() -> None:
        if keys is not None:
            round_()
        while period is not None and not stop.wait(period):
            round_()

    thread = threading.Thread(target=tick, name=f"kubeloop-requeue-{runner.name}", daemon=True)
    thread.start()
    return thread
