"""What the two Event writers (:mod:`.series`, :mod:`.core_v1`) share: the
sink, the reporting source, the spam filter in front of every write, the
retries of a write, and the Event names.

The recorder's writer thread drives a writer through four calls:
``record`` each occurrence, ``tick`` when ``deadline`` is reached, and
``flush`` once at the end.
"""

from __future__ import annotations

from typing import Any

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.events.occurrence import EventNamer, Occurrence
from kubeloop.events.sink import EventSink, Outcome, Write, once, record_event
from kubeloop.events.spam_filter import EventSourceObjectSpamFilter, spam_key

__all__ = ["EventWriter"]


class EventWriter:
    """The base of both writers; used by one thread only.

    ``source`` is what the spam filter keys on besides the object: the
    reporting controller and instance (core/v1: component and host).
    ``attempt`` runs a write with retries (default: one try).
    """

    api_version = ""

    def __init__(
        self,
        sink: EventSink,
        source: tuple[str, str],
        *,
        clock: Clock = REAL_CLOCK,
        spam_filter: EventSourceObjectSpamFilter | None = None,
        attempt: Write = once,
    ) -> None:
        self._sink = sink
        self._source = source
        self._clock = clock
        self._spam = spam_filter or EventSourceObjectSpamFilter(clock=clock)
        self._attempt = attempt
        self._namer = EventNamer()

    def record(self, occurrence: Occurrence) -> Outcome:
        raise NotImplementedError

    def deadline(self) -> float | None:
        """When :meth:`tick` has work next (a clock reading), if ever."""
        return None

    def tick(self) -> None:
        """Run the timers that are due."""

    def flush(self) -> None:
        """Write what is only in memory (the recorder is stopping)."""

    def _write(
        self, occurrence: Occurrence, event: dict[str, Any], patch: dict[str, Any] | None
    ) -> Outcome:
        """Create ``event`` (or patch it), if the object's budget allows."""
        if self._spam.filter(spam_key(occurrence, *self._source)):
            return "filtered"
        if self._attempt(lambda: record_event(self._sink, event, patch)) is None:
            return "failed"
        return "written"
