"""Exec credential plugins (client-go's ``plugin/pkg/client/auth/exec``).

A kubeconfig user may name a command (``aws eks get-token``,
``gke-gcloud-auth-plugin``, ``kubelogin``) that prints an ``ExecCredential``
with a token and/or a client certificate::

    provider = ExecCredentialProvider(config.exec_config)
    provider.token()        # runs the plugin once, then serves the cached token
    provider.invalidate()   # after a 401: the next token() runs it again

The protocol (client.authentication.k8s.io v1 and v1beta1): the plugin gets
``KUBERNETES_EXEC_INFO`` (an ExecCredential whose ``spec`` says whether it
may talk to the user and, with ``provideClusterInfo``, which cluster it is
for), the configured ``env`` over ours, and the terminal as stdin only when
interactive. Its credential is cached until ``expirationTimestamp`` (forever
without one) or until the server answers 401.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from kubeloop.client._config import Config, ExecConfig
from kubeloop.client._pem import check_certificates, check_private_key
from kubeloop.errors import ConfigError

_INSTALL_HELP = (
    "It looks like you are trying to use a client-go credential plugin that is not installed.\n\n"
    "To learn more about this feature, consult the documentation available at:\n"
    "      https://kubernetes.io/docs/reference/access-authn-authz/authentication/"
    "#client-go-credential-plugins"
)
_STDERR_LIMIT = 4000


@dataclass(frozen=True)
class ExecCredential:
    """What a plugin returned: a token, a client certificate and key (PEM), or both."""

    # Secrets stay out of repr() (a credential in a log line or a failure).
    token: str | None = field(repr=False)
    client_certificate_data: bytes | None = None
    client_key_data: bytes | None = field(default=None, repr=False)
    #: Seconds since the epoch after which the credential must not be used.
    expiration: float | None = None

    def expired(self, now: float) -> bool:
        return self.expiration is not None and now > self.expiration


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


class ExecCredentialProvider:
    """A :class:`~kubeloop.client._config.TokenSource` that runs an exec plugin.

    ``cluster`` is the ``spec.cluster`` handed to plugins that set
    ``provideClusterInfo`` (see :func:`cluster_info`). ``clock`` returns
    seconds since the epoch (injectable for tests); ``timeout`` bounds one run
    of the plugin (``interactive_timeout`` when it may prompt the user).
    """

    def __init__(
        self,
        exec_config: ExecConfig,
        cluster: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 60.0,
        interactive_timeout: float = 300.0,
        is_terminal: Callable[[], bool] = _stdin_is_terminal,
    ) -> None:
        self.exec_config = exec_config
        self._cluster = cluster
        self._clock = clock
        self._timeout = timeout
        self._interactive_timeout = interactive_timeout
        self._is_terminal = is_terminal
        # Guards _cached, and is held while the plugin runs so that concurrent
        # requests wait for one run instead of starting one each.
        self._lock = threading.Lock()
        self._cached: ExecCredential | None = None

    def peek(self) -> ExecCredential | None:
        """The cached credential if still valid, without blocking or running anything."""
        cached = self._cached  # one attribute read: atomic, and credentials are immutable
        return cached if cached is not None and not cached.expired(self._clock()) else None

    def needs_refresh(self) -> bool:
        """True when the next :meth:`credential` call would run the plugin."""
        return self.peek() is None

    def credential(self) -> ExecCredential:
        """The cached credential, or a new one from running the plugin."""
        with self._lock:
            cached = self._cached
            if cached is not None and not cached.expired(self._clock()):
                return cached
            self._cached = None
            credential = self._run()
            self._cached = credential
            return credential

    def token(self) -> str | None:
        return self.credential().token

    def client_certificate(self) -> tuple[bytes, bytes] | None:
        """The PEM client certificate and key, if the plugin issues them."""
        cred = self.credential()
        if cred.client_certificate_data and cred.client_key_data:
            return cred.client_certificate_data, cred.client_key_data
        return None

    def invalidate(self, token: str | None = None) -> None:
        """Forget the credential so the next use runs the plugin again.

        With ``token`` (the one a request was refused with), forget only if it
        is still the cached one: when several requests fail together with the
        same expired token, the plugin runs once, not once per request.
        """
        with self._lock:
            if self._cached is not None and (token is None or self._cached.token == token):
                self._cached = None

    # -- running the plugin --------------------------------------------------

    @property
    def _name(self) -> str:
        source = f" (configured in {self.exec_config.source})" if self.exec_config.source else ""
        return f"exec plugin {self.exec_config.command}{source}"

    def _interactive(self) -> bool:
        mode = self.exec_config.interactive_mode
        if mode == "Never":
            return False
        terminal = self._is_terminal()
        if mode == "Always" and not terminal:
            raise ConfigError(
                f"{self._name}: interactiveMode is Always but standard input is not a terminal"
            )
        return terminal

    def _run(self) -> ExecCredential:
        cfg = self.exec_config
        interactive = self._interactive()
        spec: dict[str, Any] = {"interactive": interactive}
        if cfg.provide_cluster_info and self._cluster is not None:
            spec["cluster"] = self._cluster
        info = {"apiVersion": cfg.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **cfg.env, "KUBERNETES_EXEC_INFO": json.dumps(info, default=str)}
        path = shutil.which(cfg.command)
        if path is None:
            if os.path.isfile(cfg.command):  # a path to a file without the x bit
                raise ConfigError(f"{self._name}: {cfg.command} is not executable")
            raise self._not_found()
        timeout = self._interactive_timeout if interactive else self._timeout
        try:
            proc = subprocess.run(
                [path, *cfg.args],
                env=env,
                stdin=None if interactive else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                # An interactive plugin prompts on stderr, so leave it on the terminal.
                stderr=None if interactive else subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise self._not_found() from None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"{self._name}: did not finish within {timeout:g} s") from None
        except OSError as err:
            raise ConfigError(f"{self._name}: cannot run: {err}") from None
        if proc.returncode != 0:
            stderr = (proc.stderr or b"").decode("utf-8", "replace").strip()[-_STDERR_LIMIT:]
            if stderr:
                detail = f"; stderr: {stderr}"
            else:  # when interactive, stderr went to the terminal
                detail = "" if interactive else " (no output on stderr)"
            raise ConfigError(f"{self._name}: failed with exit code {proc.returncode}{detail}")
        return self._parse(proc.stdout)

    def _not_found(self) -> ConfigError:
        hint = f"\n\n{self.exec_config.install_hint}" if self.exec_config.install_hint else ""
        return ConfigError(f"{self._name}: executable not found\n\n{_INSTALL_HELP}{hint}")

    def _parse(self, stdout: bytes) -> ExecCredential:
        try:
            doc = json.loads(stdout)
        except (ValueError, RecursionError) as err:
            raise ConfigError(f"{self._name}: output is not valid JSON: {err}") from None
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
            raise ConfigError(f"{self._name}: output is not an ExecCredential")
        if doc.get("apiVersion") != self.exec_config.api_version:
            raise ConfigError(
                f"{self._name}: configured for apiVersion {self.exec_config.api_version},"
                f" but the plugin returned apiVersion {doc.get('apiVersion')!r}"
            )
        status = doc.get("status")
        if not isinstance(status, dict):
            raise ConfigError(f"{self._name}: the ExecCredential has no status")
        token = self._field(status, "token")
        cert = self._field(status, "clientCertificateData")
        key = self._field(status, "clientKeyData")
        if not (token or cert or key):
            raise ConfigError(f"{self._name}: returned neither a token nor a certificate and key")
        if bool(cert) != bool(key):
            raise ConfigError(f"{self._name}: returned only one of certificate and key")
        cert_data = key_data = None
        if cert and key:
            cert_data, key_data = cert.encode(), key.encode()
            for name, data, check in (
                ("clientCertificateData", cert_data, check_certificates),
                ("clientKeyData", key_data, check_private_key),
            ):
                try:
                    check(data)
                except ValueError as err:
                    raise ConfigError(f"{self._name}: status.{name}: {err}") from None
        expiry = self._field(status, "expirationTimestamp")
        return ExecCredential(token or None, cert_data, key_data, self._expiration(expiry))

    def _field(self, status: dict[str, Any], key: str) -> str | None:
        value = status.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{self._name}: status.{key} is not a string")
        return value

    def _expiration(self, value: str | None) -> float | None:
        if not value:
            return None
        try:
            when = datetime.fromisoformat(value.upper())
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise ConfigError(
                f"{self._name}: status.expirationTimestamp {value!r} is not an RFC 3339 time"
            )
        return when.timestamp()


def cluster_info(config: Config) -> dict[str, Any]:
    """``spec.cluster`` for plugins that set ``provideClusterInfo``."""
    info: dict[str, Any] = {"server": config.host}
    if config.tls_server_name:
        info["tls-server-name"] = config.tls_server_name
    if config.insecure_skip_tls_verify:
        info["insecure-skip-tls-verify"] = True
    if config.ca_data:
        info["certificate-authority-data"] = base64.b64encode(config.ca_data).decode()
    if config.proxy_url:
        info["proxy-url"] = config.proxy_url
    if "exec_cluster_config" in config.extra:
        info["config"] = config.extra["exec_cluster_config"]
    return info


# Providers shared by every client built from an equal configuration, so the
# auth flow and the TLS setup (client certificate) see one cached credential
# and the plugin is not run once per client (client-go keeps the same cache).
_providers_lock = threading.Lock()  # guards _providers
_providers: dict[str, ExecCredentialProvider] = {}


def provider_for(config: Config) -> ExecCredentialProvider | None:
    """The shared provider for ``config``'s exec plugin (None without one)."""
    if config.exec_config is None:
        return None
    cluster = cluster_info(config) if config.exec_config.provide_cluster_info else None
    key = json.dumps([asdict(config.exec_config), cluster], sort_keys=True, default=str)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = ExecCredentialProvider(config.exec_config, cluster)
        return provider
