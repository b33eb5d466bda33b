"""client-go's retry rules as a pure state machine: what to do after each
attempt of one request, decided without I/O, so the sync
:class:`~kubeloop.client._rest.Rest` and its async twin
:class:`~kubeloop.client._async_rest.AsyncRest` follow the same rules from
one implementation and differ only in how they wait and send.

::

    attempts = Attempts(request, policy)
    while True:
        ...send...
        decision = attempts.after_response(code, retry_after, body)   # or after_*_failure
        if isinstance(decision, Return): return response
        if isinstance(decision, Wait): sleep(decision.seconds); continue
        if isinstance(decision, Refresh): fresh = auth.refresh(decision.refused); ...
        raise decision.error                                           # Fail

The rules (client-go rest.Request): see :mod:`kubeloop.client._rest`.
"""

from __future__ import annotations

import http
import random
import time
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import quote, urlencode

import msgspec

from kubeloop.client._config import Config
from kubeloop.client._tls import server_name, trust_description
from kubeloop.client._transport import USER_AGENT, ConnectFailure, ExchangeFailure
from kubeloop.errors import ApiError, KubeloopError, TransportError, api_error_from_status

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


@dataclass(frozen=True, slots=True)
class Policy:
    """How many times, and how long, a request may be retried."""

    max_retries: int = 10
    max_connect_retries: int = 4
    max_retry_after: float = 60.0


@dataclass(slots=True)
class Prepared:
    """One request as the transport sends it, built once for all attempts."""

    method: str
    path: str
    target: str
    headers: dict[str, str]
    content: bytes | None
    connect_timeout: float | None
    read_timeout: float | None
    deadline: float | None
    stream: bool
    #: Whether the credential is this client's to add (no Authorization given).
    authenticate: bool
    #: time.monotonic() by which the whole call (throttle, retries, every
    #: attempt) must end: set by an explicit ``timeout``, as client-go's
    #: ``Request.Timeout`` bounds the request's context. None: no bound.
    ends: float | None = None

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"


def base_headers(config: Config) -> dict[str, str]:
    return {
        "User-Agent": config.user_agent or USER_AGENT,
        "Accept": "application/json",
        "Accept-Encoding": "gzip",
    }


def prepare(
    config: Config,
    base: dict[str, str],
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None,
    content: bytes | None,
    content_type: str | None,
    stream: bool,
    timeout: float | None,
    read_timeout: float | None,
    headers: dict[str, str] | None,
) -> Prepared:
    """Headers, target and timeouts of a request: ``timeout`` bounds
    connecting and each read (default ``config.timeout``); ``read_timeout``
    overrides the per-read bound (a watch's idle timeout); a non-streaming
    attempt also has a deadline (:func:`attempt_deadline`).

    An explicit ``timeout`` on a non-streaming request also bounds the whole
    call, throttle wait and retries included (``Prepared.ends``): leader
    election renews with the time left of its renew deadline, and a renewal
    that waited past it (behind the rate limiter, or retrying a refused
    connection) would hold a lease another replica may already have taken."""
    all_headers = dict(base)
    if headers:
        all_headers.update(headers)
    if content_type:
        all_headers["Content-Type"] = content_type
    connect_timeout = timeout if timeout is not None else config.timeout
    read = read_timeout if read_timeout is not None else connect_timeout
    return Prepared(
        method=method,
        path=path,
        target=path + encode_query(params),
        headers=all_headers,
        content=content,
        connect_timeout=connect_timeout,
        read_timeout=read,
        deadline=None if stream else attempt_deadline(read),
        stream=stream,
        authenticate="Authorization" not in all_headers,
        ends=None if timeout is None or stream else time.monotonic() + timeout,
    )


@dataclass(frozen=True, slots=True)
class Return:
    """The response is the answer (2xx or 3xx)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Send again after ``seconds``; ``why`` (what failed: "429", "connect
    failed (...)") and ``attempt`` (the how-manieth retry) are for the log."""

    seconds: float
    why: str = ""
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class Refresh:
    """A 401: drop the ``refused`` credential; call :meth:`Attempts.refreshed`
    with what the authenticator gives instead."""

    refused: str | None


@dataclass(frozen=True, slots=True)
class Fail:
    """Raise ``error`` (from ``cause``, when a transport failure led to it)."""

    error: KubeloopError
    cause: BaseException | None = None


Decision: TypeAlias = Return | Wait | Refresh | Fail


class Attempts:
    """The retry state of one request (see the module docstring)."""

    def __init__(
        self, config: Config, request: Prepared, policy: Policy, *, authenticated: bool
    ) -> None:
        self.config = config
        self.request = request
        self.policy = policy
        self.what = f"{request.method} {config.host}{request.path}"
        self._retries = 0
        self._connect_failures = 0
        # A 401 is answered by one refresh, and only with an authenticator.
        self._refreshed = not authenticated
        self._pending: tuple[int, bytes, float | None] | None = None

    def closed(self) -> Fail:
        return Fail(TransportError(f"{self.what}: the client is closed"))

    def remaining(self) -> float | None:
        """Seconds left of the whole call's bound (``Prepared.ends``), or None."""
        ends = self.request.ends
        return None if ends is None else ends - time.monotonic()

    def timed_out(self, waiting_for: str) -> Fail:
        """The whole call's bound passed (or would, ``waiting_for`` something)."""
        return Fail(TransportError(f"{self.what}: no answer within its timeout ({waiting_for})"))

    def before_attempt(self) -> Fail | None:
        """Before each attempt: with a bound on the whole call, fail once it
        has passed, else clip this attempt's timeouts to what is left."""
        left = self.remaining()
        if left is None:
            return None
        if left <= 0:
            return self.timed_out("retries used it up")
        r = self.request
        r.connect_timeout = left if r.connect_timeout is None else min(r.connect_timeout, left)
        r.read_timeout = left if r.read_timeout is None else min(r.read_timeout, left)
        r.deadline = left if r.deadline is None else min(r.deadline, left)
        return None

    def _wait(self, seconds: float, why: str, attempt: int) -> Decision:
        left = self.remaining()
        if left is not None and seconds >= left:
            return self.timed_out(f"a retry after {seconds:.1f}s, {why}")
        return Wait(seconds, why, attempt)

    def after_response(self, code: int, retry_after_header: str | None, body: bytes) -> Decision:
        """After a response with status ``code`` (``body`` read unless it is
        a success)."""
        if code < 400:
            return Return()
        retry_after = parse_retry_after(retry_after_header)
        if code == 401 and not self._refreshed:
            self._refreshed = True
            self._pending = (code, body, retry_after)
            return Refresh(self.request.headers.get("Authorization"))
        return self._status(code, body, retry_after)

    def refreshed(self, fresh: str | None) -> Decision:
        """After :class:`Refresh`: ``fresh`` is the new credential, or None."""
        assert self._pending is not None
        code, body, retry_after = self._pending
        self._pending = None
        if fresh is not None:
            self.request.headers["Authorization"] = fresh
            return Wait(0.0)
        return self._status(code, body, retry_after)

    def _status(self, code: int, body: bytes, retry_after: float | None) -> Decision:
        if (
            retry_after is not None
            and (code == 429 or code >= 500)
            and self._retries < self.policy.max_retries
        ):
            self._retries += 1
            wait = min(retry_after, self.policy.max_retry_after)
            return self._wait(wait, str(code), self._retries)
        return Fail(error_from_response(code, body, retry_after, self.request.what))

    def after_connect_failure(self, err: ConnectFailure) -> Decision:
        """Nothing was sent: retried with backoff, for every verb."""
        if err.certificate:
            # Retrying cannot help: the CA (or the name) is wrong for this
            # server. Say which server, which name and which CA.
            return Fail(
                TransportError(
                    f"{self.config.host}: the server certificate for "
                    f"{server_name(self.config)} does not verify against "
                    f"{trust_description(self.config)}: {err}"
                ),
                err,
            )
        self._connect_failures += 1
        if self._connect_failures > self.policy.max_connect_retries:
            return Fail(
                TransportError(
                    f"{self.what}: cannot reach the API server after "
                    f"{self._connect_failures} attempts: {err}"
                ),
                err,
            )
        backoff = min(5.0, 0.2 * 2**self._connect_failures) * random.uniform(1, 1.5)
        return self._wait(backoff, f"connect failed ({err})", self._connect_failures)

    def after_exchange_failure(self, err: ExchangeFailure) -> Decision:
        """The request may have been applied: only a GET is sent again."""
        if (
            self.request.method == "GET"
            and self._connect_failures < self.policy.max_connect_retries
        ):
            self._connect_failures += 1
            return self._wait(
                0.2 * 2**self._connect_failures, f"exchange failed ({err})", self._connect_failures
            )
        return Fail(TransportError(f"{self.what}: {err}"), err)
