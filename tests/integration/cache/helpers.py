"""Helpers for informer tests against the real API server: a handler that
mirrors what it is told, a resource client that records the requests the
reflector makes, and a running factory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubeloop.cache import (
    DeletedFinalStateUnknown,
    ExponentialBackoffManager,
    Reflector,
    ReflectorOptions,
    SharedIndexInformer,
    SharedInformerFactory,
    default_watch_error_handler,
    deletion_handling_meta_namespace_key_func,
    get_resource_version,
)
from kubeloop.client import Client, ListOptions, ListPage, ResourceClient, WatchStream

WAIT = 30.0  # seconds: upper bound for anything the server does for us


class Mirror:
    """A handler that keeps ``key -> resourceVersion`` as its events say
    (add/update put, delete removes, tombstones included) and records
    every event that contradicts what it was told before.

    A handler sees the cache's changes in the cache's order, so an add for
    a key it already has, an update or delete for a key it does not have,
    or an update whose old object is not the one it was given last, is a
    bug in the informer.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.state: dict[str, str] = {}
        self.objects: dict[str, Any] = {}
        self.events: list[tuple[str, str, str]] = []  # (kind, key, rv)
        self.violations: list[str] = []
        self.tombstones: list[DeletedFinalStateUnknown] = []
        self.initial_adds = 0

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        key, rv = deletion_handling_meta_namespace_key_func(obj), get_resource_version(obj)
        with self.cond:
            if key in self.state:
                self.violations.append(f"add of {key}@{rv}: already had @{self.state[key]}")
            self.initial_adds += is_in_initial_list
            self._put("add", key, obj)

    def on_update(self, old: Any, new: Any) -> None:
        key = deletion_handling_meta_namespace_key_func(new)
        old_rv = get_resource_version(old)
        with self.cond:
            if self.state.get(key) != old_rv:
                self.violations.append(
                    f"update of {key}: old @{old_rv}, but had @{self.state.get(key)}"
                )
            self._put("update", key, new)

    def on_delete(self, obj: Any) -> None:
        key = deletion_handling_meta_namespace_key_func(obj)
        with self.cond:
            if isinstance(obj, DeletedFinalStateUnknown):
                self.tombstones.append(obj)
                obj = obj.obj
            if key not in self.state:
                self.violations.append(f"delete of {key}: not there")
            self.state.pop(key, None)
            self.objects.pop(key, None)
            self.events.append(("delete", key, get_resource_version(obj) if obj else ""))
            self.cond.notify_all()

    def _put(self, kind: str, key: str, obj: Any) -> None:
        rv = get_resource_version(obj)
        self.state[key] = rv
        self.objects[key] = obj
        self.events.append((kind, key, rv))
        self.cond.notify_all()

    def wait_for(self, predicate: Callable[[Mirror], bool], timeout: float = WAIT) -> bool:
        """Wait until ``predicate(self)`` holds (checked on every event)."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)

    def snapshot(self) -> dict[str, str]:
        with self.cond:
            return dict(self.state)


class RecordingResource:
    """A resource client that records every LIST and WATCH the reflector
    sends (to tell the WatchList path from the LIST fallback), and can make
    the server refuse WatchList requests."""

    def __init__(self, inner: ResourceClient, *, spoil_watch_list: bool = False) -> None:
        self.inner = inner
        self.api_version = inner.api_version
        self.plural = inner.plural
        self.namespace = inner.namespace
        self.spoil_watch_list = spoil_watch_list
        self._lock = threading.Lock()  # guards lists and watches
        self.lists: list[ListOptions] = []
        self.watches: list[ListOptions] = []

    def list_page(self, options: ListOptions) -> ListPage:
        with self._lock:
            self.lists.append(options)
        return self.inner.list_page(options)

    def watch(self, options: ListOptions) -> WatchStream:
        if self.spoil_watch_list and options.send_initial_events:
            # The server itself refuses this (422: sendInitialEvents needs
            # resourceVersionMatch=NotOlderThan), as a server without the
            # WatchList feature refuses sendInitialEvents.
            options.resource_version_match = "Exact"
        with self._lock:
            self.watches.append(options)
        return self.inner.watch(options)

    def watch_list_requests(self) -> int:
        with self._lock:
            return sum(1 for o in self.watches if o.send_initial_events)

    def list_requests(self) -> int:
        with self._lock:
            return len(self.lists)


@contextmanager
def running(factory: SharedInformerFactory) -> Iterator[threading.Event]:
    """Start the factory, wait for its caches, and stop it on exit."""
    stop = threading.Event()
    factory.start(stop)
    give_up = threading.Timer(WAIT, stop.set)  # ends the wait (and the test)
    give_up.start()
    try:
        synced = factory.wait_for_cache_sync(stop)
        give_up.cancel()
        assert synced and all(synced.values()), f"caches did not sync within {WAIT}s: {synced}"
        yield stop
    finally:
        give_up.cancel()
        stop.set()
        factory.shutdown(WAIT)


def cache_state(factory: SharedInformerFactory, api_version: str, plural: str) -> dict[str, str]:
    store = factory.informer_for(api_version, plural).get_store()
    return {
        deletion_handling_meta_namespace_key_func(o): get_resource_version(o) for o in store.list()
    }


def server_state(resource: ResourceClient) -> dict[str, str]:
    """A fresh, consistent LIST (resourceVersion "": from etcd, newest)."""
    state: dict[str, str] = {}
    for page in resource.pages(resource_version=""):
        for obj in page.items:
            md = obj["metadata"]
            state[f"{md['namespace']}/{md['name']}"] = md["resourceVersion"]
    return state


def pod_template(name: str, image: str = "registry.k8s.io/pause:3.10", **labels: str) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name, "labels": labels},
        "template": {"spec": {"containers": [{"name": "c", "image": image}]}},
    }


@dataclass
class WatchedInformer:
    """A PodTemplate informer, its requests, a mirroring handler and every
    error its reflector reported."""

    factory: SharedInformerFactory
    informer: SharedIndexInformer
    requests: RecordingResource
    mirror: Mirror
    watch_errors: list[BaseException] = field(default_factory=list)


def pod_template_informer(client: Client, namespace: str, use_watch_list: bool) -> WatchedInformer:
    """PodTemplates (no watch cache in testenv: real 410s after compaction),
    with a backoff of 0.05..0.5 s (client-go's 0.8..30 s would only make a
    test wait)."""
    requests = RecordingResource(client.resource("v1", "podtemplates", namespace=namespace))
    backoff = ExponentialBackoffManager(initial=0.05, maximum=0.5)
    factory = SharedInformerFactory(
        client,
        0,
        reflector_options=ReflectorOptions(use_watch_list=use_watch_list, backoff=backoff),
    )
    informer = factory.informer_for(requests)
    watched = WatchedInformer(factory, informer, requests, Mirror())

    def on_watch_error(reflector: Reflector, err: BaseException) -> None:
        watched.watch_errors.append(err)
        default_watch_error_handler(reflector, err)

    informer.set_watch_error_handler(on_watch_error)
    informer.add_event_handler(watched.mirror)
    return watched
