"""PartialObjectMetadata: reading what a server answers to a metadata request
(the metadata as asked, the full object as a fallback, anything else refused)."""

from __future__ import annotations

import json

import pytest

from kubeloop.errors import DecodeError
from kubeloop.typed import (
    PartialObjectMetadata,
    check_partial,
    decode_partial,
    decode_partial_list,
    is_likely_object_metadata,
)

META = {
    "name": "web",
    "namespace": "prod",
    "uid": "u1",
    "resourceVersion": "7",
    "ownerReferences": [
        {"apiVersion": "x.io/v1", "kind": "Foo", "name": "f", "uid": "u0", "controller": True}
    ],
}


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_a_partial_object_decodes_with_its_metadata_and_shared_type_strings() -> None:
    data = body({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": META})
    a, b = decode_partial(data, "GET"), decode_partial(data, "GET")
    assert a.kind == "PartialObjectMetadata" and a.api_version == "meta.k8s.io/v1"
    assert a.metadata.name == "web" and a.metadata.namespace == "prod"
    refs = a.metadata.owner_references
    assert refs is not None and refs[0].kind == "Foo" and refs[0].controller
    assert a.kind is b.kind and a.api_version is b.api_version


def test_a_full_object_answered_instead_keeps_its_own_kind_and_drops_the_rest() -> None:
    full = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": META, "spec": {"x": 1}}
    obj = decode_partial(body(full), "GET")
    assert (obj.api_version, obj.kind, obj.metadata.name) == ("apps/v1", "Deployment", "web")
    assert not hasattr(obj, "spec")


def test_a_document_without_object_metadata_is_refused() -> None:
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "9"}}
    with pytest.raises(DecodeError, match="answered Table"):
        decode_partial(body(table), "GET deployments/web")
    with pytest.raises(DecodeError, match="does not decode"):
        decode_partial(b"[1, 2]", "GET deployments/web")


def test_a_partial_list_decodes_items_and_list_metadata() -> None:
    item = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": META}
    data = {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "12", "continue": "c1", "remainingItemCount": 3},
        "items": [item, item],
    }
    lst = decode_partial_list(body(data), "LIST")
    assert [i.metadata.name for i in lst.items or ()] == ["web", "web"]
    assert (lst.metadata.resource_version, lst.metadata.continue_) == ("12", "c1")
    assert lst.metadata.remaining_item_count == 3


def test_the_resources_own_list_gives_its_items_the_lists_kind() -> None:
    data = {
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "metadata": {"resourceVersion": "12"},
        "items": [{"metadata": META, "spec": {"replicas": 1}}],
    }
    (item,) = decode_partial_list(body(data), "LIST").items or ()
    assert (item.api_version, item.kind, item.metadata.uid) == ("apps/v1", "Deployment", "u1")


def test_a_list_that_is_not_a_list_of_objects_is_refused_not_read_as_empty() -> None:
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "rows": []}
    with pytest.raises(DecodeError, match="answered Table"):
        decode_partial_list(body(table), "LIST deployments")
    bad_items = {"kind": "DeploymentList", "apiVersion": "apps/v1", "items": [{"metadata": {}}]}
    with pytest.raises(DecodeError, match="neither"):
        decode_partial_list(body(bad_items), "LIST deployments")


def test_likely_object_metadata_needs_a_uid_name_or_creation_time() -> None:
    assert not is_likely_object_metadata(PartialObjectMetadata())
    rv_only = PartialObjectMetadata(kind="PartialObjectMetadata")
    assert check_partial(rv_only, "watch") is rv_only
