"""The urllib3 transport against small servers started in each test on
127.0.0.1 (plain sockets in threads, TLS with certificates minted here):
keep-alive reuse, the connect/exchange split of failures (refused, failed
handshake, bad certificate, no answer, a body that outlives its deadline),
streaming and abort() from another thread, fresh connections for streams,
closing the idle connections after a timed-out exchange, gzip, a server URL
with a path prefix, proxies, and the configurations it refuses.

No sleeps stand in for synchronisation: servers and tests wait on Events;
every server thread is joined when its test ends (tests/conftest.py checks).

Two of these found bugs that are fixed since: a stream read to its end left
its connection in the pool for the next watch, and an http:// server behind
an HTTP proxy was never reached.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import ipaddress
import selectors
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubeloop.client._config import Config
from kubeloop.client._tls import build_ssl_context
from kubeloop.client._transport import ConnectFailure, ExchangeFailure
from kubeloop.client._urllib3 import Urllib3Response, Urllib3Transport
from kubeloop.errors import ConfigError

from .support import mint_ca, name_of

#: The longest any wait in these tests may take when all goes well is far
#: below this; it only bounds a test that fails.
WAIT = 10.0


class Timeouts(TypedDict):
    connect_timeout: float | None
    read_timeout: float | None
    deadline: float | None


#: Generous timeouts for the exchanges that are not about timing out.
TIMEOUTS = Timeouts(connect_timeout=5, read_timeout=10, deadline=20)


# -- servers ------------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Conn:
    """One accepted connection, as a handler sees it."""

    sock: socket.socket
    index: int  # 0 for the server's first accepted connection
    server: Server
    file: socket.SocketIO = field(init=False)

    def __post_init__(self) -> None:
        self.file = self.sock.makefile("rb", buffering=0)

    def read_request(self) -> Request | None:
        """The next request on this connection, or None at its end."""
        try:
            line = self.file.readline()
            if not line:
                return None
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                header = self.file.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, value = header.decode("latin-1").split(":", 1)
                headers[name.strip().lower()] = value.strip()
            size = int(headers.get("content-length", "0"))
            body = b""
            while len(body) < size:
                part = self.file.read(size - len(body))
                if not part:
                    return None
                body += part
        except OSError:
            return None
        request = Request(method, target, headers, body)
        self.server.record(self.index, request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait_closed(self) -> None:
        """Block until the peer closes the connection (or the server stops),
        then mark it closed for :meth:`Server.wait_closed`."""
        with contextlib.suppress(OSError):
            while self.sock.recv(4096):
                pass
        self.server.closed[self.index].set()


Handler = Callable[[Conn], None]


class Server:
    """Accepts connections on 127.0.0.1 and runs ``handler`` for each in a
    thread of its own (after the TLS handshake when ``tls`` is given)."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._tls = tls
        self._lock = threading.Lock()
        self._stopped = False
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.accepted = 0
        self.requests: list[tuple[int, Request]] = []  # (connection index, request)
        self.closed: dict[int, threading.Event] = {}
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(
            target=self._accept, name=f"test-server-{self.port}", daemon=True
        )
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def record(self, index: int, request: Request) -> None:
        with self._lock:
            self.requests.append((index, request))

    def track(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the server stops (at once if it has)."""
        with self._lock:
            self._socks.append(sock)
            if self._stopped:
                _shutdown(sock)

    def wait_closed(self, index: int) -> bool:
        """Whether connection ``index`` was closed by the client within WAIT
        (its handler must end in :meth:`Conn.wait_closed`)."""
        return self.closed[index].wait(WAIT)

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_r in ready:
                    return
                sock, _ = self._listener.accept()
                with self._lock:
                    index = self.accepted
                    self.accepted += 1
                    self.closed[index] = threading.Event()
                sock.settimeout(WAIT * 3)  # a handler that is never released ends anyway
                self.track(sock)
                thread = threading.Thread(
                    target=self._serve, args=(sock, index), name=f"test-conn-{self.port}-{index}"
                )
                self._threads.append(thread)
                thread.start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                self.track(sock)
                sock.do_handshake()
            self._handler(Conn(sock, index, self))
        except (OSError, ValueError) as err:
            with self._lock:
                self.errors.append(err)
        finally:
            sock.close()

    def stop(self) -> None:
        self.stopping.set()
        self._wake_w.send(b"x")
        self._acceptor.join(WAIT)
        with self._lock:
            self._stopped = True
            for sock in self._socks:
                _shutdown(sock)
        for thread in self._threads:
            thread.join(WAIT)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        assert not self._acceptor.is_alive()
        assert not [t.name for t in self._threads if t.is_alive()]


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def response(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


CHUNKED_HEADERS = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def keep_alive(route: Callable[[Request], bytes]) -> Handler:
    """Answer every request on the connection with ``route(request)``; mark
    the connection closed when the client closes it."""

    def handle(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            conn.send(route(request))
        conn.server.closed[conn.index].set()

    return handle


def echo(request: Request) -> bytes:
    return response(200, f"{request.method} {request.target} {request.body!r}".encode())


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(handler, tls=None)`` -> a started server, stopped after the test."""
    servers: list[Server] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, tls)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def transport() -> Iterator[Callable[..., Urllib3Transport]]:
    """``transport(config, ssl_context=None)`` -> a transport closed after the test."""
    made: list[Urllib3Transport] = []

    def make(config: Config, ssl_context: ssl.SSLContext | None = None) -> Urllib3Transport:
        t = Urllib3Transport(config, ssl_context)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def get(t: Urllib3Transport, target: str = "/", **kwargs: Any) -> Urllib3Response:
    options: dict[str, Any] = {**TIMEOUTS, **kwargs}
    return t.send("GET", target, {"Accept": "application/json"}, None, **options)


# -- TLS material ---------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: bytes  # PEM of the CA that signed the server certificate
    server: ssl.SSLContext  # the server's context: that certificate and its key


def mint_pki(directory: Path, sans: list[x509.GeneralName]) -> Pki:
    """A CA and a server certificate it signed for ``sans``."""
    now = datetime.now(UTC)
    ca, ca_key = mint_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name_of("server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    pem = serialization.Encoding.PEM
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return Pki(ca=ca.public_bytes(pem), server=server)


LOCALHOST_IP = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A server certificate for 127.0.0.1."""
    return mint_pki(tmp_path_factory.mktemp("pki"), [LOCALHOST_IP])


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA, and a certificate for 127.0.0.1 that it signed."""
    return mint_pki(tmp_path_factory.mktemp("other-pki"), [LOCALHOST_IP])


def https_config(server: Server, ca: bytes, **kwargs: Any) -> tuple[Config, ssl.SSLContext]:
    config = Config(host=server.url, ca_data=ca, **kwargs)
    return config, build_ssl_context(config)


# -- 1. responses and keep-alive ---------------------------------------------------


def test_a_response_has_its_status_headers_and_body_and_requests_share_a_connection(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    def route(request: Request) -> bytes:
        if request.method == "POST":
            return echo(request)
        return response(200, b'{"kind":"Status"}', {"X-Request-Target": request.target})

    server = serve(keep_alive(route))
    t = transport(Config(host=server.url))

    first = get(t, "/api/v1/pods?limit=1")
    assert first.status == 200
    assert first.header("x-request-target") == "/api/v1/pods?limit=1"
    assert first.header("X-REQUEST-TARGET") == "/api/v1/pods?limit=1"
    assert first.header("content-length") == "17"
    assert first.header("x-absent") is None
    assert first.read() == b'{"kind":"Status"}'

    second = t.send("POST", "/apis/x", {"Content-Type": "text/plain"}, b"payload", **TIMEOUTS)
    assert second.status == 200
    assert second.read() == b"POST /apis/x b'payload'"

    assert server.accepted == 1
    assert [(index, r.method, r.target) for index, r in server.requests] == [
        (0, "GET", "/api/v1/pods?limit=1"),
        (0, "POST", "/apis/x"),
    ]
    assert server.requests[0][1].headers["accept"] == "application/json"


def test_a_response_to_a_request_sent_over_tls_is_read(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], pki: Pki
) -> None:
    server = serve(keep_alive(echo), tls=pki.server)
    t = transport(*https_config(server, pki.ca))
    r = get(t, "/version")
    assert (r.status, r.read()) == (200, b"GET /version b''")
    assert get(t, "/again").read() == b"GET /again b''"
    assert server.accepted == 1


def test_tls_server_name_is_the_name_the_certificate_is_checked_against(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], tmp_path: Path
) -> None:
    named = mint_pki(tmp_path, [x509.DNSName("kube.test")])
    server = serve(keep_alive(echo), tls=named.server)

    with pytest.raises(ConnectFailure) as caught:
        get(transport(*https_config(server, named.ca)))
    assert caught.value.certificate  # the certificate is not for 127.0.0.1

    t = transport(*https_config(server, named.ca, tls_server_name="kube.test"))
    assert get(t, "/version").read() == b"GET /version b''"


# -- 2-4. connect failures -----------------------------------------------------------


def test_a_refused_connection_is_a_connect_failure(
    transport: Callable[..., Urllib3Transport],
) -> None:
    # A port bound but not listening refuses connections, and no one else
    # can listen on it while it stays bound.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        t = transport(Config(host=f"http://127.0.0.1:{port}"))
        with pytest.raises(ConnectFailure) as caught:
            get(t)
    assert not caught.value.certificate
    assert f"127.0.0.1:{port}/" in str(caught.value)


def test_a_connection_closed_during_the_tls_handshake_is_a_connect_failure(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], pki: Pki
) -> None:
    def close_at_once(conn: Conn) -> None:
        conn.server.closed[conn.index].set()  # the socket closes when this returns

    server = serve(close_at_once)
    config = Config(host=f"https://127.0.0.1:{server.port}", ca_data=pki.ca)
    t = transport(config, build_ssl_context(config))
    with pytest.raises(ConnectFailure) as caught:
        get(t)
    assert not caught.value.certificate
    assert server.accepted == 1


def test_a_certificate_not_signed_by_the_trusted_ca_is_a_certificate_failure(
    serve: Callable[..., Server],
    transport: Callable[..., Urllib3Transport],
    pki: Pki,
    other_pki: Pki,
) -> None:
    server = serve(keep_alive(echo), tls=other_pki.server)
    t = transport(*https_config(server, pki.ca))
    with pytest.raises(ConnectFailure) as caught:
        get(t)
    assert caught.value.certificate
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert server.requests == []


# -- exchange failures -------------------------------------------------------------------


def never_answer(conn: Conn) -> None:
    if conn.read_request() is not None:
        conn.server.stopping.wait(WAIT * 3)


@pytest.mark.parametrize(
    ("read_timeout", "deadline"),
    [(0.3, None), (0.3, 20.0), (None, 0.3), (20.0, 0.3)],
    ids=["read-timeout", "read-timeout-within-deadline", "deadline", "deadline-first"],
)
def test_no_answer_within_the_read_timeout_or_deadline_is_a_timed_out_exchange(
    serve: Callable[..., Server],
    transport: Callable[..., Urllib3Transport],
    read_timeout: float | None,
    deadline: float | None,
) -> None:
    server = serve(never_answer)
    t = transport(Config(host=server.url))
    started = time.monotonic()
    with pytest.raises(ExchangeFailure) as caught:
        get(t, "/hang", read_timeout=read_timeout, deadline=deadline)
    elapsed = time.monotonic() - started
    assert caught.value.timed_out
    assert 0.25 <= elapsed < 5
    assert [r.target for _, r in server.requests] == ["/hang"]


def test_a_connection_closed_before_the_response_is_an_exchange_failure(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    def read_then_close(conn: Conn) -> None:
        conn.read_request()

    server = serve(read_then_close)
    t = transport(Config(host=server.url))
    with pytest.raises(ExchangeFailure) as caught:
        get(t, "/dropped")
    assert not caught.value.timed_out
    assert [r.target for _, r in server.requests] == ["/dropped"]


@pytest.mark.parametrize("deadline", [None, 20.0])
def test_a_body_cut_short_is_an_exchange_failure(
    serve: Callable[..., Server],
    transport: Callable[..., Urllib3Transport],
    deadline: float | None,
) -> None:
    def cut_short(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")

    server = serve(cut_short)
    r = get(transport(Config(host=server.url)), deadline=deadline)
    assert r.status == 200
    with pytest.raises(ExchangeFailure) as caught:
        r.read()
    assert not caught.value.timed_out


def test_a_body_trickled_past_the_deadline_is_a_timed_out_exchange(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    def trickle(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(CHUNKED_HEADERS)
        # One byte every 0.1 s: every read gets one well within the read
        # timeout, the whole body takes 5 s (unless the client leaves first).
        for _ in range(50):
            if conn.server.stopping.wait(0.1):
                return
            conn.send(chunk(b"x"))
        conn.send(LAST_CHUNK)

    server = serve(trickle)
    t = transport(Config(host=server.url))
    started = time.monotonic()
    r = get(t, "/slow", read_timeout=1.0, deadline=0.5)
    assert r.status == 200
    with pytest.raises(ExchangeFailure) as caught:
        r.read()
    elapsed = time.monotonic() - started
    assert caught.value.timed_out
    assert "deadline" in str(caught.value)
    assert 0.45 <= elapsed < 2


# -- 7. streaming ------------------------------------------------------------------------


def test_chunks_yields_each_chunk_as_the_server_sends_it(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    got_first, got_second = threading.Event(), threading.Event()

    def stream(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(CHUNKED_HEADERS + chunk(b'{"type":"ADDED"}\n'))
        # Without the client's word that it has the first chunk, the second
        # would follow it anyway after WAIT, and the test would get both in
        # one read.
        got_first.wait(WAIT)
        conn.send(chunk(b'{"type":"MODIFIED"}\n'))
        got_second.wait(WAIT)
        conn.send(LAST_CHUNK)

    server = serve(stream)
    t = transport(Config(host=server.url))
    r = t.send(
        "GET",
        "/watch",
        {},
        None,
        connect_timeout=5,
        read_timeout=WAIT * 2,
        deadline=None,
        stream=True,
    )
    assert r.status == 200
    chunks = r.chunks()
    assert next(chunks) == b'{"type":"ADDED"}\n'
    got_first.set()
    assert next(chunks) == b'{"type":"MODIFIED"}\n'
    got_second.set()
    assert list(chunks) == []
    r.close()


def test_abort_from_another_thread_ends_a_blocked_chunks_promptly(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    def stream_then_go_quiet(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(CHUNKED_HEADERS + chunk(b"first"))
        conn.wait_closed()  # nothing more, until the client closes the connection

    server = serve(stream_then_go_quiet)
    t = transport(Config(host=server.url))
    # Without abort() the next read would wait 60 s for a byte.
    r = t.send(
        "GET", "/watch", {}, None, connect_timeout=5, read_timeout=60, deadline=None, stream=True
    )
    chunks = r.chunks()
    assert next(chunks) == b"first"

    reading = threading.Event()

    def abort_when_reading() -> None:
        # Whether abort() lands while the read blocks or just before it, the
        # read must end: the socket is shut down for reading either way.
        reading.wait(WAIT)
        r.abort()

    aborter = threading.Thread(target=abort_when_reading, name="test-aborter")
    aborter.start()
    started = time.monotonic()
    reading.set()
    rest: list[bytes] = []
    with contextlib.suppress(ExchangeFailure):
        rest.extend(chunks)
    elapsed = time.monotonic() - started
    aborter.join(WAIT)
    assert not aborter.is_alive()
    assert elapsed < 5
    assert rest == []

    r.close()
    assert server.wait_closed(0)  # close() after abort() closed the connection
    r.abort()  # released: a later abort() is harmless


def stream_request(t: Urllib3Transport, target: str) -> Urllib3Response:
    return t.send(
        "GET", target, {}, None, connect_timeout=5, read_timeout=WAIT, deadline=None, stream=True
    )


def test_a_stream_closed_before_its_end_closes_its_connection_and_the_next_opens_a_new_one(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    def endless_stream(conn: Conn) -> None:
        request = conn.read_request()
        if request is not None:
            conn.send(CHUNKED_HEADERS + chunk(request.target.encode()))
            conn.wait_closed()

    server = serve(endless_stream)
    t = transport(Config(host=server.url))
    for index, target in enumerate(["/watch/1", "/watch/2"]):
        r = stream_request(t, target)
        assert next(r.chunks()) == target.encode()
        r.close()
        assert server.wait_closed(index)
    assert server.accepted == 2
    assert [(index, r.target) for index, r in server.requests] == [
        (0, "/watch/1"),
        (1, "/watch/2"),
    ]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_stream_read_to_its_end_closes_its_connection_and_the_next_opens_a_new_one(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], chunked: bool
) -> None:
    # A watch the server ends (its timeoutSeconds ran out) ends its body.
    def route(request: Request) -> bytes:
        body = request.target.encode()
        return CHUNKED_HEADERS + chunk(body) + LAST_CHUNK if chunked else response(200, body)

    server = serve(keep_alive(route))
    t = transport(Config(host=server.url))
    for target in ["/watch/1", "/watch/2"]:
        r = stream_request(t, target)
        assert b"".join(r.chunks()) == target.encode()
        r.close()
    assert [(index, r.target) for index, r in server.requests] == [
        (0, "/watch/1"),
        (1, "/watch/2"),
    ]
    assert server.accepted == 2
    # The server keeps them open: the client closed them.
    assert server.wait_closed(0)
    assert server.wait_closed(1)


def send_then_wait_closed(data: bytes) -> Handler:
    """Answer the request with ``data``, then keep the connection open
    until the client closes it."""

    def handle(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.send(data)
            conn.wait_closed()

    return handle


def test_chunks_hands_out_what_one_read_brings_in_one_piece(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    # http.client would hand these out one chunk per read; the transport
    # undoes the chunking itself (kubeloop.client._chunked).
    body = chunk(b"a\n") + chunk(b"b\n") + chunk(b"c\n") + LAST_CHUNK
    server = serve(send_then_wait_closed(CHUNKED_HEADERS + body))
    r = stream_request(transport(Config(host=server.url)), "/watch")
    assert list(r.chunks()) == [b"a\nb\nc\n"]
    r.close()
    assert server.wait_closed(0)


def test_a_stream_that_goes_silent_is_a_timed_out_exchange(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    server = serve(send_then_wait_closed(CHUNKED_HEADERS + chunk(b"first")))
    t = transport(Config(host=server.url))
    r = t.send(
        "GET", "/watch", {}, None, connect_timeout=5, read_timeout=0.3, deadline=None, stream=True
    )
    chunks = r.chunks()
    assert next(chunks) == b"first"
    with pytest.raises(ExchangeFailure) as caught:
        next(chunks)
    assert caught.value.timed_out
    r.close()
    assert server.wait_closed(0)


@pytest.mark.parametrize(
    "tail", [b"zz\r\nabc\r\n", b"5\r\nab", b""], ids=["bad-size", "cut-in-a-chunk", "cut-between"]
)
def test_a_stream_with_broken_chunks_or_cut_before_its_last_chunk_is_an_exchange_failure(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], tail: bytes
) -> None:
    def stream(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.send(CHUNKED_HEADERS + chunk(b"first") + tail)  # then the server closes

    server = serve(stream)
    r = stream_request(transport(Config(host=server.url)), "/watch")
    got: list[bytes] = []
    with pytest.raises(ExchangeFailure) as caught:
        got.extend(r.chunks())
    assert not caught.value.timed_out
    # What came before a broken size line in the same read is dropped with
    # it: the watch then resumes from the last event it did deliver.
    assert b"".join(got) in ((b"", b"first") if tail.startswith(b"zz") else (b"first", b"firstab"))
    r.close()


# -- 8. a timed-out exchange closes the idle request connections ---------------------------


def test_a_timed_out_exchange_closes_the_idle_request_connections(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    def route(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if request.target == "/hang":
                conn.server.stopping.wait(WAIT * 3)
                return
            conn.send(echo(request))
        conn.server.closed[conn.index].set()

    server = serve(route)
    t = transport(Config(host=server.url))
    # Two requests at once: connection 0 and connection 1. Both go back to
    # the pool, 1 last, so the next request takes 1 and leaves 0 idle.
    first, second = get(t, "/a"), get(t, "/b")
    assert first.read() == b"GET /a b''"
    assert second.read() == b"GET /b b''"
    assert server.accepted == 2

    with pytest.raises(ExchangeFailure) as caught:
        get(t, "/hang", read_timeout=0.3)
    assert caught.value.timed_out
    assert [(index, r.target) for index, r in server.requests][-1] == (1, "/hang")

    assert server.wait_closed(0)  # the idle connection was closed by the client
    # Two at once: the failed connection's empty slot opens one connection
    # whatever happened to the idle ones; the other is new too, not 0.
    third, fourth = get(t, "/c"), get(t, "/d")
    assert third.read() + fourth.read() == b"GET /c b''GET /d b''"
    assert sorted(index for index, _ in server.requests[-2:]) == [2, 3]
    assert server.accepted == 4


def test_connections_are_reused_after_a_failure_that_is_not_a_timeout(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    # The counterpart of the test above: only a timeout closes idle ones.
    def route(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if request.target == "/drop":
                return
            conn.send(echo(request))

    server = serve(route)
    t = transport(Config(host=server.url))
    first, second = get(t, "/a"), get(t, "/b")
    assert first.read() + second.read() == b"GET /a b''GET /b b''"
    with pytest.raises(ExchangeFailure) as caught:
        get(t, "/drop")  # on connection 1, whose slot goes back to the pool empty
    assert not caught.value.timed_out
    # Two at once again: the empty slot opens connection 2, and connection
    # 0, idle through the failure, is still open and serves the other.
    third, fourth = get(t, "/c"), get(t, "/d")
    assert third.read() + fourth.read() == b"GET /c b''GET /d b''"
    assert sorted(index for index, _ in server.requests[-2:]) == [0, 2]
    assert server.accepted == 3


# -- 9. gzip ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["read", "read-within-deadline", "chunks"])
def test_a_gzip_body_is_decoded(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], how: str
) -> None:
    plain = b'{"items":[' + b",".join(b'{"n":%d}' % i for i in range(2000)) + b"]}"

    def route(request: Request) -> bytes:
        assert "gzip" in request.headers.get("accept-encoding", "")
        return response(200, gzip.compress(plain), {"Content-Encoding": "gzip"})

    server = serve(keep_alive(route))
    t = transport(Config(host=server.url))
    if how == "chunks":
        r = t.send(
            "GET",
            "/",
            {"Accept-Encoding": "gzip"},
            None,
            connect_timeout=5,
            read_timeout=WAIT,
            deadline=None,
            stream=True,
        )
        body = b"".join(r.chunks())
        r.close()
    else:
        deadline = None if how == "read" else 20.0
        r = t.send(
            "GET",
            "/",
            {"Accept-Encoding": "gzip"},
            None,
            connect_timeout=5,
            read_timeout=WAIT,
            deadline=deadline,
        )
        body = r.read()
    assert r.header("content-encoding") == "gzip"
    assert body == plain


# -- 10. a server URL with a path -------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/prefix", "/prefix/", "/a/b"])
def test_requests_go_under_the_path_of_the_server_url(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], prefix: str
) -> None:
    server = serve(keep_alive(echo))
    t = transport(Config(host=server.url + prefix))
    r = get(t, "/api/v1/namespaces?limit=5")
    expected = prefix.rstrip("/") + "/api/v1/namespaces?limit=5"
    assert r.read() == f"GET {expected} b''".encode()
    assert [req.target for _, req in server.requests] == [expected]


# -- closing -------------------------------------------------------------------------------


def test_close_closes_the_idle_connections_and_later_sends_fail(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    server = serve(keep_alive(echo))
    t = transport(Config(host=server.url))
    assert get(t).status == 200
    t.close()
    assert server.wait_closed(0)
    with pytest.raises(ConnectFailure):
        get(t)


# -- 11. configurations refused ---------------------------------------------------------


@pytest.mark.parametrize("host", ["ftp://x", "x.example:6443", "http://"])
def test_a_server_url_that_is_not_http_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="invalid server URL"):
        Urllib3Transport(Config(host=host, source="kubeconfig k"), None)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.DependencyWarning")
def test_a_socks_proxy_needs_pysocks() -> None:
    config = Config(host="https://c.example:6443", proxy_url="socks5://127.0.0.1:1080")
    if importlib.util.find_spec("socks") is None:
        with pytest.raises(ConfigError, match=r"kubeloop\[socks\]"):
            Urllib3Transport(config, ssl.create_default_context())
    else:  # pragma: no cover - PySocks is not a test dependency
        from urllib3.contrib.socks import SOCKSProxyManager

        t = Urllib3Transport(config, ssl.create_default_context())
        assert t._managers
        assert all(isinstance(m, SOCKSProxyManager) for m in t._managers)
        t.close()


@pytest.mark.parametrize("proxy", ["foo://x", "127.0.0.1:3128"])
def test_a_proxy_that_is_not_http_or_socks_is_refused(proxy: str) -> None:
    config = Config(host="https://c.example:6443", proxy_url=proxy)
    with pytest.raises(ConfigError, match="must be http, https or socks5"):
        Urllib3Transport(config, ssl.create_default_context())


# -- 12. an HTTP proxy ---------------------------------------------------------------------


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side ends."""
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in selector.select():
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                data = source.recv(65536)
                if not data:
                    return
                key.data.sendall(data)


def forward_proxy(conn: Conn) -> None:
    """An HTTP proxy: CONNECT tunnels, and absolute-form requests forwarded
    (one per connection, the upstream told to close after it)."""
    request = conn.read_request()
    if request is None:
        return
    if request.method == "CONNECT":
        host, port = request.target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=WAIT * 3) as upstream:
            conn.server.track(upstream)
            conn.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(conn.sock, upstream)
        return
    url = urllib.parse.urlsplit(request.target)
    if url.scheme != "http" or url.hostname is None or url.port is None:
        conn.send(response(400, b"not an absolute-form request: " + request.target.encode()))
        return
    path = url.path + (f"?{url.query}" if url.query else "")
    headers = {k: v for k, v in request.headers.items() if not k.startswith("proxy-")}
    headers["connection"] = "close"
    head = f"{request.method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    with socket.create_connection((url.hostname, url.port), timeout=WAIT * 3) as upstream:
        conn.server.track(upstream)
        upstream.sendall(head.encode() + b"\r\n" + request.body)
        while data := upstream.recv(65536):
            conn.send(data)


def test_a_request_to_an_http_server_goes_through_an_http_proxy(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport]
) -> None:
    server = serve(keep_alive(echo))
    proxy = serve(forward_proxy)
    t = transport(Config(host=server.url + "/prefix", proxy_url=proxy.url))
    r = get(t, "/api?x=1")
    assert (r.status, r.read()) == (200, b"GET /prefix/api?x=1 b''")
    assert [req.target for _, req in proxy.requests] == [f"{server.url}/prefix/api?x=1"]
    assert [req.target for _, req in server.requests] == ["/prefix/api?x=1"]


def test_a_request_to_an_https_server_is_tunnelled_through_an_http_proxy(
    serve: Callable[..., Server], transport: Callable[..., Urllib3Transport], pki: Pki
) -> None:
    server = serve(keep_alive(echo), tls=pki.server)
    proxy = serve(forward_proxy)
    config = Config(host=server.url + "/prefix", ca_data=pki.ca, proxy_url=proxy.url)
    t = transport(config, build_ssl_context(config))
    r = get(t, "/api?x=1")
    assert (r.status, r.read()) == (200, b"GET /prefix/api?x=1 b''")
    assert get(t, "/again").read() == b"GET /prefix/again b''"
    # One tunnel, kept alive for both requests.
    assert [(req.method, req.target) for _, req in proxy.requests] == [
        ("CONNECT", f"127.0.0.1:{server.port}")
    ]
    assert [req.target for _, req in server.requests] == ["/prefix/api?x=1", "/prefix/again"]
    assert server.accepted == 1
