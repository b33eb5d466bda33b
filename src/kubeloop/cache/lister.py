"""Listers: read-only, selector-aware views of an informer's cache.

Controllers read through listers, never through the API server, in their
sync loop::

    pods = Lister(informer.get_indexer(), resource="pods")
    web = pods.namespaced("prod").list("app=web")
    pod = pods.namespaced("prod").get("web-0")   # raises NotFound

Objects are the cached ones, shared with every handler: do not mutate them.

A lister of a typed model says so in its type, so reads are checked::

    nets: Lister[Network] = factory.lister_for(Network)
    net = nets.namespaced("prod").get("n1")      # a Network
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, overload

from kubeloop.cache.accessor import get_labels
from kubeloop.cache.index import NAMESPACE_INDEX
from kubeloop.cache.indexer import Indexer
from kubeloop.cache.labels import Selector, parse_selector
from kubeloop.errors import NotFound

__all__ = ["Lister", "NamespaceLister"]

SelectorLike = str | Mapping[str, str] | Selector | None
T = TypeVar("T")


def _not_found(resource: str, name: str) -> NotFound:
    message = f'{resource} "{name}" not found' if resource else f'"{name}" not found'
    details = {"name": name, "kind": resource}
    status = {"code": 404, "reason": "NotFound", "message": message, "details": details}
    return NotFound(404, "NotFound", message, status)


def _filter(objs: list[T], selector: Selector) -> list[T]:
    if selector.empty():
        return objs
    return [obj for obj in objs if selector.matches(get_labels(obj))]


class Lister(Generic[T]):
    """Lists and gets objects of one resource from an indexer.

    ``model`` only types the lister (``Lister[Network]``); without it the
    objects are ``Any`` (dicts, as decoded).
    """

    @overload
    def __init__(self: Lister[Any], indexer: Indexer, resource: str = "") -> None: ...

    @overload
    def __init__(self, indexer: Indexer, resource: str = "", *, model: type[T]) -> None: ...

    def __init__(self, indexer: Indexer, resource: str = "", *, model: Any = None) -> None:
        self._indexer = indexer
        self._resource = resource

    def list(self, label_selector: SelectorLike = None) -> builtins.list[T]:
        """Every cached object matching the selector."""
        return _filter(self._indexer.list(), parse_selector(label_selector))

    def get(self, name: str) -> T:
        """A cluster-scoped object by name; raises NotFound."""
        obj, exists = self._indexer.get_by_key(name)
        if not exists:
            raise _not_found(self._resource, name)
        found: T = obj
        return found

    def namespaced(self, namespace: str) -> NamespaceLister[T]:
        return NamespaceLister(self._indexer, namespace, self._resource)


class NamespaceLister(Generic[T]):
    """The objects of one namespace."""

    def __init__(self, indexer: Indexer, namespace: str, resource: str = "") -> None:
        self._indexer = indexer
        self._namespace = namespace
        self._resource = resource

    def list(self, label_selector: SelectorLike = None) -> builtins.list[T]:
        """The namespace's objects matching the selector (via the namespace
        index when there is one, else by scanning)."""
        selector = parse_selector(label_selector)
        if not self._namespace:  # metav1.NamespaceAll
            return _filter(self._indexer.list(), selector)
        if NAMESPACE_INDEX in self._indexer.get_indexers():
            objs = self._indexer.by_index(NAMESPACE_INDEX, self._namespace)
        else:
            prefix = f"{self._namespace}/"
            objs = []
            for key in self._indexer.list_keys():
                if key.startswith(prefix):
                    obj, exists = self._indexer.get_by_key(key)
                    if exists:
                        objs.append(obj)
        return _filter(objs, selector)

    def get(self, name: str) -> T:
        """The object ``namespace/name``; raises NotFound."""
        obj, exists = self._indexer.get_by_key(f"{self._namespace}/{name}")
        if not exists:
            raise _not_found(self._resource, name)
        found: T = obj
        return found
