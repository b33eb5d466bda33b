"""Bytes per cached Deployment: a full informer against a metadata-only one.

Creates ``--objects`` Deployments (one container with env, ports,
resources and probes, as a controller would make them; the server adds its
defaults; testenv runs no controller-manager, so there is no ``status``)
in a namespace of a testenv, then syncs a :class:`SharedInformerFactory`
informer on them, full (dicts) and metadata-only (``PartialObjectMetadata``),
with ``managedFields`` stripped (the factory's default) and kept.

Measured per case, with tracemalloc (the Python heap, which the
allocator's habit of keeping freed pages cannot blur):

- what the informer holds once synced and after a gc, less what the same
  informer holds over an empty namespace (threads, client buffers, the
  informer itself), divided by the objects: bytes per cached object;
- the LIST body per object on the wire (``Accept`` JSON against
  ``as=PartialObjectMetadataList``).

Each case runs ``--repeat`` times, interleaved; the median is shown.

Usage: python -m bench.informer.metadata_memory [--objects 200] [--repeat 3] [--kubeconfig K]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import shutil
import statistics
import tempfile
import threading
import tracemalloc
from typing import Any

from kubeloop.cache import SharedInformerFactory
from kubeloop.client import METADATA_LIST_ACCEPT, Client, load_config
from kubeloop.errors import AlreadyExists

NAMESPACE = "bench-metadata"
EMPTY_NAMESPACE = "bench-metadata-empty"
WAIT = 60.0


def deployment(i: int) -> dict[str, Any]:
    name = f"web-{i:05d}"
    labels = {"app": name, "tier": "web"}
    container = {
        "name": "app",
        "image": "registry.k8s.io/pause:3.10",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": f"SETTING_{n}", "value": f"value-{n}"} for n in range(5)],
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def seed(client: Client, objects: int) -> None:
    namespaces = client.resource("v1", "namespaces", namespaced=False)
    for namespace in (NAMESPACE, EMPTY_NAMESPACE):
        with contextlib.suppress(AlreadyExists):
            namespaces.create({"metadata": {"name": namespace}})
    deployments = client.resource("apps/v1", "deployments", namespace=NAMESPACE, namespaced=True)
    for i in range(objects):
        with contextlib.suppress(AlreadyExists):
            deployments.create(deployment(i))


def held_bytes(client: Client, namespace: str, metadata_only: bool, strip: bool) -> tuple[int, int]:
    """(heap bytes the synced informer holds, objects cached)."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    factory = SharedInformerFactory(client, 0, namespace=namespace, strip_managed_fields=strip)
    informer = factory.informer_for("apps/v1", "deployments", metadata_only=metadata_only)
    stop = threading.Event()
    try:
        factory.start(stop)
        give_up = threading.Timer(WAIT, stop.set)
        give_up.start()
        synced = factory.wait_for_cache_sync(stop)
        give_up.cancel()
        if not all(synced.values()):
            raise SystemExit(f"the informer did not sync within {WAIT}s")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        return held, len(informer.get_store().list_keys())
    finally:
        stop.set()
        factory.shutdown(WAIT)


def wire_bytes(client: Client, objects: int) -> tuple[float, float]:
    """LIST body bytes per object: full JSON, then PartialObjectMetadataList."""
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    full = len(client.request_bytes("GET", path))
    metadata = len(client.request_bytes("GET", path, accept=METADATA_LIST_ACCEPT))
    return full / objects, metadata / objects


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kubeconfig")
    args = ap.parse_args()

    from kubeloop.testenv import ControlPlane

    cp = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        cp = ControlPlane(tempfile.mkdtemp(prefix="bench-metadata-")).start()
        kubeconfig = str(cp.kubeconfig)
    try:
        config = load_config(kubeconfig=kubeconfig)
        config.qps, config.burst = 0, 0
        with Client(config) as client:
            seed(client, args.objects)
            report(client, args.objects, args.repeat)
    finally:
        if cp is not None:
            cp.stop()
            shutil.rmtree(cp.dir, ignore_errors=True)


def report(client: Client, objects: int, repeat: int) -> None:
    cases = [(m, s) for s in (True, False) for m in (False, True)]
    tracemalloc.start()
    for metadata_only, strip in cases:  # warm up: decoders, connections, lazy imports
        held_bytes(client, NAMESPACE, metadata_only, strip)
    per_object: dict[tuple[bool, bool], list[float]] = {case: [] for case in cases}
    for _ in range(repeat):
        for case in cases:
            held, cached = held_bytes(client, NAMESPACE, *case)
            empty, _ = held_bytes(client, EMPTY_NAMESPACE, *case)
            if cached != objects:
                raise SystemExit(f"cached {cached} Deployments, not {objects}")
            per_object[case].append((held - empty) / objects)
    tracemalloc.stop()
    full_wire, metadata_wire = wire_bytes(client, objects)

    print(
        f"\nbytes per cached Deployment, {objects} Deployments in testenv "
        f"(tracemalloc, informer over {objects} less over none, median of {repeat})"
    )
    header = f"{'informer':15} {'managedFields':13} {'bytes/object':>12} {'vs full':>8}"
    print(header)
    print("-" * len(header))
    for strip in (True, False):
        full = statistics.median(per_object[(False, strip)])
        for metadata_only in (False, True):
            value = statistics.median(per_object[(metadata_only, strip)])
            print(
                f"{'metadata-only' if metadata_only else 'full (dicts)':15} "
                f"{'stripped' if strip else 'kept':13} {value:12,.0f} {value / full:8.2f}"
            )
    print(
        f"\nLIST body per object on the wire: full {full_wire:,.0f} B, "
        f"PartialObjectMetadata {metadata_wire:,.0f} B ({metadata_wire / full_wire:.2f})"
    )


if __name__ == "__main__":
    main()
