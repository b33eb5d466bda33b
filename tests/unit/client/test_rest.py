"""Retry rules, error mapping, throttling, auth retries and watch decoding
of the request layer, over an in-memory transport (pure logic: no server
semantics are claimed here; those are proven in tests/integration/client,
and the urllib3 transport itself in test_urllib3_transport.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeloop import __version__
from kubeloop.client._auth import TokenSourceAuth
from kubeloop.client._ratelimit import TokenBucket
from kubeloop.client._rest import encode_query
from kubeloop.client._transport import ConnectFailure, ExchangeFailure
from kubeloop.client._watch import Watch
from kubeloop.clock import FakeClock
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

from .fake_transport import (
    FakeResponse,
    Handler,
    RecordingClock,
    Sent,
    make_rest,
    send,
    sent_of,
)


def status(code: int, reason: str, message: str = "m", **extra: Any) -> bytes:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    body.update(reason=reason, message=message, **extra)
    return msgspec.json.encode(body)


def test_retry_after_on_429_is_honoured_then_succeeds(clock: RecordingClock) -> None:
    calls: list[Sent] = []

    def handler(sent: Sent) -> FakeResponse:
        calls.append(sent)
        if len(calls) < 3:
            return FakeResponse(429, status(429, "TooManyRequests"), {"Retry-After": "2"})
        return FakeResponse(200, b'{"ok":true}')

    resp = send(make_rest(handler, clock), "POST")
    assert resp.status == 200 and len(calls) == 3
    assert clock.sleeps == [2.0, 2.0]


def test_429_without_retry_after_raises_too_many_requests(clock: RecordingClock) -> None:
    rest = make_rest(lambda s: FakeResponse(429, status(429, "TooManyRequests")), clock)
    with pytest.raises(TooManyRequests):
        send(rest)
    assert clock.sleeps == []


def test_retry_after_budget_is_bounded(clock: RecordingClock) -> None:
    rest = make_rest(
        lambda s: FakeResponse(503, status(503, "ServiceUnavailable"), {"Retry-After": "1"}),
        clock,
        max_retries=3,
    )
    with pytest.raises(ServiceUnavailable) as info:
        send(rest)
    assert len(clock.sleeps) == 3
    assert info.value.retry_after == 1.0


def test_retry_after_is_capped(clock: RecordingClock) -> None:
    calls = []

    def handler(sent: Sent) -> FakeResponse:
        calls.append(1)
        if len(calls) == 1:
            return FakeResponse(429, headers={"Retry-After": "3600"})
        return FakeResponse(200)

    send(make_rest(handler, clock, max_retry_after=5.0))
    assert clock.sleeps == [5.0]


def test_a_closed_client_ends_a_retry_wait_with_a_transport_error() -> None:
    stop = threading.Event()
    stop.set()
    rest = make_rest(
        lambda s: FakeResponse(429, status(429, "TooManyRequests"), {"Retry-After": "30"}),
        stop=stop,
    )
    with pytest.raises(TransportError, match="closed"):
        send(rest)
    assert sent_of(rest) == []  # nothing is sent once closed


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
    code: int, reason: str, expected: type[ApiError]
) -> None:
    rest = make_rest(lambda r: FakeResponse(code, status(code, reason, "said the server")))
    with pytest.raises(expected) as info:
        send(rest)
    assert (info.value.code, info.value.reason, info.value.message) == (
        code,
        reason,
        "said the server",
    )


def test_a_non_status_error_body_keeps_its_text() -> None:
    rest = make_rest(lambda r: FakeResponse(502, b"<html>bad gateway</html>"))
    with pytest.raises(ApiError) as info:
        send(rest)
    assert info.value.code == 502 and "bad gateway" in info.value.message


def test_connection_refused_is_retried_then_a_transport_error(clock: RecordingClock) -> None:
    def handler(sent: Sent) -> FakeResponse:
        raise ConnectFailure("refused")

    with pytest.raises(TransportError, match="cannot reach the API server after 3 attempts"):
        send(make_rest(handler, clock, max_connect_retries=2), "POST")
    assert len(clock.sleeps) == 2


def test_a_certificate_that_does_not_verify_is_not_retried(clock: RecordingClock) -> None:
    def handler(sent: Sent) -> FakeResponse:
        raise ConnectFailure("CERTIFICATE_VERIFY_FAILED", certificate=True)

    with pytest.raises(TransportError, match="does not verify against the system trust store"):
        send(make_rest(handler, clock))
    assert clock.sleeps == []


def test_a_broken_exchange_is_retried_for_get_only(clock: RecordingClock) -> None:
    calls: list[str] = []

    def handler(sent: Sent) -> FakeResponse:
        calls.append(sent.method)
        if len(calls) == 1 or sent.method == "POST":
            raise ExchangeFailure("reset")
        return FakeResponse(200)

    assert send(make_rest(handler, clock), "GET").status == 200
    calls.clear()
    with pytest.raises(TransportError, match="reset"):
        send(make_rest(handler, clock), "POST")
    assert calls == ["POST"]  # a POST that may have been applied is not resent


def test_a_silent_exchange_is_retried_for_get_and_an_error_for_post(clock: RecordingClock) -> None:
    """No answer within the read timeout or the deadline: a GET is sent again,
    a POST, which may have been applied, becomes a TransportError."""
    calls: list[str] = []

    def handler(sent: Sent) -> FakeResponse:
        calls.append(sent.method)
        if len(calls) == 1 or sent.method == "POST":
            raise ExchangeFailure("no response within the read timeout", timed_out=True)
        return FakeResponse(200)

    assert send(make_rest(handler, clock), "GET").status == 200
    assert calls == ["GET", "GET"]
    calls.clear()
    with pytest.raises(TransportError, match="no response within the read timeout"):
        send(make_rest(handler, clock), "POST")
    assert calls == ["POST"]


def test_every_non_streaming_attempt_carries_its_deadline() -> None:
    rest = make_rest(lambda s: FakeResponse(200))
    rest.config.timeout = 5.0
    send(rest)
    rest.send("GET", "/w", stream=True, read_timeout=75.0)
    plain, streamed = sent_of(rest)
    assert (plain.read_timeout, plain.deadline, plain.stream) == (5.0, 20.0, False)
    assert (streamed.read_timeout, streamed.deadline, streamed.stream) == (75.0, None, True)


def test_an_explicit_timeout_bounds_the_attempt_as_well() -> None:
    rest = make_rest(lambda s: FakeResponse(200))
    send(rest, timeout=5.0)
    (sent,) = sent_of(rest)
    # The attempt's own deadline (4 reads, 20 s) is clipped to the call's 5 s.
    assert sent.deadline is not None and 4.0 < sent.deadline <= 5.0
    assert sent.read_timeout is not None and sent.read_timeout <= 5.0


def test_an_explicit_timeout_refuses_a_retry_wait_that_would_outlive_it(
    clock: RecordingClock,
) -> None:
    """client-go's Request.Timeout bounds the whole call: a Retry-After or a
    connect backoff longer than what is left ends it (leader election
    renews with what is left of its renew deadline)."""
    throttled = make_rest(
        lambda s: FakeResponse(429, status(429, "TooManyRequests"), {"Retry-After": "2"}), clock
    )
    with pytest.raises(TransportError, match=r"no answer within its timeout .*retry after 2.0s"):
        send(throttled, "PUT", timeout=1.0)
    refused = make_rest(_refuse, clock)
    with pytest.raises(TransportError, match=r"no answer within its timeout .*connect failed"):
        send(refused, timeout=0.3)  # the first backoff is 0.4-0.6 s
    assert clock.sleeps == []
    # Without a timeout, both are retried as before.
    with pytest.raises(TransportError, match="cannot reach the API server after 5 attempts"):
        send(make_rest(_refuse, clock))
    assert len(clock.sleeps) == 4


def _refuse(sent: Sent) -> FakeResponse:
    raise ConnectFailure("connection refused")


def test_an_explicit_timeout_does_not_wait_longer_for_the_rate_limiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock)
    rest = make_rest(lambda s: FakeResponse(200), limiter=bucket)
    send(rest)  # the burst's one token
    with pytest.raises(TransportError, match=r"no answer within its timeout .*rate limiter"):
        send(rest, timeout=0.5)  # the next token exists in 1 s
    assert len(sent_of(rest)) == 1
    # The refused request took no token: the next one waits 1 s, not 2.
    assert bucket.reserve() == 1.0


def test_a_bucket_reservation_beyond_max_wait_takes_nothing() -> None:
    bucket = TokenBucket(qps=10, burst=1, clock=FakeClock())
    assert bucket.reserve() == 0.0
    assert bucket.reserve(max_wait=0.05) is None
    assert bucket.reserve(max_wait=0.1) == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)


def test_user_agent_names_kubeloop_and_its_version() -> None:
    rest = make_rest(lambda s: FakeResponse(200))
    send(rest)
    headers = sent_of(rest)[0].headers
    assert headers["User-Agent"] == f"kubeloop/{__version__}"
    assert headers["Accept"] == "application/json"


def test_query_parameters_are_encoded_as_the_api_server_reads_them() -> None:
    rest = make_rest(lambda s: FakeResponse(200))
    send(
        rest,
        path="/api/v1/pods",
        params={"watch": True, "limit": 500, "labelSelector": "a in (x,y)", "continue": None},
    )
    assert (
        sent_of(rest)[0].target
        == "/api/v1/pods?watch=true&limit=500&labelSelector=a%20in%20%28x%2Cy%29"
    )
    assert encode_query({}) == "" and encode_query({"x": None}) == ""


class _Tokens:
    """A token source that hands out ``tokens`` in turn after each invalidate."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.invalidated: list[str | None] = []

    def token(self) -> str | None:
        return self.tokens[0]

    def invalidate(self, token: str | None = None) -> None:
        self.invalidated.append(token)
        if len(self.tokens) > 1:
            self.tokens.pop(0)

    def needs_refresh(self) -> bool:
        return False


def _accepting(token: str) -> Handler:
    def handler(sent: Sent) -> FakeResponse:
        ok = sent.headers.get("Authorization") == f"Bearer {token}"
        return FakeResponse(200) if ok else FakeResponse(401, status(401, "Unauthorized"))

    return handler


def test_a_401_refreshes_the_token_and_sends_once_more() -> None:
    source = _Tokens("old", "new")
    rest = make_rest(_accepting("new"), auth=TokenSourceAuth(source))
    assert send(rest, "POST").status == 200
    assert [s.headers["Authorization"] for s in sent_of(rest)] == ["Bearer old", "Bearer new"]
    assert source.invalidated == ["old"]


def test_a_second_401_is_returned_and_an_unchanged_token_is_not_resent() -> None:
    rest = make_rest(_accepting("never"), auth=TokenSourceAuth(_Tokens("a", "b")))
    with pytest.raises(ApiError) as info:
        send(rest)
    assert info.value.code == 401 and len(sent_of(rest)) == 2
    same = make_rest(_accepting("never"), auth=TokenSourceAuth(_Tokens("only")))
    with pytest.raises(ApiError):
        send(same)
    assert len(sent_of(same)) == 1


def test_an_explicit_authorization_header_is_sent_as_it_is() -> None:
    rest = make_rest(_accepting("x"), auth=TokenSourceAuth(_Tokens("x")))
    with pytest.raises(ApiError):
        send(rest, headers={"Authorization": "Bearer mine"})
    assert [s.headers["Authorization"] for s in sent_of(rest)] == ["Bearer mine"]


def test_token_bucket_lets_the_burst_through_then_waits_for_each_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=20, burst=2, clock=clock)
    done: list[float] = []

    def take(n: int) -> None:
        for _ in range(n):
            bucket.acquire()
            done.append(clock.now())

    worker = threading.Thread(target=take, args=(4,))
    worker.start()
    for _ in range(2):  # two tokens in debt: one sleep each of 1/20 s
        clock.wait_for_waiters(1)
        clock.step(0.05)
    worker.join(10)
    assert not worker.is_alive()
    assert done == [0.0, 0.0, 0.05, 0.1]


def test_a_disabled_bucket_never_waits() -> None:
    bucket = TokenBucket(qps=0, burst=1, clock=FakeClock())
    for _ in range(100):
        bucket.acquire()


def _watch_over(parts: list[bytes]) -> Watch:
    rest = make_rest(lambda s: FakeResponse(200, parts=parts))
    return Watch(rest, "/api/v1/configmaps", {"watch": "true"}, idle_timeout=75.0)


def test_watch_lines_split_across_chunks_decode_once_each() -> None:
    e1 = b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n'
    e2 = b'{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n'
    data = e1 + e2
    w = _watch_over([data[:7], data[7:90], data[90:]])
    events = [(e.type, e.object["metadata"]["resourceVersion"]) for e in w]
    assert events == [("ADDED", "1"), ("MODIFIED", "2")]


def test_watch_error_event_raises_the_typed_error() -> None:
    err = b'{"type":"ERROR","object":' + status(410, "Expired", "too old resource version") + b"}\n"
    ok = b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'
    it = iter(_watch_over([ok, err]))
    assert next(it).type == "ADDED"
    with pytest.raises(Gone, match="too old resource version"):
        next(it)


def test_watch_asks_for_an_uncompressed_stream_with_its_idle_timeout() -> None:
    rest = make_rest(lambda s: FakeResponse(200, parts=[]))
    w = Watch(rest, "/api/v1/pods", {"watch": "true"}, idle_timeout=75.0, headers={"Accept": "x"})
    assert list(w) == []
    (sent,) = sent_of(rest)
    assert (sent.stream, sent.read_timeout, sent.deadline) == (True, 75.0, None)
    assert sent.headers["Accept-Encoding"] == "identity" and sent.headers["Accept"] == "x"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_watch_decoder_fuzz_raises_only_kubeloop_errors(chunks: list[bytes]) -> None:
    try:
        for _ in _watch_over(chunks):
            pass
    except KubeloopError:
        pass


def test_a_silent_watch_ends_with_a_transport_error_naming_the_idle_timeout() -> None:
    def parts() -> Iterator[bytes]:
        yield b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'
        raise ExchangeFailure("no response within the read timeout", timed_out=True)

    class Silent(FakeResponse):
        def chunks(self) -> Iterator[bytes]:
            return parts()

    rest = make_rest(lambda s: Silent(200))
    it = iter(Watch(rest, "/api/v1/pods", {"watch": "true"}, idle_timeout=75.0))
    assert next(it).type == "ADDED"
    with pytest.raises(TransportError, match="no bytes for 75s; the connection went silent"):
        next(it)


def test_stop_before_iterating_releases_the_connection() -> None:
    response = FakeResponse(200, parts=[b'{"type":"ADDED","object":{}}\n'])
    rest = make_rest(lambda s: response)
    w = Watch(rest, "/api/v1/pods", {"watch": "true"}, idle_timeout=75.0)
    w.stop()
    assert response.closed and not response.aborted
    assert list(w) == []


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


@pytest.mark.parametrize(
    ("timeout", "deadline"), [(30.0, 120.0), (1.0, 10.0), (0.0, None), (None, None)]
)
def test_the_attempt_deadline_is_several_reads_and_at_least_ten_seconds(
    timeout: float | None, deadline: float | None
) -> None:
    from kubeloop.client._rest import attempt_deadline

    assert attempt_deadline(timeout) == deadline
