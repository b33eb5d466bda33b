"""DeltaFIFO, case by case after client-go's delta_fifo_test.go."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from kubeloop.cache import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    Deltas,
    DeltaType,
    FIFOClosedError,
    Indexer,
    Queue,
    meta_namespace_key_func,
)

from .helpers import WAIT, pod

ADDED, UPDATED, DELETED = DeltaType.ADDED, DeltaType.UPDATED, DeltaType.DELETED
REPLACED, SYNC = DeltaType.REPLACED, DeltaType.SYNC


def obj(name: str, value: int) -> dict[str, Any]:
    """client-go's mkFifoObj: a named object carrying a value."""
    return {"metadata": {"name": name}, "val": value}


def known(*objs: dict[str, Any]) -> Indexer:
    store = Indexer(meta_namespace_key_func)
    for o in objs:
        store.add(o)
    return store


def pop(f: Queue) -> Deltas:
    return f.pop(lambda deltas, initial: None, timeout=WAIT)


def pop2(f: DeltaFIFO) -> tuple[Deltas, bool]:
    seen: list[bool] = []
    deltas = f.pop(lambda d, initial: seen.append(initial), timeout=WAIT)
    return deltas, seen[0]


def tomb(key: str, o: Any) -> DeletedFinalStateUnknown:
    return DeletedFinalStateUnknown(key, o)


def test_basic_pop_order() -> None:
    # TestDeltaFIFO_basic: two producers, every item popped in per-producer order.
    check_producers_keep_their_order(DeltaFIFO())


def check_producers_keep_their_order(f: Queue) -> None:
    """Two producers add at once; each one's items are popped in its order."""
    amount = 500

    def producer(prefix: str, base: int) -> None:
        for i in range(amount):
            f.add(obj(f"{prefix}{i}", base + i))

    threads = [
        threading.Thread(target=producer, args=("a", 0)),
        threading.Thread(target=producer, args=("b", 1000)),
    ]
    for t in threads:
        t.start()
    last_a = last_b = -1
    for _ in range(amount * 2):
        deltas = pop(f)
        assert deltas[-1].type is ADDED
        value = deltas[-1].object["val"]
        if value < 1000:
            assert value > last_a
            last_a = value
        else:
            assert value > last_b
            last_b = value
    for t in threads:
        t.join()
    assert len(f) == 0


def test_add_update_coalesces_per_key() -> None:
    # TestDeltaFIFO_addUpdate
    f = DeltaFIFO()
    f.add(obj("foo", 10))
    f.update(obj("foo", 12))
    f.delete(obj("foo", 15))
    assert f.list_keys() == ["foo"]
    deltas, exists = f.get(obj("foo", 0))
    assert exists
    assert [(d.type, d.object["val"]) for d in deltas] == [
        (ADDED, 10),
        (UPDATED, 12),
        (DELETED, 15),
    ]
    got = pop(f)
    assert got[-1].object["val"] == 15
    with pytest.raises(TimeoutError):
        f.pop(lambda d, i: None, timeout=0.01)


def test_enqueueing_no_lister() -> None:
    # TestDeltaFIFO_enqueueingNoLister: only the first enqueue decides the order.
    f = DeltaFIFO()
    f.add(obj("foo", 10))
    f.update(obj("bar", 15))
    f.add(obj("qux", 17))
    f.delete(obj("qux", 18))
    # This delete does not enqueue anything: baz is neither queued nor known.
    f.delete(obj("baz", 20))
    expected = {"foo": 10, "bar": 15, "qux": 18}
    for name in ("foo", "bar", "qux"):
        deltas = pop(f)
        assert deltas[-1].object["metadata"]["name"] == name
        assert deltas[-1].object["val"] == expected[name]
    assert f.list_keys() == []


def test_requeue_with_get_by_key_returns_copy() -> None:
    f = DeltaFIFO()
    f.add(obj("foo", 1))
    deltas, _ = f.get_by_key("foo")
    deltas.append(Delta(UPDATED, obj("foo", 2)))
    assert len(f.get_by_key("foo")[0]) == 1
    assert f.get_by_key("nope") == ([], False)


def test_delete_existing_non_propagated() -> None:
    # TestDeltaFIFO_DeleteExistingNonPropagated
    f = DeltaFIFO(known_objects=known())
    f.add(obj("foo", 5))
    f.delete(obj("foo", 6))
    deltas, exists = f.get(obj("foo", 6))
    assert exists
    assert deltas == [Delta(ADDED, obj("foo", 5)), Delta(DELETED, obj("foo", 6))]


def test_delete_of_unknown_object_is_dropped() -> None:
    f = DeltaFIFO(known_objects=known(obj("foo", 5)))
    f.delete(obj("bar", 1))
    assert f.list_keys() == []
    f.delete(obj("foo", 6))
    assert f.list_keys() == ["foo"]


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        # TestDedupDeltas, driven through the queue.
        (["add a1", "del a1"], [(ADDED, "a1"), (DELETED, "a1")]),
        (["add a1", "del a1", "del a2"], [(ADDED, "a1"), (DELETED, "a1")]),
        (["add a1", "del tomb", "del a2"], [(ADDED, "a1"), (DELETED, "a2")]),
        (["add a1", "del a1", "del tomb"], [(ADDED, "a1"), (DELETED, "a1")]),
        (["add a1", "upd a2", "del a2"], [(ADDED, "a1"), (UPDATED, "a2"), (DELETED, "a2")]),
    ],
)
def test_delete_dedup_keeps_the_most_informative(
    ops: list[str], expected: list[tuple[DeltaType, str]]
) -> None:
    f = DeltaFIFO()
    for op in ops:
        verb, what = op.split()
        item: Any = tomb("a", obj("a", 0)) if what == "tomb" else obj("a", int(what[1:]))
        {"add": f.add, "upd": f.update, "del": f.delete}[verb](item)
    deltas = pop(f)

    def describe(d: Delta) -> tuple[DeltaType, str]:
        if isinstance(d.object, DeletedFinalStateUnknown):
            return d.type, "tomb"
        return d.type, f"a{d.object['val']}"

    assert [describe(d) for d in deltas] == expected


def test_resync_queues_sync_for_known_objects() -> None:
    # TestDeltaFIFO_Resync
    f = DeltaFIFO(known_objects=known(obj("foo", 5)))
    f.resync()
    assert pop(f) == [Delta(SYNC, obj("foo", 5))]


def test_resync_non_existing() -> None:
    # TestDeltaFIFO_ResyncNonExisting: a pending delete is not followed by a Sync.
    f = DeltaFIFO(known_objects=known(obj("foo", 5)))
    f.delete(obj("foo", 10))
    f.resync()
    assert pop(f) == [Delta(DELETED, obj("foo", 10))]


def test_update_resync_race() -> None:
    # TestDeltaFIFO_UpdateResyncRace: a stale Sync must not follow a newer Update.
    f = DeltaFIFO(known_objects=known(obj("foo", 5)))
    f.update(obj("foo", 6))
    f.resync()
    assert pop(f) == [Delta(UPDATED, obj("foo", 6))]


def test_resync_without_known_objects_does_nothing() -> None:
    f = DeltaFIFO()
    f.resync()
    assert f.list_keys() == []


def test_replace_makes_deletions() -> None:
    # TestDeltaFIFO_ReplaceMakesDeletions, with a pre-existing Delete.
    f = DeltaFIFO(
        known_objects=known(obj("foo", 5), obj("bar", 6), obj("baz", 7)),
        emit_delta_type_replaced=False,
    )
    f.delete(obj("baz", 10))
    f.replace([obj("foo", 5)], "0")
    assert pop(f) == [Delta(DELETED, obj("baz", 10))]
    assert pop(f) == [Delta(SYNC, obj("foo", 5))]
    # bar had no delete event and is not in the list: a tombstone carrying
    # the known object.
    assert pop(f) == [Delta(DELETED, tomb("bar", obj("bar", 6)))]

    # Starting with an Add instead of a Delete.
    f = DeltaFIFO(
        known_objects=known(obj("foo", 5), obj("bar", 6), obj("baz", 7)),
        emit_delta_type_replaced=False,
    )
    f.add(obj("baz", 10))
    f.replace([obj("foo", 5)], "0")
    assert pop(f) == [
        Delta(ADDED, obj("baz", 10)),
        Delta(DELETED, tomb("baz", obj("baz", 10))),
    ]
    assert pop(f) == [Delta(SYNC, obj("foo", 5))]
    assert pop(f) == [Delta(DELETED, tomb("bar", obj("bar", 6)))]

    # Without known objects only queued keys get tombstones.
    f = DeltaFIFO(emit_delta_type_replaced=False)
    f.add(obj("baz", 10))
    f.replace([obj("foo", 5)], "0")
    assert pop(f) == [
        Delta(ADDED, obj("baz", 10)),
        Delta(DELETED, tomb("baz", obj("baz", 10))),
    ]
    assert pop(f) == [Delta(SYNC, obj("foo", 5))]
    assert f.list_keys() == []


_O = obj("foo", 2)
_O2 = obj("foo", 3)


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param(
            lambda f: (f.add(_O), f.replace([], "0")),
            [Delta(ADDED, _O), Delta(DELETED, tomb("foo", _O))],
            id="added object is deleted on replace",
        ),
        pytest.param(
            lambda f: (f.add(_O), f.replace([_O], "0"), f.replace([], "0")),
            [Delta(ADDED, _O), Delta(REPLACED, _O), Delta(DELETED, tomb("foo", _O))],
            id="replaced object has a single delete",
        ),
        pytest.param(
            lambda f: (f.add(_O), f.delete(_O), f.replace([], "0")),
            [Delta(ADDED, _O), Delta(DELETED, _O)],
            id="deleted object has a single delete",
        ),
        pytest.param(
            lambda f: (f.add(_O), f.replace([_O], "0"), f.replace([_O], "0"), f.replace([], "0")),
            [
                Delta(ADDED, _O),
                Delta(REPLACED, _O),
                Delta(REPLACED, _O),
                Delta(DELETED, tomb("foo", _O)),
            ],
            id="synced object has a single delete",
        ),
        pytest.param(
            lambda f: (f.add(_O), f.replace([], "0"), f.replace([], "1")),
            [Delta(ADDED, _O), Delta(DELETED, tomb("foo", _O))],
            id="added object has a single delete on multiple replaces",
        ),
        pytest.param(
            lambda f: (f.add(_O), f.delete(_O), f.add(_O2), f.replace([], "0")),
            [
                Delta(ADDED, _O),
                Delta(DELETED, _O),
                Delta(ADDED, _O2),
                Delta(DELETED, tomb("foo", _O2)),
            ],
            id="added deleted and added object is deleted",
        ),
    ],
)
def test_replace_makes_deletions_for_objects_only_in_queue(
    operations: Callable[[DeltaFIFO], Any], expected: Deltas
) -> None:
    for f in (DeltaFIFO(known_objects=known()), DeltaFIFO()):
        operations(f)
        assert pop(f) == expected
        assert f.list_keys() == []


def test_replace_with_delete_delta_in() -> None:
    # TestDeltaFIFO_ReplaceWithDeleteDeltaIn
    old = obj("foo", 1)
    new = obj("foo", 2)
    f = DeltaFIFO(known_objects=known(old))
    f.delete(old)
    f.replace([new], "0")
    assert pop(f) == [Delta(DELETED, old), Delta(REPLACED, new)]


def test_replace_delta_type() -> None:
    # TestDeltaFIFO_ReplaceDeltaType
    f = DeltaFIFO(known_objects=known(obj("foo", 5)))
    f.replace([obj("foo", 5)], "0")
    assert pop(f) == [Delta(REPLACED, obj("foo", 5))]


def test_replace_tombstone_of_queued_tombstone_unwraps_it() -> None:
    f = DeltaFIFO(known_objects=known(obj("foo", 1)))
    f.replace([], "0")  # tombstone carrying the known foo
    f.replace([], "1")  # second tombstone: unwraps, dedup keeps one
    assert pop(f) == [Delta(DELETED, tomb("foo", obj("foo", 1)))]


def test_detect_line_jumpers() -> None:
    # TestDeltaFIFO_detectLineJumpers: updates keep a key's place in line.
    f = DeltaFIFO()
    f.add(obj("foo", 10))
    f.add(obj("bar", 1))
    f.add(obj("foo", 11))
    f.add(obj("foo", 13))
    f.add(obj("zab", 30))
    assert pop(f)[-1].object["val"] == 13
    f.add(obj("foo", 14))  # ensure foo doesn't jump back in line
    assert pop(f)[-1].object["val"] == 1
    assert pop(f)[-1].object["val"] == 30
    assert pop(f)[-1].object["val"] == 14


def test_add_replace() -> None:
    # TestDeltaFIFO_addReplace: a waiting pop gets the replaced item.
    f = DeltaFIFO()
    f.add(obj("foo", 10))
    f.replace([obj("foo", 15)], "0")
    got: list[Deltas] = []
    t = threading.Thread(target=lambda: got.append(pop(f)))
    t.start()
    t.join(WAIT)
    assert got[0][-1].object["val"] == 15
    with pytest.raises(TimeoutError):
        f.pop(lambda d, i: None, timeout=0.01)


def test_key_of() -> None:
    # TestDeltaFIFO_KeyOf
    check_key_of(DeltaFIFO().key_of)


def check_key_of(key_of: Callable[[Any], str]) -> None:
    """A FIFO names an object, a tombstone and a Deltas list (by its newest)."""
    assert key_of(obj("A", 1)) == "A"
    assert key_of(tomb("B", obj("B", 1))) == "B"
    assert key_of([Delta(ADDED, obj("C", 1))]) == "C"
    assert key_of([Delta(DELETED, tomb("D", None))]) == "D"


@pytest.mark.parametrize(
    ("actions", "synced"),
    [
        ([], False),
        (["add"], True),
        (["replace0"], True),
        (["replace2"], False),
        (["replace2", "pop"], False),
        (["replace2", "pop", "pop"], True),
        (["replace-dup", "pop"], True),
    ],
)
def test_has_synced(actions: list[str], synced: bool) -> None:
    # TestDeltaFIFO_HasSynced
    f = DeltaFIFO()
    for action in actions:
        if action == "add":
            f.add(obj("a", 1))
        elif action == "replace0":
            f.replace([], "0")
        elif action == "replace2":
            f.replace([obj("a", 1), obj("b", 2)], "0")
        elif action == "replace-dup":
            # Duplicate keys in one list count once.
            f.replace([obj("a", 1), obj("a", 2)], "0")
        else:
            pop(f)
    assert f.has_synced() is synced


def test_has_synced_correct_on_deletion() -> None:
    # TestDeltaFIFO_HasSyncedCorrectOnDeletion: the tombstones of the first
    # replace belong to the initial list and must be popped before synced.
    f = DeltaFIFO(known_objects=known(obj("foo", 5), obj("bar", 6), obj("baz", 7)))
    f.replace([obj("foo", 5)], "0")
    expected = [
        [Delta(REPLACED, obj("foo", 5))],
        [Delta(DELETED, tomb("bar", obj("bar", 6)))],
        [Delta(DELETED, tomb("baz", obj("baz", 7)))],
    ]
    for want in expected:
        assert not f.has_synced()
        deltas, initial = pop2(f)
        assert deltas == want
        assert initial
    assert f.has_synced()


def test_items_after_sync_are_not_in_initial_list() -> None:
    f = DeltaFIFO()
    f.replace([obj("a", 1)], "0")
    assert pop2(f)[1] is True
    f.add(obj("b", 1))
    assert pop2(f)[1] is False


def test_pop_should_unblock_when_closed() -> None:
    # TestDeltaFIFO_PopShouldUnblockWhenClosed
    f = DeltaFIFO(known_objects=known(obj("foo", 5)))
    errors: list[BaseException] = []
    done = threading.Semaphore(0)

    def popper() -> None:
        try:
            f.pop(lambda d, i: None)
        except FIFOClosedError as err:
            errors.append(err)
        done.release()

    threads = [threading.Thread(target=popper) for _ in range(10)]
    for t in threads:
        t.start()
    f.close()
    for _ in threads:
        assert done.acquire(timeout=WAIT), "pop did not return after close"
    assert len(errors) == 10
    assert f.is_closed()


def test_closed_queue_still_hands_out_queued_items() -> None:
    f = DeltaFIFO()
    f.add(obj("a", 1))
    f.close()
    assert pop(f)[-1].object["val"] == 1
    with pytest.raises(FIFOClosedError):
        pop(f)


def test_process_runs_under_the_queue_lock() -> None:
    f = DeltaFIFO()
    f.add(obj("a", 1))
    entered = threading.Event()
    release = threading.Event()
    added = threading.Event()

    def slow(deltas: Deltas, initial: bool) -> None:
        entered.set()
        release.wait(WAIT)

    popper = threading.Thread(target=lambda: f.pop(slow))
    popper.start()
    assert entered.wait(WAIT)
    adder = threading.Thread(target=lambda: (f.add(obj("b", 1)), added.set()))
    adder.start()
    assert not added.wait(0.05), "add must wait for the process function"
    release.set()
    assert added.wait(WAIT)
    popper.join()
    adder.join()


def test_transformer_skips_tombstones_and_sync() -> None:
    # TestDeltaFIFO_transformer
    calls: list[Any] = []

    def transform(o: Any) -> Any:
        calls.append(o)
        return {**o, "transformed": True}

    store = known(obj("known", 1))
    f = DeltaFIFO(known_objects=store, transformer=transform)
    f.add(obj("a", 1))
    f.update(obj("a", 2))
    f.delete(obj("a", 3))
    f.resync()  # Sync of "known": no transform
    f.replace([obj("b", 1)], "0")  # Replaced b transformed; tombstones not
    assert [c["metadata"]["name"] for c in calls] == ["a", "a", "a", "b"]
    a = pop(f)
    # The replace's tombstone for "a" was deduplicated into the real delete.
    assert [d.type for d in a] == [ADDED, UPDATED, DELETED]
    assert all(d.object.get("transformed") for d in a)
    assert pop(f) == [
        Delta(SYNC, obj("known", 1)),
        Delta(DELETED, tomb("known", obj("known", 1))),
    ]
    assert pop(f) == [Delta(REPLACED, {**obj("b", 1), "transformed": True})]


def test_list_returns_newest_objects() -> None:
    f = DeltaFIFO()
    f.add(pod("a", rv="1"))
    f.update(pod("a", rv="2"))
    f.add(pod("b", rv="3"))
    assert sorted(o["metadata"]["resourceVersion"] for o in f.list()) == ["2", "3"]
