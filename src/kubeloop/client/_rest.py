"""Requests with client-go's retry rules, error mapping and throttling.

Retry rules (client-go rest.Request):
- a response carrying ``Retry-After`` with 429 or a 5xx is retried after that
  many seconds (capped), up to ``max_retries`` times, for every verb: the
  server did not act on it;
- a connection that could not be opened is retried with exponential backoff
  for every verb (nothing was sent);
- any other transport failure is retried only for GET (others may have been
  applied); after the budget a :class:`TransportError` says what failed;
- an attempt that gets no complete answer within :func:`attempt_deadline`
  (several times the per-read timeout) counts as such a failure, so no
  request can hang on a connection that went silent;
- a 401 is sent once more with a refreshed credential (a re-read token file,
  a re-run exec plugin) if that gives a different one.
Every other non-2xx becomes the typed :class:`ApiError` for its ``Status``.

The rules are decided in :mod:`kubeloop.client._retry` (pure, no I/O), which
the async twin (:mod:`kubeloop.client._async_rest`) follows too; this module
only sends, sleeps and throttles.

::

    rest = Rest(config, Urllib3Transport(config, ctx), auth=build_auth(config))
    body = rest.send("GET", "/api/v1/namespaces", params={"limit": 500}).read()
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kubeloop.client._auth import Authenticator
from kubeloop.client._config import Config
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
from kubeloop.client._retry import (
    Attempts,
    Fail,
    Policy,
    Prepared,
    Refresh,
    Return,
    Wait,
    attempt_deadline,
    base_headers,
    encode_query,
    error_from_response,
    parse_retry_after,
    prepare,
)
from kubeloop.client._transport import ConnectFailure, ExchangeFailure, Response, Transport
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import TransportError

__all__ = [
    "Rest",
    "attempt_deadline",
    "encode_query",
    "error_from_response",
    "parse_retry_after",
]

log = logging.getLogger("kubeloop.client")


class Rest:
    """Requests over one :class:`Transport` with client-go's rules (see the
    module docstring); safe to use from many threads at once.

    ``stop`` is the owning client's closed flag: a retry or throttle wait
    ends as soon as it is set.
    """

    def __init__(
        self,
        config: Config,
        transport: Transport,
        *,
        auth: Authenticator | None = None,
        limiter: TokenBucket | PerGroupTokenBuckets | None = None,
        stop: threading.Event | None = None,
        clock: Clock = REAL_CLOCK,
        max_retries: int = 10,
        max_connect_retries: int = 4,
        max_retry_after: float = 60.0,
    ) -> None:
        self.config = config
        self.transport = transport
        self.auth = auth
        self.limiter = limiter if limiter is not None else TokenBucket(config.qps, config.burst)
        self.stop = stop if stop is not None else threading.Event()
        self._clock = clock
        self.max_retries = max_retries
        self.max_connect_retries = max_connect_retries
        self.max_retry_after = max_retry_after
        self._base_headers = base_headers(config)

    @property
    def policy(self) -> Policy:
        return Policy(self.max_retries, self.max_connect_retries, self.max_retry_after)

    def _sleep(self, seconds: float, what: str) -> None:
        if self._clock.sleep(seconds, self.stop):
            raise TransportError(f"{what}: the client was closed")

    def send(
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
    ) -> Response:
        """Send with retries; return a successful response (its body unread)
        or raise :class:`ApiError` / :class:`TransportError`.

        ``timeout`` bounds connecting and each read (default
        ``config.timeout``); ``read_timeout`` overrides the per-read bound
        (a watch's idle timeout). A non-streaming attempt also has a
        deadline (:func:`attempt_deadline`)."""
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
        if auth is not None and (credential := auth.authorization()):
            request.headers["Authorization"] = credential
        while True:
            if self.stop.is_set():
                raise attempts.closed().error
            if not self.limiter.acquire(path, self.stop, attempts.remaining()):
                raise attempts.timed_out("the client's rate limiter").error
            if (late := attempts.before_attempt()) is not None:
                raise late.error
            try:
                response = self._attempt(request)
                code = response.status
                body = b"" if code < 400 else response.read()
                decision = attempts.after_response(code, response.header("Retry-After"), body)
            except ConnectFailure as err:
                decision = attempts.after_connect_failure(err)
            except ExchangeFailure as err:
                decision = attempts.after_exchange_failure(err)
            if isinstance(decision, Refresh):
                assert auth is not None
                decision = attempts.refreshed(auth.refresh(decision.refused))
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
                    self._sleep(decision.seconds, attempts.what)
                continue
            assert isinstance(decision, Fail)
            raise decision.error from decision.cause

    def _attempt(self, request: Prepared) -> Response:
        return self.transport.send(
            request.method,
            request.target,
            request.headers,
            request.content,
            connect_timeout=request.connect_timeout,
            read_timeout=request.read_timeout,
            deadline=request.deadline,
            stream=request.stream,
        )
