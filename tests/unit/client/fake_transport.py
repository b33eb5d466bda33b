"""An in-memory :class:`~kubeloop.client._transport.Transport` for unit
tests of the request layer's pure logic (retries, auth, watch decoding)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeloop.client._config import Config
from kubeloop.client._rest import Rest
from kubeloop.clock import RealClock


@dataclass
class Sent:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None
    read_timeout: float | None
    deadline: float | None
    stream: bool


@dataclass
class FakeResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    parts: list[bytes] | None = None
    closed: bool = False
    aborted: bool = False

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())

    def read(self) -> bytes:
        return self.body

    def chunks(self) -> Iterator[bytes]:
        yield from self.parts if self.parts is not None else [self.body]

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


Handler = Callable[[Sent], FakeResponse]


class FakeTransport:
    """Answers each send with ``handler(sent)``; a handler may raise the
    seam's ConnectFailure / ExchangeFailure."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[Sent] = []

    def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        deadline: float | None,
        stream: bool = False,
    ) -> FakeResponse:
        sent = Sent(method, target, dict(headers), body, read_timeout, deadline, stream)
        self.sent.append(sent)
        return self.handler(sent)

    def close(self) -> None:
        pass


class RecordingClock(RealClock):
    """Real time, except that sleeps are recorded and return at once."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.sleeps.append(seconds)
        return stop.is_set()


def make_rest(handler: Handler, clock: RecordingClock | None = None, **kw: Any) -> Rest:
    config = Config(host="https://k8s.test", qps=0)
    return Rest(config, FakeTransport(handler), clock=clock or RecordingClock(), **kw)


def send(rest: Rest, method: str = "GET", path: str = "/x", **kw: Any) -> FakeResponse:
    response = rest.send(method, path, **kw)
    assert isinstance(response, FakeResponse)
    return response


def sent_of(rest: Rest) -> list[Sent]:
    transport = rest.transport
    assert isinstance(transport, FakeTransport)
    return transport.sent
