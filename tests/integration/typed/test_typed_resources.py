"""Typed models against the real kube-apiserver: the generated Network model
decodes what the server sends and encodes what it accepts, through the
client, the watch, the informer and the lister; and a field added to a CRD
after its model was generated survives writes made through the old model
(its PUT is refused, naming patch and apply; those keep the field)."""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.cache import SharedInformerFactory, wait_for_cache_sync
from kubeloop.client import Client, EventType, ResourceClient
from kubeloop.errors import Conflict, FieldsWouldBeDropped, Invalid, NotFound
from kubeloop.gen import Source, generate
from kubeloop.typed import ObjectMeta, PartialObjectMetadata
from network_controller.models import Network, NetworkCondition, NetworkSpec, NetworkStatus
from tests.integration.support import ensure_crd, wait_until

pytestmark = pytest.mark.integration


def net(name: str, cidr: str = "10.0.0.0/24", gateway: str = "10.0.0.1") -> Network:
    return Network(metadata=ObjectMeta(name=name), spec=NetworkSpec(cidr=cidr, gateway=gateway))


@pytest.fixture
def nets(client: Client, network_crd: str, namespace: str) -> ResourceClient[Network]:
    return client.resource(Network, namespace=namespace)


def test_create_get_update_and_delete_through_the_model(
    nets: ResourceClient[Network], namespace: str
) -> None:
    created = nets.create(net("a"))
    assert isinstance(created, Network)
    assert created.metadata.namespace == namespace and created.metadata.uid
    assert created.status is None
    got = nets.get("a")
    assert got.spec == NetworkSpec(cidr="10.0.0.0/24", gateway="10.0.0.1")
    got.spec.gateway = "10.0.0.254"
    updated = nets.update(got)
    assert updated.spec.gateway == "10.0.0.254"
    assert updated.metadata.generation == 2
    nets.delete("a")
    with pytest.raises(NotFound):
        nets.get("a")


def test_a_stale_typed_update_is_a_conflict(nets: ResourceClient[Network]) -> None:
    first = nets.create(net("c"))
    fresh = nets.get("c")
    fresh.spec.gateway = "10.0.0.2"
    nets.update(fresh)
    first.spec.gateway = "10.0.0.3"  # still carries the old resourceVersion
    with pytest.raises(Conflict):
        nets.update(first)
    assert nets.get("c").spec.gateway == "10.0.0.2"


def test_the_server_validates_what_the_model_encodes(nets: ResourceClient[Network]) -> None:
    with pytest.raises(Invalid) as info:
        nets.create(net("bad", cidr="not-a-cidr"))
    assert any("spec.cidr must be a CIDR" in c.get("message", "") for c in info.value.causes)


def test_status_writes_go_to_the_status_subresource(nets: ResourceClient[Network]) -> None:
    obj = nets.create(net("s"))
    obj.status = NetworkStatus(
        observed_generation=1,
        network_id="net-1",
        conditions=[NetworkCondition(type="Ready", status="True", reason="Created")],
    )
    obj.spec.gateway = "10.0.0.9"  # ignored by the status subresource
    written = nets.update_status(obj)
    assert written.status is not None and written.status.network_id == "net-1"
    assert written.spec.gateway == "10.0.0.1"
    assert nets.get("s").status == written.status
    patched = nets.patch_status("s", {"status": {"networkID": "net-2"}})
    assert patched.status is not None and patched.status.network_id == "net-2"
    assert patched.status.observed_generation == 1


def test_server_side_apply_of_a_model(nets: ResourceClient[Network]) -> None:
    applied = nets.apply(net("ssa"), field_manager="typed-test")
    assert applied.metadata.managed_fields is not None
    assert applied.metadata.managed_fields[0].manager == "typed-test"
    again = nets.apply(net("ssa", gateway="10.0.0.7"), field_manager="typed-test")
    assert again.spec.gateway == "10.0.0.7"


def test_list_pages_decode_into_models(nets: ResourceClient[Network]) -> None:
    for i in range(7):
        nets.create(net(f"l{i}"))
    pages = list(nets.pages(limit=3))
    assert [len(p.items) for p in pages] == [3, 3, 1]
    items = [i for p in pages for i in p.items]
    assert all(isinstance(i, Network) and i.kind == "Network" for i in items)
    assert sorted(i.metadata.name for i in nets.list().items) == [f"l{i}" for i in range(7)]


def test_watch_events_decode_into_models_and_bookmarks_into_metadata(
    nets: ResourceClient[Network],
) -> None:
    rv = nets.list_page().resource_version
    with nets.watch(resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=30) as w:
        nets.create(net("w1"))
        nets.patch_status("w1", {"status": {"networkID": "id-w1"}})
        nets.delete("w1")
        seen: list[tuple[str, Any]] = []
        for event in w:
            if event.type == EventType.BOOKMARK:
                assert isinstance(event.object, PartialObjectMetadata)
                continue
            seen.append((event.type, event.object))
            if event.type == "DELETED":
                break
    assert [t for t, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(isinstance(o, Network) for _, o in seen)
    assert seen[1][1].status.network_id == "id-w1"


def test_typed_informer_and_lister(
    client: Client, network_crd: str, namespace: str, nets: ResourceClient[Network]
) -> None:
    nets.create(net("i1"))
    factory = SharedInformerFactory(client, 0, namespace=namespace)
    informer = factory.informer_for(Network)
    lister = factory.lister_for(Network)
    assert factory.informer_for(Network) is informer
    with pytest.raises(TypeError):
        factory.informer_for(Network.API_VERSION, Network.PLURAL)  # one cache: models
    stop = threading.Event()
    try:
        factory.start(stop)
        assert wait_for_cache_sync(stop, informer.has_synced)
        cached = lister.namespaced(namespace).get("i1")
        assert isinstance(cached, Network) and cached.metadata.managed_fields is None
        nets.create(net("i2", gateway="10.0.0.2"))
        wait_until(lambda: len(lister.list()) == 2, 30, "the informer to see i2")
        assert lister.namespaced(namespace).get("i2").spec.gateway == "10.0.0.2"
    finally:
        stop.set()
        factory.shutdown(10)


# -- forward compatibility: a newer CRD than the model ------------------------


def gadget_crd(group: str) -> dict[str, Any]:
    """The first version of the Gadget CRD, in API group ``group``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer"}},
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"phase": {"type": "string"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def newer(crd: dict[str, Any]) -> dict[str, Any]:
    """The same CRD with fields the old model does not know: spec.color,
    status.detail, and an unstructured spec.extra."""
    crd = copy.deepcopy(crd)
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    props["spec"]["properties"]["color"] = {"type": "string", "default": "red"}
    props["spec"]["properties"]["extra"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    props["status"]["properties"]["detail"] = {"type": "string"}
    return crd


@pytest.fixture(scope="module")
def old_gadget_model(client: Client) -> Iterator[Any]:
    """The model generated from the first CRD version; the server then gets
    the newer CRD (the old model is never regenerated).

    The CRD is cluster-scoped and this fixture changes its schema, so it
    lives in an API group of its own (no other test, and no rerun in this
    session, sees it) and is deleted afterwards, waiting until it is gone."""
    group = f"g{uuid.uuid4().hex[:10]}.typed.kubeloop.test"
    first = gadget_crd(group)
    name = first["metadata"]["name"]
    source = generate([Source("gadgets.yaml", first)])
    module = types.ModuleType("old_gadget_models")
    sys.modules[module.__name__] = module
    exec(compile(source, "old_gadget_models.py", "exec"), module.__dict__)
    crds = client.resource("apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False)
    try:
        ensure_crd(client, first)
        live = crds.get(name)
        live["spec"] = newer(first)["spec"]
        crds.update(live)
        # The new schema is in force once the server defaults spec.color
        # (a dry run: nothing is stored).
        probe = client.resource(module.Gadget.API_VERSION, "gadgets", namespace="default")

        def serves_new_schema() -> bool:
            obj = {"apiVersion": module.Gadget.API_VERSION, "kind": "Gadget"}
            obj |= {"metadata": {"name": "probe"}, "spec": {"size": 1}}
            created = probe.create(obj, dry_run=True)
            return bool(created["spec"].get("color"))

        wait_until(serves_new_schema, 60, "the newer Gadget schema")
        yield module.Gadget
    finally:
        del sys.modules[module.__name__]
        with contextlib.suppress(NotFound):
            crds.delete(name)
        wait_until(lambda: _gone(crds, name), 60, f"CRD {name} to be deleted")


def _gone(resource: ResourceClient, name: str) -> bool:
    try:
        resource.get(name)
    except NotFound:
        return True
    return False


def test_fields_the_model_does_not_know_survive_typed_writes(
    client: Client, old_gadget_model: Any, namespace: str
) -> None:
    Gadget = old_gadget_model
    assert "color" not in Gadget.__struct_fields__
    raw = client.resource(Gadget.API_VERSION, "gadgets", namespace=namespace)
    raw.create(
        {
            "apiVersion": Gadget.API_VERSION,
            "kind": "Gadget",
            "metadata": {"name": "g", "annotations": {"other-controller": "x"}},
            "spec": {"size": 1, "color": "blue", "extra": {"nested": {"keep": True}}},
        }
    )
    raw.patch_status("g", {"status": {"phase": "Old", "detail": "kept"}})
    gadgets = client.resource(Gadget, namespace=namespace)

    obj = gadgets.get("g")  # decodes: unknown fields are skipped
    assert obj.spec.size == 1 and not hasattr(obj.spec, "color")
    obj.spec.size = 2
    with pytest.raises(FieldsWouldBeDropped, match=r"patch\(\) or apply\(\)") as refused:
        gadgets.update(obj)  # a PUT would delete spec.color and spec.extra
    assert {"spec.color", "spec.extra", "status.detail"} <= set(refused.value.fields)
    assert raw.get("g")["spec"]["size"] == 1  # nothing was sent
    gadgets.patch("g", obj)  # a merge patch of what the model sets
    obj = gadgets.get("g")
    assert obj.spec.size == 2
    obj.status = type(obj.status)(phase="New")
    with pytest.raises(FieldsWouldBeDropped) as refused:
        gadgets.update_status(obj)
    assert refused.value.fields == ["status.detail"]
    gadgets.patch_status("g", {"status": {"phase": "New"}})
    gadgets.apply(
        Gadget(metadata=ObjectMeta(name="g"), spec=type(obj.spec)(size=3)),
        field_manager="old-model",
        force=True,
    )

    after = raw.get("g")
    assert after["spec"] == {"size": 3, "color": "blue", "extra": {"nested": {"keep": True}}}
    assert after["status"] == {"phase": "New", "detail": "kept"}
    assert after["metadata"]["annotations"] == {"other-controller": "x"}
