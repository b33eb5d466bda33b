"""A fault-injecting TCP proxy on loopback, for tests that must survive a bad
network between a client and the API server.

It forwards bytes unchanged (TLS passes through end to end, so certificates
still verify) and, on request, breaks things::

    with FaultProxy("127.0.0.1", api_port) as proxy:
        config = proxied_config(load_config(kubeconfig=cp.kubeconfig), proxy.port)
        ...
        proxy.cut_all()           # every open connection reset, both ways
        proxy.set_latency(0.2)    # each chunk delivered 200 ms after it was read
        proxy.stall(True)         # stop forwarding (connections stay open)
        proxy.silence_open()      # the connections open now carry nothing, ever;
                                  # new ones pass (a NAT that dropped its flows)
        proxy.refuse(True)        # new connections are closed at once

Why a real proxy rather than a fake transport: a watch that breaks half way,
a TLS session reset by the peer or a request stuck on a silent connection
exercise the client's real error paths (the HTTP transport, read timeouts,
the reflector's retry rules), which a fake would only imitate.

The proxy runs its own asyncio event loop in a daemon thread; every public
method is thread-safe and returns once the change is in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

if TYPE_CHECKING:
    from kubeloop.client import Config

__all__ = ["FaultProxy", "proxied_config", "proxied_kubeconfig"]

T = TypeVar("T")

_CHUNK = 64 * 1024


class _Pipe:
    """One proxied connection: the client side, the target side, and the
    two tasks pumping bytes between them."""

    def __init__(self, client: asyncio.StreamWriter, target: asyncio.StreamWriter) -> None:
        self.client = client
        self.target = target
        self.tasks: list[asyncio.Task[None]] = []
        # Cleared by silence_open(): this connection forwards nothing more.
        self.flowing = asyncio.Event()
        self.flowing.set()

    def abort(self, reset: bool) -> None:
        for writer in (self.client, self.target):
            if reset:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    # SO_LINGER with a zero timeout: close() sends RST, as a
                    # crashed peer or a middlebox dropping the flow would.
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                writer.transport.abort()
            else:
                writer.close()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port``, breaking
    connections on demand.

    Counters (read any time): ``accepted`` (connections forwarded),
    ``refused`` (closed at once while refusing), ``cuts`` (connections
    ended by :meth:`cut_all`); :meth:`open_connections` is how many are
    open now, and :meth:`wait_for_accepted` awaits a reconnect.
    """

    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1"):
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        # Loop-owned state (touched only on the loop thread):
        self._pipes: set[_Pipe] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._latency = 0.0
        self._refusing = False
        self._flowing: asyncio.Event | None = None
        # Guards the counters below, and is notified when ``accepted`` grows.
        self._counts = threading.Condition()
        self.accepted = 0
        self.refused = 0
        self.cuts = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> int:
        """Listen on a free port of ``listen_host``; return the port."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"faultproxy-{self.target_port}", daemon=True
        )
        self._thread.start()
        self.port = self._call(self._listen())
        return self.port

    async def _listen(self) -> int:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, self.listen_host, 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        """Close the listener and every connection; end the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            self._call(self._shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.abort(reset=False)
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults ---------------------------------------------------------------

    def cut_all(self, *, reset: bool = True) -> int:
        """End every open connection, both ways (with a TCP RST unless
        ``reset=False``, which closes them cleanly); return how many."""
        return self._call(self._cut_all(reset))

    async def _cut_all(self, reset: bool) -> int:
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.abort(reset)
            self._pipes.discard(pipe)
        with self._counts:
            self.cuts += len(pipes)
        return len(pipes)

    def set_latency(self, seconds: float) -> None:
        """Deliver every chunk ``seconds`` after it was read (each direction;
        chunks are delayed, not serialised: throughput is kept)."""
        self._call(self._set(latency=max(0.0, seconds)))

    def stall(self, stalled: bool) -> None:
        """Stop (True) or resume (False) forwarding; connections stay open
        and bytes already read wait in the proxy."""
        self._call(self._set(stalled=stalled))

    def silence_open(self) -> int:
        """Stop forwarding on every connection open now, for good, while new
        connections pass: the peers' kernels still ACK, so neither side sees
        an error, as behind a NAT or load balancer that dropped its flows.
        Returns how many connections were silenced."""
        return self._call(self._silence_open())

    async def _silence_open(self) -> int:
        for pipe in self._pipes:
            pipe.flowing.clear()
        return len(self._pipes)

    def refuse(self, refusing: bool) -> None:
        """While True, every new connection is closed as soon as it arrives."""
        self._call(self._set(refusing=refusing))

    async def _set(
        self,
        *,
        latency: float | None = None,
        stalled: bool | None = None,
        refusing: bool | None = None,
    ) -> None:
        if latency is not None:
            self._latency = latency
        if refusing is not None:
            self._refusing = refusing
        if stalled is not None:
            assert self._flowing is not None
            if stalled:
                self._flowing.clear()
            else:
                self._flowing.set()

    # -- observation ----------------------------------------------------------

    def open_connections(self) -> int:
        return self._call(self._count_open())

    async def _count_open(self) -> int:
        return len(self._pipes)

    def wait_for_accepted(self, count: int, timeout: float) -> bool:
        """Wait until ``accepted`` reaches ``count``; False on timeout."""
        with self._counts:
            return self._counts.wait_for(lambda: self.accepted >= count, timeout)

    # -- forwarding -----------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await self._forward(reader, writer)
        finally:
            self._handlers.discard(handler)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            with self._counts:
                self.refused += 1
            writer.transport.abort()
            return
        try:
            t_reader, t_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pipe = _Pipe(writer, t_writer)
        self._pipes.add(pipe)
        with self._counts:
            self.accepted += 1
            self._counts.notify_all()
        pipe.tasks = [
            asyncio.create_task(self._pump(reader, t_writer, pipe)),
            asyncio.create_task(self._pump(t_reader, writer, pipe)),
        ]
        await asyncio.gather(*pipe.tasks, return_exceptions=True)
        self._pipes.discard(pipe)
        for w in (writer, t_writer):
            w.close()  # flushes what was forwarded; a no-op after a cut

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pipe: _Pipe
    ) -> None:
        """Copy one direction. Reading and writing are split by a queue so a
        latency delays each chunk without serialising them."""
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        writing = asyncio.create_task(self._deliver(chunks, writer, pipe))
        flowing = self._flowing
        assert flowing is not None
        try:
            while True:
                await flowing.wait()
                await pipe.flowing.wait()
                data = await reader.read(_CHUNK)
                await chunks.put((time.monotonic() + self._latency, data))
                if not data:
                    break
            await writing
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writing.cancel()
            # One direction ended (EOF or error): end the whole connection,
            # as half-open connections only confuse the HTTP layers.
            for task in pipe.tasks:
                if task is not asyncio.current_task():
                    task.cancel()

    async def _deliver(
        self,
        chunks: asyncio.Queue[tuple[float, bytes]],
        writer: asyncio.StreamWriter,
        pipe: _Pipe,
    ) -> None:
        flowing = self._flowing
        assert flowing is not None
        try:
            while True:
                due, data = await chunks.get()
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await flowing.wait()
                await pipe.flowing.wait()
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            # The receiving side is gone: end both directions.
            for task in pipe.tasks:
                task.cancel()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            coro.close()
            raise RuntimeError("FaultProxy is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)


def proxied_config(config: Config, port: int, host: str = "127.0.0.1") -> Config:
    """A copy of ``config`` whose server is ``https://<host>:<port>`` (the
    testenv serving certificate has IP SAN 127.0.0.1, so TLS still verifies
    through the proxy)."""
    scheme = config.host.split("://", 1)[0] if "://" in config.host else "https"
    return dataclasses.replace(
        config,
        host=f"{scheme}://{host}:{port}",
        source=f"{config.source} via fault proxy :{port}",
        extra=dict(config.extra),
    )


def proxied_kubeconfig(
    source: str | Path, dest: str | Path, port: int, host: str = "127.0.0.1"
) -> Path:
    """Write a copy of kubeconfig ``source`` to ``dest`` with every cluster's
    server pointing at ``https://<host>:<port>``; return ``dest``."""
    doc = yaml.safe_load(Path(source).read_text())
    for cluster in doc.get("clusters") or []:
        server = cluster.get("cluster", {}).get("server", "")
        scheme = server.split("://", 1)[0] if "://" in server else "https"
        cluster["cluster"]["server"] = f"{scheme}://{host}:{port}"
    out = Path(dest)
    out.write_text(yaml.safe_dump(doc))
    return out
