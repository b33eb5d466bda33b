"""JSON in and out, decoded once, straight from bytes (msgspec).

A LIST body is decoded into a small struct whose ``items`` are plain
objects, so the list envelope never exists as a dict and the items are not
copied afterwards.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubeloop.errors import DecodeError

_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder(Any)


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(name="continue", default="")
    remainingItemCount: int | None = None


class _List(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[Any] | None = None


_list_decoder = msgspec.json.Decoder(_List)


def encode_json(obj: Any) -> bytes:
    return _encoder.encode(obj)


def decode_json(data: bytes, what: str) -> Any:
    try:
        return _any_decoder.decode(data)
    except msgspec.DecodeError as err:
        raise DecodeError(f"{what}: response is not valid JSON: {err}") from err


def decode_list(data: bytes, what: str) -> tuple[list[Any], str, str, int | None]:
    """(items, resourceVersion, continue, remainingItemCount) of a LIST body."""
    try:
        lst = _list_decoder.decode(data)
    except msgspec.DecodeError as err:
        raise DecodeError(f"{what}: list response does not decode: {err}") from err
    meta = lst.metadata
    return lst.items or [], meta.resourceVersion, meta.continue_, meta.remainingItemCount
