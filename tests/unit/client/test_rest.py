"""Retry rules, error mapping, throttling and watch decoding of the client
core, driven by httpx.MockTransport (pure logic: no server semantics are
claimed here; those are proven in tests/integration/client)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeloop import __version__
from kubeloop.client._config import Config
from kubeloop.client._loop import LoopThread
from kubeloop.client._ratelimit import TokenBucket
from kubeloop.client._rest import AsyncRest
from kubeloop.client._watch import Watch
from kubeloop.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Gone,
    InternalError,
    KubeloopError,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def status(code: int, reason: str, message: str = "m", **extra: Any) -> bytes:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    body.update(reason=reason, message=message, **extra)
    return msgspec.json.encode(body)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    lt = LoopThread("test-loop")
    yield lt
    lt.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff sleeps instead of sleeping."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("kubeloop.client._rest.asyncio.sleep", fake_sleep)
    return recorded


def make_rest(handler: Handler, **kw: Any) -> AsyncRest:
    config = Config(host="https://k8s.test", qps=0)
    http = httpx.AsyncClient(base_url=config.host, transport=httpx.MockTransport(handler))
    return AsyncRest(config, http, **kw)


def run(loop: LoopThread, rest: AsyncRest, method: str = "GET", path: str = "/x") -> httpx.Response:
    return loop.run(rest.send(method, path))


def test_retry_after_on_429_is_honoured_then_succeeds(
    loop: LoopThread, sleeps: list[float]
) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(
                429, headers={"Retry-After": "2"}, content=status(429, "TooManyRequests")
            )
        return httpx.Response(200, json={"ok": True})

    resp = run(loop, make_rest(handler), "POST")
    assert resp.status_code == 200 and len(calls) == 3
    assert sleeps == [2.0, 2.0]


def test_429_without_retry_after_raises_too_many_requests(
    loop: LoopThread, sleeps: list[float]
) -> None:
    rest = make_rest(lambda r: httpx.Response(429, content=status(429, "TooManyRequests")))
    with pytest.raises(TooManyRequests):
        run(loop, rest)
    assert sleeps == []


def test_retry_after_budget_is_bounded(loop: LoopThread, sleeps: list[float]) -> None:
    rest = make_rest(
        lambda r: httpx.Response(
            503, headers={"Retry-After": "1"}, content=status(503, "ServiceUnavailable")
        ),
        max_retries=3,
    )
    with pytest.raises(ServiceUnavailable) as info:
        run(loop, rest)
    assert len(sleeps) == 3
    assert info.value.retry_after == 1.0


def test_retry_after_is_capped(loop: LoopThread, sleeps: list[float]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "3600"})
        return httpx.Response(200)

    run(loop, make_rest(handler, max_retry_after=5.0))
    assert sleeps == [5.0]


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (410, "Expired", Gone),
        (500, "InternalError", InternalError),
    ],
)
def test_status_bodies_become_typed_errors(
    loop: LoopThread, code: int, reason: str, expected: type[ApiError]
) -> None:
    rest = make_rest(
        lambda r: httpx.Response(code, content=status(code, reason, "said the server"))
    )
    with pytest.raises(expected) as info:
        run(loop, rest)
    assert (info.value.code, info.value.reason, info.value.message) == (
        code,
        reason,
        "said the server",
    )


def test_a_non_status_error_body_keeps_its_text(loop: LoopThread) -> None:
    rest = make_rest(lambda r: httpx.Response(502, content=b"<html>bad gateway</html>"))
    with pytest.raises(ApiError) as info:
        run(loop, rest)
    assert info.value.code == 502 and "bad gateway" in info.value.message


def test_connection_refused_is_retried_then_a_transport_error(
    loop: LoopThread, sleeps: list[float]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransportError, match="cannot reach the API server after 3 attempts"):
        run(loop, make_rest(handler, max_connect_retries=2), "POST")
    assert len(sleeps) == 2


def test_a_broken_read_is_retried_for_get_only(loop: LoopThread, sleeps: list[float]) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1 or request.method == "POST":
            raise httpx.ReadError("reset", request=request)
        return httpx.Response(200)

    assert run(loop, make_rest(handler), "GET").status_code == 200
    calls.clear()
    with pytest.raises(TransportError):
        run(loop, make_rest(handler), "POST")
    assert calls == ["POST"]  # a POST that may have been applied is not resent


def test_user_agent_names_kubeloop_and_its_version() -> None:
    from kubeloop.client._transport import build_async_client

    http = build_async_client(Config(host="https://127.0.0.1:1", insecure_skip_tls_verify=True))
    assert http.headers["User-Agent"] == f"kubeloop/{__version__}"


def test_token_bucket_limits_the_rate_after_the_burst() -> None:
    bucket = TokenBucket(qps=20, burst=2)

    async def take(n: int) -> float:
        started = time.monotonic()
        for _ in range(n):
            await bucket.acquire()
        return time.monotonic() - started

    # 2 tokens at once, then 10 more at 20/s: at least 0.5 s.
    assert asyncio.run(take(12)) >= 0.45


def _watch_over(loop: LoopThread, chunks: list[bytes]) -> Watch:
    async def stream() -> Any:
        for c in chunks:
            yield c

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream())

    return Watch(loop, make_rest(handler), "/api/v1/configmaps", {"watch": "true"}, 5.0)


def test_watch_lines_split_across_chunks_decode_once_each(loop: LoopThread) -> None:
    e1 = b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n'
    e2 = b'{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n'
    data = e1 + e2
    w = _watch_over(loop, [data[:7], data[7:90], data[90:]])
    events = [(e.type, e.object["metadata"]["resourceVersion"]) for e in w]
    assert events == [("ADDED", "1"), ("MODIFIED", "2")]


def test_watch_error_event_raises_the_typed_error(loop: LoopThread) -> None:
    err = b'{"type":"ERROR","object":' + status(410, "Expired", "too old resource version") + b"}\n"
    ok = b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'
    w = _watch_over(loop, [ok, err])
    it = iter(w)
    assert next(it).type == "ADDED"
    with pytest.raises(Gone, match="too old resource version"):
        next(it)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_watch_decoder_fuzz_raises_only_kubeloop_errors(chunks: list[bytes]) -> None:
    lt = LoopThread("fuzz-loop")
    try:
        w = _watch_over(lt, chunks)
        try:
            for _ in w:
                pass
        except KubeloopError:
            pass
    finally:
        lt.close()


def test_large_list_decode_pauses_gc_and_restores_it() -> None:
    import gc

    from kubeloop.client._codec import GC_PAUSE_THRESHOLD, decode_list

    seen: list[bool] = []
    item = {"metadata": {"name": "x" * 100}}
    n = GC_PAUSE_THRESHOLD // 100 + 1
    body = msgspec.json.encode({"metadata": {"resourceVersion": "7"}, "items": [item] * n})

    def on_gc(phase: str, info: dict[str, int]) -> None:
        seen.append(phase == "start")

    gc.collect()
    gc.callbacks.append(on_gc)
    try:
        assert gc.isenabled()
        items, rv, _, _ = decode_list(body, "test")
        assert len(items) == n and rv == "7"
        assert gc.isenabled()  # restored
    finally:
        gc.callbacks.pop()
    # Unpaused, the ~20,000 allocations would trigger ~30 collections; the one
    # allowed here may run right after the collector is re-enabled.
    assert sum(seen) <= 1, f"{sum(seen)} collections ran during the decode"


def test_an_attempt_that_never_completes_ends_at_its_deadline(
    loop: LoopThread, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request stuck where httpx's per-read timeouts do not reach (inside
    the HTTP/2 connection) ends at the attempt deadline: a GET is retried, a
    POST, which may have been applied, becomes a TransportError."""
    monkeypatch.setattr("kubeloop.client._rest.attempt_deadline", lambda timeout: 0.05)
    calls: list[str] = []
    never = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1 or request.method == "POST":
            await never.wait()
        return httpx.Response(200)

    assert run(loop, make_rest(handler), "GET").status_code == 200
    assert calls == ["GET", "GET"]
    calls.clear()
    with pytest.raises(TransportError, match=r"no complete response within 0\.05s"):
        run(loop, make_rest(handler), "POST")
    assert calls == ["POST"]


@pytest.mark.parametrize(
    ("timeout", "deadline"), [(30.0, 120.0), (1.0, 10.0), (0.0, None), (None, None)]
)
def test_the_attempt_deadline_is_several_reads_and_at_least_ten_seconds(
    timeout: float | None, deadline: float | None
) -> None:
    from kubeloop.client._rest import attempt_deadline

    assert attempt_deadline(timeout) == deadline
