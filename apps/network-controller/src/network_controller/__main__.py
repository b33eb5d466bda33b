"""``network-controller``: the program users learn from.

main -> the runtime's flags plus the controller's own -> a
:class:`~kubeloop.runtime.Manager` (config from --kubeconfig/--master, else
in-cluster; one cache; metrics, health, leader election) -> the Network
controller (with the backend sweep) and the Deployment controller -> run
until SIGTERM/SIGINT -> finish in-flight reconciles -> exit 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kubeloop.client import ResourceClient
from kubeloop.events import EventRecorder
from kubeloop.runtime import Manager, ShardedController, ShardingOptions, argument_parser, duration
from network_controller.backend import Backend, BackendError
from network_controller.controller import NetworkReconciler, sharded_sweep
from network_controller.deployments import DeploymentNetworks
from network_controller.linux_names import is_netns_name
from network_controller.mock_backend import MockBackend
from network_controller.models import Network
from network_controller.noop_backend import NoopBackend

__all__ = ["duration", "main", "parse_args"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argument_parser("network-controller", __doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2, help="concurrent Network workers (default 2)")
    p.add_argument(
        "--resync", type=duration, default=30.0, help="backend sweep period (default 30s)"
    )
    p.add_argument(
        "--backend",
        choices=["mock", "noop", "linux"],
        default="mock",
        help="network backend: mock (a JSON file in --state-dir), noop (in memory, "
        "for benchmarks) or linux (a bridge per Network in --netns; needs root or "
        "CAP_NET_ADMIN) (default mock)",
    )
    p.add_argument(
        "--netns",
        default="",
        help="the linux backend's network namespace (created if missing); "
        "'host' for the host's own namespace. Required with --backend linux",
    )
    p.add_argument(
        "--no-api-writes",
        action="store_true",
        help="benchmarks: write nothing to the API server (no status patches, no Events)",
    )
    p.add_argument(
        "--state-dir",
        default=os.environ.get("NETWORK_CONTROLLER_STATE_DIR", "./network-state"),
        help="where the mock backend keeps its state (default ./network-state)",
    )
    p.add_argument(
        "--backend-fail-rate",
        type=float,
        default=0.0,
        help="fault injection: fraction of backend calls that fail",
    )
    p.add_argument(
        "--backend-delay",
        type=duration,
        default=0.0,
        help="fault injection: extra latency of every mutating backend call (e.g. 2s)",
    )
    args = p.parse_args(argv)
    if args.backend == "linux" and not args.netns:
        # No default namespace: the host's own must be asked for by name.
        p.error("--backend linux needs --netns NAME (or --netns host)")
    if args.backend == "linux" and args.shard_count > 0:
        # One bridge per node: replicas on several nodes cannot share it.
        p.error("--backend linux is per node and cannot be sharded; use mock or noop")
    if args.backend == "linux" and not is_netns_name(args.netns):
        p.error(f"--netns {args.netns!r}: a name under /run/netns (letters, digits, ._-)")
    return args


class _DiscardingRecorder(EventRecorder):
    """--no-api-writes: events are dropped, no writer thread runs."""

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        pass

    def event(self, obj: object, event_type: str, reason: str, message: str) -> None:
        pass

    def eventf(
        self,
        regarding: Any,
        related: Any,
        event_type: str,
        reason: str,
        action: str,
        note: str,
        *args: Any,
    ) -> None:
        pass


def make_backend(args: argparse.Namespace) -> Backend:
    if args.backend == "noop":
        return NoopBackend()
    if args.backend == "linux":
        # Imported here: pyroute2 is needed only by the linux backend.
        from network_controller.linux_backend import LinuxBackend

        return LinuxBackend(args.netns)
    return MockBackend(args.state_dir, fail_rate=args.backend_fail_rate, delay=args.backend_delay)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    manager = Manager.from_args(args)
    if args.no_api_writes:
        manager.recorder = _DiscardingRecorder(manager.client, manager.name)
    # Networks by model: no discovery, so the controller starts before the
    # CRD exists and its informer lists, fails and retries until it does.
    networks = manager.client.resource(Network)
    try:
        backend = make_backend(args)
    except BackendError as err:  # e.g. --backend linux without CAP_NET_ADMIN
        print(f"network-controller: {err}", file=sys.stderr)
        return 2
    nets = NetworkReconciler(
        None if args.no_api_writes else networks, backend, namespace=args.namespace
    )
    every = args.resync if args.resync > 0 else None  # 0: sweep once, at start
    sharding = manager.sharding_options(args)
    if sharding is not None:
        return run_sharded(manager, sharding, nets, networks, args.workers, every)
    cached = manager.lister(Network)
    network_controller = manager.controller(
        Network,
        nets.reconcile,
        name="networks",
        workers=args.workers,
        requeue_every=every,
        requeue_keys=nets.sweeper(cached.list),
    )
    deployments = DeploymentNetworks(networks, cached)
    deployment_controller = manager.controller(
        ("apps/v1", "Deployment"), deployments.reconcile, name="deployments"
    ).owns(Network)
    # Ready once the caches have synced: a standby replica is ready too.
    manager.add_readiness_check("informer-networks", network_controller.has_synced)
    manager.add_readiness_check("informer-deployments", deployment_controller.has_synced)
    return manager.run()


def run_sharded(
    manager: Manager,
    sharding: ShardingOptions,
    nets: NetworkReconciler,
    networks: ResourceClient[Network],
    workers: int,
    every: float | None,
) -> int:
    """``--shard-count S``: both controllers sharded over S shards on every
    replica (see docs/sharding.md). The Deployment controller reads a
    Deployment's Network through the API: its shard may be another's."""
    sharded: ShardedController[Network] = manager.sharded_controller(
        Network, nets.reconcile, sharding, name="networks", workers=workers, requeue_every=every
    )
    sharded.declared.requeue_keys = lambda: sharded_sweep(nets, sharded)
    deployments = DeploymentNetworks(networks, None)
    deployment_controller = manager.sharded_controller(
        ("apps/v1", "Deployment"), deployments.reconcile, sharding, name="deployments"
    ).owns(Network)
    manager.add_readiness_check("sharding-networks", sharded.has_synced)
    manager.add_readiness_check("sharding-deployments", deployment_controller.has_synced)
    return manager.run()


if __name__ == "__main__":
    sys.exit(main())
