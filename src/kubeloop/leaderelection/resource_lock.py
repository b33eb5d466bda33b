"""The lock a leader election runs on: the record it holds and the interface it needs.

As in client-go's ``resourcelock``, the elector never touches the API object
itself. It reads and writes a :class:`LeaderElectionRecord` through a
:class:`ResourceLock`, so the election logic can be tested on an in-memory
lock and run for real on a Lease (:class:`~kubeloop.leaderelection.LeaseLock`).

A lock's ``update`` must be conditional on the version it last read or wrote
(for a Lease, ``metadata.resourceVersion``): two candidates that both saw an
expired lease may both try to take it, and only the first write may win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

__all__ = [
    "LeaderElectionRecord",
    "ResourceLock",
    "format_micro_time",
    "parse_micro_time",
]


@dataclass(frozen=True)
class LeaderElectionRecord:
    """What the lock holds: who leads, since when, for how long.

    ``holder_identity == ""`` means nobody: a released lock, which any
    candidate may take at once. ``lease_duration_seconds`` is the holder's
    own lease duration; candidates judge expiry with it, not with theirs.
    """

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    leader_transitions: int = 0


class ResourceLock(Protocol):
    """client-go's ``resourcelock.Interface``.

    ``get`` raises an error for which :func:`kubeloop.errors.is_not_found` is
    true when the lock does not exist yet; ``update`` raises (typically
    :class:`kubeloop.errors.Conflict`) when the lock changed since this lock
    object last read or wrote it. ``timeout`` bounds the request in seconds.
    A lock object belongs to one elector and is not shared between threads.
    """

    @property
    def identity(self) -> str:
        """This candidate's identity, written as the holder when it leads."""
        ...

    def get(self, *, timeout: float | None = None) -> LeaderElectionRecord: ...

    def create(self, record: LeaderElectionRecord, *, timeout: float | None = None) -> None: ...

    def update(self, record: LeaderElectionRecord, *, timeout: float | None = None) -> None: ...

    def record_event(self, message: str) -> None:
        """Report a transition ("became leader", "stopped leading")."""
        ...

    def describe(self) -> str:
        """A name for logs, e.g. ``namespace/name``."""
        ...


def format_micro_time(t: datetime) -> str:
    """RFC 3339 with microseconds in UTC, as metav1.MicroTime marshals:
    ``2024-05-01T12:00:00.123456Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: str) -> datetime:
    """Parse an RFC 3339 time with or without fractional seconds."""
    return datetime.fromisoformat(value)
