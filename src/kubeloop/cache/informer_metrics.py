"""Informer metrics, under the names client-go's provider exports, through a pluggable provider.

A *named* informer reports three series labelled ``name, group, version,
resource`` (component-base's ``informer_queued_items``,
``informer_processing_latency_seconds`` and ``informer_store_resource_version``)::

    identifier = InformerNameAndResource("kube-controller-manager", "apps", "v1", "deployments")
    informer = SharedIndexInformer(lw, 0, identifier=identifier)

An informer without a name reports nothing, as in client-go (its
``InformerNameAndResource`` is then not "reserved"): two anonymous informers
for one resource would otherwise write over each other's gauges.

The FIFO and the indexer get their metric objects once, at construction
(client-go binds the labelled children once too), so the hot path pays one
attribute call per update and never looks a label up. :data:`NOOP_INFORMER_METRICS_PROVIDER`
hands out objects whose methods do nothing, so the FIFO needs no ``if``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "NOOP_INFORMER_METRICS_PROVIDER",
    "FIFOMetrics",
    "GaugeMetric",
    "HistogramMetric",
    "InformerMetricsProvider",
    "InformerNameAndResource",
    "NoopInformerMetricsProvider",
    "get_informer_metrics_provider",
    "new_fifo_metrics",
    "new_store_resource_version_metric",
    "parse_rv_for_metrics",
    "set_informer_metrics_provider",
]


@dataclass(frozen=True, slots=True)
class InformerNameAndResource:
    """Who an informer is, for its metrics: a process-chosen name and the resource.

    An empty ``name`` means "not named": no metrics (client-go's
    ``Reserved() == false``).
    """

    name: str
    group: str
    version: str
    resource: str

    @classmethod
    def from_api_version(
        cls, name: str, api_version: str, resource: str
    ) -> InformerNameAndResource:
        """``("n", "apps/v1", "deployments")`` -> group ``apps``, version ``v1``."""
        group, _, version = api_version.rpartition("/")
        return cls(name, group, version, resource)


class GaugeMetric(Protocol):
    """A value set outright (queue length, resourceVersion)."""

    def set(self, value: float) -> None: ...


class HistogramMetric(Protocol):
    """Individual observations, bucketed (processing latency)."""

    def observe(self, amount: float) -> None: ...


class InformerMetricsProvider(Protocol):
    """Makes the metrics of one named informer (client-go's InformerMetricsProvider)."""

    def new_queued_item_metric(self, id: InformerNameAndResource) -> GaugeMetric: ...
    def new_processing_latency_metric(self, id: InformerNameAndResource) -> HistogramMetric: ...
    def new_store_resource_version_metric(self, id: InformerNameAndResource) -> GaugeMetric: ...


class _NoopMetric:
    """Accepts every metric call and records nothing."""

    def set(self, value: float) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_NOOP_METRIC = _NoopMetric()


class NoopInformerMetricsProvider:
    """A provider that records nothing."""

    def new_queued_item_metric(self, id: InformerNameAndResource) -> GaugeMetric:
        return _NOOP_METRIC

    def new_processing_latency_metric(self, id: InformerNameAndResource) -> HistogramMetric:
        return _NOOP_METRIC

    def new_store_resource_version_metric(self, id: InformerNameAndResource) -> GaugeMetric:
        return _NOOP_METRIC


NOOP_INFORMER_METRICS_PROVIDER = NoopInformerMetricsProvider()

# Guards _global_provider, which named informers use when given no provider.
_global_lock = threading.Lock()
_global_provider: InformerMetricsProvider | None = None


def set_informer_metrics_provider(provider: InformerMetricsProvider) -> None:
    """Set the provider for named informers created from now on without one of their own."""
    global _global_provider
    with _global_lock:
        _global_provider = provider


def get_informer_metrics_provider() -> InformerMetricsProvider:
    """The global provider: Prometheus on the default registry unless set otherwise."""
    global _global_provider
    with _global_lock:
        if _global_provider is None:
            # Imported here: prometheus_client is loaded only by a process
            # that names an informer.
            from kubeloop.cache.prometheus_informer_metrics import (
                PrometheusInformerMetricsProvider,
            )

            _global_provider = PrometheusInformerMetricsProvider()
        return _global_provider


@dataclass(frozen=True, slots=True)
class FIFOMetrics:
    """What a FIFO reports: its length on every change, and how long each pop's processing took."""

    queued_items: GaugeMetric
    processing_latency: HistogramMetric


NO_FIFO_METRICS = FIFOMetrics(_NOOP_METRIC, _NOOP_METRIC)


def _provider_for(
    id: InformerNameAndResource | None, provider: InformerMetricsProvider | None
) -> InformerMetricsProvider | None:
    if id is None or not id.name:
        return None
    return provider if provider is not None else get_informer_metrics_provider()


def new_fifo_metrics(
    id: InformerNameAndResource | None, provider: InformerMetricsProvider | None = None
) -> FIFOMetrics:
    """The FIFO's metrics: real only for a named informer."""
    chosen = _provider_for(id, provider)
    if chosen is None or id is None:
        return NO_FIFO_METRICS
    return FIFOMetrics(chosen.new_queued_item_metric(id), chosen.new_processing_latency_metric(id))


def new_store_resource_version_metric(
    id: InformerNameAndResource | None, provider: InformerMetricsProvider | None = None
) -> GaugeMetric | None:
    """The store's resourceVersion gauge, or None for an unnamed informer (the
    indexer then skips reading resourceVersions altogether)."""
    chosen = _provider_for(id, provider)
    if chosen is None or id is None:
        return None
    return chosen.new_store_resource_version_metric(id)


def parse_rv_for_metrics(rv: str) -> int | None:
    """The last 15 digits of ``rv`` as a number, or None if they are not one.

    Fifteen digits stay below 2**53, so the float a gauge holds is exact; an
    empty resourceVersion is 0, as in client-go.
    """
    if len(rv) > 15:
        rv = rv[-15:]
    if not rv:
        return 0
    try:
        return int(rv)
    except ValueError:
        return None
