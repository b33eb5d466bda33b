"""Workqueue metrics, under the names client-go exports, through a pluggable provider.

Dashboards and alerts written for client-go controllers (``workqueue_depth``,
``workqueue_adds_total``, ...) work unchanged on a kubeloop controller, because
a named queue reports the same series, labelled by ``name``::

    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    q = Queue("networks", metrics_provider=PrometheusMetricsProvider(registry))

An unnamed queue gets :data:`NO_QUEUE_METRICS`, whose hooks do nothing, so the
hot path pays one empty method call and no ``if`` in the queue code. The
provider is an interface (:class:`MetricsProvider`) rather than a hard-wired
``prometheus_client`` dependency so that tests, or another metrics system, can
plug in their own; :class:`PrometheusMetricsProvider` (in
:mod:`kubeloop.workqueue.prometheus_metrics`) is the default.

Unlike client-go, ``unfinished_work_seconds`` and
``longest_running_processor_seconds`` are computed when the registry is
scraped, not by a ticker thread every 500 ms: no thread per queue, and the
value is never up to half a second stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from kubeloop.clock import Clock

__all__ = [
    "NOOP_METRICS_PROVIDER",
    "NO_QUEUE_METRICS",
    "CounterMetric",
    "FunctionGaugeMetric",
    "GaugeMetric",
    "HistogramMetric",
    "MetricsProvider",
    "NoopMetricsProvider",
    "QueueMetrics",
    "get_provider",
    "new_queue_metrics",
    "new_retries_metric",
    "set_provider",
]

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class GaugeMetric(Protocol):
    """A value that goes up and down (queue depth)."""

    def inc(self) -> None: ...
    def dec(self) -> None: ...


class FunctionGaugeMetric(Protocol):
    """A gauge whose value is read from a callback at scrape time."""

    def set_function(self, f: Callable[[], float]) -> None: ...


class CounterMetric(Protocol):
    """A value that only goes up (adds, retries)."""

    def inc(self) -> None: ...


class HistogramMetric(Protocol):
    """Individual observations, bucketed (queue and work durations)."""

    def observe(self, amount: float) -> None: ...


class MetricsProvider(Protocol):
    """Makes the metrics of one named queue; ``name`` is the ``name`` label value.

    Each queue asks once for each metric and calls depth, adds, latency and
    work duration only under its own lock, so a provider may hand every
    queue objects of its own that need no lock (the Prometheus provider
    does, and sums same-named queues when scraped). Retries are counted
    outside the queue's lock.
    """

    def new_depth_metric(self, name: str) -> GaugeMetric: ...
    def new_adds_metric(self, name: str) -> CounterMetric: ...
    def new_latency_metric(self, name: str) -> HistogramMetric: ...
    def new_work_duration_metric(self, name: str) -> HistogramMetric: ...
    def new_unfinished_work_seconds_metric(self, name: str) -> FunctionGaugeMetric: ...
    def new_longest_running_processor_seconds_metric(self, name: str) -> FunctionGaugeMetric: ...
    def new_retries_metric(self, name: str) -> CounterMetric: ...


class _NoopMetric:
    """Accepts every metric call and records nothing."""

    def inc(self) -> None:
        pass

    def dec(self) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass

    def set_function(self, f: Callable[[], float]) -> None:
        pass


_NOOP_METRIC = _NoopMetric()


class NoopMetricsProvider:
    """A provider that records nothing; queues built with it skip metrics entirely."""

    def new_depth_metric(self, name: str) -> GaugeMetric:
        return _NOOP_METRIC

    def new_adds_metric(self, name: str) -> CounterMetric:
        return _NOOP_METRIC

    def new_latency_metric(self, name: str) -> HistogramMetric:
        return _NOOP_METRIC

    def new_work_duration_metric(self, name: str) -> HistogramMetric:
        return _NOOP_METRIC

    def new_unfinished_work_seconds_metric(self, name: str) -> FunctionGaugeMetric:
        return _NOOP_METRIC

    def new_longest_running_processor_seconds_metric(self, name: str) -> FunctionGaugeMetric:
        return _NOOP_METRIC

    def new_retries_metric(self, name: str) -> CounterMetric:
        return _NOOP_METRIC


NOOP_METRICS_PROVIDER = NoopMetricsProvider()

# Guards _global_provider, which named queues use when given no provider.
_global_lock = threading.Lock()
_global_provider: MetricsProvider | None = None


def set_provider(provider: MetricsProvider) -> None:
    """Set the provider for named queues created from now on without one of their own."""
    global _global_provider
    with _global_lock:
        _global_provider = provider


def get_provider() -> MetricsProvider:
    """The global provider: Prometheus on the default registry unless :func:`set_provider` ran."""
    global _global_provider
    with _global_lock:
        if _global_provider is None:
            # Imported here: prometheus_client is loaded only by a process
            # that names a queue.
            from kubeloop.workqueue.prometheus_metrics import PrometheusMetricsProvider

            _global_provider = PrometheusMetricsProvider()
        return _global_provider


class QueueMetrics(Protocol[T_contra]):
    """The hooks a queue calls, always with the queue's lock held."""

    def add(self, item: T_contra) -> None: ...
    def get(self, item: T_contra) -> None: ...
    def done(self, item: T_contra) -> None: ...


class _NoQueueMetrics:
    """Hooks for an unnamed queue: nothing to record, nothing to pay."""

    def add(self, item: object) -> None:
        pass

    def get(self, item: object) -> None:
        pass

    def done(self, item: object) -> None:
        pass


NO_QUEUE_METRICS = _NoQueueMetrics()


class _DefaultQueueMetrics(Generic[T]):
    """Records client-go's queue metrics; every hook runs under the queue's lock.

    The metric objects' methods are bound once here: five updates per item
    are a large part of a named queue's cost.
    """

    def __init__(
        self, provider: MetricsProvider, name: str, clock: Clock, queue_lock: threading.Lock
    ) -> None:
        self._now = clock.now
        # The queue's own lock: it guards _add_times and _processing_start_times
        # (hooks already hold it; the scrape-time callbacks take it).
        self._queue_lock = queue_lock
        depth = provider.new_depth_metric(name)
        self._depth_inc = depth.inc
        self._depth_dec = depth.dec
        self._adds_inc = provider.new_adds_metric(name).inc
        self._latency_observe = provider.new_latency_metric(name).observe
        self._work_duration_observe = provider.new_work_duration_metric(name).observe
        self._add_times: dict[T, float] = {}
        self._processing_start_times: dict[T, float] = {}
        provider.new_unfinished_work_seconds_metric(name).set_function(self._unfinished_work)
        provider.new_longest_running_processor_seconds_metric(name).set_function(
            self._longest_running_processor
        )

    def add(self, item: T) -> None:
        self._adds_inc()
        self._depth_inc()
        if item not in self._add_times:
            self._add_times[item] = self._now()

    def get(self, item: T) -> None:
        now = self._now()
        self._depth_dec()
        self._processing_start_times[item] = now
        start = self._add_times.pop(item, None)
        if start is not None:
            self._latency_observe(now - start)

    def done(self, item: T) -> None:
        start = self._processing_start_times.pop(item, None)
        if start is not None:
            self._work_duration_observe(self._now() - start)

    def _unfinished_work(self) -> float:
        now = self._now()
        with self._queue_lock:
            return sum(now - t for t in self._processing_start_times.values())

    def _longest_running_processor(self) -> float:
        now = self._now()
        with self._queue_lock:
            return max((now - t for t in self._processing_start_times.values()), default=0.0)


def new_queue_metrics(
    provider: MetricsProvider | None, name: str | None, clock: Clock, queue_lock: threading.Lock
) -> QueueMetrics[T]:
    """The hooks for a queue: real metrics only when it is named and the provider records."""
    if provider is None:
        provider = get_provider()
    if not name or isinstance(provider, NoopMetricsProvider):
        return NO_QUEUE_METRICS
    return _DefaultQueueMetrics(provider, name, clock, queue_lock)


def new_retries_metric(provider: MetricsProvider | None, name: str | None) -> CounterMetric:
    """The retries counter of a delaying queue; a no-op for an unnamed queue."""
    if not name:
        return _NOOP_METRIC
    if provider is None:
        provider = get_provider()
    return provider.new_retries_metric(name)
