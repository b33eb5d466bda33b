"""The transport seam: the one interface the client uses to exchange HTTP
messages, and how it is built for a :class:`Config` (TLS, keepalive, proxy).

Everything above this module (retries, throttling, auth, error mapping,
watches) speaks :class:`Transport` and :class:`Response` only, so the HTTP
library under it can be measured and replaced without touching them. The
library chosen, by the measurements in docs/benchmarks.md ("HTTP transport"),
is urllib3 2.x (:mod:`kubeloop.client._urllib3`): HTTP/1.1 over pooled
keep-alive connections, driven from the calling thread. Against httpx (the
previous transport: an asyncio loop thread, HTTP/2) it costs a fraction of
the CPU per request, and a blocked read can be ended from another thread
(:meth:`Response.abort`), which is all a watch needs to be stoppable.

There is no HTTP/2 left, so there are no pings to send: a connection that
goes silent is found by read timeouts instead. Every read of an ordinary
request waits at most ``Config.timeout`` and the whole exchange at most
:func:`~kubeloop.client._rest.attempt_deadline`; a watch's reads wait at
most ``Config.watch_idle_timeout`` (75 s; the server sends a bookmark about
every minute), after which the watch ends with an error and is resumed from
its last resourceVersion by the reflector.

::

    transport = Urllib3Transport(config, build_ssl_context(config))
    response = transport.send("GET", "/version", {"Accept": "application/json"}, None,
                              connect_timeout=5, read_timeout=30, deadline=60)
    print(response.status, response.read())
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Protocol

from kubeloop import __version__

USER_AGENT = f"kubeloop/{__version__}"

#: TCP keepalive: a peer that is gone (a crashed node) breaks an idle
#: connection within about a minute instead of leaving it open for hours.
KEEPALIVE: list[tuple[int, int, int]] = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
for _name, _value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
    if hasattr(socket, _name):
        KEEPALIVE.append((socket.IPPROTO_TCP, getattr(socket, _name), _value))


class ConnectFailure(Exception):
    """No connection could be opened (refused, unreachable, TLS handshake
    failed): the request was not sent, so any verb may be retried.
    ``certificate`` is True when the server's certificate did not verify,
    which no retry can fix."""

    def __init__(self, message: str, *, certificate: bool = False) -> None:
        super().__init__(message)
        self.certificate = certificate


class ExchangeFailure(Exception):
    """The exchange failed after the request may have been sent: the
    connection broke, or no byte arrived within the read timeout
    (``timed_out``), or the whole exchange outlived its deadline."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Response(Protocol):
    """One HTTP response whose body has not been read yet."""

    @property
    def status(self) -> int: ...

    def header(self, name: str) -> str | None:
        """A response header by case-insensitive name, or None."""
        ...

    def read(self) -> bytes:
        """The whole body (decompressed); raises :class:`ExchangeFailure`.
        The connection goes back to the pool."""
        ...

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives, one chunk per read; raises
        :class:`ExchangeFailure` (``timed_out`` when no byte arrived within
        the read timeout)."""
        ...

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to
        its end, else closed."""
        ...

    def abort(self) -> None:
        """From any thread: end a read blocked in :meth:`chunks` at once and
        close the connection."""
        ...


class Transport(Protocol):
    """Sends requests to one API server over pooled connections; safe to use
    from many threads at once."""

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
    ) -> Response:
        """Send ``method target`` (a path with its query string) and return
        once the response headers are in. ``deadline`` (seconds) bounds the
        whole exchange of a non-streaming request, including reading its
        body with :meth:`Response.read`. Raises :class:`ConnectFailure` or
        :class:`ExchangeFailure`."""
        ...

    def close(self) -> None:
        """Close the idle connections; later sends fail."""
        ...


class AsyncResponse(Protocol):
    """The async twin of :class:`Response`, for an event loop."""

    @property
    def status(self) -> int: ...

    def header(self, name: str) -> str | None: ...

    async def read(self) -> bytes:
        """The whole body (decompressed); raises :class:`ExchangeFailure`."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises :class:`ExchangeFailure`
        (``timed_out`` when no byte arrived within the read timeout)."""
        ...

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to
        its end, else closed at once (a cancelled watch's)."""
        ...


class AsyncTransport(Protocol):
    """The async twin of :class:`Transport`: used from one event loop.
    Cancelling the task awaiting :meth:`send` or a read cancels that request
    and closes its connection."""

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
    ) -> AsyncResponse: ...

    async def aclose(self) -> None:
        """Close every connection; later sends fail."""
        ...
