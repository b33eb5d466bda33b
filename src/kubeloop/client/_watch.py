"""A watch stream: events decoded line by line as they arrive.

The consuming thread reads the connection itself, splits lines and decodes
each once, straight from bytes (msgspec): no thread hands bytes to another,
and nothing is buffered beyond the lines of the last read. :meth:`Watch.stop`
from another thread shuts the connection down, which ends a blocked read.

A watch that asked for bookmarks (``allowWatchBookmarks``, as every
informer does) and receives no byte for ``Config.watch_idle_timeout`` (75 s)
ends with a :class:`TransportError`: the API server sends such a watch a
bookmark about every minute, so a healthy one always hears from it, and a
silent one sits on a connection that went dead without closing (a NAT or
load balancer that dropped the flow). The reflector then resumes from its
last resourceVersion on a new connection. A watch without bookmarks waits
until the server must have ended it (see :func:`watch_idle_timeout`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import msgspec

from kubeloop.client._config import Config
from kubeloop.client._rest import Rest
from kubeloop.client._transport import ExchangeFailure
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


def split_lines(buffer: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """The complete, non-empty lines of ``buffer + chunk`` and what is left."""
    if b"\n" not in chunk:
        return [], buffer + chunk
    *lines, rest = (buffer + chunk).split(b"\n")
    return [line for line in lines if line], rest


class EventDecoder(Generic[T]):
    """One watch line into a :class:`WatchEvent` (dicts, or ``model``),
    for the sync :class:`Watch` and the async one alike: an ERROR event
    raises its :class:`ApiError`, an undecodable line :class:`DecodeError`,
    and ``convert`` is applied to every other object but a BOOKMARK's."""

    def __init__(
        self,
        path: str,
        model: type[Any] | None = None,
        convert: Callable[[Any, str], Any] | None = None,
    ) -> None:
        self._path = path
        self._model = model
        self._convert = convert
        self._what = f"watch {path}"

    def __call__(self, line: bytes) -> WatchEvent[T]:
        model = self._model
        try:
            event = (
                _event_decoder.decode(line) if model is None else decode_model_event(line, model)
            )
        except msgspec.DecodeError as err:
            raise DecodeError(f"watch {self._path}: undecodable event: {err}") from err
        if event.type == EventType.ERROR:
            if model is not None:  # a lax model may have swallowed the Status
                event = _event_decoder.decode(line)
            obj = event.object if isinstance(event.object, dict) else {}
            raise api_error_from_status(obj)
        found = event.object
        if self._convert is not None and event.type != EventType.BOOKMARK:
            found = self._convert(found, self._what)
        return WatchEvent(event.type, found)


def watch_idle_timeout(config: Config, params: dict[str, str]) -> float:
    """How long a watch may hear nothing: ``watch_idle_timeout`` when it
    asked for bookmarks (the server then speaks about every minute); else
    until the server must have ended it, ``timeoutSeconds`` or the API
    server's longest default (twice its 30-minute ``--min-request-timeout``),
    plus one request timeout."""
    if str(params.get("allowWatchBookmarks", "")).lower() == "true":
        return config.watch_idle_timeout
    seconds = params.get("timeoutSeconds")
    server_ends = float(seconds) if seconds else 3600.0
    return server_ends + config.timeout


def stream_failure(path: str, idle_timeout: float, err: ExchangeFailure) -> TransportError:
    """What a watch whose connection failed raises."""
    if err.timed_out:
        return TransportError(
            f"watch {path}: no bytes for {idle_timeout:g}s; the connection went silent"
        )
    return TransportError(f"watch {path}: connection broke: {err}")


class Watch(Generic[T]):
    """An open watch (implements :class:`kubeloop.client.WatchStream`).

    Iterate for :class:`WatchEvent`; iteration ends when the server closes
    the stream (timeoutSeconds reached) or :meth:`stop` is called from any
    thread. An EventType.ERROR event raises its :class:`ApiError` (e.g.
    ``Gone``); a broken or silent connection raises :class:`TransportError`.

    Objects are plain dicts, or instances of ``model`` when one is given
    (decoded straight from the line). A typed watch decodes
    EventType.BOOKMARK objects, which carry only metadata, as
    :class:`PartialObjectMetadata`, and an EventType.ERROR event's Status as
    a dict, so it still raises the typed ApiError. ``convert(obj, what)``
    (a codec's ``event_object``) is applied to every other event's object;
    an error it raises stops the watch.
    """

    def __init__(
        self,
        rest: Rest,
        path: str,
        params: dict[str, Any],
        *,
        idle_timeout: float,
        model: type[Any] | None = None,
        headers: dict[str, str] | None = None,
        on_stop: Callable[[Watch[Any]], None] | None = None,
        convert: Callable[[Any, str], Any] | None = None,
    ) -> None:
        self._path = path
        self._model = model
        self._convert = convert
        self._idle_timeout = idle_timeout
        self._stopped = threading.Event()
        # Guards _reading: while a thread is inside a read, only it may close
        # the response (stop() from elsewhere shuts the socket down instead).
        self._lock = threading.Lock()
        self._reading = False
        self._on_stop = on_stop
        self._response = rest.send(
            "GET",
            path,
            params=params,
            stream=True,
            read_timeout=idle_timeout,
            # A gzip-compressed watch is held in the server's compressor:
            # events after the initial ones arrived only when the stream
            # ended (seen with kube-apiserver 1.37). Watch uncompressed.
            headers={"Accept-Encoding": "identity", **(headers or {})},
        )

    def _read(self, chunks: Iterator[bytes]) -> bytes | None:
        """The next chunk, or None at the end or once stopped. While this
        thread is inside the read, stop() shuts the socket down instead of
        closing it under the read."""
        with self._lock:
            if self._stopped.is_set():
                return None
            self._reading = True
        try:
            return next(chunks, None)
        finally:
            with self._lock:
                self._reading = False

    def _lines(self) -> Iterator[bytes]:
        buffer = b""
        chunks = self._response.chunks()
        try:
            while (chunk := self._read(chunks)) is not None:
                if self._stopped.is_set():
                    return
                lines, buffer = split_lines(buffer, chunk)
                yield from lines
        except ExchangeFailure as err:
            if self._stopped.is_set():
                return
            raise stream_failure(self._path, self._idle_timeout, err) from err
        if buffer.strip() and not self._stopped.is_set():
            yield buffer

    def __iter__(self) -> Iterator[WatchEvent[T]]:
        decode: EventDecoder[T] = EventDecoder(self._path, self._model, self._convert)
        try:
            for line in self._lines():
                yield decode(line)
                if self._stopped.is_set():
                    return
        finally:
            with self._lock:
                self._stopped.set()
            self._release()

    def _release(self) -> None:
        self._response.close()
        if self._on_stop is not None:
            self._on_stop(self)

    def stop(self) -> None:
        """End the watch from any thread; iteration returns promptly."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            reading = self._reading
        if reading:
            self._response.abort()  # the reading thread then releases it
        else:
            self._release()

    def __enter__(self) -> Watch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
