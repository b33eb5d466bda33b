"""The TLS context for a :class:`Config`: which certificate authority to
trust and which client certificate to present (from the kubeconfig or an
exec plugin).

::

    ctx = build_ssl_context(config)
"""

from __future__ import annotations

import os
import ssl
import tempfile

from kubeloop.client._auth import exec_client_certificate
from kubeloop.client._config import Config
from kubeloop.errors import ConfigError


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
