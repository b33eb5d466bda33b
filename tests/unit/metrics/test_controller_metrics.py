"""ControllerMetrics: counts by result, errors, durations, one registry shared
by several controllers, and the leader gauge through ``.leader``."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.metrics import ControllerMetrics, HealthChecks


def value(registry: CollectorRegistry, sample: str, **labels: str) -> float | None:
    return registry.get_sample_value(sample, labels)


def test_reconcile_counts_success_and_error_and_times_both() -> None:
    registry = CollectorRegistry()
    metrics = ControllerMetrics("networks", registry)
    with metrics.reconcile():
        pass
    with pytest.raises(ValueError), metrics.reconcile():
        raise ValueError("backend refused")
    assert value(registry, "kubeloop_reconcile_total", controller="networks", result="success") == 1
    assert value(registry, "kubeloop_reconcile_total", controller="networks", result="error") == 1
    assert value(registry, "kubeloop_reconcile_errors_total", controller="networks") == 1
    count = value(registry, "kubeloop_reconcile_duration_seconds_count", controller="networks")
    assert count == 2


def test_observe_puts_the_duration_in_its_bucket() -> None:
    registry = CollectorRegistry()
    ControllerMetrics("networks", registry).observe(0.2)
    bucket = "kubeloop_reconcile_duration_seconds_bucket"
    assert value(registry, bucket, controller="networks", le="0.1") == 0
    assert value(registry, bucket, controller="networks", le="0.25") == 1
    assert value(registry, "kubeloop_reconcile_duration_seconds_sum", controller="networks") == 0.2


def test_controllers_share_a_registry_told_apart_by_label() -> None:
    registry = CollectorRegistry()
    ControllerMetrics("networks", registry).observe(0.1)
    ControllerMetrics("subnets", registry).observe(0.1, error=True)
    ControllerMetrics("networks", registry).observe(0.1)  # same name: same series
    assert value(registry, "kubeloop_reconcile_total", controller="networks", result="success") == 2
    assert value(registry, "kubeloop_reconcile_errors_total", controller="subnets") == 1


def test_leader_gauge_is_set_through_the_leader_metrics() -> None:
    registry = CollectorRegistry()
    metrics = ControllerMetrics("networks", registry)
    metrics.leader.leader_on("network-controller")
    assert value(registry, "leader_election_master_status", name="network-controller") == 1
    metrics.leader.leader_off("network-controller")
    assert value(registry, "leader_election_master_status", name="network-controller") == 0


@pytest.mark.parametrize("name", ["", "two words"])
def test_health_check_names_must_be_single_words(name: str) -> None:
    with pytest.raises(ValueError, match="check name"):
        HealthChecks("readyz").add(name, lambda: True)
