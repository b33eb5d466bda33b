"""The probe server over real HTTP on loopback: probes follow their checks,
with no token and nothing beyond check names in the body."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from kubeloop.metrics import HealthProbeServer


def get(server: HealthProbeServer, path: str) -> tuple[int, dict[str, str], bytes]:
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[HealthProbeServer]:
    with HealthProbeServer("127.0.0.1:0") as s:
        yield s


def test_readyz_fails_naming_the_check_until_it_passes(server: HealthProbeServer) -> None:
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


def test_readyz_with_no_checks_is_ready(server: HealthProbeServer) -> None:
    assert get(server, "/readyz")[0] == 200


def test_healthz_is_ok_while_alive_and_fails_with_a_failing_liveness_check(
    server: HealthProbeServer,
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


def test_probes_serve_no_metrics(server: HealthProbeServer) -> None:
    assert get(server, "/metrics")[0] == 404


def test_stop_closes_the_port_and_is_idempotent() -> None:
    server = HealthProbeServer("127.0.0.1:0")
    server.start()
    port = server.port
    assert get(server, "/healthz")[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not [t for t in threading.enumerate() if t.name == "kubeloop-health-probes"]
