"""AsyncRest over an in-memory async transport: the same retry rules as the
sync Rest (they are one implementation, client/_retry.py), and what is the
async twin's own: credentials that would block are fetched in a thread, and
closing the client ends a throttle wait at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from kubeloop.client._async_rest import AsyncRest
from kubeloop.client._config import Config
from kubeloop.client._ratelimit import TokenBucket
from kubeloop.client._transport import ConnectFailure, ExchangeFailure
from kubeloop.errors import Conflict, TransportError


class Answer:
    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    async def read(self) -> bytes:
        return self.body

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.body

    def close(self) -> None:
        pass


class FakeAsyncTransport:
    def __init__(self, answers: list[Answer | Exception]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    async def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        **kw: object,
    ) -> Answer:
        self.sent.append((method, target, dict(headers)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        pass


class ThreadRecordingAuth:
    """A credential that would block (an exec plugin, say): records the
    thread each call ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.tokens = iter(["Bearer one", "Bearer two"])

    def would_block(self) -> bool:
        return True

    def authorization(self) -> str | None:
        self.threads.append(threading.current_thread().name)
        return next(self.tokens)

    def refresh(self, refused: str | None) -> str | None:
        self.threads.append(threading.current_thread().name)
        return next(self.tokens)


CONFLICT = b'{"kind":"Status","code":409,"reason":"Conflict","message":"stale"}'


def rest(answers: list[Answer | Exception], **kw: object) -> AsyncRest:
    config = Config(host="https://k8s.test", qps=0)
    return AsyncRest(config, FakeAsyncTransport(answers), **kw)  # type: ignore[arg-type]


def run(coro: Callable[[], object]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


def test_retry_after_429_connect_failures_and_get_retries_follow_client_gos_rules() -> None:
    async def main() -> None:
        r = rest(
            [
                Answer(429, headers={"Retry-After": "0"}),
                ConnectFailure("refused"),
                ExchangeFailure("reset"),
                Answer(200, b"{}"),
            ]
        )
        r.policy = type(r.policy)(max_retries=10, max_connect_retries=4, max_retry_after=0.0)
        response = await r.send("GET", "/api/v1/pods")
        assert response.status == 200
        assert len(r.transport.sent) == 4  # type: ignore[attr-defined]

    run(main)


def test_a_failed_post_exchange_is_not_sent_again_and_a_status_becomes_its_error() -> None:
    async def main() -> None:
        with pytest.raises(TransportError, match="reset"):
            await rest([ExchangeFailure("reset")]).send("POST", "/x", content=b"{}")
        with pytest.raises(Conflict, match="stale"):
            await rest([Answer(409, CONFLICT)]).send("PUT", "/x", content=b"{}")

    run(main)


def test_a_credential_that_would_block_and_a_401_refresh_run_in_a_thread() -> None:
    auth = ThreadRecordingAuth()

    async def main() -> None:
        r = rest([Answer(401), Answer(200)], auth=auth)
        assert (await r.send("GET", "/x")).status == 200
        sent = r.transport.sent  # type: ignore[attr-defined]
        assert [h["Authorization"] for _, _, h in sent] == ["Bearer one", "Bearer two"]

    run(main)
    loop_thread = threading.main_thread().name
    assert len(auth.threads) == 2 and loop_thread not in auth.threads


def test_closing_ends_a_throttle_wait_at_once() -> None:
    async def main() -> None:
        r = rest([Answer(200), Answer(200)], limiter=TokenBucket(0.1, 1))
        await r.send("GET", "/x")  # the burst's one token
        waiting = asyncio.create_task(r.send("GET", "/x"))  # the next is 10 s away
        await asyncio.sleep(0)
        started = time.monotonic()
        r.close()
        with pytest.raises(TransportError, match="closed"):
            await waiting
        assert time.monotonic() - started < 1.0

    run(main)
