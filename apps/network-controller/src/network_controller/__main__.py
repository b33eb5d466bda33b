"""``network-controller``: the program users learn from.

main -> config from --kubeconfig/--master, else in-cluster -> client -> one
informer factory, with an informer for Networks and one for Deployments ->
controllers register handlers -> start informers -> run workers until
SIGTERM/SIGINT -> finish in-flight items -> exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable

from kubeloop.cache import SharedInformerFactory
from kubeloop.client import Client, load_config
from kubeloop.errors import ConfigError
from kubeloop.events import EventRecorder
from kubeloop.leaderelection import (
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElector,
    LeaseLock,
    PrometheusLeaderMetrics,
)
from kubeloop.metrics import MetricsServer
from kubeloop.runtime import ReconcileMetrics
from network_controller import klog
from network_controller.backend import Backend
from network_controller.controller import NETWORK_API_VERSION, NetworkController
from network_controller.deployments import DeploymentNetworkController
from network_controller.mock_backend import MockBackend
from network_controller.noop_backend import NoopBackend

log = logging.getLogger("network_controller")


def duration(text: str) -> float:
    """Go-style durations: "30s", "1m30s", "500ms", "2h", or plain seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 1m, 500ms)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="network-controller", description=__doc__.splitlines()[0])
    p.add_argument(
        "--kubeconfig",
        help="path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    p.add_argument("--master", help="the API server's address; overrides the kubeconfig's server")
    p.add_argument("--workers", type=int, default=2, help="concurrent Network workers (default 2)")
    p.add_argument(
        "--resync",
        type=duration,
        default=30.0,
        help="informer resync and backend sweep period (default 30s)",
    )
    p.add_argument("--namespace", default=None, help="watch only this namespace (default: all)")
    p.add_argument(
        "--backend",
        choices=["mock", "noop"],
        default="mock",
        help="network backend: mock (a JSON file in --state-dir) or noop (in memory, "
        "for benchmarks) (default mock)",
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
    p.add_argument(
        "-v", "--v", dest="verbosity", type=int, default=0, help="log verbosity (4+: debug)"
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.add_argument(
        "--kube-api-qps",
        type=float,
        default=20.0,
        help="client-side request rate limit (default 20, as kube-controller-manager)",
    )
    p.add_argument("--kube-api-burst", type=int, default=30, help="request burst (default 30)")
    p.add_argument(
        "--metrics-bind-address",
        default=":8080",
        help="serve /metrics, /healthz and /readyz here (default :8080; 0 disables)",
    )
    le = p.add_argument_group("leader election (client-go defaults)")
    le.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run workers only while holding a Lease (default: on when running in-cluster)",
    )
    le.add_argument(
        "--leader-elect-namespace",
        default=None,
        help="namespace of the Lease (default: the pod's namespace in-cluster, else default)",
    )
    le.add_argument("--leader-elect-id", default="network-controller", help="name of the Lease")
    le.add_argument("--leader-elect-lease-duration", type=duration, default=15.0)
    le.add_argument("--leader-elect-renew-deadline", type=duration, default=10.0)
    le.add_argument("--leader-elect-retry-period", type=duration, default=2.0)
    return p.parse_args(argv)


class _DiscardingRecorder(EventRecorder):
    """--no-api-writes: events are dropped, no writer thread runs."""

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        pass

    def event(self, obj: object, event_type: str, reason: str, message: str) -> None:
        pass


def make_backend(args: argparse.Namespace) -> Backend:
    if args.backend == "noop":
        return NoopBackend()
    return MockBackend(args.state_dir, fail_rate=args.backend_fail_rate, delay=args.backend_delay)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    klog.setup(args.verbosity, args.log_format)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("Received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        config = load_config(kubeconfig=args.kubeconfig, master=args.master)
    except ConfigError as err:
        log.error("Error building kubeconfig: %s", err)
        return 1
    config.qps, config.burst = args.kube_api_qps, args.kube_api_burst
    client = Client(config)
    ns = args.namespace
    # Resource clients built without discovery, so the controller can start
    # before the Network CRD exists: the informer's list fails, is logged and
    # retried with backoff, and succeeds once the CRD is applied.
    networks = client.resource(NETWORK_API_VERSION, "networks", namespace=ns, namespaced=True)
    deployments = client.resource("apps/v1", "deployments", namespace=ns, namespaced=True)
    # One factory for both kinds: one informer per resource, one start and
    # one shutdown for the process.
    factory = SharedInformerFactory(client, args.resync, namespace=ns)
    network_informer = factory.informer_for(networks)
    deployment_informer = factory.informer_for(deployments)

    recorder = (
        _DiscardingRecorder(client, "network-controller")
        if args.no_api_writes
        else EventRecorder(client, "network-controller")
    )
    recorder.start()
    metrics = ReconcileMetrics("networks")
    metrics.set_max_concurrent_reconciles(args.workers)
    leader_metrics = PrometheusLeaderMetrics()
    server: MetricsServer | None = None
    if args.metrics_bind_address != "0":
        server = MetricsServer(args.metrics_bind_address)
        # Ready once the caches have synced: a standby replica is ready too
        # (it could take over at once), as controller-runtime's are.
        server.add_readiness_check("informer-networks", network_informer.has_synced)
        server.add_readiness_check("informer-deployments", deployment_informer.has_synced)
        try:
            server.start()
            log.info("serving metrics and health on %s", server.url)
        except OSError as err:
            # The reconcile loop does not depend on it: say so loudly and go on.
            log.error(
                "metrics and health disabled: cannot bind %s: %s", args.metrics_bind_address, err
            )
            server = None
    controller = NetworkController(
        client,
        network_informer,
        make_backend(args),
        recorder,
        resync_period=args.resync,
        namespace=ns,
        write_status=not args.no_api_writes,
        metrics=metrics,
    )
    deployment_controller = DeploymentNetworkController(
        client, deployment_informer, network_informer, recorder
    )

    def run_controllers(until: threading.Event) -> None:
        side = threading.Thread(
            target=deployment_controller.run, args=(1, until), name="deployment-controller"
        )
        side.start()
        controller.run(args.workers, until)
        side.join()

    # Informers start at once, leader or not: a standby keeps warm caches
    # and takes over without a relist.
    factory.start(stop)
    in_cluster = config.source.startswith("in-cluster")
    exit_code = 0
    if args.leader_elect if args.leader_elect is not None else in_cluster:
        namespace = config.namespace if in_cluster else "default"
        if not _lead(args, client, namespace, run_controllers, stop, leader_metrics, server):
            log.error("leader election lost")
            exit_code = 1  # as client-go controllers do: restart and rejoin
            stop.set()
    else:
        run_controllers(stop)
    factory.shutdown(timeout=10)
    recorder.stop()
    if server is not None:
        server.stop()
    client.close()
    log.info("Shut down cleanly" if exit_code == 0 else "Shut down")
    return exit_code


def _lead(
    args: argparse.Namespace,
    client: Client,
    default_namespace: str,
    work: Callable[[threading.Event], None],
    stop: threading.Event,
    leader_metrics: PrometheusLeaderMetrics,
    server: MetricsServer | None,
) -> bool:
    """Run ``work`` while holding the Lease; False if leadership was lost
    (rather than ended by ``stop``)."""
    identity = f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    namespace = args.leader_elect_namespace or default_namespace
    lock = LeaseLock(client, namespace, args.leader_elect_id, identity)
    led = threading.Event()

    def started(stop_leading: threading.Event) -> None:
        led.set()
        log.info("became leader: %s/%s (%s)", namespace, args.leader_elect_id, identity)
        work(stop_leading)

    elector = LeaderElector(
        LeaderElectionConfig(
            lock=lock,
            callbacks=LeaderCallbacks(
                on_started_leading=started,
                on_stopped_leading=lambda: log.info("stopped leading (%s)", identity),
                on_new_leader=lambda who: log.info("new leader elected: %s", who),
            ),
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
            name=args.leader_elect_id,
            metrics=leader_metrics,
        )
    )
    if server is not None:
        # Unhealthy if the renew loop is stuck well past the lease (client-go's check).
        server.add_liveness_check("leader-election", elector.check)
    log.info("attempting to acquire leader lease %s/%s...", namespace, args.leader_elect_id)
    elector.run(stop)
    return stop.is_set() or not led.is_set()


if __name__ == "__main__":
    sys.exit(main())
