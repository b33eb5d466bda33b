"""Keys (store.go, index.go) and the metadata accessor, for dicts and typed objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from kubeloop.cache import (
    DeletedFinalStateUnknown,
    KeyFuncError,
    MissingMetadataError,
    deletion_handling_meta_namespace_key_func,
    get_annotations,
    get_deletion_timestamp,
    get_labels,
    get_name,
    get_namespace,
    get_resource_version,
    get_uid,
    meta_namespace_key_func,
    split_meta_namespace_key,
    strip_managed_fields,
)

from .helpers import pod


class ObjectMeta(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str = ""
    namespace: str | None = None
    resource_version: str | None = None
    uid: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    deletion_timestamp: str | None = None
    managed_fields: list[dict[str, Any]] | None = None


class TypedPod(msgspec.Struct, rename="camel"):
    metadata: ObjectMeta
    spec: dict[str, Any] = {}


class FrozenMeta(msgspec.Struct, frozen=True, rename="camel"):
    name: str = ""
    managed_fields: list[dict[str, Any]] | None = None


class FrozenPod(msgspec.Struct, frozen=True):
    metadata: FrozenMeta


@dataclass
class CamelMeta:
    name: str
    namespace: str
    resourceVersion: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class CamelObj:
    metadata: CamelMeta


def test_meta_namespace_key_func() -> None:
    assert meta_namespace_key_func(pod("web", "prod")) == "prod/web"
    assert meta_namespace_key_func(pod("node-1")) == "node-1"
    # An explicit key passes through (client-go's ExplicitKey).
    assert meta_namespace_key_func("ns/explicit") == "ns/explicit"


def test_meta_namespace_key_func_errors_without_meta() -> None:
    with pytest.raises(KeyFuncError):
        meta_namespace_key_func({"spec": {}})
    with pytest.raises(KeyFuncError):
        meta_namespace_key_func(DeletedFinalStateUnknown("ns/a", None))


def test_deletion_handling_key_func_unwraps_tombstone() -> None:
    tombstone = DeletedFinalStateUnknown("prod/web", pod("web", "prod"))
    assert deletion_handling_meta_namespace_key_func(tombstone) == "prod/web"
    assert deletion_handling_meta_namespace_key_func(pod("a", "b")) == "b/a"


@pytest.mark.parametrize(
    ("key", "expected"),
    [("ns/name", ("ns", "name")), ("name", ("", "name")), ("/name", ("", "name"))],
)
def test_split_meta_namespace_key(key: str, expected: tuple[str, str]) -> None:
    assert split_meta_namespace_key(key) == expected


def test_split_meta_namespace_key_rejects_more_than_two_parts() -> None:
    with pytest.raises(KeyFuncError):
        split_meta_namespace_key("a/b/c")


def test_accessor_reads_dicts() -> None:
    obj = pod("web", "prod", rv="7", labels={"app": "web"})
    obj["metadata"].update(
        uid="u1", annotations={"a": "b"}, deletionTimestamp="2026-01-01T00:00:00Z"
    )
    assert get_name(obj) == "web"
    assert get_namespace(obj) == "prod"
    assert get_resource_version(obj) == "7"
    assert get_uid(obj) == "u1"
    assert get_labels(obj) == {"app": "web"}
    assert get_annotations(obj) == {"a": "b"}
    assert get_deletion_timestamp(obj) == "2026-01-01T00:00:00Z"
    assert get_labels(pod("x")) == {}
    assert get_deletion_timestamp(pod("x")) is None


def test_accessor_reads_msgspec_structs() -> None:
    obj = msgspec.json.decode(
        b'{"metadata": {"name": "web", "namespace": "prod", "resourceVersion": "9",'
        b' "uid": "u", "labels": {"app": "web"}, "deletionTimestamp": "t"}}',
        type=TypedPod,
    )
    assert meta_namespace_key_func(obj) == "prod/web"
    assert get_resource_version(obj) == "9"
    assert get_uid(obj) == "u"
    assert get_labels(obj) == {"app": "web"}
    assert get_deletion_timestamp(obj) == "t"
    assert get_annotations(obj) == {}


def test_accessor_reads_camel_case_attributes() -> None:
    obj = CamelObj(CamelMeta("a", "ns", "3", {"x": "y"}))
    assert meta_namespace_key_func(obj) == "ns/a"
    assert get_resource_version(obj) == "3"
    assert get_labels(obj) == {"x": "y"}


def test_accessor_without_metadata_raises() -> None:
    with pytest.raises(MissingMetadataError):
        get_name(object())


def test_strip_managed_fields_dict_and_struct() -> None:
    obj = pod("a", "ns")
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    assert "managedFields" not in strip_managed_fields(obj)["metadata"]

    typed = TypedPod(ObjectMeta(name="a", managed_fields=[{"manager": "m"}]))
    assert strip_managed_fields(typed).metadata.managed_fields is None

    frozen = FrozenPod(FrozenMeta(name="a", managed_fields=[{"manager": "m"}]))
    stripped = strip_managed_fields(frozen)
    assert stripped.metadata.managed_fields is None
    assert stripped.metadata.name == "a"

    tombstone = DeletedFinalStateUnknown("a", None)
    assert strip_managed_fields(tombstone) is tombstone
    assert strip_managed_fields({"no": "meta"}) == {"no": "meta"}
