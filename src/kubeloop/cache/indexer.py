"""The thread-safe, indexed object store behind every informer (the "cache").

It is client-go's ``cache`` + ``threadSafeMap`` + ``storeIndex`` in one class:
objects keyed by a key function, plus any number of secondary indices::

    >>> idx = Indexer(meta_namespace_key_func, {NAMESPACE_INDEX: meta_namespace_index_func})
    >>> idx.add({"metadata": {"name": "a", "namespace": "prod"}})
    >>> idx.index_keys(NAMESPACE_INDEX, "prod")
    ['prod/a']

Objects are stored as given and handed out as stored: callers must treat them
as read-only (the informer shares them with every handler and lister).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import Any

from kubeloop._locks import YieldingLock
from kubeloop.cache.accessor import get_resource_version
from kubeloop.cache.index import (
    IndexConflictError,
    Indexers,
    IndexFunc,
    IndexNotFoundError,
)
from kubeloop.cache.informer_metrics import GaugeMetric, parse_rv_for_metrics
from kubeloop.cache.keys import (
    DeletedFinalStateUnknown,
    KeyFunc,
    deletion_handling_meta_namespace_key_func,
)

__all__ = ["Indexer"]

_Index = dict[str, set[str]]
# Per index: the index, the values to leave and the values to join.
_IndexChanges = list[tuple[_Index, list[str], list[str]]]


class Indexer:
    """A thread-safe keyed store with secondary indices (client-go's Indexer).

    ``indexers`` maps an index name to a function returning the values an
    object is filed under. With no indexers it is a plain ``Store``.
    ``resource_version_metric``, if given, is set to the resourceVersion of
    what was written last: the object added, updated or deleted, or the
    list passed to ``replace`` (client-go's ``informer_store_resource_version``).
    """

    def __init__(
        self,
        key_func: KeyFunc = deletion_handling_meta_namespace_key_func,
        indexers: Indexers | None = None,
        *,
        resource_version_metric: GaugeMetric | None = None,
    ) -> None:
        self._key_func = key_func
        self._rv_metric = resource_version_metric
        # Guards _items, _indexers and _indices: they change together, so that
        # a reader never sees an object that its indices do not list yet.
        # Yielding: every reconcile reads under it while the informer writes
        # (see kubeloop._locks).
        self._lock = YieldingLock()
        self._items: dict[str, Any] = {}
        self._indexers: Indexers = dict(indexers or {})
        self._indices: dict[str, _Index] = {name: {} for name in self._indexers}

    # -- Store --------------------------------------------------------------

    def add(self, obj: Any) -> None:
        self.upsert(obj)

    def update(self, obj: Any) -> None:
        self.upsert(obj)

    def upsert(self, obj: Any) -> tuple[Any, bool]:
        """Add or replace ``obj``; return ``(previous, existed)``.

        One lock and one key computation instead of ``get`` then ``update``:
        this is the informer's hot path.
        """
        key = self._key_func(obj)
        with self._lock:
            items = self._items
            existed = key in items
            old = items.get(key) if existed else None
            if self._indexers:  # none in a WatchList's temporary store
                changes = self._index_changes(old, obj)
                items[key] = obj
                self._apply_index_changes(key, changes)
            else:
                items[key] = obj
            if self._rv_metric is not None:
                self._record_rv_locked(obj)
        return old, existed

    def delete(self, obj: Any) -> None:
        key = self._key_func(obj)
        with self._lock:
            if self._rv_metric is not None:
                self._record_rv_locked(obj)
            if key not in self._items:
                return
            old = self._items[key]
            changes = self._index_changes(old, None)
            del self._items[key]
            self._apply_index_changes(key, changes)

    def transaction(
        self, ops: Sequence[tuple[bool, Any]]
    ) -> builtins.list[tuple[Any, bool] | Exception]:
        """Apply several writes under one hold of the lock, so that no reader
        sees part of them (client-go's ``threadSafeMap.Transaction``, which
        the informer uses for a batch of deltas). ``ops`` are ``(delete,
        obj)``: a delete, else an add-or-update. Returns, per op, what
        :meth:`upsert` returns (``(None, False)`` for a delete), or the
        exception that kept that op out (its key or an index function
        failed); the other ops are applied all the same.
        """
        results: builtins.list[tuple[Any, bool] | Exception] = []
        keys: builtins.list[str | None] = []
        for _, obj in ops:
            try:
                keys.append(self._key_func(obj))
            except Exception as err:
                keys.append(None)
                results.append(err)
            else:
                results.append((None, False))
        last = None
        with self._lock:
            for i, ((delete, obj), key) in enumerate(zip(ops, keys, strict=True)):
                if key is None:
                    continue
                try:
                    old = self._items.get(key)
                    existed = key in self._items
                    if delete:
                        if existed:
                            changes = self._index_changes(old, None)
                            del self._items[key]
                            self._apply_index_changes(key, changes)
                        results[i] = (None, False)
                    else:
                        changes = self._index_changes(old if existed else None, obj)
                        self._items[key] = obj
                        self._apply_index_changes(key, changes)
                        results[i] = (old, existed)
                    last = obj
                except Exception as err:
                    results[i] = err
            if last is not None and self._rv_metric is not None:
                self._record_rv_locked(last)
        return results

    def get(self, obj: Any) -> tuple[Any, bool]:
        return self.get_by_key(self._key_func(obj))

    def get_by_key(self, key: str) -> tuple[Any, bool]:
        with self._lock:
            if key in self._items:
                return self._items[key], True
        return None, False

    def list(self) -> builtins.list[Any]:
        with self._lock:
            return list(self._items.values())

    def list_keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def replace(self, objs: Iterable[Any], resource_version: str = "") -> None:
        """Swap in a whole new content and rebuild every index."""
        self.replace_keyed({self._key_func(obj): obj for obj in objs}, resource_version)

    def replace_keyed(self, items: dict[str, Any], resource_version: str = "") -> dict[str, Any]:
        """:meth:`replace` with the keys computed already (by this indexer's
        key function); returns the content it replaced, taken in the same
        step, so a caller can tell what a relist added, changed and removed
        without computing every key again."""
        with self._lock:
            previous = self._items
            indices: dict[str, _Index] = {name: {} for name in self._indexers}
            for key, obj in items.items():
                for name, func in self._indexers.items():
                    index = indices[name]
                    for value in func(obj):
                        index.setdefault(value, set()).add(key)
            self._items = items
            self._indices = indices
            if self._rv_metric is not None:
                self._record_rv_locked_str(resource_version)
            return previous

    def _record_rv_locked(self, obj: Any) -> None:
        # A tombstone, or an object without metadata, has no resourceVersion:
        # the gauge keeps its value, as client-go's does.
        if type(obj) is DeletedFinalStateUnknown:
            return
        try:
            rv = get_resource_version(obj)
        except Exception:
            return
        self._record_rv_locked_str(rv)

    def _record_rv_locked_str(self, rv: str) -> None:
        value = parse_rv_for_metrics(rv)
        if value is not None and self._rv_metric is not None:
            self._rv_metric.set(value)

    def bookmark(self, resource_version: str) -> None:
        """A bookmark vouched that the cache is current up to
        ``resource_version``: the store's resourceVersion gauge says so, as
        client-go's ``threadSafeMap.Bookmark`` does (nothing else changes)."""
        with self._lock:
            self._record_rv_locked_str(resource_version)

    def resync(self) -> None:
        """Nothing to do for a store: only queues act on resync."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- Indexer ------------------------------------------------------------

    def index(self, index_name: str, obj: Any) -> builtins.list[Any]:
        """Objects sharing any index value with ``obj`` under ``index_name``."""
        func = self._index_func(index_name)
        values = func(obj)
        with self._lock:
            index = self._indices[index_name]
            if len(values) == 1:
                keys: Iterable[str] = index.get(values[0], ())
            else:
                union: set[str] = set()
                for value in values:
                    union |= index.get(value, set())
                keys = union
            return [self._items[k] for k in keys]

    def index_keys(self, index_name: str, indexed_value: str) -> builtins.list[str]:
        """Keys of the objects filed under ``indexed_value``."""
        self._index_func(index_name)
        with self._lock:
            return list(self._indices[index_name].get(indexed_value, ()))

    def by_index(self, index_name: str, indexed_value: str) -> builtins.list[Any]:
        """Objects filed under ``indexed_value``."""
        self._index_func(index_name)
        with self._lock:
            keys = self._indices[index_name].get(indexed_value, ())
            return [self._items[k] for k in keys]

    def list_index_func_values(self, index_name: str) -> builtins.list[str]:
        """Every value currently present in the index."""
        self._index_func(index_name)
        with self._lock:
            return list(self._indices[index_name])

    def get_indexers(self) -> Indexers:
        with self._lock:
            return dict(self._indexers)

    def add_indexers(self, new_indexers: Indexers) -> None:
        """Register more indices and file every existing object under them."""
        with self._lock:
            clash = set(new_indexers) & set(self._indexers)
            if clash:
                raise IndexConflictError(f"indexer conflict: {sorted(clash)}")
            built: dict[str, _Index] = {}
            for name, func in new_indexers.items():
                index: _Index = {}
                for key, obj in self._items.items():
                    for value in func(obj):
                        index.setdefault(value, set()).add(key)
                built[name] = index
            self._indexers.update(new_indexers)
            self._indices.update(built)

    # -- internals ----------------------------------------------------------

    def _index_func(self, index_name: str) -> IndexFunc:
        with self._lock:
            func = self._indexers.get(index_name)
        if func is None:
            raise IndexNotFoundError(f"index with name {index_name} does not exist")
        return func

    def _index_changes(self, old: Any, new: Any) -> _IndexChanges:
        # Compute every index function before touching anything, so an index
        # function that raises leaves the store unchanged.
        changes: _IndexChanges = []
        for name, func in self._indexers.items():
            old_values = func(old) if old is not None else []
            new_values = func(new) if new is not None else []
            # The common case: one value that did not change. Touch nothing.
            if len(old_values) == 1 and len(new_values) == 1 and old_values[0] == new_values[0]:
                continue
            changes.append((self._indices[name], old_values, new_values))
        return changes

    @staticmethod
    def _apply_index_changes(key: str, changes: _IndexChanges) -> None:
        for index, old_values, new_values in changes:
            for value in old_values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        # Empty sets are dropped so values with no objects
                        # do not accumulate (list_index_func_values).
                        del index[value]
            for value in new_values:
                index.setdefault(value, set()).add(key)
