"""The resolved client configuration (client-go's ``rest.Config``).

A :class:`Config` is what every loader produces (kubeconfig, in-cluster,
explicit master URL) and what the transport consumes; it holds no open
resources. Credentials that change over time (token files, exec plugins) are
represented by providers, so the transport asks for a fresh value instead of
caching a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class TokenSource(Protocol):
    """Supplies a bearer token and, for an exec plugin, a client certificate.

    ``token()`` is called before each request and must be cheap (cache
    inside). ``invalidate()`` is called after a 401 so the next ``token()``
    fetches a new credential (client-go re-runs the exec plugin on 401).
    """

    def token(self) -> str | None: ...

    def invalidate(self) -> None: ...


@dataclass
class ExecConfig:
    """A ``users[].user.exec`` credential plugin (client.authentication.k8s.io)."""

    command: str
    api_version: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    install_hint: str = ""
    interactive_mode: str = "IfAvailable"
    provide_cluster_info: bool = False
    #: The kubeconfig file the plugin was configured in (for error messages
    #: and for resolving a relative command path).
    source: str = ""


@dataclass
class Config:
    """Everything needed to talk to one API server as one user."""

    host: str
    #: PEM bytes of the CA bundle to trust (None: system trust store).
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    #: PEM bytes of the client certificate and key (mutual TLS).
    cert_data: bytes | None = None
    #: Credentials (the key, the token, the password, the exec plugin's
    #: environment) are left out of repr(), so that a Config in a log line,
    #: an exception or a test failure shows where it came from, not the keys.
    key_data: bytes | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    #: Path of a token file re-read periodically (bound service-account
    #: tokens expire; client-go re-reads every minute).
    bearer_token_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exec_config: ExecConfig | None = None
    #: Default namespace for namespaced resources (context or in-cluster file).
    namespace: str = "default"
    #: Client-side rate limit (client-go defaults: 5 QPS, burst 10).
    qps: float = 5.0
    burst: int = 10
    #: Seconds for connect/read of ordinary requests.
    timeout: float = 30.0
    #: Seconds a watch may receive nothing before it is ended and resumed
    #: from its last resourceVersion on a new connection (the server sends a
    #: bookmark about every minute, so only a dead connection is that quiet).
    watch_idle_timeout: float = 75.0
    user_agent: str | None = None
    #: Where the configuration came from, for messages ("kubeconfig
    #: /home/u/.kube/config context prod", "in-cluster").
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
