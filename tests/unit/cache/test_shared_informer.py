"""SharedIndexInformer, case by case after client-go's shared_informer_test.go.

Every case runs on each queue an informer can have: the default RealFIFO
(atomic, batched, unlocked while processing), a RealFIFO without atomic
relists (tombstones made as the relist is queued), and the DeltaFIFO.
Handlers must be told the same things on all three; only the order of a
relist's events differs (see test_missed_delete_is_delivered_as_tombstone).
"""

from __future__ import annotations

import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

import pytest

from kubeloop.cache import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    InformerQueueOptions,
    InformerStateError,
    ReflectorOptions,
    ResourceEventHandlerDetailedFuncs,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
    meta_namespace_index_func,
    wait_for_cache_sync,
)
from kubeloop.cache.testing import FakeControllerSource
from kubeloop.clock import FakeClock
from kubeloop.errors import Gone

from .helpers import WAIT, FakeBackoff, Recorder, pod, running

# Reflector checks for due resyncs this often (real time); handler resync
# periods are measured on a fake clock, so tests decide when one is due.
#: A resync check period long enough that no check overtakes a resync's delivery.
SLOW_CHECK = 1.0

QUEUES = {
    "RealFIFO": InformerQueueOptions(),
    "RealFIFO-not-atomic": InformerQueueOptions(atomic=False),
    "DeltaFIFO": InformerQueueOptions(in_order=False),
}
#: The queue new_informer gives informers; set for each test by queue_options.
QUEUE = QUEUES["RealFIFO"]


@pytest.fixture(autouse=True, params=list(QUEUES))
def queue_options(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> InformerQueueOptions:
    options = QUEUES[request.param]
    monkeypatch.setattr(sys.modules[__name__], "QUEUE", options)
    return options


def fast_options(**kw: Any) -> ReflectorOptions:
    return ReflectorOptions(backoff=FakeBackoff(), **kw)


def new_informer(
    source: FakeControllerSource, resync: float = 0.0, clock: FakeClock | None = None, **kw: Any
) -> SharedIndexInformer:
    return SharedIndexInformer(
        source,
        resync,
        {NAMESPACE_INDEX: meta_namespace_index_func},
        reflector_options=fast_options(**kw),
        queue_options=QUEUE,
        **({"clock": clock} if clock is not None else {}),
    )


def started(informer: SharedIndexInformer) -> AbstractContextManager[threading.Event]:
    return running(informer.run)


def sentinel_barrier(source: FakeControllerSource, *recorders: Recorder, name: str) -> None:
    """Deliver a real change to everyone and wait until each handler saw it:
    a listener's buffer is FIFO, so anything due before it was delivered."""
    source.add(pod(name))
    for rec in recorders:
        rec.wait_for(lambda ev: any(_name(e) == name for e in ev))


def _name(event: tuple[str, Any, Any]) -> str:
    kind, a, b = event
    obj = b if kind == "update" else a
    if isinstance(obj, DeletedFinalStateUnknown):
        obj = obj.obj
    return str(obj["metadata"]["name"])


def names_before(rec: Recorder, sentinel: str) -> set[str]:
    out: set[str] = set()
    for event in list(rec.events):
        if _name(event) == sentinel:
            break
        out.add(_name(event))
    return out


def test_listener_resync_periods() -> None:
    # TestListenerResyncPeriods: each handler is resynced on its own period.
    source = FakeControllerSource()
    source.add(pod("pod1"))
    source.add(pod("pod2"))
    clock = FakeClock()
    # A real-time check period a resync's delivery cannot be overtaken by
    # (see test_watch_disruption).
    informer = new_informer(source, SLOW_CHECK, clock)
    l1, l2, l3 = Recorder(), Recorder(), Recorder()
    informer.add_event_handler(l1, 0)
    informer.add_event_handler(l2, 2)
    informer.add_event_handler(l3, 3)
    with started(informer):
        for rec in (l1, l2, l3):
            rec.wait_for(lambda ev: {_name(e) for e in ev} == {"pod1", "pod2"})
            rec.clear()

        clock.step(2)  # listener 2 is due
        l2.wait_for(lambda ev: {_name(e) for e in ev} == {"pod1", "pod2"})
        sentinel_barrier(source, l1, l2, l3, name="s1")
        assert names_before(l1, "s1") == set()
        assert names_before(l3, "s1") == set()
        assert all(kind == "update" for kind, _, _ in l2.events[:2])
        for rec in (l1, l2, l3):
            rec.clear()

        clock.step(1)  # listener 3 is due (listener 2 next at +4)
        l3.wait_for(lambda ev: {_name(e) for e in ev} >= {"pod1", "pod2"})
        sentinel_barrier(source, l1, l2, l3, name="s2")
        assert names_before(l1, "s2") == set()
        assert names_before(l2, "s2") == set()
        assert names_before(l3, "s2") == {"pod1", "pod2", "s1"}


def test_resync_check_period() -> None:
    # TestResyncCheckPeriod: handlers added before start lower the check period.
    informer = new_informer(FakeControllerSource(), 12 * 3600)
    h1 = informer.add_event_handler(Recorder(), 0)
    assert informer._resync_check_period == 12 * 3600
    assert h1.resync_period == 0  # type: ignore[attr-defined]
    h2 = informer.add_event_handler(Recorder(), 60)
    assert informer._resync_check_period == 60
    assert (h1.resync_period, h2.resync_period) == (0, 60)  # type: ignore[attr-defined]
    h3 = informer.add_event_handler(Recorder(), 55)
    assert informer._resync_check_period == 55
    assert h2.resync_period == 60 and h3.resync_period == 55  # type: ignore[attr-defined]
    h4 = informer.add_event_handler(Recorder(), 5)
    assert informer._resync_check_period == 5
    assert [h.resync_period for h in (h1, h2, h3, h4)] == [0, 60, 55, 5]  # type: ignore[attr-defined]
    # Below the minimum of one second.
    h5 = informer.add_event_handler(Recorder(), 0.01)
    assert h5.resync_period == 1.0  # type: ignore[attr-defined]


def test_initialization_race() -> None:
    # TestSharedInformerInitializationRace
    informer = new_informer(FakeControllerSource(), 1)
    stop = threading.Event()
    adder = threading.Thread(target=lambda: informer.add_event_handler(Recorder(), 0))
    runner = threading.Thread(target=informer.run, args=(stop,), name="kubeloop-test-race")
    adder.start()
    runner.start()
    stop.set()
    adder.join(WAIT)
    runner.join(WAIT)
    assert not runner.is_alive()


def test_watch_disruption() -> None:
    # TestSharedInformerWatchDisruption
    source = FakeControllerSource()
    source.add({"metadata": {"name": "pod1", "uid": "pod1"}})
    source.add({"metadata": {"name": "pod2", "uid": "pod2"}})
    clock = FakeClock()
    # The resync check runs on real time. Each check recomputes which handlers
    # take part in the coming resync (client-go's shouldResync), so a check
    # that came before the queue had delivered the previous resync would take
    # the resync handler out of it: a second of real time between checks
    # leaves even a loaded machine time to deliver.
    informer = new_informer(source, SLOW_CHECK, clock)
    no_resync, resync = Recorder(), Recorder()
    informer.add_event_handler(no_resync, 0)
    informer.add_event_handler(resync, SLOW_CHECK)
    with started(informer):
        for rec in (no_resync, resync):
            rec.wait_for(lambda ev: {_name(e) for e in ev} == {"pod1", "pod2"})
        # Changes the watch does not see: only a re-watch or relist shows them.
        source.add_drop_watch({"metadata": {"name": "pod3", "uid": "pod3"}})
        source.modify_drop_watch({"metadata": {"name": "pod2", "uid": "pod2"}})
        # (They are never sent, so there is nothing in flight to wait for;
        # a sentinel change here would move the watch past them.)
        for rec in (no_resync, resync):
            assert {_name(e) for e in rec.events} == {"pod1", "pod2"}
            rec.clear()

        clock.step(1)  # the resync handler is due
        resync.wait_for(lambda ev: {"pod1"} <= {_name(e) for e in ev})
        source.reset_watch()  # a connection loss
        no_resync.wait_for(lambda ev: {_name(e) for e in ev} >= {"pod2", "pod3"})
        resync.wait_for(lambda ev: {_name(e) for e in ev} >= {"pod1", "pod2", "pod3"})
        sentinel_barrier(source, no_resync, resync, name="s1")
        assert names_before(no_resync, "s1") == {"pod2", "pod3"}
        assert names_before(resync, "s1") == {"pod1", "pod2", "pod3"}


def test_error_handling() -> None:
    # TestSharedInformerErrorHandling: list errors reach the watch error handler.
    source = FakeControllerSource()
    source.add(pod("pod1"))
    source.list_error = RuntimeError("Access Denied")
    informer = new_informer(source, 1, use_watch_list=False)
    got: list[BaseException] = []
    seen = threading.Event()

    def handler(r: Any, err: BaseException) -> None:
        got.append(err)
        seen.set()

    informer.set_watch_error_handler(handler)
    with started(informer):
        assert seen.wait(WAIT)
    assert "Access Denied" in str(got[0])


def test_set_transform_and_error_handler_refused_after_start() -> None:
    # TestSharedInformerStartRace's contract, made explicit.
    source = FakeControllerSource()
    informer = new_informer(source)
    with started(informer) as stop:
        assert wait_for_cache_sync(stop, informer.has_synced)
        with pytest.raises(InformerStateError, match="already started"):
            informer.set_transform(lambda o: o)
        with pytest.raises(InformerStateError, match="already started"):
            informer.set_watch_error_handler(lambda r, e: None)


def test_transformer() -> None:
    # TestSharedInformerTransformer
    source = FakeControllerSource()
    source.add({"metadata": {"name": "pod1", "uid": "pod1"}})
    source.add({"metadata": {"name": "pod2", "uid": "pod2"}})
    informer = new_informer(source, 1)

    def upper(obj: Any) -> Any:
        md = obj["metadata"]
        return {**obj, "metadata": {**md, "name": md["name"].upper()}}

    informer.set_transform(upper)
    rec = Recorder()
    informer.add_event_handler(rec, 0)
    with started(informer):
        rec.wait_for(lambda ev: {_name(e) for e in ev} == {"POD1", "POD2"})
    assert sorted(informer.get_store().list_keys()) == ["POD1", "POD2"]


def test_transform_runs_exactly_once_per_received_object() -> None:
    # The reflector transforms as objects arrive; the queue must not again
    # (a transform need not be idempotent when nothing passes it twice).
    source = FakeControllerSource()
    source.add(pod("a"))
    informer = new_informer(source, 1)

    def count(obj: Any) -> Any:
        return {**obj, "transforms": obj.get("transforms", 0) + 1}

    informer.set_transform(count)
    rec = Recorder()
    informer.add_event_handler(rec, 0)
    with started(informer):
        rec.wait_count(1)
        source.add(pod("b"))
        source.modify(pod("a", labels={"x": "y"}))
        source.delete(pod("b"))
        rec.wait_count(4)
    assert sorted(e[0] for e in rec.events) == ["add", "add", "delete", "update"]
    delivered = [e[2] if e[0] == "update" else e[1] for e in rec.events]
    assert [o["transforms"] for o in delivered] == [1, 1, 1, 1]
    assert informer.get_store().list()[0]["transforms"] == 1


def test_remove_handler() -> None:
    # TestSharedInformerRemoveHandler
    informer = new_informer(FakeControllerSource(), 1)
    h1 = informer.add_event_handler(ResourceEventHandlerFuncs())
    h2 = informer.add_event_handler(ResourceEventHandlerFuncs())
    assert informer.handler_count() == 2
    informer.remove_event_handler(h2)
    assert informer.handler_count() == 1
    informer.remove_event_handler(h1)
    assert informer.handler_count() == 0


def test_remove_foreign_handler() -> None:
    # TestSharedInformerRemoveForeignHandler
    informer = new_informer(FakeControllerSource(), 1)
    informer2 = new_informer(FakeControllerSource(), 1)
    h1 = informer.add_event_handler(ResourceEventHandlerFuncs())
    h2 = informer.add_event_handler(ResourceEventHandlerFuncs())
    assert not informer2.is_registered(h1)
    informer2.remove_event_handler(h1)
    assert (informer.handler_count(), informer2.handler_count()) == (2, 0)
    assert informer.is_registered(h1) and informer.is_registered(h2)


def test_multiple_registration_and_removing_removed() -> None:
    # TestSharedInformerMultipleRegistration, TestRemovingRemovedSharedInformer
    informer = new_informer(FakeControllerSource(), 1)
    handler = ResourceEventHandlerFuncs()
    r1 = informer.add_event_handler(handler)
    r2 = informer.add_event_handler(handler)
    assert informer.handler_count() == 2
    informer.remove_event_handler(r1)
    assert not informer.is_registered(r1) and informer.is_registered(r2)
    informer.remove_event_handler(r1)  # already removed: no error
    informer.remove_event_handler(r2)
    assert informer.handler_count() == 0


def test_state_and_add_on_stopped() -> None:
    # TestStateSharedInformer, TestAddOnStoppedSharedInformer, TestRemoveOnStoppedSharedInformer
    source = FakeControllerSource()
    source.add(pod("pod1"))
    informer = new_informer(source, 1)
    rec = Recorder()
    reg = informer.add_event_handler(rec, 0)
    assert not informer.has_started() and not informer.is_stopped()
    with started(informer):
        rec.wait_for(lambda ev: len(ev) == 1)
        assert informer.has_started() and not informer.is_stopped()
    assert informer.is_stopped() and informer.has_started()
    with pytest.raises(InformerStateError, match="has stopped already"):
        informer.add_event_handler(Recorder())
    informer.remove_event_handler(reg)  # allowed on a stopped informer
    # A second run is refused: it returns although its stop event is never
    # set, and lists nothing (pod2, added since, never reaches the cache).
    source.add(pod("pod2"))
    never = threading.Event()
    second = threading.Thread(target=informer.run, args=(never,), name="kubeloop-test-rerun")
    second.start()
    try:
        second.join(WAIT)
        assert not second.is_alive(), "a second run() did not return"
    finally:
        never.set()
        second.join(WAIT)
    assert [p["metadata"]["name"] for p in informer.get_store().list()] == ["pod1"]


def test_remove_while_active() -> None:
    # TestRemoveWhileActive
    source = FakeControllerSource()
    informer = new_informer(source, 0)
    rec, witness = Recorder(), Recorder()
    reg = informer.add_event_handler(rec)
    informer.add_event_handler(witness)
    with started(informer):
        source.add(pod("pod1"))
        rec.wait_for(lambda ev: len(ev) == 1)
        informer.remove_event_handler(reg)
        assert not informer.is_registered(reg)
        source.add(pod("pod2"))
        witness.wait_for(lambda ev: len(ev) == 2)
    assert rec.names() == ["pod1"]


def test_add_while_active() -> None:
    # TestAddWhileActive: a late handler gets the cache replayed, then live events.
    source = FakeControllerSource()
    informer = new_informer(source, 0)
    l1 = Recorder()
    h1 = informer.add_event_handler(l1)
    assert not h1.has_synced()
    with started(informer):
        source.add(pod("pod1"))
        l1.wait_for(lambda ev: len(ev) == 1)
        assert h1.has_synced()

        gate = threading.Event()
        l2 = Recorder(gate=gate)  # blocked until the gate opens
        h2 = informer.add_event_handler(l2)
        assert not h2.has_synced(), "synced before processing anything"
        gate.set()
        source.add(pod("pod2"))
        l2.wait_for(lambda ev: len(ev) == 2)
        assert h2.has_synced()
        assert informer.is_registered(h1) and informer.is_registered(h2)
        l1.wait_for(lambda ev: len(ev) == 2)
    assert [(k, _name((k, a, b)), b) for k, a, b in l2.events] == [
        ("add", "pod1", True),
        ("add", "pod2", False),
    ]


def test_handler_abuse() -> None:
    # TestSharedInformerHandlerAbuse: handlers come and go while events flow.
    source = FakeControllerSource()
    informer = new_informer(source, 1)
    done = threading.Event()
    failures: list[BaseException] = []

    def worker() -> None:
        handles: list[Any] = []
        funcs = ResourceEventHandlerDetailedFuncs(
            add_func=lambda o, i: None, update_func=lambda a, b: None, delete_func=lambda o: None
        )
        i = 0
        while not done.is_set():
            i += 1
            try:
                if i % 2 or not handles:
                    handles.append(informer.add_event_handler(funcs, 1))
                else:
                    informer.remove_event_handler(handles.pop(i % len(handles)))
            except InformerStateError:
                return
            except BaseException as err:  # pragma: no cover - reported below
                failures.append(err)
                return

    with started(informer):
        workers = [threading.Thread(target=worker) for _ in range(8)]
        for w in workers:
            w.start()
        for i in range(300):
            source.add(pod(f"pod{i}"))
            if i % 3 == 0:
                source.modify(pod(f"pod{i}"))
            if i % 5 == 0:
                source.delete(pod(f"pod{i}"))
    done.set()
    for w in workers:
        w.join(WAIT)
    assert not failures


def test_slow_handler_does_not_block_others() -> None:
    source = FakeControllerSource()
    informer = new_informer(source, 0)
    gate = threading.Event()
    slow, fast = Recorder(gate=gate), Recorder()
    informer.add_event_handler(slow)
    informer.add_event_handler(fast)
    with started(informer) as stop:
        for i in range(50):
            source.add(pod(f"p{i}"))
        fast.wait_for(lambda ev: len(ev) == 50)
        assert len(informer.get_store().list()) == 50
        assert slow.events == []
        assert wait_for_cache_sync(stop, informer.has_synced)
        gate.set()
        slow.wait_for(lambda ev: len(ev) == 50)


def test_initial_list_flag_and_has_synced() -> None:
    source = FakeControllerSource()
    for i in range(3):
        source.add(pod(f"p{i}", "ns"))
    informer = new_informer(source, 0)
    rec = Recorder()
    reg = informer.add_event_handler(rec)
    with started(informer) as stop:
        assert wait_for_cache_sync(stop, informer.has_synced, reg.has_synced)
        source.add(pod("late", "ns"))
        rec.wait_for(lambda ev: len(ev) == 4)
    assert [b for _, _, b in rec.events] == [True, True, True, False]
    assert informer.last_sync_resource_version() == "4"
    assert sorted(informer.get_indexer().index_keys(NAMESPACE_INDEX, "ns")) == [
        "ns/late",
        "ns/p0",
        "ns/p1",
        "ns/p2",
    ]


@pytest.mark.parametrize("supports_watch_list", [True, False])
def test_watch_list_and_list_fallback_fill_the_same_cache(supports_watch_list: bool) -> None:
    source = FakeControllerSource()
    source.supports_watch_list = supports_watch_list
    for i in range(5):
        source.add(pod(f"p{i}"))
    informer = new_informer(source, 0)
    with started(informer) as stop:
        assert wait_for_cache_sync(stop, informer.has_synced)
    assert sorted(informer.get_store().list_keys()) == [f"p{i}" for i in range(5)]
    streamed = [o for o in source.watch_calls if o.send_initial_events]
    assert len(streamed) == 1
    assert bool(source.list_calls) is not supports_watch_list


def test_missed_delete_is_delivered_as_tombstone(queue_options: InformerQueueOptions) -> None:
    # A deletion the watch never saw surfaces on relist as a tombstone. The
    # relist also re-delivers "keep" (unchanged: a resync, and this handler
    # never opted out of those): after the tombstone on a RealFIFO, which
    # reports a relist's deletions first as client-go's does, before it on
    # a DeltaFIFO, which queues the listed keys first.
    source = FakeControllerSource()
    source.add(pod("keep"))
    source.add(pod("gone"))
    informer = new_informer(source, 0, use_watch_list=False)
    rec = Recorder()
    informer.add_event_handler(rec)
    with started(informer):
        rec.wait_for(lambda ev: len(ev) == 2)
        source.delete_drop_watch(pod("gone"))
        source.compact()  # re-watching from the old RV is no longer possible
        source.fail_watches(Gone(410, "Expired", "too old resource version"))
        rec.wait_for(lambda ev: len(ev) == 4)
    relist = [(kind, _name((kind, a, b))) for kind, a, b in rec.events[2:]]
    if queue_options.in_order:
        assert relist == [("delete", "gone"), ("update", "keep")]
    else:
        assert relist == [("update", "keep"), ("delete", "gone")]
    obj = next(a for kind, a, _ in rec.events if kind == "delete")
    assert isinstance(obj, DeletedFinalStateUnknown)
    assert obj.key == "gone" and obj.obj["metadata"]["name"] == "gone"
    assert informer.get_store().list_keys() == ["keep"]
