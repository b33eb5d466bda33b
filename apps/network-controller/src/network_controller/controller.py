"""The Network controller: make the backend's networks follow the Network
objects users declare. A reconcile on :mod:`kubeloop.runtime`: it is given
the cached :class:`~network_controller.models.Network` (or ``None`` once it
is gone) and makes the backend's network agree.

Why a backend sweep and not a finalizer (guarantee: no orphaned network):
every resync period, :meth:`sweep` compares the backend's networks with
the cache and returns every key that is orphaned (no Network) or drifted
(changed out of band); the runtime reconciles those (the controller's
``requeue_keys``). Its first round, when the workers start, looks for
orphans only: the initial reconcile of every cached Network repairs the
rest (:meth:`NetworkReconciler.sweeper`). A finalizer would
also catch deletes made while the controller was down, but it makes every
Network undeletable while the controller is not installed and needs an
extra write per object; the sweep needs neither and also repairs drift,
which a finalizer cannot. The price is that an orphan lives until the next
sweep (at most one resync period), not zero seconds. A controller scoped to
one namespace sweeps only that namespace's keys: the backend may be shared
with controllers for other namespaces, whose networks are not orphans.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable

import msgspec

from kubeloop.cache import meta_namespace_key_func
from kubeloop.client import ResourceClient
from kubeloop.errors import KubeloopError, is_not_found
from kubeloop.events import NORMAL, WARNING
from kubeloop.runtime import (
    Context,
    KeyValueLogger,
    Result,
    ShardedController,
    get_generation,
    set_condition,
    update_status,
)
from network_controller.backend import (
    KEY_DIGEST_PREFIX,
    ActualNetwork,
    Backend,
    BackendError,
    DesiredNetwork,
    NameCollision,
    differs,
    key_digest,
    normalise_cidr,
)
from network_controller.models import Network, NetworkStatus

# A KeyValueLogger for its direct path to the klog handler: the
# "Successfully synced" line is logged once per reconcile.
log = KeyValueLogger(logging.getLogger("network_controller"))

#: The most keys one backend sweep names at INFO; the rest are counted.
SWEEP_LINES = 100


class InvalidSpec(Exception):
    """The Network's spec cannot be realised; retrying will not help."""


def desired(key: str, network: Network) -> tuple[DesiredNetwork, str]:
    """The backend network ``network`` asks for, and a note when its CIDR was normalised."""
    cidr, gateway = network.spec.cidr, network.spec.gateway
    try:
        normalised, changed = normalise_cidr(cidr)
    except ValueError as err:
        raise InvalidSpec(f"spec.cidr {cidr!r} is not a CIDR: {err}") from None
    note = f"spec.cidr {cidr} has host bits set; the backend uses {normalised}" if changed else ""
    return DesiredNetwork(key, normalised, gateway, network.metadata.uid), note


class NetworkReconciler:
    """``reconcile(ctx, network)`` and the backend ``sweep`` (see the module docs).

    Example (what ``main`` does)::

        networks = NetworkReconciler(client.resource(Network), backend)
        manager.controller(Network, networks.reconcile, requeue_keys=...)
    """

    def __init__(
        self,
        networks: ResourceClient[Network] | None,
        backend: Backend,
        *,
        namespace: str | None = None,
    ) -> None:
        self.networks = networks  # None (--no-api-writes): no status writes
        self.backend = backend
        self.namespace = namespace

    def reconcile(self, ctx: Context[Network], network: Network | None) -> Result:
        if network is None:
            try:
                actual = self.backend.get(ctx.key)
            except NameCollision:  # the name is someone else's: nothing of ours to delete
                actual = None
            # The deleted Network's uid, when this replica saw it: a network
            # of another uid is a re-created Network's (under sharding by uid,
            # another replica's to reconcile), and the delete leaves it alone.
            last = ctx.last_known
            uid = last.metadata.uid if last is not None and last.metadata.uid else ""
            if actual is not None and not (uid and actual.uid and actual.uid != uid):
                self.backend.delete(ctx.key, uid)
                ctx.event(NORMAL, "Deleted", f"Deleted network {ctx.key}")
        elif not network.metadata.deletion_timestamp:  # being deleted: the delete comes next
            self._sync(ctx, network)
        log.info("Successfully synced '%s'", ctx.key)
        return Result.done()

    def _sync(self, ctx: Context[Network], network: Network) -> None:
        try:
            want, note = desired(ctx.key, network)
        except InvalidSpec as err:  # retrying cannot help until the user changes the spec
            self._write_status(network, None, "False", "InvalidSpec", str(err))
            ctx.event(WARNING, "InvalidSpec", str(err))
            return
        try:
            actual = self.backend.get(ctx.key)
            if actual is None:
                actual = self.backend.create(want)
                ctx.event(NORMAL, "Created", f"Created network {want.cidr} via {want.gateway}")
            elif differs(actual, want):
                actual = self.backend.update(want)
                message = f"Updated network to {want.cidr} via {want.gateway}"
                ctx.event(NORMAL, "Updated", message)
        except BackendError as err:
            self._write_status(network, None, "False", err.reason, str(err))
            ctx.event(WARNING, "SyncFailed", str(err))
            raise
        reason, message = ("Normalized", note) if note else ("Synced", "The network is in place")
        self._write_status(network, actual, "True", reason, message)

    def _write_status(
        self, network: Network, actual: ActualNetwork | None, ready: str, reason: str, message: str
    ) -> None:
        """Patch status only when it would change, so that a sync of an
        unchanged object writes nothing (and triggers no further event)."""
        if self.networks is None:
            return
        current = network.status or NetworkStatus()
        generation = get_generation(network)
        # Builtins: set_condition edits in place, and the cached object must not change.
        conditions = [msgspec.to_builtins(c) for c in current.conditions or () if c.type == "Ready"]
        set_condition(conditions, "Ready", ready, reason, message, observed_generation=generation)
        status = NetworkStatus(
            observed_generation=generation,
            network_id=actual.id if actual else current.network_id,
            normalized_cidr=actual.cidr if actual else current.normalized_cidr,
            conditions=conditions,
        )
        try:
            update_status(self.networks, network, status)
        except KubeloopError as err:
            if not is_not_found(err):
                raise

    def sweeper(self, cached: Callable[[], Iterable[Network]]) -> Callable[[], list[str]]:
        """The sweep for ``requeue_keys``: its first round, right after the
        cache has synced, looks for orphans only. Every cached Network is
        reconciled once after the sync anyway (the informer's initial adds),
        which repairs a missing or drifted network; comparing each one here
        as well did that work twice (at 10,000 Networks, 52 ms of CPU and
        10,000 keys queued again, at the moment the workers are busiest).
        The later rounds compare everything (:meth:`sweep`)."""
        rounds = itertools.count()

        def sweep() -> list[str]:
            return self.sweep(cached, orphans_only=next(rounds) == 0)

        return sweep

    def sweep(
        self,
        cached: Callable[[], Iterable[Network]],
        owned: Callable[[ActualNetwork], bool] | None = None,
        *,
        orphans_only: bool = False,
    ) -> list[str]:
        """The keys whose actual network is orphaned, missing or drifted
        from the ``cached`` Networks (``orphans_only``: orphaned only);
        ``owned``, when given, says which backend entries are this
        replica's to judge (sharded: those whose hash falls in a held
        shard, see :func:`sharded_sweep`)."""
        log.debug("backend sweep: starting")  # before any read: what it sees is newer
        wanted: dict[str, DesiredNetwork] = {}
        known: set[str] = set()
        for network in cached():
            key = meta_namespace_key_func(network)
            known.add(key)
            if orphans_only:
                continue
            try:
                wanted[key] = desired(key, network)[0]
            except InvalidSpec:
                continue  # its status says why; the last good network stays
        try:
            listed = self.backend.list()
        except BackendError as err:
            log.error("backend sweep failed: %s", err)
            return []
        # A key the backend could only keep as its digest is matched back to
        # the Network it names; one no Network matches stays a digest key (an
        # orphan the backend can still find and delete by it). Only computed
        # when the backend holds such a key: a sha256 per cached Network was
        # 2% of the Network controller's S1 samples at 30,000 Networks.
        digests: dict[str, str] = {}
        if any(a.key.startswith(KEY_DIGEST_PREFIX) for a in listed):
            digests = {KEY_DIGEST_PREFIX + key_digest(k): k for k in known}
        actual = {digests.get(a.key, a.key): a for a in listed}
        actual = {
            k: a for k, a in actual.items() if self._in_scope(k) and (owned is None or owned(a))
        }
        stale = set(actual) - known
        stale |= {k for k, d in wanted.items() if k not in actual or differs(actual[k], d)}
        flagged = sorted(stale)
        for i, key in enumerate(flagged):
            what = "orphaned" if key not in wanted else "out of sync"
            if key in actual and actual[key].drift:
                what += f" ({actual[key].drift})"
            # A first start on an empty backend flags every Network: name the
            # first ones, count the rest (all of them at -v 4).
            (log.info if i < SWEEP_LINES else log.debug)("backend sweep: '%s' is %s", key, what)
        if len(flagged) > SWEEP_LINES:
            log.info(
                "backend sweep: %d more keys orphaned or out of sync (each logged at -v 4)",
                len(flagged) - SWEEP_LINES,
            )
        return flagged

    def _in_scope(self, key: str) -> bool:
        return self.namespace is None or key.startswith(f"{self.namespace}/")


def sharded_sweep(nets: NetworkReconciler, sharded: ShardedController[Network]) -> list[str]:
    """The sweep of one replica of a sharded controller: only the held,
    synced shards' Networks and backend entries. A backend entry is judged
    by the shard of the Network it was made for (its uid, or its key's
    namespace), so a replica holding a third of the shards never calls the
    other two thirds orphans. An entry without a uid (made before uids
    were recorded) is left alone when sharding by uid: no replica can tell
    whose it is."""
    held = sharded.held_shards()  # one snapshot: a shard gained meanwhile waits for the next
    by_namespace = sharded.key.by == "namespace"

    def owned(actual: ActualNetwork) -> bool:
        value = actual.key.partition("/")[0] if by_namespace else actual.uid
        return bool(value) and sharded.claim(actual.key, value, held)

    return nets.sweep(lambda: sharded.list(held), owned)
