"""The primary kind's cache of a sharded controller: one informer per held
shard, and the gate that lets a key be reconciled only while its shard is
held.

::

    shards = ShardCache(client, kind, ShardKey("uid", 12), name="networks", server_side=True)
    if shards.start(3, stop_leading):          # list and watch shard 3; True once synced
        shards.activate(3, handler)            # reconciles of shard 3 may start; keys replayed
    ...
    shards.deactivate(3)                       # no new reconcile of shard 3; waits for
    shards.stop(3)                             # in-flight ones; then stop its informer

Why one informer per shard: gaining or losing a shard is not an event
about its objects. A shard's informer starts with a selector for that shard
alone, so nothing already cached is relisted; its handler is added only
once it has synced (the informer then replays its cache as adds: keys are
enqueued only after the sync); releasing the shard removes the handler
first and then stops the informer, whose cache is dropped without a single
Delete event. One informer whose selector grew and shrank would relist
with the narrower selector, and the relist would look like deletions.

The gate: a worker :meth:`enter`\\ s the key's shard before reconciling
and :meth:`leave`\\ s after; :meth:`deactivate` closes the shard to new
entries and waits for the ones inside, so when it returns no reconcile of
that shard runs here and the shard's Lease may go.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeloop.cache import (
    ReceivedCounter,
    ResourceEventHandler,
    ResourceEventHandlerRegistration,
    ShardedResourceClient,
    ShardKey,
    SharedIndexInformer,
    SharedInformerFactory,
    strip_managed_fields,
    wait_for_cache_sync,
)
from kubeloop.client import Client, ListOptions
from kubeloop.runtime.kinds import Kind
from kubeloop.runtime.sources import Scope

__all__ = ["CONCURRENT_SYNCS", "ShardCache"]

#: Shards listed at once. A replica that takes many shards at start lists
#: them two at a time: the server is the bottleneck anyway (and decoding
#: holds the GIL), and a dozen initial lists decoded at once would leave
#: the allocator's peak resident long after the sync.
CONCURRENT_SYNCS = 2

_log = logging.getLogger("kubeloop.runtime")


def _forever() -> float:
    return math.inf


@dataclass
class _ShardInformer:
    informer: SharedIndexInformer[Any]
    factory: SharedInformerFactory
    stop: threading.Event
    registration: ResourceEventHandlerRegistration | None = None
    active: bool = False
    #: time.monotonic() until which the shard's Lease is surely ours.
    held_until: Callable[[], float] = _forever
    inflight: int = 0
    claims: set[str] = field(default_factory=set)


class ShardCache:
    """Per-shard informers of one kind, and the reconcile gate (see the module docs).

    ``server_side``: the API server applies ``shardSelector`` (else the
    objects are filtered here, by the same hash). ``scope`` (namespace and
    selectors) scopes every shard's informer as it would a plain one.
    """

    def __init__(
        self,
        client: Client,
        kind: Kind,
        key: ShardKey,
        *,
        name: str,
        server_side: bool,
        scope: Scope | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.name = name
        self.server_side = server_side
        self.received = ReceivedCounter()
        self._client = client
        self._scope = scope or Scope()
        self._namespace = self._scope.namespace
        self._transform = transform
        # Guards _shards and every _ShardInformer's fields; _changed is
        # notified when a reconcile leaves a shard.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._shards: dict[int, _ShardInformer] = {}
        self._syncing = threading.BoundedSemaphore(CONCURRENT_SYNCS)

    # -- one shard's life --------------------------------------------------
    def start(self, shard: int, stop: threading.Event) -> bool:
        """List and watch ``shard`` in a new informer; True once it has
        synced, False if ``stop`` came first (the informer is then stopped)."""
        base: Any = (
            self._client.resource(self.kind.model, namespace=self._namespace)
            if self.kind.model is not None
            else self._client.resource(
                self.kind.api_version,
                self.kind.plural,
                namespace=self._namespace,
                namespaced=self.kind.namespaced,
            )
        )
        resources = ShardedResourceClient(
            base, self.key, {shard}, server_side=self.server_side, received=self.received
        )
        scope = self._scope

        def tweak(options: ListOptions) -> None:
            if scope.label_selector:
                options.label_selector = scope.label_selector
            if scope.field_selector:
                options.field_selector = scope.field_selector

        factory = SharedInformerFactory(
            self._client,
            0.0,
            namespace=self._namespace,
            tweak_list_options=tweak if scope.label_selector or scope.field_selector else None,
            informer_name=f"{self.name}-shard-{shard}",
        )
        informer = factory.informer_for(resources)
        user = self._transform
        if user is not None:
            informer.set_transform(lambda obj: user(strip_managed_fields(obj)))
        informer_stop = threading.Event()
        with self._lock:
            if shard in self._shards:
                raise RuntimeError(f"{self.name}: shard {shard} is started already")
            self._shards[shard] = _ShardInformer(informer, factory, informer_stop)
        synced = False
        if self._wait_turn(stop):
            try:
                factory.start(informer_stop)
                synced = wait_for_cache_sync(stop, informer.has_synced)
            finally:
                self._syncing.release()
        if not synced:
            self.stop(shard)
        return synced

    def _wait_turn(self, stop: threading.Event) -> bool:
        """One of :data:`CONCURRENT_SYNCS` turns to list (False if ``stop``
        came first)."""
        while not stop.is_set():
            if self._syncing.acquire(timeout=0.1):
                return True
        return False

    def activate(
        self,
        shard: int,
        handler: ResourceEventHandler,
        held_until: Callable[[], float] = _forever,
    ) -> None:
        """Open ``shard`` to reconciles, then add ``handler`` (which is
        replayed the shard's cache: every key is enqueued). ``held_until()``
        (monotonic time, the Lease elector's): no reconcile enters after it,
        even while the shard is still active (:meth:`enter`)."""
        with self._lock:
            state = self._shards[shard]
            state.active = True
            state.held_until = held_until
        registration = state.informer.add_event_handler(handler)
        with self._lock:
            state.registration = registration

    def deactivate(self, shard: int, timeout: float | None = None) -> bool:
        """Close ``shard`` to new reconciles, remove its handler (no event of
        it is delivered any more) and wait up to ``timeout`` for the
        reconciles inside; True when none is left."""
        with self._lock:
            state = self._shards.get(shard)
            if state is None:
                return True
            state.active = False
            registration, state.registration = state.registration, None
            state.claims.clear()
        if registration is not None:
            state.informer.remove_event_handler(registration)
        with self._lock:
            return self._changed.wait_for(lambda: state.inflight == 0, timeout)

    def stop(self, shard: int, timeout: float | None = None) -> None:
        """Stop ``shard``'s informer and forget its cache (deactivate first)."""
        with self._lock:
            state = self._shards.pop(shard, None)
        if state is None:
            return
        state.stop.set()
        state.factory.shutdown(timeout)

    # -- the gate --------------------------------------------------------------
    def enter(self, shard: int) -> object | None:
        """Count a reconcile into ``shard`` if it is held here, active, and
        its Lease surely still ours (``held_until``); the token to
        :meth:`leave` with, or None (not let in: :meth:`is_active` tells
        whether only the Lease's renewal is overdue)."""
        held_until = self._held_until(shard)
        if held_until is None or time.monotonic() >= held_until():
            return None
        with self._lock:
            state = self._shards.get(shard)
            if state is None or not state.active:
                return None
            state.inflight += 1
            return state

    def _held_until(self, shard: int) -> Callable[[], float] | None:
        with self._lock:
            state = self._shards.get(shard)
            return state.held_until if state is not None and state.active else None

    def is_active(self, shard: int) -> bool:
        """Whether ``shard`` is held here and open (its renewal may be overdue)."""
        return self._held_until(shard) is not None

    def leave(self, token: object) -> None:
        """The reconcile let in with ``token`` ended (counted out of the
        very shard holding it entered, even if the shard was stopped and
        started again meanwhile)."""
        assert isinstance(token, _ShardInformer)
        with self._lock:
            token.inflight -= 1
            self._changed.notify_all()

    def claim(self, key: str, shard: int) -> bool:
        """Record that ``key`` (with no cached object: an orphan a sweep
        found) belongs to ``shard``, if it is active here."""
        with self._lock:
            state = self._shards.get(shard)
            if state is None or not state.active:
                return False
            state.claims.add(key)
            return True

    # -- reads -------------------------------------------------------------------
    def active(self) -> frozenset[int]:
        """The shards held, synced and open to reconciles here."""
        with self._lock:
            return frozenset(i for i, s in self._shards.items() if s.active)

    def _active_states(self, shards: frozenset[int] | None) -> list[tuple[int, _ShardInformer]]:
        with self._lock:
            return [
                (i, s)
                for i, s in self._shards.items()
                if s.active and (shards is None or i in shards)
            ]

    def get(self, key: str) -> tuple[int, Any] | None:
        """``(shard, object)`` of the key in an active shard, else None."""
        for index, state in self._active_states(None):
            obj, exists = state.informer.get_indexer().get_by_key(key)
            if exists:
                return index, obj
        return None

    def claimed(self, key: str) -> int | None:
        for index, state in self._active_states(None):
            with self._lock:
                if key in state.claims:
                    return index
        return None

    def list(self, shards: frozenset[int] | None = None) -> list[Any]:
        """Every cached object of the active ``shards`` (default: all active)."""
        return [o for _, s in self._active_states(shards) for o in s.informer.get_indexer().list()]

    def cached_objects(self) -> dict[int, int]:
        """``shard -> objects cached``, for every started shard."""
        with self._lock:
            states = dict(self._shards)
        return {i: len(s.informer.get_indexer().list_keys()) for i, s in states.items()}

    def stop_all(self, timeout: float | None = None) -> None:
        with self._lock:
            shards = list(self._shards)
        for shard in shards:
            self.deactivate(shard, timeout)
            self.stop(shard, timeout)
