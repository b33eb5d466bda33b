"""Many threads hammering one queue: the three guarantees a controller relies on.

- no item is processed by two workers at once;
- no item is lost;
- every add is followed by a processing of that item that starts after it.
"""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest

from kubeloop.workqueue import Queue

ITEMS = 50
PRODUCERS = 4
WORKERS = 8
ADDS_PER_PRODUCER = 2000


@pytest.mark.parametrize("readd_while_processing", [False, True], ids=["plain", "readd"])
def test_many_threads_keep_the_guarantees(readd_while_processing: bool) -> None:
    q: Queue[int] = Queue()
    # Guards the bookkeeping below. The sequence numbers order adds and
    # processing starts: an add takes its number *before* q.add, a worker
    # *after* q.get, so "processed after the add" is start_seq > add_seq.
    lock = threading.Lock()
    seq = itertools.count()
    last_add_seq = [-1] * ITEMS
    last_start_seq = [-1] * ITEMS
    in_flight: set[int] = set()
    violations: list[str] = []

    def add(item: int) -> None:
        with lock:
            add_seq = next(seq)
        q.add(item)
        # A re-add racing with the final shutdown may be dropped, as it should
        # be; only an add that finished before shutdown began is owed a run.
        if not q.shutting_down():
            with lock:
                last_add_seq[item] = max(last_add_seq[item], add_seq)

    def produce(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(ADDS_PER_PRODUCER):
            item = rng.randrange(ITEMS)
            add(item)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            item, shutdown = q.get()
            if shutdown:
                return
            assert item is not None
            with lock:
                if item in in_flight:
                    violations.append(f"{item} processed concurrently")
                in_flight.add(item)
                last_start_seq[item] = next(seq)
            if readd_while_processing and rng.random() < 0.2:
                add(item)
            time.sleep(0)  # "work": give other workers the GIL while we hold the item
            with lock:
                in_flight.discard(item)
            q.done(item)

    producers = [threading.Thread(target=produce, args=(i,)) for i in range(PRODUCERS)]
    workers = [threading.Thread(target=work, args=(100 + i,)) for i in range(WORKERS)]
    for thread in producers + workers:
        thread.start()
    for thread in producers:
        thread.join()
    # Drain: everything added so far must still be handed out, including items
    # re-added while being processed.
    q.shut_down_with_drain()
    for thread in workers:
        thread.join(30)
        assert not thread.is_alive()

    assert violations == []
    assert len(q) == 0
    never_processed = [i for i in range(ITEMS) if last_add_seq[i] >= 0 > last_start_seq[i]]
    assert never_processed == [], "items lost"
    stale = [i for i in range(ITEMS) if last_start_seq[i] < last_add_seq[i]]
    assert stale == [], "an add was not followed by a processing of its item"
