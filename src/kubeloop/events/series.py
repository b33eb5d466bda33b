"""events.k8s.io/v1 Events, with an ``EventSeries`` for repeats (client-go's
tools/events broadcaster).

An event like one written in the last minutes (same regarding and related
object, type, reason, action, reporting controller and instance: client-go's
key, which leaves the note out) is not written again. The first repeat patches the Event with
``series: {count: 2, lastObservedTime}``; later repeats only raise the count
in memory. The API server sees the count again

- every 30 minutes while the series goes on (``refresh``: every series in
  the cache is re-written, which also keeps the Event from expiring: Events
  live one hour by default), and
- once it has been quiet for 6 minutes (``finish``, checked every 6
  minutes, so the final write comes 6 to 12 minutes after the last
  repeat); the series then leaves the cache, and the next identical event
  starts a new Event.

An Event that was never repeated leaves the cache 6 minutes after it was
made, at the same check.

Why so few writes: a controller that fails the same way every few seconds
would otherwise patch the same Event every few seconds, and Events are the
first thing to overload an API server's etcd. The price is a count that
lags by up to 30 minutes; ``flush`` (when the recorder stops) writes the
counts not yet written, so a restart does not lose them.

Example (the writer thread of :class:`~kubeloop.events.EventRecorder` does this)::

    writer = SeriesWriter(sink, "network-controller", "network-controller-host1")
    writer.record(occurrence)      # create, or the first repeat's patch
    writer.tick()                  # refresh or finish series when due
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubeloop.events.occurrence import Occurrence, micro_time
from kubeloop.events.sink import EVENTS_V1, EventSink, Outcome, record_event
from kubeloop.events.writer import EventWriter

__all__ = ["FINISH_TIME", "REFRESH_TIME", "SeriesWriter"]

#: A series quiet this long is finished (client-go ``finishTime``), seconds.
FINISH_TIME = 6 * 60.0
#: Every series is re-written this often (client-go ``refreshTime``), seconds.
REFRESH_TIME = 30 * 60.0


@dataclass(slots=True)
class _Entry:
    event: dict[str, Any]
    #: Clock readings of the first and the last occurrence.
    first_seen: float
    last_seen: float
    #: The series count in memory is ahead of the one last written.
    unwritten: bool = False


class SeriesWriter(EventWriter):
    """The series cache and its writes; used by one thread only.

    A new Event's write and a first repeat's pass the spam filter and are
    retried (``options``: :class:`EventWriter`'s); refresh and finish writes
    are tried once per check, as client-go's.
    """

    api_version = EVENTS_V1

    def __init__(
        self,
        sink: EventSink,
        reporting_controller: str,
        reporting_instance: str,
        **options: Any,
    ) -> None:
        super().__init__(sink, (reporting_controller, reporting_instance), **options)
        self.reporting_controller = reporting_controller
        self.reporting_instance = reporting_instance
        self.cache: dict[tuple[object, ...], _Entry] = {}
        now = self._clock.now()
        self._next_finish = now + FINISH_TIME
        self._next_refresh = now + REFRESH_TIME

    # -- one occurrence ----------------------------------------------------------
    def record(self, occurrence: Occurrence) -> Outcome:
        key = occurrence.key()
        entry = self.cache.get(key)
        patch: dict[str, Any] | None = None
        if entry is not None:
            entry.last_seen = occurrence.at
            series = entry.event.get("series")
            if series is not None:
                series["count"] += 1
                series["lastObservedTime"] = micro_time(occurrence.time)
                entry.unwritten = True
                return "counted"
            series = {"count": 2, "lastObservedTime": micro_time(occurrence.time)}
            entry.event["series"] = series
            entry.unwritten = True
            patch = {"series": dict(series)}
        else:
            entry = _Entry(self._make_event(occurrence), occurrence.at, occurrence.at)
            self.cache[key] = entry
        outcome = self._write(occurrence, copy.deepcopy(entry.event), patch)
        if outcome == "written":
            entry.unwritten = False
        return outcome

    def _make_event(self, occurrence: Occurrence) -> dict[str, Any]:
        event: dict[str, Any] = {
            "apiVersion": EVENTS_V1,
            "kind": "Event",
            "metadata": {
                "name": self._namer.name(occurrence),
                "namespace": occurrence.namespace,
            },
            "eventTime": micro_time(occurrence.time),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": occurrence.action,
            "reason": occurrence.reason,
            "regarding": occurrence.reference(),
            "note": occurrence.note,
            "type": occurrence.type,
        }
        related = occurrence.related_reference()
        if related is not None:
            event["related"] = related
        return event

    # -- the timers ----------------------------------------------------------------
    def deadline(self) -> float:
        return min(self._next_finish, self._next_refresh)

    def tick(self) -> None:
        """Finish and refresh series when their checks are due; each check
        is next due a full period after it ran (``wait.Until``)."""
        if self._clock.now() >= self._next_finish:
            self.finish_series()
            self._next_finish = self._clock.now() + FINISH_TIME
        if self._clock.now() >= self._next_refresh:
            self.refresh_existing_series()
            self._next_refresh = self._clock.now() + REFRESH_TIME

    def refresh_existing_series(self) -> None:
        """Re-write every series: its count, and a fresh TTL for the Event."""
        for entry in list(self.cache.values()):
            if entry.event.get("series") is not None:
                self._write_series(entry)

    def finish_series(self) -> None:
        """Write the final count of each series quiet for :data:`FINISH_TIME`
        and forget it; forget each singleton Event that old. A series whose
        write must be retried stays for the next check."""
        quiet_since = self._clock.now() - FINISH_TIME
        for key, entry in list(self.cache.items()):
            if entry.event.get("series") is not None:
                if entry.last_seen < quiet_since and self._write_series(entry):
                    del self.cache[key]
            elif entry.first_seen < quiet_since:
                del self.cache[key]

    def flush(self) -> None:
        """Write each count that is ahead of the server's (at shutdown)."""
        for entry in list(self.cache.values()):
            if entry.unwritten:
                self._write_series(entry)

    def _write_series(self, entry: _Entry) -> bool:
        """One try; False when it should be retried."""
        event = copy.deepcopy(entry.event)
        result, retry = record_event(self._sink, event, {"series": dict(event["series"])})
        if result is not None:
            entry.unwritten = False
        return not retry
