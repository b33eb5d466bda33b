"""In-memory stand-ins for an API server endpoint, for tests and benchmarks.

:class:`FakeControllerSource` plays one resource of an API server (like
client-go's ``tools/cache/testing.FakeControllerSource``): it numbers every
change with a resourceVersion, serves paged LISTs, replays changes to a WATCH
started from an older RV, streams WatchList initial events, and can drop,
break or expire watches on demand::

    source = FakeControllerSource()
    source.add({"metadata": {"name": "a", "namespace": "ns"}})
    informer = SharedIndexInformer(source, 0)
    source.reset_watch()        # every open watch ends (a normal close)
    source.compact()            # watches from older RVs now get 410 Gone

:class:`FakeWatchStream` is a scripted watch stream; ``stop()`` is
thread-safe and ends iteration at once, like the real client's.
"""

from __future__ import annotations

import builtins
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from kubeloop.cache.keys import KeyFunc, meta_namespace_key_func
from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent
from kubeloop.errors import ApiError, Gone, Invalid

__all__ = ["FakeControllerSource", "FakeWatchStream", "RecordingInformerMetricsProvider"]

_INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class FakeWatchStream:
    """A watch stream fed by the test (or by a FakeControllerSource)."""

    def __init__(self, events: Iterable[WatchEvent[Any]] = ()) -> None:
        # Guards _pending, _stopped, _closed and _error.
        self._cond = threading.Condition(threading.Lock())
        self._pending: deque[WatchEvent[Any]] = deque(events)
        self._stopped = False
        self._closed = False
        self._error: BaseException | None = None

    def push(self, event: WatchEvent[Any]) -> None:
        with self._cond:
            if not (self._stopped or self._closed):
                self._pending.append(event)
                self._cond.notify_all()

    def action(self, event_type: EventType, obj: Any) -> None:
        self.push(WatchEvent(event_type, obj))

    def close(self, error: BaseException | None = None) -> None:
        """End the stream after what is queued (raising ``error`` then, if given)."""
        with self._cond:
            self._closed = True
            self._error = error
            self._cond.notify_all()

    def stop(self) -> None:
        """The consumer is done: iteration ends at once."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        with self._cond:
            return self._stopped

    def __iter__(self) -> Iterator[WatchEvent[Any]]:
        while True:
            with self._cond:
                while not (self._pending or self._stopped or self._closed):
                    self._cond.wait()
                if self._stopped:
                    return
                if self._pending:
                    event = self._pending.popleft()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield event


def _with_resource_version(obj: Any, rv: str) -> Any:
    """A copy of ``obj`` carrying ``rv`` (the caller's object is left alone)."""
    if isinstance(obj, dict):
        copy = dict(obj)
        copy["metadata"] = {**(obj.get("metadata") or {}), "resourceVersion": rv}
        return copy
    typed: Any = obj  # any metadata-carrying object
    if isinstance(obj, msgspec.Struct):
        metadata = msgspec.structs.replace(typed.metadata, resource_version=rv)
        return msgspec.structs.replace(obj, metadata=metadata)
    typed.metadata.resource_version = rv
    return typed


class FakeControllerSource:
    """One resource of a fake API server, usable as a ListerWatcher.

    Objects are dicts or typed objects (msgspec Structs, or anything with a
    settable ``metadata.resource_version``); each change stores a copy with
    the new resourceVersion, which LIST and WATCH then hand out as is.
    """

    def __init__(self, key_func: KeyFunc = meta_namespace_key_func) -> None:
        self._key_func = key_func
        # Guards every attribute below.
        self._lock = threading.Lock()
        self._items: dict[str, Any] = {}
        self._changes: builtins.list[WatchEvent[Any]] = []
        self._watchers: builtins.list[FakeWatchStream] = []
        self._compacted = 0
        self._snapshots: dict[str, tuple[builtins.list[Any], str]] = {}
        #: Raised by every LIST while set.
        self.list_error: BaseException | None = None
        #: Whether WATCH honours sendInitialEvents (else it answers 422).
        self.supports_watch_list = True
        #: Every LIST's and WATCH's options, in call order.
        self.list_calls: builtins.list[ListOptions] = []
        self.watch_calls: builtins.list[ListOptions] = []

    # -- changing the contents ------------------------------------------------

    def add(self, obj: Any) -> Any:
        return self.change(EventType.ADDED, obj)

    def modify(self, obj: Any) -> Any:
        return self.change(EventType.MODIFIED, obj)

    def delete(self, obj: Any) -> Any:
        return self.change(EventType.DELETED, obj)

    def add_drop_watch(self, obj: Any) -> Any:
        """Add, but do not tell open watches (a later re-watch replays it)."""
        return self.change(EventType.ADDED, obj, broadcast=False)

    def modify_drop_watch(self, obj: Any) -> Any:
        return self.change(EventType.MODIFIED, obj, broadcast=False)

    def delete_drop_watch(self, obj: Any) -> Any:
        return self.change(EventType.DELETED, obj, broadcast=False)

    def change(self, event_type: EventType, obj: Any, broadcast: bool = True) -> Any:
        """Record a change under the next resourceVersion; return the stored object."""
        with self._lock:
            stored = _with_resource_version(obj, str(len(self._changes) + 1))
            event = WatchEvent(event_type, stored)
            self._changes.append(event)
            key = self._key_func(stored)
            if event_type == EventType.DELETED:
                self._items.pop(key, None)
            else:
                self._items[key] = stored
            if broadcast:
                for watcher in self._watchers:
                    watcher.push(event)
            return stored

    def bookmark(self) -> str:
        """Move the resourceVersion on with no change and tell open watches
        with a BOOKMARK (as the API server does about every minute); return
        that resourceVersion."""
        with self._lock:
            rv = str(len(self._changes) + 1)
            event = WatchEvent(EventType.BOOKMARK, {"metadata": {"resourceVersion": rv}})
            self._changes.append(event)
            for watcher in self._watchers:
                watcher.push(event)
            return rv

    # -- failure injection ----------------------------------------------------

    def reset_watch(self) -> None:
        """End every open watch normally (a dropped connection)."""
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.close()

    def fail_watches(self, error: BaseException) -> None:
        """End every open watch with ``error`` (e.g. a 410 Gone ERROR event)."""
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.close(error)

    def compact(self) -> None:
        """Forget history: watches and continues from older RVs get 410 Gone."""
        with self._lock:
            self._compacted = len(self._changes)
            self._snapshots.clear()

    def shutdown(self) -> None:
        self.reset_watch()

    # -- reading --------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(len(self._changes))

    def items(self) -> builtins.list[Any]:
        with self._lock:
            return list(self._items.values())

    # -- ListerWatcher ----------------------------------------------------------

    def list(self, options: ListOptions) -> ListPage[Any]:
        with self._lock:
            self.list_calls.append(options)
            if self.list_error is not None:
                raise self.list_error
            if options.continue_:
                snapshot = self._snapshots.get(options.continue_)
                if snapshot is None:
                    raise Gone(410, "Expired", "The provided continue parameter is too old")
                items, rv = snapshot
                offset = int(options.continue_.rsplit(":", 1)[1])
            else:
                items = [self._items[k] for k in sorted(self._items)]
                rv = str(len(self._changes))
                offset = 0
            if not options.limit or offset + options.limit >= len(items):
                return ListPage(items[offset:], rv)
            end = offset + options.limit
            token = f"{rv}:{end}"
            self._snapshots[token] = (items, rv)
            return ListPage(items[offset:end], rv, token)

    def watch(self, options: ListOptions) -> FakeWatchStream:
        with self._lock:
            self.watch_calls.append(options)
            if options.send_initial_events:
                if not self.supports_watch_list:
                    raise Invalid(422, "Invalid", "sendInitialEvents is forbidden for watch")
                events = [WatchEvent(EventType.ADDED, self._items[k]) for k in sorted(self._items)]
                rv = str(len(self._changes))
                events.append(
                    WatchEvent(
                        EventType.BOOKMARK,
                        {
                            "metadata": {
                                "resourceVersion": rv,
                                "annotations": {_INITIAL_EVENTS_END: "true"},
                            }
                        },
                    )
                )
            else:
                try:
                    start = int(options.resource_version or 0)
                except ValueError as err:
                    raise ApiError(400, "BadRequest", str(err)) from err
                if start < self._compacted:
                    raise Gone(410, "Expired", f"too old resource version: {start}")
                if start > len(self._changes):
                    raise ApiError(504, "Timeout", "Too large resource version")
                events = list(self._changes[start:])
            stream = FakeWatchStream(events)
            self._watchers = [w for w in self._watchers if not w.stopped]
            self._watchers.append(stream)
            return stream


class RecordingInformerMetricsProvider:
    """An informer metrics provider that remembers every value it was given and
    lets a test wait for one, optionally passing each on to ``inner`` (e.g. a
    Prometheus provider whose registry the test then scrapes)::

        metrics = RecordingInformerMetricsProvider()
        informer = SharedIndexInformer(source, 0, identifier=ident, metrics_provider=metrics)
        metrics.wait_for(lambda m: len(m.latencies) == 3)

    The FIFO observes its latency after the handlers were notified, so
    waiting on a handler's event is not enough to see it: wait here.
    """

    def __init__(self, inner: Any = None) -> None:
        self._inner = inner
        # Guards queued_items, latencies and resource_versions; notified on each change.
        self._cond = threading.Condition()
        self.queued_items: builtins.list[float] = []
        self.latencies: builtins.list[float] = []
        self.resource_versions: builtins.list[float] = []
        self.identities: builtins.list[Any] = []

    def _record(self, into: builtins.list[float], inner: Any, value: float) -> None:
        if inner is not None:
            inner(value)
        with self._cond:
            into.append(value)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[RecordingInformerMetricsProvider], bool], timeout: float = 10.0
    ) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def new_queued_item_metric(self, id: Any) -> _RecordingMetric:
        self.identities.append(id)
        inner = self._inner.new_queued_item_metric(id).set if self._inner else None
        return _RecordingMetric(lambda v: self._record(self.queued_items, inner, v))

    def new_processing_latency_metric(self, id: Any) -> _RecordingMetric:
        inner = self._inner.new_processing_latency_metric(id).observe if self._inner else None
        return _RecordingMetric(lambda v: self._record(self.latencies, inner, v))

    def new_store_resource_version_metric(self, id: Any) -> _RecordingMetric:
        inner = self._inner.new_store_resource_version_metric(id).set if self._inner else None
        return _RecordingMetric(lambda v: self._record(self.resource_versions, inner, v))


class _RecordingMetric:
    """A gauge and a histogram at once: both hand their value to ``record``."""

    def __init__(self, record: Callable[[float], None]) -> None:
        self.set = self.observe = record
