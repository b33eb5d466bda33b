"""The :class:`~kubeloop.client._transport.Transport` on urllib3 2.x.

Why urllib3: measured against httpx (HTTP/1.1 and HTTP/2, sync and async),
aiohttp and pyreqwest (docs/benchmarks.md, "HTTP transport"), it is the
cheapest well-kept library that the sync client can drive from the calling
thread, with no event loop to hand each request to, and its responses can be
shut down from another thread (``HTTPResponse.shutdown``), which is how a
watch blocked in a read is stopped. One connection pool per client,
``maxsize`` keep-alive connections, more opened (and closed after use) when
more threads send at once; ``retries=False`` because the retry rules are
client-go's, in :mod:`kubeloop.client._rest`.

::

    transport = Urllib3Transport(config, build_ssl_context(config))
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import queue
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import urllib3
import urllib3.exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import parse_url

from kubeloop.client._chunked import ChunkedError, Dechunker
from kubeloop.client._config import Config
from kubeloop.client._transport import KEEPALIVE, ConnectFailure, ExchangeFailure
from kubeloop.errors import ConfigError

#: Keep-alive connections kept per client: more than enough for the
#: workers of a controller; a burst beyond it opens extra ones.
POOL_SIZE = 32
#: Bytes asked of each read: a read returns as soon as any are in.
READ_SIZE = 256 * 1024
#: The same for a chunked stream read straight from its socket, which
#: allocates that much for every read: a watch event is a few KiB, and a
#: buffer above glibc's mmap threshold (128 KiB) cost an mmap, a munmap and
#: page faults per event (the library peer's S2 system time rose by 20 us).
STREAM_READ_SIZE = 32 * 1024


class _NotConnected(OSError):
    """Raised from a connection's ``connect()`` (TCP, proxy tunnel, TLS
    handshake): nothing was sent yet. urllib3 reports a failed handshake as
    the same SSLError as a TLS failure in the middle of an exchange; this
    marker, found in the error's chain, tells the two apart."""


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        try:
            super().connect()
        except Exception as err:
            raise _NotConnected(str(err)) from err


class _HTTPSConnection(_HTTPConnection, HTTPSConnection):
    """The same marker for TLS: ``super().connect()`` above resolves to
    HTTPSConnection's (TCP, tunnel and handshake)."""


def _chain(err: BaseException) -> Iterator[BaseException]:
    """``err``, its causes and the exceptions urllib3 wrapped in its args."""
    seen: set[int] = set()
    todo = [err]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None)


def _failure(err: Exception, what: str) -> Exception:
    """Map a urllib3 error to the seam's two kinds."""
    not_connected = next((e for e in _chain(err) if isinstance(e, _NotConnected)), None)
    if not_connected is not None:
        cause = not_connected.__cause__ or not_connected
        certificate = "CERTIFICATE_VERIFY_FAILED" in str(cause)
        return ConnectFailure(f"{what}: {cause}", certificate=certificate)
    if isinstance(err, u3.ReadTimeoutError | TimeoutError):  # TimeoutError: a socket's own
        return ExchangeFailure(f"{what}: no response within the read timeout", timed_out=True)
    if isinstance(err, u3.ConnectTimeoutError | u3.ProxyError):
        # NewConnectionError and NameResolutionError are ConnectTimeoutErrors.
        return ConnectFailure(f"{what}: {err}")
    if isinstance(err, u3.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(err):
            return ConnectFailure(f"{what}: {err}", certificate=True)
        return ExchangeFailure(f"{what}: TLS failed: {err}")
    if isinstance(err, u3.ClosedPoolError):
        return ConnectFailure(f"{what}: the transport is closed")
    return ExchangeFailure(f"{what}: {err!r}")


def _raw_chunked_stream(raw: urllib3.BaseHTTPResponse) -> io.BufferedReader | None:
    """The buffered socket of a chunked, uncompressed response of which
    nothing was read yet, to undo the chunking without http.client's and
    urllib3's layers of calls per chunk; None when the response is not
    such (then it is read through urllib3)."""
    fp = getattr(raw, "_fp", None)
    if (
        not isinstance(fp, http.client.HTTPResponse)
        or not fp.chunked
        or fp.chunk_left is not None  # http.client has begun reading it
        or raw.headers.get("Content-Encoding", "identity").lower() != "identity"
        or len(getattr(raw, "_decoded_buffer", ())) != 0  # urllib3 has begun
    ):
        return None
    return fp.fp


def _dechunked(stream: io.BufferedReader) -> Callable[[], bytes]:
    """A read of the body of a chunked response straight from its buffered
    socket: the payload of what one read brings, b"" after the last chunk
    (see kubeloop.client._chunked)."""
    dechunk = Dechunker()

    def read() -> bytes:
        while not dechunk.done:
            data = stream.read1(STREAM_READ_SIZE)
            if not data:
                raise ChunkedError("the connection closed before the last chunk")
            part = dechunk.feed(data)
            if part:
                return part
        return b""

    return read


class Urllib3Response:
    """A :class:`~kubeloop.client._transport.Response` over urllib3's."""

    __slots__ = ("_deadline", "_failed", "_on_close", "_raw", "_what")

    def __init__(
        self,
        raw: urllib3.BaseHTTPResponse,
        what: str,
        deadline: float | None,
        failed: Callable[[Exception, str], Exception],
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._raw = raw
        self._what = what
        self._deadline = deadline  # monotonic time, or None
        self._failed = failed  # maps a urllib3 error to the seam's
        self._on_close = on_close

    @property
    def status(self) -> int:
        return self._raw.status

    def header(self, name: str) -> str | None:
        value: str | None = self._raw.headers.get(name)
        return value

    def read(self) -> bytes:
        raw = self._raw
        deadline = self._deadline
        try:
            if deadline is None:
                return raw.read()
            parts = []
            while True:
                part = raw.read1(READ_SIZE)
                if not part:
                    break
                parts.append(part)
                if time.monotonic() > deadline:
                    raw.close()
                    raise ExchangeFailure(
                        f"{self._what}: the response body outlived the request's deadline",
                        timed_out=True,
                    )
            return parts[0] if len(parts) == 1 else b"".join(parts)
        except (u3.HTTPError, http.client.HTTPException, OSError) as err:
            raw.close()
            raise self._failed(err, self._what) from err
        finally:
            raw.release_conn()

    def chunks(self) -> Iterator[bytes]:
        raw = self._raw
        stream = _raw_chunked_stream(raw)
        read = functools.partial(raw.read1, READ_SIZE) if stream is None else _dechunked(stream)
        try:
            while part := read():
                yield part
        except (u3.HTTPError, http.client.HTTPException, OSError, ValueError) as err:
            # ValueError: a read on a file closed by abort() in between, or a
            # ChunkedError; a socket's TimeoutError is an OSError.
            raw.close()
            raise self._failed(err, self._what) from err

    def close(self) -> None:
        raw = self._raw
        if not raw.closed:
            raw.close()
        raw.release_conn()
        if self._on_close is not None:
            self._on_close()

    def abort(self) -> None:
        # Released already, or never connected: then nothing is blocked.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            self._raw.shutdown()


class Urllib3Transport:
    """Two urllib3 connection pools to ``config.host`` (through
    ``config.proxy_url`` if set): keep-alive connections for requests, and
    a fresh connection for each watch, closed when it ends, so that a watch
    reopened after its connection went silent never lands on another
    connection of the same dead path.

    When an exchange times out (the path may have gone silent, as when a NAT
    drops its flows), the idle request connections are closed too, as
    client-go closes its one HTTP/2 connection when a ping goes unanswered:
    the next request opens a new one instead of waiting out a read timeout
    on each of them.
    """

    def __init__(self, config: Config, ssl_context: ssl.SSLContext | None) -> None:
        url = parse_url(config.host)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"{config.source or 'config'}: invalid server URL {config.host!r}")
        self._prefix = (url.path or "").rstrip("/")
        self._host = config.host.rstrip("/")
        kwargs: dict[str, Any] = {
            "maxsize": POOL_SIZE,
            "block": False,
            "retries": False,
            # urllib3's defaults (TCP_NODELAY: a body sent after its headers
            # must not wait for an ACK) plus keepalive.
            "socket_options": [*HTTPConnection.default_socket_options, *KEEPALIVE],
        }
        if url.scheme == "https":
            kwargs["ssl_context"] = ssl_context
            if config.tls_server_name:
                kwargs["server_hostname"] = config.tls_server_name
        self._managers: list[urllib3.PoolManager] = []
        # An http:// server behind an HTTP proxy is asked in absolute form
        # (GET http://server/path) through the manager; an https:// one
        # through a CONNECT tunnel, which its pool opens.
        self._forward: urllib3.PoolManager | None = None
        self._pool = self._new_pool(config, kwargs)
        self._watch_pool = self._new_pool(config, kwargs)

    def _new_pool(self, config: Config, kwargs: dict[str, Any]) -> urllib3.HTTPConnectionPool:
        url = parse_url(config.host)
        if config.proxy_url:
            manager = _proxy_manager(config, kwargs)
            self._managers.append(manager)
            pool = manager.connection_from_url(config.host)
            if url.scheme == "http" and isinstance(manager, urllib3.ProxyManager):
                self._forward = manager
        else:
            port = url.port or (443 if url.scheme == "https" else 80)
            https = url.scheme == "https"
            cls = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
            pool = cls(url.host or "", port, **kwargs)
        if pool.ConnectionCls in (HTTPConnection, HTTPSConnection):  # not SOCKS
            https = issubclass(pool.ConnectionCls, HTTPSConnection)
            pool.ConnectionCls = _HTTPSConnection if https else _HTTPConnection
        return pool

    def send(
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
    ) -> Urllib3Response:
        what = f"{method} {self._host}{target}"
        ends = None
        if deadline is not None and not stream:
            ends = time.monotonic() + deadline
            read_timeout = deadline if read_timeout is None else min(read_timeout, deadline)
        all_headers = dict(headers)
        if stream:
            # A watch's connection is its own: the server closes it when the
            # stream ends, so the next watch never inherits it.
            all_headers["Connection"] = "close"
        options: dict[str, Any] = {
            "body": body,
            "headers": all_headers,
            "timeout": urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            "retries": False,
            "redirect": False,
            "preload_content": False,
            "decode_content": True,
        }
        try:
            if self._forward is not None:
                raw = self._forward.urlopen(method, self._host + target, **options)
            else:
                pool = self._watch_pool if stream else self._pool
                raw = pool.urlopen(method, self._prefix + target, assert_same_host=False, **options)
        except (u3.HTTPError, http.client.HTTPException, OSError) as err:
            raise self._failed(err, what) from err
        on_close = (lambda: _close_idle(self._watch_pool)) if stream else None
        return Urllib3Response(raw, what, ends, self._failed, on_close=on_close)

    def _failed(self, err: Exception, what: str) -> Exception:
        failure = _failure(err, what)
        if isinstance(failure, ExchangeFailure) and failure.timed_out:
            _close_idle(self._pool)
        return failure

    def close(self) -> None:
        for manager in self._managers:
            manager.clear()
        self._pool.close()
        self._watch_pool.close()


def _close_idle(pool: urllib3.HTTPConnectionPool) -> None:
    """Close ``pool``'s idle connections (leaving its size as it is): those
    in use finish or time out on their own."""
    idle = pool.pool
    if idle is None:
        return
    taken = []
    while True:
        try:
            taken.append(idle.get(block=False))
        except queue.Empty:
            break
    for conn in taken:
        if conn is not None:
            conn.close()
        idle.put(None)  # an empty slot: the next get opens a connection


def _proxy_manager(config: Config, kwargs: dict[str, Any]) -> urllib3.PoolManager:
    """A pool manager through ``config.proxy_url`` (http, https or socks5)."""
    proxy = config.proxy_url or ""
    options = dict(kwargs)
    options["num_pools"] = 1
    if proxy.startswith(("socks5://", "socks5h://", "socks4://", "socks4a://")):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError as err:
            raise ConfigError(
                f"{config.source or 'config'}: proxy-url {proxy} is a SOCKS proxy, which "
                "needs PySocks: pip install 'kubeloop[socks]'"
            ) from err
        return SOCKSProxyManager(proxy, **options)
    if not proxy.startswith(("http://", "https://")):
        raise ConfigError(
            f"{config.source or 'config'}: proxy-url {proxy!r} must be http, https or socks5"
        )
    return urllib3.ProxyManager(proxy, **options)
