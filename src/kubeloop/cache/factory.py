"""SharedInformerFactory: one informer per resource, shared by all controllers.

::

    factory = SharedInformerFactory(client, default_resync=30.0)
    pods = factory.informer_for("v1", "pods")
    nets = factory.lister_for(("example.com/v1", "networks"))
    factory.start(stop)
    factory.wait_for_cache_sync(stop)   # {("v1", "pods"): True, ...}
    ...
    stop.set()
    factory.shutdown()

A resource is named by ``(api_version, plural)`` (the factory then calls
``client.resource(api_version, plural, namespace=...)``), given as a
ready resource client, or as a typed model class (:mod:`kubeloop.typed`),
whose informer caches model instances decoded straight from the wire::

    nets: Lister[Network] = factory.lister_for(Network)

Every informer carries the namespace index, and ``metadata.managedFields``
is stripped before caching unless ``strip_managed_fields=False``.

``metadata_only=True`` makes the resource's metadata-only informer
(client-go's ``metadatainformer``): it lists and watches through the
resource client's ``metadata()`` view and caches
:class:`~kubeloop.typed.PartialObjectMetadata`, names, labels, annotations
and ownerReferences without spec or status, for a fraction of the memory.
It is a second informer beside the full one, with its own watch; each is
made once::

    owned = factory.lister_for("apps/v1", "deployments", metadata_only=True)
    owned.namespaced("prod").get("web").metadata.owner_references
    factory.wait_for_cache_sync(stop)   # {..., ("apps/v1", "deployments", "metadata"): True}

A kind name (``informer_for("apps/v1", "Deployment")``) is looked up in
discovery and means the same informer as its plural. Nothing else asks
discovery at construction: a resource that is not served yet (its CRD is
not installed) still gets its informer, whose LIST fails, is logged and is
retried with backoff until it is served, as client-go's do.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar, overload

from kubeloop.cache.controller import InformerQueueOptions
from kubeloop.cache.index import NAMESPACE_INDEX, meta_namespace_index_func
from kubeloop.cache.informer_metrics import InformerMetricsProvider, InformerNameAndResource
from kubeloop.cache.lister import Lister
from kubeloop.cache.listwatch import ListWatch, ResourceClientLike, TweakListOptionsFunc
from kubeloop.cache.reflector import ReflectorOptions
from kubeloop.cache.shared_informer import SharedIndexInformer
from kubeloop.cache.transforms import strip_managed_fields as _strip_managed_fields
from kubeloop.cache.wait import wait_for_cache_sync
from kubeloop.client import ListOptions, ListPage, WatchStream
from kubeloop.errors import KubeloopError
from kubeloop.typed import PartialObjectMetadata, Resource

_log = logging.getLogger(__name__)

__all__ = ["ClientLike", "InformerKey", "ResourceKey", "SharedInformerFactory"]

#: How the factory names a resource: ``(api_version, plural)``.
ResourceKey = tuple[str, str]
#: How it names an informer: the resource's key, with ``"metadata"``
#: appended for its metadata-only one.
InformerKey = tuple[str, str] | tuple[str, str, Literal["metadata"]]
ResourceRef = ResourceClientLike | tuple[str, str] | str | type[Resource]
R = TypeVar("R", bound=Resource)


class ClientLike(Protocol):
    """The part of :class:`kubeloop.client.Client` the factory uses."""

    def resource(
        self, api_version: str, plural: str, *, namespace: str | None = None
    ) -> ResourceClientLike: ...


class SharedInformerFactory:
    """Creates, starts and waits for shared informers (client-go's factory).

    ``informer_name`` names every informer it makes for metrics (client-go's
    ``WithInformerName``); unnamed, they report none. ``metrics_provider``
    is where named ones report (default: the global provider, see
    :func:`kubeloop.cache.set_informer_metrics_provider`). ``queue_options``
    chooses their queue (default: RealFIFO with batches, as client-go 1.36;
    ``InformerQueueOptions(in_order=False)`` for DeltaFIFO).
    """

    def __init__(
        self,
        client: ClientLike,
        default_resync: float,
        namespace: str | None = None,
        tweak_list_options: TweakListOptionsFunc | None = None,
        *,
        strip_managed_fields: bool = True,
        reflector_options: ReflectorOptions | None = None,
        informer_name: str = "",
        metrics_provider: InformerMetricsProvider | None = None,
        queue_options: InformerQueueOptions | None = None,
    ) -> None:
        self._client = client
        self._informer_name = informer_name
        self._metrics_provider = metrics_provider
        self._queue_options = queue_options
        self._default_resync = default_resync
        self._namespace = namespace
        self._tweak_list_options = tweak_list_options
        self._strip_managed_fields = strip_managed_fields
        self._reflector_options = reflector_options
        # Guards _informers, _models, _started, _threads and _shutting_down.
        self._lock = threading.Lock()
        self._informers: dict[InformerKey, SharedIndexInformer[Any]] = {}
        self._models: dict[InformerKey, type[Any] | None] = {}  # None: dicts
        self._started: set[InformerKey] = set()
        self._threads: list[threading.Thread] = []
        self._shutting_down = False

    @overload
    def informer_for(
        self,
        resource: ResourceRef,
        plural: str | None = None,
        *,
        resync_period: float | None = None,
        metadata_only: Literal[True],
    ) -> SharedIndexInformer[PartialObjectMetadata]: ...

    @overload
    def informer_for(
        self,
        resource: type[R],
        plural: None = None,
        *,
        resync_period: float | None = None,
        metadata_only: Literal[False] = False,
    ) -> SharedIndexInformer[R]: ...

    @overload
    def informer_for(
        self,
        resource: ResourceRef,
        plural: str | None = None,
        *,
        resync_period: float | None = None,
        metadata_only: bool = False,
    ) -> SharedIndexInformer[Any]: ...

    def informer_for(
        self,
        resource: ResourceRef,
        plural: str | None = None,
        *,
        resync_period: float | None = None,
        metadata_only: bool = False,
    ) -> SharedIndexInformer[Any]:
        """The one informer for ``resource``, created on first use.

        ``resource`` is ``(api_version, plural)``, or ``api_version`` with
        ``plural`` given separately, or a resource client. ``metadata_only``:
        the resource's metadata-only informer instead (see the module docs).
        """
        key, resource_client = self._resolve(resource, plural)
        ikey: InformerKey = (*key, "metadata") if metadata_only else key
        model: type[Any] | None = resource if isinstance(resource, type) else None
        if metadata_only:
            model = PartialObjectMetadata
        with self._lock:
            informer = self._informers.get(ikey)
            if informer is not None:
                if self._models.get(ikey) is not model and resource_client is None:
                    # One cache per resource: its objects are dicts or models, not both.
                    raise TypeError(f"{key}: the informer caches {self._models.get(ikey)}")
                return informer
            if resource_client is None and isinstance(resource, type):
                # client.resource(Model) is the typed client (see kubeloop.client).
                make: Any = self._client.resource
                resource_client = make(resource, namespace=self._namespace)
                if metadata_only:
                    resource_client = _metadata_view(resource_client, "")
            elif resource_client is None:
                resource_client = self._resource_client(key, metadata_only)
            elif metadata_only:
                resource_client = _metadata_view(resource_client, self._kind(key))
            informer = self._new_informer(ikey, resource_client, resync_period)
            self._informers[ikey] = informer
            self._models[ikey] = model
            return informer

    def _new_informer(
        self, ikey: InformerKey, resource_client: ResourceClientLike, resync: float | None
    ) -> SharedIndexInformer[Any]:
        api_version, plural = ikey[0], ikey[1]
        metadata_only = len(ikey) == 3
        options = self._reflector_options or ReflectorOptions()
        if options.name == ReflectorOptions.name:
            # Name the reflector after its resource, as client-go does, so
            # its log lines say what failed to list.
            view = " (metadata)" if metadata_only else ""
            options = dataclasses.replace(options, name=f"{api_version}, Resource={plural}{view}")
        name = self._informer_name
        if name and metadata_only:  # its own metric series, beside the full informer's
            name = f"{name}-metadata"
        informer: SharedIndexInformer[Any] = SharedIndexInformer(
            ListWatch.from_client(resource_client, tweak_list_options=self._tweak_list_options),
            self._default_resync if resync is None else resync,
            {NAMESPACE_INDEX: meta_namespace_index_func},
            reflector_options=options,
            identifier=InformerNameAndResource.from_api_version(name, api_version, plural),
            metrics_provider=self._metrics_provider,
            queue_options=self._queue_options,
        )
        if self._strip_managed_fields:
            informer.set_transform(_strip_managed_fields)
        return informer

    @overload
    def lister_for(
        self, resource: ResourceRef, plural: str | None = None, *, metadata_only: Literal[True]
    ) -> Lister[PartialObjectMetadata]: ...

    @overload
    def lister_for(
        self, resource: type[R], plural: None = None, *, metadata_only: Literal[False] = False
    ) -> Lister[R]: ...

    @overload
    def lister_for(
        self, resource: ResourceRef, plural: str | None = None, *, metadata_only: bool = False
    ) -> Lister[Any]: ...

    def lister_for(
        self, resource: ResourceRef, plural: str | None = None, *, metadata_only: bool = False
    ) -> Lister[Any]:
        """A lister over :meth:`informer_for`'s cache (same arguments)."""
        key, _ = self._resolve(resource, plural)
        informer = self.informer_for(resource, plural, metadata_only=metadata_only)
        return Lister(informer.get_indexer(), resource=key[1])

    def start(self, stop: threading.Event) -> None:
        """Run every informer not started yet, each in its own thread."""
        with self._lock:
            if self._shutting_down:
                return
            for key, informer in self._informers.items():
                if key in self._started:
                    continue
                thread = threading.Thread(
                    target=informer.run,
                    args=(stop,),
                    name=f"kubeloop-informer-{'/'.join(key)}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
                self._started.add(key)

    def wait_for_cache_sync(self, stop: threading.Event) -> dict[InformerKey, bool]:
        """Wait for every started informer; ``resource -> synced``."""
        with self._lock:
            informers = {k: i for k, i in self._informers.items() if k in self._started}
        return {key: wait_for_cache_sync(stop, i.has_synced) for key, i in informers.items()}

    def shutdown(self, timeout: float | None = None) -> None:
        """Wait for the informers to end (set their stop event first); later
        ``start`` calls do nothing."""
        with self._lock:
            self._shutting_down = True
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _resource_client(self, key: ResourceKey, metadata_only: bool) -> ResourceClientLike:
        """The client for ``key`` (its metadata view, if asked); if making it
        needs discovery that fails now, one that is made on the reflector's
        first LIST, so the failure is retried there with backoff instead of
        raised here."""

        def make() -> ResourceClientLike:
            made = self._client.resource(key[0], key[1], namespace=self._namespace)
            return _metadata_view(made, self._kind(key)) if metadata_only else made

        try:
            return make()
        except KubeloopError as err:
            _log.warning(
                "%s, Resource=%s is not served yet (%s): its informer lists and retries",
                *key,
                err,
            )
            return _DeferredResourceClient(make, self._namespace)

    def _kind(self, key: ResourceKey) -> str:
        """The resource's kind from discovery, for its metadata-only objects
        to say (``""`` if discovery cannot tell now: they say
        PartialObjectMetadata)."""
        lookup = getattr(self._client, "resource_for", None)
        if lookup is None:
            return ""
        try:
            return str(lookup(*key).kind)
        except KubeloopError:
            return ""

    def _canonical(self, api_version: str, name: str) -> ResourceKey:
        """``(api_version, plural)``: a kind name becomes its plural through
        discovery when the kind is served (else it stays, until it is)."""
        lookup = getattr(self._client, "resource_for", None)
        if not name[:1].isupper() or lookup is None:
            return api_version, name
        try:
            return api_version, str(lookup(api_version, name).name)
        except KubeloopError:
            return api_version, name

    def _resolve(
        self, resource: ResourceRef, plural: str | None
    ) -> tuple[ResourceKey, ResourceClientLike | None]:
        if isinstance(resource, str):
            if plural is None:
                raise TypeError("informer_for(api_version, plural): plural is missing")
            return self._canonical(resource, plural), None
        if isinstance(resource, tuple):
            api_version, name = resource
            return self._canonical(api_version, name), None
        if isinstance(resource, type) and issubclass(resource, Resource):
            return (resource.API_VERSION, resource.PLURAL), None
        version = getattr(resource, "api_version", None)
        plural_attr = getattr(resource, "plural", None) or getattr(resource, "resource", None)
        if isinstance(version, str) and isinstance(plural_attr, str):
            return (version, plural_attr), resource
        return ("", f"{type(resource).__name__}@{id(resource):x}"), resource


def _metadata_view(resource_client: Any, kind: str) -> ResourceClientLike:
    """``resource_client.metadata(kind)``: the same resource, metadata only."""
    metadata = getattr(resource_client, "metadata", None)
    if not callable(metadata):
        raise TypeError(f"{resource_client!r} has no metadata(): it cannot read metadata only")
    view: ResourceClientLike = metadata(kind)
    return view


class _DeferredResourceClient:
    """A resource client made on first use, for a resource whose client
    could not be made yet (discovery failed: not served, or unreachable)."""

    def __init__(self, make: Callable[[], ResourceClientLike], namespace: str | None) -> None:
        self._make = make
        self.namespace = namespace
        # Guards _made (the reflector lists and watches from one thread, but
        # nothing promises that).
        self._lock = threading.Lock()
        self._made: ResourceClientLike | None = None

    def _get(self) -> ResourceClientLike:
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made

    def list_page(self, options: ListOptions) -> ListPage[Any]:
        return self._get().list_page(options)

    def watch(self, options: ListOptions) -> WatchStream[Any]:
        return self._get().watch(options)
