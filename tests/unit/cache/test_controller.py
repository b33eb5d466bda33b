"""The controller and delta processing, after client-go's controller_test.go.

The informer-level cases run on every queue (the default atomic RealFIFO, a
RealFIFO without atomic relists, the DeltaFIFO): handlers must see coherent
histories on each.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from kubeloop.cache import (
    BatchProcessError,
    Config,
    Controller,
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    DeltaType,
    Indexer,
    InformerQueueOptions,
    Queue,
    RealFIFO,
    ReflectorOptions,
    ReplacedAllInfo,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
    deletion_handling_meta_namespace_key_func,
    get_labels,
    get_resource_version,
    meta_namespace_key_func,
    process_deltas,
    process_deltas_in_batch,
    wait_for_cache_sync,
)
from kubeloop.cache.testing import FakeControllerSource

from .helpers import WAIT, FakeBackoff, Recorder, pod


def fast() -> ReflectorOptions:
    return ReflectorOptions(backoff=FakeBackoff())


def run_in_thread(target: Any, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=target, args=(stop,), name="kubeloop-test-controller")
    thread.start()
    return thread


QUEUES = {
    "RealFIFO": InformerQueueOptions(),
    "RealFIFO-not-atomic": InformerQueueOptions(atomic=False),
    "DeltaFIFO": InformerQueueOptions(in_order=False),
}
queues = pytest.mark.parametrize("queue", list(QUEUES.values()), ids=list(QUEUES))


@queues
def test_hammer_controller(queue: InformerQueueOptions) -> None:
    # TestHammerController: concurrent random changes while resyncing every
    # 100 ms; every key's event history must be coherent and the handler's
    # mirror must end equal to the source.
    source = FakeControllerSource()
    lock = threading.Lock()
    history: dict[str, list[str]] = {}
    mirror: dict[str, Any] = {}
    changed = threading.Condition(lock)

    def record(kind: str, obj: Any) -> None:
        key = deletion_handling_meta_namespace_key_func(obj)
        with changed:
            history.setdefault(key, []).append(kind)
            if kind == "delete":
                mirror.pop(key, None)
            else:
                mirror[key] = obj
            changed.notify_all()

    informer = SharedIndexInformer(source, 0.1, reflector_options=fast(), queue_options=queue)
    informer.add_event_handler(
        ResourceEventHandlerFuncs(
            add_func=lambda o: record("add", o),
            update_func=lambda old, new: record("update", new),
            delete_func=lambda o: record("delete", o),
        ),
        0.1,
    )
    assert not informer.has_synced()
    stop = threading.Event()
    thread = run_in_thread(informer.run, stop)
    try:
        assert wait_for_cache_sync(stop, informer.has_synced)

        def hammer(seed: int) -> None:
            rng = random.Random(seed)
            current: set[str] = set()
            for i in range(100):
                if not current or rng.randrange(3) == 1:
                    name = f"t{seed}-{i}"
                    current.add(name)
                    source.add(pod(name, "default", labels={"v": str(i)}))
                    continue
                name = rng.choice(sorted(current))
                if rng.randrange(2) == 0:
                    source.modify(pod(name, "default", labels={"v": str(i)}))
                else:
                    current.discard(name)
                    source.delete(pod(name, "default"))

        workers = [threading.Thread(target=hammer, args=(seed,)) for seed in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

        expected = {meta_namespace_key_func(o): get_resource_version(o) for o in source.items()}

        def converged() -> bool:
            got = {k: get_resource_version(o) for k, o in mirror.items()}
            return got == expected

        with changed:
            assert changed.wait_for(converged, WAIT), "handler mirror never matched the source"
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    for key, kinds in history.items():
        present = False
        for kind in kinds:
            if kind == "add":
                assert not present, f"{key}: add while present: {kinds}"
                present = True
            else:
                assert present, f"{key}: {kind} while absent: {kinds}"
                present = kind != "delete"


@queues
def test_update(queue: InformerQueueOptions) -> None:
    # TestUpdate: a handler deleting objects once it observes their update;
    # only from->to, to->to and from->from transitions may be observed.
    source = FakeControllerSource()
    allowed = {("from", "to"), ("to", "to"), ("from", "from")}
    threads, tests = 3, 1
    done = threading.Semaphore(0)
    bad: list[str] = []
    watching = threading.Event()

    def watch(options: Any) -> Any:
        stream = source.watch(options)
        watching.set()
        return stream

    class LW:
        def list(self, options: Any) -> Any:
            return source.list(options)

        def watch(self, options: Any) -> Any:
            return watch(options)

    def on_update(old: Any, new: Any) -> None:
        transition = (get_labels(old)["check"], get_labels(new)["check"])
        if transition not in allowed:
            bad.append(f"{transition} for {new['metadata']['name']}")
        if get_labels(new).get("final") == "true":
            source.delete(new)

    informer = SharedIndexInformer(LW(), 0, reflector_options=fast(), queue_options=queue)
    informer.add_event_handler(
        ResourceEventHandlerFuncs(update_func=on_update, delete_func=lambda o: done.release())
    )
    stop = threading.Event()
    thread = run_in_thread(informer.run, stop)
    try:
        assert watching.wait(WAIT)

        def scenario(name: str) -> None:
            name = "a-" + name
            source.add(pod(name, labels={"check": "from"}))
            source.modify(pod(name, labels={"check": "to", "final": "true"}))

        workers = [threading.Thread(target=scenario, args=(f"{i}-0",)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        for _ in range(threads * tests):
            assert done.acquire(timeout=WAIT), "not every object was deleted"
    finally:
        stop.set()
        thread.join(WAIT)
    assert not bad


def _pods(*specs: tuple[str, str]) -> list[dict[str, Any]]:
    return [pod(name, "default", rv=rv) for name, rv in specs]


def _fifo(kind: str, store: Indexer) -> Queue:
    if kind == "DeltaFIFO":
        return DeltaFIFO(known_objects=store)
    if kind == "RealFIFO-atomic":
        return RealFIFO(atomic_events=True, unlock_while_processing=True)
    return RealFIFO(known_objects=store)


@pytest.mark.parametrize("kind", ["RealFIFO-atomic", "RealFIFO", "DeltaFIFO"])
@pytest.mark.parametrize(
    ("initial", "replaced", "expected"),
    [
        pytest.param(
            [],
            _pods(("pod-1", "1")),
            [("add", "default/pod-1", "1", "1")],
            id="create with no initial objects",
        ),
        pytest.param(
            _pods(("pod-1", "1"), ("pod-3", "2")),
            [],
            [("delete", "default/pod-1", "1", ""), ("delete", "default/pod-3", "2", "")],
            id="delete all objects",
        ),
        pytest.param(
            _pods(("pod-1", "1"), ("pod-2", "2"), ("pod-3", "3")),
            _pods(("pod-1", "4"), ("pod-2", "5"), ("pod-4", "6")),
            [
                ("delete", "default/pod-3", "3", ""),
                ("update", "default/pod-1", "4", "4"),
                ("update", "default/pod-2", "5", "5"),
                ("add", "default/pod-4", "6", "6"),
            ],
            id="create, update, delete",
        ),
    ],
)
def test_replace_events(
    kind: str,
    initial: list[dict[str, Any]],
    replaced: list[dict[str, Any]],
    expected: list[tuple[str, str, str, str]],
) -> None:
    # TestReplaceEvents: what a relist looks like to a handler, with the
    # cache's state at the time of each event, atomic or not. A RealFIFO
    # reports the deletions first (upstream's expected order); a DeltaFIFO
    # queues the listed keys first and the tombstones last. Among
    # themselves, a relist's deletions have no defined order.
    source = FakeControllerSource()
    store = Indexer(deletion_handling_meta_namespace_key_func)
    history: list[tuple[str, str, str, str]] = []
    cond = threading.Condition()

    class EventRecorder:
        def _record(self, action: str, obj: Any) -> None:
            key = deletion_handling_meta_namespace_key_func(obj)
            if isinstance(obj, DeletedFinalStateUnknown):
                obj = obj.obj
            stored, exists = store.get_by_key(key)
            with cond:
                history.append(
                    (
                        action,
                        key,
                        get_resource_version(obj),
                        get_resource_version(stored) if exists else "",
                    )
                )
                cond.notify_all()

        def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
            self._record("add", obj)

        def on_update(self, old: Any, new: Any) -> None:
            self._record("update", new)

        def on_delete(self, obj: Any) -> None:
            self._record("delete", obj)

    recorder = EventRecorder()
    fifo = _fifo(kind, store)
    controller = Controller(
        Config(
            queue=fifo,
            list_watch=source,
            process=lambda deltas, initial: process_deltas(recorder, store, deltas, initial),
            process_batch=lambda deltas, initial: process_deltas_in_batch(
                recorder, store, deltas, initial
            ),
            reflector_options=fast(),
        )
    )
    stop = threading.Event()
    thread = run_in_thread(controller.run, stop)
    try:
        assert wait_for_cache_sync(stop, controller.has_synced)
        for obj in initial:
            fifo.add(obj)
        with cond:
            assert cond.wait_for(lambda: len(history) >= len(initial), WAIT)
            history.clear()
        fifo.replace(replaced, "x")
        with cond:
            assert cond.wait_for(lambda: len(history) >= len(expected), WAIT)
        assert sorted(store.list_keys()) == sorted(meta_namespace_key_func(o) for o in replaced)
        deletes = sorted(h for h in history if h[0] == "delete")
        others = [h for h in history if h[0] != "delete"]
        where = history[len(others) :] if kind == "DeltaFIFO" else history[: len(deletes)]
        assert [h[0] for h in where] == ["delete"] * len(deletes)
        assert deletes + others == expected
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()


def test_process_deltas_turns_known_replaced_into_update() -> None:
    store = Indexer(meta_namespace_key_func)
    rec = Recorder()
    fifo = DeltaFIFO(known_objects=store)
    fifo.replace([pod("a", rv="1")], "1")
    fifo.pop(lambda d, i: process_deltas(rec, store, d, i), timeout=WAIT)
    fifo.replace([pod("a", rv="2")], "2")
    fifo.pop(lambda d, i: process_deltas(rec, store, d, i), timeout=WAIT)
    assert [(k, b if k == "add" else None) for k, _, b in rec.events] == [
        ("add", True),
        ("update", None),
    ]


def test_process_deltas_in_batch_writes_the_cache_before_any_handler_runs() -> None:
    store = Indexer(meta_namespace_key_func)
    store.add(pod("a", rv="1"))
    store.add(pod("gone", rv="1"))
    seen: list[list[str]] = []

    class Snapshotting(Recorder):
        def _record(self, kind: str, a: Any, b: Any) -> None:
            seen.append(sorted(store.list_keys()))
            super()._record(kind, a, b)

    rec = Snapshotting()
    batch = [
        Delta(DeltaType.UPDATED, pod("a", rv="2")),
        Delta(DeltaType.DELETED, pod("gone", rv="1")),
        Delta(DeltaType.ADDED, pod("b", rv="3")),
    ]
    process_deltas_in_batch(rec, store, batch, False)
    assert seen == [["a", "b"]] * 3
    assert rec.summary() == [("update", "a", "2"), ("delete", "gone", "1"), ("add", "b", "3")]
    assert rec.events[0][1] == pod("a", rv="1")  # the old object, read before the batch


def test_a_refused_delta_of_a_batch_is_not_notified_and_the_rest_go_on() -> None:
    def index_that_fails(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "bad":
            raise ValueError("cannot index")
        return []

    store = Indexer(meta_namespace_key_func, {"by": index_that_fails})
    rec = Recorder()
    batch = [Delta(DeltaType.ADDED, pod(n)) for n in ("a", "bad", "c")]
    with pytest.raises(BatchProcessError, match="1 of 3") as err:
        process_deltas_in_batch(rec, store, batch, True)
    assert [type(e) for e in err.value.errors] == [ValueError]
    assert rec.names() == ["a", "c"]
    assert sorted(store.list_keys()) == ["a", "c"]


def test_a_batch_refuses_deltas_that_carry_no_single_object() -> None:
    store = Indexer(meta_namespace_key_func)
    batch = [
        Delta(DeltaType.ADDED, pod("a")),
        Delta(DeltaType.REPLACED_ALL, ReplacedAllInfo("1", [])),
    ]
    with pytest.raises(ValueError, match="not supported in batch"):
        process_deltas_in_batch(Recorder(), store, batch, False)
    assert store.list_keys() == []  # refused before anything was written


def test_the_controller_pops_batches_when_given_process_batch() -> None:
    # Queued before the relist, b, c and d form one batch; the relist (one
    # REPLACED_ALL delta) is popped alone, through process, and deletes them.
    source = FakeControllerSource()
    source.add(pod("a"))
    store = Indexer(meta_namespace_key_func)
    rec = Recorder()
    sizes: list[int] = []

    def batch(deltas: list[Delta], initial: bool) -> None:
        sizes.append(len(deltas))
        process_deltas_in_batch(rec, store, deltas, initial)

    fifo = RealFIFO(atomic_events=True, unlock_while_processing=True)
    for name in ("b", "c", "d"):
        fifo.add(pod(name))
    controller = Controller(
        Config(
            queue=fifo,
            list_watch=source,
            process=lambda deltas, initial: process_deltas(rec, store, deltas, initial),
            process_batch=batch,
            reflector_options=fast(),
        )
    )
    stop = threading.Event()
    thread = run_in_thread(controller.run, stop)
    try:
        rec.wait_count(7)
    finally:
        stop.set()
        thread.join(WAIT)
    assert sizes == [3]
    assert [(k, key) for k, key, _ in rec.summary()] == [
        ("add", "b"),
        ("add", "c"),
        ("add", "d"),
        ("delete", "b"),
        ("delete", "c"),
        ("delete", "d"),
        ("add", "a"),
    ]
    assert store.list_keys() == ["a"]
