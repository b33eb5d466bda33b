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
from typing import Any, Protocol, TypeVar, overload

from kubeloop.cache.index import NAMESPACE_INDEX, meta_namespace_index_func
from kubeloop.cache.informer_metrics import InformerNameAndResource
from kubeloop.cache.lister import Lister
from kubeloop.cache.listwatch import ListWatch, ResourceClientLike, TweakListOptionsFunc
from kubeloop.cache.reflector import ReflectorOptions
from kubeloop.cache.shared_informer import SharedIndexInformer
from kubeloop.cache.transforms import strip_managed_fields as _strip_managed_fields
from kubeloop.cache.wait import wait_for_cache_sync
from kubeloop.client import ListOptions, ListPage, WatchStream
from kubeloop.errors import KubeloopError
from kubeloop.typed import Resource

_log = logging.getLogger(__name__)

__all__ = ["ClientLike", "ResourceKey", "SharedInformerFactory"]

#: How the factory names a resource: ``(api_version, plural)``.
ResourceKey = tuple[str, str]
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
    ``WithInformerName``); unnamed, they report none.
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
    ) -> None:
        self._client = client
        self._informer_name = informer_name
        self._default_resync = default_resync
        self._namespace = namespace
        self._tweak_list_options = tweak_list_options
        self._strip_managed_fields = strip_managed_fields
        self._reflector_options = reflector_options
        # Guards _informers, _models, _started, _threads and _shutting_down.
        self._lock = threading.Lock()
        self._informers: dict[ResourceKey, SharedIndexInformer] = {}
        self._models: dict[ResourceKey, type[Resource] | None] = {}  # None: dicts
        self._started: set[ResourceKey] = set()
        self._threads: list[threading.Thread] = []
        self._shutting_down = False

    def informer_for(
        self,
        resource: ResourceRef,
        plural: str | None = None,
        *,
        resync_period: float | None = None,
    ) -> SharedIndexInformer:
        """The one informer for ``resource``, created on first use.

        ``resource`` is ``(api_version, plural)``, or ``api_version`` with
        ``plural`` given separately, or a resource client.
        """
        key, resource_client = self._resolve(resource, plural)
        model = resource if isinstance(resource, type) else None
        with self._lock:
            informer = self._informers.get(key)
            if informer is not None:
                if self._models.get(key) is not model and resource_client is None:
                    # One cache per resource: its objects are dicts or models, not both.
                    raise TypeError(f"{key}: the informer caches {self._models.get(key)}")
                return informer
            if resource_client is None and isinstance(resource, type):
                # client.resource(Model) is the typed client (see kubeloop.client).
                make: Any = self._client.resource
                resource_client = make(resource, namespace=self._namespace)
            if resource_client is None:
                resource_client = self._resource_client(key)
            options = self._reflector_options or ReflectorOptions()
            if options.name == ReflectorOptions.name:
                # Name the reflector after its resource, as client-go does, so
                # its log lines say what failed to list.
                options = dataclasses.replace(options, name=f"{key[0]}, Resource={key[1]}")
            informer = SharedIndexInformer(
                ListWatch.from_client(resource_client, tweak_list_options=self._tweak_list_options),
                self._default_resync if resync_period is None else resync_period,
                {NAMESPACE_INDEX: meta_namespace_index_func},
                reflector_options=options,
                identifier=InformerNameAndResource.from_api_version(
                    self._informer_name, key[0], key[1]
                ),
            )
            if self._strip_managed_fields:
                informer.set_transform(_strip_managed_fields)
            self._informers[key] = informer
            self._models[key] = model
            return informer

    @overload
    def lister_for(self, resource: type[R], plural: None = None) -> Lister[R]: ...

    @overload
    def lister_for(self, resource: ResourceRef, plural: str | None = None) -> Lister[Any]: ...

    def lister_for(self, resource: ResourceRef, plural: str | None = None) -> Lister[Any]:
        key, _ = self._resolve(resource, plural)
        return Lister(self.informer_for(resource, plural).get_indexer(), resource=key[1])

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
                    name=f"kubeloop-informer-{key[0]}/{key[1]}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
                self._started.add(key)

    def wait_for_cache_sync(self, stop: threading.Event) -> dict[ResourceKey, bool]:
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

    def _resource_client(self, key: ResourceKey) -> ResourceClientLike:
        """The client for ``key``; if making it needs discovery that fails
        now, one that is made on the reflector's first LIST, so the failure
        is retried there with backoff instead of raised here."""
        try:
            return self._client.resource(key[0], key[1], namespace=self._namespace)
        except KubeloopError as err:
            _log.warning(
                "%s, Resource=%s is not served yet (%s): its informer lists and retries",
                *key,
                err,
            )
            return _DeferredResourceClient(self._client, key, self._namespace)

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


class _DeferredResourceClient:
    """A resource client made on first use, for a resource whose client
    could not be made yet (discovery failed: not served, or unreachable)."""

    def __init__(self, client: ClientLike, key: ResourceKey, namespace: str | None) -> None:
        self._client = client
        self._key = key
        self.namespace = namespace
        # Guards _made (the reflector lists and watches from one thread, but
        # nothing promises that).
        self._lock = threading.Lock()
        self._made: ResourceClientLike | None = None

    def _get(self) -> ResourceClientLike:
        with self._lock:
            if self._made is None:
                self._made = self._client.resource(*self._key, namespace=self.namespace)
            return self._made

    def list_page(self, options: ListOptions) -> ListPage:
        return self._get().list_page(options)

    def watch(self, options: ListOptions) -> WatchStream:
        return self._get().watch(options)
