"""The event recorder: what controllers call, and the thread that writes.

``recorder.event(obj, "Normal", "Created", "...")`` (or
``recorder.eventf(regarding, related, type, reason, action, note)``, as
client-go's tools/events ``Eventf``) never blocks the caller: it puts the
occurrence on a bounded queue (1000) and returns. A full queue drops the
event and counts it (``dropped``): a controller must never stall because
the API server is slow to take its Events.

One writer thread takes occurrences off the queue. At start it asks
discovery, once, whether the server serves events.k8s.io/v1: if so, Events
are written there with series for repeats (:mod:`.series`), otherwise as
core/v1 Events with count-based dedupe (:mod:`.core_v1`), as client-go's
``NewEventBroadcasterAdapter`` chooses. Either way each write passes the
per-object spam filter first (:mod:`.spam_filter`), and a write that fails
for want of a connection is retried up to 12 times, 10 s apart.

Example::

    recorder = EventRecorder(client, component="network-controller")
    recorder.start()
    recorder.event(network, "Warning", "BackendError", "create failed: timeout")
    recorder.eventf(pod, node, "Normal", "Scheduled", "Binding", "bound to node1")
    recorder.stop()
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry

from kubeloop.cache.accessor import MissingMetadataError
from kubeloop.client import Client
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import KubeloopError
from kubeloop.events.core_v1 import CoreV1Writer
from kubeloop.events.metrics import dropped_counter
from kubeloop.events.occurrence import (
    NORMAL,
    WARNING,
    Occurrence,
    freeze,
    object_reference,
    truncate_note,
)
from kubeloop.events.series import SeriesWriter
from kubeloop.events.sink import CORE_V1, EVENTS_V1, Attempts, ClientEventSink, EventSink
from kubeloop.events.spam_filter import EventSourceObjectSpamFilter
from kubeloop.events.writer import EventWriter

__all__ = ["MAX_QUEUED_EVENTS", "EventRecorder"]

log = logging.getLogger("kubeloop.events")

MAX_QUEUED_EVENTS = 1000
MAX_TRIES_PER_EVENT = 12
RETRY_INTERVAL = 10.0


class _Closed:
    """What :meth:`_EventQueue.get` returns once closed and empty."""


CLOSED = _Closed()


class _EventQueue:
    """A bounded FIFO whose :meth:`put` never waits, and whose :meth:`get`
    waits on the recorder's clock (so a fake clock drives the series timers)."""

    def __init__(self, maxsize: int, clock: Clock) -> None:
        self.maxsize = maxsize
        self._clock = clock
        # Guards _items and _closed; notified on put and close.
        self._cond = threading.Condition()
        self._items: deque[Occurrence] = deque()
        self._closed = False

    def put(self, item: Occurrence) -> str | None:
        """Queue ``item``; else say why not ("shutdown" or "queue_full")."""
        with self._cond:
            if self._closed:
                return "shutdown"
            if len(self._items) >= self.maxsize:
                return "queue_full"
            self._items.append(item)
            self._cond.notify()
            return None

    def get(self, deadline: float | None) -> Occurrence | _Closed | None:
        """The next item; ``None`` once ``deadline`` passes with none;
        :data:`CLOSED` once closed and drained."""
        with self._cond:
            while not self._items and not self._closed:
                if deadline is not None and self._clock.now() >= deadline:
                    return None
                self._clock.wait(self._cond, deadline)
            return self._items.popleft() if self._items else CLOSED

    def qsize(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self, *, discard: bool = False) -> int:
        """No more puts; with ``discard``, drop what is queued (returns how many)."""
        with self._cond:
            self._closed = True
            dropped = len(self._items) if discard else 0
            if discard:
                self._items.clear()
            self._cond.notify_all()
            return dropped


def _format(note: str, args: tuple[Any, ...]) -> str:
    """``note % args``; a note that does not fit its arguments is kept with
    them appended (Go's ``Sprintf`` marks such a mistake, it never fails)."""
    if not args:
        return note
    try:
        return note % args
    except (TypeError, ValueError):
        return f"{note} {args!r}"


class EventRecorder:
    """Records Events for one reporting controller (``component``).

    ``reportingController`` is ``component``, ``reportingInstance`` is
    ``<component>-<host>`` (as client-go's ``NewRecorder``); core/v1 Events
    carry ``source: {component, host}``. ``api_version`` skips discovery
    (``"events.k8s.io/v1"`` or ``"v1"``); ``sink`` writes somewhere other
    than ``client`` (tests). Counters: ``dropped`` (queue full, or still
    queued at stop), ``filtered`` (spam filter), ``failed`` (writes given up);
    with ``registry``, also in ``kubeloop_events_dropped_total``.
    """

    def __init__(
        self,
        client: Client | None,
        component: str,
        *,
        host: str | None = None,
        queue_size: int = MAX_QUEUED_EVENTS,
        cache_size: int = 4096,
        max_tries: int = MAX_TRIES_PER_EVENT,
        retry_interval: float = RETRY_INTERVAL,
        clock: Clock = REAL_CLOCK,
        api_version: str | None = None,
        sink: EventSink | None = None,
        spam_filter: EventSourceObjectSpamFilter | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if client is None and sink is None:
            raise ValueError("an event recorder needs a client or a sink")
        self.client = client
        self.source = {"component": component, "host": host or socket.gethostname()}
        self.reporting_controller = component
        self.reporting_instance = f"{component}-{self.source['host']}"
        self.api_version = sink.api_version if sink is not None else api_version
        self._sink = sink
        self._clock = clock
        self._cache_size = cache_size
        self._spam = spam_filter or EventSourceObjectSpamFilter(clock=clock)
        self._queue = _EventQueue(queue_size, clock)
        self._stop = threading.Event()
        self._attempts = Attempts(max_tries, retry_interval, clock, self._stop)
        # Set when stop() gave up waiting: the writer drops what is left.
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None
        # Guards the counters below (callers and the writer both count).
        self._counts_lock = threading.Lock()
        self.dropped = 0
        self.filtered = 0
        self.failed = 0
        self._metric = dropped_counter(registry).labels if registry is not None else None

    # -- the callers' side ---------------------------------------------------------
    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        """Record an Event about ``obj`` (tools/record's ``Event``). The
        events.k8s.io API requires an action; this one's is the reason."""
        self.eventf(obj, None, event_type, reason, reason, message)

    def eventf(
        self,
        regarding: Any,
        related: Any,
        event_type: str,
        reason: str,
        action: str,
        note: str,
        *args: Any,
    ) -> None:
        """Record an Event about ``regarding`` (client-go's ``Eventf``):
        ``related`` is a second object or ``None``, ``action`` what was done
        or failed ("Binding", "Scheduling"); ``note % args`` when ``args``
        are given, cut to 1024 bytes."""
        if event_type not in (NORMAL, WARNING):
            log.error("unsupported event type %r, event %s not recorded", event_type, reason)
            return
        try:
            ref = object_reference(regarding)
            related_ref = None if related is None else freeze(object_reference(related))
        except MissingMetadataError as err:
            log.error("could not make a reference, event %s not recorded: %s", reason, err)
            return
        occurrence = Occurrence(
            regarding=freeze(ref),
            related=related_ref,
            type=event_type,
            reason=reason,
            action=action,
            note=truncate_note(_format(note, args)),
            time=self._clock.wall(),
            at=self._clock.now(),
        )
        refused = self._queue.put(occurrence)
        if refused is not None:
            self._count(refused)
            if refused == "queue_full":
                log.warning("event queue full, dropping event %s %s", reason, occurrence.note)
            else:
                log.debug("event recorder stopped, dropping event %s %s", reason, occurrence.note)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="kubeloop-event-recorder", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued within ``timeout``, then stop.

        Past the timeout the rest is dropped (and counted in ``dropped``),
        and a write still in flight is abandoned: the writer ends when that
        request does, at the latest when the client is closed, which fails
        it quietly. Failed writes are not retried once stopping.
        """
        self._stop.set()
        self._queue.close()
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if not thread.is_alive():
            return
        self._abandon.set()
        left = self._queue.close(discard=True)
        self._count("shutdown", left)
        log.warning(
            "event recorder: not done %.1fs after stop; %d queued events dropped, "
            "the write in flight abandoned",
            timeout,
            left,
        )

    # -- the writer thread ---------------------------------------------------------
    def _run(self) -> None:
        writer = self._make_writer()
        while True:
            item = self._queue.get(writer.deadline())
            if isinstance(item, _Closed):
                break
            writer.tick()
            if item is not None:
                outcome = writer.record(item)
                if outcome == "filtered":
                    self._count("spam_filter")
                elif outcome == "failed":
                    self._count("write_failed")
        if not self._abandon.is_set():
            writer.flush()

    def _make_writer(self) -> EventWriter:
        if self.api_version is None:
            self.api_version = self._discover()
        sink = self._sink
        if sink is None:
            assert self.client is not None
            sink = ClientEventSink(self.client, self.api_version)
        if self.api_version == EVENTS_V1:
            return SeriesWriter(
                sink,
                self.reporting_controller,
                self.reporting_instance,
                clock=self._clock,
                spam_filter=self._spam,
                attempt=self._attempts,
            )
        return CoreV1Writer(
            sink,
            self.source["component"],
            self.source["host"],
            clock=self._clock,
            spam_filter=self._spam,
            attempt=self._attempts,
            cache_size=self._cache_size,
        )

    def _discover(self) -> str:
        """events.k8s.io/v1 when discovery lists its ``events``; else core/v1,
        which every server serves (also when discovery fails, as client-go)."""
        assert self.client is not None
        try:
            resources = self.client.server_resources(EVENTS_V1)
        except KubeloopError as err:
            log.info("events.k8s.io/v1 not available (%s): writing core/v1 Events", err)
            return CORE_V1
        if any(r.name == "events" for r in resources):
            return EVENTS_V1
        log.info("events.k8s.io/v1 serves no events: writing core/v1 Events")
        return CORE_V1

    def _count(self, reason: str, n: int = 1) -> None:
        if n <= 0:
            return
        with self._counts_lock:
            if reason in ("queue_full", "shutdown"):
                self.dropped += n
            elif reason == "spam_filter":
                self.filtered += n
            else:
                self.failed += n
        if self._metric is not None:
            self._metric(self.reporting_controller, reason).inc(n)
