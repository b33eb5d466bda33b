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
  (several times the per-read timeout) counts as such a failure. httpx's
  timeouts bound each connect, read and write, not waits inside the HTTP/2
  connection (a stream slot, the connection's locks), and one chaos run saw
  a create wait there for minutes; the deadline turns that into an error.
Every other non-2xx becomes the typed :class:`ApiError` for its ``Status``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import httpx
import msgspec

from kubeloop.client._config import Config
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
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
        text = body.decode(errors="replace").strip()[:500] or httpx.codes.get_reason_phrase(code)
        status = {"code": code, "message": f"{text} ({request})" if request else text}
    return api_error_from_status(status, code, retry_after)


def attempt_deadline(timeout: float | None) -> float | None:
    """The longest one attempt may take, headers and (when not streaming)
    body: four per-read timeouts, so a large LIST read at a slow pace still
    fits, and at least 10 seconds. None when there is no timeout."""
    if timeout is None or timeout <= 0:
        return None
    return max(10.0, 4 * timeout)


class AsyncRest:
    """The async core shared by the sync :class:`Client` facade."""

    def __init__(
        self,
        config: Config,
        http: httpx.AsyncClient,
        *,
        max_retries: int = 10,
        max_connect_retries: int = 4,
        max_retry_after: float = 60.0,
    ) -> None:
        self.config = config
        self.http = http
        self.max_retries = max_retries
        self.max_connect_retries = max_connect_retries
        self.max_retry_after = max_retry_after
        self.limiter: TokenBucket | PerGroupTokenBuckets = TokenBucket(config.qps, config.burst)
        self._extensions: dict[str, Any] = {}
        if config.tls_server_name:
            self._extensions["sni_hostname"] = config.tls_server_name

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        stream: bool = False,
        timeout: httpx.Timeout | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; return a successful response (streaming if
        asked, else fully read) or raise."""
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        retries = 0
        connect_failures = 0
        while True:
            await self.limiter.acquire(path)
            request = self.http.build_request(
                method,
                path,
                params=params,
                content=content,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                extensions=self._extensions or None,
            )
            deadline = attempt_deadline(
                timeout.read if timeout is not None else self.config.timeout
            )
            sent: httpx.Response | None = None
            try:
                async with asyncio.timeout(deadline):
                    response = sent = await self.http.send(request, stream=True)
                    if not stream and response.status_code < 400:
                        await response.aread()
            except TimeoutError as err:
                if sent is not None:
                    await sent.aclose()
                silent = httpx.ReadTimeout(
                    f"no complete response within {deadline:g}s", request=request
                )
                if method == "GET" and connect_failures < self.max_connect_retries:
                    connect_failures += 1
                    await asyncio.sleep(0.2 * 2**connect_failures)
                    continue
                raise TransportError(f"{method} {self.config.host}{path}: {silent!r}") from err
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                if "CERTIFICATE_VERIFY_FAILED" in str(err):
                    # Retrying cannot help: the CA is wrong for this server.
                    raise TransportError(
                        f"{self.config.host}: the server certificate does not verify against "
                        f"the certificate authority of {self.config.source or 'the config'}: {err}"
                    ) from err
                # A refused or reset connection: nothing was processed.
                connect_failures += 1
                if connect_failures > self.max_connect_retries:
                    raise TransportError(
                        f"{method} {self.config.host}{path}: cannot reach the API server "
                        f"after {connect_failures} attempts: {err!r}"
                    ) from err
                await asyncio.sleep(min(5.0, 0.2 * 2**connect_failures) * random.uniform(1, 1.5))
                continue
            except httpx.HTTPError as err:
                if method == "GET" and connect_failures < self.max_connect_retries:
                    connect_failures += 1
                    await asyncio.sleep(0.2 * 2**connect_failures)
                    continue
                raise TransportError(f"{method} {self.config.host}{path}: {err!r}") from err
            if response.status_code < 400:
                return response
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            code = response.status_code
            if (
                retry_after is not None
                and (code == 429 or code >= 500)
                and retries < self.max_retries
            ):
                retries += 1
                wait = min(retry_after, self.max_retry_after)
                log.debug("%s %s: %d, retrying after %.1fs (%d)", method, path, code, wait, retries)
                await asyncio.sleep(wait)
                continue
            raise error_from_response(code, body, retry_after, f"{method} {path}")
