"""SharedInformerFactory (informers/factory.go) and ListWatch.from_client."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kubeloop.cache import (
    NAMESPACE_INDEX,
    ListWatch,
    ReflectorOptions,
    SharedInformerFactory,
    wait_for_cache_sync,
)
from kubeloop.cache.testing import FakeControllerSource, FakeWatchStream
from kubeloop.client.types import ListOptions, ListPage
from kubeloop.errors import NotFound
from kubeloop.typed import ObjectMeta, PartialObjectMetadata

from .helpers import WAIT, FakeBackoff, Recorder, pod


class FakeResourceClient:
    """Plays kubeloop.client.ResourceClient over a FakeControllerSource."""

    def __init__(self, api_version: str, plural: str, namespace: str | None) -> None:
        self.api_version = api_version
        self.plural = plural
        self.namespace = namespace
        self.source = FakeControllerSource()
        self.options: list[ListOptions] = []
        self.views: dict[str, FakeResourceClient] = {}  # kind -> metadata view

    def list_page(self, options: ListOptions) -> ListPage:
        self.options.append(options)
        return self.source.list(options)

    def watch(self, options: ListOptions) -> FakeWatchStream:
        self.options.append(options)
        return self.source.watch(options)

    def metadata(self, kind: str = "") -> FakeResourceClient:
        """The metadata view: a source of its own (of PartialObjectMetadata)."""
        if kind not in self.views:
            self.views[kind] = FakeResourceClient(self.api_version, self.plural, self.namespace)
        return self.views[kind]


class APIResourceStub:
    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind


class FakeClient:
    def __init__(self) -> None:
        self.resources: dict[tuple[str, str, str | None], FakeResourceClient] = {}

    def resource_for(self, api_version: str, kind_or_plural: str) -> APIResourceStub:
        kinds = {"deployments": "Deployment", "pods": "Pod"}
        return APIResourceStub(kind_or_plural, kinds.get(kind_or_plural, ""))

    def resource(
        self, api_version: str, plural: str, *, namespace: str | None = None
    ) -> FakeResourceClient:
        key = (api_version, plural, namespace)
        if key not in self.resources:
            self.resources[key] = FakeResourceClient(api_version, plural, namespace)
        return self.resources[key]


def fast() -> ReflectorOptions:
    return ReflectorOptions(backoff=FakeBackoff())


def test_from_client_applies_selectors_and_tweak_to_a_copy() -> None:
    rc = FakeResourceClient("v1", "pods", "prod")
    rc.source.add(pod("a", "prod"))

    def tweak(options: ListOptions) -> None:
        options.extra["watch_cache"] = "x"

    lw = ListWatch.from_client(
        rc, label_selector="app=web", field_selector="a=b", tweak_list_options=tweak
    )
    original = ListOptions(resource_version="0", limit=500)
    page = lw.list(original)
    assert [o["metadata"]["name"] for o in page.items] == ["a"]
    sent = rc.options[-1]
    assert (sent.label_selector, sent.field_selector, sent.extra) == (
        "app=web",
        "a=b",
        {"watch_cache": "x"},
    )
    assert original.label_selector is None and original.extra == {}
    stream = lw.watch(ListOptions(resource_version="1"))
    assert rc.options[-1].label_selector == "app=web"
    stream.stop()


def test_one_informer_per_resource_with_namespace_index() -> None:
    factory = SharedInformerFactory(FakeClient(), 30.0, namespace="prod")
    a = factory.informer_for("v1", "pods")
    assert factory.informer_for(("v1", "pods")) is a
    assert factory.informer_for("apps/v1", "deployments") is not a
    assert NAMESPACE_INDEX in a.get_indexer().get_indexers()
    with pytest.raises(TypeError):
        factory.informer_for("v1")


def test_informer_for_a_resource_client() -> None:
    client = FakeClient()
    factory = SharedInformerFactory(client, 0.0)
    rc = FakeResourceClient("example.com/v1", "networks", None)
    informer = factory.informer_for(rc)
    assert factory.informer_for(("example.com/v1", "networks")) is informer


def test_start_sync_lister_strip_and_shutdown() -> None:
    client = FakeClient()
    tweaks: list[ListOptions] = []
    factory = SharedInformerFactory(
        client, 0.0, namespace="prod", tweak_list_options=tweaks.append, reflector_options=fast()
    )
    pods = factory.informer_for("v1", "pods")
    rc = client.resources[("v1", "pods", "prod")]
    obj = pod("web-0", "prod", labels={"app": "web"})
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    rc.source.add(obj)
    rec = Recorder()
    pods.add_event_handler(rec)
    stop = threading.Event()
    try:
        factory.start(stop)
        factory.start(stop)  # starts nothing twice
        assert factory.wait_for_cache_sync(stop) == {("v1", "pods"): True}
        # A resource asked for later starts with the next start().
        nets = factory.informer_for("example.com/v1", "networks")
        assert not nets.has_started()
        factory.start(stop)
        assert set(factory.wait_for_cache_sync(stop)) == {
            ("v1", "pods"),
            ("example.com/v1", "networks"),
        }

        lister = factory.lister_for("v1", "pods")
        got = lister.namespaced("prod").get("web-0")
        assert "managedFields" not in got["metadata"]
        assert len(lister.namespaced("prod").list("app=web")) == 1
        with pytest.raises(NotFound, match='pods "nope" not found'):
            lister.namespaced("prod").get("nope")
        rec.wait_for(lambda ev: len(ev) == 1)
        assert tweaks, "tweak_list_options was applied"
    finally:
        stop.set()
        factory.shutdown(WAIT)
    assert pods.is_stopped() and nets.is_stopped()
    # After shutdown nothing starts, not even an informer never started yet:
    # start() neither counts it as started nor gives it a thread.
    late = factory.informer_for("v1", "configmaps")
    never = threading.Event()
    try:
        factory.start(never)
        assert set(factory.wait_for_cache_sync(stop)) == {
            ("v1", "pods"),
            ("example.com/v1", "networks"),
        }
        assert not [t for t in threading.enumerate() if t.name == "kubeloop-informer-v1/configmaps"]
    finally:
        never.set()
    assert not late.has_started()


def test_strip_managed_fields_opt_out() -> None:
    client = FakeClient()
    factory = SharedInformerFactory(
        client, 0.0, strip_managed_fields=False, reflector_options=fast()
    )
    informer = factory.informer_for("v1", "configmaps")
    obj = pod("cm")
    obj["metadata"]["managedFields"] = [{"manager": "m"}]
    client.resources[("v1", "configmaps", None)].source.add(obj)
    stop = threading.Event()
    try:
        factory.start(stop)
        assert wait_for_cache_sync(stop, informer.has_synced)
        cached: Any = informer.get_store().get_by_key("cm")[0]
        assert cached["metadata"]["managedFields"] == [{"manager": "m"}]
    finally:
        stop.set()
        factory.shutdown(WAIT)


def test_wait_for_cache_sync_returns_false_on_stop() -> None:
    stop = threading.Event()
    stop.set()
    assert wait_for_cache_sync(stop, lambda: False) is False
    assert wait_for_cache_sync(stop, lambda: True) is True


def test_a_full_and_a_metadata_only_informer_of_one_resource_coexist() -> None:
    client = FakeClient()
    factory = SharedInformerFactory(client, 0.0, namespace="prod", reflector_options=fast())
    full = factory.informer_for("apps/v1", "deployments")
    metadata = factory.informer_for("apps/v1", "deployments", metadata_only=True)
    assert metadata is not full
    assert factory.informer_for(("apps/v1", "deployments"), metadata_only=True) is metadata
    assert factory.informer_for("apps/v1", "deployments") is full
    assert NAMESPACE_INDEX in metadata.get_indexer().get_indexers()
    rc = client.resources[("apps/v1", "deployments", "prod")]
    assert set(rc.views) == {"Deployment"}  # the kind, from discovery, for its objects to say
    rc.source.add({"metadata": {"name": "web", "namespace": "prod"}, "spec": {"replicas": 1}})
    meta = ObjectMeta(name="web", namespace="prod", managed_fields=[])
    rc.views["Deployment"].source.add(PartialObjectMetadata(kind="Deployment", metadata=meta))
    stop = threading.Event()
    try:
        factory.start(stop)
        assert factory.wait_for_cache_sync(stop) == {
            ("apps/v1", "deployments"): True,
            ("apps/v1", "deployments", "metadata"): True,
        }
        names = {t.name for t in threading.enumerate()}
        assert "kubeloop-informer-apps/v1/deployments/metadata" in names
        lister = factory.lister_for("apps/v1", "deployments", metadata_only=True)
        got = lister.namespaced("prod").get("web")
        assert isinstance(got, PartialObjectMetadata) and got.metadata.managed_fields is None
        assert [o.metadata.name for o in lister.namespaced("prod").list()] == ["web"]
        assert factory.lister_for("apps/v1", "deployments").namespaced("prod").get("web")["spec"]
        with pytest.raises(NotFound, match='deployments "nope" not found'):
            lister.namespaced("prod").get("nope")
    finally:
        stop.set()
        factory.shutdown(WAIT)


def test_metadata_only_needs_a_resource_client_with_a_metadata_view() -> None:
    factory = SharedInformerFactory(FakeClient(), 0.0)

    class NoView:
        api_version, plural, namespace = "v1", "pods", None

    with pytest.raises(TypeError, match="no metadata"):
        factory.informer_for(NoView(), metadata_only=True)  # type: ignore[arg-type]
