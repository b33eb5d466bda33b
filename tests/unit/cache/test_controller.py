"""The controller and delta processing, after client-go's controller_test.go."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from kubeloop.cache import (
    Config,
    Controller,
    DeletedFinalStateUnknown,
    DeltaFIFO,
    Indexer,
    ReflectorOptions,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
    deletion_handling_meta_namespace_key_func,
    get_labels,
    get_resource_version,
    meta_namespace_key_func,
    process_deltas,
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


def test_hammer_controller() -> None:
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

    informer = SharedIndexInformer(source, 0.1, reflector_options=fast())
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


def test_update() -> None:
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

    informer = SharedIndexInformer(LW(), 0, reflector_options=fast())
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
            # DeltaFIFO order: keys in first-enqueue order, tombstones last.
            [
                ("update", "default/pod-1", "4", "4"),
                ("update", "default/pod-2", "5", "5"),
                ("add", "default/pod-4", "6", "6"),
                ("delete", "default/pod-3", "3", ""),
            ],
            id="create, update, delete",
        ),
    ],
)
def test_replace_events(
    initial: list[dict[str, Any]],
    replaced: list[dict[str, Any]],
    expected: list[tuple[str, str, str, str]],
) -> None:
    # TestReplaceEvents: what a relist looks like to a handler, with the
    # cache's state at the time of each event.
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
    fifo = DeltaFIFO(known_objects=store)
    controller = Controller(
        Config(
            queue=fifo,
            list_watch=source,
            process=lambda deltas, initial: process_deltas(recorder, store, deltas, initial),
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
        assert [h for h in history if h[0] != "delete"] + deletes == expected
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
