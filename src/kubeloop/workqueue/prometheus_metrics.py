"""Queue metrics exported through ``prometheus_client``, cheap enough for the hot path.

::

    registry = CollectorRegistry()
    q = Queue("networks", metrics_provider=PrometheusMetricsProvider(registry))

Why not ``prometheus_client.Counter`` and friends: each of their updates goes
through several Python-level checks and a lock, and a queue item makes five
updates, which made a named queue four times slower than an unnamed one. Here
each series is a plain number behind its own lock, and one collector per
registry turns them into client-go's families (``workqueue_depth``,
``workqueue_adds_total``, ...) when the registry is scraped.

Queues with the same name share one set of series, as they share one labelled
child in client-go.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from kubeloop._prometheus import BucketHistogram, PerRegistry

__all__ = ["PrometheusMetricsProvider"]

# client-go's ExponentialBuckets(10e-9, 10, 10): 10 ns up to 10 s.
_BOUNDS = (1e-08, 1e-07, 1e-06, 1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)


class _Counter:
    """A counter series: ``inc`` only."""

    def __init__(self) -> None:
        # Guards value (same-named queues share this series across their own locks).
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self) -> None:
        with self._lock:
            self.value += 1


class _Gauge(_Counter):
    """A gauge series: a counter that can also go down."""

    def dec(self) -> None:
        with self._lock:
            self.value -= 1


class _FunctionGauge:
    """A gauge series read from a callback at scrape time (the last queue to set it wins)."""

    def __init__(self) -> None:
        self._f: Callable[[], float] = lambda: 0.0

    def set_function(self, f: Callable[[], float]) -> None:
        self._f = f

    @property
    def value(self) -> float:
        return self._f()


class _Histogram(BucketHistogram):
    """A histogram series over client-go's duration buckets."""

    def __init__(self) -> None:
        super().__init__(_BOUNDS)


class _Series:
    """Every series of one queue name."""

    def __init__(self) -> None:
        self.depth = _Gauge()
        self.adds = _Counter()
        self.latency = _Histogram()
        self.work_duration = _Histogram()
        self.unfinished = _FunctionGauge()
        self.longest = _FunctionGauge()
        self.retries = _Counter()


_HELP = {
    "depth": "Current depth of workqueue",
    "adds": "Total number of adds handled by workqueue",
    "latency": "How long in seconds an item stays in workqueue before being requested.",
    "work_duration": "How long in seconds processing an item from workqueue takes.",
    "unfinished": "How many seconds of work has done that is in progress and hasn't been "
    "observed by work_duration. Large values indicate stuck threads. One can deduce the "
    "number of stuck threads by observing the rate at which this increases.",
    "longest": "How many seconds has the longest running processor for workqueue been running.",
    "retries": "Total number of retries handled by workqueue",
}


class _WorkqueueCollector(Collector):
    """Turns every queue name's series into client-go's seven families on scrape."""

    def __init__(self) -> None:
        # Guards _series (names are added while a scrape may be iterating).
        self._lock = threading.Lock()
        self._series: dict[str, _Series] = {}

    def series(self, name: str) -> _Series:
        with self._lock:
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = _Series()
            return series

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check for name clashes without a collect().
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        f = _Families()
        with self._lock:
            named = sorted(self._series.items())
        for name, s in named:
            labels = [name]
            f.depth.add_metric(labels, s.depth.value)
            f.adds.add_metric(labels, s.adds.value)
            f.latency.add_metric(labels, *s.latency.snapshot())
            f.work_duration.add_metric(labels, *s.work_duration.snapshot())
            f.unfinished.add_metric(labels, s.unfinished.value)
            f.longest.add_metric(labels, s.longest.value)
            f.retries.add_metric(labels, s.retries.value)
        return f.all()


class _Families:
    """client-go's seven families, empty, to be filled by one scrape."""

    def __init__(self) -> None:
        self.depth = GaugeMetricFamily("workqueue_depth", _HELP["depth"], labels=["name"])
        self.adds = CounterMetricFamily("workqueue_adds_total", _HELP["adds"], labels=["name"])
        self.latency = HistogramMetricFamily(
            "workqueue_queue_duration_seconds", _HELP["latency"], labels=["name"]
        )
        self.work_duration = HistogramMetricFamily(
            "workqueue_work_duration_seconds", _HELP["work_duration"], labels=["name"]
        )
        self.unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds", _HELP["unfinished"], labels=["name"]
        )
        self.longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds", _HELP["longest"], labels=["name"]
        )
        self.retries = CounterMetricFamily(
            "workqueue_retries_total", _HELP["retries"], labels=["name"]
        )

    def all(self) -> list[Metric]:
        return [
            self.depth,
            self.adds,
            self.latency,
            self.work_duration,
            self.unfinished,
            self.longest,
            self.retries,
        ]


def _register(registry: CollectorRegistry) -> _WorkqueueCollector:
    collector = _WorkqueueCollector()
    registry.register(collector)
    return collector


# A registry refuses the same family twice, so every provider for one
# registry shares one collector.
_collector_for = PerRegistry(_register)


class PrometheusMetricsProvider:
    """Exports queue metrics into ``registry`` (the default one unless given).

    The collector is registered on first use, so merely importing kubeloop
    adds nothing to the registry. Any number of providers may share a registry.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._registry = registry

    def _series(self, name: str) -> _Series:
        return _collector_for(self._registry).series(name)

    def new_depth_metric(self, name: str) -> _Gauge:
        return self._series(name).depth

    def new_adds_metric(self, name: str) -> _Counter:
        return self._series(name).adds

    def new_latency_metric(self, name: str) -> _Histogram:
        return self._series(name).latency

    def new_work_duration_metric(self, name: str) -> _Histogram:
        return self._series(name).work_duration

    def new_unfinished_work_seconds_metric(self, name: str) -> _FunctionGauge:
        return self._series(name).unfinished

    def new_longest_running_processor_seconds_metric(self, name: str) -> _FunctionGauge:
        return self._series(name).longest

    def new_retries_metric(self, name: str) -> _Counter:
        return self._series(name).retries
