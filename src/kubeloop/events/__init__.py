"""Kubernetes Events for objects, as client-go's tools/events writes them
(events.k8s.io/v1, with series for repeats), falling back to core/v1 Events
(tools/record) where the server does not serve events.k8s.io/v1.

Example::

    from kubeloop.events import EventRecorder, WARNING

    recorder = EventRecorder(client, component="network-controller")
    recorder.start()
    recorder.event(network, WARNING, "BackendError", "create failed: timeout")
    recorder.eventf(network, None, WARNING, "BackendError", "Creating", "timeout")
    recorder.stop()

The modules, one concept each:

- :mod:`.recorder`: :class:`EventRecorder`, the bounded queue and the writer
  thread, and the choice of API at start;
- :mod:`.series`: events.k8s.io/v1 Events and their ``series`` timing;
- :mod:`.core_v1`: the core/v1 fallback, deduplicated by ``count``;
- :mod:`.spam_filter`: the per-object token bucket in front of every write;
- :mod:`.sink`: where Events are written, and the retry rule for failures;
- :mod:`.occurrence`: one call, object references, names, note length.
"""

from kubeloop.events.async_recorder import AsyncEventRecorder
from kubeloop.events.core_v1 import CoreV1Writer
from kubeloop.events.occurrence import NORMAL, NOTE_LENGTH_LIMIT, WARNING, Occurrence
from kubeloop.events.recorder import MAX_QUEUED_EVENTS, EventRecorder
from kubeloop.events.series import FINISH_TIME, REFRESH_TIME, SeriesWriter
from kubeloop.events.sink import CORE_V1, EVENTS_V1, ClientEventSink, EventSink
from kubeloop.events.spam_filter import (
    DEFAULT_SPAM_BURST,
    DEFAULT_SPAM_QPS,
    EventSourceObjectSpamFilter,
)

__all__ = [
    "CORE_V1",
    "DEFAULT_SPAM_BURST",
    "DEFAULT_SPAM_QPS",
    "EVENTS_V1",
    "FINISH_TIME",
    "MAX_QUEUED_EVENTS",
    "NORMAL",
    "NOTE_LENGTH_LIMIT",
    "REFRESH_TIME",
    "WARNING",
    "AsyncEventRecorder",
    "ClientEventSink",
    "CoreV1Writer",
    "EventRecorder",
    "EventSink",
    "EventSourceObjectSpamFilter",
    "Occurrence",
    "SeriesWriter",
]
