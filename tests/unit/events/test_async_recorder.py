"""The async event recorder facade: records from a coroutine return at once,
and stopping (flushing what is queued) is awaited without blocking the loop."""

from __future__ import annotations

import asyncio
import threading

from kubeloop.events import AsyncEventRecorder, EventRecorder

from .helpers import POD, FakeSink


def test_records_from_a_coroutine_are_written_by_the_time_stop_is_awaited() -> None:
    sink = FakeSink()
    loop_ran_meanwhile = threading.Event()

    async def main() -> None:
        async with AsyncEventRecorder(
            EventRecorder(None, "c1", host="h", sink=sink, retry_interval=0.0)
        ) as events:
            events.event(POD, "Normal", "Synced", "synced")
            events.eventf(POD, None, "Warning", "Failed", "syncing", "%s failed", "sync")

        async def ticker() -> None:
            loop_ran_meanwhile.set()

        recorder = AsyncEventRecorder(EventRecorder(None, "c2", host="h", sink=FakeSink()))
        recorder.start()
        await asyncio.gather(recorder.stop(), ticker())

    asyncio.run(main())
    assert [(c[0], c[2]["reason"]) for c in sink.calls] == [
        ("create", "Synced"),
        ("create", "Failed"),
    ]
    assert sink.calls[1][2]["note"] == "sync failed"
    assert loop_ran_meanwhile.is_set()
