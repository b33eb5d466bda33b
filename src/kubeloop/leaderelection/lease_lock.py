"""A leader election lock on a ``coordination.k8s.io/v1`` Lease (client-go's ``LeaseLock``).

::

    lock = LeaseLock(client, "kube-system", "network-controller", identity=socket.gethostname())

The record maps onto the Lease spec field for field (``holderIdentity``,
``leaseDurationSeconds``, ``acquireTime``, ``renewTime``,
``leaseTransitions``). The lock keeps the Lease it last read or wrote and
sends it back on ``update``, so its ``metadata.resourceVersion`` makes every
write conditional: of two candidates racing for an expired lease, the second
gets :class:`kubeloop.errors.Conflict`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from kubeloop.leaderelection.resource_lock import (
    LeaderElectionRecord,
    format_micro_time,
    parse_micro_time,
)

if TYPE_CHECKING:
    from kubeloop.client import Client

__all__ = ["EventRecorder", "LeaseLock", "lease_spec_to_record", "record_to_lease_spec"]

_log = logging.getLogger(__name__)


class EventRecorder(Protocol):
    """Anything with ``event(obj, type, reason, message)``, such as
    :class:`kubeloop.events.EventRecorder`."""

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None: ...


class LeaseLock:
    """A :class:`~kubeloop.leaderelection.ResourceLock` on one Lease.

    ``event_recorder``, when given, receives client-go's Normal
    ``LeaderElection`` events ("<identity> became leader") on the Lease.
    """

    def __init__(
        self,
        client: Client,
        namespace: str,
        name: str,
        identity: str,
        *,
        labels: dict[str, str] | None = None,
        event_recorder: EventRecorder | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self._identity = identity
        self._labels = dict(labels or {})
        self._event_recorder = event_recorder
        self._leases = client.resource(
            "coordination.k8s.io/v1", "leases", namespace=namespace, namespaced=True
        )
        # The Lease as last read or written; its resourceVersion guards update().
        self._lease: dict[str, Any] | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self, *, timeout: float | None = None) -> LeaderElectionRecord:
        lease: dict[str, Any] = self._leases.get(self.name, timeout=timeout)
        self._lease = lease
        return lease_spec_to_record(lease.get("spec") or {})

    def create(self, record: LeaderElectionRecord, *, timeout: float | None = None) -> None:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self._labels:
            metadata["labels"] = self._labels
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": record_to_lease_spec(record),
        }
        self._lease = self._leases.create(body, timeout=timeout)

    def update(self, record: LeaderElectionRecord, *, timeout: float | None = None) -> None:
        if self._lease is None:
            raise RuntimeError("lease not initialized, call get or create first")
        body = {**self._lease, "spec": record_to_lease_spec(record)}
        self._lease = self._leases.update(body, timeout=timeout)

    def record_event(self, message: str) -> None:
        text = f"{self._identity} {message}"
        _log.info("%s: %s", self.describe(), text)
        if self._event_recorder is None:
            return
        meta = (self._lease or {}).get("metadata") or {"name": self.name}
        subject = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {**meta, "namespace": self.namespace},
        }
        self._event_recorder.event(subject, "Normal", "LeaderElection", text)


def lease_spec_to_record(spec: dict[str, Any]) -> LeaderElectionRecord:
    """A Lease spec as a record; absent fields read as empty or zero."""
    acquire, renew = spec.get("acquireTime"), spec.get("renewTime")
    return LeaderElectionRecord(
        holder_identity=spec.get("holderIdentity") or "",
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(acquire) if acquire else None,
        renew_time=parse_micro_time(renew) if renew else None,
        leader_transitions=int(spec.get("leaseTransitions") or 0),
    )


def record_to_lease_spec(record: LeaderElectionRecord) -> dict[str, Any]:
    """A record as a Lease spec (every field written, as client-go does)."""
    spec: dict[str, Any] = {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "leaseTransitions": record.leader_transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    return spec
