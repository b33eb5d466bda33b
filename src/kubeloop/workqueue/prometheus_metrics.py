"""Queue metrics exported through ``prometheus_client``, cheap enough for the hot path.

::

    registry = CollectorRegistry()
    q = Queue("networks", metrics_provider=PrometheusMetricsProvider(registry))

Why not ``prometheus_client.Counter`` and friends: each of their updates goes
through several Python-level checks and a lock, and a queue item makes five
updates, which made a named queue four times slower than an unnamed one.

Why no lock per series either: a queue calls its hooks under its own lock
already, and a second lock per update cost a quarter of the time per item
and lengthened the queue's critical section (more preemptions inside it, more
contention). So each queue gets a *cell* of its own for every series, plain
numbers guarded by that queue's lock; queues with the same name share a
series, as they share one labelled child in client-go, by having their cells
summed when the registry is scraped. The cell of a queue that is garbage
collected is folded into the series' total, so counters never go down. A
scrape concurrent with updates may see a histogram's count and sum one
observation apart.

``workqueue_retries_total`` is counted outside the queue's lock (by
``add_after``), so it keeps a lock of its own.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from kubeloop._prometheus import SeriesCollector, registered

__all__ = ["PrometheusMetricsProvider"]

# client-go's ExponentialBuckets(10e-9, 10, 10): 10 ns up to 10 s.
_BOUNDS = (1e-08, 1e-07, 1e-06, 1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)
# prometheus_client's formatting of the bounds (repr, as Go would print them).
_BUCKET_LABELS = (*(repr(b) for b in _BOUNDS), "+Inf")


class _Summed:
    """One series of a queue name: the sum of one cell per queue.

    A cell is a list of numbers that only its queue writes, under that
    queue's lock; :meth:`values` adds them up at scrape time.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        # Guards _cells and _retired. Re-entrant because a cell is retired by
        # a finalizer, which may run in a thread already scraping.
        self._lock = threading.RLock()
        self._cells: dict[int, list[float]] = {}
        self._retired = [0.0] * size

    def new_cell(self, owner: object) -> list[float]:
        """A zeroed cell, folded into the retired total once ``owner`` is collected."""
        cell = [0.0] * self._size
        with self._lock:
            self._cells[id(cell)] = cell
        weakref.finalize(owner, self._retire, cell)
        return cell

    def _retire(self, cell: list[float]) -> None:
        with self._lock:
            del self._cells[id(cell)]
            for i, v in enumerate(cell):
                self._retired[i] += v

    def values(self) -> list[float]:
        # The retired total is copied before the live cells, so a cell retired
        # meanwhile is counted once (as live) in this scrape.
        with self._lock:
            total = list(self._retired)
            cells = list(self._cells.values())
        for cell in cells:
            for i, v in enumerate(cell):
                total[i] += v
        return total


class _Counter:
    """One queue's cell of a counter series: ``inc`` only (under the queue's lock)."""

    __slots__ = ("__weakref__", "_cell")

    def __init__(self, series: _Summed) -> None:
        self._cell = series.new_cell(self)

    def inc(self) -> None:
        self._cell[0] += 1


class _Gauge(_Counter):
    """One queue's cell of a gauge series: a counter that can also go down."""

    __slots__ = ()

    def dec(self) -> None:
        self._cell[0] -= 1


class _Histogram:
    """One queue's cell of a histogram series: ``[sum, count per bucket...]``."""

    __slots__ = ("__weakref__", "_cell")

    def __init__(self, series: _Summed) -> None:
        self._cell = series.new_cell(self)

    def observe(self, amount: float) -> None:
        cell = self._cell
        # A bucket's bound is inclusive ("le"); cell[0] is the sum.
        cell[bisect_left(_BOUNDS, amount) + 1] += 1
        cell[0] += amount


def _histogram_samples(values: list[float]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative ``(le, count)`` buckets and the sum, as HistogramMetricFamily takes them."""
    cumulative, buckets = 0.0, []
    for label, count in zip(_BUCKET_LABELS, values[1:], strict=True):
        cumulative += count
        buckets.append((label, cumulative))
    return buckets, values[0]


class _RetriesCounter:
    """The retries series, shared by same-named queues and counted outside their locks."""

    def __init__(self) -> None:
        # Guards value.
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self) -> None:
        with self._lock:
            self.value += 1


class _FunctionGauge:
    """A gauge series read from a callback at scrape time (the last queue to set it wins)."""

    def __init__(self) -> None:
        self._f: Callable[[], float] = lambda: 0.0

    def set_function(self, f: Callable[[], float]) -> None:
        self._f = f

    @property
    def value(self) -> float:
        return self._f()


class _Series:
    """Every series of one queue name."""

    def __init__(self) -> None:
        self.depth = _Summed(1)
        self.adds = _Summed(1)
        self.latency = _Summed(len(_BOUNDS) + 2)
        self.work_duration = _Summed(len(_BOUNDS) + 2)
        self.unfinished = _FunctionGauge()
        self.longest = _FunctionGauge()
        self.retries = _RetriesCounter()


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


class _WorkqueueCollector(SeriesCollector[str, _Series]):
    """Turns every queue name's series into client-go's seven families on scrape."""

    def __init__(self) -> None:
        super().__init__(_Series)

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check for name clashes without a collect().
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        f = _Families()
        for name, s in self.named():
            labels = [name]
            f.depth.add_metric(labels, s.depth.values()[0])
            f.adds.add_metric(labels, s.adds.values()[0])
            f.latency.add_metric(labels, *_histogram_samples(s.latency.values()))
            f.work_duration.add_metric(labels, *_histogram_samples(s.work_duration.values()))
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


_collector_for = registered(_WorkqueueCollector)


class PrometheusMetricsProvider:
    """Exports queue metrics into ``registry`` (the default one unless given).

    The collector is registered on first use, so merely importing kubeloop
    adds nothing to the registry. Any number of providers may share a registry.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._registry = registry

    def _series(self, name: str) -> _Series:
        return _collector_for(self._registry).series(name)

    # The queue's metrics: a new cell of the name's series for every call,
    # which is once per queue.

    def new_depth_metric(self, name: str) -> _Gauge:
        return _Gauge(self._series(name).depth)

    def new_adds_metric(self, name: str) -> _Counter:
        return _Counter(self._series(name).adds)

    def new_latency_metric(self, name: str) -> _Histogram:
        return _Histogram(self._series(name).latency)

    def new_work_duration_metric(self, name: str) -> _Histogram:
        return _Histogram(self._series(name).work_duration)

    def new_unfinished_work_seconds_metric(self, name: str) -> _FunctionGauge:
        return self._series(name).unfinished

    def new_longest_running_processor_seconds_metric(self, name: str) -> _FunctionGauge:
        return self._series(name).longest

    def new_retries_metric(self, name: str) -> _RetriesCounter:
        return self._series(name).retries
