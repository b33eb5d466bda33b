"""Owner references, and how each source role maps events to keys."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kubeloop.cache import DeletedFinalStateUnknown
from kubeloop.runtime import (
    AlreadyOwnedError,
    Kind,
    OwnerRef,
    controller_of,
    generation_changed,
    is_controlled_by,
    new_controller_ref,
    owner_references,
    set_controller_reference,
)
from kubeloop.runtime.sources import Source, SourceHandler, owner_key
from kubeloop.typed import ObjectMeta, OwnerReference, Resource

FOO = Kind("example.com/v1", "Foo", "foos", True)


class Foo(Resource, kw_only=True):
    API_VERSION = "example.com/v1"
    KIND = "Foo"
    PLURAL = "foos"


def foo(name: str = "f", uid: str = "u-f") -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Foo",
        "metadata": {"name": name, "namespace": "ns", "uid": uid},
    }


def owned(*refs: dict[str, Any], name: str = "d", rv: str = "1", gen: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": rv,
            "generation": gen,
            "ownerReferences": list(refs),
        }
    }


# -- owner references -----------------------------------------------------------


def test_new_controller_ref_and_controller_of() -> None:
    ref = new_controller_ref(foo())
    assert ref == {
        "apiVersion": "example.com/v1",
        "kind": "Foo",
        "name": "f",
        "uid": "u-f",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    plain = {**new_controller_ref(foo("g", "u-g")), "controller": False}
    obj = owned(plain, ref)
    assert controller_of(obj) == OwnerRef("example.com/v1", "Foo", "f", "u-f", True, True)
    assert [r.name for r in owner_references(obj)] == ["g", "f"]
    assert is_controlled_by(obj, foo()) and not is_controlled_by(obj, foo("g", "u-g"))
    assert controller_of(owned()) is None


def test_a_list_item_without_apiversion_needs_them_named() -> None:
    item = {"metadata": {"name": "f", "uid": "u"}}
    with pytest.raises(ValueError, match="api_version= and kind="):
        new_controller_ref(item)
    assert new_controller_ref(item, api_version="v1", kind="ConfigMap")["kind"] == "ConfigMap"
    with pytest.raises(ValueError, match="no uid"):
        new_controller_ref({"metadata": {"name": "f"}}, api_version="v1", kind="ConfigMap")


def test_set_controller_reference_replaces_in_place_and_refuses_a_second_controller() -> None:
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u-c"}
    obj = owned(other, {**new_controller_ref(foo()), "uid": "stale"})
    set_controller_reference(foo(), obj)
    assert obj["metadata"]["ownerReferences"] == [other, new_controller_ref(foo())]  # same place
    again = owned(*obj["metadata"]["ownerReferences"])
    set_controller_reference(foo(), again)
    assert again == obj  # idempotent: no spurious update
    with pytest.raises(AlreadyOwnedError, match="already controlled by Foo 'f'"):
        set_controller_reference(foo("g", "u-g"), obj)


def test_owner_references_on_typed_models() -> None:
    owner = Foo(metadata=ObjectMeta(name="f", namespace="ns", uid="u-f"))
    child = Foo(metadata=ObjectMeta(name="c", namespace="ns"))
    set_controller_reference(owner, child)
    refs = child.metadata.owner_references
    assert refs == [
        OwnerReference(
            api_version="example.com/v1",
            kind="Foo",
            name="f",
            uid="u-f",
            controller=True,
            block_owner_deletion=True,
        )
    ]
    assert is_controlled_by(child, owner)


# -- sources --------------------------------------------------------------------


class Queue:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.deleted: list[tuple[str, Any]] = []


def handler(
    role: str, q: Queue, filters: tuple[Any, ...] = (), mapper: Any = None
) -> SourceHandler:
    source = Source(FOO, role, filters, mapper=mapper)  # type: ignore[arg-type]
    if role == "for":
        return SourceHandler(
            source,
            "foo",
            lambda o: [f"ns/{o['metadata']['name']}"],
            q.keys.append,
            lambda k, o: q.deleted.append((k, o)),
        )
    if role == "owns":

        def keys(o: Any) -> list[str]:
            key = owner_key(o, FOO)
            return [key] if key else []

        return SourceHandler(source, "foo", keys, q.keys.append)
    return SourceHandler(source, "foo", mapper, q.keys.append)


def test_owner_key_matches_group_and_kind_of_the_controller() -> None:
    ref = new_controller_ref(foo())
    assert owner_key(owned(ref), FOO) == "ns/f"
    other_version = {**ref, "apiVersion": "example.com/v2"}
    assert owner_key(owned(other_version), FOO) == "ns/f"  # group, not version
    assert owner_key(owned({**ref, "apiVersion": "other.com/v1"}), FOO) is None
    assert owner_key(owned({**ref, "kind": "Bar"}), FOO) is None
    assert owner_key(owned({**ref, "controller": False}), FOO) is None
    cluster = Kind("example.com/v1", "Foo", "foos", False)
    assert owner_key(owned(ref), cluster) == "f"


def test_owns_maps_old_and_new_owner_on_update_and_unwraps_tombstones() -> None:
    q = Queue()
    h = handler("owns", q)
    a, b = new_controller_ref(foo("a", "u-a")), new_controller_ref(foo("b", "u-b"))
    h.on_add(owned(a), False)
    h.on_update(owned(a, rv="1"), owned(b, rv="2"))
    h.on_delete(DeletedFinalStateUnknown("ns/d", owned(b)))
    h.on_add(owned(), False)  # no owner: nothing
    assert q.keys == ["ns/a", "ns/a", "ns/b", "ns/b"]


def test_for_records_the_final_state_and_the_tombstone_key() -> None:
    q = Queue()
    h = handler("for", q)
    gone = owned(name="x")
    h.on_delete(gone)
    h.on_delete(DeletedFinalStateUnknown("ns/y", owned(name="stale")))
    assert q.keys == ["ns/x", "ns/y"]
    assert q.deleted == [("ns/x", gone), ("ns/y", owned(name="stale"))]
    h.on_update(owned(name="x", rv="1"), owned(name="z", rv="2"))  # own key of the new object
    assert q.keys[-1:] == ["ns/z"]


def test_filters_apply_to_each_event_kind() -> None:
    q = Queue()
    h = handler("for", q, (generation_changed,))
    h.on_update(owned(name="x", rv="1", gen=1), owned(name="x", rv="2", gen=1))
    assert q.keys == []
    h.on_update(owned(name="x", rv="2", gen=1), owned(name="x", rv="3", gen=2))
    assert q.keys == ["ns/x"]


def test_a_failing_mapper_drops_the_event_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    q = Queue()

    def mapper(o: Any) -> list[str]:
        raise KeyError("spec")

    h = handler("watches", q, mapper=mapper)
    h.on_add(owned(), False)
    assert q.keys == [] and "dropped" in caplog.text


def test_watches_enqueues_what_the_mapper_returns_once_each() -> None:
    q = Queue()
    h = handler("watches", q, mapper=lambda o: ["ns/one", "ns/two"])
    h.on_update(owned(rv="1"), owned(rv="2"))
    assert q.keys == ["ns/one", "ns/two"]


def test_every_enqueued_key_is_logged_at_debug_with_its_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    q = Queue()
    h = handler("owns", q)
    with caplog.at_level(logging.DEBUG, logger="kubeloop.runtime"):
        h.on_add(owned(new_controller_ref(foo("a", "u-a"))), False)
        h.on_add(owned(), False)  # no owner: nothing queued, nothing logged
    assert q.keys == ["ns/a"]
    assert [r.getMessage() for r in caplog.records] == ["foo: Enqueued 'ns/a' (owns)"]
