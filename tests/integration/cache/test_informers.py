"""Shared informers and listers against the real API server, on a custom
resource (Network) and a built-in one (apps/v1 Deployment), through both
ways of getting the initial state: WatchList streaming and LIST."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kubeloop.cache import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    ReflectorOptions,
    SharedInformerFactory,
)
from kubeloop.client import Client
from kubeloop.errors import NotFound
from tests.integration.cache.helpers import (
    WAIT,
    Mirror,
    RecordingResource,
    cache_state,
    running,
    server_state,
)
from tests.integration.support import deployment, network, wait_until

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Kind:
    api_version: str
    plural: str
    make: Callable[[str, dict[str, str]], dict[str, Any]]
    #: A spec change as a merge patch, and how to read it back.
    patch: dict[str, Any]
    changed: Callable[[Any], bool]


def labelled_network(name: str, labels: dict[str, str]) -> dict[str, Any]:
    obj = network(name)
    obj["metadata"]["labels"] = labels
    return obj


KINDS = {
    "network": Kind(
        "samplecrd.k8s.io/v1",
        "networks",
        labelled_network,
        {"spec": {"gateway": "10.0.0.254"}},
        lambda o: o["spec"]["gateway"] == "10.0.0.254",
    ),
    "deployment": Kind(
        "apps/v1",
        "deployments",
        lambda name, labels: deployment(name, labels=labels),
        {"spec": {"replicas": 3}},
        lambda o: o["spec"]["replicas"] == 3,
    ),
}

#: How the initial state is had: streamed (WatchList), listed because the
#: reflector was told to, or listed because the server refused WatchList.
PATHS = ["watch-list", "list", "watch-list-refused"]


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest, network_crd: str) -> Kind:
    return KINDS[request.param]


def assert_path_taken(path: str, recorder: RecordingResource) -> None:
    if path == "watch-list":
        assert recorder.watch_list_requests() >= 1
        assert recorder.list_requests() == 0, "WatchList synced, yet a LIST was sent"
    elif path == "list":
        assert recorder.watch_list_requests() == 0
        assert recorder.list_requests() >= 1
    else:
        assert recorder.watch_list_requests() >= 1, "WatchList was not even tried"
        assert recorder.list_requests() >= 1, "no fallback to LIST after WatchList failed"


@pytest.mark.parametrize("path", PATHS)
def test_informer_and_lister_follow_creates_updates_and_deletes(
    client: Client, kind: Kind, path: str, namespace: str, other_namespace: str
) -> None:
    res = client.resource(kind.api_version, kind.plural, namespace=namespace)
    other = res.with_namespace(other_namespace)
    res.create(kind.make("before", {"tier": "a"}))
    other.create(kind.make("before-other", {"tier": "b"}))

    recorder = RecordingResource(
        client.resource(kind.api_version, kind.plural),  # all namespaces
        spoil_watch_list=path == "watch-list-refused",
    )
    factory = SharedInformerFactory(
        client, 0, reflector_options=ReflectorOptions(use_watch_list=path != "list")
    )
    informer = factory.informer_for(recorder)
    mirror = Mirror()
    informer.add_event_handler(mirror)
    lister = factory.lister_for(recorder)
    ours = {namespace, other_namespace}

    def our_keys() -> set[str]:
        return {k for k in mirror.snapshot() if k.split("/")[0] in ours}

    with running(factory):
        assert mirror.wait_for(lambda m: len(our_keys()) == 2)
        assert mirror.initial_adds >= 2  # the objects that were there before start
        a = res.create(kind.make("a", {"tier": "a"}))
        res.create(kind.make("b", {"tier": "b"}))
        c = other.create(kind.make("c", {"tier": "a"}))
        assert mirror.wait_for(lambda m: len(our_keys()) == 5)

        res.patch("a", kind.patch)
        assert mirror.wait_for(lambda m: kind.changed(m.objects[f"{namespace}/a"]))
        assert kind.changed(lister.namespaced(namespace).get("a"))
        assert any(e[0] == "update" and e[1] == f"{namespace}/a" for e in mirror.events)

        res.delete("b")
        assert mirror.wait_for(lambda m: f"{namespace}/b" not in m.state)
        with pytest.raises(NotFound):
            lister.namespaced(namespace).get("b")

        def names(objs: list[Any]) -> set[str]:
            return {o["metadata"]["name"] for o in objs if o["metadata"]["namespace"] in ours}

        assert names(lister.namespaced(namespace).list()) == {"before", "a"}
        assert names(lister.namespaced(other_namespace).list()) == {"before-other", "c"}
        assert names(lister.list("tier=a")) == {"before", "a", "c"}
        assert names(lister.namespaced(other_namespace).list({"tier": "a"})) == {"c"}
        assert names(lister.list("tier in (b),app!=x")) == {"before-other"}
        assert sorted(informer.get_indexer().index_keys(NAMESPACE_INDEX, namespace)) == [
            f"{namespace}/a",
            f"{namespace}/before",
        ]
        got_c = lister.namespaced(other_namespace).get("c")
        assert got_c["metadata"]["uid"] == c["metadata"]["uid"]
        # The factory strips managedFields by default; the server did send them.
        assert a["metadata"].get("managedFields")
        assert all("managedFields" not in o["metadata"] for o in lister.list())

        deletes = [e for e in mirror.events if e[0] == "delete" and e[1] == f"{namespace}/b"]
        assert len(deletes) == 1
        assert not any(isinstance(t, DeletedFinalStateUnknown) for t in mirror.tombstones)
        assert mirror.violations == []
        # Later status writes (the deployment controller) may still be in
        # flight: compare with a fresh LIST once the cache has caught up.
        expected = {
            k: v
            for k, v in server_state(client.resource(kind.api_version, kind.plural)).items()
            if k.split("/")[0] in ours
        }
        assert mirror.wait_for(lambda m: {k: m.state[k] for k in our_keys()} == expected)
        cached = cache_state(factory, kind.api_version, kind.plural)
        assert {k: v for k, v in cached.items() if k.split("/")[0] in ours} == expected
    assert_path_taken(path, recorder)
    assert informer.is_stopped()


def test_handler_added_after_start_gets_the_cache_replayed(
    client: Client, network_crd: str, namespace: str
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace)
    for i in range(3):
        nets.create(network(f"n{i}"))
    factory = SharedInformerFactory(client, 0, namespace=namespace)
    informer = factory.informer_for(network_crd, "networks")
    with running(factory):
        late = Mirror()
        registration = informer.add_event_handler(late)
        # has_synced is a predicate with nothing to wait on: poll it.
        wait_until(registration.has_synced, WAIT, "the late handler's replay")
        assert late.snapshot() == cache_state(factory, network_crd, "networks")
        assert late.initial_adds == 3
        nets.create(network("n3"))
        assert late.wait_for(lambda m: f"{namespace}/n3" in m.state)
        assert late.initial_adds == 3  # a live add is not part of the initial list
        informer.remove_event_handler(registration)
        nets.delete("n0")
        still = Mirror()
        informer.add_event_handler(still)
        assert still.wait_for(lambda m: len(m.state) == 3 and f"{namespace}/n0" not in m.state)
        assert f"{namespace}/n0" in late.snapshot(), "a removed handler was still notified"


def test_managed_fields_are_kept_when_stripping_is_off(
    client: Client, network_crd: str, namespace: str
) -> None:
    client.resource(network_crd, "networks", namespace=namespace).create(network("kept"))
    factory = SharedInformerFactory(client, 0, namespace=namespace, strip_managed_fields=False)
    lister = factory.lister_for(network_crd, "networks")
    with running(factory):
        kept = lister.namespaced(namespace).get("kept")
        assert kept["metadata"]["managedFields"][0]["manager"]


def test_wait_for_cache_sync_reports_every_started_informer(
    client: Client, network_crd: str, namespace: str
) -> None:
    factory = SharedInformerFactory(client, 0, namespace=namespace)
    factory.informer_for(network_crd, "networks")
    factory.informer_for("apps/v1", "deployments")
    factory.informer_for("v1", "serviceaccounts")
    with running(factory) as stop:
        assert factory.wait_for_cache_sync(stop) == {
            (network_crd, "networks"): True,
            ("apps/v1", "deployments"): True,
            ("v1", "serviceaccounts"): True,
        }
        # The controller manager gives every namespace a "default"
        # ServiceAccount: the third cache has it (perhaps only after sync).
        accounts = factory.lister_for("v1", "serviceaccounts").namespaced(namespace)
        mirror = Mirror()
        factory.informer_for("v1", "serviceaccounts").add_event_handler(mirror)
        assert mirror.wait_for(lambda m: f"{namespace}/default" in m.state)
        assert accounts.get("default")["metadata"]["namespace"] == namespace


def test_resync_redelivers_cached_objects_as_updates_while_watching(
    client: Client, network_crd: str, namespace: str
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace)
    created = nets.create(network("r"))
    key, rv = f"{namespace}/r", created["metadata"]["resourceVersion"]
    factory = SharedInformerFactory(client, 1.0, namespace=namespace)
    mirror = Mirror()
    factory.informer_for(network_crd, "networks").add_event_handler(mirror)

    def resyncs(m: Mirror) -> int:
        return sum(1 for e in m.events if e == ("update", key, rv))

    with running(factory):
        # Two resyncs, a second apart, each an update with an unchanged RV.
        assert mirror.wait_for(lambda m: resyncs(m) >= 2, 10.0), mirror.events
    assert mirror.violations == []
