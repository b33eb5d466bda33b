"""The metadata-only resource client (``.metadata(kind)``) against the real
kube-apiserver: Deployments listed, watched, got and patched as
meta.k8s.io/v1 PartialObjectMetadata."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from kubeloop.client import Client, EventType, WatchEvent
from kubeloop.errors import NotFound
from kubeloop.typed import PartialObjectMetadata, Resource
from tests.integration.support import deployment

pytestmark = pytest.mark.integration


class Deployment(Resource, kw_only=True):
    """Only what the typed client needs to name the resource."""

    API_VERSION: ClassVar[str] = "apps/v1"
    KIND: ClassVar[str] = "Deployment"
    PLURAL: ClassVar[str] = "deployments"
    NAMESPACED: ClassVar[bool] = True


def owned_by(name: str) -> dict[str, Any]:
    d = deployment(name, labels={"tier": "web"})
    d["metadata"]["ownerReferences"] = [
        {"apiVersion": "x.io/v1", "kind": "Foo", "name": "f", "uid": "u-f", "controller": True}
    ]
    return d


def test_list_pages_of_deployments_as_metadata(client: Client, namespace: str) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    for i in range(3):
        deployments.create(owned_by(f"d{i}"))
    metadata = deployments.metadata("Deployment")
    pages = list(metadata.pages(limit=2))
    assert [len(p.items) for p in pages] == [2, 1]
    items = [item for page in pages for item in page.items]
    assert all(isinstance(i, PartialObjectMetadata) for i in items)
    assert [i.metadata.name for i in items] == ["d0", "d1", "d2"]
    assert {(i.api_version, i.kind) for i in items} == {("apps/v1", "Deployment")}
    refs = items[0].metadata.owner_references
    assert refs is not None and (refs[0].kind, refs[0].name) == ("Foo", "f")
    assert items[0].metadata.labels == {"tier": "web"}
    assert pages[0].resource_version


def test_without_a_kind_objects_say_what_the_server_sent(client: Client, namespace: str) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    deployments.create(deployment("d"))
    (item,) = deployments.metadata().list().items
    assert (item.api_version, item.kind) == ("meta.k8s.io/v1", "PartialObjectMetadata")


def test_get_and_patch_return_metadata(client: Client, namespace: str) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    created = deployments.create(deployment("web"))
    metadata = client.resource(Deployment, namespace=namespace).metadata()
    got = metadata.get("web")
    assert (got.kind, got.metadata.uid) == ("Deployment", created["metadata"]["uid"])
    patched = metadata.patch("web", {"metadata": {"labels": {"seen": "yes"}}})
    assert patched.metadata.labels == {"seen": "yes"}
    assert int(patched.metadata.resource_version) > int(got.metadata.resource_version)
    assert deployments.get("web")["spec"]["replicas"] == 0  # the rest of the object is intact
    metadata.delete("web")
    with pytest.raises(NotFound):
        metadata.get("web")


def test_a_watch_delivers_metadata_events(client: Client, namespace: str) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    metadata = deployments.metadata("Deployment")
    rv = metadata.list_page(limit=1).resource_version
    events: list[WatchEvent] = []
    done = threading.Event()
    with metadata.watch(resource_version=rv, allow_watch_bookmarks=True) as watch:

        def consume(stream: Iterator[WatchEvent]) -> None:
            for event in stream:
                if event.type != EventType.BOOKMARK:
                    events.append(event)
                if len(events) == 3:
                    done.set()
                    return

        thread = threading.Thread(target=consume, args=(iter(watch),), daemon=True)
        thread.start()
        deployments.create(deployment("w"))
        deployments.patch("w", {"metadata": {"annotations": {"a": "1"}}})
        deployments.delete("w")
        assert done.wait(30), [e.type for e in events]
    thread.join(10)
    assert [e.type for e in events] == [EventType.ADDED, EventType.MODIFIED, EventType.DELETED]
    assert all(isinstance(e.object, PartialObjectMetadata) for e in events)
    assert {e.object.kind for e in events} == {"Deployment"}
    assert events[1].object.metadata.annotations == {"a": "1"}


def test_watch_list_streams_metadata_up_to_its_bookmark(client: Client, namespace: str) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    deployments.create(deployment("a"))
    deployments.create(deployment("b"))
    names: list[str] = []
    with deployments.metadata("Deployment").watch(
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    ) as watch:
        for event in watch:
            if event.type == EventType.BOOKMARK:
                annotations = event.object.metadata.annotations or {}
                assert annotations.get("k8s.io/initial-events-end") == "true"
                assert event.object.kind == "PartialObjectMetadata"  # as the server sent it
                break
            names.append(event.object.metadata.name)
    assert sorted(names) == ["a", "b"]
