"""Queue and DelayingQueue against a plain model of client-go's rules (hypothesis).

The model is the specification in a few lines: a FIFO list, a dirty set and a
processing set; pending delayed items keep their earliest ready time. Every
operation on the real queue must give what the model gives.
"""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kubeloop.clock import FakeClock
from kubeloop.workqueue import DelayingQueue, GetResult, Queue

ITEMS = st.sampled_from(["a", "b", "c", "d"])


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.q = self.make_queue()
        self.queue: list[str] = []
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.shutting_down = False

    def make_queue(self) -> Queue[str]:
        return Queue(clock=self.clock)

    def model_add(self, item: str) -> None:
        if self.shutting_down or item in self.dirty:
            return
        self.dirty.add(item)
        if item not in self.processing:
            self.queue.append(item)

    def model_get(self) -> GetResult[str]:
        if not self.queue:
            return None, True
        item = self.queue.pop(0)
        self.processing.add(item)
        self.dirty.discard(item)
        return item, False

    @rule(item=ITEMS)
    def add(self, item: str) -> None:
        self.q.add(item)
        self.model_add(item)

    @precondition(lambda self: self.queue or self.shutting_down)  # otherwise get() blocks
    @rule()
    def get(self) -> None:
        assert self.q.get() == self.model_get()

    @precondition(lambda self: self.queue or self.shutting_down)
    @rule()
    def get_async(self) -> None:
        assert asyncio.run(self.q.get_async()) == self.model_get()

    @precondition(lambda self: self.processing)
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        item = data.draw(st.sampled_from(sorted(self.processing)))
        self.q.done(item)
        self.processing.remove(item)
        if item in self.dirty:
            self.queue.append(item)

    @rule(item=ITEMS)
    def done_without_get(self, item: str) -> None:
        if item not in self.processing:
            self.q.done(item)  # ignored: nobody holds it

    @rule()
    def shut_down(self) -> None:
        self.q.shut_down()
        self.shutting_down = True

    @precondition(lambda self: not self.processing)  # otherwise it waits for done()
    @rule()
    def shut_down_with_drain(self) -> None:
        self.q.shut_down_with_drain()
        self.shutting_down = True

    @invariant()
    def same_length(self) -> None:
        assert len(self.q) == len(self.queue)

    @invariant()
    def same_shutdown_state(self) -> None:
        assert self.q.shutting_down() == self.shutting_down

    def teardown(self) -> None:
        self.q.shut_down()


class DelayingQueueMachine(QueueMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waiting: dict[str, tuple[float, int]] = {}
        self.seq = itertools.count()
        self.timer_running = False

    def make_queue(self) -> Queue[str]:
        self.dq: DelayingQueue[str] = DelayingQueue(clock=self.clock)
        return self.dq

    @rule(item=ITEMS, delay=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0]))
    def add_after(self, item: str, delay: float) -> None:
        self.dq.add_after(item, delay)
        if self.shutting_down:
            return
        if delay <= 0:
            self.model_add(item)
            return
        self.timer_running = True
        ready_at = self.now + delay
        existing = self.waiting.get(item)
        if existing is None or ready_at < existing[0]:
            self.waiting[item] = (ready_at, next(self.seq))

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5]))
    def step(self, seconds: float) -> None:
        self.now += seconds
        self.clock.step(seconds)
        due = sorted((entry, item) for item, entry in self.waiting.items() if entry[0] <= self.now)
        for _, item in due:
            del self.waiting[item]
            self.model_add(item)
        if self.timer_running and not self.shutting_down:
            assert self.clock.wait_for_waiters(), "timer thread did not settle"

    def stop_timer(self) -> None:
        self.waiting.clear()
        self.timer_running = False

    @rule()
    def shut_down(self) -> None:
        super().shut_down()
        self.stop_timer()

    @precondition(lambda self: not self.processing)
    @rule()
    def shut_down_with_drain(self) -> None:
        super().shut_down_with_drain()
        self.stop_timer()


QueueMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
DelayingQueueMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None
)
test_queue_matches_model = QueueMachine.TestCase
test_delaying_queue_matches_model = DelayingQueueMachine.TestCase
