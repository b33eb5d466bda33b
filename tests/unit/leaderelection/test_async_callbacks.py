"""Leader-election callbacks written as coroutines: awaited on the loop the
config names (or a loop of their own), with ``stop_leading`` as an
``asyncio.Event`` that is set when leadership ends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from kubeloop.clock import FakeClock
from kubeloop.leaderelection import LeaderCallbacks

from .helpers import LockStore, Recorder, candidate, running


class AsyncRecorder(Recorder):
    """The Recorder's log, from coroutine callbacks; notes the loop each ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def astarted(self, stop_leading: asyncio.Event) -> None:
        self.loops.append(asyncio.get_running_loop())
        self._append("started")
        await stop_leading.wait()
        self._append("work done")

    async def astopped(self) -> None:
        self.loops.append(asyncio.get_running_loop())
        self._append("stopped")

    async def anew_leader(self, identity: str) -> None:
        self._append(f"leader {identity}")

    def async_callbacks(self) -> LeaderCallbacks:
        return LeaderCallbacks(self.astarted, self.astopped, self.anew_leader)


@pytest.fixture
def program_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A running loop in a thread, as an async program's own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="kubeloop-test-loop")
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_coroutine_callbacks_run_on_the_configs_loop(
    program_loop: asyncio.AbstractEventLoop,
) -> None:
    store, clock, rec = LockStore(), FakeClock(), AsyncRecorder()
    elector = candidate(store, "me", clock, callbacks=rec.async_callbacks(), loop=program_loop)
    with running(elector, clock):
        rec.wait_for("started")
        rec.wait_for("leader me")
        assert elector.is_leader()
    assert rec.entries()[-2:] == ["work done", "stopped"]
    assert rec.loops == [program_loop, program_loop]
    assert store.current().holder_identity == ""  # released after the work ended


def test_without_a_loop_each_coroutine_callback_gets_one_of_its_own() -> None:
    store, clock, rec = LockStore(), FakeClock(), AsyncRecorder()
    elector = candidate(store, "me", clock, callbacks=rec.async_callbacks())
    with running(elector, clock):
        rec.wait_for("started")
    assert rec.entries()[-2:] == ["work done", "stopped"]
    assert len(rec.loops) == 2 and all(loop.is_closed() for loop in rec.loops)
