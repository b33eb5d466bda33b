"""The async client, the twin of :class:`~kubeloop.client.Client`: the same
resources and verbs (dicts and models), the same config, credentials
(exec plugins and token files fetched in a thread), codecs, errors,
throttle and retry rules, over aiohttp (:mod:`kubeloop.client._aiohttp`).

Example::

    from kubeloop.client import AsyncClient, load_config
    async with AsyncClient(load_config()) as client:
        cms = client.resource("v1", "configmaps", namespace="default", namespaced=True)
        cm = await cms.create({"metadata": {"name": "a"}, "data": {"k": "v"}})
        async for page in cms.pages(limit=500):
            print(len(page.items))

Use it from one event loop: its connections belong to the loop of its first
request. Cancelling a task cancels its request and closes that connection;
:meth:`AsyncClient.aclose` stops every open watch and closes the rest.
"""

from __future__ import annotations

from typing import Any, overload

from kubeloop.client._aiohttp import AiohttpTransport
from kubeloop.client._async_resource import AsyncResourceClient
from kubeloop.client._async_rest import AsyncRest
from kubeloop.client._async_watch import AsyncWatch
from kubeloop.client._auth import build_auth
from kubeloop.client._calls import Call
from kubeloop.client._client import checked_model
from kubeloop.client._codec import decode_json, encode_json
from kubeloop.client._codecs import DICT_CODEC, ModelCodec
from kubeloop.client._config import Config
from kubeloop.client._discovery import APIResource, find_resource, not_served, parse_resources
from kubeloop.client._pages import group_version_path
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
from kubeloop.client._tls import build_ssl_context
from kubeloop.client._watch import watch_idle_timeout
from kubeloop.client.types import Object
from kubeloop.errors import TransportError
from kubeloop.typed import ResourceT


class AsyncClient:
    """An async client for one API server (see the module docstring); close
    it with ``await client.aclose()`` or ``async with``.

    ``rate_limit_per_group`` as for :class:`~kubeloop.client.Client`. A call
    after :meth:`aclose` raises :class:`~kubeloop.errors.TransportError`.
    """

    def __init__(self, config: Config | None = None, *, rate_limit_per_group: bool = False) -> None:
        if config is None:
            from kubeloop.client._loader import load_config

            config = load_config()
        self.config = config
        # Made in a thread before the first request: an exec plugin may issue
        # the client certificate, and it must not run on the loop.
        tls = (lambda: build_ssl_context(config)) if config.host.startswith("https") else None
        self._transport = AiohttpTransport(config, tls)
        limiter: TokenBucket | PerGroupTokenBuckets = (
            PerGroupTokenBuckets(config.qps, config.burst)
            if rate_limit_per_group
            else TokenBucket(config.qps, config.burst)
        )
        self._rest = AsyncRest(config, self._transport, auth=build_auth(config), limiter=limiter)
        self._watches: set[AsyncWatch[Any]] = set()  # open ones, stopped by aclose()
        self._discovery: dict[str, list[APIResource]] = {}

    # -- raw requests --------------------------------------------------------
    async def request_bytes(
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
        """Send one request; return the body of a 2xx response or raise."""
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else encode_json(body)
        response = await self._rest.send(
            method,
            path,
            params=params,
            content=content,
            content_type=content_type if content is not None else None,
            timeout=timeout,
            headers={"Accept": accept} if accept else None,
        )
        return await response.read()

    async def send_call(self, call: Call) -> bytes:
        """One request a resource client's verb built."""
        return await self.request_bytes(
            call.method,
            call.path,
            params=call.params,
            body=call.body,
            content_type=call.content_type,
            timeout=call.timeout,
            accept=call.accept,
        )

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        """Like :meth:`request_bytes`, decoding the JSON body."""
        data = await self.request_bytes(method, path, **kw)
        return decode_json(data, f"{method} {path}") if data else None

    async def version(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/version")
        return result

    async def open_watch(
        self,
        path: str,
        params: dict[str, str],
        model: type[Any] | None = None,
        *,
        accept: str | None = None,
        convert: Any = None,
    ) -> AsyncWatch[Any]:
        """Open a watch on ``path`` (``params`` must hold ``watch=true``);
        see :meth:`Client.open_watch <kubeloop.client.Client.open_watch>`."""
        if self._rest.is_closed:
            raise TransportError(f"{self.config.host}: the client is closed")
        idle_timeout = watch_idle_timeout(self.config, params)
        # A gzip-compressed watch is held in the server's compressor (see
        # kubeloop.client._watch): watch uncompressed.
        headers = {"Accept-Encoding": "identity", **({"Accept": accept} if accept else {})}
        response = await self._rest.send(
            "GET", path, params=params, stream=True, read_timeout=idle_timeout, headers=headers
        )
        watch: AsyncWatch[Any] = AsyncWatch(
            response,
            path,
            idle_timeout=idle_timeout,
            model=model,
            convert=convert,
            on_stop=self._watches.discard,
        )
        self._watches.add(watch)
        return watch

    # -- discovery -----------------------------------------------------------
    async def server_resources(
        self, api_version: str, *, refresh: bool = False
    ) -> list[APIResource]:
        """The resources served at a group-version (cached)."""
        cached = self._discovery.get(api_version)
        if cached is not None and not refresh:
            return cached
        doc = await self.request("GET", group_version_path(api_version))
        resources = self._discovery[api_version] = parse_resources(api_version, doc)
        return resources

    async def resource_for(self, api_version: str, kind_or_plural: str) -> APIResource:
        """Discovery lookup by kind or plural; a miss re-reads discovery once."""
        for refresh in (False, True):
            resources = await self.server_resources(api_version, refresh=refresh)
            found = find_resource(resources, kind_or_plural)
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
    ) -> AsyncResourceClient[Object]: ...

    @overload
    def resource(
        self, api_version: type[ResourceT], *, namespace: str | None = None
    ) -> AsyncResourceClient[ResourceT]: ...

    def resource(
        self,
        api_version: str | type[ResourceT],
        plural_or_kind: str = "",
        *,
        namespace: str | None = None,
        namespaced: bool | None = None,
    ) -> AsyncResourceClient[Object] | AsyncResourceClient[ResourceT]:
        """An :class:`AsyncResourceClient`, as :meth:`Client.resource
        <kubeloop.client.Client.resource>` gives; what discovery must say
        (a kind, or ``namespaced`` not given) is looked up on first use."""
        if isinstance(api_version, type):
            model = checked_model(api_version)
            return AsyncResourceClient(
                self,
                ModelCodec(model),
                model.API_VERSION,
                model.PLURAL,
                namespace=namespace,
                namespaced=model.NAMESPACED,
            )
        discover = namespaced is None or plural_or_kind[:1].isupper()
        return AsyncResourceClient(
            self,
            DICT_CODEC,
            api_version,
            plural_or_kind,
            namespace=namespace,
            namespaced=namespaced,
            discover=discover,
        )

    # -- lifecycle -----------------------------------------------------------
    async def aclose(self) -> None:
        """Stop every open watch, end retry and throttle waits, close the
        connections. Calls after it raise TransportError."""
        if self._rest.is_closed:
            return
        self._rest.close()
        for watch in list(self._watches):
            watch.stop()
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
