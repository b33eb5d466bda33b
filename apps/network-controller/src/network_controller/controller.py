"""The Network controller: make the backend's networks follow the Network
objects users declare (client-go's sample-controller shape).

Event handlers only put ``namespace/name`` keys on a rate-limited workqueue;
workers pop keys and run :meth:`NetworkController.sync_handler`, which reads
the desired object from the lister (the informer's cache) and the actual
network from the backend, and makes them agree.

Why a backend sweep and not a finalizer (guarantee: no orphaned network):
every resync period, and once when the caches have synced, the controller
compares the backend's networks with the cache and enqueues any key that is
orphaned (no Network) or drifted (changed out of band). A finalizer would
also catch deletes made while the controller was down, but it makes every
Network undeletable while the controller is not installed and needs an extra
write per object; the sweep needs neither and also repairs drift, which a
finalizer cannot. The price is that an orphan lives until the next sweep
(at most one resync period), not zero seconds. A controller scoped to one
namespace sweeps only that namespace's keys: the backend may be shared with
controllers for other namespaces, whose networks are not orphans.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from kubeloop.cache import (
    DeletedFinalStateUnknown,
    Lister,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
    meta_namespace_key_func,
    split_meta_namespace_key,
    wait_for_cache_sync,
)
from kubeloop.client import Client
from kubeloop.errors import KubeloopError, is_not_found
from kubeloop.events import NORMAL, WARNING, EventRecorder
from kubeloop.runtime import ReconcileMetrics
from kubeloop.workqueue import RateLimitingQueue
from network_controller.backend import (
    ActualNetwork,
    Backend,
    BackendError,
    DesiredNetwork,
    differs,
    normalise_cidr,
)

log = logging.getLogger("network_controller")

NETWORK_API_VERSION = "samplecrd.k8s.io/v1"
FIELD_MANAGER = "network-controller"


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class InvalidSpec(Exception):
    """The Network's spec cannot be realised; retrying will not help."""


class NetworkController:
    """Reconciles Networks against a :class:`Backend`.

    Example (what ``main`` does)::

        controller = NetworkController(client, network_informer, backend, recorder)
        factory.start(stop)
        controller.run(workers=2, stop=stop)   # blocks until stop is set
    """

    def __init__(
        self,
        client: Client,
        network_informer: SharedIndexInformer,
        backend: Backend,
        recorder: EventRecorder,
        *,
        resync_period: float = 30.0,
        namespace: str | None = None,
        write_status: bool = True,
        metrics: ReconcileMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.networks = client.resource(NETWORK_API_VERSION, "networks", namespaced=True)
        self.network_lister = Lister(network_informer.get_indexer(), resource="networks")
        self.networks_synced = network_informer.has_synced
        self.backend = backend
        self.recorder = recorder
        self.resync_period = resync_period
        self.namespace = namespace
        # False only for benchmarks, where no peer writes status.
        self.write_status = write_status
        self.workqueue: RateLimitingQueue[str] = RateLimitingQueue(name="networks")
        # Last object seen for a key whose Network was deleted, so the
        # Deleted event can name it. Guarded by _deleted_lock (handler thread
        # writes, workers pop).
        self._deleted_lock = threading.Lock()
        self._deleted: dict[str, Any] = {}
        log.info("Setting up event handlers")
        network_informer.add_event_handler(
            ResourceEventHandlerFuncs(
                add_func=self.enqueue_network,
                update_func=self._on_update,
                delete_func=self._on_delete,
            )
        )

    # -- event handlers: keys only -------------------------------------------
    def enqueue_network(self, obj: Any) -> None:
        key = meta_namespace_key_func(obj)
        log.debug("Enqueued '%s'", key)
        self.workqueue.add(key)

    def _on_update(self, old: Any, new: Any) -> None:
        # A resync replays the cache as updates with an unchanged
        # resourceVersion: nothing changed, so there is nothing to do (the
        # backend sweep catches drift instead).
        if _meta(old).get("resourceVersion") == _meta(new).get("resourceVersion"):
            return
        self.enqueue_network(new)

    def _on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            # The watch missed the delete; the tombstone carries the key and
            # the last object known.
            key, obj = obj.key, obj.obj
        else:
            key = meta_namespace_key_func(obj)
        with self._deleted_lock:
            self._deleted[key] = obj
        self.workqueue.add(key)

    # -- running -------------------------------------------------------------
    def run(self, workers: int, stop: threading.Event) -> None:
        """Wait for the caches, start ``workers`` workers and the backend
        sweep, and block until ``stop`` is set; then stop taking work, let
        in-flight items finish, and return."""
        log.info("Starting Network controller")
        log.info("Waiting for informer caches to sync")
        if not wait_for_cache_sync(stop, self.networks_synced):
            log.info("Stopped before the caches synced")
            self.workqueue.shut_down()
            return
        log.info("Starting workers count=%d", workers)
        threads = [
            threading.Thread(target=self._run_worker, args=(stop,), name=f"worker-{i}")
            for i in range(workers)
        ]
        threads.append(
            threading.Thread(target=self._sweep_loop, args=(stop,), name="backend-sweep")
        )
        for t in threads:
            t.start()
        log.info("Started workers")
        stop.wait()
        log.info("Shutting down workers")
        self.workqueue.shut_down()
        for t in threads:
            t.join()
        log.info("Workers stopped")

    def _run_worker(self, stop: threading.Event) -> None:
        while self.process_next_work_item(stop):
            pass

    def process_next_work_item(self, stop: threading.Event) -> bool:
        """Pop one key and sync it: forget on success, add_rate_limited on
        error, done always. False once the queue has shut down."""
        key, shutdown = self.workqueue.get()
        if shutdown or key is None:
            return False
        try:
            if stop.is_set():
                return False  # stopping: take no new work
            started = time.monotonic()
            try:
                self.sync_handler(key)
            except Exception as err:  # retried with per-item backoff
                if self.metrics is not None:
                    self.metrics.observe("error", time.monotonic() - started)
                self.workqueue.add_rate_limited(key)
                log.error(
                    "error syncing '%s': %s, requeuing (attempt %d)",
                    key,
                    err,
                    self.workqueue.num_requeues(key),
                )
                return True
            if self.metrics is not None:
                self.metrics.observe("success", time.monotonic() - started)
            self.workqueue.forget(key)
            log.info("Successfully synced '%s'", key)
            return True
        finally:
            self.workqueue.done(key)

    # -- the reconcile -------------------------------------------------------
    def sync_handler(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        try:
            network = self.network_lister.namespaced(namespace).get(name)
        except KubeloopError as err:
            if not is_not_found(err):
                raise
            self._delete_actual(key)
            return
        if _meta(network).get("deletionTimestamp"):
            return  # being deleted; the delete event will remove it
        try:
            desired, note = self._desired(key, network)
        except InvalidSpec as err:
            # Retrying cannot help until the user changes the spec.
            self._write_status(network, None, "False", "InvalidSpec", str(err))
            self.recorder.event(network, WARNING, "InvalidSpec", str(err))
            return
        try:
            actual = self.backend.get(key)
            if actual is None:
                actual = self.backend.create(desired)
                self.recorder.event(
                    network,
                    NORMAL,
                    "Created",
                    f"Created network {desired.cidr} via {desired.gateway}",
                )
            elif differs(actual, desired):
                actual = self.backend.update(desired)
                self.recorder.event(
                    network,
                    NORMAL,
                    "Updated",
                    f"Updated network to {desired.cidr} via {desired.gateway}",
                )
        except BackendError as err:
            self._write_status(network, None, "False", "BackendError", str(err))
            self.recorder.event(network, WARNING, "SyncFailed", str(err))
            raise
        reason, message = ("Synced", "The network is in place")
        if note:
            reason, message = ("Normalized", note)
        self._write_status(network, actual, "True", reason, message)

    def _desired(self, key: str, network: Any) -> tuple[DesiredNetwork, str]:
        spec = network.get("spec") or {}
        cidr, gateway = str(spec.get("cidr", "")), str(spec.get("gateway", ""))
        try:
            normalised, changed = normalise_cidr(cidr)
        except ValueError as err:
            raise InvalidSpec(f"spec.cidr {cidr!r} is not a CIDR: {err}") from None
        note = ""
        if changed:
            note = f"spec.cidr {cidr} has host bits set; the backend uses {normalised}"
        uid = str(_meta(network).get("uid", ""))
        return DesiredNetwork(key=key, cidr=normalised, gateway=gateway, uid=uid), note

    def _delete_actual(self, key: str) -> None:
        with self._deleted_lock:
            last_seen = self._deleted.pop(key, None)
        if self.backend.get(key) is None:
            return
        try:
            self.backend.delete(key)
        except BackendError:
            with self._deleted_lock:
                self._deleted.setdefault(key, last_seen)
            raise
        if last_seen is not None:
            self.recorder.event(last_seen, NORMAL, "Deleted", f"Deleted network {key}")

    def _write_status(
        self,
        network: Any,
        actual: ActualNetwork | None,
        ready: str,
        reason: str,
        message: str,
    ) -> None:
        """Patch status only when it would change, so that a sync of an
        unchanged object writes nothing (and triggers no further event)."""
        if not self.write_status:
            return
        meta = _meta(network)
        current = network.get("status") or {}
        generation = meta.get("generation")
        old_ready: dict[str, Any] = next(
            (c for c in current.get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        condition = {
            "type": "Ready",
            "status": ready,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": old_ready.get("lastTransitionTime")
            if old_ready.get("status") == ready
            else _now(),
        }
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": [condition]}
        if actual is not None:
            status["networkID"] = actual.id
            status["normalizedCIDR"] = actual.cidr
        else:
            status["networkID"] = current.get("networkID")
            status["normalizedCIDR"] = current.get("normalizedCIDR")
        if old_ready == condition and all(
            current.get(k) == v for k, v in status.items() if k != "conditions"
        ):
            return
        try:
            self.networks.patch_status(
                meta["name"], {"status": status}, namespace=meta.get("namespace")
            )
        except KubeloopError as err:
            if not is_not_found(err):
                raise

    # -- the backend sweep: orphans and drift ------------------------------
    def _sweep_loop(self, stop: threading.Event) -> None:
        # A resync period of 0 means no resync (as for informers): sweep once
        # at start, never again, rather than spin.
        period = self.resync_period if self.resync_period > 0 else None
        while not stop.is_set():
            try:
                self.sweep_backend()
            except BackendError as err:
                log.error("backend sweep failed: %s", err)
            if stop.wait(period):
                return

    def sweep_backend(self) -> int:
        """Enqueue every key whose actual network is orphaned, missing or
        drifted from the cache; returns how many were enqueued."""
        # Logged before anything is read, so a change made before this
        # line's timestamp is one this sweep sees.
        log.debug("backend sweep: starting")
        desired: dict[str, DesiredNetwork] = {}
        known: set[str] = set()
        for network in self.network_lister.list():
            key = meta_namespace_key_func(network)
            known.add(key)
            try:
                desired[key] = self._desired(key, network)[0]
            except InvalidSpec:
                continue  # its status says why; the last good network stays
        actual = {a.key: a for a in self.backend.list() if self._in_scope(a.key)}
        stale = set(actual) - known
        stale |= {k for k, d in desired.items() if k not in actual or differs(actual[k], d)}
        for key in stale:
            log.info(
                "backend sweep: '%s' is %s",
                key,
                "orphaned" if key not in desired else "out of sync",
            )
            self.workqueue.add(key)
        return len(stale)

    def _in_scope(self, key: str) -> bool:
        return self.namespace is None or key.startswith(f"{self.namespace}/")
