"""The :class:`~kubeloop.client._transport.AsyncTransport` on aiohttp.

Why aiohttp: measured beside the sync transports (docs/benchmarks.md, "HTTP
transport"), it is the cheapest async client per request (0.34 ms at 1, 0.18
ms at 16 concurrent) with its C HTTP parser, and cancelling the task that
awaits a request or a read closes that connection, which is how an async
watch is stopped. One session per :class:`~kubeloop.client.AsyncClient`,
made on first use inside the loop that uses it (aiohttp sessions belong to
one loop), pooled keep-alive connections with TCP keepalive, and no retries
or redirects of its own: the rules are client-go's, in
:mod:`kubeloop.client._retry`.

::

    transport = AiohttpTransport(config, lambda: build_ssl_context(config))
    response = await transport.send("GET", "/version", {}, None,
                                    connect_timeout=5, read_timeout=30, deadline=60)
    print(response.status, await response.read())
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kubeloop.client._config import Config
from kubeloop.client._transport import KEEPALIVE, ConnectFailure, ExchangeFailure
from kubeloop.errors import ConfigError

try:
    import aiohttp
except ImportError:  # pragma: no cover - the async extra is not installed
    aiohttp = None

#: Keep-alive connections kept per client (aiohttp opens no more at once).
POOL_SIZE = 100


def _require_aiohttp(config: Config) -> None:
    if aiohttp is None:
        raise ConfigError(
            f"{config.source or 'config'}: AsyncClient needs aiohttp: pip install 'kubeloop[async]'"
        )


def _failure(err: BaseException, what: str) -> Exception:
    """Map an aiohttp error to the seam's two kinds."""
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return ConnectFailure(f"{what}: {err}", certificate=True)
    if isinstance(err, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return ConnectFailure(f"{what}: {err}")
    if isinstance(err, aiohttp.SocketTimeoutError):
        return ExchangeFailure(f"{what}: no bytes within the read timeout", timed_out=True)
    if isinstance(err, TimeoutError):  # the whole exchange's deadline
        return ExchangeFailure(f"{what}: no complete answer within its deadline", timed_out=True)
    return ExchangeFailure(f"{what}: {type(err).__name__}: {err}")


_ERRORS = (aiohttp.ClientError, TimeoutError) if aiohttp is not None else (TimeoutError,)


class AiohttpResponse:
    """An aiohttp response behind the seam's :class:`AsyncResponse`."""

    def __init__(self, response: aiohttp.ClientResponse, what: str) -> None:
        self._response = response
        self._what = what

    @property
    def status(self) -> int:
        code: int = self._response.status
        return code

    def header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    async def read(self) -> bytes:
        try:
            data: bytes = await self._response.read()
            return data
        except _ERRORS as err:
            self._response.close()
            raise _failure(err, self._what) from err
        finally:
            self._response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._response.content.iter_any():
                yield data
        except _ERRORS as err:
            raise _failure(err, self._what) from err

    def close(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport:
    """Requests to one API server over one aiohttp session (see the module
    docstring); used from one event loop.

    ``ssl_context`` makes the TLS context (None: plain HTTP). It is called
    once, in a thread, before the first request: it may run an exec plugin
    for a client certificate, which must not block the loop.
    """

    def __init__(
        self, config: Config, ssl_context: Callable[[], ssl.SSLContext | None] | None
    ) -> None:
        _require_aiohttp(config)
        self._base = config.host.rstrip("/")
        self._make_ssl = ssl_context
        self._ssl: ssl.SSLContext | bool | None = None if ssl_context is not None else False
        self._ssl_lock: asyncio.Lock | None = None
        self._server_hostname = config.tls_server_name or None
        self._proxy = _proxy(config)
        # Requests share keep-alive connections; each watch has a connection
        # of its own, never a pooled one (as the sync transport's watches):
        # a watch does not inherit an idle connection that may have gone
        # stale, and its end closes exactly its own connection.
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._closed = False

    async def _tls(self) -> ssl.SSLContext | bool:
        if self._ssl is None:
            self._ssl_lock = self._ssl_lock or asyncio.Lock()
            async with self._ssl_lock:
                if self._ssl is None and self._make_ssl is not None:
                    made = await asyncio.to_thread(self._make_ssl)
                    self._ssl = made if made is not None else False
        assert self._ssl is not None
        return self._ssl

    async def _session_now(self, stream: bool) -> aiohttp.ClientSession:
        if self._closed:
            raise ConnectFailure(f"{self._base}: the transport is closed")
        session = self._sessions.get(stream)
        if session is None:
            tls = await self._tls()
            if self._closed or stream in self._sessions:  # closed, or made meanwhile
                return await self._session_now(stream)
            connector = aiohttp.TCPConnector(
                limit=0 if stream else POOL_SIZE,
                force_close=stream,
                ssl=tls,
                socket_factory=_keepalive_socket,
            )
            session = self._sessions[stream] = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        return session

    async def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        deadline: float | None,
        stream: bool = False,
    ) -> AiohttpResponse:
        what = f"{method} {self._base}{target.split('?', 1)[0]}"
        session = await self._session_now(stream)
        timeout = aiohttp.ClientTimeout(
            total=None if stream else deadline, sock_connect=connect_timeout, sock_read=read_timeout
        )
        options: dict[str, Any] = {}
        if self._server_hostname:
            options["server_hostname"] = self._server_hostname
        try:
            response = await session.request(
                method,
                self._base + target,
                headers=dict(headers),
                data=body,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy,
                **options,
            )
        except _ERRORS as err:
            raise _failure(err, what) from err
        return AiohttpResponse(response, what)

    async def aclose(self) -> None:
        self._closed = True
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _keepalive_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """A socket with TCP keepalive (see :data:`~kubeloop.client._transport.KEEPALIVE`)."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    for level, option, value in KEEPALIVE:
        sock.setsockopt(level, option, value)
    return sock


def _proxy(config: Config) -> str | None:
    proxy = config.proxy_url or None
    if proxy and not proxy.startswith(("http://", "https://")):
        raise ConfigError(
            f"{config.source or 'config'}: proxy-url {proxy!r}: the AsyncClient supports "
            "http and https proxies only (the sync Client also SOCKS)"
        )
    return proxy
