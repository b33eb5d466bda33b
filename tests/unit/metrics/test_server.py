"""The metrics server over real HTTP(S) on loopback: scrapes parse, a secure
server speaks TLS 1.2+ and answers only what its authorizer allows, and the
server binds and stops cleanly."""

from __future__ import annotations

import gzip
import http.client
import importlib.util
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.errors import ConfigError
from kubeloop.metrics import Decision, MetricsServer, parse_bind_address
from kubeloop.metrics.certs import self_signed_certificate
from kubeloop.runtime import ReconcileMetrics
from kubeloop.workqueue import PrometheusMetricsProvider, Queue


def get(
    server: MetricsServer,
    path: str,
    headers: dict[str, str] | None = None,
    scheme: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """GET over the server's scheme (or ``scheme``), trusting any certificate."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    if (scheme or url.scheme) == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the certificate is self-signed
        conn = http.client.HTTPSConnection(url.hostname or "", url.port, timeout=10, context=ctx)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    with MetricsServer("127.0.0.1:0", registry, secure=False) as s:
        yield s


def test_metrics_scrape_parses_with_reconcile_and_workqueue_families(
    server: MetricsServer, registry: CollectorRegistry
) -> None:
    metrics = ReconcileMetrics("networks", registry)
    metrics.observe("success", 0.02)
    metrics.observe("error", 0.3)
    q: Queue[str] = Queue("networks", metrics_provider=PrometheusMetricsProvider(registry))
    q.add("default/a")
    status, headers, body = get(server, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    total = {s.labels["result"]: s.value for s in families["controller_runtime_reconcile"].samples}
    assert total == {"success": 1.0, "error": 1.0, "requeue": 0.0, "requeue_after": 0.0}
    assert families["controller_runtime_reconcile_errors"].samples[0].value == 1.0
    duration = families["controller_runtime_reconcile_time_seconds"]
    count = next(s for s in duration.samples if s.name.endswith("_count"))
    assert (count.labels, count.value) == ({"controller": "networks"}, 2.0)
    depth = families["workqueue_depth"].samples[0]
    assert (depth.labels, depth.value) == ({"name": "networks"}, 1.0)
    q.shut_down()


def test_metrics_honour_gzip_openmetrics_and_name_filter(
    server: MetricsServer, registry: CollectorRegistry
) -> None:
    ReconcileMetrics("networks", registry).observe("success", 0.01)
    _, headers, body = get(server, "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"controller_runtime_reconcile_total" in gzip.decompress(body)
    accept = "application/openmetrics-text; version=1.0.0"
    _, headers, body = get(server, "/metrics", {"Accept": accept})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    _, _, body = get(server, "/metrics?name[]=controller_runtime_reconcile_errors_total")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert names == {"controller_runtime_reconcile_errors"}


def test_unknown_paths_are_404(server: MetricsServer) -> None:
    assert get(server, "/nope")[0] == 404


def test_stop_closes_the_port_and_is_idempotent(registry: CollectorRegistry) -> None:
    server = MetricsServer("127.0.0.1:0", registry, secure=False)
    server.start()
    port = server.port
    assert port != 0
    assert get(server, "/metrics")[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not [t for t in threading.enumerate() if t.name == "kubeloop-metrics-server"]


def test_a_taken_port_fails_at_start(server: MetricsServer, registry: CollectorRegistry) -> None:
    other = MetricsServer(f"127.0.0.1:{server.port}", registry, secure=False)
    with pytest.raises(OSError):
        other.start()


def test_an_all_interfaces_bind_is_reachable_on_loopback(registry: CollectorRegistry) -> None:
    with MetricsServer(":0", registry, secure=False) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert get(server, "/metrics")[0] == 200


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":8443", ("", 8443)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9090", ("::1", 9090)),
        ("0.0.0.0:8443", ("0.0.0.0", 8443)),
    ],
)
def test_bind_addresses_parse_as_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert parse_bind_address(address) == expected


@pytest.mark.parametrize("address", ["8080", "localhost", ":http", ":70000", "::1:80", ""])
def test_malformed_bind_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="bind address"):
        parse_bind_address(address)


class Allow:
    """An authorizer that allows one token and records what it was asked."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.asked: list[tuple[str | None, str]] = []

    def authorize(self, authorization: str | None, path: str, verb: str = "get") -> Decision:
        self.asked.append((authorization, path))
        if authorization is None:
            return Decision(401, "Unauthorized")
        if authorization != f"Bearer {self.token}":
            return Decision(403, "Forbidden (user=someone, verb=get, path=/metrics)")
        return Decision(200)


@pytest.fixture
def secure(registry: CollectorRegistry) -> Iterator[tuple[MetricsServer, Allow]]:
    allow = Allow("s3cret")
    with MetricsServer("127.0.0.1:0", registry, authorizer=allow) as s:
        yield s, allow


def test_a_secure_server_answers_only_what_its_authorizer_allows(
    secure: tuple[MetricsServer, Allow], registry: CollectorRegistry
) -> None:
    server, allow = secure
    ReconcileMetrics("networks", registry).observe("success", 0.01)
    assert server.url.startswith("https://127.0.0.1:")
    status, headers, body = get(server, "/metrics")
    assert (status, body) == (401, b"Unauthorized\n")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, _, _ = get(server, "/metrics", {"Authorization": "Bearer other"})
    assert status == 403
    status, _, body = get(server, "/metrics", {"Authorization": "Bearer s3cret"})
    assert status == 200 and b"controller_runtime_reconcile_total" in body
    assert allow.asked == [
        (None, "/metrics"),
        ("Bearer other", "/metrics"),
        ("Bearer s3cret", "/metrics"),
    ]


def test_a_secure_server_refuses_plain_http_and_needs_tls_1_2(
    secure: tuple[MetricsServer, Allow],
) -> None:
    server, _ = secure
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        get(server, "/metrics", scheme="http")
    # A TLS 1.1 client cannot be tested honestly here (this OpenSSL refuses
    # to offer it at all): the server's own context is what is pinned.
    ctx = server.tls_context()
    assert ctx is not None and ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert get(server, "/metrics", {"Authorization": "Bearer s3cret"})[0] == 200


def test_a_secure_server_needs_an_authorizer(registry: CollectorRegistry) -> None:
    with pytest.raises(ValueError, match="authorizer"):
        MetricsServer("127.0.0.1:0", registry)


def test_a_cert_dir_without_its_files_is_a_config_error(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"no tls\.crt"):
        MetricsServer("127.0.0.1:0", registry, cert_dir=str(tmp_path), authorizer=Allow("x"))


def test_a_mounted_certificate_is_served(registry: CollectorRegistry, tmp_path: Path) -> None:
    cert, key = self_signed_certificate(["metrics.example"])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    server = MetricsServer("127.0.0.1:0", registry, cert_dir=str(tmp_path), authorizer=Allow("x"))
    with server:
        ctx = ssl.create_default_context(cadata=cert.decode())
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="metrics.example") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_without_cryptography_or_a_cert_dir_the_message_says_what_to_provide(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cryptography" else real(name)
    )
    with pytest.raises(ConfigError) as caught:
        MetricsServer("127.0.0.1:0", registry, authorizer=Allow("x"))
    message = str(caught.value)
    for hint in ("--metrics-cert-dir", "kubeloop[tls]", "--metrics-secure=false"):
        assert hint in message
    MetricsServer("127.0.0.1:0", registry, secure=False)  # plain HTTP needs neither


def test_importing_the_runtime_does_not_import_cryptography() -> None:
    code = "import sys, kubeloop.runtime; print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _install(directory: Path, host: str) -> bytes:
    """A new pair for ``host``, swapped in as the kubelet swaps a Secret's files."""
    cert, key = self_signed_certificate([host])
    for name, data in (("tls.crt", cert), ("tls.key", key)):
        staged = directory / f".{name}.new"
        staged.write_bytes(data)
        os.replace(staged, directory / name)
    return cert


def _served(server: MetricsServer, ca: bytes, host: str) -> None:
    ctx = ssl.create_default_context(cadata=ca.decode())
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=host),
    ):
        pass


def test_a_rotated_certificate_is_served_from_the_next_connection_on(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    first = _install(tmp_path, "first.example")
    server = MetricsServer("127.0.0.1:0", registry, cert_dir=str(tmp_path), authorizer=Allow("x"))
    with server:
        _served(server, first, "first.example")
        second = _install(tmp_path, "second.example")
        _served(server, second, "second.example")
        with pytest.raises(ssl.SSLCertVerificationError):
            _served(server, first, "first.example")
        # A broken pair (a rotation half written) keeps the last good one.
        (tmp_path / "tls.key").write_bytes(b"not a key")
        _served(server, second, "second.example")
