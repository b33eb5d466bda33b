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
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubeloop.cache import (
    ExponentialBackoffManager,
    ShardBy,
    ShardKey,
    get_namespace,
    meta_namespace_key_func,
    on_stop,
    probe_shard_selector,
    wait_for_cache_sync,
)
from kubeloop.client import Client
from kubeloop.errors import KubeloopError
from kubeloop.leaderelection import LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock
from kubeloop.runtime.cache import Cache, CacheEntry
from kubeloop.runtime.context import Context, EventRecorderLike
from kubeloop.runtime.controller import Controller, start_requeue
from kubeloop.runtime.kinds import Kind, KindRef, KindResolver
from kubeloop.runtime.membership import GROUP_LABEL, Membership
from kubeloop.runtime.metrics import ReconcileMetrics
from kubeloop.runtime.owners import controller_of
from kubeloop.runtime.result import Result
from kubeloop.runtime.runner import Reconciler, Runner
from kubeloop.runtime.shard_assignment import desired_shards
from kubeloop.runtime.shard_cache import ShardCache
from kubeloop.runtime.shard_metrics import ShardMetrics
from kubeloop.runtime.sources import Source, SourceHandler
from kubeloop.workqueue import PrometheusMetricsProvider, RateLimitingQueue

__all__ = ["ShardedController", "ShardingOptions"]

_log = logging.getLogger("kubeloop.runtime")

T = TypeVar("T")


@dataclass(frozen=True)
class ShardingOptions:
    """``shards`` virtual shards hashed by ``shard_by``; Leases in
    ``lease_namespace`` with leader election's durations (defaults as
    client-go's). ``identity`` defaults to ``<hostname>_<random>``;
    ``server_side`` ``None`` probes the server."""

    shards: int
    shard_by: ShardBy = "uid"
    lease_namespace: str = "default"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None
    server_side: bool | None = None

    def __post_init__(self) -> None:
        ShardKey(self.shard_by, self.shards)  # the same checks, the same messages
        if not self.lease_duration > self.renew_deadline > 0 < self.retry_period:
            raise ValueError(
                "need lease_duration > renew_deadline > 0 and retry_period > 0, got "
                f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}"
            )


class _Held:
    """One shard's elector and what its Lease holding is doing."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.elector_stop = threading.Event()
        self.release = threading.Event()  # asked to hand the shard over
        self.done = threading.Event()  # released or lost: the holding ends
        self.worked = threading.Event()  # the work (if it started) has ended
        # Guards leading against release: a release asked before the work
        # starts must stop the elector itself.
        self.lock = threading.Lock()
        self.leading = False
        self.thread: threading.Thread | None = None


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
        self._owned: list[tuple[Source, CacheEntry]] = []
        # Set by bind().
        self._client: Client | None = None
        self._cache: Cache | None = None
        self.shards: ShardCache | None = None
        self.runner: Runner[T] | None = None
        self.metrics: ShardMetrics | None = None
        self._lease_prefix = self.name
        # Guards _held (the coordinator and the electors' threads).
        self._lock = threading.Lock()
        self._held: dict[int, _Held] = {}
        self._ready = threading.Event()

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
            ctx.log.debug("Key not in a shard held here: skipped", shard=shard)
            return Result.done()
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
            scope=self._source.scope,
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
            self._coordinate(client, stop)
            drained = self._release_all(shutdown_timeout)
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
        resources: Any = (
            client.resource(kind.model)
            if kind.model is not None
            else client.resource(kind.api_version, kind.plural, namespaced=kind.namespaced)
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

    def _sweep_keys(self) -> Iterable[str]:
        """``requeue_keys()`` once shards are held (before, a sweep has
        nothing it may claim)."""
        keys = self.declared.requeue_keys
        return keys() if keys is not None and self.held_shards() else ()

    def _cached_keys(self) -> builtins.list[str]:
        return [meta_namespace_key_func(o) for o in self.list()]

    # -- membership and the shards' Leases ------------------------------------------
    def _coordinate(self, client: Client, stop: threading.Event) -> None:
        """Every retry period: renew our member Lease, count the live
        replicas, compete for the shards assigned to us, release the others."""
        options = self.options
        members = Membership(
            client,
            options.lease_namespace,
            self._lease_prefix,
            self.identity,
            lease_duration=options.lease_duration,
        )
        try:
            # Watch the member Leases for one lease duration before taking
            # shards: replicas started together (a Deployment's) then see each
            # other, and none takes every shard only to hand most back.
            reported: set[int] = set()
            members.heartbeat()
            deadline = time.monotonic() + options.lease_duration
            while time.monotonic() < deadline:
                if stop.wait(options.retry_period):
                    return
                members.heartbeat()
                members.live()
            while not stop.is_set():
                members.heartbeat()
                live = members.live()
                want = desired_shards(options.shards, live, self.identity)
                self._adjust(client, want, members)
                reported = self._report(len(live), reported)
                stop.wait(options.retry_period)
        finally:
            members.leave()

    def _report(self, members: int, reported: set[int]) -> set[int]:
        """Members and each shard informer's cache size to the metrics;
        returns the shards reported (the series of the others are removed)."""
        metrics, shards = self.metrics, self.shards
        if metrics is None or shards is None:
            return reported
        metrics.set_members(self.name, members)
        kind = shards.kind
        group, _, version = kind.api_version.rpartition("/")
        cached = shards.cached_objects()
        for index in reported - set(cached):
            metrics.forget_cached(f"{self.name}-shard-{index}", group, version, kind.plural)
        for index, n in cached.items():
            metrics.set_cached(f"{self.name}-shard-{index}", group, version, kind.plural, n)
        return set(cached)

    def _adjust(self, client: Client, want: frozenset[int], members: Membership) -> None:
        with self._lock:
            for index, held in list(self._held.items()):
                ended = held.thread is not None and not held.thread.is_alive()
                # Its elector ended (lease lost or released) and the shard's
                # informer is stopped: only now may a new elector compete.
                if ended and (held.worked.is_set() or not held.leading):
                    del self._held[index]
            running = set(self._held)
        for index in sorted(want - running):
            self._compete(client, index, members)
        for index in sorted(running - want):
            self._ask_release(index)

    def _compete(self, client: Client, index: int, members: Membership) -> None:
        options = self.options
        held = _Held(index)
        lease = f"{self._lease_prefix}-shard-{index}"
        labels = {GROUP_LABEL: self._lease_prefix}
        elector = LeaderElector(
            LeaderElectionConfig(
                lock=LeaseLock(
                    client, options.lease_namespace, lease, self.identity, labels=labels
                ),
                callbacks=LeaderCallbacks(
                    on_started_leading=lambda stop_leading: self._hold(held, stop_leading),
                    on_stopped_leading=lambda: None,
                ),
                lease_duration=options.lease_duration,
                renew_deadline=options.renew_deadline,
                retry_period=options.retry_period,
                release_on_cancel=True,
                name=lease,
            )
        )
        seen = members.observation(lease)
        if seen is not None:  # expiry counted from when we first saw it unchanged
            elector.observe(*seen)
        held.thread = threading.Thread(
            target=elector.run,
            args=(held.elector_stop,),
            name=f"kubeloop-shard-{self.name}-{index}",
            daemon=True,
        )
        with self._lock:
            self._held[index] = held
        held.thread.start()

    def _ask_release(self, index: int) -> None:
        with self._lock:
            held = self._held.get(index)
        if held is None:
            return
        with held.lock:
            held.release.set()
            held.done.set()
            if not held.leading:
                held.elector_stop.set()  # still competing: nothing to hand over

    def _hold(self, held: _Held, stop_leading: threading.Event) -> None:
        """``on_started_leading`` of shard ``held.index``: sync its
        informer, open it, work it until the Lease is lost or a release is
        asked, then close it and wait for its in-flight reconciles."""
        shards, runner = self.shards, self.runner
        assert shards is not None and runner is not None
        with held.lock:
            held.leading = True
            if held.release.is_set():
                held.elector_stop.set()
                held.worked.set()
                return
        index, done = held.index, held.done
        unregister = on_stop(stop_leading, done.set)
        log = runner.log.with_values(shard=index)
        try:
            if not shards.start(index, done):
                return
            handler = SourceHandler(
                self._source, self.name, _own_key, runner.queue.add, runner.last_known.record
            )
            shards.activate(index, handler)
            if self.metrics is not None:
                self.metrics.set_held(self.name, index, True)
            log.info("Shard held: reconciling its keys")
            for key in self._sweep_keys():  # what the sweep finds in the new shard
                runner.queue.add(key)
            done.wait()
        except Exception:
            log.exception("Working the shard failed: giving it up")
        finally:
            unregister()
            # Lost: stop at once (the renew deadline already passed). Released:
            # wait for every in-flight reconcile, however long, before the Lease goes.
            timeout = None if held.release.is_set() else self.options.renew_deadline
            if not shards.deactivate(index, timeout):
                log.error("Reconciles of a lost shard still running past the renew deadline")
            shards.stop(index, self.options.renew_deadline)
            if self.metrics is not None:
                self.metrics.set_held(self.name, index, False)
            log.info("Shard released" if held.release.is_set() else "Shard lost")
            # Whatever ended the work ends the holding: a Lease renewed with
            # nobody working its shard would starve the shard's keys.
            held.elector_stop.set()
            held.worked.set()

    def _release_all(self, timeout: float | None) -> bool:
        with self._lock:
            held = list(self._held.values())
        for h in held:
            self._ask_release(h.index)
        alive = False
        for h in held:
            if h.thread is not None:
                h.thread.join(timeout)
                alive = alive or h.thread.is_alive()
        return not alive

    def received_objects(self) -> int:
        """Objects the server sent this replica's shard informers."""
        return self.shards.received.value if self.shards is not None else 0


def _own_key(obj: Any) -> list[str]:
    return [meta_namespace_key_func(obj)]
