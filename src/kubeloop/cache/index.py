"""Index functions: secondary keys for the cache.

An index function maps an object to the list of values it should be found
under; an :class:`~kubeloop.cache.indexer.Indexer` keeps, per index name,
``value -> set(keys)``. Every informer built by the factory carries the
namespace index, so listers can read one namespace without a full scan::

    >>> meta_namespace_index_func({"metadata": {"name": "a", "namespace": "prod"}})
    ['prod']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeloop.cache.accessor import get_namespace
from kubeloop.errors import KubeloopError

__all__ = [
    "NAMESPACE_INDEX",
    "IndexConflictError",
    "IndexFunc",
    "IndexNotFoundError",
    "Indexers",
    "meta_namespace_index_func",
]

#: Maps an object to the index values it is filed under.
IndexFunc = Callable[[Any], list[str]]

#: Index name -> index function.
Indexers = dict[str, IndexFunc]

#: The name every factory-built informer indexes namespaces under.
NAMESPACE_INDEX = "namespace"


class IndexNotFoundError(KubeloopError, KeyError):
    """The index name asked for was never registered."""


class IndexConflictError(KubeloopError, ValueError):
    """add_indexers was given a name that is already registered."""


def meta_namespace_index_func(obj: Any) -> list[str]:
    """Index by namespace (``""`` for cluster-scoped objects)."""
    return [get_namespace(obj)]
