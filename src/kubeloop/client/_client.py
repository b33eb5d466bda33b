"""The synchronous client: requests, discovery, and resource clients.

Example::

    from kubeloop.client import Client, load_config
    with Client(load_config()) as client:
        deployments = client.resource("apps/v1", "deployments", namespace="default")
        for page in deployments.list(limit=500):
            print(len(page.items), page.resource_version)
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable
from typing import Any, overload

from kubeloop.client._auth import build_auth
from kubeloop.client._codec import decode_json, encode_json
from kubeloop.client._codecs import DICT_CODEC, ModelCodec
from kubeloop.client._config import Config
from kubeloop.client._discovery import APIResource, find_resource, not_served, parse_resources
from kubeloop.client._pages import group_version_path
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
from kubeloop.client._resource import ResourceClient
from kubeloop.client._rest import Rest
from kubeloop.client._tls import build_ssl_context
from kubeloop.client._transport import Transport
from kubeloop.client._urllib3 import Urllib3Transport
from kubeloop.client._watch import Watch, watch_idle_timeout
from kubeloop.client.types import Object
from kubeloop.errors import TransportError
from kubeloop.typed import Resource, ResourceT


def checked_model(model: type[ResourceT]) -> type[ResourceT]:
    """``model`` if it is a :class:`kubeloop.typed.Resource`, else TypeError."""
    if not issubclass(model, Resource):
        raise TypeError(f"{model.__name__} is not a kubeloop.typed.Resource")
    return model


class Client:
    """A client for one API server; thread-safe; close it (or use ``with``).

    Requests and watches go over a pool of keep-alive HTTP/1.1 connections
    (see :mod:`kubeloop.client._transport` for why), each driven by the
    calling thread.

    ``rate_limit_per_group``: one ``qps``/``burst`` budget per API group
    instead of one for the client, as client-go's typed clients have.
    A call after :meth:`close` raises :class:`~kubeloop.errors.TransportError`.
    """

    def __init__(self, config: Config | None = None, *, rate_limit_per_group: bool = False) -> None:
        if config is None:
            from kubeloop.client._loader import load_config

            config = load_config()
        self.config = config
        ctx = build_ssl_context(config) if config.host.startswith("https") else None
        self._transport: Transport = Urllib3Transport(config, ctx)
        # Set by close(): every later call, retry wait and throttle wait ends.
        self._closed = threading.Event()
        limiter: TokenBucket | PerGroupTokenBuckets = (
            PerGroupTokenBuckets(config.qps, config.burst)
            if rate_limit_per_group
            else TokenBucket(config.qps, config.burst)
        )
        self._rest = Rest(
            config, self._transport, auth=build_auth(config), limiter=limiter, stop=self._closed
        )
        # Open watches, stopped by close(); guarded by _watches_lock.
        self._watches_lock = threading.Lock()
        self._watches: weakref.WeakSet[Watch[Any]] = weakref.WeakSet()
        # Guards _discovery: group-version -> resources served there.
        self._discovery_lock = threading.Lock()
        self._discovery: dict[str, list[APIResource]] = {}
        self._owner = True

    def with_rate_limiter(self, qps: float, burst: int) -> Client:
        """A client on this one's connections and discovery cache, with a
        rate limiter of its own: its requests never use this client's
        budget, nor this client's its. An event recorder writes through one,
        so Events never delay a reconcile's writes. Closing this client
        closes it; closing it does nothing.
        """
        view = object.__new__(Client)
        view.config = dataclasses.replace(self.config, qps=qps, burst=burst)
        view._transport = self._transport
        view._closed = self._closed
        view._rest = Rest(
            view.config,
            self._transport,
            auth=self._rest.auth,
            limiter=TokenBucket(qps, burst),
            stop=self._closed,
        )
        view._watches_lock = self._watches_lock
        view._watches = self._watches
        view._discovery_lock = self._discovery_lock
        view._discovery = self._discovery
        view._owner = False
        return view

    # -- raw requests --------------------------------------------------------
    def open_watch(
        self,
        path: str,
        params: dict[str, str],
        model: type[Any] | None = None,
        *,
        accept: str | None = None,
        convert: Callable[[Any, str], Any] | None = None,
    ) -> Watch[Any]:
        """Open a watch on ``path`` (``params`` must hold ``watch=true``) over
        the watch connection; events decode to ``model`` when given, else to
        dicts. ``accept`` replaces the ``Accept`` header (e.g. to ask for
        ``PartialObjectMetadata``). Resource clients call this; most code wants
        ``client.resource(...).watch()``."""
        if self._closed.is_set():
            raise TransportError(f"{self.config.host}: the client is closed")
        watch: Watch[Any] = Watch(
            self._rest,
            path,
            params,
            idle_timeout=watch_idle_timeout(self.config, params),
            model=model,
            headers={"Accept": accept} if accept else None,
            on_stop=self._forget_watch,
            convert=convert,
        )
        with self._watches_lock:
            self._watches.add(watch)
        if self._closed.is_set():  # close() ran while it opened
            watch.stop()
        return watch

    def _forget_watch(self, watch: Watch[Any]) -> None:
        with self._watches_lock:
            self._watches.discard(watch)

    def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        accept: str | None = None,
    ) -> bytes:
        """Send one request; return the body of a 2xx response or raise.
        ``accept`` replaces the ``Accept`` header (default JSON)."""
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else encode_json(body)
        response = self._rest.send(
            method,
            path,
            params=params,
            content=content,
            content_type=content_type if content is not None else None,
            timeout=timeout,
            headers={"Accept": accept} if accept else None,
        )
        return response.read()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """Like :meth:`request_bytes`, decoding the JSON body."""
        data = self.request_bytes(method, path, params=params, body=body, content_type=content_type)
        return decode_json(data, f"{method} {path}") if data else None

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/version")
        return result

    # -- discovery -----------------------------------------------------------
    def server_resources(self, api_version: str, *, refresh: bool = False) -> list[APIResource]:
        """The resources served at a group-version (cached; ``refresh`` to
        re-read, e.g. after a CRD was created)."""
        with self._discovery_lock:
            cached = self._discovery.get(api_version)
        if cached is not None and not refresh:
            return cached
        resources = parse_resources(
            api_version, self.request("GET", group_version_path(api_version))
        )
        with self._discovery_lock:
            self._discovery[api_version] = resources
        return resources

    def resource_for(self, api_version: str, kind_or_plural: str) -> APIResource:
        """Discovery lookup by kind ("Network") or plural ("networks"); a miss
        re-reads discovery once, because CRDs appear at runtime."""
        for refresh in (False, True):
            found = find_resource(
                self.server_resources(api_version, refresh=refresh), kind_or_plural
            )
            if found is not None:
                return found
        raise not_served(api_version, kind_or_plural)

    @overload
    def resource(
        self,
        api_version: str,
        plural_or_kind: str,
        *,
        namespace: str | None = None,
        namespaced: bool | None = None,
    ) -> ResourceClient[Object]: ...

    @overload
    def resource(
        self, api_version: type[ResourceT], *, namespace: str | None = None
    ) -> ResourceClient[ResourceT]: ...

    def resource(
        self,
        api_version: str | type[ResourceT],
        plural_or_kind: str = "",
        *,
        namespace: str | None = None,
        namespaced: bool | None = None,
    ) -> ResourceClient[Object] | ResourceClient[ResourceT]:
        """A :class:`ResourceClient` of dicts for a resource. ``namespace=None``
        means all namespaces for list/watch. Whether the resource is
        namespaced is looked up in discovery unless given.

        Given a model class (``client.resource(Network, namespace=ns)``), a
        ``ResourceClient[Network]`` whose objects are that model; the URL
        comes from the model's ``API_VERSION``, ``PLURAL`` and ``NAMESPACED``.
        """
        if isinstance(api_version, type):
            model = checked_model(api_version)
            return ResourceClient(
                self,
                ModelCodec(model),
                model.API_VERSION,
                model.PLURAL,
                namespace=namespace,
                namespaced=model.NAMESPACED,
            )
        plural = plural_or_kind
        if namespaced is None or plural_or_kind[:1].isupper():
            info = self.resource_for(api_version, plural_or_kind)
            plural, namespaced = info.name, info.namespaced
        return ResourceClient(
            self, DICT_CODEC, api_version, plural, namespace=namespace, namespaced=namespaced
        )

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        """Stop every open watch, end retry and throttle waits, close the
        idle connections. Calls after it raise TransportError."""
        if not self._owner or self._closed.is_set():
            return
        self._closed.set()
        with self._watches_lock:
            watches = list(self._watches)
        for watch in watches:
            watch.stop()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
