"""RealFIFO, case by case after client-go v0.37.2's the_real_fifo_test.go,
then what the port adds: batch pops, atomic relists and unlocking while the
consumer processes, through the queue and through process_deltas.

Every one of the 24 upstream tests is ported (none skipped), under its name
in snake_case:

- TestRealFIFO_basic -> test_real_fifo_basic
- TestRealFIFO_replaceWithDeleteDeltaIn -> test_real_fifo_replace_with_delete_delta_in
- TestRealFIFOW_ReplaceMakesDeletionsForObjectsOnlyInQueue ->
  test_real_fifo_w_replace_makes_deletions_for_objects_only_in_queue
- TestRealFIFO_addUpdate -> test_real_fifo_add_update
- TestRealFIFO_transformer -> test_real_fifo_transformer
- TestRealFIFO_enqueueingNoLister -> test_real_fifo_enqueueing_no_lister
- TestRealFIFO_enqueueingWithLister -> test_real_fifo_enqueueing_with_lister
- TestRealFIFO_addReplace -> test_real_fifo_add_replace
- TestRealFIFO_ResyncNonExisting -> test_real_fifo_resync_non_existing
- TestRealFIFO_Resync -> test_real_fifo_resync
- TestRealFIFO_DeleteExistingNonPropagated -> test_real_fifo_delete_existing_non_propagated
- TestRealFIFO_ReplaceMakesDeletions -> test_real_fifo_replace_makes_deletions
- TestRealFIFO_ReplaceMakesDeletionsReplaced -> test_real_fifo_replace_makes_deletions_replaced
- TestRealFIFO_UpdateResyncRace -> test_real_fifo_update_resync_race
- TestRealFIFO_HasSyncedCorrectOnDeletion -> test_real_fifo_has_synced_correct_on_deletion
- TestRealFIFO_detectLineJumpers -> test_real_fifo_detect_line_jumpers
- TestRealFIFO_KeyOf -> test_real_fifo_key_of
- TestRealFIFO_HasSynced -> test_real_fifo_has_synced
- TestRealFIFO_PopShouldUnblockWhenClosed -> test_real_fifo_pop_should_unblock_when_closed
- TestRealFIFO_PopMultipleDeltaInBatch -> test_real_fifo_pop_multiple_delta_in_batch
- TestRealFIFO_PopBrokenItemsInBatch -> test_real_fifo_pop_broken_items_in_batch
- TestRealFIFO_ReplaceAtomic -> test_real_fifo_replace_atomic
- TestRealFIFO_ReplaceAtomicPop -> test_real_fifo_replace_atomic_pop
- TestRealFIFO_ResyncAtomic -> test_real_fifo_resync_atomic

Where upstream waits 50 ms to see that nothing more arrives, or pops in a
goroutine guarded by a timer, these pop synchronously until the queue is
empty and then check it is: the same claim without a sleep. Where upstream
reaches into the FIFO (``f.items = append(...)``, ``f.emitAtomicEvents =
true``), these use the public constructor and a key function that breaks on
demand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from kubeloop.cache import (
    BookmarkInfo,
    DeletedFinalStateUnknown,
    Delta,
    Deltas,
    DeltaType,
    FIFOClosedError,
    Indexer,
    InformerNameAndResource,
    RealFIFO,
    ReplacedAllInfo,
    SyncAllInfo,
    process_deltas,
)
from kubeloop.cache.informer_metrics import new_fifo_metrics
from kubeloop.cache.testing import RecordingInformerMetricsProvider
from kubeloop.clock import FakeClock

from .helpers import WAIT, Recorder, pod
from .test_delta_fifo import (
    check_key_of,
    check_producers_keep_their_order,
    known,
    obj,
    pop,
    tomb,
)

ID = InformerNameAndResource("test-informer", "", "v1", "pods")

ADDED, UPDATED, DELETED = DeltaType.ADDED, DeltaType.UPDATED, DeltaType.DELETED
REPLACED, SYNC = DeltaType.REPLACED, DeltaType.SYNC
REPLACED_ALL, SYNC_ALL, BOOKMARK = DeltaType.REPLACED_ALL, DeltaType.SYNC_ALL, DeltaType.BOOKMARK
UNLIMITED = 999999


def new_fifo(*objs: dict[str, Any], **kw: Any) -> RealFIFO:
    """A non-atomic RealFIFO whose known objects are ``objs`` (upstream's NewRealFIFO)."""
    return RealFIFO(known_objects=known(*objs), **kw)


def pop_value(f: RealFIFO) -> Any:
    """client-go's testRealFIFOPop, for plain objects: the popped object's value."""
    return pop(f)[-1].object["val"]


def pop_all(f: RealFIFO) -> list[Delta]:
    """client-go's popN(f, len(items)) then collapseDeltas."""
    out: list[Delta] = []
    while len(f):
        out.extend(pop(f))
    return out


def pop_batches(f: RealFIFO) -> tuple[list[list[Delta]], list[list[Delta]]]:
    """Every batch pop_batch hands out until the queue is empty, and those
    flagged as initial list."""
    batches: list[list[Delta]] = []
    initial: list[list[Delta]] = []

    def record(deltas: list[Delta], is_in_initial_list: bool) -> None:
        batches.append(list(deltas))
        if is_in_initial_list:
            initial.append(list(deltas))

    while len(f):
        f.pop_batch(record, record, timeout=WAIT)
    return batches, initial


# -- the upstream cases ---------------------------------------------------------


def test_real_fifo_basic() -> None:
    check_producers_keep_their_order(new_fifo())


def test_real_fifo_replace_with_delete_delta_in() -> None:
    # A relist listing an object whose deletion is queued still queues it
    # (kubernetes#83810: else the informer misses the re-creation).
    old, new = obj("foo", 1), obj("foo", 2)
    f = new_fifo(old)
    f.delete(old)
    f.replace([new], "")
    assert f.queued() == [Delta(DELETED, old), Delta(REPLACED, new)]


_OBJ, _OBJ_V2 = obj("foo", 2), obj("foo", 3)


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param(
            [("add", _OBJ), ("replace", [])],
            [Delta(ADDED, _OBJ), Delta(DELETED, tomb("foo", _OBJ))],
            id="Added object should be deleted on Replace",
        ),
        pytest.param(
            [("add", _OBJ), ("delete", _OBJ), ("replace", [])],
            [Delta(ADDED, _OBJ), Delta(DELETED, _OBJ)],
            id="Deleted object should have only a single Delete",
        ),
        pytest.param(
            [("add", _OBJ), ("replace", [_OBJ]), ("replace", [_OBJ]), ("replace", [])],
            [
                Delta(ADDED, _OBJ),
                Delta(REPLACED, _OBJ),
                Delta(REPLACED, _OBJ),
                Delta(DELETED, tomb("foo", _OBJ)),
            ],
            id="Synced objects should have a single delete",
        ),
        pytest.param(
            [("add", _OBJ), ("replace", []), ("replace", [])],
            [Delta(ADDED, _OBJ), Delta(DELETED, tomb("foo", _OBJ))],
            id="Added objects should have a single delete on multiple Replaces",
        ),
        pytest.param(
            [("add", _OBJ), ("delete", _OBJ), ("add", _OBJ_V2), ("replace", [])],
            [
                Delta(ADDED, _OBJ),
                Delta(DELETED, _OBJ),
                Delta(ADDED, _OBJ_V2),
                Delta(DELETED, tomb("foo", _OBJ_V2)),
            ],
            id="Added and deleted and added object should be deleted",
        ),
        pytest.param(
            [("bookmark", "123"), ("replace", []), ("replace", [])],
            [],
            id="Bookmark object should not be added without atomic",
        ),
    ],
)
def test_real_fifo_w_replace_makes_deletions_for_objects_only_in_queue(
    operations: list[tuple[str, Any]], expected: list[Delta]
) -> None:
    f = new_fifo()
    for op, arg in operations:
        if op == "replace":
            f.replace(arg, "0")
        else:
            getattr(f, op)(arg)
    assert pop_all(f) == expected
    assert len(f) == 0


def test_real_fifo_add_update() -> None:
    # Unlike DeltaFIFO, every change stays queued, not only the newest.
    f = new_fifo()
    f.add(obj("foo", 10))
    f.update(obj("foo", 12))
    f.delete(obj("foo", 15))
    assert f.queued() == [
        Delta(ADDED, obj("foo", 10)),
        Delta(UPDATED, obj("foo", 12)),
        Delta(DELETED, obj("foo", 15)),
    ]
    assert [pop_value(f) for _ in range(3)] == [10, 12, 15]
    assert len(f) == 0
    f.close()
    with pytest.raises(FIFOClosedError):
        pop(f)


def test_real_fifo_transformer() -> None:
    # Each object is transformed exactly once; tombstones are not again.
    def mk(name: str, rv: int) -> dict[str, Any]:
        return obj(name, {"rv": rv, "xfrm": 0})

    def xfrm(o: Any) -> Any:
        if isinstance(o, DeletedFinalStateUnknown):
            raise AssertionError(f"a tombstone was transformed: {o!r}")
        o["val"]["xfrm"] += 1
        return o

    def transformed(name: str, rv: int) -> dict[str, Any]:
        return xfrm(mk(name, rv))

    f = new_fifo(transformer=xfrm)
    f.add(mk("foo", 10))
    f.add(mk("bar", 11))
    f.update(mk("foo", 12))
    f.delete(mk("foo", 15))
    f.replace([], "")
    f.add(mk("bar", 16))
    f.replace([], "")

    # Without compression everything stays, bar's two deletions included.
    expected = [
        Delta(ADDED, transformed("foo", 10)),
        Delta(ADDED, transformed("bar", 11)),
        Delta(UPDATED, transformed("foo", 12)),
        Delta(DELETED, transformed("foo", 15)),
        Delta(DELETED, tomb("bar", transformed("bar", 11))),
        Delta(ADDED, transformed("bar", 16)),
        Delta(DELETED, tomb("bar", transformed("bar", 16))),
    ]
    assert [(d.type, f.key_of(d)) for d in f.queued()] == [(d.type, f.key_of(d)) for d in expected]
    assert [pop(f)[0] for _ in expected] == expected


def test_real_fifo_enqueueing_no_lister() -> None:
    # RealFIFO queues everything, even the deletion of an unknown key.
    f = new_fifo()
    f.add(obj("foo", 10))
    f.update(obj("bar", 15))
    f.add(obj("qux", 17))
    f.delete(obj("qux", 18))
    f.delete(obj("baz", 20))
    assert [pop_value(f) for _ in range(5)] == [10, 15, 17, 18, 20]
    assert len(f) == 0


def test_real_fifo_enqueueing_with_lister() -> None:
    f = new_fifo(obj("foo", 5), obj("bar", 6), obj("baz", 7))
    f.add(obj("foo", 10))
    f.update(obj("bar", 15))
    f.delete(obj("baz", 20))  # queued: "baz" is known
    assert [pop_value(f) for _ in range(3)] == [10, 15, 20]
    assert len(f) == 0


def test_real_fifo_add_replace() -> None:
    # Both the add and the relisted object are delivered, in order.
    f = new_fifo()
    f.add(obj("foo", 10))
    f.replace([obj("foo", 15)], "0")
    assert [pop_value(f) for _ in range(2)] == [10, 15]
    assert len(f) == 0


def test_real_fifo_resync_non_existing() -> None:
    f = new_fifo(obj("foo", 5))
    f.delete(obj("foo", 10))
    f.resync()
    assert [d.type for d in f.queued()] == [DELETED]


def test_real_fifo_resync() -> None:
    f = new_fifo(obj("foo", 5))
    f.resync()
    assert f.queued() == [Delta(SYNC, obj("foo", 5))]


def test_real_fifo_delete_existing_non_propagated() -> None:
    f = new_fifo()
    f.add(obj("foo", 5))
    f.delete(obj("foo", 6))
    deltas = f.queued()
    assert len(deltas) == 2
    assert deltas[-1].type is DELETED


KNOWN3 = (obj("foo", 5), obj("bar", 6), obj("baz", 7))


@pytest.mark.parametrize(
    ("known_objs", "setup", "expected"),
    [
        pytest.param(
            KNOWN3,
            lambda f: (f.delete(obj("baz", 10)), f.replace([obj("foo", 5)], "0")),
            [
                Delta(DELETED, obj("baz", 10)),
                # Deletions of known keys come before the listed objects.
                Delta(DELETED, tomb("bar", obj("bar", 6))),
                Delta(REPLACED, obj("foo", 5)),
            ],
            id="pre-existing delete",
        ),
        pytest.param(
            KNOWN3,
            lambda f: (f.add(obj("baz", 10)), f.replace([obj("foo", 5)], "0")),
            [
                Delta(ADDED, obj("baz", 10)),
                Delta(DELETED, tomb("baz", obj("baz", 10))),
                Delta(DELETED, tomb("bar", obj("bar", 6))),
                Delta(REPLACED, obj("foo", 5)),
            ],
            id="pre-existing add",
        ),
        pytest.param(
            KNOWN3,
            lambda f: (
                f.delete(obj("bar", 6)),
                f.add(obj("bar", 100)),
                f.replace([obj("foo", 5)], "0"),
            ),
            [
                Delta(DELETED, obj("bar", 6)),
                Delta(ADDED, obj("bar", 100)),
                # The queue's newer object, not the known one.
                Delta(DELETED, tomb("bar", obj("bar", 100))),
                Delta(DELETED, tomb("baz", obj("baz", 7))),
                Delta(REPLACED, obj("foo", 5)),
            ],
            id="deleted and recreated in the queue",
        ),
        pytest.param(
            KNOWN3,
            lambda f: (
                f.replace([obj("bar", 100), obj("foo", 5)], "0"),
                f.replace([obj("foo", 5)], "0"),
            ),
            [
                Delta(DELETED, tomb("baz", obj("baz", 7))),
                Delta(REPLACED, obj("bar", 100)),
                Delta(REPLACED, obj("foo", 5)),
                Delta(DELETED, tomb("bar", obj("bar", 100))),
                Delta(REPLACED, obj("foo", 5)),
            ],
            id="synced first, the deletion uses the latest version",
        ),
        pytest.param(
            (),
            lambda f: (f.add(obj("baz", 10)), f.replace([obj("foo", 5)], "0")),
            [
                Delta(ADDED, obj("baz", 10)),
                Delta(DELETED, tomb("baz", obj("baz", 10))),
                Delta(REPLACED, obj("foo", 5)),
            ],
            id="nothing known",
        ),
    ],
)
def test_real_fifo_replace_makes_deletions(
    known_objs: tuple[dict[str, Any], ...],
    setup: Callable[[RealFIFO], Any],
    expected: list[Delta],
) -> None:
    f = new_fifo(*known_objs)
    setup(f)
    assert [pop(f) for _ in expected] == [[d] for d in expected]


def test_real_fifo_replace_makes_deletions_replaced() -> None:
    f = new_fifo(*KNOWN3)
    f.delete(obj("baz", 10))
    f.replace([obj("foo", 6)], "0")
    assert pop_all(f) == [
        Delta(DELETED, obj("baz", 10)),
        Delta(DELETED, tomb("bar", obj("bar", 6))),
        Delta(REPLACED, obj("foo", 6)),
    ]


def test_real_fifo_update_resync_race() -> None:
    # A resync skips a key with a queued change: the Sync would be older.
    f = new_fifo(obj("foo", 5))
    f.update(obj("foo", 6))
    f.resync()
    assert pop_all(f) == [Delta(UPDATED, obj("foo", 6))]


def test_real_fifo_has_synced_correct_on_deletion() -> None:
    f = new_fifo(*KNOWN3)
    f.replace([obj("foo", 5)], "0")
    expected = [
        Delta(DELETED, tomb("bar", obj("bar", 6))),
        Delta(DELETED, tomb("baz", obj("baz", 7))),
        Delta(REPLACED, obj("foo", 5)),
    ]
    seen: list[bool] = []
    for delta in expected:
        assert not f.has_synced()
        assert f.pop(lambda d, initial: seen.append(initial), timeout=WAIT) == [delta]
    assert seen == [True, True, True]
    assert f.has_synced()


def test_real_fifo_detect_line_jumpers() -> None:
    f = new_fifo()
    f.add(obj("foo", 10))
    f.add(obj("bar", 1))
    f.add(obj("foo", 11))
    f.add(obj("foo", 13))
    f.add(obj("zab", 30))
    assert pop_value(f) == 10
    f.add(obj("foo", 14))  # foo does not jump back in line
    assert [pop_value(f) for _ in range(5)] == [1, 11, 13, 30, 14]


def test_real_fifo_key_of() -> None:
    f = new_fifo()
    check_key_of(f.key_of)
    assert f.key_of(Delta(ADDED, obj("E", 1))) == "E"  # a single Delta too


@pytest.mark.parametrize(
    ("actions", "synced"),
    [
        ([], False),
        (["add a"], True),
        (["replace"], True),
        (["replace a b"], False),
        (["replace a b", "pop"], False),
        (["replace a b", "pop", "pop"], True),
        # A list with a key twice (a broken server): both are queued, and
        # both must be popped.
        (["replace a a", "pop", "pop"], True),
    ],
)
def test_real_fifo_has_synced(actions: list[str], synced: bool) -> None:
    f = new_fifo()
    for action in actions:
        verb, *names = action.split()
        if verb == "add":
            f.add(obj(names[0], 1))
        elif verb == "replace":
            f.replace([obj(n, i) for i, n in enumerate(names)], "0")
        else:
            pop(f)
    assert f.has_synced() is synced


def test_real_fifo_pop_should_unblock_when_closed() -> None:
    f = new_fifo(obj("foo", 5))
    ended = threading.Semaphore(0)

    def popper() -> None:
        with pytest.raises(FIFOClosedError):
            f.pop(lambda d, initial: None)
        ended.release()

    threads = [threading.Thread(target=popper) for _ in range(10)]
    for t in threads:
        t.start()
    f.close()
    for _ in threads:
        assert ended.acquire(timeout=WAIT), "a pop did not return after close"
    for t in threads:
        t.join()


_O1, _O2, _O3, _O4 = (obj(f"foo{i}", 5) for i in range(1, 5))


@pytest.mark.parametrize(
    ("initial", "updates", "batch_size", "expected"),
    [
        pytest.param(
            [_O1, _O2, _O3],
            [],
            UNLIMITED,
            [[Delta(REPLACED, _O1), Delta(REPLACED, _O2), Delta(REPLACED, _O3)]],
            id="non-split: pop unique items should work",
        ),
        pytest.param(
            [_O1, _O2],
            [_O3, _O4],
            2,
            [
                [Delta(REPLACED, _O1), Delta(REPLACED, _O2)],
                [Delta(UPDATED, _O3), Delta(UPDATED, _O4)],
            ],
            id="split due to initial list",
        ),
        pytest.param(
            [_O1],
            [_O1, _O1],
            UNLIMITED,
            [[Delta(REPLACED, _O1)], [Delta(UPDATED, _O1)], [Delta(UPDATED, _O1)]],
            id="split due to non-unique#1",
        ),
        pytest.param(
            [_O1, _O2],
            [_O2, _O3],
            UNLIMITED,
            [
                [Delta(REPLACED, _O1), Delta(REPLACED, _O2)],
                [Delta(UPDATED, _O2), Delta(UPDATED, _O3)],
            ],
            id="split due to non-unique#2",
        ),
        pytest.param(
            [_O1, _O2, _O3],
            [_O2],
            UNLIMITED,
            [
                [Delta(REPLACED, _O1), Delta(REPLACED, _O2), Delta(REPLACED, _O3)],
                [Delta(UPDATED, _O2)],
            ],
            id="split due to non-unique#3",
        ),
        pytest.param(
            [_O1, _O2, _O3],
            [],
            2,
            [[Delta(REPLACED, _O1), Delta(REPLACED, _O2)], [Delta(REPLACED, _O3)]],
            id="split due to batch size#1",
        ),
        pytest.param(
            [],
            [_O1, _O2, _O3],
            2,
            [[Delta(UPDATED, _O1), Delta(UPDATED, _O2)], [Delta(UPDATED, _O3)]],
            id="split due to batch size#2",
        ),
        pytest.param(
            [_O1, _O2, _O3],
            [_O4],
            2,
            [
                [Delta(REPLACED, _O1), Delta(REPLACED, _O2)],
                [Delta(REPLACED, _O3)],
                [Delta(UPDATED, _O4)],
            ],
            id="split due to batch size#3",
        ),
    ],
)
def test_real_fifo_pop_multiple_delta_in_batch(
    initial: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    batch_size: int,
    expected: list[list[Delta]],
) -> None:
    f = new_fifo(*initial, batch_size=batch_size)
    f.replace(initial, "123")
    for o in updates:
        f.update(o)
    batches, initial_batches = pop_batches(f)
    assert batches == expected
    assert [d.object for batch in initial_batches for d in batch] == initial


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        pytest.param(["foo3"], [["foo3"]], id="1st item is broken"),
        pytest.param(["foo1", "foo2", "foo3"], [["foo1", "foo2", "foo3"]], id="nth item is broken"),
        pytest.param(
            ["foo1", "foo2", "foo3", "foo4"],
            [["foo1", "foo2", "foo3"], ["foo4"]],
            id="multiple nth items are broken",
        ),
        pytest.param(
            ["foo3", "foo1", "foo4"],
            [["foo3"], ["foo1", "foo4"]],
            id="mixed 1st and nth items are broken",
        ),
    ],
)
def test_real_fifo_pop_broken_items_in_batch(
    incoming: list[str], expected: list[list[str]]
) -> None:
    # A delta whose key cannot be computed ends its batch, in it.
    broken: set[str] = set()

    def key_func(o: Any) -> str:
        name = str(o["metadata"]["name"])
        if name in broken:
            raise ValueError("test key func error")
        return name

    f = RealFIFO(key_func, known(), batch_size=UNLIMITED)
    for name in incoming:
        f.add(obj(name, 5))
    broken.update({"foo3", "foo4"})  # queued while their keys still worked
    batches, _ = pop_batches(f)
    assert [[d.object["metadata"]["name"] for d in batch] for batch in batches] == expected
    assert all(d.type is ADDED for batch in batches for d in batch)


def atomic_fifo(**kw: Any) -> RealFIFO:
    return RealFIFO(atomic_events=True, emit_delta_type_bookmark=True, **kw)


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param(
            [("replace", [], "123")],
            [Delta(REPLACED_ALL, ReplacedAllInfo("123", []))],
            id="Base replace",
        ),
        pytest.param(
            [("add", _OBJ), ("replace", [], "123")],
            [Delta(ADDED, _OBJ), Delta(REPLACED_ALL, ReplacedAllInfo("123", []))],
            id="Added object exists in deltas on Atomic Replace",
        ),
        pytest.param(
            [
                ("add", _OBJ),
                ("replace", [_OBJ], "10"),
                ("replace", [_OBJ], "20"),
                ("replace", [], "56"),
            ],
            [
                Delta(ADDED, _OBJ),
                Delta(REPLACED_ALL, ReplacedAllInfo("10", [_OBJ])),
                Delta(REPLACED_ALL, ReplacedAllInfo("20", [_OBJ])),
                Delta(REPLACED_ALL, ReplacedAllInfo("56", [])),
            ],
            id="Multiple replaces run in order",
        ),
        pytest.param(
            [("bookmark", "123"), ("replace", [], "1234")],
            [
                Delta(BOOKMARK, BookmarkInfo("123")),
                Delta(REPLACED_ALL, ReplacedAllInfo("1234", [])),
            ],
            id="Bookmark object should not be included in Replace",
        ),
    ],
)
def test_real_fifo_replace_atomic(operations: list[tuple[Any, ...]], expected: list[Delta]) -> None:
    f = atomic_fifo()
    for op, *args in operations:
        getattr(f, op)(*args)
    assert pop_all(f) == expected
    assert len(f) == 0


def test_real_fifo_replace_atomic_pop() -> None:
    f = RealFIFO(atomic_events=True)
    f.add(obj("foo", 10))
    f.replace([obj("foo", 15)], "20")
    assert pop_value(f) == 10
    (delta,) = pop(f)
    assert delta == Delta(REPLACED_ALL, ReplacedAllInfo("20", [obj("foo", 15)]))
    assert len(f) == 0


@pytest.mark.parametrize(
    ("add_first", "expected"),
    [
        pytest.param(False, [Delta(SYNC_ALL, SyncAllInfo())], id="Base resync"),
        pytest.param(
            True,
            [Delta(ADDED, _OBJ), Delta(SYNC_ALL, SyncAllInfo())],
            id="Added object exists in deltas on Atomic Resync",
        ),
    ],
)
def test_real_fifo_resync_atomic(add_first: bool, expected: list[Delta]) -> None:
    f = RealFIFO(atomic_events=True)
    if add_first:
        f.add(_OBJ)
    f.resync()
    assert pop_all(f) == expected
    assert len(f) == 0


# -- construction ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"atomic_events": True, "known_objects": Indexer()}, "must not be given"),
        ({}, "known_objects is required"),
        ({"known_objects": Indexer(), "unlock_while_processing": True}, "requires atomic"),
        ({"known_objects": Indexer(), "emit_delta_type_bookmark": True}, "requires atomic"),
        ({"atomic_events": True, "batch_size": 0}, "batch_size"),
    ],
)
def test_inconsistent_options_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RealFIFO(**kw)


def test_a_closed_queue_still_hands_out_what_it_holds() -> None:
    f = new_fifo()
    f.add(obj("a", 1))
    f.close()
    assert f.is_closed()
    assert pop_value(f) == 1
    with pytest.raises(FIFOClosedError):
        pop(f)


def test_pop_times_out_on_an_empty_queue() -> None:
    with pytest.raises(TimeoutError):
        new_fifo().pop(lambda d, initial: None, timeout=0.01)


# -- batches --------------------------------------------------------------------


def test_batches_stop_at_the_default_batch_size() -> None:
    f = RealFIFO(atomic_events=True)
    for i in range(1500):
        f.add(obj(f"o{i}", i))
    batches, initial = pop_batches(f)
    assert [len(b) for b in batches] == [1000, 500]
    assert initial == []  # an add before any replace: synced at once


def test_relists_resyncs_and_bookmarks_are_popped_alone() -> None:
    f = atomic_fifo()
    f.add(obj("a", 1))
    f.add(obj("b", 1))
    f.replace([obj("a", 2)], "5")
    f.resync()
    f.bookmark("6")
    f.add(obj("c", 1))
    f.update(obj("d", 1))
    batches, _ = pop_batches(f)
    assert [[d.type for d in b] for b in batches] == [
        [ADDED, ADDED],
        [REPLACED_ALL],
        [SYNC_ALL],
        [BOOKMARK],
        [ADDED, UPDATED],
    ]


def test_a_batch_keeps_per_key_order() -> None:
    # a's second change waits for the next batch, so it is applied after the first.
    f = RealFIFO(atomic_events=True)
    for name, value in (("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2)):
        f.update(obj(name, value))
    batches, _ = pop_batches(f)
    assert [[(d.object["metadata"]["name"], d.object["val"]) for d in b] for b in batches] == [
        [("a", 1), ("b", 1)],
        [("a", 2), ("c", 1), ("b", 2)],
    ]


def test_an_atomic_initial_list_is_one_delta_and_syncs_when_processed() -> None:
    # Unlocked, so has_synced can be asked while the list is being applied.
    f = RealFIFO(atomic_events=True, unlock_while_processing=True)
    f.replace([obj("a", 1), obj("b", 1)], "3")
    assert len(f) == 1 and not f.has_synced()
    seen: list[bool] = []

    def process(deltas: Deltas, initial: bool) -> None:
        seen.append(initial)
        assert not f.has_synced(), "synced while the initial list was being applied"

    f.pop(process, timeout=WAIT)
    assert seen == [True] and f.has_synced()


# -- unlock while processing -------------------------------------------------------


def _add_from_another_thread(f: RealFIFO, o: Any) -> tuple[threading.Thread, threading.Event]:
    added = threading.Event()

    def add() -> None:
        f.add(o)
        added.set()

    thread = threading.Thread(target=add, name="kubeloop-test-producer")
    thread.start()
    return thread, added


@pytest.mark.parametrize("batch", [False, True], ids=["pop", "pop_batch"])
def test_a_producer_adds_while_the_consumer_processes(batch: bool) -> None:
    f = RealFIFO(atomic_events=True, unlock_while_processing=True)
    f.add(obj("a", 1))
    f.add(obj("b", 1))
    added_inside: list[bool] = []

    def process(deltas: Any, initial: bool) -> None:
        producer, added = _add_from_another_thread(f, obj("c", 1))
        # Without the unlock this would wait forever: the producer needs the lock.
        added_inside.append(added.wait(WAIT))
        producer.join(WAIT)

    if batch:
        f.pop_batch(process, process, timeout=WAIT)
    else:
        f.pop(process, timeout=WAIT)
    assert added_inside == [True]
    assert [d.object["metadata"]["name"] for d in f.queued()][-1] == "c"


def test_producers_wait_while_two_batches_are_queued() -> None:
    # Back-pressure: with 2 * batch_size deltas still queued the lock is kept.
    f = RealFIFO(atomic_events=True, unlock_while_processing=True, batch_size=1)
    for name in ("a", "b", "c"):
        f.add(obj(name, 1))
    order: list[str] = []

    def process(deltas: Deltas, initial: bool) -> None:
        producer, added = _add_from_another_thread(f, obj("d", 1))
        assert not added.wait(0.05), "a producer got in while two batches were queued"
        order.append("processed")
        threads.append(producer)

    threads: list[threading.Thread] = []
    f.pop(process, timeout=WAIT)
    threads[0].join(WAIT)
    assert order == ["processed"] and len(f) == 3


def test_without_unlock_the_queue_stays_locked_while_processing() -> None:
    f = new_fifo()
    f.add(obj("a", 1))
    threads: list[threading.Thread] = []

    def process(deltas: Deltas, initial: bool) -> None:
        producer, added = _add_from_another_thread(f, obj("b", 1))
        threads.append(producer)
        assert not added.wait(0.05), "a producer got in while the queue was locked"

    f.pop(process, timeout=WAIT)
    threads[0].join(WAIT)
    assert pop_value(f) == 1 and len(f) == 0


# -- metrics --------------------------------------------------------------------


def test_metrics_count_queued_deltas_and_time_each_pop() -> None:
    clock = FakeClock()
    metrics = RecordingInformerMetricsProvider()
    f = RealFIFO(atomic_events=True, metrics=new_fifo_metrics(ID, metrics), clock=clock)
    f.add(pod("a"))
    f.update(pod("a"))  # a second delta for one key is a second queued item
    f.add(pod("b"))
    assert metrics.queued_items == [1, 2, 3]

    def slow(deltas: Any, initial: bool) -> None:
        clock.step(0.25 * len(deltas))

    f.pop(slow)
    f.pop_batch(slow, slow)  # [a, b]: one batch, one observation
    assert metrics.queued_items[-2:] == [2, 0]
    assert metrics.latencies == pytest.approx([0.25, 0.5])


def test_latency_is_observed_when_processing_fails() -> None:
    clock = FakeClock()
    metrics = RecordingInformerMetricsProvider()
    f = RealFIFO(atomic_events=True, metrics=new_fifo_metrics(ID, metrics), clock=clock)
    f.replace([pod("a")], "1")

    def failing(deltas: Any, initial: bool) -> None:
        clock.step(2.0)
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        f.pop(failing)
    assert metrics.latencies == [2.0]
    assert f.has_synced()  # a failed initial list still counts as processed


# -- atomic relists through process_deltas ------------------------------------------


def test_an_atomic_relist_reaches_handlers_deletions_first_over_a_whole_cache() -> None:
    cache = Indexer()
    f = RealFIFO(atomic_events=True)
    f.add(pod("a", rv="1"))
    f.add(pod("b", rv="1"))
    f.replace([pod("b", rv="2"), pod("c", rv="3")], "3")
    seen_by_handlers: list[list[str]] = []

    class Snapshotting(Recorder):
        def on_delete(self, o: Any) -> None:
            seen_by_handlers.append(sorted(cache.list_keys()))
            super().on_delete(o)

    rec = Snapshotting()
    while len(f):
        f.pop(lambda d, initial: process_deltas(rec, cache, d, initial), timeout=WAIT)
    # The cache had the whole relist before the first handler call.
    assert seen_by_handlers == [["b", "c"]]
    assert rec.summary() == [
        ("add", "a", "1"),
        ("add", "b", "1"),
        ("delete", "a", "1"),
        ("update", "b", "2"),
        ("add", "c", "3"),
    ]
    tombstone = rec.events[2][1]
    assert isinstance(tombstone, DeletedFinalStateUnknown) and tombstone.obj == pod("a", rv="1")


def test_sync_all_updates_every_cached_object_and_bookmarks_reach_a_bookmark_store() -> None:
    class BookmarkingCache(Indexer):
        def __init__(self) -> None:
            super().__init__()
            self.bookmarks: list[str] = []

        def bookmark(self, resource_version: str) -> None:
            self.bookmarks.append(resource_version)

    cache = BookmarkingCache()
    cache.add(pod("a", rv="1"))
    rec = Recorder()
    process_deltas(rec, cache, [Delta(SYNC_ALL, SyncAllInfo())], False)
    process_deltas(rec, cache, [Delta(BOOKMARK, BookmarkInfo("9"))], False)
    process_deltas(rec, Indexer(), [Delta(BOOKMARK, BookmarkInfo("10"))], False)  # ignored
    assert rec.events == [("update", pod("a", rv="1"), pod("a", rv="1"))]
    assert cache.bookmarks == ["9"]
