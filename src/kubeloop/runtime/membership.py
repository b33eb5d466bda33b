"""Who is alive: one Lease per replica of a sharded controller, renewed by
the replica, read by all of them to count the replicas.

::

    members = Membership(client, "kube-system", "network-controller-networks",
                         identity="pod-7f9c", lease_duration=15.0)
    members.heartbeat()          # create or renew our Lease
    members.live()               # {"pod-7f9c", "pod-2a1b", ...}
    members.leave()              # on a clean stop: the others rebalance at once

The same LIST returns the group's shard Leases (they carry the label too):
:meth:`observation` hands what was seen of one to the elector started for
it, which then judges its expiry from when this replica first saw it
unchanged, not from its own first read: a dead replica's shards are taken
one lease duration after its last renewal, not two.

Why a Lease per replica and not only the shard Leases: a replica that has
just started holds no shard, so the shard Leases' holders cannot show it,
and it would never be given any. The member Leases carry the label
``kubeloop.dev/shard-group=<group>`` and are found by one LIST.

Liveness is judged as leader election judges expiry: by the local
monotonic time at which this replica last saw the Lease *change*, plus its
``leaseDurationSeconds`` (so the replicas' wall clocks need not agree). A
Lease seen for the first time counts as alive, unless its ``renewTime`` is
older than two lease durations by our wall clock: the Lease of a replica
that died long ago does not hold shards back for another lease duration.
The count only steers the balance; which replica may work a shard is
decided by the shard's own Lease (:mod:`kubeloop.runtime.sharded_controller`).

Member Leases of replicas that are gone (a Deployment's pods come and go
under new names) are deleted by whichever replica sees one unchanged for
:data:`GC_LEASE_DURATIONS` lease durations (or with an empty holder, a clean
leave, for one): conditionally on the resourceVersion it saw, so a replica
that came back and renewed in between keeps its Lease, and a replica whose
Lease was deleted while it was partitioned simply creates it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeloop.cache.sharding import fnv1a_64
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import KubeloopError, is_conflict, is_not_found
from kubeloop.leaderelection import LeaderElectionRecord, LeaseLock
from kubeloop.leaderelection.lease_lock import lease_spec_to_record

if TYPE_CHECKING:
    from kubeloop.client import Client

__all__ = ["GROUP_LABEL", "Membership"]

_log = logging.getLogger("kubeloop.runtime")

#: The label of every member Lease: the group (sharded controller) it is of.
GROUP_LABEL = "kubeloop.dev/shard-group"

#: A member Lease seen unchanged this many lease durations is a gone
#: replica's, and deleted (an empty holder, a clean leave: after one).
GC_LEASE_DURATIONS = 10


@dataclass
class _Seen:
    resource_version: str
    record: LeaderElectionRecord
    changed_at: float  # clock.now() when the resourceVersion last changed


class Membership:
    """The member Leases of one group (see the module docs).

    Not thread-safe: one coordinator thread calls it.
    """

    def __init__(
        self,
        client: Client,
        namespace: str,
        group: str,
        identity: str,
        *,
        lease_duration: float,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.namespace = namespace
        self.group = group
        self.identity = identity
        self.lease_duration = lease_duration
        self._clock = clock
        self.lease_name = f"{group}-member-{fnv1a_64(identity):016x}"
        self._lock = LeaseLock(
            client, namespace, self.lease_name, identity, labels={GROUP_LABEL: group}
        )
        self._leases = client.resource(
            "coordination.k8s.io/v1", "leases", namespace=namespace, namespaced=True
        )
        self._exists = False
        self._seen: dict[str, _Seen] = {}

    def heartbeat(self) -> bool:
        """Create or renew our Lease; False (logged) if the write failed."""
        wall = self._clock.wall()
        record = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, int(self.lease_duration)),
            acquire_time=wall,
            renew_time=wall,
        )
        try:
            self._write(record)
        except KubeloopError as err:
            _log.warning(
                "%s: renewing member lease %s failed: %s", self.group, self.lease_name, err
            )
            self._exists = False  # read it again next time
            return False
        return True

    def _write(self, record: LeaderElectionRecord) -> None:
        """Renew our Lease, or create it; once more from a fresh read when
        the renewal met a Lease changed or deleted meanwhile (another
        replica collected it while we were away: see the module docs)."""
        for again in (False, True):
            if not self._exists:
                try:
                    self._lock.get()
                except KubeloopError as err:
                    if not is_not_found(err):
                        raise
                    self._lock.create(record)
                    self._exists = True
                    return
                self._exists = True
            try:
                self._lock.update(record)
                return
            except KubeloopError as err:
                if not (is_conflict(err) or is_not_found(err)) or again:
                    raise
                self._exists = False

    def live(self) -> set[str]:
        """The identities whose member Lease is alive (ours always counts).
        On a failed LIST, the last answer (logged)."""
        now, wall = self._clock.now(), self._clock.wall()
        try:
            page = self._leases.list(label_selector=f"{GROUP_LABEL}={self.group}").items
        except KubeloopError as err:
            _log.warning("%s: listing member leases failed: %s", self.group, err)
            return self._alive(now) | {self.identity}
        present = set()
        for lease in page:  # member Leases, and the group's shard Leases
            meta: dict[str, Any] = lease.get("metadata") or {}
            name = str(meta.get("name", ""))
            present.add(name)
            rv = str(meta.get("resourceVersion", ""))
            record = lease_spec_to_record(lease.get("spec") or {})
            seen = self._seen.get(name)
            if seen is None:
                changed = now
                renewed = record.renew_time
                limit = 2 * max(record.lease_duration_seconds, 1)
                if renewed is not None and (wall - renewed).total_seconds() > limit:
                    changed = now - limit  # long dead: not alive now
                self._seen[name] = _Seen(rv, record, changed)
            elif seen.resource_version != rv:
                self._seen[name] = _Seen(rv, record, now)
        for name in set(self._seen) - present:
            del self._seen[name]
        self._collect(now)
        return self._alive(now) | {self.identity}

    def _collect(self, now: float) -> None:
        """Delete the member Leases of replicas long gone (see the module docs)."""
        prefix = f"{self.group}-member-"
        for name, seen in list(self._seen.items()):
            if not name.startswith(prefix) or name == self.lease_name:
                continue
            duration = max(seen.record.lease_duration_seconds, 1)
            after = duration if not seen.record.holder_identity else GC_LEASE_DURATIONS * duration
            if now - seen.changed_at < after:
                continue
            try:
                self._leases.delete(name, preconditions={"resourceVersion": seen.resource_version})
            except KubeloopError as err:
                if not (is_conflict(err) or is_not_found(err)):  # renewed, or deleted by another
                    _log.warning("%s: deleting member lease %s failed: %s", self.group, name, err)
                    continue
            else:
                _log.info("%s: deleted the member lease %s of a gone replica", self.group, name)
            del self._seen[name]

    def _alive(self, now: float) -> set[str]:
        prefix = f"{self.group}-member-"
        return {
            s.record.holder_identity
            for name, s in self._seen.items()
            if name.startswith(prefix)
            and s.record.holder_identity
            and now - s.changed_at < max(s.record.lease_duration_seconds, 1)
        }

    def observation(self, lease_name: str) -> tuple[LeaderElectionRecord, float] | None:
        """The record of the group's Lease ``lease_name`` as last listed,
        and when (clock.now()) it last changed; None if never seen. For a
        shard's elector to start from (:meth:`LeaderElector.observe`)."""
        seen = self._seen.get(lease_name)
        return (seen.record, seen.changed_at) if seen is not None else None

    def leave(self) -> None:
        """Give our Lease up (an empty holder): the others count us out at
        their next look instead of a lease duration later."""
        wall = self._clock.wall()
        try:
            if self._exists:
                self._lock.update(LeaderElectionRecord(lease_duration_seconds=1, renew_time=wall))
        except KubeloopError as err:
            _log.warning(
                "%s: releasing member lease %s failed: %s", self.group, self.lease_name, err
            )
