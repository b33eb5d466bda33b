"""The async twin of :class:`~kubeloop.client.Watch`: an async iterator of
events, decoded line by line as they arrive by the same
:class:`~kubeloop.client._watch.EventDecoder`.

Cancelling the task that iterates (or :meth:`AsyncWatch.stop`, or leaving
``async with``) closes the connection at once: the response is closed, not
returned to the pool, so nothing is left open to warn about.

::

    async with await nets.watch(resource_version=rv, allow_watch_bookmarks=True) as w:
        async for event in w:
            print(event.type, event.object["metadata"]["name"])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from kubeloop.client._transport import AsyncResponse, ExchangeFailure
from kubeloop.client._watch import EventDecoder, split_lines, stream_failure
from kubeloop.client.types import WatchEvent

T = TypeVar("T")


class AsyncWatch(Generic[T]):
    """An open watch (see :class:`~kubeloop.client.Watch` for what it
    yields and raises); iterate it once, from one task."""

    def __init__(
        self,
        response: AsyncResponse,
        path: str,
        *,
        idle_timeout: float,
        model: type[Any] | None = None,
        convert: Callable[[Any, str], Any] | None = None,
        on_stop: Callable[[AsyncWatch[Any]], None] | None = None,
    ) -> None:
        self._response = response
        self._path = path
        self._idle_timeout = idle_timeout
        self._decode: EventDecoder[T] = EventDecoder(path, model, convert)
        self._on_stop = on_stop
        self.stopped = False

    def __aiter__(self) -> AsyncIterator[WatchEvent[T]]:
        return self._events()

    async def _events(self) -> AsyncIterator[WatchEvent[T]]:
        buffer = b""
        try:
            async for chunk in self._response.chunks():
                if self.stopped:
                    return
                lines, buffer = split_lines(buffer, chunk)
                for line in lines:
                    yield self._decode(line)
                    if self.stopped:
                        return
            if buffer.strip() and not self.stopped:
                yield self._decode(buffer)
        except ExchangeFailure as err:
            if not self.stopped:
                raise stream_failure(self._path, self._idle_timeout, err) from err
        finally:
            self.stop()

    def stop(self) -> None:
        """End the watch and close its connection; iteration then ends."""
        if self.stopped:
            return
        self.stopped = True
        self._response.close()
        if self._on_stop is not None:
            self._on_stop(self)

    async def __aenter__(self) -> AsyncWatch[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
