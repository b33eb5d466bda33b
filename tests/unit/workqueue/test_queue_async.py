"""get_async: asyncio tasks and threads sharing one queue."""

from __future__ import annotations

import asyncio
import threading
import time

from kubeloop.workqueue import Queue

ITEMS = 200
WORK_SECONDS = 0.001  # simulated work, so that neither kind of worker takes everything


def test_async_and_thread_workers_share_a_queue() -> None:
    q: Queue[int] = Queue()
    # Guards processed and in_flight, touched by both kinds of worker.
    lock = threading.Lock()
    processed: dict[int, int] = {}
    in_flight: set[int] = set()
    violations: list[int] = []

    def begin(item: int) -> None:
        with lock:
            if item in in_flight:
                violations.append(item)
            in_flight.add(item)
            processed[item] = processed.get(item, 0) + 1

    def end(item: int) -> None:
        with lock:
            in_flight.discard(item)

    def thread_worker() -> None:
        while True:
            got = q.get()
            if got[1]:
                return
            item = got[0]
            begin(item)
            time.sleep(WORK_SECONDS)
            end(item)
            q.done(item)

    async def async_worker() -> int:
        handled = 0
        while True:
            got = await q.get_async()
            if got[1]:
                return handled
            item = got[0]
            begin(item)
            await asyncio.sleep(WORK_SECONDS)
            end(item)
            q.done(item)
            handled += 1

    def produce() -> None:
        for i in range(ITEMS):
            q.add(i)

    async def main() -> list[int]:
        tasks = [asyncio.create_task(async_worker()) for _ in range(4)]
        await asyncio.sleep(0)  # the tasks are now waiting on an empty queue
        producer = threading.Thread(target=produce)
        producer.start()
        await asyncio.to_thread(producer.join)
        # Drain from a thread: async workers still need the loop to call done().
        await asyncio.to_thread(q.shut_down_with_drain)
        return await asyncio.gather(*tasks)

    threads = [threading.Thread(target=thread_worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    handled_by_tasks = asyncio.run(main())
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()

    assert violations == []
    assert sorted(processed) == list(range(ITEMS))
    assert sum(handled_by_tasks) > 0, "the async workers took no items"
    assert sum(handled_by_tasks) < ITEMS, "the thread workers took no items"


def test_get_async_returns_an_item_added_from_another_thread() -> None:
    q: Queue[str] = Queue()

    async def main() -> object:
        waiter = asyncio.create_task(q.get_async())
        await asyncio.sleep(0)
        threading.Thread(target=q.add, args=("x",)).start()
        return await asyncio.wait_for(waiter, 10)

    assert asyncio.run(main()) == ("x", False)


def test_shut_down_wakes_async_waiters() -> None:
    q: Queue[str] = Queue()

    async def main() -> list[object]:
        waiters = [asyncio.create_task(q.get_async()) for _ in range(3)]
        await asyncio.sleep(0)
        threading.Thread(target=q.shut_down).start()
        return list(await asyncio.wait_for(asyncio.gather(*waiters), 10))

    assert asyncio.run(main()) == [(None, True)] * 3


def test_get_async_hands_out_items_queued_before_shut_down() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    q.shut_down()

    async def main() -> list[object]:
        return [await q.get_async(), await q.get_async()]

    assert asyncio.run(main()) == [("a", False), (None, True)]


def test_cancelled_waiter_loses_no_item() -> None:
    q: Queue[str] = Queue()

    async def main() -> object:
        first = asyncio.create_task(q.get_async())
        second = asyncio.create_task(q.get_async())
        await asyncio.sleep(0)  # both wait; "first" is woken first
        q.add("x")
        first.cancel()  # ...but is cancelled before it can take "x"
        got = await asyncio.wait_for(second, 10)
        assert first.cancelled()
        return got

    assert asyncio.run(main()) == ("x", False)


def test_cancelled_waiter_is_not_woken() -> None:
    q: Queue[str] = Queue()

    async def main() -> object:
        first = asyncio.create_task(q.get_async())
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        second = asyncio.create_task(q.get_async())
        await asyncio.sleep(0)
        q.add("x")
        return await asyncio.wait_for(second, 10)

    assert asyncio.run(main()) == ("x", False)


def test_waiter_on_a_closed_loop_does_not_swallow_a_wake_up() -> None:
    q: Queue[str] = Queue()
    dead_loop = asyncio.new_event_loop()
    task = dead_loop.create_task(q.get_async())
    dead_loop.run_until_complete(asyncio.sleep(0))  # the task now waits
    dead_loop.close()  # abandoned without cancelling it

    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(q.get()))
    thread.start()
    q.add("x")
    thread.join(10)
    assert got == [("x", False)]
    del task
