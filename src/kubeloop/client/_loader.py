"""Finding a configuration (client-go's ``clientcmd.BuildConfigFromFlags``).

::

    config = load_config()                                  # kubeconfig, else in-cluster
    config = load_config(kubeconfig="/etc/k8s/admin.conf", context="prod")
    config = load_config(master="https://127.0.0.1:6443")   # server override

Order, as kubectl and client-go's deferred loading have it: an explicit
kubeconfig; else ``$KUBECONFIG`` (merged) or ``~/.kube/config`` when one of
them exists; else the in-cluster service account. ``master`` replaces the
server of whatever was loaded, and stands alone (no credentials) when there is
no kubeconfig at all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from kubeloop.client._config import Config
from kubeloop.client._incluster import load_incluster_config
from kubeloop.client._kubeconfig import (
    KubeconfigPath,
    default_kubeconfig_paths,
    read_kubeconfig,
)
from kubeloop.client._kubeconfig_resolve import resolve
from kubeloop.errors import ConfigError

log = logging.getLogger("kubeloop.client")


def load_kubeconfig(
    path_or_paths: KubeconfigPath | Sequence[KubeconfigPath] | None = None,
    context: str | None = None,
) -> Config:
    """Load kubeconfig file(s) and resolve one context into a :class:`Config`.

    ``path_or_paths``: one file (must exist), a list merged like
    ``$KUBECONFIG`` (missing files skipped, one must exist), or ``None`` for
    the default rules (``$KUBECONFIG``, else ``~/.kube/config``). ``context``
    defaults to the files' current-context::

        config = load_kubeconfig(["/etc/k8s/a.yaml", "/etc/k8s/b.yaml"], context="prod")
    """
    return resolve(read_kubeconfig(path_or_paths), context)


def load_config(
    kubeconfig: KubeconfigPath | Sequence[KubeconfigPath] | None = None,
    master: str | None = None,
    context: str | None = None,
) -> Config:
    """The configuration a controller should use; see the module docs for the order.

    Raises :class:`ConfigError` naming each place tried when none works.
    """
    if kubeconfig:  # "" means not given, as for the --kubeconfig flag
        config = load_kubeconfig(kubeconfig, context)
    else:
        paths, where = default_kubeconfig_paths()
        if any(p.is_file() for p in paths):
            config = load_kubeconfig(None, context)
        elif context:
            raise ConfigError(
                f"context {context!r} was asked for, but there is no kubeconfig"
                f" ({where} does not exist)"
            )
        elif master:
            log.warning(
                "no kubeconfig (%s does not exist): using %s without credentials", where, master
            )
            return Config(host=master, source="master URL")
        else:
            try:
                return load_incluster_config()
            except ConfigError as err:
                raise ConfigError(
                    f"no configuration found: no kubeconfig ({where} does not exist),"
                    f" and not in a cluster ({err})"
                ) from None
    if master:
        config = dataclasses.replace(
            config, host=master, source=f"{config.source}, master {master}"
        )
    return config


__all__ = ["load_config", "load_incluster_config", "load_kubeconfig"]
