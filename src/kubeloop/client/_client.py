"""The synchronous client: requests, discovery, and resource clients.

Example::

    from kubeloop.client import Client, load_config
    with Client(load_config()) as client:
        deployments = client.resource("apps/v1", "deployments", namespace="default")
        for page in deployments.list(limit=500):
            print(len(page.items), page.resource_version)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, overload

import httpx

from kubeloop.client._codec import decode_json, encode_json
from kubeloop.client._config import Config
from kubeloop.client._loop import LoopThread
from kubeloop.client._resource import ResourceClient, group_version_path
from kubeloop.client._rest import AsyncRest
from kubeloop.client._transport import build_async_client, build_ssl_context
from kubeloop.client._typed import TypedResourceClient
from kubeloop.client._watch import Watch
from kubeloop.errors import NotFound
from kubeloop.typed import Resource, ResourceT


@dataclass(frozen=True, slots=True)
class APIResource:
    """One entry of discovery: how a kind is served."""

    api_version: str
    name: str  # the plural, e.g. "networks"
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]


class Client:
    """A client for one API server; thread-safe; close it (or use ``with``).

    Requests share one HTTP/2 connection and each watch has its own
    HTTP/1.1 connection (see :mod:`kubeloop.client._transport` for why), all
    driven by a private event loop thread.
    """

    def __init__(self, config: Config | None = None) -> None:
        if config is None:
            from kubeloop.client._loader import load_config

            config = load_config()
        self.config = config
        self._loop = LoopThread()
        try:
            ctx = build_ssl_context(config)
            http = build_async_client(config, ssl_context=ctx)
            watch_http = build_async_client(config, watch=True, ssl_context=ctx)
        except BaseException:
            self._loop.close()
            raise
        self._rest = AsyncRest(config, http)
        # Watches share the throttle of ordinary requests but not their pool.
        self._watch_rest = AsyncRest(config, watch_http)
        self._watch_rest.limiter = self._rest.limiter
        # Guards _discovery: group-version -> resources served there.
        self._discovery_lock = threading.Lock()
        self._discovery: dict[str, list[APIResource]] = {}

    # -- raw requests --------------------------------------------------------
    def open_watch(
        self, path: str, params: dict[str, str], model: type[Any] | None = None
    ) -> Watch:
        """Open a watch on ``path`` (``params`` must hold ``watch=true``) over
        the watch connection; events decode to ``model`` when given, else to
        dicts. Resource clients call this; most code wants
        ``client.resource(...).watch()``."""
        return Watch(self._loop, self._watch_rest, path, params, self.config.timeout, model=model)

    def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> bytes:
        """Send one request; return the body of a 2xx response or raise."""
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else encode_json(body)
        t = httpx.Timeout(timeout) if timeout is not None else None
        response = self._loop.run(
            self._rest.send(
                method,
                path,
                params=params,
                content=content,
                content_type=content_type if content is not None else None,
                timeout=t,
            )
        )
        return response.content

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
        doc = self.request("GET", group_version_path(api_version))
        resources = [
            APIResource(
                api_version=api_version,
                name=r["name"],
                kind=r["kind"],
                namespaced=bool(r.get("namespaced")),
                verbs=tuple(r.get("verbs") or ()),
            )
            for r in doc.get("resources", [])
            if "/" not in r["name"]  # subresources are reached through their parent
        ]
        with self._discovery_lock:
            self._discovery[api_version] = resources
        return resources

    def resource_for(self, api_version: str, kind_or_plural: str) -> APIResource:
        """Discovery lookup by kind ("Network") or plural ("networks"); a miss
        re-reads discovery once, because CRDs appear at runtime."""
        for refresh in (False, True):
            for r in self.server_resources(api_version, refresh=refresh):
                if kind_or_plural in (r.kind, r.name):
                    return r
        raise NotFound(404, "NotFound", f"{api_version} has no resource {kind_or_plural!r}")

    @overload
    def resource(
        self,
        api_version: str,
        plural_or_kind: str,
        *,
        namespace: str | None = None,
        namespaced: bool | None = None,
    ) -> ResourceClient: ...

    @overload
    def resource(
        self, api_version: type[ResourceT], *, namespace: str | None = None
    ) -> TypedResourceClient[ResourceT]: ...

    def resource(
        self,
        api_version: str | type[ResourceT],
        plural_or_kind: str = "",
        *,
        namespace: str | None = None,
        namespaced: bool | None = None,
    ) -> ResourceClient | TypedResourceClient[ResourceT]:
        """A :class:`ResourceClient` for a resource. ``namespace=None`` means
        all namespaces for list/watch. Whether the resource is namespaced is
        looked up in discovery unless given.

        Given a model class (``client.resource(Network, namespace=ns)``), a
        :class:`TypedResourceClient` whose objects are that model; the URL
        comes from the model's ``API_VERSION``, ``PLURAL`` and ``NAMESPACED``.
        """
        if isinstance(api_version, type):
            if not issubclass(api_version, Resource):
                raise TypeError(f"{api_version.__name__} is not a kubeloop.typed.Resource")
            model = api_version
            raw = ResourceClient(
                self,
                model.API_VERSION,
                model.PLURAL,
                namespace=namespace,
                namespaced=model.NAMESPACED,
            )
            return TypedResourceClient(model, raw)
        plural = plural_or_kind
        if namespaced is None or plural_or_kind[:1].isupper():
            info = self.resource_for(api_version, plural_or_kind)
            plural, namespaced = info.name, info.namespaced
        return ResourceClient(self, api_version, plural, namespace=namespace, namespaced=namespaced)

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self._rest.http.aclose())
            self._loop.run(self._watch_rest.http.aclose())
        finally:
            self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
