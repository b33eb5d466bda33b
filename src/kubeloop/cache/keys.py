"""Object keys: how the cache names an object.

A key is ``"namespace/name"`` for namespaced objects and ``"name"`` for
cluster-scoped ones, exactly as client-go's ``MetaNamespaceKeyFunc``::

    >>> meta_namespace_key_func({"metadata": {"name": "web", "namespace": "prod"}})
    'prod/web'
    >>> split_meta_namespace_key("prod/web")
    ('prod', 'web')

When a watch misses a deletion (it was disconnected, or a relist no longer
shows the object), the cache cannot know the object's final state; it hands
the handler a :class:`DeletedFinalStateUnknown` tombstone carrying the last
state it knew. :func:`deletion_handling_meta_namespace_key_func` returns the
tombstone's key, so stores keyed with it accept tombstones on delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeloop.cache.accessor import MissingMetadataError, get_namespace_and_name
from kubeloop.errors import KubeloopError

__all__ = [
    "DeletedFinalStateUnknown",
    "KeyFunc",
    "KeyFuncError",
    "deletion_handling_meta_namespace_key_func",
    "meta_namespace_key_func",
    "split_meta_namespace_key",
]

#: Maps an object to its store key.
KeyFunc = Callable[[Any], str]


class KeyFuncError(KubeloopError, ValueError):
    """A key could not be computed for an object, or a key could not be split."""


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """A deletion the watch did not see: ``obj`` is the last known state and
    may be stale. Handlers' ``on_delete`` receive it instead of the object."""

    key: str
    obj: Any


def meta_namespace_key_func(obj: Any) -> str:
    """``"namespace/name"``, or ``"name"`` when the namespace is empty.

    A plain string is taken to be a key already (client-go's ExplicitKey).
    """
    if type(obj) is str:
        return obj
    if type(obj) is dict:  # fast path: decoded JSON
        md = obj.get("metadata")
        if type(md) is dict:
            namespace = md.get("namespace")
            name = md.get("name") or ""
            return f"{namespace}/{name}" if namespace else name
    try:
        namespace, name = get_namespace_and_name(obj)
    except MissingMetadataError as err:
        raise KeyFuncError(f"object has no meta: {err}") from err
    if namespace:
        return f"{namespace}/{name}"
    return name


def deletion_handling_meta_namespace_key_func(obj: Any) -> str:
    """Like :func:`meta_namespace_key_func`, but a tombstone yields its key."""
    if type(obj) is DeletedFinalStateUnknown:
        return obj.key
    return meta_namespace_key_func(obj)


def split_meta_namespace_key(key: str) -> tuple[str, str]:
    """Split a key into ``(namespace, name)``; the namespace is ``""`` for
    cluster-scoped keys. More than one ``/`` is an error."""
    parts = key.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise KeyFuncError(f"unexpected key format: {key!r}")
