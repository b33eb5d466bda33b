"""The small threaded HTTP(S) server under the metrics and the probe servers.

Why the standard library's ``ThreadingHTTPServer`` and not a framework: a
scrape every few seconds and two probes need no more, and it adds no
dependency. Each request gets a daemon thread, so a slow scrape never delays
another request; a TLS handshake runs in that thread too (the listening
socket does not shake hands on accept), so a client that connects and says
nothing holds only its own thread, and only for :data:`REQUEST_TIMEOUT`.

``bind_address`` is ``host:port`` as in Go: ``":8443"`` means every
interface (IPv6 and IPv4 where the host has both), ``"127.0.0.1:0"`` a free
port on loopback (read it back from :attr:`Serving.port`), ``"[::1]:8443"``
an IPv6 literal. controller-runtime's ``"0"`` (off) is for the caller to
handle: do not create the server.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, urlsplit

__all__ = ["Handler", "Serving", "parse_bind_address"]

_log = logging.getLogger("kubeloop.metrics.server")

#: Seconds a connection may take to shake hands and send its request.
REQUEST_TIMEOUT = 10.0


def parse_bind_address(address: str) -> tuple[str, int]:
    """``"host:port"`` to ``(host, port)``; an empty host means every interface."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"bind address {address!r} is not host:port (e.g. ':8443')")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"bind address {address!r}: write an IPv6 host in brackets")
    return host, int(port_text)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, owner: Serving, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self._tls = tls
        self._dual_stack = host == "" and socket.has_dualstack_ipv6()
        if self._dual_stack:
            host = "::"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), Handler)

    def server_bind(self) -> None:
        if self._dual_stack:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Not HTTPServer.server_bind: its getfqdn() may wait on reverse DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        if self._tls is not None:
            # Accepted connections are TLS sockets that shake hands on their
            # first read, in the request's own thread.
            self.socket = self._tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A plain-HTTP client on the TLS port, a scanner, a reset: the
        # client's problem, not a traceback on the controller's stderr.
        _log.debug("request from %s failed", client_address, exc_info=True)


class Handler(BaseHTTPRequestHandler):
    """Hands each GET to its server's :meth:`Serving.handle`."""

    server: _HTTPServer
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        self.server.owner.handle(self, urlsplit(self.path))

    def reply(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_text(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        self.reply(code, text.encode(), "text/plain; charset=utf-8", headers)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: headers (Authorization) are never logged.
        _log.debug("%s %s", self.address_string(), format % args)


class Serving:
    """Binding, the serving thread and stopping; subclasses answer requests."""

    #: The thread's name and what the start log line says is served.
    name = "kubeloop-http"
    what = "HTTP"

    def __init__(self, bind_address: str) -> None:
        self.bind_address = bind_address
        self.host, self._requested_port = parse_bind_address(bind_address)
        # Guards _server and _thread (start and stop may race with each other).
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, request: Handler, url: SplitResult) -> None:
        raise NotImplementedError

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context (None: plain HTTP); built at :meth:`start`."""
        return None

    @property
    def scheme(self) -> str:
        return "http"

    @property
    def port(self) -> int:
        """The bound port (the real one when asked for port 0); the requested one before start."""
        with self._lock:
            if self._server is None:
                return self._requested_port
            return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``scheme://host:port`` to reach the server (loopback for a wildcard bind)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        netloc = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}"

    def start(self) -> None:
        """Bind and start serving; raises ``OSError`` if the address is unavailable."""
        tls = self.tls_context()
        with self._lock:
            if self._server is not None:
                raise RuntimeError(f"{self.what} server already started")
            self._server = _HTTPServer(self.host, self._requested_port, self, tls)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=self.name,
                daemon=True,
            )
            self._thread.start()
        _log.info(
            "serving %s on %s (%s, port %d)", self.what, self.bind_address, self.scheme, self.port
        )

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call more than once."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join()
