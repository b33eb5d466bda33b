"""Resolve one kubeconfig context into a :class:`Config` (clientcmd's
``DirectClientConfig``).

This is where files named by the chosen context are read (CA, client
certificate and key, token file) and checked, and where the user's exec
plugin is validated: clientcmd validates only what the context in use needs,
so a broken entry for another cluster does not stop this one from loading.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kubeloop.client._config import Config, ExecConfig
from kubeloop.client._kubeconfig import Cluster, Fields, Kubeconfig, User, os_reason
from kubeloop.client._pem import check_certificates, check_private_key
from kubeloop.errors import ConfigError

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
_INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")


def resolve(kubeconfig: Kubeconfig, context: str | None = None) -> Config:
    """The :class:`Config` of ``context`` (default: current-context)."""
    label = kubeconfig.label
    name = context or kubeconfig.current_context
    available = ", ".join(sorted(kubeconfig.contexts)) or "none"
    if not name:
        raise ConfigError(
            f"kubeconfig {label}: current-context is not set and no context was given"
            f" (available: {available})"
        )
    ctx = kubeconfig.contexts.get(name)
    if ctx is None:
        raise ConfigError(
            f"kubeconfig {label}: context {name!r} not found (available: {available})"
        )
    where = Fields({}, f"contexts[{name}]", ctx.source)
    if not ctx.cluster:
        raise where.fail("cluster is empty")
    cluster = kubeconfig.clusters.get(ctx.cluster)
    if cluster is None:
        known = ", ".join(sorted(kubeconfig.clusters)) or "none"
        raise where.fail(f"cluster {ctx.cluster!r} not found (available: {known})", "cluster")
    user = None
    if ctx.user:
        user = kubeconfig.users.get(ctx.user)
        if user is None:
            known = ", ".join(sorted(kubeconfig.users)) or "none"
            raise where.fail(f"user {ctx.user!r} not found (available: {known})", "user")
    config = _cluster_config(cluster)
    if user is not None:
        _apply_user(config, user)
    config.namespace = ctx.namespace or "default"
    config.source = f"kubeconfig {ctx.source} context {name}"
    return config


def _cluster_config(cluster: Cluster) -> Config:
    where = Fields({}, f"clusters[{cluster.name}]", cluster.source)
    if not cluster.server:
        raise ConfigError(f"kubeconfig {cluster.source}: clusters[{cluster.name}].server is empty")
    # The data wins over the file, as in client-go's TLS config.
    ca, key = cluster.certificate_authority_data, "certificate-authority-data"
    if ca is None and cluster.certificate_authority is not None:
        key = "certificate-authority"
        ca = _read(where, key, cluster.certificate_authority)
    if ca is not None:
        if cluster.insecure_skip_tls_verify:
            raise where.fail(f"{key} and insecure-skip-tls-verify cannot both be set")
        _check(where, key, ca, check_certificates)
    config = Config(
        host=cluster.server,
        ca_data=ca,
        insecure_skip_tls_verify=cluster.insecure_skip_tls_verify,
        tls_server_name=cluster.tls_server_name,
        proxy_url=cluster.proxy_url,
    )
    if cluster.exec_extension is not None:
        config.extra["exec_cluster_config"] = cluster.exec_extension
    return config


def _apply_user(config: Config, user: User) -> None:
    where = Fields({}, f"users[{user.name}]", user.source)
    if user.auth_provider is not None:
        raise where.fail(
            f"auth-provider {user.auth_provider!r} is not supported; use an exec plugin",
            "auth-provider",
        )
    cert = _pem_pair_part(
        where,
        "client-certificate",
        user.client_certificate_data,
        user.client_certificate,
        check_certificates,
    )
    key = _pem_pair_part(
        where, "client-key", user.client_key_data, user.client_key, check_private_key
    )
    if (cert is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise where.fail(f"{missing} or {missing}-data must be given too for a client certificate")
    config.cert_data, config.key_data = cert, key
    methods = []
    if user.token or user.token_file:
        methods.append("token")
    if user.username or user.password:
        methods.append("basic auth")
    if len(methods) > 1:
        raise where.fail(f"more than one authentication method ({', '.join(methods)}); use one")
    config.bearer_token = user.token
    if user.token_file is not None:
        config.bearer_token_file = str(user.token_file)
        if user.token is None:  # client-go reads the file at load time when there is no token
            token = _read(where, "tokenFile", user.token_file).decode("utf-8", "replace")
            config.bearer_token = token.strip() or None
    config.username, config.password = user.username, user.password
    config.exec_config = _exec(user.exec)


def _pem_pair_part(
    where: Fields, key: str, data: bytes | None, path: Path | None, check: Callable[[bytes], None]
) -> bytes | None:
    if data is not None and path is not None:
        raise where.fail(f"{key} and {key}-data are both set; use one")
    if data is None and path is not None:
        data = _read(where, key, path)
        _check(where, key, data, check)
    elif data is not None:
        _check(where, f"{key}-data", data, check)
    return data


def _read(where: Fields, key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (OSError, ValueError) as err:
        raise where.fail(f"cannot read {path}: {os_reason(err)}", key) from None


def _check(where: Fields, key: str, data: bytes, check: Callable[[bytes], None]) -> None:
    try:
        check(data)
    except ValueError as err:
        raise where.fail(str(err), key) from None


def _exec(item: Fields | None) -> ExecConfig | None:
    if item is None:
        return None
    command = item.string("command")
    if not command:
        raise item.fail("command must be specified to use an exec plugin", "command")
    if os.sep in command or (os.altsep and os.altsep in command):
        command = str(item.path.parent / command)  # as clientcmd: only non-PATH commands
    api_version = item.string("apiVersion") or ""
    if api_version not in EXEC_API_VERSIONS:
        allowed = " or ".join(EXEC_API_VERSIONS)
        problem = f"{api_version!r} is not supported" if api_version else "must be specified"
        raise item.fail(f"{problem} (use {allowed})", "apiVersion")
    args = item.list("args")
    if not all(isinstance(a, str) for a in args):
        raise item.fail("must be a list of strings", "args")
    env: dict[str, str] = {}
    for i, var in enumerate(item.list("env")):
        entry = Fields(var, f"{item.where}.env[{i}]", item.path)
        if not isinstance(var, dict) or not entry.string("name"):
            raise entry.fail("must be a mapping with a name and a value")
        env[str(var["name"])] = entry.string("value") or ""
    mode = item.string("interactiveMode") or ""
    if not mode and api_version.endswith("/v1beta1"):
        mode = "IfAvailable"  # the v1beta1 default; v1 requires it, as in clientcmd
    if mode not in _INTERACTIVE_MODES:
        problem = f"invalid value {mode!r}" if mode else "must be specified for apiVersion v1"
        raise item.fail(f"{problem} (one of {', '.join(_INTERACTIVE_MODES)})", "interactiveMode")
    return ExecConfig(
        command=command,
        api_version=api_version,
        args=list(args),
        env=env,
        install_hint=item.string("installHint") or "",
        interactive_mode=mode,
        provide_cluster_info=item.boolean("provideClusterInfo"),
        source=str(item.path),
    )
