"""What a caller reported, before it takes the shape of either Events API.

``recorder.eventf(...)`` turns its arguments into one :class:`Occurrence`
in the caller's thread (the object's reference is read *now*, not when the
writer gets to it, since the caller may change the object meanwhile); the
writer thread then makes an events.k8s.io/v1 or a core/v1 Event of it.

The helpers here are the rules both APIs share: how an object becomes an
``ObjectReference``, how an Event is named, how long a note may be, and
the ``MicroTime`` format of ``eventTime``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeloop.cache.accessor import get_name, get_namespace, get_resource_version, get_uid

__all__ = [
    "NORMAL",
    "NOTE_LENGTH_LIMIT",
    "WARNING",
    "EventNamer",
    "Occurrence",
    "event_name",
    "freeze",
    "micro_time",
    "object_reference",
    "rfc3339",
    "truncate_note",
]

NORMAL = "Normal"
WARNING = "Warning"

#: The API server rejects a longer note (events.k8s.io ``NoteLengthLimit``, in bytes).
NOTE_LENGTH_LIMIT = 1024

# A DNS-1123 subdomain, as Event names must be.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One call of ``eventf``; :meth:`key` keys the series cache (the
    core/v1 writer has a key of its own, tools/record's, with the message).

    ``regarding`` and ``related`` are ``ObjectReference`` items as sorted
    tuples, taken at the call.
    """

    regarding: tuple[tuple[str, str], ...]
    related: tuple[tuple[str, str], ...] | None
    type: str
    reason: str
    action: str
    note: str
    #: The wall time of the call (``eventTime``, timestamps people read).
    time: datetime
    #: The clock's monotonic reading at the call (for the series timing).
    at: float

    def key(self) -> tuple[object, ...]:
        """What makes two occurrences one series: the regarding and related
        objects, type, reason and action (with the recorder's reporting
        controller and instance, fixed per writer), as client-go's
        tools/events ``getKey``. The note is not in it: a repeat with another
        note joins the series, which keeps the first note, as upstream.

        One difference: the objects' resourceVersions are left out.
        tools/events compares whole references, resourceVersion included,
        so a controller that writes an object's status on every failed
        attempt would start a new Event each time (the status write moved
        the version) and never a series; tools/record's key leaves the
        version out, and so does this one.
        """
        related = None if self.related is None else _unversioned(self.related)
        return (_unversioned(self.regarding), related, self.type, self.reason, self.action)

    def reference(self) -> dict[str, str]:
        return dict(self.regarding)

    def related_reference(self) -> dict[str, str] | None:
        return None if self.related is None else dict(self.related)

    @property
    def namespace(self) -> str:
        """Where the Event lives: the regarding object's namespace, or
        ``default`` for a cluster-scoped object (as client-go)."""
        return self.reference().get("namespace") or "default"

    @property
    def name(self) -> str:
        return self.reference().get("name", "")


def _unversioned(ref: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(item for item in ref if item[0] != "resourceVersion")


def object_reference(obj: Any) -> dict[str, str]:
    """The ``ObjectReference`` of a dict object, a typed model, or a dict
    that is a reference already (``kind`` and ``name``, no ``metadata``).
    Empty fields are left out, as the API server would omit them."""
    if isinstance(obj, dict) and "metadata" not in obj:
        ref = {k: str(v) for k, v in obj.items() if v}
        return ref
    if isinstance(obj, dict):
        api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    else:  # a typed model
        api_version = getattr(obj, "api_version", "") or getattr(obj, "API_VERSION", "")
        kind = getattr(obj, "kind", "") or type(obj).__name__
    ref = {
        "apiVersion": api_version,
        "kind": kind,
        "name": get_name(obj),
        "namespace": get_namespace(obj),
        "uid": get_uid(obj),
        "resourceVersion": get_resource_version(obj),
    }
    return {k: v for k, v in ref.items() if v}


def freeze(ref: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(ref.items()))


def truncate_note(note: str) -> str:
    """At most :data:`NOTE_LENGTH_LIMIT` bytes of UTF-8, cut at a character
    boundary: a longer note would have the whole Event rejected."""
    data = note.encode()
    if len(data) <= NOTE_LENGTH_LIMIT:
        return note
    return data[:NOTE_LENGTH_LIMIT].decode(errors="ignore")


def event_name(regarding_name: str, unix_nano: int) -> str:
    """``<regarding name>.<unix nanoseconds in hex>``, or a random UUID when
    that is not a valid name (an object name with capitals, or too long:
    kubernetes issue 127594)."""
    name = f"{regarding_name}.{unix_nano:x}"
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return str(uuid.uuid4())
    return name


class EventNamer:
    """Names Events after the call's time, made unique: two Events about
    one object in the same nanosecond (or under a fake clock) would collide."""

    def __init__(self) -> None:
        self._last_nano = 0

    def name(self, occurrence: Occurrence) -> str:
        nano = int(occurrence.time.timestamp() * 1e9)
        self._last_nano = nano = max(nano, self._last_nano + 1)
        return event_name(occurrence.name, nano)


def micro_time(t: datetime) -> str:
    """``metav1.MicroTime`` as JSON: UTC, six fractional digits, ``Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(t: datetime) -> str:
    """``metav1.Time`` as JSON: whole seconds (core/v1 timestamps)."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
