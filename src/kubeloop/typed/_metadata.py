"""Objects read for their metadata only: meta.k8s.io/v1 ``PartialObjectMetadata``.

Asked with ``Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1``
(``...;as=PartialObjectMetadataList;...`` for a LIST), the API server sends
any resource's objects as their ``metadata`` alone, so a cache of them holds
names, labels and ownerReferences but no spec or status::

    obj = decode_partial(body, "GET deployments/web")
    obj.metadata.owner_references        # what owns() reads
    obj.kind                             # "PartialObjectMetadata"

A response is one of three things, and each is read as what it is:

- what was asked: kind ``PartialObjectMetadata`` (``...List``), apiVersion
  ``meta.k8s.io/v1``;
- the full object (``...List`` of it): a server that cannot transform, such
  as an aggregated API server, takes the Accept header's last choice, plain
  ``application/json``. Its metadata is read and the rest skipped while
  decoding, as client-go's metadata client does; apiVersion and kind stay
  the object's own (the list's, for list items), which are the real ones;
- anything else (a ``Table``, an object with no ``metadata``): refused with
  :class:`~kubeloop.errors.DecodeError`, rather than cached as empty
  objects or, for a list, as an empty list.
"""

from __future__ import annotations

import msgspec

from kubeloop.errors import DecodeError
from kubeloop.typed._meta import ListMeta, Model, ObjectMeta

__all__ = [
    "META_API_VERSION",
    "PARTIAL_KIND",
    "PARTIAL_LIST_KIND",
    "PartialObjectMetadata",
    "PartialObjectMetadataList",
    "check_partial",
    "decode_partial",
    "decode_partial_list",
    "is_likely_object_metadata",
]

META_API_VERSION = "meta.k8s.io/v1"
PARTIAL_KIND = "PartialObjectMetadata"
PARTIAL_LIST_KIND = "PartialObjectMetadataList"


class PartialObjectMetadata(Model, kw_only=True):
    """Any object read for its metadata only (a metadata-only informer's
    objects, or a watch BOOKMARK, which carries nothing but
    ``metadata.resourceVersion`` and annotations)."""

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)

    def __post_init__(self) -> None:
        # Every object of a metadata-only cache says the same two strings:
        # share them instead of keeping one copy each.
        if self.kind == PARTIAL_KIND:
            self.kind = PARTIAL_KIND
        if self.api_version == META_API_VERSION:
            self.api_version = META_API_VERSION


class PartialObjectMetadataList(Model, kw_only=True):
    """A LIST answered as ``PartialObjectMetadataList`` (or, by a server
    that cannot, as the resource's own list)."""

    api_version: str = ""
    kind: str = ""
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[PartialObjectMetadata] | None = None


_decoder = msgspec.json.Decoder(PartialObjectMetadata)
_list_decoder = msgspec.json.Decoder(PartialObjectMetadataList)


def is_likely_object_metadata(obj: PartialObjectMetadata) -> bool:
    """Whether ``obj`` has the metadata of a stored object (a uid, a creation
    time or a name), as opposed to some other document decoded leniently."""
    md = obj.metadata
    return bool(md.uid or md.creation_timestamp or md.name or md.generate_name)


def check_partial(obj: PartialObjectMetadata, what: str) -> PartialObjectMetadata:
    """``obj`` if it is metadata as asked or an object's own; else DecodeError."""
    if obj.kind == PARTIAL_KIND or is_likely_object_metadata(obj):
        return obj
    kind = obj.kind or "a document without a kind"
    raise DecodeError(
        f"{what}: the server answered {kind} ({obj.api_version or 'no apiVersion'}), "
        f"neither {PARTIAL_KIND} nor an object with metadata"
    )


def decode_partial(data: bytes, what: str) -> PartialObjectMetadata:
    """One object's metadata from a GET or PATCH body (see the module docs)."""
    try:
        obj = _decoder.decode(data)
    except msgspec.DecodeError as err:
        raise DecodeError(f"{what}: response does not decode as {PARTIAL_KIND}: {err}") from err
    return check_partial(obj, what)


def decode_partial_list(data: bytes, what: str) -> PartialObjectMetadataList:
    """A LIST body's items as metadata (see the module docs)."""
    try:
        lst = _list_decoder.decode(data)
    except msgspec.DecodeError as err:
        raise DecodeError(
            f"{what}: response does not decode as {PARTIAL_LIST_KIND}: {err}"
        ) from err
    if lst.kind == PARTIAL_LIST_KIND:
        return lst
    if not lst.kind.endswith("List"):
        raise DecodeError(
            f"{what}: the server answered {lst.kind or 'a document without a kind'}, "
            f"neither {PARTIAL_LIST_KIND} nor a list of the resource"
        )
    # The resource's own list: its items lack kind and apiVersion (the
    # server leaves them out of lists); they are the list's, less "List".
    kind, api_version = lst.kind[: -len("List")], lst.api_version
    for item in lst.items or ():
        check_partial(item, what)
        if not item.kind:
            item.kind, item.api_version = kind, api_version
    return lst
