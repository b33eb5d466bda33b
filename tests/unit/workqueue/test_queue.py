"""Queue: the cases of client-go's util/workqueue/queue_test.go, plus shutdown rules."""

from __future__ import annotations

import gc
import signal
import threading
import time
import weakref
from collections.abc import Callable

import pytest

from kubeloop.workqueue import Queue

ShutDown = Callable[[Queue[object]], None]
SHUTDOWNS: list[ShutDown] = [Queue.shut_down, Queue.shut_down_with_drain]
SHUTDOWN_IDS = ["shut_down", "shut_down_with_drain"]


def start(target: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def join_all(threads: list[threading.Thread], timeout: float = 10.0) -> None:
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "thread did not finish"


@pytest.mark.parametrize("shut_down", SHUTDOWNS, ids=SHUTDOWN_IDS)
def test_basic(shut_down: ShutDown) -> None:
    q: Queue[object] = Queue()
    got_after_shutdown: list[object] = []

    def produce(i: int) -> None:
        for _ in range(50):
            q.add(i)

    def consume() -> None:
        while True:
            item, quit_ = q.get()
            if item == "added after shutdown!":
                got_after_shutdown.append(item)
            if quit_:
                return
            q.done(item)

    producers = [start(produce, i) for i in range(50)]
    consumers = [start(consume) for _ in range(10)]
    join_all(producers)
    shut_down(q)
    q.add("added after shutdown!")
    join_all(consumers)
    assert got_after_shutdown == []
    assert len(q) == 0


@pytest.mark.parametrize("shut_down", SHUTDOWNS, ids=SHUTDOWN_IDS)
def test_add_while_processing(shut_down: ShutDown) -> None:
    """An item added again while a worker holds it is processed once more
    after done(), by whichever worker, and never by two workers at once."""
    q: Queue[object] = Queue()
    items = range(50)
    lock = threading.Condition()
    processed: dict[object, int] = {}
    holding: set[object] = set()
    overlaps: list[object] = []

    def consume() -> None:
        while True:
            item, quit_ = q.get()
            if quit_:
                return
            with lock:
                if item in holding:
                    overlaps.append(item)
                holding.add(item)
                processed[item] = processed.get(item, 0) + 1
                again = processed[item] < 2
            if again:
                q.add(item)  # while processing: the item is only marked dirty
            with lock:
                holding.discard(item)
                lock.notify_all()
            q.done(item)

    producers = [start(q.add, i) for i in items]
    consumers = [start(consume) for _ in range(10)]
    join_all(producers)
    # Shutting down drops adds, so first wait for every re-add to be processed.
    with lock:
        lock.wait_for(lambda: sum(processed.values()) >= 2 * len(items), timeout=10.0)
    shut_down(q)
    join_all(consumers)
    assert processed == {i: 2 for i in items}
    assert overlaps == []
    assert len(q) == 0


def test_len() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    assert len(q) == 1
    q.add("bar")
    assert len(q) == 2
    q.add("foo")  # should not increase the queue length
    assert len(q) == 2


def test_reinsert() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    item, _ = q.get()
    assert item == "foo"
    q.add("foo")  # add it back while processing
    q.done("foo")
    assert q.get() == ("foo", False)  # it is back on the queue
    q.done("foo")
    assert len(q) == 0


def test_collapse() -> None:
    q: Queue[str] = Queue()
    q.add("bar")
    q.add("bar")
    assert q.get() == ("bar", False)
    q.done("bar")
    assert len(q) == 0


def test_collapse_while_processing() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    assert q.get() == ("foo", False)
    q.add("foo")
    q.add("foo")
    got: list[object] = []

    def other_worker() -> None:
        item, _ = q.get()
        got.append(item)
        q.done("foo")

    worker = start(other_worker)
    # A negative check: the other worker must stay blocked while we hold "foo".
    # Nothing can be awaited for "did not happen", so give it a short chance.
    worker.join(0.05)
    assert worker.is_alive(), "worker should be blocked until we are done"
    assert len(q) == 0  # dirty, but not queued while processing
    q.done("foo")
    join_all([worker])
    assert got == ["foo"]
    assert len(q) == 0


def test_queue_drainage_using_shut_down_with_drain() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    q.add("bar")
    first, _ = q.get()
    second, _ = q.get()
    assert first is not None and second is not None
    drainer = start(q.shut_down_with_drain)

    # get() blocks until ShutDownWithDrain has begun, then reports shutdown.
    assert q.get() == (None, True)
    assert drainer.is_alive(), "drain must wait for the items in flight"
    q.done(first)
    q.done(second)
    join_all([drainer])


def test_no_queue_drainage_using_shut_down() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    q.add("bar")
    q.get()
    q.get()
    # Not waiting for the two items in flight: returns although nobody calls done.
    stopper = start(q.shut_down)
    join_all([stopper])


def test_force_queue_shutdown_using_shut_down() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    q.add("bar")
    q.get()
    q.get()
    drainer = start(q.shut_down_with_drain)
    assert q.get() == (None, True)
    # A second signal: shut_down releases the drain although nothing was done.
    q.shut_down()
    join_all([drainer])


def test_queue_drainage_using_shut_down_with_drain_with_dirty_item() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    gotten, _ = q.get()
    assert gotten == "foo"
    q.add("foo")
    drainer = start(q.shut_down_with_drain)
    assert q.get() == (None, True)  # drain has begun; "foo" is dirty, not queued

    q.done("foo")
    # done() put the dirty item back, so get() hands it out despite shutdown.
    assert q.get() == ("foo", False)
    q.done("foo")
    assert q.get() == (None, True)
    join_all([drainer])


def test_garbage_collection() -> None:
    class BigObject:
        data = b"hello"

    q: Queue[BigObject] = Queue()
    obj = BigObject()
    ref = weakref.ref(obj)
    q.add(obj)
    item, _ = q.get()
    assert item is obj
    q.done(obj)
    del obj, item
    gc.collect()
    assert ref() is None, "the queue kept a reference to a finished item"


def test_get_after_shut_down_hands_out_items_queued_before() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    q.add("b")
    q.shut_down()
    assert q.shutting_down()
    assert q.get() == ("a", False)
    assert q.get() == ("b", False)
    assert q.get() == (None, True)


def test_add_after_shut_down_is_dropped() -> None:
    q: Queue[str] = Queue()
    q.shut_down()
    q.add("late")
    assert len(q) == 0
    assert q.get() == (None, True)


def test_add_while_processing_after_shut_down_is_dropped() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    q.get()
    q.shut_down()
    q.add("foo")
    q.done("foo")
    assert q.get() == (None, True)


def test_get_blocks_until_shut_down() -> None:
    q: Queue[str] = Queue()
    results: list[object] = []
    waiters = [start(lambda: results.append(q.get())) for _ in range(3)]
    q.shut_down()
    join_all(waiters)
    assert results == [(None, True)] * 3


def test_done_for_an_item_not_being_processed_is_ignored() -> None:
    q: Queue[str] = Queue()
    q.add("foo")
    q.done("foo")  # queued, not held: must not queue it a second time
    assert len(q) == 1
    assert q.get() == ("foo", False)
    q.done("foo")
    assert len(q) == 0


def test_items_are_handed_out_in_fifo_order() -> None:
    q: Queue[int] = Queue()
    for i in range(5):
        q.add(i)
    assert [q.get()[0] for _ in range(5)] == [0, 1, 2, 3, 4]


def test_each_item_wakes_one_sleeping_getter() -> None:
    q: Queue[int] = Queue()
    results: list[object] = []
    getters = [start(lambda: results.append(q.get())) for _ in range(3)]
    for i in range(3):
        q.add(i)
    join_all(getters)
    assert sorted(results) == [(0, False), (1, False), (2, False)]


def test_a_getter_interrupted_while_asleep_leaves_no_stale_wake_up() -> None:
    # SIGINT (Ctrl-C) interrupts a blocked lock acquire in the main thread;
    # the interrupted getter must leave the sleepers, or the next add would
    # wake it instead of a live getter, which would then sleep for ever.
    assert threading.current_thread() is threading.main_thread()
    q: Queue[str] = Queue()
    main = threading.main_thread().ident
    assert main is not None

    class Interrupted(Exception):
        pass

    # A signal that lands between the getter listing itself and blocking is
    # noted but wakes nothing (the wait has not begun): so the interrupter
    # sends it again until the getter is out, and only the first one raises.
    raised = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if not raised.is_set():
            raised.set()
            raise Interrupted

    def interrupt_until_out() -> None:
        # get() lists its sleeper and releases the lock in one step, so a
        # listed sleeper seen under the lock is asleep (or about to be).
        # Nothing public says so, hence the bounded poll.
        for _ in range(100_000):
            with q._lock:
                if q._sleepers:
                    break
            time.sleep(0.0001)
        while not raised.is_set():
            signal.pthread_kill(main, signal.SIGINT)
            raised.wait(0.05)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        interrupter = start(interrupt_until_out)
        with pytest.raises(Interrupted):
            q.get()
        join_all([interrupter])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not q._sleepers

    results: list[object] = []
    getter = start(lambda: results.append(q.get()))
    q.add("x")
    join_all([getter])
    assert results == [("x", False)]
