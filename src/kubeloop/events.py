"""Recording Kubernetes Events for objects (client-go's tools/record, in part).

``recorder.event(obj, "Normal", "Created", "...")`` never blocks the caller:
events go to a bounded queue (1000, as client-go) that drops when full, and a
background thread writes them. An event identical to one already written
(same object, type, reason, message, source) is not created again: the
existing Event's ``count`` and ``lastTimestamp`` are patched, so a reconcile
that keeps failing produces one Event with a rising count, not thousands.

Not here yet (client-go has them): aggregation of *similar* events with
different messages, and the per-object spam filter.

Example::

    recorder = EventRecorder(client, component="network-controller")
    recorder.start()
    recorder.event(network, "Warning", "BackendError", "create failed: timeout")
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from kubeloop.cache.accessor import get_name, get_namespace, get_resource_version, get_uid
from kubeloop.client import Client
from kubeloop.errors import KubeloopError, is_not_found

log = logging.getLogger("kubeloop.events")

NORMAL = "Normal"
WARNING = "Warning"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(
        self,
        client: Client,
        component: str,
        *,
        host: str | None = None,
        queue_size: int = 1000,
        cache_size: int = 4096,
        max_tries: int = 12,
        retry_interval: float = 10.0,
    ) -> None:
        self.client = client
        self.source = {"component": component, "host": host or socket.gethostname()}
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._max_tries = max_tries
        self._retry_interval = retry_interval
        self._stop = threading.Event()
        # Set when stop() gave up waiting: the writer drops what is queued.
        self._abandon = threading.Event()
        # Written only by the writer thread: correlation key -> (event name,
        # namespace, count). LRU-bounded like client-go's events cache.
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()
        self._cache_size = cache_size
        self._thread: threading.Thread | None = None
        self.dropped = 0

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
        thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)  # waits for room while the writer drains
        thread.join(max(0.0, deadline - time.monotonic()))
        if not thread.is_alive():
            return
        self._abandon.set()
        left = 0
        with contextlib.suppress(queue.Empty):
            while True:
                if self._queue.get_nowait() is not None:
                    left += 1
        self.dropped += left
        self._queue.put_nowait(None)  # room now: the writer's way out
        log.warning(
            "event recorder: not done %.1fs after stop; %d queued events dropped, "
            "the write in flight abandoned",
            timeout,
            left,
        )

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        if isinstance(obj, dict):
            api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
        else:  # a typed model
            api_version = getattr(obj, "api_version", "")
            kind = getattr(obj, "kind", "") or type(obj).__name__
        record = {
            "involvedObject": {
                "apiVersion": api_version,
                "kind": kind,
                "name": get_name(obj),
                "namespace": get_namespace(obj) or "default",
                "uid": get_uid(obj),
                "resourceVersion": get_resource_version(obj),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
        }
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            log.warning("event queue full, dropping event %s %s", reason, message)

    # -- writer thread -------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._abandon.is_set():
                self.dropped += 1
                continue
            for attempt in range(self._max_tries):
                try:
                    self._write(item)
                    break
                except Exception as err:  # never a traceback from the writer thread
                    retriable = isinstance(err, KubeloopError) and attempt + 1 < self._max_tries
                    if self._stop.is_set() or not retriable:
                        log.warning("could not write event %s: %s", item["reason"], err)
                        break
                    if self._stop.wait(self._retry_interval):
                        break

    def _write(self, record: dict[str, Any]) -> None:
        obj = record["involvedObject"]
        ns = obj["namespace"]
        key = (
            str(obj["uid"]),
            str(obj["kind"]),
            ns,
            str(obj["name"]),
            record["type"],
            record["reason"],
            record["message"],
            self.source["component"],
        )
        events = self.client.resource("v1", "events", namespace=ns, namespaced=True)
        seen = self._seen.get(key)
        now = _now()
        if seen is not None:
            name, _, count = seen
            try:
                events.patch(name, {"count": count + 1, "lastTimestamp": now})
                self._remember(key, (name, ns, count + 1))
                return
            except KubeloopError as err:
                if not is_not_found(err):
                    raise
                # The Event expired (TTL) or was deleted: create it anew.
        name = f"{obj['name']}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": obj,
            "type": record["type"],
            "reason": record["reason"],
            "message": record["message"],
            "source": self.source,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": self.source["component"],
            "reportingInstance": self.source["host"],
        }
        events.create(body)
        self._remember(key, (name, ns, 1))

    def _remember(self, key: tuple[str, ...], value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
