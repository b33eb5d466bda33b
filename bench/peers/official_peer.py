"""Official ``kubernetes`` client peer for bench/run.py.

Uses the client's own ``kubernetes.informer.SharedInformer`` (list, then
watch from the list's resourceVersion, a dict cache) on
``CustomObjectsApi.list_namespaced_custom_object``. That informer expects a
list response with ``.items`` and ``.metadata.resource_version`` attributes,
which a generated typed model has but a custom resource's dict does not, so a
small adapter gives the dict those attributes (watch calls pass through).
Handlers put keys on a de-duplicating queue; N worker threads read the object
from the informer's cache and compare it with an in-memory no-op backend.

Prints ``synced`` once the initial list is in the cache and ``reconciled
<key>`` per reconcile.

Usage: python bench/peers/official_peer.py --kubeconfig K --namespace NS --workers N
"""

from __future__ import annotations

import argparse
import functools
import queue
import signal
import sys
import threading
from types import SimpleNamespace
from typing import Any

import kubernetes
from kubernetes.informer import ADDED, DELETED, MODIFIED, SharedInformer

GROUP, VERSION, PLURAL = "samplecrd.k8s.io", "v1", "networks"


class KeyQueue:
    """A FIFO of keys where a key already waiting is not added twice."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _waiting
        self._waiting: set[str] = set()

    def add(self, key: str) -> None:
        with self._lock:
            if key in self._waiting:
                return
            self._waiting.add(key)
        self._queue.put(key)

    def get(self) -> str:
        key = self._queue.get()
        with self._lock:
            self._waiting.discard(key)
        return key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    kubernetes.config.load_kube_config(config_file=args.kubeconfig)
    api = kubernetes.client.CustomObjectsApi()
    synced = threading.Event()
    out_lock = threading.Lock()

    def say(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    @functools.wraps(api.list_namespaced_custom_object)  # Watch reads its docstring
    def list_networks(namespace: str, **kw: Any) -> Any:
        if kw.get("watch"):
            if not synced.is_set():
                synced.set()  # the informer watches only once the list is cached
                say("synced")
            return api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kw)
        body = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kw)
        meta = SimpleNamespace(resource_version=body["metadata"].get("resourceVersion"))
        return SimpleNamespace(items=body["items"], metadata=meta)

    informer = SharedInformer(list_networks, namespace=args.namespace)
    keys = KeyQueue()
    backend: dict[str, tuple[str, str, str]] = {}
    backend_lock = threading.Lock()

    def enqueue(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        keys.add(f"{meta['namespace']}/{meta['name']}")

    for event_type in (ADDED, MODIFIED, DELETED):
        informer.add_event_handler(event_type, enqueue)

    def worker() -> None:
        while True:
            key = keys.get()
            obj = informer.cache.get_by_key(key)
            with backend_lock:
                if obj is None:
                    backend.pop(key, None)
                else:
                    spec = obj.get("spec") or {}
                    want = (spec.get("cidr", ""), spec.get("gateway", ""), obj["metadata"]["uid"])
                    if backend.get(key) != want:
                        backend[key] = want
            say(f"reconciled {key}")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    informer.start()
    for i in range(args.workers):
        threading.Thread(target=worker, name=f"worker-{i}", daemon=True).start()
    stop.wait()


if __name__ == "__main__":
    main()
