"""The manager: one per process; it owns the client, the cache, the
metrics server, the health probes, leader election, the event recorder, and the
order in which they start and stop.

::

    def main(argv: list[str] | None = None) -> int:
        args = argument_parser("foo-controller").parse_args(argv)
        manager = Manager.from_args(args)                  # logging, client, server, election
        manager.controller(Foo, reconcile, workers=2).owns(("apps/v1", "Deployment"))
        return manager.run()                               # until SIGTERM; 0 on a clean stop

Start: the metrics server and the probes, the event recorder, the cache (every
informer, leader or not: a standby keeps warm caches and takes over
without a relist), then leader election, if on; the controllers start
only while leading.

Stop (SIGTERM or SIGINT; a second one ends the process at once), in this
order: the controllers stop taking work and finish in-flight reconciles
within ``graceful_shutdown_timeout``; the Lease is released (only now, so
the next leader starts after this one stopped); queued Events are written
(5 s at most); the informers stop; the servers stop; the client closes.
``run`` returns 0, or 1 if reconciles outlived the timeout or the Lease
was lost (a process that lost it restarts and rejoins, as client-go's
controllers exit).

Async programs ``await manager.run_async()`` instead: the same start and
stop, with ``async def`` reconcilers run as tasks on the awaiting loop
(see :mod:`kubeloop.runtime.async_runner`); from the blocking ``run`` they
run on a loop thread the manager owns. Either way never on a client's.

The event recorder writes through a rate limiter of its own (same qps and
burst, separate budget), so a burst of Events never delays a reconcile's
writes.

The metrics server is secure by default (``:8443``, HTTPS, each scrape's
bearer token reviewed by the API server with the manager's own client, see
:mod:`kubeloop.metrics.filters`); the probes answer on
``health_probe_bind_address`` (``:8081``) without a token.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry

from kubeloop.cache import Lister, PrometheusInformerMetricsProvider, on_stop
from kubeloop.client import Client, Config, load_config
from kubeloop.errors import ConfigError
from kubeloop.events import EventRecorder
from kubeloop.leaderelection import (
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElector,
    LeaseLock,
    PrometheusLeaderMetrics,
)
from kubeloop.metrics import Check, DelegatingAuthorizer, HealthProbeServer, MetricsServer
from kubeloop.runtime.cache import Cache
from kubeloop.runtime.controller import Controller
from kubeloop.runtime.flags import DEFAULT_BURST, DEFAULT_QPS
from kubeloop.runtime.kinds import KindRef
from kubeloop.runtime.klog import KeyValueLogger, setup_logging
from kubeloop.runtime.loop import LoopThread
from kubeloop.runtime.metrics import ReconcileMetrics
from kubeloop.runtime.runner import AsyncReconciler, Reconciler
from kubeloop.runtime.shard_leases import ShardingOptions
from kubeloop.runtime.shard_metrics import ShardMetrics
from kubeloop.runtime.sharded_controller import ShardedController
from kubeloop.runtime.sources import Scope
from kubeloop.workqueue import PrometheusMetricsProvider

__all__ = ["LeaderElectionOptions", "Manager"]

_log = KeyValueLogger(logging.getLogger("kubeloop.runtime.manager"))

T = TypeVar("T")

#: How long queued Events may take to be written on shutdown.
EVENT_FLUSH_TIMEOUT = 5.0


@dataclass(frozen=True)
class LeaderElectionOptions:
    """A Lease ``namespace/id`` (namespace: the pod's in a cluster, else
    ``default``) and client-go's durations; ``identity`` defaults to
    ``<hostname>_<random>``."""

    id: str
    namespace: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None
    release_on_cancel: bool = True


class Manager:
    """Runs controllers (see the module docs).

    Give a ``config`` (default: :func:`kubeloop.client.load_config`) and the
    manager makes its client with ``qps``/``burst`` (20 / 30, see
    :mod:`kubeloop.runtime.flags` for why), one budget per API group when
    ``rate_limit_per_group``; or give a ready ``client``, which it then does
    not close. ``namespace`` scopes the cache (``None``: all namespaces);
    ``metrics_bind_address`` ``None`` or ``"0"`` turns the metrics server
    off, ``metrics_secure=False`` makes it plain HTTP without token checks,
    ``metrics_cert_dir`` holds its ``tls.crt``/``tls.key`` (else it
    self-signs); ``health_probe_bind_address`` ``None`` or ``"0"`` turns the
    probes off. A secure server with no way to get a certificate is a
    :class:`ConfigError` here.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        name: str = "controller-manager",
        client: Client | None = None,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        rate_limit_per_group: bool = False,
        namespace: str | None = None,
        metrics_bind_address: str | None = ":8443",
        metrics_secure: bool = True,
        metrics_cert_dir: str | None = None,
        health_probe_bind_address: str | None = ":8081",
        leader_election: LeaderElectionOptions | None = None,
        graceful_shutdown_timeout: float = 30.0,
        resync_period: float = 0.0,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.name = name
        self._owns_client = client is None
        if client is None:
            config = dataclasses.replace(config or load_config(), qps=qps, burst=burst)
            client = Client(config, rate_limit_per_group=rate_limit_per_group)
        self.client = client
        self.config = client.config
        self.registry = registry
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self.leader_election = leader_election
        # Named after the manager, so /metrics has each informer's queue
        # length (informer_queued_items) beside the workqueues' depth.
        self.cache = Cache(
            client,
            namespace=namespace,
            resync_period=resync_period,
            informer_name=name,
            metrics_provider=PrometheusInformerMetricsProvider(registry),
        )
        events_client = client.with_rate_limiter(self.config.qps, self.config.burst)
        self.recorder = EventRecorder(events_client, component=name, registry=registry)
        self.server: MetricsServer | None = None
        if metrics_bind_address not in (None, "", "0"):
            try:
                self.server = MetricsServer(
                    metrics_bind_address,
                    registry,
                    secure=metrics_secure,
                    cert_dir=metrics_cert_dir,
                    authorizer=DelegatingAuthorizer(client) if metrics_secure else None,
                )
            except ConfigError:
                if self._owns_client:
                    client.close()
                raise
        self.probes: HealthProbeServer | None = None
        if health_probe_bind_address not in (None, "", "0"):
            self.probes = HealthProbeServer(health_probe_bind_address)
            self.probes.add_readiness_check("informers", self.cache.has_synced)
        self.controllers: list[Controller[Any]] = []
        self.sharded: list[ShardedController[Any]] = []
        self._queue_metrics = PrometheusMetricsProvider(registry)
        self._elector: LeaderElector | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, **options: Any) -> Manager:
        """A manager from :func:`argument_parser`'s flags; sets up logging
        first. A configuration that cannot be loaded is logged and exits 1
        (controller-runtime's ``GetConfigOrDie``). ``options`` override."""
        setup_logging(args.verbosity, args.log_format)
        name = options.pop("name", None) or args.manager_name
        try:
            config = load_config(
                kubeconfig=args.kubeconfig, master=args.master, context=args.context
            )
        except ConfigError as err:
            _log.error("unable to load a client configuration", error=str(err))
            raise SystemExit(1) from None
        in_cluster = config.source.startswith("in-cluster")
        election = None
        sharded = getattr(args, "shard_count", 0) > 0  # the shards' Leases replace the election
        if not sharded and (args.leader_elect if args.leader_elect is not None else in_cluster):
            election = LeaderElectionOptions(
                id=args.leader_elect_id,
                namespace=args.leader_elect_namespace,
                lease_duration=args.leader_elect_lease_duration,
                renew_deadline=args.leader_elect_renew_deadline,
                retry_period=args.leader_elect_retry_period,
            )
        settings: dict[str, Any] = {
            "name": name,
            "qps": args.kube_api_qps,
            "burst": args.kube_api_burst,
            "rate_limit_per_group": args.kube_api_qps_per_group,
            "namespace": args.namespace,
            "metrics_bind_address": args.metrics_bind_address,
            "metrics_secure": args.metrics_secure,
            "metrics_cert_dir": args.metrics_cert_dir,
            "health_probe_bind_address": args.health_probe_bind_address,
            "leader_election": election,
            "graceful_shutdown_timeout": args.graceful_shutdown_timeout,
        }
        try:
            return cls(config, **{**settings, **options})
        except ConfigError as err:
            _log.error("unable to set up the manager", error=str(err))
            raise SystemExit(1) from None

    def sharding_options(self, args: argparse.Namespace) -> ShardingOptions | None:
        """The :class:`ShardingOptions` :func:`argument_parser`'s sharding
        flags ask for, or None with ``--shard-count 0``."""
        if args.shard_count <= 0:
            return None
        mode = args.shard_selector
        return ShardingOptions(
            shards=args.shard_count,
            shard_by=args.shard_by,
            lease_namespace=self.lease_namespace(args.leader_elect_namespace),
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
            server_side=None if mode == "auto" else mode == "server",
        )

    def lease_namespace(self, namespace: str | None) -> str:
        """Where Leases live: ``namespace``, else the pod's in a cluster, else ``default``."""
        in_cluster = self.config.source.startswith("in-cluster")
        return namespace or (self.config.namespace if in_cluster else "default")

    # -- declarations ----------------------------------------------------------
    def controller(
        self, for_kind: KindRef, reconcile: Reconciler[T] | AsyncReconciler[T], **options: Any
    ) -> Controller[T]:
        """Declare a controller (``options``: :class:`Controller`'s) and add
        it; chain ``.owns(...)`` / ``.watches(...)`` on the result."""
        return self.add(Controller(for_kind, reconcile, **options))

    def add(self, controller: Controller[T]) -> Controller[T]:
        self._check_name(controller.name)
        self.controllers.append(controller)
        return controller

    def sharded_controller(
        self, for_kind: KindRef, reconcile: Reconciler[T], options: ShardingOptions, **kw: Any
    ) -> ShardedController[T]:
        """Declare a controller sharded across replicas (``kw``:
        :class:`ShardedController`'s). It runs on every replica, outside
        leader election: its shards' Leases decide who reconciles what."""
        controller = ShardedController(for_kind, reconcile, options, **kw)
        self._check_name(controller.name)
        self.sharded.append(controller)
        return controller

    def _check_name(self, name: str) -> None:
        names = [c.name for c in self.controllers] + [c.name for c in self.sharded]
        if name in names:
            raise ValueError(f"a controller named {name!r} was added already")

    def lister(self, kind: KindRef, scope: Scope | None = None) -> Lister[Any]:
        """A lister over the manager's cache of ``kind``, for reads in a
        reconcile (an informer is started for it if no controller watches it)."""
        return self.cache.lister(kind, scope)

    def add_health_check(self, name: str, check: Check) -> None:
        if self.probes is not None:
            self.probes.add_liveness_check(name, check)

    def add_readiness_check(self, name: str, check: Check) -> None:
        if self.probes is not None:
            self.probes.add_readiness_check(name, check)

    # -- running -----------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> int:
        """Run until ``stop`` is set (default: until SIGTERM or SIGINT, when
        called from the main thread); returns the exit code. ``stop`` is set
        when this returns, and the manager cannot run again."""
        restore: dict[int, Any] = {}
        if stop is None:
            stop = threading.Event()
            restore = self._install_signal_handlers(stop)
        try:
            return self._run_and_close(stop, None)
        finally:
            for signum, handler in restore.items():
                signal.signal(signum, handler)

    async def run_async(self, stop: asyncio.Event | None = None) -> int:
        """:meth:`run`, awaited: until ``stop`` is set (default: until
        SIGTERM or SIGINT, when the loop is the main thread's) or the
        awaiting task is cancelled, which stops the manager as ``stop``
        would, waits for it, and re-raises. ``async def`` reconcilers run as
        tasks on this loop; the manager's blocking parts (informers, leader
        election, servers) run in threads, so the loop stays free."""
        loop = asyncio.get_running_loop()
        halt = threading.Event()
        signals: list[signal.Signals] = []
        if stop is None and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._signalled, signum, halt)
                signals.append(signum)
        watcher = loop.create_task(_set_when(stop, halt)) if stop is not None else None
        running = loop.run_in_executor(None, self._run_and_close, halt, loop)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            halt.set()
            await running
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            for signum in signals:
                loop.remove_signal_handler(signum)

    @staticmethod
    def _signalled(signum: int, halt: threading.Event) -> None:
        _log.info("Received signal, shutting down", signal=signal.Signals(signum).name)
        halt.set()

    def _run_and_close(self, stop: threading.Event, loop: asyncio.AbstractEventLoop | None) -> int:
        try:
            return self._run(stop, loop)
        finally:
            stop.set()
            if self._owns_client:
                self.client.close()

    def _run(self, stop: threading.Event, loop: asyncio.AbstractEventLoop | None = None) -> int:
        owned: LoopThread | None = None
        if loop is None and any(c.is_async for c in self.controllers):
            owned = LoopThread("kubeloop-reconcile-loop")
            loop = owned.loop
        for controller in self.controllers:
            controller.bind(
                self.cache,
                recorder=self.recorder,
                metrics=ReconcileMetrics(controller.name, self.registry),
                metrics_provider=self._queue_metrics,
                loop=loop,
            )
        for sharded in self.sharded:
            sharded.bind(
                self.client,
                self.cache,
                lease_prefix=f"{self.name}-{sharded.name}",
                recorder=self.recorder,
                metrics=ReconcileMetrics(sharded.name, self.registry),
                metrics_provider=self._queue_metrics,
                shard_metrics=ShardMetrics(self.registry),
            )
        try:
            return self._serve(stop)
        finally:
            if owned is not None:
                owned.stop()

    def _serve(self, stop: threading.Event) -> int:
        self._start_servers()
        self.recorder.start()
        informers_stop = threading.Event()
        self.cache.start(informers_stop)
        try:
            sharded_runs = self._start_sharded(stop)
            if self.leader_election is not None:
                code = self._lead(self.leader_election, stop)
            elif self.controllers:
                code = 0 if self._run_controllers(stop) else 1
            else:
                stop.wait()
                code = 0
            code = max(code, self._join_sharded(sharded_runs))
        finally:
            self.recorder.stop(EVENT_FLUSH_TIMEOUT)
            informers_stop.set()
            self.cache.shutdown(self.graceful_shutdown_timeout)
            for server in (self.server, self.probes):
                if server is not None:
                    server.stop()
        _log.info("Shut down cleanly" if code == 0 else "Shut down", exitCode=code)
        return code

    def _install_signal_handlers(self, event: threading.Event) -> dict[int, Any]:
        """SIGTERM and SIGINT set ``event``; returns the handlers to restore."""
        if threading.current_thread() is not threading.main_thread():
            _log.warning("not in the main thread: SIGTERM and SIGINT are not handled")
            return {}
        restore: dict[int, Any] = {}

        def handle(signum: int, _frame: object) -> None:
            _log.info("Received signal, shutting down", signal=signal.Signals(signum).name)
            event.set()
            # A second signal ends the process at once.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        for signum in (signal.SIGTERM, signal.SIGINT):
            restore[signum] = signal.signal(signum, handle)
        return restore

    def _start_servers(self) -> None:
        if self.server is not None:
            try:
                self.server.start()
            except (OSError, ConfigError) as err:
                # Reconciling does not depend on it: say so loudly and go on.
                _log.error("metrics server disabled", error=str(err))
                self.server = None
        if self.probes is not None:
            try:
                self.probes.start()
            except OSError as err:
                _log.error("health probes disabled", error=str(err))
                self.probes = None

    def _start_sharded(self, stop: threading.Event) -> list[tuple[threading.Thread, list[bool]]]:
        """Run each sharded controller in a thread until ``stop``."""
        started = []
        for controller in self.sharded:
            result = [False]

            def run(c: ShardedController[Any] = controller, out: list[bool] = result) -> None:
                try:
                    out[0] = c.run(stop, self.graceful_shutdown_timeout)
                except Exception:
                    _log.exception("sharded controller failed", controller=c.name)

            thread = threading.Thread(
                target=run, name=f"kubeloop-sharded-{controller.name}", daemon=True
            )
            thread.start()
            started.append((thread, result))
        return started

    def _join_sharded(self, started: list[tuple[threading.Thread, list[bool]]]) -> int:
        """Wait for the sharded controllers (their shards released); 1 if one failed."""
        code = 0
        for thread, result in started:
            thread.join()
            code = code if result[0] else 1
        return code

    def _run_controllers(self, until: threading.Event) -> bool:
        """Run every controller until ``until`` is set and they have drained;
        True if every in-flight reconcile finished within the timeout."""
        results: dict[str, bool] = {}

        def run(controller: Controller[Any]) -> None:
            try:
                results[controller.name] = controller.run(until, self.graceful_shutdown_timeout)
            except Exception:
                _log.exception("controller failed", controller=controller.name)
                results[controller.name] = False

        threads = [
            threading.Thread(
                target=run, args=(c,), name=f"kubeloop-controller-{c.name}", daemon=True
            )
            for c in self.controllers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return all(results.get(c.name, False) for c in self.controllers)

    def _lead(self, options: LeaderElectionOptions, stop: threading.Event) -> int:
        identity = options.identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        namespace = self.lease_namespace(options.namespace)
        lease = f"{namespace}/{options.id}"
        # Guards the decision to start leading against a stop arriving meanwhile.
        decision = threading.Lock()
        led = threading.Event()
        work_done = threading.Event()
        elector_stop = threading.Event()
        drained = [True]

        def started(stop_leading: threading.Event) -> None:
            with decision:
                if stop.is_set():
                    elector_stop.set()
                    work_done.set()
                    return
                led.set()
            try:
                _log.info("became leader, starting controllers", lease=lease, identity=identity)
                until = threading.Event()
                on_stop(stop_leading, until.set)
                on_stop(stop, until.set)
                drained[0] = self._run_controllers(until)
            finally:
                work_done.set()
                elector_stop.set()  # drained: only now may the Lease go

        def stop_while_standby() -> None:
            with decision:
                if not led.is_set():
                    elector_stop.set()

        on_stop(stop, stop_while_standby)
        elector = self._elector = LeaderElector(
            LeaderElectionConfig(
                # A budget of its own (kube-controller-manager's leader-election
                # client): a renewal never waits behind the controllers' writes.
                lock=LeaseLock(
                    self.client.with_rate_limiter(4 / options.retry_period, 4),
                    namespace,
                    options.id,
                    identity,
                    event_recorder=self.recorder,
                ),
                callbacks=LeaderCallbacks(
                    on_started_leading=started,
                    on_stopped_leading=lambda: _log.info("stopped leading", identity=identity),
                    on_new_leader=lambda who: _log.info("new leader elected", identity=who),
                ),
                lease_duration=options.lease_duration,
                renew_deadline=options.renew_deadline,
                retry_period=options.retry_period,
                release_on_cancel=options.release_on_cancel,
                name=options.id,
                metrics=PrometheusLeaderMetrics(self.registry),
            )
        )
        if self.probes is not None:
            # Unhealthy if the renew loop is stuck well past the lease.
            self.probes.add_liveness_check("leaderElection", elector.check)
        _log.info("attempting to acquire leader lease", lease=lease, identity=identity)
        elector.run(elector_stop)
        if led.is_set() and not work_done.wait(self.graceful_shutdown_timeout):
            _log.error("controllers did not stop within the shutdown timeout")
            return 1
        if led.is_set() and not stop.is_set():
            _log.error("leader election lost", lease=lease, identity=identity)
            return 1
        return 0 if drained[0] else 1

    @property
    def elector(self) -> LeaderElector | None:
        """The leader elector while :meth:`run` elects (for checks and tests)."""
        return self._elector


async def _set_when(stop: asyncio.Event, halt: threading.Event) -> None:
    await stop.wait()
    halt.set()
