"""The resource client's codecs and one verb per meaning, without a server:
which fields a model would drop on PUT, and what a typed ``update`` sends
(a GET of the live object, then a PUT conditioned on its resourceVersion,
or nothing at all when the PUT would delete fields)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import msgspec
import pytest

from kubeloop.client import DICT_CODEC, Config, ModelCodec, ResourceClient
from kubeloop.client._codecs import unknown_fields
from kubeloop.errors import FieldsWouldBeDropped
from kubeloop.typed import Model, ObjectMeta, Resource


class GadgetSpec(Model, kw_only=True):
    size: int = 0
    parts: list[GadgetPart] | None = None


class GadgetPart(Model, kw_only=True):
    name: str = ""


class Gadget(Resource, kw_only=True):
    API_VERSION: ClassVar[str] = "example.com/v1"
    KIND: ClassVar[str] = "Gadget"
    PLURAL: ClassVar[str] = "gadgets"
    spec: GadgetSpec | None = None
    labels_by_zone: dict[str, GadgetPart] | None = None
    anything: Any = None


def test_unknown_fields_walks_structs_lists_dicts_and_optionals() -> None:
    live = {
        "apiVersion": "example.com/v1",
        "metadata": {"name": "g", "resourceVersion": "3", "brandNew": 1},
        "spec": {"size": 1, "color": "blue", "parts": [{"name": "a"}, {"name": "b", "x": 1}]},
        "labelsByZone": {"z1": {"name": "n", "weight": 2}},
        "anything": {"deep": {"is": "kept"}},
    }
    assert unknown_fields(Gadget, live) == [
        "metadata.brandNew",
        "spec.color",
        "spec.parts[1].x",
        "labelsByZone.z1.weight",
    ]
    assert unknown_fields(Gadget, {"spec": {"size": 2}, "anything": [1, {"a": 2}]}) == []


class Recorder:
    """A Requester answering GETs with ``live``; records every request."""

    def __init__(self, live: dict[str, Any]) -> None:
        self.live = live
        self.config = Config(host="https://k8s.test", namespace="default")
        self.sent: list[tuple[str, str, Any]] = []

    def request_bytes(self, method: str, path: str, **kw: Any) -> bytes:
        body = kw.get("body")
        self.sent.append((method, path, json.loads(body) if body else None))
        return json.dumps(self.live).encode()

    def open_watch(self, *args: Any, **kw: Any) -> Any:
        raise AssertionError("no watch here")


def gadgets(live: dict[str, Any]) -> tuple[Recorder, ResourceClient[Gadget]]:
    recorder = Recorder(live)
    return recorder, ResourceClient(
        recorder, ModelCodec(Gadget), "example.com/v1", "gadgets", namespace="ns"
    )


LIVE = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}


def test_a_typed_update_reads_the_live_object_then_puts_at_its_resource_version() -> None:
    recorder, client = gadgets({**LIVE, "metadata": {"name": "g", "resourceVersion": "8"}})
    client.update(Gadget(metadata=ObjectMeta(name="g"), spec=GadgetSpec(size=2)))
    (get, put) = recorder.sent
    assert get[:2] == ("GET", "/apis/example.com/v1/namespaces/ns/gadgets/g")
    assert put[:2] == ("PUT", "/apis/example.com/v1/namespaces/ns/gadgets/g")
    assert put[2]["metadata"]["resourceVersion"] == "8"
    assert put[2]["spec"] == {"size": 2}


def test_a_typed_update_keeps_the_callers_resource_version() -> None:
    recorder, client = gadgets({**LIVE, "metadata": {"name": "g", "resourceVersion": "9"}})
    client.update(Gadget(metadata=ObjectMeta(name="g", resource_version="4")))
    assert recorder.sent[1][2]["metadata"]["resourceVersion"] == "4"  # Conflict is the server's


def test_a_typed_put_that_would_drop_fields_is_refused_before_it_is_sent() -> None:
    recorder, client = gadgets({**LIVE, "spec": {"size": 1, "color": "blue"}})
    with pytest.raises(FieldsWouldBeDropped, match=r"spec\.color.*patch\(\) or apply\(\)"):
        client.update(Gadget(metadata=ObjectMeta(name="g"), spec=GadgetSpec(size=2)))
    assert [m for m, _, _ in recorder.sent] == ["GET"]


def test_a_status_put_checks_only_the_status() -> None:
    _, client = gadgets({**LIVE, "spec": {"color": "blue"}, "status": {"x": 1}})
    with pytest.raises(FieldsWouldBeDropped) as refused:
        client.update_status(Gadget(metadata=ObjectMeta(name="g")))
    assert refused.value.fields == ["status"]  # Gadget has no status at all


def test_a_dict_update_is_one_put_as_given() -> None:
    recorder = Recorder(LIVE)
    client = ResourceClient(recorder, DICT_CODEC, "example.com/v1", "gadgets", namespace="ns")
    client.update({**LIVE, "spec": {"anything": True}})
    assert [(m, b) for m, _, b in recorder.sent] == [("PUT", {**LIVE, "spec": {"anything": True}})]


def test_patch_encodes_a_model_without_its_unset_fields() -> None:
    recorder, client = gadgets(LIVE)
    client.patch("g", Gadget(spec=GadgetSpec(size=3)))
    (patch,) = recorder.sent
    assert patch[0] == "PATCH" and patch[2]["spec"] == {"size": 3}
    assert msgspec.json.decode(msgspec.json.encode(patch[2])).get("anything") is None
