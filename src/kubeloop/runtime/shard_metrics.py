"""Metrics of sharded controllers.

::

    metrics = ShardMetrics(registry)
    metrics.set_held("networks", 3, True)     # kubeloop_shard_held{..., shard="3"} 1
    metrics.set_members("networks", 3)        # kubeloop_shard_members{...} 3
    metrics.set_cached("networks-shard-3", "samplecrd.k8s.io", "v1", "networks", 250)

- ``kubeloop_shard_held{controller, shard}``: 1 while this replica holds
  the shard (synced, reconciling), 0 otherwise; every shard has a series,
  so a dashboard sums the group's to S when every shard is held once.
- ``kubeloop_shard_members{controller}``: the live replicas this one counts.
- ``kubeloop_informer_cached_objects{name, group, version, resource}``:
  objects in an informer's cache (the informer metrics' labels), one
  series per held shard's informer, removed when the shard goes.
"""

from __future__ import annotations

import contextlib

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from kubeloop._prometheus import PerRegistry

__all__ = ["ShardMetrics"]


class _Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.held = Gauge(
            "kubeloop_shard_held",
            "Whether this replica holds the shard (1) or not (0)",
            ["controller", "shard"],
            registry=registry,
        )
        self.members = Gauge(
            "kubeloop_shard_members",
            "Live replicas of the sharded controller, as this replica counts them",
            ["controller"],
            registry=registry,
        )
        self.cached = Gauge(
            "kubeloop_informer_cached_objects",
            "Objects in the informer's cache",
            ["name", "group", "version", "resource"],
            registry=registry,
        )


_families_for = PerRegistry(_Families)


class ShardMetrics:
    """The families above in ``registry`` (shared by every user of it)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._families = _families_for(registry)

    def init(self, controller: str, shards: int) -> None:
        """Every shard's series at 0, so a missing one is never mistaken for "held"."""
        for shard in range(shards):
            self._families.held.labels(controller, str(shard)).set(0)

    def set_held(self, controller: str, shard: int, held: bool) -> None:
        self._families.held.labels(controller, str(shard)).set(1 if held else 0)

    def set_members(self, controller: str, members: int) -> None:
        self._families.members.labels(controller).set(members)

    def set_cached(self, name: str, group: str, version: str, resource: str, n: int) -> None:
        self._families.cached.labels(name, group, version, resource).set(n)

    def forget_cached(self, name: str, group: str, version: str, resource: str) -> None:
        with contextlib.suppress(KeyError):
            self._families.cached.remove(name, group, version, resource)
