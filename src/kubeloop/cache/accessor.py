"""Read object metadata without assuming what the object is.

The cache layer never indexes into ``obj["metadata"]`` itself: every read of a
name, namespace, resourceVersion, uid, labels, annotations or
deletionTimestamp goes through this module, like apimachinery's
``meta.Accessor``. Two shapes are understood:

- plain mappings as decoded from JSON (``{"metadata": {"name": ...}}``);
- attribute-style typed objects (msgspec Structs, dataclasses, ...) whose
  ``metadata`` attribute carries either the camelCase attribute names or the
  usual snake_case ones (``resource_version``, ``deletion_timestamp``).

So a typed model flows through reflector, DeltaFIFO, indexer and listers
unchanged::

    >>> get_name({"metadata": {"name": "web", "namespace": "default"}})
    'web'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeloop.errors import KubeloopError

__all__ = [
    "MissingMetadataError",
    "get_annotations",
    "get_deletion_timestamp",
    "get_labels",
    "get_metadata",
    "get_name",
    "get_namespace",
    "get_namespace_and_name",
    "get_resource_version",
    "get_uid",
]


class MissingMetadataError(KubeloopError, TypeError):
    """The object has no ``metadata`` that this module can read."""


_MISSING = object()

# Whether a type is a Mapping, remembered per type: the ABC check costs more
# than the read it guards, and typed objects (msgspec Structs) are read on
# every event, several times.
_mapping_types: dict[type, bool] = {dict: True}


def _is_mapping(obj: Any) -> bool:
    kind = type(obj)
    known = _mapping_types.get(kind)
    if known is None:
        known = _mapping_types[kind] = isinstance(obj, Mapping)
    return known


def get_metadata(obj: Any) -> Any:
    """The object's metadata (a mapping or an attribute-style object).

    Raises :class:`MissingMetadataError` when the object has none.
    """
    # Decoded JSON is a mapping; a typed object carries an attribute.
    md = obj.get("metadata", _MISSING) if _is_mapping(obj) else getattr(obj, "metadata", _MISSING)
    if md is _MISSING or md is None:
        raise MissingMetadataError(f"object of type {type(obj).__name__} has no metadata")
    return md


def _read(md: Any, camel: str, snake: str) -> Any:
    if _is_mapping(md):
        return md.get(camel)
    value = getattr(md, snake, None)
    if value is None and snake != camel:
        value = getattr(md, camel, None)
    return value


def _field(obj: Any, camel: str, snake: str) -> Any:
    return _read(get_metadata(obj), camel, snake)


def get_namespace_and_name(obj: Any) -> tuple[str, str]:
    """``(namespace, name)`` with one metadata lookup (what a key needs)."""
    md = get_metadata(obj)
    return _read(md, "namespace", "namespace") or "", _read(md, "name", "name") or ""


def get_name(obj: Any) -> str:
    return _field(obj, "name", "name") or ""


def get_namespace(obj: Any) -> str:
    return _field(obj, "namespace", "namespace") or ""


def get_resource_version(obj: Any) -> str:
    if type(obj) is dict:  # fast path: every watch event reads it
        md = obj.get("metadata")
        if type(md) is dict:
            return md.get("resourceVersion") or ""
    return _field(obj, "resourceVersion", "resource_version") or ""


def get_uid(obj: Any) -> str:
    return _field(obj, "uid", "uid") or ""


def _str_map(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    return dict(value)


def get_labels(obj: Any) -> dict[str, str]:
    """The labels (an empty dict when there are none). Treat as read-only."""
    return _str_map(_field(obj, "labels", "labels"))


def get_annotations(obj: Any) -> dict[str, str]:
    """The annotations (an empty dict when there are none). Treat as read-only."""
    return _str_map(_field(obj, "annotations", "annotations"))


def get_deletion_timestamp(obj: Any) -> Any:
    """The deletionTimestamp as the object carries it (a string or a datetime),
    or None when the object is not being deleted."""
    return _field(obj, "deletionTimestamp", "deletion_timestamp")
