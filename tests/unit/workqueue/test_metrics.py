"""Queue metrics: client-go's metrics_test.go cases, read back from a private registry."""

from __future__ import annotations

import gc
import weakref

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kubeloop.clock import FakeClock
from kubeloop.workqueue import (
    NOOP_METRICS_PROVIDER,
    DelayingQueue,
    PrometheusMetricsProvider,
    Queue,
    RateLimitingQueue,
    set_provider,
)
from kubeloop.workqueue.metrics import NO_QUEUE_METRICS

LABELS = {"name": "test"}


class Metrics:
    """Reads the workqueue series of one queue from a registry."""

    def __init__(self, registry: CollectorRegistry, name: str = "test") -> None:
        self.registry = registry
        self.labels = {"name": name}

    def value(self, sample: str) -> float | None:
        return self.registry.get_sample_value(sample, self.labels)

    def histogram(self, family: str) -> tuple[float, float]:
        """(count, sum) of a histogram."""
        count = self.value(f"{family}_count")
        total = self.value(f"{family}_sum")
        assert count is not None and total is not None
        return count, total

    def assert_histogram(self, family: str, count: int, total: float) -> None:
        actual_count, actual_total = self.histogram(family)
        assert actual_count == count
        assert actual_total == pytest.approx(total)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_metrics(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    q: Queue[str] = Queue("test", metrics_provider=PrometheusMetricsProvider(registry), clock=clock)
    m = Metrics(registry)

    q.add("foo")
    assert m.value("workqueue_adds_total") == 1
    assert m.value("workqueue_depth") == 1

    clock.step(50e-6)
    assert q.get() == ("foo", False)
    m.assert_histogram("workqueue_queue_duration_seconds", 1, 5e-5)
    # 50 us falls in the 100 us bucket, not the 10 us one.
    assert (
        registry.get_sample_value(
            "workqueue_queue_duration_seconds_bucket", {"name": "test", "le": "1e-05"}
        )
        == 0
    )
    assert (
        registry.get_sample_value(
            "workqueue_queue_duration_seconds_bucket", {"name": "test", "le": "0.0001"}
        )
        == 1
    )

    # Add it back while processing; multiple adds of the same item are de-duped.
    for _ in range(5):
        q.add("foo")
    assert m.value("workqueue_adds_total") == 2
    assert m.value("workqueue_depth") == 1  # one thing remains in the queue

    clock.step(25e-6)
    q.done("foo")
    m.assert_histogram("workqueue_work_duration_seconds", 1, 2.5e-5)
    assert m.value("workqueue_depth") == 1

    assert q.get() == ("foo", False)  # it is back on the queue
    m.assert_histogram("workqueue_queue_duration_seconds", 2, 5e-5 + 2.5e-5)

    # Unfinished work is computed at scrape time from the items in flight.
    clock.step(1e-3)
    assert m.value("workqueue_unfinished_work_seconds") == pytest.approx(1e-3)
    assert m.value("workqueue_longest_running_processor_seconds") == pytest.approx(1e-3)

    q.done("foo")
    m.assert_histogram("workqueue_work_duration_seconds", 2, 2.5e-5 + 1e-3)
    assert m.value("workqueue_unfinished_work_seconds") == 0
    assert m.value("workqueue_longest_running_processor_seconds") == 0
    assert m.value("workqueue_depth") == 0


def test_unfinished_work_sums_items_in_flight(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    q: Queue[str] = Queue("test", metrics_provider=PrometheusMetricsProvider(registry), clock=clock)
    m = Metrics(registry)
    q.add("a")
    q.add("b")
    q.get()
    clock.step(2)
    q.get()
    clock.step(1)
    assert m.value("workqueue_unfinished_work_seconds") == pytest.approx(3 + 1)
    assert m.value("workqueue_longest_running_processor_seconds") == pytest.approx(3)


def test_retries_total(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(
        name="test", metrics_provider=PrometheusMetricsProvider(registry), clock=clock
    )
    m = Metrics(registry)
    q.add_after("a", 0)
    q.add_after("b", 5)
    q.add_rate_limited("c")
    assert m.value("workqueue_retries_total") == 3
    q.shut_down()


def test_every_client_go_series_is_exported(registry: CollectorRegistry) -> None:
    q: DelayingQueue[str] = DelayingQueue(
        "test", metrics_provider=PrometheusMetricsProvider(registry), clock=FakeClock()
    )
    names = {metric.name for metric in registry.collect()}
    assert names == {
        "workqueue_depth",
        "workqueue_adds",  # exposed as workqueue_adds_total
        "workqueue_queue_duration_seconds",
        "workqueue_work_duration_seconds",
        "workqueue_unfinished_work_seconds",
        "workqueue_longest_running_processor_seconds",
        "workqueue_retries",  # exposed as workqueue_retries_total
    }
    q.shut_down()


def test_queues_are_told_apart_by_name(registry: CollectorRegistry) -> None:
    provider = PrometheusMetricsProvider(registry)
    a: Queue[str] = Queue("a", metrics_provider=provider)
    b: Queue[str] = Queue("b", metrics_provider=PrometheusMetricsProvider(registry))
    a.add("x")
    b.add("x")
    b.add("y")
    assert Metrics(registry, "a").value("workqueue_adds_total") == 1
    assert Metrics(registry, "b").value("workqueue_adds_total") == 2


class ExplodingProvider:
    """A provider that fails the test if a queue asks it for anything."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"unnamed queue asked its provider for {name}")


def test_unnamed_queue_records_nothing() -> None:
    q: DelayingQueue[str] = DelayingQueue(metrics_provider=ExplodingProvider())  # type: ignore[arg-type]
    assert q._metrics is NO_QUEUE_METRICS
    q.add("a")
    q.add_after("b", 0)
    q.get()
    q.done("a")
    q.shut_down()


def test_noop_provider_skips_metrics_for_a_named_queue() -> None:
    q: Queue[str] = Queue("test", metrics_provider=NOOP_METRICS_PROVIDER)
    assert q._metrics is NO_QUEUE_METRICS


def test_set_provider_applies_to_queues_created_after(registry: CollectorRegistry) -> None:
    # tests/conftest.py puts the global provider back afterwards.
    set_provider(PrometheusMetricsProvider(registry))
    q: Queue[str] = Queue("test")
    q.add("a")
    assert Metrics(registry).value("workqueue_adds_total") == 1


def test_queues_with_the_same_name_share_series(registry: CollectorRegistry) -> None:
    provider = PrometheusMetricsProvider(registry)
    a: Queue[str] = Queue("test", metrics_provider=provider)
    b: Queue[str] = Queue("test", metrics_provider=provider)
    a.add("x")
    b.add("x")
    assert Metrics(registry).value("workqueue_adds_total") == 2
    assert Metrics(registry).value("workqueue_depth") == 2


def test_a_collected_queue_leaves_its_counts_in_the_shared_series(
    registry: CollectorRegistry,
) -> None:
    provider = PrometheusMetricsProvider(registry)
    a: Queue[str] = Queue("test", metrics_provider=provider)
    a.add("x")
    a.add("y")
    a.get()
    # b takes over the scrape-time gauges, the last reference to a's metrics.
    b: Queue[str] = Queue("test", metrics_provider=provider)
    b.add("z")
    a_metrics = weakref.ref(a._metrics)
    del a
    gc.collect()
    assert a_metrics() is None
    m = Metrics(registry)
    assert m.value("workqueue_adds_total") == 3  # a counter never goes down
    assert m.value("workqueue_depth") == 2  # "y" in the dead queue, "z" in b
    assert m.histogram("workqueue_queue_duration_seconds")[0] == 1
    b.get()
    assert m.histogram("workqueue_queue_duration_seconds")[0] == 2


def test_text_exposition_uses_client_go_names(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    q: Queue[str] = Queue("test", metrics_provider=PrometheusMetricsProvider(registry), clock=clock)
    q.add("x")
    clock.step(1e-5)  # exactly on a bucket bound: counted in that bucket ("le")
    q.get()
    text = generate_latest(registry).decode()
    assert 'workqueue_adds_total{name="test"} 1.0' in text
    assert 'workqueue_depth{name="test"} 0.0' in text
    assert 'workqueue_queue_duration_seconds_bucket{le="1e-06",name="test"} 0.0' in text
    assert 'workqueue_queue_duration_seconds_bucket{le="1e-05",name="test"} 1.0' in text
    assert 'workqueue_queue_duration_seconds_bucket{le="+Inf",name="test"} 1.0' in text
    assert 'workqueue_queue_duration_seconds_count{name="test"} 1.0' in text
    assert "# TYPE workqueue_retries_total counter" in text


def test_registries_are_independent() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    q: Queue[str] = Queue("test", metrics_provider=PrometheusMetricsProvider(first))
    Queue("test", metrics_provider=PrometheusMetricsProvider(second))
    q.add("x")
    assert Metrics(first).value("workqueue_adds_total") == 1
    assert Metrics(second).value("workqueue_adds_total") == 0
