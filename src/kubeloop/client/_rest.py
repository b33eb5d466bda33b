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

::

    rest = Rest(config, Urllib3Transport(config, ctx), auth=build_auth(config))
    body = rest.send("GET", "/api/v1/namespaces", params={"limit": 500}).read()
"""

from __future__ import annotations

import http
import logging
import random
import threading
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from kubeloop.client._auth import Authenticator
from kubeloop.client._config import Config
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
from kubeloop.client._tls import server_name, trust_description
from kubeloop.client._transport import (
    USER_AGENT,
    ConnectFailure,
    ExchangeFailure,
    Response,
    Transport,
)
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import ApiError, TransportError, api_error_from_status

log = logging.getLogger("kubeloop.client")

_status_decoder = msgspec.json.Decoder(dict[str, Any])


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: the API server never sends it
    return max(0.0, seconds)


def _reason_phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return f"HTTP {code}"


def error_from_response(
    code: int, body: bytes, retry_after: float | None, request: str = ""
) -> ApiError:
    """Decode a failure body into the typed error (a Status if it is one).
    A body that is not a Status (e.g. "404 page not found" for a resource the
    server does not serve, such as a CRD not installed yet) keeps its text
    and names the request, so the message says what was asked."""
    status: dict[str, Any] | None = None
    if body:
        try:
            decoded = _status_decoder.decode(body)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            status = decoded
    if status is None:
        text = body.decode(errors="replace").strip()[:500] or _reason_phrase(code)
        status = {"code": code, "message": f"{text} ({request})" if request else text}
    return api_error_from_status(status, code, retry_after)


def attempt_deadline(timeout: float | None) -> float | None:
    """The longest one attempt may take, headers and (when not streaming)
    body: four per-read timeouts, so a large LIST read at a slow pace still
    fits, and at least 10 seconds. None when there is no timeout."""
    if timeout is None or timeout <= 0:
        return None
    return max(10.0, 4 * timeout)


def encode_query(params: dict[str, Any] | None) -> str:
    """``?k=v&...`` for a request path (booleans as ``true``/``false``, as the
    API server parses them), or ``""``."""
    if not params:
        return ""
    pairs = [
        (k, ("true" if v else "false") if isinstance(v, bool) else str(v))
        for k, v in params.items()
        if v is not None
    ]
    return "?" + urlencode(pairs, quote_via=quote) if pairs else ""


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
        agent = config.user_agent or USER_AGENT
        self._base_headers = {
            "User-Agent": agent,
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
        }

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
        all_headers = dict(self._base_headers)
        if headers:
            all_headers.update(headers)
        if content_type:
            all_headers["Content-Type"] = content_type
        auth = self.auth if "Authorization" not in all_headers else None
        target = path + encode_query(params)
        what = f"{method} {self.config.host}{path}"
        connect_timeout = timeout if timeout is not None else self.config.timeout
        read = read_timeout if read_timeout is not None else connect_timeout
        deadline = None if stream else attempt_deadline(read)
        retries = 0
        connect_failures = 0
        refreshed = False
        credential = auth.authorization() if auth is not None else None
        while True:
            if self.stop.is_set():
                raise TransportError(f"{what}: the client is closed")
            self.limiter.acquire(path, self.stop)
            if credential:
                all_headers["Authorization"] = credential
            try:
                response = self.transport.send(
                    method,
                    target,
                    all_headers,
                    content,
                    connect_timeout=connect_timeout,
                    read_timeout=read,
                    deadline=deadline,
                    stream=stream,
                )
                code = response.status
                if code < 400:
                    return response
                body = response.read()
            except ConnectFailure as err:
                if err.certificate:
                    # Retrying cannot help: the CA (or the name) is wrong for
                    # this server. Say which server, which name and which CA.
                    raise TransportError(
                        f"{self.config.host}: the server certificate for "
                        f"{server_name(self.config)} does not verify against "
                        f"{trust_description(self.config)}: {err}"
                    ) from err
                # A refused or reset connection: nothing was processed.
                connect_failures += 1
                if connect_failures > self.max_connect_retries:
                    raise TransportError(
                        f"{what}: cannot reach the API server after {connect_failures} "
                        f"attempts: {err}"
                    ) from err
                self._sleep(min(5.0, 0.2 * 2**connect_failures) * random.uniform(1, 1.5), what)
                continue
            except ExchangeFailure as err:
                # Only a GET is safe to send again: anything else may have
                # been applied.
                if method == "GET" and connect_failures < self.max_connect_retries:
                    connect_failures += 1
                    self._sleep(0.2 * 2**connect_failures, what)
                    continue
                raise TransportError(f"{what}: {err}") from err
            if code == 401 and auth is not None and not refreshed:
                refreshed = True
                fresh = auth.refresh(credential)
                if fresh is not None:
                    credential = fresh
                    continue
            retry_after = parse_retry_after(response.header("Retry-After"))
            if (
                retry_after is not None
                and (code == 429 or code >= 500)
                and retries < self.max_retries
            ):
                retries += 1
                wait = min(retry_after, self.max_retry_after)
                log.debug("%s %s: %d, retrying after %.1fs (%d)", method, path, code, wait, retries)
                self._sleep(wait, what)
                continue
            raise error_from_response(code, body, retry_after, f"{method} {path}")
