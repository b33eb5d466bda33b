"""The async twin of :class:`~kubeloop.client._rest.Rest`: the same
client-go rules (decided once, in :mod:`kubeloop.client._retry`), the same
throttle (the same token bucket, its wait awaited instead of slept) and the
same credentials, over an :class:`~kubeloop.client._transport.AsyncTransport`.

A credential that would block (a token file due for a re-read, an exec
plugin to run) is fetched in a thread, so the loop never waits on it.

::

    rest = AsyncRest(config, AiohttpTransport(config, ctx), auth=build_auth(config))
    body = await (await rest.send("GET", "/api/v1/namespaces")).read()
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeloop.client._auth import Authenticator
from kubeloop.client._config import Config
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
from kubeloop.client._retry import (
    Attempts,
    Fail,
    Policy,
    Refresh,
    Return,
    Wait,
    base_headers,
    prepare,
)
from kubeloop.client._transport import (
    AsyncResponse,
    AsyncTransport,
    ConnectFailure,
    ExchangeFailure,
)
from kubeloop.errors import TransportError

log = logging.getLogger("kubeloop.client")


class AsyncRest:
    """Requests over one :class:`AsyncTransport` with client-go's rules;
    used from one event loop. ``closed`` is the owning client's flag: once
    set, no request starts and every retry or throttle wait ends."""

    def __init__(
        self,
        config: Config,
        transport: AsyncTransport,
        *,
        auth: Authenticator | None = None,
        limiter: TokenBucket | PerGroupTokenBuckets | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.auth = auth
        self.limiter = limiter if limiter is not None else TokenBucket(config.qps, config.burst)
        self.policy = policy or Policy()
        self._base_headers = base_headers(config)
        self._closed: asyncio.Event | None = None
        self.is_closed = False

    async def _sleep(self, seconds: float, what: str) -> None:
        """Wait, or raise TransportError as soon as the client closes."""
        if self._closed is None:
            self._closed = asyncio.Event()
            if self.is_closed:
                self._closed.set()
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            return
        raise TransportError(f"{what}: the client was closed")

    def close(self) -> None:
        self.is_closed = True
        if self._closed is not None:
            self._closed.set()

    async def _credential(self, auth: Authenticator) -> str | None:
        if auth.would_block():
            return await asyncio.to_thread(auth.authorization)
        return auth.authorization()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
        read_timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncResponse:
        """As :meth:`Rest.send <kubeloop.client._rest.Rest.send>`, awaited."""
        request = prepare(
            self.config,
            self._base_headers,
            method,
            path,
            params=params,
            content=content,
            content_type=content_type,
            stream=stream,
            timeout=timeout,
            read_timeout=read_timeout,
            headers=headers,
        )
        auth = self.auth if request.authenticate else None
        attempts = Attempts(self.config, request, self.policy, authenticated=auth is not None)
        if auth is not None and (credential := await self._credential(auth)):
            request.headers["Authorization"] = credential
        while True:
            if self.is_closed:
                raise attempts.closed().error
            delay = self.limiter.reserve(path, attempts.remaining())
            if delay is None:
                raise attempts.timed_out("the client's rate limiter").error
            if delay > 0:
                await self._sleep(delay, attempts.what)
            if (late := attempts.before_attempt()) is not None:
                raise late.error
            try:
                response = await self.transport.send(
                    request.method,
                    request.target,
                    request.headers,
                    request.content,
                    connect_timeout=request.connect_timeout,
                    read_timeout=request.read_timeout,
                    deadline=request.deadline,
                    stream=request.stream,
                )
                code = response.status
                body = b"" if code < 400 else await response.read()
                decision = attempts.after_response(code, response.header("Retry-After"), body)
            except ConnectFailure as err:
                decision = attempts.after_connect_failure(err)
            except ExchangeFailure as err:
                decision = attempts.after_exchange_failure(err)
            if isinstance(decision, Refresh):
                assert auth is not None
                fresh = await asyncio.to_thread(auth.refresh, decision.refused)
                decision = attempts.refreshed(fresh)
            if isinstance(decision, Return):
                return response
            if isinstance(decision, Wait):
                if decision.seconds:
                    log.debug(
                        "%s: %s, retrying after %.1fs (%d)",
                        attempts.what,
                        decision.why,
                        decision.seconds,
                        decision.attempt,
                    )
                    await self._sleep(decision.seconds, attempts.what)
                continue
            assert isinstance(decision, Fail)
            raise decision.error from decision.cause
