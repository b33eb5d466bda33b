"""Build the HTTP transport for a :class:`Config`: TLS, HTTP/2, keepalive,
proxy and authentication.

Ordinary requests share one HTTP/2 connection, as in client-go. Watches do
not: with httpcore (1.0.x), while several HTTP/2 streams are being read and
are idle, the response headers of a new stream can wait until one of them
receives data (reproduced here: a fourth watch stalled 5-60 s). So each watch
gets its own HTTP/1.1 connection from a second pool (``watch=True``), which
costs one TCP connection per informer and never stalls a watch or a request.
TCP keepalive is on so a dead peer (a silently dropped NAT entry, a crashed
node) breaks a long watch within about a minute instead of hanging it.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from typing import Any

import httpx

from kubeloop import __version__
from kubeloop.client._auth import build_auth, exec_client_certificate
from kubeloop.client._config import Config
from kubeloop.errors import ConfigError

USER_AGENT = f"kubeloop/{__version__}"

_KEEPALIVE: list[tuple[int, int, int]] = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
for _name, _value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
    if hasattr(socket, _name):
        _KEEPALIVE.append((socket.IPPROTO_TCP, getattr(socket, _name), _value))


def build_ssl_context(config: Config) -> ssl.SSLContext:
    """The TLS context: the configured CA (else the system store), the
    client certificate from the config or an exec plugin, or no verification
    when insecure-skip-tls-verify is set."""
    try:
        if config.ca_data:
            ctx = ssl.create_default_context(cadata=config.ca_data.decode())
        else:
            ctx = ssl.create_default_context()
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(
            f"{config.source or 'config'}: invalid certificate authority: {err}"
        ) from err
    if config.insecure_skip_tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert_key = (
        (config.cert_data, config.key_data)
        if config.cert_data and config.key_data
        else exec_client_certificate(config)
    )
    if cert_key is not None:
        _load_cert_chain(ctx, *cert_key, source=config.source)
    return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes, source: str) -> None:
    # The ssl module loads certificates only from files: write them to a
    # private directory and remove it at once.
    with tempfile.TemporaryDirectory(prefix="kubeloop-tls-") as tmp:
        cert_path = os.path.join(tmp, "tls.crt")
        key_path = os.path.join(tmp, "tls.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as err:
            raise ConfigError(
                f"{source or 'config'}: client certificate and key do not load: {err}"
            ) from err


def build_async_client(
    config: Config, *, watch: bool = False, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """The HTTP/2 client for requests, or (``watch=True``) the HTTP/1.1
    client whose connections each carry one watch."""
    ctx = ssl_context or build_ssl_context(config)
    transport = httpx.AsyncHTTPTransport(
        verify=ctx,
        http2=config.host.startswith("https://") and not watch,
        socket_options=_KEEPALIVE,
        proxy=config.proxy_url,
        retries=0,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
    headers = {"User-Agent": config.user_agent or USER_AGENT, "Accept": "application/json"}
    kwargs: dict[str, Any] = {}
    auth = build_auth(config)
    if auth is not None:
        kwargs["auth"] = auth
    return httpx.AsyncClient(
        base_url=config.host.rstrip("/"),
        transport=transport,
        headers=headers,
        timeout=httpx.Timeout(config.timeout),
        trust_env=False,
        **kwargs,
    )
