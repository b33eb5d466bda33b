"""What a resource client's objects are, as a codec: plain dicts
(:data:`DICT_CODEC`), a typed model (:class:`ModelCodec`) or metadata only
(:class:`MetadataCodec`). One :class:`~kubeloop.client.ResourceClient`
(and its async twin) serves all three; only the codec differs, so every
verb means the same whatever the objects are (kube-rs's ``Api<K>`` with
``DynamicObject`` as the untyped case).

::

    codec = ModelCodec(Network)
    net = codec.decode(body, "GET networks/n1")        # a Network
    page = codec.decode_list(list_body, "LIST networks")  # ListPage[Network]
    codec.encode(net)                                  # what the model sets

Why a typed PUT is checked (:meth:`Codec.dropped_fields`): a model skips the
fields it does not know when decoding (a newer CRD version's, another
controller's), so a PUT of the model would delete them on the server
(kube-rs's ``replace`` does, and its users trip on it). The two ways out
were measured (``python bench/typed/bench_decode.py``, 10,000 Networks,
managedFields stripped as informers do): keeping each object's own JSON for
the PUT costs +1,312 bytes per cached object (3,022 against 1,710, 1.77x);
refusing a PUT that would drop fields costs nothing per object, only a GET
at write time. So ``update`` of a model reads the live object first and
raises :class:`~kubeloop.errors.FieldsWouldBeDropped` (naming ``patch`` and
``apply``, which leave unknown fields alone) instead of deleting them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import msgspec
import msgspec.inspect as mi

from kubeloop.client._codec import decode_json, decode_list, decode_model_list, encode_json
from kubeloop.client.types import ListPage, Object
from kubeloop.errors import DecodeError
from kubeloop.typed import (
    PARTIAL_KIND,
    PartialObjectMetadata,
    ResourceT,
    check_partial,
    decode_partial,
    decode_partial_list,
    decoder_for,
    encode,
    write_view,
)

__all__ = [
    "DICT_CODEC",
    "METADATA_ACCEPT",
    "METADATA_LIST_ACCEPT",
    "Codec",
    "DictCodec",
    "MetadataCodec",
    "ModelCodec",
    "unknown_fields",
]

T = TypeVar("T")

#: client-go's Accept headers for metadata (less protobuf): the metadata as
#: asked, else plain JSON, the full object, from a server that cannot.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST_ACCEPT = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


class Codec(Protocol[T]):
    """How a resource client turns bytes into its objects ``T`` and back."""

    #: The Accept header of single-object requests and watches (None: JSON).
    accept: str | None
    #: The Accept header of LIST requests (None: JSON).
    list_accept: str | None
    #: What watch events decode into (None: dicts); see :class:`~kubeloop.client.Watch`.
    watch_model: type[Any] | None
    #: Whether a decoded object holds every field the server sent, so a PUT
    #: of it drops nothing (dicts); False makes ``update`` check first.
    lossless: bool

    def decode(self, data: bytes, what: str) -> T: ...

    def decode_list(self, data: bytes, what: str) -> ListPage[T]: ...

    def encode(self, obj: T) -> bytes: ...

    def name_of(self, obj: T) -> str: ...

    def namespace_of(self, obj: T) -> str | None: ...

    def resource_version_of(self, obj: T) -> str: ...

    def with_resource_version(self, obj: T, resource_version: str) -> T:
        """``obj`` (a copy if need be) carrying that resourceVersion."""
        ...

    def event_converter(self) -> Callable[[Any, str], Any] | None:
        """What a watch applies to each event's object, ``(obj, what)``
        (metadata: checked and typed), or None: as decoded."""
        ...

    def dropped_fields(self, live: bytes, subresource: str | None) -> list[str]:
        """The fields of ``live`` (the object as the server has it) that a
        PUT of a decoded ``T`` would delete, as dotted paths."""
        ...


class DictCodec:
    """Objects as plain dicts (:data:`~kubeloop.client.types.Object`)."""

    accept: str | None = None
    list_accept: str | None = None
    watch_model: type[Any] | None = None
    lossless = True

    def decode(self, data: bytes, what: str) -> Object:
        obj: Object = decode_json(data, what)
        return obj

    def decode_list(self, data: bytes, what: str) -> ListPage[Object]:
        items, rv, cont, remaining = decode_list(data, what)
        return ListPage(items, rv, cont, remaining)

    def encode(self, obj: Object) -> bytes:
        return encode_json(obj)

    def name_of(self, obj: Object) -> str:
        return str(_meta(obj).get("name") or "")

    def namespace_of(self, obj: Object) -> str | None:
        return _meta(obj).get("namespace") or None

    def resource_version_of(self, obj: Object) -> str:
        return str(_meta(obj).get("resourceVersion") or "")

    def with_resource_version(self, obj: Object, resource_version: str) -> Object:
        return {**obj, "metadata": {**_meta(obj), "resourceVersion": resource_version}}

    def event_converter(self) -> Callable[[Any, str], Any] | None:
        return None

    def dropped_fields(self, live: bytes, subresource: str | None) -> list[str]:
        return []


DICT_CODEC = DictCodec()


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class ModelCodec(Generic[ResourceT]):
    """Objects as the typed model ``ResourceT``, decoded straight from the
    bytes; writes encode what the model sets (managedFields left out)."""

    accept: str | None = None
    list_accept: str | None = None
    lossless = False

    def __init__(self, model: type[ResourceT]) -> None:
        self.model = model
        self.watch_model: type[Any] | None = model
        self._decoder = decoder_for(model)

    def decode(self, data: bytes, what: str) -> ResourceT:
        try:
            obj: ResourceT = self._decoder.decode(data)
        except msgspec.DecodeError as err:  # ValidationError too
            name = self.model.__name__
            raise DecodeError(f"{what}: response does not decode as {name}: {err}") from err
        return obj

    def decode_list(self, data: bytes, what: str) -> ListPage[ResourceT]:
        items, rv, cont, remaining = decode_model_list(data, what, self.model)
        return ListPage(items, rv, cont, remaining)

    def encode(self, obj: ResourceT) -> bytes:
        return encode(write_view(obj))

    def name_of(self, obj: ResourceT) -> str:
        return obj.metadata.name or ""

    def namespace_of(self, obj: ResourceT) -> str | None:
        return obj.metadata.namespace or None

    def resource_version_of(self, obj: ResourceT) -> str:
        return obj.metadata.resource_version or ""

    def with_resource_version(self, obj: ResourceT, resource_version: str) -> ResourceT:
        meta = msgspec.structs.replace(obj.metadata, resource_version=resource_version)
        return msgspec.structs.replace(obj, metadata=meta)

    def event_converter(self) -> Callable[[Any, str], Any] | None:
        return None

    def dropped_fields(self, live: bytes, subresource: str | None) -> list[str]:
        data = decode_json(live, "the live object")
        if subresource:
            data = {subresource: data.get(subresource)} if isinstance(data, dict) else {}
        return unknown_fields(self.model, data)


class MetadataCodec:
    """Objects as :class:`~kubeloop.typed.PartialObjectMetadata`, asked for
    by content negotiation (client-go's metadata client). With a ``kind``
    each says the resource's apiVersion and that kind (what a reader, or an
    ownerReference made from it, needs); what is neither metadata nor an
    object raises :class:`~kubeloop.errors.DecodeError`. Writes other than
    ``patch`` and ``delete`` are refused: there is no object to send."""

    accept: str | None = METADATA_ACCEPT
    list_accept: str | None = METADATA_LIST_ACCEPT
    watch_model: type[Any] | None = PartialObjectMetadata
    lossless = False

    def __init__(self, api_version: str, kind: str = "") -> None:
        self.api_version = api_version
        self.kind = kind

    def typed(self, obj: PartialObjectMetadata) -> PartialObjectMetadata:
        """``obj`` saying the resource's apiVersion and kind, when it said
        only PartialObjectMetadata and the kind is known (shared strings)."""
        if self.kind and obj.kind == PARTIAL_KIND:
            obj.api_version, obj.kind = self.api_version, self.kind
        return obj

    def decode(self, data: bytes, what: str) -> PartialObjectMetadata:
        return self.typed(decode_partial(data, what))

    def decode_list(self, data: bytes, what: str) -> ListPage[PartialObjectMetadata]:
        lst = decode_partial_list(data, what)
        items = [self.typed(item) for item in lst.items or ()]
        meta = lst.metadata
        return ListPage(items, meta.resource_version, meta.continue_, meta.remaining_item_count)

    def encode(self, obj: PartialObjectMetadata) -> bytes:
        raise TypeError(
            "a metadata-only client cannot write whole objects: use patch, or the full client"
        )

    def name_of(self, obj: PartialObjectMetadata) -> str:
        return obj.metadata.name or ""

    def namespace_of(self, obj: PartialObjectMetadata) -> str | None:
        return obj.metadata.namespace or None

    def resource_version_of(self, obj: PartialObjectMetadata) -> str:
        return obj.metadata.resource_version or ""

    def with_resource_version(
        self, obj: PartialObjectMetadata, resource_version: str
    ) -> PartialObjectMetadata:
        meta = msgspec.structs.replace(obj.metadata, resource_version=resource_version)
        return msgspec.structs.replace(obj, metadata=meta)

    def event_converter(self) -> Callable[[Any, str], Any] | None:
        return self.event_object

    def event_object(self, obj: Any, what: str) -> Any:
        return self.typed(check_partial(obj, what))

    def dropped_fields(self, live: bytes, subresource: str | None) -> list[str]:
        return ["spec/status: a metadata-only object has none"]


def unknown_fields(model: Any, value: Any, path: str = "") -> list[str]:
    """The dotted paths in ``value`` (plain JSON) that ``model`` (a type
    msgspec understands) has no field for, so decoding it skips them.

    >>> class Spec(msgspec.Struct):
    ...     size: int = 0
    >>> unknown_fields(Spec, {"size": 1, "color": "blue"})
    ['color']
    """
    return _unknown(mi.type_info(model), value, path)


def _unknown(info: mi.Type, value: Any, path: str) -> list[str]:
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        found: list[str] = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key not in fields:
                found.append(where)
            else:
                found.extend(_unknown(fields[key], item, where))
        return found
    if isinstance(info, mi.UnionType):
        return _first(info.types, lambda t: _unknown(t, value, path), value)
    sequences = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
    if isinstance(info, sequences) and isinstance(value, list):
        item = info.item_type
        return [f for i, v in enumerate(value) for f in _unknown(item, v, f"{path}[{i}]")]
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return [f for k, v in value.items() for f in _unknown(info.value_type, v, f"{path}.{k}")]
    return []  # Any, Raw, scalars: nothing is skipped


def _first(
    types: tuple[mi.Type, ...], check: Callable[[mi.Type], list[str]], value: Any
) -> list[str]:
    """A union: among the members the value's JSON type fits (an object fits
    a struct or a dict), the one with the fewest unknown fields."""
    results = [check(t) for t in types if _fits(t, value)]
    return min(results, key=len) if results else []


def _fits(info: mi.Type, value: Any) -> bool:
    if isinstance(value, dict):
        return isinstance(info, (mi.StructType, mi.DictType, mi.AnyType))
    if isinstance(value, list):
        return isinstance(
            info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType, mi.AnyType)
        )
    return False
