"""Prometheus metrics over HTTPS, for scrapers the API server says may read them.

::

    server = MetricsServer(":8443", authorizer=DelegatingAuthorizer(client))
    server.start()        # binds now: a taken port fails here, not in a thread
    ...
    server.stop()

    MetricsServer("127.0.0.1:8080", secure=False)   # plain HTTP, for local use

``GET /metrics``: the registry in the Prometheus text format (OpenMetrics
when the scraper asks for it, gzip when it accepts it); ``name[]=...``
restricts the output to those families, as in ``prometheus_client``.

Secure by default (controller-runtime's ``SecureServing`` with
``filters.WithAuthenticationAndAuthorization``): TLS 1.2 or later with the
certificate of ``cert_dir`` or a self-signed one (:mod:`kubeloop.metrics.certs`),
and every request's bearer token reviewed by the API server
(:mod:`kubeloop.metrics.filters`): 401 without a valid token, 403 without
``get`` on ``/metrics``. Why not open: the metrics name every object key a
workqueue held and the controller's internals; a Pod in any namespace
could read them from a plain ``:8080``. ``secure=False`` serves plain HTTP
with no checks (a laptop, a test). The probes are elsewhere, on
:class:`kubeloop.metrics.HealthProbeServer`.
"""

from __future__ import annotations

import gzip
import ssl
from typing import Protocol
from urllib.parse import SplitResult, parse_qs

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector

from kubeloop.metrics._http import Handler, Serving, parse_bind_address
from kubeloop.metrics.certs import check_can_serve, serving_context
from kubeloop.metrics.filters import Decision

__all__ = ["Authorizer", "MetricsServer", "parse_bind_address"]

METRICS_PATH = "/metrics"


class Authorizer(Protocol):
    """Decides a request from its ``Authorization`` header (see :class:`DelegatingAuthorizer`)."""

    def authorize(self, authorization: str | None, path: str, verb: str = "get") -> Decision: ...


class MetricsServer(Serving):
    """Serves ``/metrics`` from a background thread (see the module docs).

    ``secure`` (the default) needs an ``authorizer``; ``cert_dir`` holds
    ``tls.crt`` and ``tls.key`` (else a self-signed certificate is made at
    :meth:`start`). A missing certificate source is a :class:`ConfigError`
    here, not at start.
    """

    name = "kubeloop-metrics-server"
    what = "metrics"

    def __init__(
        self,
        bind_address: str = ":8443",
        registry: CollectorRegistry = REGISTRY,
        *,
        secure: bool = True,
        cert_dir: str | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        super().__init__(bind_address)
        if secure and authorizer is None:
            raise ValueError("secure metrics need an authorizer (or secure=False)")
        if secure:
            check_can_serve(cert_dir)
        self.registry = registry
        self.secure = secure
        self.cert_dir = cert_dir
        self.authorizer = authorizer if secure else None

    @property
    def scheme(self) -> str:
        return "https" if self.secure else "http"

    def tls_context(self) -> ssl.SSLContext | None:
        return serving_context(self.cert_dir) if self.secure else None

    def handle(self, request: Handler, url: SplitResult) -> None:
        if self.authorizer is not None:
            decision = self.authorizer.authorize(request.headers.get("Authorization"), url.path)
            if not decision.allowed:
                extra = (
                    {"WWW-Authenticate": 'Bearer realm="metrics"'} if decision.code == 401 else None
                )
                request.reply_text(decision.code, decision.message + "\n", extra)
                return
        if url.path != METRICS_PATH:
            request.reply_text(404, "404 page not found\n")
            return
        params = parse_qs(url.query, keep_blank_values=True)
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        source: Collector = self.registry
        if "name[]" in params:
            source = self.registry.restricted_registry(params["name[]"])
        body = encoder(source)
        headers = {}
        if gzip_accepted(request.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        request.reply(200, body, content_type, headers)

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
