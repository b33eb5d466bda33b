"""A named informer against the real API server reports client-go's informer
metrics into a registry: the store's resourceVersion follows the server's
writes, the FIFO drains to zero, and one latency is observed per pop."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubeloop.cache import (
    PrometheusInformerMetricsProvider,
    SharedInformerFactory,
    set_informer_metrics_provider,
)
from kubeloop.cache.testing import RecordingInformerMetricsProvider
from kubeloop.client import Client
from tests.integration.cache.helpers import WAIT, pod_template, running

LABELS = {"name": "itest", "group": "", "version": "v1", "resource": "podtemplates"}


def test_a_named_informer_reports_its_metrics_into_the_registry(
    client: Client, namespace: str
) -> None:
    registry = CollectorRegistry()
    metrics = RecordingInformerMetricsProvider(PrometheusInformerMetricsProvider(registry))
    set_informer_metrics_provider(metrics)
    # Pod templates: nothing in the control plane writes them, so every
    # change the informer sees is one of this test's.
    res = client.resource("v1", "podtemplates", namespace=namespace)
    res.create(pod_template("before"))

    factory = SharedInformerFactory(client, 0, namespace=namespace, informer_name="itest")
    factory.informer_for("v1", "podtemplates")

    def scrape(name: str) -> float | None:
        return registry.get_sample_value(name, LABELS)

    with running(factory):
        assert metrics.wait_for(lambda m: len(m.latencies) == 1, WAIT)  # "before"
        assert scrape("informer_queued_items") == 0
        assert scrape("informer_processing_latency_seconds_count") == 1

        created = res.create(pod_template("after"))
        rv = int(created["metadata"]["resourceVersion"])
        assert metrics.wait_for(lambda m: len(m.latencies) == 2, WAIT)
        assert scrape("informer_store_resource_version") == rv
        assert scrape("informer_queued_items") == 0

        created["metadata"]["labels"] = {"changed": "yes"}
        updated = res.update(created)
        rv = int(updated["metadata"]["resourceVersion"])
        assert metrics.wait_for(lambda m: len(m.latencies) == 3, WAIT)
        assert scrape("informer_store_resource_version") == rv
        assert scrape("informer_processing_latency_seconds_count") == 3
        assert scrape("informer_queued_items") == 0
