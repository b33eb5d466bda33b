"""The manager's cache: one shared informer per kind and scope, started
before any controller leads, for kinds that may not be served yet.

::

    cache = Cache(client)
    entry = cache.register(kind_of(("apps/v1", "deployments")))
    deployments = cache.lister(("apps/v1", "deployments"))   # usable once started and synced
    cache.start(stop)
    cache.wait_for_cache_sync(stop)

Informers come from :class:`kubeloop.cache.SharedInformerFactory`, one
factory per :class:`Scope` (namespace and selectors) and transform, so
sources that agree on both share one informer and one watch.

An entry registered ``metadata_only`` (what ``owns()`` registers) gets the
kind's metadata-only informer, whose objects are
:class:`~kubeloop.typed.PartialObjectMetadata`, unless the cache has a full
entry of the same kind, scope and transform when it starts the entry (a
``lister()`` or another source's, registered before): it then shares that
full informer, so one watch serves both and a reconcile reading the kind
through a lister sees whole objects. A kind is
resolved (plural, scope) in a thread of its own, ``kubeloop-resolve-...``,
that retries discovery with backoff until the kind is served: a controller
for a CRD installed after start starts then, without a restart, and the
others do not wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from kubeloop.cache import (
    Indexer,
    InformerMetricsProvider,
    Lister,
    SharedIndexInformer,
    SharedInformerFactory,
    on_stop,
    strip_managed_fields,
    wait_for_cache_sync,
)
from kubeloop.client import Client, ListOptions
from kubeloop.errors import KubeloopError
from kubeloop.runtime.kinds import Kind, KindRef, KindResolver, kind_of
from kubeloop.runtime.sources import Scope

__all__ = ["Cache", "CacheEntry", "CacheNotStartedError"]

_log = logging.getLogger("kubeloop.runtime")

Transform = Callable[[Any], Any]


class CacheNotStartedError(KubeloopError):
    """A lister was read before the cache resolved and started its kind."""


class CacheEntry:
    """One kind in one scope: its resolved :class:`Kind` and informer, once known."""

    def __init__(
        self, kind: Kind, scope: Scope, transform: Transform | None, metadata_only: bool = False
    ) -> None:
        self.requested = kind
        self.scope = scope
        self.transform = transform
        self.metadata_only = metadata_only
        # Written once, by the resolving thread, under the cache's lock;
        # cached_metadata_only: whether the informer it got is metadata-only
        # (False when it shares a full one).
        self.kind: Kind | None = kind if kind.resolved else None
        self.informer: SharedIndexInformer[Any] | None = None
        self.cached_metadata_only = False

    def __str__(self) -> str:
        view = ", metadata only" if self.metadata_only else ""
        return f"{self.kind or self.requested} ({self.scope}{view})"

    def has_synced(self) -> bool:
        informer = self.informer
        return informer is not None and informer.has_synced()

    def indexer(self) -> Indexer:
        informer = self.informer
        if informer is None:
            raise CacheNotStartedError(f"{self}: the cache has not started this kind yet")
        return informer.get_indexer()


class _PendingIndexer:
    """An indexer that is the entry's once it exists (a lister made before start)."""

    def __init__(self, entry: CacheEntry) -> None:
        self._entry = entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry.indexer(), name)


class Cache:
    """Shared informers for a manager's controllers (see the module docs).

    ``namespace``: the scope of every source that names none (``None``: all
    namespaces). ``resync_period``: the informers' resync (0, none, by
    default: periodic work is a controller's ``requeue_every``).
    ``informer_name`` names the informers for metrics (their queue length
    is ``informer_queued_items{name=...}``), reported to ``metrics_provider``
    (the manager passes its registry's); unnamed, they report none.
    """

    def __init__(
        self,
        client: Client,
        *,
        namespace: str | None = None,
        resync_period: float = 0.0,
        resolver: KindResolver | None = None,
        informer_name: str = "",
        metrics_provider: InformerMetricsProvider | None = None,
    ) -> None:
        self._client = client
        self._informer_name = informer_name
        self._metrics_provider = metrics_provider
        self._namespace = namespace
        self._resync_period = resync_period
        self._resolver = resolver or KindResolver(client)
        # Guards every field below; _changed is notified when an entry is ready.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._entries: dict[tuple[Kind, Scope, Transform | None, bool], CacheEntry] = {}
        self._factories: dict[tuple[Scope, Transform | None], SharedInformerFactory] = {}
        self._threads: list[threading.Thread] = []
        self._stop: threading.Event | None = None
        self._read_entries: dict[int, CacheEntry] = {}

    @property
    def namespace(self) -> str | None:
        """The namespace of every source that names none (None: all)."""
        return self._namespace

    # -- registration --------------------------------------------------------
    def register(
        self,
        kind: KindRef,
        scope: Scope | None = None,
        transform: Transform | None = None,
        *,
        metadata_only: bool = False,
    ) -> CacheEntry:
        """The entry for ``kind`` in ``scope``, made on first use; one made
        after :meth:`start` starts at once. ``metadata_only``: see the module docs."""
        wanted = kind_of(kind)
        scope = scope or Scope()
        if scope.namespace is None and self._namespace is not None:
            scope = Scope(self._namespace, scope.label_selector, scope.field_selector)
        key = (wanted, scope, transform, metadata_only)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return entry
            entry = self._entries[key] = CacheEntry(wanted, scope, transform, metadata_only)
            stop = self._stop
        if stop is not None:
            self._start_entry(entry, stop)
        return entry

    def lister(
        self, kind: KindRef, scope: Scope | None = None, *, metadata_only: bool = False
    ) -> Lister[Any]:
        """A lister over the kind's informer (registered if new). Reads
        before the kind is resolved and started raise :class:`CacheNotStartedError`.
        ``metadata_only``: over its metadata-only informer (PartialObjectMetadata,
        or whole objects when it shares a full informer; see the module docs)."""
        entry = self.register(kind, scope, metadata_only=metadata_only)
        with self._lock:
            self._read_entries.setdefault(id(entry), entry)
        return Lister(cast(Indexer, _PendingIndexer(entry)), resource=entry.requested.plural)

    def read_entries(self) -> list[CacheEntry]:
        """The entries listers read: controllers wait for them to sync too,
        so a reconcile never reads a cache still filling."""
        with self._lock:
            return list(self._read_entries.values())

    def entries(self) -> list[CacheEntry]:
        with self._lock:
            return list(self._entries.values())

    # -- running -------------------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        """Resolve and start every registered kind (in the background)."""
        with self._lock:
            if self._stop is not None:
                return
            self._stop = stop
            entries = list(self._entries.values())
        for entry in entries:
            self._start_entry(entry, stop)

    def wait_ready(self, entry: CacheEntry, stop: threading.Event) -> bool:
        """Wait until ``entry`` has an informer (False if ``stop`` came first)."""
        unregister = on_stop(stop, self._wake)
        try:
            with self._lock:
                while entry.informer is None and not stop.is_set():
                    self._changed.wait()
                return entry.informer is not None
        finally:
            unregister()

    def _wake(self) -> None:
        with self._lock:
            self._changed.notify_all()

    def has_synced(self) -> bool:
        """Every registered kind resolved, started and synced (readiness)."""
        return all(entry.has_synced() for entry in self.entries())

    def wait_for_cache_sync(self, stop: threading.Event) -> bool:
        return wait_for_cache_sync(stop, self.has_synced)

    def shutdown(self, timeout: float | None = None) -> None:
        """Wait for resolvers and informers to end (set the stop event first)."""
        with self._lock:
            self._changed.notify_all()
            threads = list(self._threads)
            factories = list(self._factories.values())
        for thread in threads:
            thread.join(timeout)
        for factory in factories:
            factory.shutdown(timeout)

    # -- internals -------------------------------------------------------------
    def _start_entry(self, entry: CacheEntry, stop: threading.Event) -> None:
        if entry.kind is not None:
            self._start_informer(entry, entry.kind, stop)
            return
        thread = threading.Thread(
            target=self._resolve,
            args=(entry, stop),
            name=f"kubeloop-resolve-{entry.requested.kind or entry.requested.plural}",
            daemon=True,
        )
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _resolve(self, entry: CacheEntry, stop: threading.Event) -> None:
        try:
            kind = self._resolver.resolve(entry.requested, stop.wait)
            if kind is not None:
                self._start_informer(entry, kind, stop)
        except Exception:
            _log.exception("%s: starting its informer failed", entry)
        finally:
            with self._lock:
                self._changed.notify_all()

    def _start_informer(self, entry: CacheEntry, kind: Kind, stop: threading.Event) -> None:
        factory = self._factory(entry.scope, entry.transform)
        metadata_only = entry.metadata_only and not self._has_full_entry(entry, kind)
        if kind.model is not None:
            informer = factory.informer_for(kind.model, metadata_only=metadata_only)
        else:
            resources = self._client.resource(
                kind.api_version,
                kind.plural,
                namespace=entry.scope.namespace,
                namespaced=kind.namespaced,
            )
            informer = factory.informer_for(resources, metadata_only=metadata_only)
        user = entry.transform
        if user is not None and not informer.has_started():
            informer.set_transform(lambda obj: user(strip_managed_fields(obj)))
        factory.start(stop)
        with self._lock:
            entry.kind = kind
            entry.informer = informer
            entry.cached_metadata_only = metadata_only
            self._changed.notify_all()
        shared = " (sharing the full informer)" if entry.metadata_only and not metadata_only else ""
        _log.debug("informer started for %s%s", entry, shared)

    def _has_full_entry(self, entry: CacheEntry, kind: Kind) -> bool:
        """Whether a full entry of ``kind`` in ``entry``'s scope and transform
        is registered, whose informer a metadata-only ``entry`` then shares."""
        with self._lock:
            return any(
                not other.metadata_only
                and other.scope == entry.scope
                and other.transform == entry.transform
                and kind.same_resource(other.kind or other.requested)
                for other in self._entries.values()
            )

    def _factory(self, scope: Scope, transform: Transform | None) -> SharedInformerFactory:
        with self._lock:
            factory = self._factories.get((scope, transform))
            if factory is None:
                factory = self._factories[(scope, transform)] = SharedInformerFactory(
                    self._client,
                    self._resync_period,
                    namespace=scope.namespace,
                    tweak_list_options=_selectors(scope),
                    informer_name=self._informer_name,
                    metrics_provider=self._metrics_provider,
                )
            return factory


def _selectors(scope: Scope) -> Callable[[ListOptions], None] | None:
    if not scope.label_selector and not scope.field_selector:
        return None

    def tweak(options: ListOptions) -> None:
        if scope.label_selector:
            options.label_selector = scope.label_selector
        if scope.field_selector:
            options.field_selector = scope.field_selector

    return tweak
