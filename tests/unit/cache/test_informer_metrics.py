"""Informer metrics move as client-go's do: queued items rise and fall with
the FIFO, processing latency is observed once per pop, and the store's
resourceVersion gauge follows what was written last."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.cache import (
    DeletedFinalStateUnknown,
    DeltaFIFO,
    Deltas,
    Indexer,
    InformerNameAndResource,
    InformerQueueOptions,
    PrometheusInformerMetricsProvider,
    SharedIndexInformer,
    SharedInformerFactory,
    get_informer_metrics_provider,
    meta_namespace_key_func,
    set_informer_metrics_provider,
)
from kubeloop.cache.informer_metrics import (
    new_fifo_metrics,
    new_store_resource_version_metric,
    parse_rv_for_metrics,
)
from kubeloop.cache.testing import FakeControllerSource, RecordingInformerMetricsProvider
from kubeloop.clock import FakeClock

from .helpers import WAIT, Recorder, pod, running

ID = InformerNameAndResource("test-informer", "", "v1", "pods")
LABELS = {"name": "test-informer", "group": "", "version": "v1", "resource": "pods"}


def fifo_with(
    metrics: RecordingInformerMetricsProvider, clock: FakeClock | None = None, **kw: Any
) -> DeltaFIFO:
    return DeltaFIFO(
        metrics=new_fifo_metrics(ID, metrics), **({"clock": clock} if clock else {}), **kw
    )


# -- queued items -------------------------------------------------------------


def test_queued_items_counts_keys_and_falls_on_pop() -> None:
    metrics = RecordingInformerMetricsProvider()
    fifo = fifo_with(metrics)
    fifo.add(pod("a"))
    fifo.add(pod("b"))
    fifo.update(pod("a"))  # a second delta for a queued key is not a new item
    assert metrics.queued_items == [1, 2]
    fifo.pop(lambda d, initial: None)
    assert metrics.queued_items[-1] == 1
    fifo.pop(lambda d, initial: None)
    assert metrics.queued_items[-1] == 0


def test_queued_items_includes_replace_and_its_tombstones() -> None:
    known = Indexer(meta_namespace_key_func)
    known.add(pod("gone"))
    metrics = RecordingInformerMetricsProvider()
    fifo = fifo_with(metrics, known_objects=known)
    fifo.replace([pod("a"), pod("b")], "7")
    assert metrics.queued_items[-1] == 3  # a, b and the tombstone for "gone"


# -- processing latency -------------------------------------------------------


def test_processing_latency_is_the_time_process_took_per_pop() -> None:
    clock = FakeClock()
    metrics = RecordingInformerMetricsProvider()
    fifo = fifo_with(metrics, clock)
    fifo.add(pod("a"))
    fifo.update(pod("a"))
    fifo.add(pod("b"))

    def slow(deltas: Deltas, initial: bool) -> None:
        clock.step(0.3 * len(deltas))

    fifo.pop(slow)  # a: two deltas, one pop, one observation
    fifo.pop(slow)
    assert metrics.latencies == pytest.approx([0.6, 0.3])


def test_processing_latency_is_observed_when_process_fails() -> None:
    clock = FakeClock()
    metrics = RecordingInformerMetricsProvider()
    fifo = fifo_with(metrics, clock)
    fifo.add(pod("a"))

    def failing(deltas: Deltas, initial: bool) -> None:
        clock.step(2.0)
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        fifo.pop(failing)
    assert metrics.latencies == [2.0]


# -- store resource version ---------------------------------------------------


def test_store_resource_version_follows_the_last_write() -> None:
    metrics = RecordingInformerMetricsProvider()
    store = Indexer(resource_version_metric=new_store_resource_version_metric(ID, metrics))
    store.add(pod("a", rv="10"))
    store.update(pod("a", rv="12"))
    store.replace([pod("a", rv="12"), pod("b", rv="15")], "20")
    store.delete(pod("b", rv="21"))
    store.delete(DeletedFinalStateUnknown("default/a", pod("a", rv="12")))  # no RV of its own
    assert metrics.resource_versions == [10, 12, 20, 21]


def test_store_resource_version_keeps_the_last_15_digits() -> None:
    assert parse_rv_for_metrics("1234567890123456789") == 567890123456789
    assert parse_rv_for_metrics("") == 0
    assert parse_rv_for_metrics("not-a-number") is None


def test_a_resource_version_that_is_no_number_leaves_the_gauge() -> None:
    metrics = RecordingInformerMetricsProvider()
    store = Indexer(resource_version_metric=new_store_resource_version_metric(ID, metrics))
    store.add(pod("a", rv="5"))
    store.add(pod("b", rv="opaque"))
    assert metrics.resource_versions == [5]


# -- informers ----------------------------------------------------------------


def test_an_unnamed_informer_reports_nothing() -> None:
    metrics = RecordingInformerMetricsProvider()
    SharedIndexInformer(FakeControllerSource(), 0, metrics_provider=metrics)
    SharedIndexInformer(
        FakeControllerSource(),
        0,
        identifier=InformerNameAndResource("", "", "v1", "pods"),
        metrics_provider=metrics,
    )
    assert metrics.identities == []


@pytest.mark.parametrize(
    ("queue", "initial_pops"),
    [
        # RealFIFO applies the initial list as one atomic delta: one pop.
        pytest.param(InformerQueueOptions(), 1, id="RealFIFO"),
        # DeltaFIFO queues one key per listed object: one pop each.
        pytest.param(InformerQueueOptions(in_order=False), 3, id="DeltaFIFO"),
    ],
)
def test_a_named_informer_reports_its_fifo_and_store(
    queue: InformerQueueOptions, initial_pops: int
) -> None:
    source = FakeControllerSource()
    for name in ("a", "b", "c"):
        source.add(pod(name, "ns"))
    metrics = RecordingInformerMetricsProvider()
    informer = SharedIndexInformer(
        source, 0, identifier=ID, metrics_provider=metrics, queue_options=queue
    )
    rec = Recorder()
    informer.add_event_handler(rec)
    with running(informer.run):
        assert metrics.wait_for(lambda m: len(m.latencies) == initial_pops, WAIT)
        assert max(metrics.queued_items) == initial_pops
        assert metrics.queued_items[-1] == 0
        assert metrics.resource_versions[-1] == int(source.resource_version)
        source.modify(pod("a", "ns"))
        assert metrics.wait_for(lambda m: len(m.latencies) == initial_pops + 1, WAIT)
        assert metrics.resource_versions[-1] == int(source.resource_version) == 4
        assert metrics.queued_items[-2:] == [1, 0]
    assert metrics.identities == [ID]


def test_a_bookmark_moves_the_store_resource_version_and_notifies_no_handler() -> None:
    """client-go: the reflector hands a bookmark's resourceVersion to a store
    that takes bookmarks (RealFIFO), which queues it for the indexer, whose
    gauge then says it (threadSafeMap.Bookmark); no handler hears of it."""
    source = FakeControllerSource()
    source.add(pod("a", "ns"))
    metrics = RecordingInformerMetricsProvider()
    informer = SharedIndexInformer(source, 0, identifier=ID, metrics_provider=metrics)
    rec = Recorder()
    informer.add_event_handler(rec)
    with running(informer.run):
        assert metrics.wait_for(lambda m: m.resource_versions[-1:] == [1], WAIT)
        rv = source.bookmark()
        assert metrics.wait_for(lambda m: m.resource_versions[-1:] == [int(rv)], WAIT)
        source.modify(pod("a", "ns"))  # an event after it: handlers saw no other
        rec.wait_for(lambda ev: len(ev) == 2)
    assert [kind for kind, *_ in rec.events] == ["add", "update"]


def test_the_global_provider_is_used_and_settable() -> None:
    metrics = RecordingInformerMetricsProvider()
    set_informer_metrics_provider(metrics)
    assert get_informer_metrics_provider() is metrics
    SharedIndexInformer(FakeControllerSource(), 0, identifier=ID)
    assert metrics.identities == [ID]


def test_the_factory_names_its_informers_by_resource() -> None:
    metrics = RecordingInformerMetricsProvider()
    set_informer_metrics_provider(metrics)

    class Client:
        def resource(self, api_version: str, plural: str, *, namespace: str | None = None) -> Any:
            return FakeControllerSource()

    factory = SharedInformerFactory(Client(), 0, informer_name="kcm")
    factory.informer_for("apps/v1", "deployments")
    SharedInformerFactory(Client(), 0).informer_for("v1", "pods")  # unnamed: no metrics
    assert metrics.identities == [InformerNameAndResource("kcm", "apps", "v1", "deployments")]


# -- Prometheus ---------------------------------------------------------------


def test_prometheus_provider_exports_component_base_families() -> None:
    registry = CollectorRegistry()
    provider = PrometheusInformerMetricsProvider(registry)
    provider.new_queued_item_metric(ID).set(4)
    latency = provider.new_processing_latency_metric(ID)
    latency.observe(0.004)
    latency.observe(0.3)
    provider.new_store_resource_version_metric(ID).set(1234)
    # Same identity, same series (one labelled child, as in component-base).
    provider.new_queued_item_metric(ID).set(2)

    get = registry.get_sample_value
    assert get("informer_queued_items", LABELS) == 2
    assert get("informer_store_resource_version", LABELS) == 1234
    assert get("informer_processing_latency_seconds_count", LABELS) == 2
    assert get("informer_processing_latency_seconds_sum", LABELS) == pytest.approx(0.304)
    bucket = "informer_processing_latency_seconds_bucket"
    assert get(bucket, {**LABELS, "le": "0.001"}) == 0
    assert get(bucket, {**LABELS, "le": "0.005"}) == 1
    assert get(bucket, {**LABELS, "le": "0.25"}) == 1
    assert get(bucket, {**LABELS, "le": "0.5"}) == 2
    assert get(bucket, {**LABELS, "le": "10.0"}) == 2
    assert get(bucket, {**LABELS, "le": "+Inf"}) == 2


def test_two_providers_share_one_registry() -> None:
    registry = CollectorRegistry()
    PrometheusInformerMetricsProvider(registry).new_queued_item_metric(ID).set(1)
    other = InformerNameAndResource("other", "apps", "v1", "deployments")
    PrometheusInformerMetricsProvider(registry).new_queued_item_metric(other).set(5)
    assert registry.get_sample_value("informer_queued_items", LABELS) == 1
    assert (
        registry.get_sample_value(
            "informer_queued_items",
            {"name": "other", "group": "apps", "version": "v1", "resource": "deployments"},
        )
        == 5
    )
