"""In-cluster configuration (client-go's ``rest.InClusterConfig``).

A pod reaches the API server through the ``kubernetes`` Service, whose
address the kubelet puts in ``KUBERNETES_SERVICE_HOST`` and
``KUBERNETES_SERVICE_PORT``, and authenticates with the service-account
token mounted under ``/var/run/secrets/kubernetes.io/serviceaccount``::

    config = load_incluster_config()
    config.host  # "https://10.96.0.1:443"

The token is a bound token that the kubelet rotates before it expires, so the
config keeps its path in ``bearer_token_file`` and the auth layer re-reads it
at least every minute. The mount directory can be moved (tests, unusual
runtimes) with the ``service_account_dir`` argument or the
``KUBELOOP_SERVICEACCOUNT_DIR`` environment variable.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kubeloop.client._config import Config
from kubeloop.client._kubeconfig import os_reason
from kubeloop.client._pem import check_certificates
from kubeloop.errors import ConfigError

log = logging.getLogger("kubeloop.client")

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_DIR_ENV = "KUBELOOP_SERVICEACCOUNT_DIR"


def _base_dir(override: str | os.PathLike[str] | None) -> Path:
    """The argument, else ``$KUBELOOP_SERVICEACCOUNT_DIR``, else the standard mount."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get(SERVICE_ACCOUNT_DIR_ENV) or SERVICE_ACCOUNT_DIR)


def load_incluster_config(service_account_dir: str | os.PathLike[str] | None = None) -> Config:
    """Build a :class:`Config` from the pod's environment and service account.

    Raises :class:`ConfigError` when not running in a pod (the two service
    variables are unset) or when the token cannot be read. A missing
    ``ca.crt`` is logged and the system trust store used, as in client-go; a
    ``ca.crt`` that is not a certificate is an error.
    """
    base = _base_dir(service_account_dir)
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError(
            "in-cluster: not running in a pod: KUBERNETES_SERVICE_HOST and"
            " KUBERNETES_SERVICE_PORT must be set"
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address (net.JoinHostPort)

    token_path = base / "token"
    try:
        token = token_path.read_text("utf-8", "replace").strip()
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"in-cluster: cannot read service-account token {token_path}: {os_reason(err)}"
        ) from None
    if not token:
        raise ConfigError(f"in-cluster: service-account token {token_path} is empty")

    ca_path = base / "ca.crt"
    ca_data: bytes | None = None
    try:
        ca_data = ca_path.read_bytes()
    except OSError as err:
        log.warning("in-cluster: cannot read %s (%s); using the system trust store", ca_path, err)
    if ca_data is not None:
        try:
            check_certificates(ca_data)
        except ValueError as err:
            raise ConfigError(f"in-cluster: {ca_path}: {err}") from None

    return Config(
        host=f"https://{host}:{port}",
        ca_data=ca_data,
        bearer_token=token,
        bearer_token_file=str(token_path),
        namespace=_namespace(base),
        source=f"in-cluster ({base})",
    )


def _namespace(base: Path) -> str:
    """``$POD_NAMESPACE`` (set through the downward API), else the mounted
    namespace file, else ``default`` (clientcmd's inClusterClientConfig)."""
    namespace = os.environ.get("POD_NAMESPACE", "")
    if namespace:
        return namespace
    try:
        namespace = (base / "namespace").read_text("utf-8", "replace").strip()
    except OSError:
        namespace = ""
    return namespace or "default"
