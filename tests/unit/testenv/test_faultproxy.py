"""FaultProxy against an echo server on loopback: forwarding and each fault."""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubeloop.client import Config
from kubeloop.testenv.faultproxy import FaultProxy, proxied_config, proxied_kubeconfig

WAIT = 5.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # the proxy cut us
            while data := self.request.recv(65536):
                self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo_port) as p:
        yield p


def connect(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT)
    return sock


def echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def assert_broken(sock: socket.socket) -> None:
    """The connection is closed or reset: a read gives EOF or an error."""
    sock.settimeout(WAIT)
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(1) == b""


def test_forwards_both_ways_and_counts_connections(proxy: FaultProxy) -> None:
    payload = bytes(range(256)) * 1000
    with connect(proxy) as a, connect(proxy) as b:
        assert echo(a, payload) == payload
        assert echo(b, b"hello") == b"hello"
        assert proxy.accepted == 2
        assert proxy.open_connections() == 2


def test_cut_all_resets_every_open_connection_and_new_ones_work(proxy: FaultProxy) -> None:
    a, b = connect(proxy), connect(proxy)
    with a, b:
        assert echo(a, b"x") == b"x" and echo(b, b"y") == b"y"
        assert proxy.cut_all() == 2
        assert_broken(a)
        assert_broken(b)
    assert proxy.cuts == 2 and proxy.open_connections() == 0
    with connect(proxy) as c:
        assert echo(c, b"again") == b"again"


def test_refuse_closes_new_connections_but_keeps_open_ones(proxy: FaultProxy) -> None:
    with connect(proxy) as before:
        assert echo(before, b"up") == b"up"  # accepted by the proxy, not only the kernel
        proxy.refuse(True)
        with connect(proxy) as refused:
            assert_broken(refused)
        assert echo(before, b"still") == b"still"
        assert proxy.refused == 1
        proxy.refuse(False)
        with connect(proxy) as after:
            assert echo(after, b"back") == b"back"


def test_stall_holds_bytes_until_resumed(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        assert echo(sock, b"warm") == b"warm"
        proxy.stall(True)
        sock.sendall(b"held")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        proxy.stall(False)
        sock.settimeout(WAIT)
        assert sock.recv(4) == b"held"


def test_latency_delays_each_chunk_both_ways(proxy: FaultProxy) -> None:
    """Every chunk, not only the first, comes back no sooner than two
    latencies (there and back) after it was sent, whole and in order.

    That chunks are delayed side by side rather than one after another is a
    claim about how soon they arrive, which only an upper bound on wall-clock
    time can check: bench/testenv/bench_faultproxy_latency.py measures it.
    """
    latency = 0.2
    chunks = [b"%d;" % i for i in range(10)]
    with connect(proxy) as sock:
        proxy.set_latency(latency)
        sent_at: list[float] = []
        for chunk in chunks:
            sent_at.append(time.monotonic())
            sock.sendall(chunk)
            time.sleep(0.01)  # separate chunks on the wire (not a wait for anything)
        expected = b"".join(chunks)
        ends = list(itertools.accumulate(len(c) for c in chunks))
        got = b""
        arrived_at: list[float] = []
        while len(got) < len(expected):
            data = sock.recv(100)
            assert data, "the proxy closed the connection"
            got += data
            now = time.monotonic()
            while len(arrived_at) < len(ends) and len(got) >= ends[len(arrived_at)]:
                arrived_at.append(now)  # every chunk now complete in ``got``
        assert got == expected
        # Less a millisecond: the event loop may fire a timer a clock tick early.
        delays = [arrived - sent for sent, arrived in zip(sent_at, arrived_at, strict=True)]
        assert min(delays) >= 2 * latency - 0.001, delays


def test_stop_closes_connections_and_ends_the_thread(echo_port: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo_port)
    proxy.start()
    sock = connect(proxy)
    with sock:
        assert echo(sock, b"x") == b"x"
        proxy.stop()
        assert_broken(sock)
    assert not any(t.name.startswith("faultproxy-") for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT).close()


def test_proxied_config_points_at_the_proxy_and_keeps_credentials() -> None:
    config = Config(host="https://127.0.0.1:6443", ca_data=b"CA", bearer_token="t")
    proxied = proxied_config(config, 4242)
    assert proxied.host == "https://127.0.0.1:4242"
    assert proxied.ca_data == b"CA" and proxied.bearer_token == "t"
    assert config.host == "https://127.0.0.1:6443"


def test_proxied_kubeconfig_rewrites_every_cluster_server(tmp_path: Path) -> None:
    source = tmp_path / "kubeconfig"
    source.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "a", "cluster": {"server": "https://127.0.0.1:6443"}},
                    {"name": "b", "cluster": {"server": "https://127.0.0.1:7443"}},
                ],
            }
        )
    )
    out = proxied_kubeconfig(source, tmp_path / "proxied", 5555)
    servers = [c["cluster"]["server"] for c in yaml.safe_load(out.read_text())["clusters"]]
    assert servers == ["https://127.0.0.1:5555", "https://127.0.0.1:5555"]
