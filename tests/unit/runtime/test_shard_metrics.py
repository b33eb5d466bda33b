"""The sharding metrics: every shard's series exists at 0, held shards are
1, cached-object series go with their shard."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubeloop.runtime.shard_metrics import ShardMetrics


def value(registry: CollectorRegistry, metric: str, **labels: str) -> float | None:
    return registry.get_sample_value(metric, labels)


def test_held_members_and_cached_objects_series() -> None:
    registry = CollectorRegistry()
    metrics = ShardMetrics(registry)
    metrics.init("networks", 3)
    assert [value(registry, "kubeloop_shard_held", controller="networks", shard=str(i))
            for i in range(3)] == [0.0, 0.0, 0.0]  # fmt: skip
    metrics.set_held("networks", 1, True)
    metrics.set_members("networks", 2)
    assert value(registry, "kubeloop_shard_held", controller="networks", shard="1") == 1.0
    assert value(registry, "kubeloop_shard_members", controller="networks") == 2.0
    labels = {"name": "networks-shard-1", "group": "samplecrd.k8s.io", "version": "v1",
              "resource": "networks"}  # fmt: skip
    metrics.set_cached(*labels.values(), 250)
    assert registry.get_sample_value("kubeloop_informer_cached_objects", labels) == 250.0
    metrics.forget_cached(*labels.values())
    metrics.forget_cached(*labels.values())  # twice: no error
    assert registry.get_sample_value("kubeloop_informer_cached_objects", labels) is None
    assert ShardMetrics(registry)  # a second user of the registry shares the families
