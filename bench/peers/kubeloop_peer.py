"""kubeloop library-only peer for bench/run.py: the official peer's exact job.

What bench/peers/official_peer.py does with ``kubernetes.informer``, done with
kubeloop's library (of the runtime only ``YieldingLock``, no application): a
shared informer from the factory (dict objects, resync 0), a synchronous event handler that puts
``namespace/name`` keys on a :class:`~kubeloop.workqueue.RateLimitingQueue`,
N worker threads that read the object from the informer's cache and compare
it with an in-memory no-op backend, and one stdout line per reconcile. It
tells the library's own cost apart from the network-controller's (the
``kubeloop`` peer), which also logs through klog, records metrics, checks the
spec and runs a second informer. Its two locks (the backend's and stdout's)
are :class:`kubeloop.runtime.YieldingLock`, as a kubeloop user would write
them: two workers queueing on a plain lock each reconcile make a convoy.

Prints ``synced`` once the cache has synced and ``reconciled <key>`` per
reconcile.

Usage: python bench/peers/kubeloop_peer.py --kubeconfig K --namespace NS --workers N
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from kubeloop.cache import (
    ResourceEventHandlerFuncs,
    SharedInformerFactory,
    deletion_handling_meta_namespace_key_func,
)
from kubeloop.client import Client, load_config
from kubeloop.runtime import YieldingLock
from kubeloop.workqueue import RateLimitingQueue


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    config = load_config(args.kubeconfig)
    config.qps = 0.0  # unthrottled, as the other peers
    client = Client(config)
    factory = SharedInformerFactory(client, 0.0, namespace=args.namespace)
    informer = factory.informer_for("samplecrd.k8s.io/v1", "networks")
    queue: RateLimitingQueue[str] = RateLimitingQueue()
    out_lock = YieldingLock()

    def say(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def enqueue(obj: Any) -> None:
        queue.add(deletion_handling_meta_namespace_key_func(obj))

    informer.add_event_handler(
        ResourceEventHandlerFuncs(
            add_func=enqueue,
            update_func=lambda _old, new: enqueue(new),
            delete_func=enqueue,
        ),
        # It only adds keys to the workqueue: no thread of its own needed
        # (kubernetes.informer calls its handlers on its own thread too).
        synchronous=True,
    )
    backend: dict[str, tuple[str, str, str]] = {}
    backend_lock = YieldingLock()
    store = informer.get_indexer()

    def worker() -> None:
        while True:
            key, shutdown = queue.get()
            if shutdown or key is None:
                return
            try:
                obj, exists = store.get_by_key(key)
                with backend_lock:
                    if not exists:
                        backend.pop(key, None)
                    else:
                        spec = obj.get("spec") or {}
                        want = (
                            spec.get("cidr", ""),
                            spec.get("gateway", ""),
                            obj["metadata"]["uid"],
                        )
                        if backend.get(key) != want:
                            backend[key] = want
                queue.forget(key)
                say(f"reconciled {key}")
            finally:
                queue.done(key)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    factory.start(stop)
    if all(factory.wait_for_cache_sync(stop).values()):
        say("synced")
    threads = [
        threading.Thread(target=worker, name=f"worker-{i}", daemon=True)
        for i in range(args.workers)
    ]
    for t in threads:
        t.start()
    stop.wait()
    queue.shut_down()
    factory.shutdown()
    client.close()


if __name__ == "__main__":
    main()
