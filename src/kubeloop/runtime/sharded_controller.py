"""One controller sharded across replicas: each holds about S/R of S
virtual shards (hash ranges), each shard through its own Lease.

::

    options = ShardingOptions(shards=12, shard_by="uid", lease_namespace="kube-system")
    networks = manager.sharded_controller(Network, reconcile, options, name="networks")
    networks.owns(("apps/v1", "Deployment"))     # reconciled on the owner's replica
    manager.run()

Membership (:mod:`~kubeloop.runtime.membership`): every replica renews a
Lease of its own and counts the live ones; from the count every replica
computes the same assignment (:mod:`~kubeloop.runtime.shard_assignment`),
and runs a :class:`~kubeloop.leaderelection.LeaderElector` for each shard
assigned to it, on the Lease ``<name>-shard-<i>``. Holding that Lease is
what allows reconciling the shard's keys; the assignment only says which
Leases to compete for. A shard whose holder died is taken once its Lease
expires (lease duration after its last renewal, as leader election); a
shard assigned elsewhere after a join is released: no new reconcile of it
starts, the in-flight ones finish, then the Lease is handed back (an empty
holder, so the next holder takes it at its next retry).

Why one Lease per shard and not one per replica listing its shards: each
shard's hand-over is then one conditional write on one object, the
leader-election code and its guarantee apply unchanged, and a replica
that loses contact loses its shards one by one as each Lease's renewal
fails, never a half-written list. The cost is S Lease renewals per retry
period across the group (12 shards at 2 s: 6 writes a second), which the
API server handles easily for tens of shards.

The guarantee: a key is reconciled by at most one replica at a time, as
long as leader election's assumptions hold (a replica that cannot renew a
shard stops starting its reconciles at once and gives up after
``renew_deadline``, before ``lease_duration`` lets another take it; a
reconcile still running then must end within the difference). Its
informer and the reconcile gate are the :class:`ShardCache`'s.

Owned kinds (``owns``) are watched by one metadata-only informer over all
shards (it caches names and ownerReferences only), and an event enqueues
its controller-owner's key only when the owner's shard is held here. The
owner's shard is computed from the ownerReference's ``uid`` (sharding by
uid) or from the object's namespace (sharding by namespace, where owner
and owned always share one): no lookup, and it is exact.
"""

from __future__ import annotations

import builtins
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from kubeloop.cache import (
    ExponentialBackoffManager,
    ShardKey,
    get_namespace,
    meta_namespace_key_func,
    on_stop,
    probe_shard_selector,
    wait_for_cache_sync,
)
from kubeloop.client import Client
from kubeloop.errors import KubeloopError
from kubeloop.runtime.cache import Cache, CacheEntry
from kubeloop.runtime.context import Context, EventRecorderLike
from kubeloop.runtime.controller import Controller, start_requeue
from kubeloop.runtime.kinds import Kind, KindRef, KindResolver
from kubeloop.runtime.metrics import ReconcileMetrics
from kubeloop.runtime.owners import controller_of
from kubeloop.runtime.result import Result
from kubeloop.runtime.runner import Reconciler, Runner
from kubeloop.runtime.shard_cache import ShardCache
from kubeloop.runtime.shard_leases import ShardingOptions, ShardLeases, coordination_client
from kubeloop.runtime.shard_metrics import ShardMetrics
from kubeloop.runtime.sources import Scope, Source, SourceHandler
from kubeloop.workqueue import PrometheusMetricsProvider, RateLimitingQueue

__all__ = ["ShardedController"]

_log = logging.getLogger("kubeloop.runtime")

T = TypeVar("T")


class ShardedController(Generic[T]):
    """Declares a sharded controller (see the module docs); the manager
    binds and runs it. Public reads for the application's sweeps:
    :meth:`held_shards`, :meth:`owns_value`, :meth:`claim`, :meth:`list`."""

    def __init__(
        self,
        for_kind: KindRef,
        reconcile: Reconciler[T],
        options: ShardingOptions,
        **declared: Any,
    ) -> None:
        # The declarations (name, workers, filters, scope, transform,
        # timeout, requeue, rate limiter) are a plain Controller's.
        self.declared: Controller[T] = Controller(for_kind, reconcile, **declared)
        self.primary = self.declared.sources[0].kind
        self.name = self.declared.name
        self.options = options
        self.key = ShardKey(options.shard_by, options.shards)
        self.identity = options.identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        self.reconcile = reconcile
        self._source = self.declared.sources[0]
        self._scope = self._source.scope  # with the manager's namespace, once bound
        self._owned: list[tuple[Source, CacheEntry]] = []
        # Set by bind().
        self._client: Client | None = None
        self._cache: Cache | None = None
        self.shards: ShardCache | None = None
        self.runner: Runner[T] | None = None
        self.metrics: ShardMetrics | None = None
        self._lease_prefix = self.name
        self._ready = threading.Event()
        # Set when a shard is gained: one sweep round follows, for however many.
        self._sweep_wanted = threading.Event()
        self._reported: set[int] = set()  # shards whose cache size the metrics show

    def __repr__(self) -> str:
        return f"ShardedController({self.name!r}, for {self.primary}, {self.options.shards} shards)"

    def owns(self, kind: KindRef, **options: Any) -> ShardedController[T]:
        """Reconcile the controller-owner (of the primary kind) of every
        changed object of ``kind`` (``options``: :meth:`Controller.owns`'s),
        on the replica that holds the owner."""
        if self._cache is not None:
            raise RuntimeError(f"{self.name}: add sources before the controller joins a manager")
        self.declared.owns(kind, **options)
        return self

    # -- inside a manager -------------------------------------------------------
    def bind(
        self,
        client: Client,
        cache: Cache,
        *,
        lease_prefix: str | None = None,
        recorder: EventRecorderLike | None = None,
        metrics: ReconcileMetrics | None = None,
        metrics_provider: PrometheusMetricsProvider | None = None,
        shard_metrics: ShardMetrics | None = None,
    ) -> None:
        if self._cache is not None:
            raise RuntimeError(f"{self.name}: already bound to a manager")
        self._client, self._cache = client, cache
        scope = self._source.scope
        if scope.namespace is None and cache.namespace is not None:  # the manager's --namespace
            scope = Scope(cache.namespace, scope.label_selector, scope.field_selector)
        self._scope = scope
        self._lease_prefix = lease_prefix or self.name
        self._owned = [
            (s, cache.register(s.kind, s.scope, s.transform, metadata_only=s.metadata_only))
            for s in self.declared.sources[1:]
        ]
        queue: RateLimitingQueue[str] = RateLimitingQueue(
            self.declared.rate_limiter, self.name, metrics_provider=metrics_provider
        )
        self.runner = Runner(
            self.name,
            self._gated,
            self._get,
            queue=queue,
            metrics=metrics,
            recorder=recorder,
            timeout=self.declared.timeout,
        )
        self.metrics = shard_metrics
        if shard_metrics is not None:
            shard_metrics.init(self.name, self.options.shards)

    # -- reads for the application --------------------------------------------
    def held_shards(self) -> frozenset[int]:
        """The shards held here, synced and open to reconciles now."""
        return self.shards.active() if self.shards is not None else frozenset()

    def owns_value(self, value: str, shards: frozenset[int] | None = None) -> bool:
        """Whether the object whose uid (or namespace) is ``value`` is in a
        shard of ``shards`` (default: :meth:`held_shards`)."""
        held = self.held_shards() if shards is None else shards
        return self.key.shard_of_value(value) in held

    def claim(self, key: str, value: str, shards: frozenset[int] | None = None) -> bool:
        """:meth:`owns_value`, and if so, remember that ``key`` (with no
        cached object, e.g. an orphan a sweep found) is of that shard, so
        its reconcile is let through the gate. For sweeps::

            held = controller.held_shards()
            cached = controller.list(held)
            orphans = [k for k, uid in backend_entries if controller.claim(k, uid, held)]
        """
        shard = self.key.shard_of_value(value)
        if shards is not None and shard not in shards:
            return False
        return self.shards is not None and self.shards.claim(key, shard)

    def list(self, shards: frozenset[int] | None = None) -> builtins.list[T]:
        """The cached primaries of ``shards`` (default: every held one)."""
        return self.shards.list(shards) if self.shards is not None else []

    def has_synced(self) -> bool:
        """Readiness: probed, owned kinds synced, and working (a replica
        that holds no shard yet is ready too)."""
        return self._ready.is_set()

    def _get(self, key: str) -> T | None:
        found = self.shards.get(key) if self.shards is not None else None
        return found[1] if found is not None else None

    def _shard_of(self, key: str, obj: Any) -> int | None:
        if obj is not None:
            return self.key.shard_of(obj)
        if self.key.by == "namespace":
            return self.key.shard_of_value(key.rpartition("/")[0])
        return self.shards.claimed(key) if self.shards is not None else None

    def _gated(self, ctx: Context[T], obj: T | None) -> Result | None:
        shards = self.shards
        shard = self._shard_of(ctx.key, obj if obj is not None else ctx.last_known)
        token = shards.enter(shard) if shards is not None and shard is not None else None
        if shards is None or token is None:
            if shards is not None and shard is not None and shards.is_active(shard):
                # Held, but its Lease's renewal is overdue: another replica may
                # take the shard now. Try again; if the shard is lost by then,
                # its new holder reconciles the key.
                ctx.log.info("Shard's lease renewal overdue: retrying later", shard=shard)
                return Result.after(self.options.retry_period)
            ctx.log.debug("Key not in a shard held here: skipped", shard=shard)
            return Result.done()
        # Which shard's gate the reconcile went through: the chaos suite's
        # sharded mode checks per key and shard that no two replicas overlap.
        ctx.log.debug("Shard entered", shard=shard)
        try:
            return self.reconcile(ctx, obj)
        finally:
            shards.leave(token)

    # -- running -----------------------------------------------------------------
    def run(self, stop: threading.Event, shutdown_timeout: float | None = None) -> bool:
        """Hold shards and reconcile until ``stop``; then release every
        shard (in-flight reconciles first) and stop. True when drained."""
        client, cache, runner = self._client, self._cache, self.runner
        if client is None or cache is None or runner is None:
            raise RuntimeError(f"{self.name}: add the controller to a manager first")
        kind = KindResolver(client).resolve(self.primary, stop.wait)
        server_side = None if kind is None else self._probe(client, kind, stop)
        if kind is None or server_side is None:
            return runner.stop(0)
        runner.kind = (kind.api_version, kind.kind)
        self.shards = ShardCache(
            client,
            kind,
            self.key,
            name=self.name,
            server_side=server_side,
            scope=self._scope,
            transform=self._source.transform,
        )
        registrations = []
        try:
            for source, entry in self._owned:
                if not cache.wait_ready(entry, stop):
                    return runner.stop(0)
                assert entry.informer is not None
                handler = SourceHandler(source, self.name, self._owner_keys(kind), runner.queue.add)
                registrations.append((entry, entry.informer.add_event_handler(handler)))
            if not wait_for_cache_sync(stop, *(r.has_synced for _, r in registrations)):
                return runner.stop(0)
            runner.start(self.declared.workers)
            declared = self.declared
            sweep = self._sweep_keys if declared.requeue_keys is not None else None
            ticker = start_requeue(runner, stop, declared.requeue_every, sweep, self._cached_keys)
            self._ready.set()
            leases = ShardLeases(
                coordination_client(client, self.options),
                self.options,
                self.identity,
                group=self._lease_prefix,
                work=self._work,
                on_round=self._report,
            )
            sweeper = self._start_sweeper(runner, stop)
            leases.run(stop)
            drained = leases.release_all(shutdown_timeout)
            if sweeper is not None:
                sweeper.join()
            drained = runner.stop(shutdown_timeout) and drained
            if ticker is not None:
                ticker.join()
            return drained
        finally:
            for entry, registration in registrations:
                assert entry.informer is not None
                entry.informer.remove_event_handler(registration)
            self.shards.stop_all(0)

    def _probe(self, client: Client, kind: Kind, stop: threading.Event) -> bool | None:
        """Whether the server applies shard selectors (retried until it answers)."""
        if self.options.server_side is not None:
            return self.options.server_side
        namespace = self._scope.namespace  # where this replica may list (its RBAC)
        resources: Any = (
            client.resource(kind.model, namespace=namespace)
            if kind.model is not None
            else client.resource(
                kind.api_version, kind.plural, namespace=namespace, namespaced=kind.namespaced
            )
        )
        backoff = ExponentialBackoffManager(0.8, 30.0, 120.0, 2.0, 1.0)
        while not stop.is_set():
            try:
                applies = probe_shard_selector(resources)
            except KubeloopError as err:
                _log.warning("%s: probing shardSelector support failed: %s", self.name, err)
                if stop.wait(backoff.backoff()):
                    return None
                continue
            if applies:
                _log.info(
                    "%s: the API server applies shardSelector: each shard lists and watches "
                    "its own objects only",
                    self.name,
                )
            else:
                _log.warning(
                    "%s: the API server ignores shardSelector (feature gate ShardedListAndWatch "
                    "off, or a server before 1.36): filtering on the client, every replica "
                    "receives every object",
                    self.name,
                )
            return applies
        return None

    def _owner_keys(self, primary: Kind) -> Callable[[Any], builtins.list[str]]:
        def keys(obj: Any) -> builtins.list[str]:
            ref = controller_of(obj)
            if ref is None or ref.kind != primary.kind or ref.group != primary.group:
                return []
            namespace = get_namespace(obj) if primary.namespaced else ""
            value = namespace if self.key.by == "namespace" else ref.uid
            if not self.owns_value(value):
                return []
            return [f"{namespace}/{ref.name}" if namespace else ref.name]

        return keys

    def _start_sweeper(self, runner: Runner[T], stop: threading.Event) -> threading.Thread | None:
        """With ``requeue_keys``: one sweep round a retry period after
        shards were gained (a replica gaining twelve at start sweeps once,
        not twelve times over the whole backend)."""
        if self.declared.requeue_keys is None:
            return None
        wanted = self._sweep_wanted
        unregister = on_stop(stop, wanted.set)

        def sweep() -> None:
            try:
                while wanted.wait() and not stop.is_set():
                    if stop.wait(self.options.retry_period):
                        return
                    wanted.clear()
                    try:
                        for key in self._sweep_keys():
                            runner.queue.add(key)
                    except Exception:
                        runner.log.exception("sweep after gaining shards failed")
            finally:
                unregister()

        thread = threading.Thread(target=sweep, name=f"kubeloop-sweep-{self.name}", daemon=True)
        thread.start()
        return thread

    def _sweep_keys(self) -> Iterable[str]:
        """``requeue_keys()`` once shards are held (before, a sweep has
        nothing it may claim)."""
        keys = self.declared.requeue_keys
        return keys() if keys is not None and self.held_shards() else ()

    def _cached_keys(self) -> builtins.list[str]:
        return [meta_namespace_key_func(o) for o in self.list()]

    # -- the shards' work ---------------------------------------------------------
    def _report(self, members: int) -> None:
        """Members and each shard informer's cache size to the metrics (the
        series of shards no longer here removed)."""
        metrics, shards = self.metrics, self.shards
        if metrics is None or shards is None:
            return
        metrics.set_members(self.name, members)
        kind = shards.kind
        group, _, version = kind.api_version.rpartition("/")
        cached = shards.cached_objects()
        for index in self._reported - set(cached):
            metrics.forget_cached(f"{self.name}-shard-{index}", group, version, kind.plural)
        for index, n in cached.items():
            metrics.set_cached(f"{self.name}-shard-{index}", group, version, kind.plural, n)
        self._reported = set(cached)

    def _work(
        self,
        index: int,
        done: threading.Event,
        released: threading.Event,
        held_until: Callable[[], float],
    ) -> None:
        """A held shard's life (:data:`~kubeloop.runtime.shard_leases.ShardWork`):
        sync its informer, open it, work it until ``done``, then close it
        and wait for its in-flight reconciles."""
        shards, runner = self.shards, self.runner
        assert shards is not None and runner is not None
        log = runner.log.with_values(shard=index)
        try:
            if not shards.start(index, done):
                return
            handler = SourceHandler(
                self._source, self.name, _own_key, runner.queue.add, runner.last_known.record
            )
            shards.activate(index, handler, held_until)
            if self.metrics is not None:
                self.metrics.set_held(self.name, index, True)
            log.info("Shard held: reconciling its keys")
            self._sweep_wanted.set()  # what the sweep finds in the new shard, soon
            done.wait()
        finally:
            # Lost: stop at once (the renew deadline already passed). Released:
            # wait for every in-flight reconcile, however long, before the Lease goes.
            timeout = None if released.is_set() else self.options.renew_deadline
            if not shards.deactivate(index, timeout):
                log.error("Reconciles of a lost shard still running past the renew deadline")
            shards.stop(index, self.options.renew_deadline)
            if self.metrics is not None:
                self.metrics.set_held(self.name, index, False)
            log.info("Shard released" if released.is_set() else "Shard lost")

    def received_objects(self) -> int:
        """Objects the server sent this replica's shard informers."""
        return self.shards.received.value if self.shards is not None else 0


def _own_key(obj: Any) -> list[str]:
    return [meta_namespace_key_func(obj)]
