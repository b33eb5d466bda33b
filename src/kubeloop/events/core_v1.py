"""core/v1 Events, for API servers that do not serve events.k8s.io/v1
(client-go's tools/record, its correlator's dedupe and spam filter).

An event identical to one already written (same object, type, reason,
message, source) is not created again: the existing Event's ``count`` and
``lastTimestamp`` are patched, so a reconcile that keeps failing produces
one Event with a rising count. Each write (create or patch) takes a token
of the object's spam budget; a repeat over budget is still counted, as
tools/record counts before it filters, so the next repeat that is written
carries the true count.

Not here (tools/record has it): the aggregation of *similar* events, those
that differ only in their message ("(combined from similar events): ").
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from kubeloop.events.occurrence import Occurrence, rfc3339
from kubeloop.events.sink import CORE_V1, EventSink, Outcome
from kubeloop.events.writer import EventWriter

__all__ = ["CoreV1Writer"]

MAX_LRU_CACHE_ENTRIES = 4096


class CoreV1Writer(EventWriter):
    """Writes core/v1 Events with count-based dedupe; one thread only."""

    api_version = CORE_V1

    def __init__(
        self,
        sink: EventSink,
        component: str,
        host: str,
        *,
        cache_size: int = MAX_LRU_CACHE_ENTRIES,
        **options: Any,
    ) -> None:
        super().__init__(sink, (component, host), **options)
        self.source = {"component": component, "host": host}
        self._cache_size = cache_size
        # Correlation key -> (name, count, firstTimestamp); LRU-bounded.
        self.cache: OrderedDict[tuple[str, ...], tuple[str, int, str]] = OrderedDict()

    def record(self, occurrence: Occurrence) -> Outcome:
        ref = occurrence.reference()
        key = (
            ref.get("uid", ""),
            ref.get("kind", ""),
            occurrence.namespace,
            occurrence.name,
            occurrence.type,
            occurrence.reason,
            occurrence.note,
            self.source["component"],
        )
        now = rfc3339(occurrence.time)
        seen = self.cache.get(key)
        patch: dict[str, Any] | None = None
        if seen is not None:
            name, count, first = seen[0], seen[1] + 1, seen[2]
            patch = {"count": count, "lastTimestamp": now}
        else:
            name, count, first = self._namer.name(occurrence), 1, now
        self._remember(key, (name, count, first))
        event = {
            "apiVersion": CORE_V1,
            "kind": "Event",
            "metadata": {"name": name, "namespace": occurrence.namespace},
            "involvedObject": ref,
            "type": occurrence.type,
            "reason": occurrence.reason,
            "message": occurrence.note,
            "source": dict(self.source),
            "count": count,
            "firstTimestamp": first,
            "lastTimestamp": now,
            "reportingComponent": self.source["component"],
            "reportingInstance": self.source["host"],
        }
        return self._write(occurrence, event, patch)

    def _remember(self, key: tuple[str, ...], value: tuple[str, int, str]) -> None:
        self.cache[key] = value
        self.cache.move_to_end(key)
        while len(self.cache) > self._cache_size:
            self.cache.popitem(last=False)
