"""The ``Authorization`` a request carries, built from a :class:`Config`
(client-go's auth round trippers), independent of the HTTP library.

::

    auth = build_auth(config)   # None when the config carries no credentials
    headers["Authorization"] = auth.authorization()
    ...                         # on 401: auth.refresh(refused) -> a new value or None

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

import base64
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

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


class Authenticator(Protocol):
    """What the request layer asks of a credential."""

    def authorization(self) -> str | None:
        """The ``Authorization`` header value for the next request (may read
        a token file or run an exec plugin; cached inside)."""
        ...

    def refresh(self, refused: str | None) -> str | None:
        """After a 401 for ``refused``: drop that credential and return a
        different header value worth one more try, or None."""
        ...

    def would_block(self) -> bool:
        """Whether :meth:`authorization` would read a file or run a plugin
        now, so an event loop runs it in a thread instead."""
        ...


class StaticAuth:
    """A fixed header value: a bearer token, or basic auth."""

    def __init__(self, header: str) -> None:
        self._header = header

    def authorization(self) -> str | None:
        return self._header

    def refresh(self, refused: str | None) -> str | None:
        return None  # the same value would be refused again

    def would_block(self) -> bool:
        return False


class BearerTokenAuth(StaticAuth):
    """A fixed bearer token."""

    def __init__(self, token: str) -> None:
        super().__init__(f"Bearer {token}")


class BasicAuth(StaticAuth):
    """HTTP basic auth (kubeconfig username/password)."""

    def __init__(self, username: str, password: str) -> None:
        userpass = base64.b64encode(f"{username}:{password}".encode()).decode()
        super().__init__(f"Basic {userpass}")


class TokenSourceAuth:
    """A bearer token from a :class:`RefreshableTokenSource` (a token file, an
    exec plugin), fetched again once after a 401."""

    def __init__(self, source: RefreshableTokenSource) -> None:
        self.source = source

    def authorization(self) -> str | None:
        token = self.source.token()
        return f"Bearer {token}" if token else None

    def refresh(self, refused: str | None) -> str | None:
        token = refused.removeprefix("Bearer ") if refused else None
        self.source.invalidate(token)
        fresh = self.source.token()
        return f"Bearer {fresh}" if fresh and fresh != token else None

    def would_block(self) -> bool:
        return self.source.needs_refresh()


def build_auth(config: Config) -> Authenticator | None:
    """The credential for ``config``, or None for none (client certificates
    are TLS, not a header)."""
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
        return BasicAuth(config.username or "", config.password or "")
    provider = provider_for(config)
    return TokenSourceAuth(provider) if provider is not None else None


def exec_client_certificate(config: Config) -> tuple[bytes, bytes] | None:
    """The PEM ``(certificate, key)`` from ``config``'s exec plugin, if it
    issues one (runs the plugin unless its credential is cached)."""
    provider = provider_for(config)
    return provider.client_certificate() if provider is not None else None
