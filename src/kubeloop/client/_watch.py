"""A watch stream: events decoded line by line as they arrive.

The event loop task only reads bytes and splits lines; the consuming thread
decodes each line once, straight from bytes (msgspec), so the loop stays free
for the other requests sharing the connection and nothing is buffered beyond
lines not yet consumed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from kubeloop.client._loop import LoopThread
from kubeloop.client._rest import AsyncRest
from kubeloop.client.types import EventType, WatchEvent
from kubeloop.errors import DecodeError, TransportError, api_error_from_status
from kubeloop.typed import PartialObjectMetadata

T = TypeVar("T")


class _Event(msgspec.Struct):
    type: EventType
    object: Any


class _ModelEvent(msgspec.Struct, Generic[T]):
    type: EventType
    object: T


_event_decoder = msgspec.json.Decoder(_Event)
_bookmark_decoder = msgspec.json.Decoder(_ModelEvent[PartialObjectMetadata])
# model -> decoder of that model's events; built once per model.
_model_event_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _model_event_decoder(model: type[Any]) -> msgspec.json.Decoder[Any]:
    dec = _model_event_decoders.get(model)
    if dec is None:
        dec = _model_event_decoders[model] = msgspec.json.Decoder(_ModelEvent[model])  # type: ignore[valid-type]
    return dec


_END = object()


def decode_model_event(line: bytes, model: type[Any]) -> Any:
    """A watch line as an event whose object is a ``model``.

    Only when that fails (a EventType.BOOKMARK or EventType.ERROR object lacks the model's
    required fields) is the line decoded again, as what it then is: a
    BOOKMARK's object as :class:`PartialObjectMetadata`, an ERROR's Status as
    a dict. Raises ``msgspec.DecodeError`` for anything else.
    """
    try:
        return _model_event_decoder(model).decode(line)
    except msgspec.DecodeError:
        event = _event_decoder.decode(line)
        if event.type == EventType.BOOKMARK:
            return _bookmark_decoder.decode(line)
        if event.type == EventType.ERROR:
            return event
        raise


class Watch:
    """An open watch (implements :class:`kubeloop.client.WatchStream`).

    Iterate for :class:`WatchEvent`; iteration ends when the server closes
    the stream (timeoutSeconds reached) or :meth:`stop` is called from any
    thread. An EventType.ERROR event raises its :class:`ApiError` (e.g. ``Gone``); a
    broken connection raises :class:`TransportError`.

    Objects are plain dicts, or instances of ``model`` when one is given
    (decoded straight from the line). A typed watch decodes EventType.BOOKMARK objects,
    which carry only metadata, as :class:`PartialObjectMetadata`, and an
    EventType.ERROR event's Status as a dict, so it still raises the typed ApiError.
    """

    def __init__(
        self,
        loop: LoopThread,
        rest: AsyncRest,
        path: str,
        params: dict[str, Any],
        timeout: float,
        *,
        model: type[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._loop = loop
        self._path = path
        self._model = model
        # Lines (bytes), an exception, or _END. Unbounded: the consumer is
        # an informer that drains it continuously.
        self._lines: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stopped = threading.Event()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._task_future = loop.submit(
            self._pump(rest, path, params, timeout, started, headers or {})
        )
        try:
            started.result()
        except BaseException:
            self.stop()
            raise

    async def _pump(
        self,
        rest: AsyncRest,
        path: str,
        params: dict[str, Any],
        timeout: float,
        started: concurrent.futures.Future[None],
        headers: dict[str, str],
    ) -> None:
        put = self._lines.put
        try:
            response = await rest.send(
                "GET",
                path,
                params=params,
                stream=True,
                # No read timeout: a watch is quiet for minutes at a time;
                # timeoutSeconds and TCP keepalive bound it instead.
                timeout=httpx.Timeout(timeout, read=None),
                # A gzip-compressed watch is held in the server's compressor:
                # events after the initial ones arrived only when the stream
                # ended (seen with kube-apiserver 1.37). Watch uncompressed.
                headers={"Accept-Encoding": "identity", **headers},
            )
        except BaseException as err:
            if not started.done():
                started.set_exception(err)
            return
        started.set_result(None)
        buffer = b""
        try:
            async for chunk in response.aiter_bytes():
                buffer += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line:
                        put(line)
            if buffer.strip():
                put(buffer)
            put(_END)
        except asyncio.CancelledError:
            put(_END)
            raise
        except httpx.HTTPError as err:
            put(TransportError(f"watch {path}: connection broke: {err!r}"))
        except BaseException as err:
            put(err)
            raise
        finally:
            await response.aclose()

    def __iter__(self) -> Iterator[WatchEvent]:
        get = self._lines.get
        model = self._model
        decode = _event_decoder.decode if model is None else lambda b: decode_model_event(b, model)
        while True:
            item = get()
            if item is _END or self._stopped.is_set():
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            try:
                event = decode(item)
            except msgspec.DecodeError as err:
                self.stop()
                raise DecodeError(f"watch {self._path}: undecodable event: {err}") from err
            if event.type == EventType.ERROR:
                self.stop()
                if model is not None:  # a lax model may have swallowed the Status
                    event = _event_decoder.decode(item)
                obj = event.object if isinstance(event.object, dict) else {}
                raise api_error_from_status(obj)
            yield WatchEvent(event.type, event.object)

    def stop(self) -> None:
        """End the watch from any thread; iteration returns promptly."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._lines.put(_END)
        self._task_future.cancel()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
