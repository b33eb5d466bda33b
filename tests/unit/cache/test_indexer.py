"""Store and index behaviour (store_test.go, thread_safe_store_test.go, index_test.go)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kubeloop.cache import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    IndexConflictError,
    Indexer,
    IndexNotFoundError,
    get_labels,
    meta_namespace_index_func,
    meta_namespace_key_func,
)

from .helpers import pod


def by_label(label: str) -> Any:
    def index(obj: Any) -> list[str]:
        value = get_labels(obj).get(label)
        return [value] if value is not None else []

    return index


def multi_label_index(obj: Any) -> list[str]:
    # e.g. an object filed under every one of its comma-separated "users".
    users = get_labels(obj).get("users", "")
    return [u for u in users.split(",") if u]


def test_store_basic_operations() -> None:
    # store_test.go doTestStore
    store = Indexer(meta_namespace_key_func)
    store.add(pod("foo", rv="1"))
    obj, exists = store.get(pod("foo"))
    assert exists and obj["metadata"]["resourceVersion"] == "1"

    store.update(pod("foo", rv="2"))
    obj, exists = store.get_by_key("foo")
    assert exists and obj["metadata"]["resourceVersion"] == "2"

    store.delete(pod("foo"))
    assert store.get(pod("foo")) == (None, False)

    for name in ("a", "b", "c"):
        store.add(pod(name))
    assert sorted(store.list_keys()) == ["a", "b", "c"]
    assert sorted(o["metadata"]["name"] for o in store.list()) == ["a", "b", "c"]

    store.replace([pod("foo"), pod("bar")], "0")
    assert sorted(store.list_keys()) == ["bar", "foo"]
    store.resync()  # a no-op for a store
    assert len(store) == 2


def test_delete_of_unknown_key_is_a_noop() -> None:
    store = Indexer(meta_namespace_key_func)
    store.delete(pod("ghost"))
    assert store.list() == []


def test_default_key_func_accepts_tombstones() -> None:
    store = Indexer()
    store.add(pod("a", "ns"))
    store.delete(DeletedFinalStateUnknown("ns/a", pod("a", "ns")))
    assert store.list_keys() == []


def test_get_index_func_values() -> None:
    # index_test.go TestGetIndexFuncValues
    index = Indexer(meta_namespace_key_func, {"testmodes": by_label("foo")})
    index.add(pod("one", labels={"foo": "bar"}))
    index.add(pod("tre", labels={"foo": "bar"}))
    index.add(pod("two", labels={"foo": "bar"}))
    index.add(pod("bar1", labels={"foo": "biz"}))
    assert sorted(index.list_index_func_values("testmodes")) == ["bar", "biz"]


def test_multi_index_keys() -> None:
    # index_test.go TestMultiIndexKeys
    index = Indexer(meta_namespace_key_func, {"byUser": multi_label_index})
    index.add(pod("one", labels={"users": "ernie,bert"}))
    index.add(pod("two", labels={"users": "bert,oscar"}))
    index.add(pod("tre", labels={"users": "ernie,elmo"}))

    expected = {"ernie": {"one", "tre"}, "bert": {"one", "two"}, "elmo": {"tre"}, "oscar": {"two"}}
    for user, keys in expected.items():
        assert set(index.index_keys("byUser", user)) == keys

    ernies_pods = index.by_index("byUser", "ernie")
    assert sorted(p["metadata"]["name"] for p in ernies_pods) == ["one", "tre"]
    # index() is the union over every value the probe object produces.
    probe = pod("x", labels={"users": "oscar,elmo"})
    assert sorted(p["metadata"]["name"] for p in index.index("byUser", probe)) == ["tre", "two"]

    # Update: "one" drops bert, gains oscar.
    index.update(pod("one", labels={"users": "ernie,oscar"}))
    assert set(index.index_keys("byUser", "bert")) == {"two"}
    assert set(index.index_keys("byUser", "oscar")) == {"one", "two"}

    # Delete: "two" leaves every index value; "bert" disappears entirely.
    index.delete(pod("two"))
    assert index.index_keys("byUser", "bert") == []
    assert "bert" not in index.list_index_func_values("byUser")


def recording_app_index(seen: list[str]) -> Any:
    """Files a pod under its ``app`` label and records the resourceVersion of
    every object it is asked about."""

    def index(obj: Any) -> list[str]:
        seen.append(obj["metadata"]["resourceVersion"])
        return [obj["metadata"]["labels"]["app"]]

    return index


def test_update_with_unchanged_single_value_leaves_index_untouched() -> None:
    """The common update (one indexed value, unchanged) skips the index work,
    but only after asking the index function about both the stored object and
    the new one: the skip must come from comparing them."""
    seen: list[str] = []
    index = Indexer(meta_namespace_key_func, {"app": recording_app_index(seen)})
    index.add(pod("a", rv="1", labels={"app": "web"}))
    index.add(pod("b", rv="1", labels={"app": "web"}))
    seen.clear()
    index.update(pod("a", rv="2", labels={"app": "web"}))
    assert sorted(seen) == ["1", "2"]  # the stored "a" and the update, once each
    assert sorted(index.index_keys("app", "web")) == ["a", "b"]
    assert index.list_index_func_values("app") == ["web"]
    # The index is untouched, the object is not: lookups return the update.
    by_name = {p["metadata"]["name"]: p for p in index.by_index("app", "web")}
    assert by_name["a"]["metadata"]["resourceVersion"] == "2"


def test_update_with_a_changed_single_value_moves_the_key() -> None:
    """The skip above must not swallow a change of the one value."""
    index = Indexer(meta_namespace_key_func, {"app": recording_app_index([])})
    index.add(pod("a", rv="1", labels={"app": "web"}))
    index.add(pod("b", rv="1", labels={"app": "web"}))
    index.update(pod("a", rv="2", labels={"app": "db"}))
    assert index.index_keys("app", "web") == ["b"]
    assert index.index_keys("app", "db") == ["a"]
    index.update(pod("b", rv="2", labels={"app": "db"}))
    assert index.index_keys("app", "web") == []
    assert "web" not in index.list_index_func_values("app")
    assert sorted(index.index_keys("app", "db")) == ["a", "b"]


def test_index_error_on_unknown_index_name() -> None:
    index = Indexer(meta_namespace_key_func, {})
    with pytest.raises(IndexNotFoundError):
        index.by_index("nope", "x")
    with pytest.raises(IndexNotFoundError):
        index.index_keys("nope", "x")
    with pytest.raises(IndexNotFoundError):
        index.index("nope", pod("a"))
    with pytest.raises(IndexNotFoundError):
        index.list_index_func_values("nope")


def test_add_indexers_indexes_existing_items_and_rejects_conflicts() -> None:
    # thread_safe_store_test.go TestThreadSafeStoreAddIndexers
    index = Indexer(meta_namespace_key_func, {NAMESPACE_INDEX: meta_namespace_index_func})
    index.add(pod("a", "ns1", labels={"app": "x"}))
    index.add(pod("b", "ns2", labels={"app": "x"}))
    index.add_indexers({"app": by_label("app")})
    assert sorted(index.index_keys("app", "x")) == ["ns1/a", "ns2/b"]
    with pytest.raises(IndexConflictError):
        index.add_indexers({NAMESPACE_INDEX: meta_namespace_index_func})
    assert set(index.get_indexers()) == {NAMESPACE_INDEX, "app"}


def test_replace_rebuilds_every_index() -> None:
    index = Indexer(meta_namespace_key_func, {NAMESPACE_INDEX: meta_namespace_index_func})
    index.add(pod("old", "gone"))
    index.replace([pod("a", "ns1"), pod("b", "ns1"), pod("c", "ns2")], "5")
    assert sorted(index.list_index_func_values(NAMESPACE_INDEX)) == ["ns1", "ns2"]
    assert sorted(index.index_keys(NAMESPACE_INDEX, "ns1")) == ["ns1/a", "ns1/b"]
    assert index.index_keys(NAMESPACE_INDEX, "gone") == []


def test_index_func_error_leaves_store_unchanged() -> None:
    def broken(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("boom")
        return ["ok"]

    index = Indexer(meta_namespace_key_func, {"b": broken})
    index.add(pod("good"))
    with pytest.raises(RuntimeError):
        index.add(pod("bad"))
    assert index.list_keys() == ["good"]
    assert index.index_keys("b", "ok") == ["good"]


def test_concurrent_writers_keep_index_consistent() -> None:
    index = Indexer(meta_namespace_key_func, {NAMESPACE_INDEX: meta_namespace_index_func})

    def writer(ns: str) -> None:
        for i in range(300):
            index.add(pod(f"p{i % 20}", ns, rv=str(i)))
            if i % 3 == 0:
                index.delete(pod(f"p{(i + 7) % 20}", ns))

    threads = [threading.Thread(target=writer, args=(f"ns{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ns in index.list_index_func_values(NAMESPACE_INDEX):
        for key in index.index_keys(NAMESPACE_INDEX, ns):
            obj, exists = index.get_by_key(key)
            assert exists and obj["metadata"]["namespace"] == ns
    indexed = sum(len(index.index_keys(NAMESPACE_INDEX, ns)) for ns in ("ns0", "ns1", "ns2", "ns3"))
    assert indexed == len(index)


# -- transactions (client-go's threadSafeMap.Transaction) ----------------------


def test_a_transaction_applies_adds_updates_and_deletes_and_reports_each() -> None:
    index = Indexer(meta_namespace_key_func, {NAMESPACE_INDEX: meta_namespace_index_func})
    index.add(pod("kept", "ns"))
    index.add(pod("gone", "ns"))
    old = pod("kept", "ns")
    new = {**old, "metadata": {**old["metadata"], "resourceVersion": "2"}}
    results = index.transaction(
        [(False, new), (True, pod("gone", "ns")), (False, pod("fresh", "other"))]
    )
    assert results == [(old, True), (None, False), (None, False)]
    assert sorted(index.list_keys()) == ["ns/kept", "other/fresh"]
    assert index.get_by_key("ns/kept") == (new, True)
    assert index.index_keys(NAMESPACE_INDEX, "ns") == ["ns/kept"]


def test_a_transaction_keeps_out_only_the_ops_that_fail() -> None:
    def broken(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("boom")
        return ["ok"]

    index = Indexer(meta_namespace_key_func, {"b": broken})
    results = index.transaction([(False, pod("a")), (False, pod("bad")), (False, "no key")])
    assert results[0] == (None, False)
    assert isinstance(results[1], RuntimeError) and isinstance(results[2], Exception)
    assert index.list_keys() == ["a"]


def test_no_reader_sees_part_of_a_transaction() -> None:
    inside, release = threading.Event(), threading.Event()

    def gated(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "first":
            inside.set()
            assert release.wait(10)
        return []

    index = Indexer(meta_namespace_key_func, {"g": gated})
    writer = threading.Thread(
        target=index.transaction, args=([(False, pod("first")), (False, pod("second"))],)
    )
    writer.start()
    assert inside.wait(10)  # the writer holds the store, between its two ops
    seen: list[list[str]] = []
    reader = threading.Thread(target=lambda: seen.append(sorted(index.list_keys())))
    reader.start()
    # What must not happen cannot be awaited: a short bound shows the reader
    # waiting for the transaction rather than reading half of it.
    reader.join(0.05)
    assert reader.is_alive() and seen == []
    release.set()
    writer.join(10)
    reader.join(10)
    assert not writer.is_alive() and not reader.is_alive()
    assert len(seen[0]) == 2  # all of it
