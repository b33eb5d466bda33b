"""The metrics and health server over real HTTP on loopback: scrapes parse,
probes follow their checks, and the server binds and stops cleanly."""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.metrics import MetricsServer, parse_bind_address
from kubeloop.runtime import ReconcileMetrics
from kubeloop.workqueue import PrometheusMetricsProvider, Queue


def get(
    server: MetricsServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
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
    with MetricsServer("127.0.0.1:0", registry) as s:
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


def test_readyz_fails_naming_the_check_until_it_passes(server: MetricsServer) -> None:
    synced = threading.Event()
    server.add_readiness_check("informer-networks", synced.is_set)
    server.add_readiness_check("always", lambda: True)
    status, _, body = get(server, "/readyz")
    assert status == 503
    assert body.decode() == "[-]informer-networks failed\n[+]always ok\nreadyz check failed\n"
    assert server.readiness.failing() == ["informer-networks"]
    synced.set()
    status, _, body = get(server, "/readyz")
    assert (status, body) == (200, b"ok")
    status, _, body = get(server, "/readyz?verbose")
    assert (status, body.decode()) == (
        200,
        "[+]informer-networks ok\n[+]always ok\nreadyz check passed\n",
    )


def test_readyz_with_no_checks_is_ready(server: MetricsServer) -> None:
    assert get(server, "/readyz")[0] == 200


def test_healthz_is_ok_while_alive_and_fails_with_a_failing_liveness_check(
    server: MetricsServer,
) -> None:
    status, _, body = get(server, "/healthz")
    assert (status, body) == (200, b"ok")
    assert get(server, "/livez")[0] == 200

    def broken() -> bool:
        raise RuntimeError("renew loop stuck")

    server.add_liveness_check("leader-election", broken)
    status, _, body = get(server, "/healthz")
    assert status == 503
    assert b"[-]leader-election failed" in body
    assert b"renew loop stuck" not in body  # reasons go to the log only
    server.liveness.remove("leader-election")
    assert get(server, "/healthz")[0] == 200


def test_unknown_paths_are_404(server: MetricsServer) -> None:
    assert get(server, "/nope")[0] == 404


def test_stop_closes_the_port_and_is_idempotent(registry: CollectorRegistry) -> None:
    server = MetricsServer("127.0.0.1:0", registry)
    server.start()
    port = server.port
    assert port != 0
    assert get(server, "/healthz")[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not [t for t in threading.enumerate() if t.name == "kubeloop-metrics-server"]


def test_a_taken_port_fails_at_start(server: MetricsServer, registry: CollectorRegistry) -> None:
    other = MetricsServer(f"127.0.0.1:{server.port}", registry)
    with pytest.raises(OSError):
        other.start()


def test_an_all_interfaces_bind_is_reachable_on_loopback(registry: CollectorRegistry) -> None:
    with MetricsServer(":0", registry) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert get(server, "/healthz")[0] == 200


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":8080", ("", 8080)),
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
