"""One small HTTP server for Prometheus metrics and the liveness and readiness probes.

::

    server = MetricsServer(":8080")
    server.add_readiness_check("informer-networks", informer.has_synced)
    server.add_liveness_check("leader-election", elector.check)
    server.start()        # binds now: a taken port fails here, not in a thread
    ...
    server.stop()

- ``GET /metrics``: the registry in the Prometheus text format (OpenMetrics
  when the scraper asks for it, gzip when it accepts it); ``name[]=...``
  restricts the output to those families, as in ``prometheus_client``.
- ``GET /healthz`` (and ``/livez``): 200 while the process serves and every
  liveness check passes, else 503.
- ``GET /readyz``: 200 once every readiness check passes (caches synced),
  else 503 naming the failing checks. ``?verbose`` lists every check.

Why the standard library's ``ThreadingHTTPServer`` and not a framework: a
scrape every few seconds and two probes need no more, and it adds no
dependency. Each request gets a daemon thread, so a slow scrape never delays
a probe.

``bind_address`` is ``host:port`` as in Go: ``":8080"`` means every
interface (IPv6 and IPv4 where the host has both), ``"127.0.0.1:0"`` a free
port on loopback (read it back from :attr:`MetricsServer.port`),
``"[::1]:8080"`` an IPv6 literal. controller-runtime's ``"0"`` (metrics off)
is for the caller to handle: do not create the server.
"""

from __future__ import annotations

import gzip
import logging
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector

from kubeloop.metrics.health import Check, HealthChecks

__all__ = ["MetricsServer", "parse_bind_address"]

_log = logging.getLogger(__name__)


def parse_bind_address(address: str) -> tuple[str, int]:
    """``"host:port"`` to ``(host, port)``; an empty host means every interface."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"bind address {address!r} is not host:port (e.g. ':8080')")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"bind address {address!r}: write an IPv6 host in brackets")
    return host, int(port_text)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, owner: MetricsServer) -> None:
        self.owner = owner
        self._dual_stack = host == "" and socket.has_dualstack_ipv6()
        if self._dual_stack:
            host = "::"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        if self._dual_stack:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Not HTTPServer.server_bind: its getfqdn() may wait on reverse DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        owner = self.server.owner
        if url.path == "/metrics":
            self._metrics(owner.registry, params)
        elif url.path in ("/healthz", "/livez"):
            self._checks(owner.liveness, params)
        elif url.path == "/readyz":
            self._checks(owner.readiness, params)
        else:
            self._reply(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _metrics(self, registry: CollectorRegistry, params: dict[str, list[str]]) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        source: Collector = registry
        if "name[]" in params:
            source = registry.restricted_registry(params["name[]"])
        body = encoder(source)
        headers = {}
        if gzip_accepted(self.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._reply(200, body, content_type, headers)

    def _checks(self, checks: HealthChecks, params: dict[str, list[str]]) -> None:
        healthy, report = checks.run(verbose="verbose" in params)
        self._reply(200 if healthy else 503, report.encode(), "text/plain; charset=utf-8")

    def _reply(
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

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` from a background thread."""

    def __init__(self, bind_address: str = ":8080", registry: CollectorRegistry = REGISTRY) -> None:
        self.bind_address = bind_address
        self.host, self._requested_port = parse_bind_address(bind_address)
        self.registry = registry
        self.liveness = HealthChecks("healthz")
        self.readiness = HealthChecks("readyz")
        # Guards _server and _thread (start and stop may race with each other).
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add_readiness_check(self, name: str, check: Check) -> None:
        """``/readyz`` fails until ``check()`` returns True (e.g. ``informer.has_synced``)."""
        self.readiness.add(name, check)

    def add_liveness_check(self, name: str, check: Check) -> None:
        """``/healthz`` fails while ``check()`` returns False (e.g. ``elector.check``)."""
        self.liveness.add(name, check)

    @property
    def port(self) -> int:
        """The bound port (the real one when asked for port 0); the requested one before start."""
        with self._lock:
            if self._server is None:
                return self._requested_port
            return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` to reach the server (loopback for a wildcard bind)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and start serving; raises ``OSError`` if the address is unavailable."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("metrics server already started")
            self._server = _HTTPServer(self.host, self._requested_port, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="kubeloop-metrics-server",
                daemon=True,
            )
            self._thread.start()
        _log.info("serving metrics and health on %s (port %d)", self.bind_address, self.port)

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

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
