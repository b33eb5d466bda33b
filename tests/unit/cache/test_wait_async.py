"""wait_for_cache_sync_async: True once every informer has synced, False
when the stop event comes first, and the loop keeps running meanwhile."""

from __future__ import annotations

import asyncio

from kubeloop.cache import wait_for_cache_sync_async


def test_it_returns_true_once_every_function_is_true() -> None:
    synced = {"a": True, "b": False}

    async def main() -> bool:
        waiting = asyncio.create_task(
            wait_for_cache_sync_async(lambda: synced["a"], lambda: synced["b"])
        )
        await asyncio.sleep(0)  # let it make its first check
        assert not waiting.done()  # b has not synced: it waits, the loop runs on
        synced["b"] = True
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(main()) is True


def test_it_returns_false_when_stopped_first() -> None:
    async def main() -> bool:
        stop = asyncio.Event()
        waiting = asyncio.create_task(wait_for_cache_sync_async(lambda: False, stop=stop))
        await asyncio.sleep(0)
        stop.set()
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(main()) is False
