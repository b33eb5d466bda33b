"""The TLS context for a :class:`Config`: which certificate authority to
trust and which client certificate to present (from the kubeconfig or an
exec plugin).

::

    ctx = build_ssl_context(config)

TLS 1.2 is the minimum, as client-go's (and the API server's) default. With
``insecure-skip-tls-verify`` nothing about the server is checked, so
anyone on the path reads the token and the traffic: allowed, as kubectl
allows it, but said once per client in a warning, never silently. When a
certificate does not verify, :func:`trust_description` names what was
trusted (the CA's subject and where it came from, or the system store), so
the error says both which server and which CA disagreed.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from urllib.parse import urlsplit

from kubeloop.client._auth import exec_client_certificate
from kubeloop.client._config import Config
from kubeloop.errors import ConfigError

log = logging.getLogger("kubeloop.client")


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
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.insecure_skip_tls_verify:
        # Called once per Client (its views share the transport): once per client.
        log.warning(
            "%s: insecure-skip-tls-verify is set (%s): the server's certificate is not "
            "checked, so anyone on the network path can read and change this client's "
            "traffic, credentials included",
            config.host,
            config.source or "config",
        )
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


def server_name(config: Config) -> str:
    """The name the server's certificate must carry (``tls-server-name``, else the host's)."""
    return config.tls_server_name or urlsplit(config.host).hostname or config.host


def trust_description(config: Config) -> str:
    """What this config trusts, for an error: ``the CA "kube-ca" from <source>``
    (the subjects' common names), or the system trust store."""
    where = config.source or "the config"
    if not config.ca_data:
        return f"the system trust store (no certificate-authority in {where})"
    try:
        cas = ssl.create_default_context(cadata=config.ca_data.decode()).get_ca_certs()
    except (ssl.SSLError, ValueError):
        return f"the certificate authority of {where}"
    names = []
    for ca in cas:
        subject = dict(pair for rdn in ca.get("subject", ()) for pair in rdn)  # type: ignore[misc]
        names.append(str(subject.get("commonName") or subject.get("organizationName") or "?"))
    listed = ", ".join(f'"{name}"' for name in names) or "none"
    return f"the certificate authority {listed} of {where}"
