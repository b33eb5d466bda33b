"""Each event filter on testenv.

How "this change did not reconcile" is observed without a sleep: after the
change that must be filtered, a sentinel object is created (a create passes
every filter used here). One handler receives its informer's events in
order and the controller has one worker, so had the filtered change
enqueued its key, that key would be reconciled before the sentinel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.runtime import (
    FilterLike,
    Manager,
    annotations_changed,
    generation_changed,
    labels_changed,
)
from tests.integration.support import network

from .conftest import Reconciles, configmap, running


def count(reconciles: Reconciles, key: str) -> int:
    return len(reconciles.of(key))


def filtered_then_passed(
    reconciles: Reconciles,
    key: str,
    create_sentinel: Callable[[], Any],
    sentinel_key: str,
    filtered_change: Callable[[], Any],
    passing_change: Callable[[], Any],
) -> None:
    reconciles.wait_for(lambda s: any(x.key == key for x in s))
    filtered_change()
    create_sentinel()
    reconciles.wait_for(lambda s: any(x.key == sentinel_key for x in s))
    assert count(reconciles, key) == 1, "the filtered change was reconciled"
    passing_change()
    reconciles.wait_for(lambda s: len([x for x in s if x.key == key]) == 2)


@pytest.mark.parametrize(
    ("event_filter", "filtered", "passing"),
    [
        (
            generation_changed,
            {"metadata": {"labels": {"l": "1"}}},
            {"spec": {"gateway": "10.0.0.2"}},
        ),
        (
            labels_changed,
            {"metadata": {"annotations": {"a": "1"}}},
            {"metadata": {"labels": {"l": "1"}}},
        ),
        (
            annotations_changed,
            {"metadata": {"labels": {"l": "1"}}},
            {"metadata": {"annotations": {"a": "1"}}},
        ),
    ],
    ids=["generation_changed", "labels_changed", "annotations_changed"],
)
def test_a_built_in_filter_drops_what_it_should_and_passes_the_rest(
    client: Client,
    namespace: str,
    network_crd: str,
    make_manager: Callable[..., Manager],
    event_filter: FilterLike,
    filtered: dict[str, Any],
    passing: dict[str, Any],
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace, namespaced=True)
    reconciles = Reconciles()
    manager = make_manager()
    manager.controller((network_crd, "Network"), reconciles.record, filters=[event_filter])
    with running(manager):
        nets.create(network("a"))
        filtered_then_passed(
            reconciles,
            f"{namespace}/a",
            lambda: nets.create(network("sentinel")),
            f"{namespace}/sentinel",
            lambda: nets.patch("a", filtered),
            lambda: nets.patch("a", passing),
        )


def test_any_function_of_old_and_new_filters_updates(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciles = Reconciles()
    manager = make_manager()

    def watched_changed(old: Any, new: Any) -> bool:
        return bool(
            (old.get("data") or {}).get("watched") != (new.get("data") or {}).get("watched")
        )

    manager.controller(("v1", "ConfigMap"), reconciles.record, filters=[watched_changed])
    with running(manager):
        cms.create(configmap("a", {"watched": "1", "other": "1"}))
        filtered_then_passed(
            reconciles,
            f"{namespace}/a",
            lambda: cms.create(configmap("sentinel")),
            f"{namespace}/sentinel",
            lambda: cms.patch("a", {"data": {"other": "2"}}),
            lambda: cms.patch("a", {"data": {"watched": "2"}}),
        )


def test_the_default_filter_drops_resyncs(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    """Informers resync every second here. A second controller with no
    filter at all shows the resyncs arrive; the one with the default filter
    must not reconcile them."""
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    default, unfiltered = Reconciles(), Reconciles()
    manager = make_manager(resync_period=1.0)
    manager.controller(("v1", "ConfigMap"), default.record, name="default")
    manager.controller(("v1", "ConfigMap"), unfiltered.record, name="unfiltered", filters=[])
    with running(manager):
        cms.create(configmap("a"))
        unfiltered.wait_for(lambda s: len([x for x in s if x.key.endswith("/a")]) >= 3)
        cms.create(configmap("sentinel"))
        default.wait_for(lambda s: any(x.key.endswith("/sentinel") for x in s))
    assert count(default, f"{namespace}/a") == 1
    rvs = {x.rv for x in unfiltered.of(f"{namespace}/a")}
    assert len(rvs) == 1, "the unfiltered reconciles were resyncs of one resourceVersion"
