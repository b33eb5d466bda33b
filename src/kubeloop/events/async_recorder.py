"""The event recorder for an async program: records from a coroutine never
wait (an occurrence is queued, as with :class:`EventRecorder`), and starting
and stopping it, which joins its writer thread and flushes what is queued,
are awaited off the loop.

::

    async with AsyncEventRecorder(EventRecorder(client, "my-controller")) as events:
        events.event(foo, "Normal", "Synced", "Foo synced successfully")

Why a facade rather than a second recorder: the writer, its series, spam
filter and retries are the same; only the waits an event loop must not
block on differ.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubeloop.events.recorder import EventRecorder

__all__ = ["AsyncEventRecorder"]


class AsyncEventRecorder:
    """An :class:`EventRecorder` used from an event loop."""

    def __init__(self, recorder: EventRecorder) -> None:
        self.recorder = recorder

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        """As :meth:`EventRecorder.event`; returns at once (safe in a coroutine)."""
        self.recorder.event(obj, event_type, reason, message)

    def eventf(
        self,
        regarding: Any,
        related: Any,
        event_type: str,
        reason: str,
        action: str,
        note: str,
        *args: Any,
    ) -> None:
        """As :meth:`EventRecorder.eventf`; returns at once."""
        self.recorder.eventf(regarding, related, event_type, reason, action, note, *args)

    def start(self) -> None:
        self.recorder.start()

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued within ``timeout``, then stop (in a thread)."""
        await asyncio.to_thread(self.recorder.stop, timeout)

    async def __aenter__(self) -> AsyncEventRecorder:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
