"""Events on the real API server: a series whose count rises, the spam
filter holding a flood to its budget, and core/v1 Events from a server that
does not serve events.k8s.io/v1 (a control plane of this module's own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.client import Client, load_config
from kubeloop.clock import FakeClock
from kubeloop.errors import NotFound
from kubeloop.events import CORE_V1, EVENTS_V1, FINISH_TIME, EventRecorder
from kubeloop.testenv import ControlPlane
from tests.integration.support import wait_until

pytestmark = pytest.mark.integration

WAIT = 30.0


def configmap(client: Client, namespace: str, name: str) -> dict[str, Any]:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    created: dict[str, Any] = cms.create({"metadata": {"name": name}, "data": {"k": "v"}})
    return {**created, "apiVersion": "v1", "kind": "ConfigMap"}


def events_v1(client: Client, namespace: str) -> list[dict[str, Any]]:
    events = client.resource(EVENTS_V1, "events", namespace=namespace, namespaced=True)
    items: list[dict[str, Any]] = events.list().items
    return items


def settle(clock: FakeClock) -> None:
    """Once this returns, the writer has written everything queued."""
    clock.step(0)
    assert clock.wait_for_waiters(1, timeout=WAIT)


def test_an_event_series_count_rises_on_the_server(client: Client, namespace: str) -> None:
    cm = configmap(client, namespace, "flaky")
    clock = FakeClock()
    recorder = EventRecorder(client, "series-test", clock=clock)
    recorder.start()
    try:
        for _ in range(2):
            recorder.eventf(cm, None, "Warning", "SyncFailed", "Syncing", "backend timeout")
        settle(clock)
        assert recorder.api_version == EVENTS_V1
        (event,) = events_v1(client, namespace)
        assert event["series"]["count"] == 2
        assert event["regarding"]["uid"] == cm["metadata"]["uid"]
        assert (event["action"], event["reportingController"]) == ("Syncing", "series-test")
        assert event["metadata"]["name"].startswith("flaky.")

        for _ in range(3):  # counted in memory, not written yet
            recorder.eventf(cm, None, "Warning", "SyncFailed", "Syncing", "backend timeout")
        settle(clock)
        assert events_v1(client, namespace)[0]["series"]["count"] == 2
        clock.step(FINISH_TIME)  # quiet for 6 minutes at this check, not more
        settle(clock)
        assert events_v1(client, namespace)[0]["series"]["count"] == 2
        clock.step(FINISH_TIME)  # the next check finishes the series
        settle(clock)
        (event,) = events_v1(client, namespace)
        assert event["series"]["count"] == 5
        # The same Event through core/v1, as kubectl and older readers see it.
        core = client.resource(CORE_V1, "events", namespace=namespace, namespaced=True)
        (legacy,) = core.list().items
        assert legacy["series"]["count"] == 5 and not legacy.get("count")
        assert legacy["involvedObject"]["uid"] == cm["metadata"]["uid"]
        assert legacy["message"] == "backend timeout"
        assert legacy["reportingComponent"] == "series-test" and not legacy.get("source")
    finally:
        recorder.stop()


def test_the_spam_filter_holds_a_flood_to_its_budget(client: Client, namespace: str) -> None:
    cm = configmap(client, namespace, "noisy")
    recorder = EventRecorder(client, "spam-test")
    recorder.start()
    for i in range(100):
        recorder.event(cm, "Normal", f"Step{i}", f"step {i}")
    recorder.stop(timeout=WAIT)
    assert len(events_v1(client, namespace)) == 25
    assert (recorder.filtered, recorder.dropped, recorder.failed) == (75, 0, 0)


@pytest.fixture(scope="module")
def legacy_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A control plane whose API server does not serve events.k8s.io/v1."""
    cp = ControlPlane(
        tmp_path_factory.mktemp("no-events-v1"),
        extra_apiserver_args=["--runtime-config=events.k8s.io/v1=false"],
    )
    cp.start()
    try:
        with Client(load_config(kubeconfig=str(cp.kubeconfig))) as client:
            yield client
    finally:
        cp.stop()


def test_core_v1_events_where_events_k8s_io_is_not_served(legacy_client: Client) -> None:
    with pytest.raises(NotFound):
        legacy_client.server_resources(EVENTS_V1)
    cm = configmap(legacy_client, "default", "legacy")
    recorder = EventRecorder(legacy_client, "legacy-test")
    recorder.start()
    for _ in range(3):
        recorder.event(cm, "Warning", "SyncFailed", "backend timeout")
    recorder.stop(timeout=WAIT)
    assert recorder.api_version == CORE_V1
    events = legacy_client.resource(CORE_V1, "events", namespace="default", namespaced=True)

    def mine() -> list[dict[str, Any]]:
        items = events.list().items
        return [e for e in items if e.get("reportingComponent") == "legacy-test"]

    wait_until(lambda: len(mine()) == 1, WAIT, "the core/v1 Event")
    (event,) = mine()
    assert event["count"] == 3 and event["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert event["source"]["component"] == "legacy-test"
