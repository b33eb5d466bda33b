"""Informer metrics exported through ``prometheus_client``, cheap enough for the hot path.

::

    registry = CollectorRegistry()
    informer = SharedIndexInformer(lw, 0, identifier=identifier,
                                   metrics_provider=PrometheusInformerMetricsProvider(registry))

As in :mod:`kubeloop.workqueue.prometheus_metrics`, each series is a plain
number behind its own lock (the FIFO sets its gauge on every change) and one
collector per registry turns them into component-base's families when the
registry is scraped. Informers with the same name and resource share one set
of series, as they would share one labelled child in component-base.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric

from kubeloop._prometheus import BucketHistogram, SeriesCollector, registered

__all__ = ["PrometheusInformerMetricsProvider"]


class InformerNameAndResource(Protocol):
    """What this module reads of :class:`kubeloop.cache.InformerNameAndResource`
    (named structurally: that module imports this one)."""

    @property
    def name(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def resource(self) -> str: ...


_LABELS = ["name", "group", "version", "resource"]
# component-base's informer_processing_latency_seconds buckets.
_BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Gauge:
    """A gauge series: ``set`` only."""

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        # One attribute store: atomic under the GIL, no lock needed.
        self.value = value


class _Histogram(BucketHistogram):
    """A histogram series over component-base's processing-latency buckets."""

    def __init__(self) -> None:
        super().__init__(_BOUNDS)


class _Series:
    """Every series of one informer identity."""

    def __init__(self) -> None:
        self.queued_items = _Gauge()
        self.processing_latency = _Histogram()
        self.store_resource_version = _Gauge()


_Key = tuple[str, str, str, str]


class _InformerCollector(SeriesCollector[_Key, _Series]):
    """Turns every identity's series into component-base's three families on scrape."""

    def __init__(self) -> None:
        super().__init__(_Series)

    def series_of(self, id: InformerNameAndResource) -> _Series:
        return self.series((id.name, id.group, id.version, id.resource))

    def describe(self) -> Iterable[Metric]:
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        queued, latency, rv = _families()
        for key, s in self.named():
            labels = list(key)
            queued.add_metric(labels, s.queued_items.value)
            latency.add_metric(labels, *s.processing_latency.snapshot())
            rv.add_metric(labels, s.store_resource_version.value)
        return [queued, latency, rv]


def _families() -> tuple[GaugeMetricFamily, HistogramMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "informer_queued_items", "Number of items currently queued in the FIFO.", labels=_LABELS
        ),
        HistogramMetricFamily(
            "informer_processing_latency_seconds",
            "Time taken to process events after popping from the queue.",
            labels=_LABELS,
        ),
        GaugeMetricFamily(
            "informer_store_resource_version",
            "The 15 least significant digits of the resource version of the store.",
            labels=_LABELS,
        ),
    )


_collector_for = registered(_InformerCollector)


class PrometheusInformerMetricsProvider:
    """Exports informer metrics into ``registry`` (the default one unless given).

    The collector is registered on first use, so importing kubeloop adds
    nothing to the registry.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._registry = registry

    def new_queued_item_metric(self, id: InformerNameAndResource) -> _Gauge:
        return _collector_for(self._registry).series_of(id).queued_items

    def new_processing_latency_metric(self, id: InformerNameAndResource) -> _Histogram:
        return _collector_for(self._registry).series_of(id).processing_latency

    def new_store_resource_version_metric(self, id: InformerNameAndResource) -> _Gauge:
        return _collector_for(self._registry).series_of(id).store_resource_version
