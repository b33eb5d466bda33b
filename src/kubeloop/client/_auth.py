"""httpx authentication built from a :class:`Config` (client-go's auth round trippers).

::

    auth = build_auth(config)   # None when the config carries no credentials
    client = httpx.AsyncClient(auth=auth, ...)

Which credential, as in client-go's ``HTTPWrappersForConfig``: a bearer token
(re-read from ``bearer_token_file`` at most every minute, because bound
service-account tokens expire and the kubelet rotates the file) or basic auth
(never both), else the exec plugin's token. A request that already carries an
``Authorization`` header is sent as it is.

On 401 the credential is dropped (the token file is re-read, the exec plugin
run again) and the request is sent once more if that produced a different
token; a second 401 is returned to the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from pathlib import Path
from typing import Protocol

import anyio.to_thread
import httpx

from kubeloop.client._config import Config
from kubeloop.client._exec import provider_for
from kubeloop.errors import ConfigError

log = logging.getLogger("kubeloop.client")

#: How often a token file is re-read (client-go's NewCachedFileTokenSource).
TOKEN_FILE_PERIOD = 60.0


class RefreshableTokenSource(Protocol):
    """A :class:`~kubeloop.client._config.TokenSource` that can say whether
    ``token()`` would block (read a file, run a plugin) and can drop a token
    only if it is still the current one."""

    def token(self) -> str | None: ...

    def invalidate(self, token: str | None = None) -> None: ...

    def needs_refresh(self) -> bool: ...


class FileTokenSource:
    """A token read from a file, re-read at most every ``period`` seconds and
    after :meth:`invalidate`.

    When a re-read fails (the kubelet is replacing the file, say) the previous
    token is kept and the failure logged, as client-go does; only a first read
    that fails raises. ``fallback`` (the token the config was loaded with)
    serves as that previous token.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        period: float = TOKEN_FILE_PERIOD,
        clock: Callable[[], float] = time.monotonic,
        fallback: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._period = period
        self._clock = clock
        self._lock = threading.Lock()  # guards _token and _read_at
        self._token = fallback
        self._read_at: float | None = None

    def needs_refresh(self) -> bool:
        read_at = self._read_at
        return read_at is None or self._clock() - read_at >= self._period

    def token(self) -> str | None:
        with self._lock:
            if not self.needs_refresh():
                return self._token
            now = self._clock()
            try:
                token = self.path.read_text("utf-8").strip()
                if not token:
                    raise ValueError("the file is empty")
            except (OSError, ValueError) as err:
                if self._token is None:
                    raise ConfigError(f"token file {self.path}: cannot read: {err}") from None
                log.warning(
                    "token file %s: cannot re-read (%s); keeping the last token", self.path, err
                )
            else:
                self._token = token
            self._read_at = now
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        with self._lock:
            if token is None or token == self._token:
                self._read_at = None


class BearerTokenAuth(httpx.Auth):
    """A fixed bearer token."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.setdefault("Authorization", self._header)
        yield request


class TokenSourceAuth(httpx.Auth):
    """A bearer token from a :class:`RefreshableTokenSource`, refreshed and
    retried once on 401. The async flow runs blocking refreshes (an exec
    plugin, a file read) in a worker thread so the event loop keeps going."""

    # Read the body up front so that a refused request can be sent again.
    requires_request_body = True

    def __init__(self, source: RefreshableTokenSource) -> None:
        self.source = source

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if "Authorization" in request.headers:
            yield request
            return
        request.read()
        token = self.source.token()
        response = yield _authorized(request, token)
        if response.status_code == 401:
            fresh = self._refresh(token)
            if fresh is not None:
                yield _authorized(request, fresh)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if "Authorization" in request.headers:
            yield request
            return
        await request.aread()
        if self.source.needs_refresh():
            token = await anyio.to_thread.run_sync(self.source.token)
        else:
            token = self.source.token()
        response = yield _authorized(request, token)
        if response.status_code == 401:
            fresh = await anyio.to_thread.run_sync(self._refresh, token)
            if fresh is not None:
                yield _authorized(request, fresh)

    def _refresh(self, refused: str | None) -> str | None:
        """Drop the refused token; return a new one worth a retry, if any."""
        self.source.invalidate(refused)
        fresh = self.source.token()
        return fresh if fresh and fresh != refused else None


def _authorized(request: httpx.Request, token: str | None) -> httpx.Request:
    if token:
        request.headers["Authorization"] = f"Bearer {token}"
    return request


def build_auth(config: Config) -> httpx.Auth | None:
    """The httpx auth for ``config``'s credentials, or None for none (client
    certificates are TLS, not httpx auth)."""
    has_token = bool(config.bearer_token or config.bearer_token_file)
    has_basic = bool(config.username or config.password)
    if has_token and has_basic:
        raise ConfigError(
            f"{config.source or 'config'}: username/password or bearer token may be set,"
            " but not both"
        )
    if config.bearer_token_file:
        return TokenSourceAuth(
            FileTokenSource(config.bearer_token_file, fallback=config.bearer_token)
        )
    if config.bearer_token:
        return BearerTokenAuth(config.bearer_token)
    if has_basic:
        return httpx.BasicAuth(config.username or "", config.password or "")
    provider = provider_for(config)
    return TokenSourceAuth(provider) if provider is not None else None


def exec_client_certificate(config: Config) -> tuple[bytes, bytes] | None:
    """The PEM ``(certificate, key)`` from ``config``'s exec plugin, if it
    issues one (runs the plugin unless its credential is cached)."""
    provider = provider_for(config)
    return provider.client_certificate() if provider is not None else None
