"""Delta throughput: reflector -> informer queue (RealFIFO) -> indexer -> handler, in memory.

No API server: an in-memory ListerWatcher serves a LIST (or a WatchList
stream) of ``--objects`` objects and then a watch of ``--events`` pre-built
events (adds, modifies, deletes). The informer is configured as the factory
configures it (namespace index, strip_managed_fields), and one handler counts
what it is given. Printed: initial sync (objects/s, until has_synced and every
initial add handled) and watch events/s (first event read to last handled).

    .venv/bin/python bench/informer/bench_delta_throughput.py --objects 10000 --events 50000
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

from kubeloop.cache import (
    NAMESPACE_INDEX,
    ReflectorOptions,
    SharedIndexInformer,
    meta_namespace_index_func,
    strip_managed_fields,
)
from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent


def make_object(i: int, rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"obj-{i}",
            "namespace": f"ns-{i % 20}",
            "uid": f"uid-{i}",
            "resourceVersion": str(rv),
            "labels": {"app": f"app-{i % 50}", "tier": "bench"},
            "managedFields": [
                {"manager": "bench", "operation": "Apply", "fieldsV1": {"f:data": {}}}
            ],
        },
        "data": {"key": "value" * 4},
    }


class _Stream:
    """Yields pre-built events, then idles like an open connection until stopped."""

    def __init__(self, events: list[WatchEvent[Any]], started: list[float]) -> None:
        self._events = events
        self._started = started
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def __iter__(self) -> Iterator[WatchEvent[Any]]:
        self._started.append(time.perf_counter())
        yield from self._events
        self._stopped.wait()


class InMemoryListWatch:
    def __init__(self, objects: int, events: int) -> None:
        self.items = [make_object(i, i + 1) for i in range(objects)]
        self.list_rv = str(objects)
        self.watch_events: list[WatchEvent[Any]] = []
        rv = objects
        live = list(range(objects))
        next_id = objects
        for n in range(events):
            rv += 1
            kind = n % 4
            if kind in (0, 1) or not live:  # modify an existing object
                i = live[n % len(live)] if live else 0
                self.watch_events.append(WatchEvent(EventType.MODIFIED, make_object(i, rv)))
            elif kind == 2:  # add a new one
                self.watch_events.append(WatchEvent(EventType.ADDED, make_object(next_id, rv)))
                live.append(next_id)
                next_id += 1
            else:  # delete one
                i = live.pop(n % len(live))
                self.watch_events.append(WatchEvent(EventType.DELETED, make_object(i, rv)))
        self.watch_started: list[float] = []

    def list(self, options: ListOptions) -> ListPage[Any]:
        limit = options.limit or len(self.items)
        offset = int(options.continue_ or 0)
        end = offset + limit
        token = str(end) if end < len(self.items) else ""
        return ListPage(self.items[offset:end], self.list_rv, token)

    def watch(self, options: ListOptions) -> _Stream:
        if options.send_initial_events:
            initial = [WatchEvent(EventType.ADDED, obj) for obj in self.items]
            end = {
                "metadata": {
                    "resourceVersion": self.list_rv,
                    "annotations": {"k8s.io/initial-events-end": "true"},
                }
            }
            initial.append(WatchEvent(EventType.BOOKMARK, end))
            return _Stream(initial + self.watch_events, self.watch_started)
        return _Stream(self.watch_events, self.watch_started)


class CountingHandler:
    def __init__(self, initial: int, total: int) -> None:
        self.count = 0
        self.initial = initial
        self.total = total
        self.initial_done = threading.Event()
        self.all_done = threading.Event()
        self.initial_at = 0.0
        self.done_at = 0.0

    def _tick(self) -> None:
        self.count += 1
        if self.count == self.initial:
            self.initial_at = time.perf_counter()
            self.initial_done.set()
        if self.count == self.total:
            self.done_at = time.perf_counter()
            self.all_done.set()

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self._tick()

    def on_update(self, old: Any, new: Any) -> None:
        self._tick()

    def on_delete(self, obj: Any) -> None:
        self._tick()


def run_once(objects: int, events: int, use_watch_list: bool) -> tuple[float, float]:
    lw = InMemoryListWatch(objects, events)
    informer: SharedIndexInformer[Any] = SharedIndexInformer(
        lw,
        0.0,
        {NAMESPACE_INDEX: meta_namespace_index_func},
        reflector_options=ReflectorOptions(use_watch_list=use_watch_list),
    )
    informer.set_transform(strip_managed_fields)
    handler = CountingHandler(objects, objects + events)
    informer.add_event_handler(handler)
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,), name="kubeloop-bench")
    start = time.perf_counter()
    thread.start()
    try:
        if not handler.all_done.wait(600):
            raise RuntimeError(f"only {handler.count} of {objects + events} events delivered")
    finally:
        stop.set()
        thread.join()
    assert informer.has_synced()
    sync_rate = objects / (handler.initial_at - start)
    # The watch stream starts right after the initial state; with WatchList
    # the initial events share the stream, so count from the sync instead.
    watch_start = handler.initial_at if use_watch_list else lw.watch_started[0]
    watch_rate = events / (handler.done_at - max(watch_start, handler.initial_at))
    return sync_rate, watch_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"delta throughput, in memory: {args.objects} listed objects, "
        f"{args.events} watch events, best/median of {args.repeat}"
    )
    for use_watch_list, label in ((False, "LIST + WATCH"), (True, "WatchList stream")):
        results = [run_once(args.objects, args.events, use_watch_list) for _ in range(args.repeat)]
        sync = [r[0] for r in results]
        watch = [r[1] for r in results]
        print(
            f"  {label:17s} initial sync {max(sync):10,.0f} objects/s "
            f"(median {statistics.median(sync):,.0f})   "
            f"watch {max(watch):10,.0f} events/s (median {statistics.median(watch):,.0f})"
        )


if __name__ == "__main__":
    main()
