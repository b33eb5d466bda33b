"""The standard command line of a controller, for users to extend.

::

    parser = argument_parser("foo-controller")
    parser.add_argument("--foo-image", default="nginx:1.27")   # the program's own flags
    args = parser.parse_args()
    manager = Manager.from_args(args)

Flags (controller-runtime's and client-go's names): ``--kubeconfig``,
``--master``, ``--context`` (else ``$KUBECONFIG``, ``~/.kube/config``, then
in-cluster); ``--namespace`` (cache one namespace; default all);
``--kube-api-qps`` / ``--kube-api-burst`` (20 / 30) and
``--kube-api-qps-per-group``; ``--metrics-bind-address`` (``:8443``, ``0``
turns the server off), ``--metrics-secure`` (HTTPS with TokenReview and
SubjectAccessReview; ``--metrics-secure=false`` for plain HTTP),
``--metrics-cert-dir`` (``tls.crt``/``tls.key``; else self-signed),
``--health-probe-bind-address`` (``:8081``, plain HTTP); ``--leader-elect``
(on by default in a cluster),
``--leader-elect-id``, ``--leader-elect-namespace`` and the three
durations; ``--graceful-shutdown-timeout`` (30s); ``-v`` and
``--log-format text|json``.

Why 20 / 30 and not client-go's 5 / 10: 20 / 30 are controller-runtime's
defaults before v0.21 (and kube-controller-manager's). Since v0.21
controller-runtime turns client-side limiting off and relies on the API
server's Priority and Fairness; kubeloop keeps a limit because a Python
controller in a hot retry loop, or a burst of a few thousand objects,
should slow itself before the server has to shed it, and because a
throttle on the client is what keeps one misbehaving controller from
using up its priority level's share for every other client in it.
"""

from __future__ import annotations

import argparse
import re

from kubeloop.leaderelection import LeaderElectionConfig

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_QPS",
    "add_manager_flags",
    "argument_parser",
    "boolean",
    "duration",
]

DEFAULT_QPS = 20.0
DEFAULT_BURST = 30

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DEFAULTS = LeaderElectionConfig.__dataclass_fields__


def duration(text: str) -> float:
    """Seconds from a Go duration (``1m30s``, ``500ms``, ``2h``) or a plain number.

    >>> duration("1m30s"), duration("0.5")
    (90.0, 0.5)
    """
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 1m, 500ms)")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def boolean(text: str) -> bool:
    """Go's ``strconv.ParseBool``, so ``--metrics-secure=false`` reads as in
    controller-runtime's flags.

    >>> boolean("false"), boolean("1")
    (False, True)
    """
    value = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}.get(
        text.strip().lower()
    )
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (true or false)")
    return value


def argument_parser(prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """A parser with the manager's flags; add your own to it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_manager_flags(parser, prog)
    return parser


def add_manager_flags(parser: argparse.ArgumentParser, name: str) -> None:
    """Add the manager's flags to an existing parser (``name`` is the
    default Lease name and the manager's name)."""
    parser.set_defaults(manager_name=name)
    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--kubeconfig",
        help="path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    conn.add_argument("--master", help="the API server's address; overrides the kubeconfig's")
    conn.add_argument("--context", help="the kubeconfig context (default: its current-context)")
    conn.add_argument(
        "--namespace", default=None, help="watch only this namespace (default: all namespaces)"
    )
    conn.add_argument(
        "--kube-api-qps",
        type=float,
        default=DEFAULT_QPS,
        help=f"client-side request rate (default {DEFAULT_QPS:g}; 0 or less: no limit)",
    )
    conn.add_argument(
        "--kube-api-burst", type=int, default=DEFAULT_BURST, help=f"request burst ({DEFAULT_BURST})"
    )
    conn.add_argument(
        "--kube-api-qps-per-group",
        action="store_true",
        help="one qps/burst budget per API group, as client-go's typed clients have",
    )
    run = parser.add_argument_group("manager")
    run.add_argument(
        "--metrics-bind-address",
        default=":8443",
        help="serve /metrics here (default :8443; 0 disables)",
    )
    run.add_argument(
        "--metrics-secure",
        type=boolean,
        nargs="?",
        const=True,
        default=True,
        help="HTTPS, each scrape's token reviewed by the API server (default true; "
        "--metrics-secure=false serves plain HTTP, for local use)",
    )
    run.add_argument(
        "--metrics-cert-dir",
        default=None,
        help="directory with tls.crt and tls.key for the metrics server "
        "(default: a self-signed certificate made at start)",
    )
    run.add_argument(
        "--health-probe-bind-address",
        default=":8081",
        help="serve /healthz and /readyz here, plain HTTP, no token (default :8081; 0 disables)",
    )
    run.add_argument(
        "--graceful-shutdown-timeout",
        type=duration,
        default=30.0,
        help="how long in-flight reconciles may take to finish on shutdown (default 30s)",
    )
    run.add_argument(
        "-v", "--v", dest="verbosity", type=int, default=0, help="log verbosity (4+: debug)"
    )
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    shard = parser.add_argument_group(
        "sharding (KEP-5866 shardSelector, API server feature gate ShardedListAndWatch)"
    )
    shard.add_argument(
        "--shard-count",
        type=int,
        default=0,
        help="shard the controllers over this many virtual shards, each held through a "
        "Lease in --leader-elect-namespace with the --leader-elect-* durations, on every "
        "replica (default 0: no sharding, plain leader election)",
    )
    shard.add_argument(
        "--shard-by",
        choices=["uid", "namespace"],
        default="uid",
        help="hash objects by metadata.uid (even spread) or metadata.namespace (owner and "
        "owned always on one replica) (default uid)",
    )
    shard.add_argument(
        "--shard-selector",
        choices=["auto", "server", "client"],
        default="auto",
        help="auto: probe whether the API server applies shardSelector; server: assume it "
        "does; client: filter on the client (default auto)",
    )
    le = parser.add_argument_group("leader election (client-go's defaults)")
    le.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reconcile only while holding a Lease (default: on when running in a cluster)",
    )
    le.add_argument("--leader-elect-id", default=name, help=f"name of the Lease (default {name})")
    le.add_argument(
        "--leader-elect-namespace",
        default=None,
        help="namespace of the Lease (default: the pod's in a cluster, else default)",
    )
    for flag, field in (
        ("--leader-elect-lease-duration", "lease_duration"),
        ("--leader-elect-renew-deadline", "renew_deadline"),
        ("--leader-elect-retry-period", "retry_period"),
    ):
        default = _DEFAULTS[field].default
        le.add_argument(flag, type=duration, default=default, help=f"default {default:g}s")
