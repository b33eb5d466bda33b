"""kubeloop's two shortcuts on the event path, and that they keep the rules.

- RealFIFO ``process_on_arrival``: a producer that queues onto an idle queue
  processes it itself; whenever deltas wait or a pop is processing, it only
  queues and the consumer thread takes over. One pop at a time, in order.
- ``add_event_handler(..., synchronous=True)``: the handler is called on the
  thread that applies the change, with no buffer and thread of its own.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from kubeloop.cache import (
    Delta,
    DeltaType,
    RealFIFO,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
)
from kubeloop.cache.controller import Config, Controller, InformerQueueOptions
from kubeloop.cache.shared_informer import InformerStateError
from kubeloop.cache.testing import FakeControllerSource

from .helpers import running, wait_until


def obj(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


class Recorder:
    """A process function that records which thread ran it, in what order,
    and fails if two calls ever overlap."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.lock = threading.Lock()
        self.running = 0
        self.overlaps = 0
        self.seen: list[tuple[str, int]] = []
        self.threads: list[str] = []
        self.entered = threading.Event()

    def __call__(self, deltas: list[Delta], is_in_initial_list: bool) -> None:
        with self.lock:
            self.running += 1
            if self.running > 1:
                self.overlaps += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        with self.lock:
            for d in deltas:
                meta = d.object["metadata"]
                self.seen.append((meta["name"], int(meta["resourceVersion"])))
            self.threads.append(threading.current_thread().name)
            self.running -= 1


def atomic_fifo() -> RealFIFO:
    return RealFIFO(atomic_events=True, unlock_while_processing=True)


def test_a_producer_processes_an_idle_queue_itself_and_wakes_nobody() -> None:
    fifo = atomic_fifo()
    record = Recorder()
    fifo.process_on_arrival(record, record, lambda err: None)
    threading.current_thread().name = "producer"
    fifo.add(obj("a", 1))
    fifo.update(obj("a", 2))
    assert record.seen == [("a", 1), ("a", 2)]
    assert record.threads == ["producer", "producer"]
    assert len(fifo) == 0


def test_while_a_pop_processes_producers_only_queue_and_the_consumer_takes_the_rest() -> None:
    fifo = atomic_fifo()
    gate = threading.Event()
    record = Recorder(gate)
    fifo.process_on_arrival(record, record, lambda err: None)
    # The first add is processed by its producer, which the gate holds.
    first = threading.Thread(target=fifo.add, args=(obj("a", 1),), name="producer-1")
    first.start()
    assert record.entered.wait(10)
    fifo.add(obj("b", 2))  # busy: queued only (this thread must not block)
    fifo.add(obj("c", 3))
    assert len(fifo) == 2
    consumer_done = threading.Event()

    def consume() -> None:
        # Waits for its turn while producer-1 processes, then pops the batch.
        fifo.pop_batch(record, record)
        consumer_done.set()

    consumer = threading.Thread(target=consume, name="consumer")
    consumer.start()
    gate.set()
    first.join(10)
    assert consumer_done.wait(10)
    consumer.join(10)
    assert record.seen == [("a", 1), ("b", 2), ("c", 3)]
    assert record.threads == ["producer-1", "consumer"]
    assert record.overlaps == 0


def test_an_error_raised_while_processing_on_arrival_goes_to_on_error_not_to_the_producer() -> None:
    fifo = atomic_fifo()
    errors: list[Exception] = []

    def broken(deltas: list[Delta], is_in_initial_list: bool) -> None:
        raise RuntimeError("handler bug")

    fifo.process_on_arrival(broken, broken, errors.append)
    fifo.add(obj("a", 1))  # must not raise
    assert [str(e) for e in errors] == ["handler bug"]
    fifo.add(obj("b", 2))  # and the queue is not stuck
    assert len(errors) == 2 and len(fifo) == 0


def test_the_initial_list_processed_on_arrival_makes_the_queue_synced_only_after_it() -> None:
    fifo = atomic_fifo()
    synced_during: list[bool] = []

    def process(deltas: list[Delta], is_in_initial_list: bool) -> None:
        assert is_in_initial_list
        synced_during.append(fifo.has_synced())

    fifo.process_on_arrival(process, process, lambda err: None)
    fifo.replace([obj("a", 1), obj("b", 1)], "1")
    assert synced_during == [False]
    assert fifo.has_synced()


@pytest.mark.parametrize("seed", [1, 7, 20261201, 99991])
def test_two_producers_and_the_consumer_keep_each_producers_order_and_never_overlap(
    seed: int,
) -> None:
    rng = random.Random(seed)
    fifo = atomic_fifo()
    record = Recorder()
    fifo.process_on_arrival(record, record, lambda err: None)
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set() or len(fifo):
            try:
                fifo.pop_batch(record, record, timeout=0.05)
            except TimeoutError:
                continue

    consumer = threading.Thread(target=consume, name="consumer")
    consumer.start()
    plans = {p: [rng.random() < 0.3 for _ in range(400)] for p in ("p", "q")}

    def produce(name: str) -> None:
        for i, pause in enumerate(plans[name]):
            fifo.update(obj(name, i))
            if pause:
                threading.Event().wait(0.0001 * rng.random())

    producers = [threading.Thread(target=produce, args=(n,), name=n) for n in plans]
    for t in producers:
        t.start()
    for t in producers:
        t.join(30)
    stop.set()
    consumer.join(30)
    assert record.overlaps == 0
    for name in plans:
        assert [rv for n, rv in record.seen if n == name] == list(range(400))


def test_without_process_on_arrival_the_consumer_thread_processes_everything() -> None:
    lw = FakeControllerSource()
    lw.add(obj("a", 1))
    threads: list[str] = []
    informer = SharedIndexInformer(lw, queue_options=InformerQueueOptions(process_on_arrival=False))
    informer.add_event_handler(
        ResourceEventHandlerFuncs(
            add_func=lambda o: threads.append(threading.current_thread().name)
        ),
        synchronous=True,
    )
    with running(informer.run):
        wait_until(lambda: len(threads) == 1)
        assert threads == ["kubeloop-test-runner"]  # the process loop: the informer's thread


def test_a_synchronous_handler_runs_on_the_thread_that_updated_the_cache_and_sees_it() -> None:
    lw = FakeControllerSource()
    lw.add(obj("a", 1))
    informer = SharedIndexInformer(lw)
    seen: list[tuple[str, str, bool]] = []

    def on_update(old: Any, new: Any) -> None:
        cached, exists = informer.get_indexer().get_by_key("ns/" + new["metadata"]["name"])
        rv = cached["metadata"]["resourceVersion"] if exists else ""
        seen.append((threading.current_thread().name, rv, exists))

    informer.add_event_handler(ResourceEventHandlerFuncs(update_func=on_update), synchronous=True)
    with running(informer.run):
        wait_until(informer.has_synced)
        lw.modify(obj("a", 2))
        wait_until(lambda: len(seen) == 1)
        thread, rv, exists = seen[0]
        assert (rv, exists) == ("2", True)
        assert thread.startswith("kubeloop-reflector")  # processed on arrival


def test_a_failing_synchronous_handler_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lw = FakeControllerSource()
    informer = SharedIndexInformer(lw)
    heard: list[str] = []

    def broken(o: Any) -> None:
        raise RuntimeError("bug in handler")

    informer.add_event_handler(ResourceEventHandlerFuncs(add_func=broken), synchronous=True)
    informer.add_event_handler(
        ResourceEventHandlerFuncs(add_func=lambda o: heard.append(o["metadata"]["name"])),
        synchronous=True,
    )
    with running(informer.run):
        wait_until(informer.has_synced)
        lw.add(obj("x", 3))
        wait_until(lambda: heard == ["x"])
        assert any("bug in handler" in r.getMessage() or r.exc_info for r in caplog.records)


def test_a_synchronous_handler_that_adds_a_handler_gets_a_clear_error_not_a_deadlock() -> None:
    lw = FakeControllerSource()
    informer = SharedIndexInformer(lw)
    errors: list[Exception] = []
    heard: list[str] = []

    def on_add(o: Any) -> None:
        heard.append(o["metadata"]["name"])
        try:
            informer.add_event_handler(ResourceEventHandlerFuncs())
        except InformerStateError as err:
            errors.append(err)

    informer.add_event_handler(ResourceEventHandlerFuncs(add_func=on_add), synchronous=True)
    with running(informer.run):
        wait_until(informer.has_synced)
        lw.add(obj("first", 1))
        lw.add(obj("second", 2))
        wait_until(lambda: heard == ["first", "second"])  # the informer goes on
        assert len(errors) == 2
        assert "synchronous event handler" in str(errors[0])
        assert informer.handler_count() == 1


def test_controller_config_hands_errors_of_on_arrival_processing_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fifo = atomic_fifo()
    lw = FakeControllerSource()
    calls: list[int] = []

    def process(deltas: list[Delta], is_in_initial_list: bool) -> None:
        calls.append(len(deltas))
        if deltas[0].type is DeltaType.ADDED:
            raise RuntimeError("cannot apply")

    controller = Controller(
        Config(queue=fifo, list_watch=lw, process=process, process_on_arrival=True)
    )
    with running(controller.run):
        wait_until(controller.has_synced)
        lw.add(obj("a", 5))
        wait_until(lambda: any("error processing deltas" in r.getMessage() for r in caplog.records))
        lw.modify(obj("a", 6))
        wait_until(lambda: len(calls) >= 3)  # relist, the failed add, the update
