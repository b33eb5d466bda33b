"""Logging as Kubernetes components log: klog text lines, or one JSON object
per line, with key/value pairs bound to the object being reconciled.

::

    setup_logging(verbosity=2, fmt="text")
    log = KeyValueLogger(logging.getLogger("foo"), controller="foos")
    log.info("Reconciling", name="web")
    # I1126 12:53:18.064409   27159 foo.py:12] "Reconciling" controller="foos" name="web"

``-v`` 0-3 logs INFO and above, 4 and more add DEBUG (klog's V-levels,
roughly: V(4) is debug in Kubernetes components). The HTTP libraries
(httpx, httpcore, h2, hpack) stay at WARNING at every verbosity: at DEBUG
they print request headers, which carry the bearer token.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

from kubeloop._locks import acquire

__all__ = [
    "HTTP_LOGGERS",
    "JsonFormatter",
    "KeyValueLogger",
    "KlogFormatter",
    "LineHandler",
    "setup_logging",
]

#: Loggers that print request headers (credentials) at DEBUG.
HTTP_LOGGERS = ("httpx", "httpcore", "h2", "hpack", "urllib3")

#: The LogRecord attribute that carries a record's key/value pairs.
KVS = "kvs"

_SEVERITY = {logging.DEBUG: "I", logging.INFO: "I", logging.WARNING: "W", logging.ERROR: "E"}


def _kvs(record: logging.LogRecord) -> Mapping[str, Any]:
    kvs = getattr(record, KVS, None)
    return kvs if isinstance(kvs, Mapping) else {}


#: Keyword arguments that are logging's own; the others are key/value pairs.
_LOGGING_KWARGS = frozenset(("exc_info", "stack_info", "stacklevel", "extra"))

#: This process's pid, for the direct path (``os.getpid`` is a system call;
#: a forked child asks again).
_pid = os.getpid()


def _reset_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_reset_pid)

#: Source file basenames by code object filename (klog's ``file:line``).
_basenames: dict[str, str] = {}


def _record_of(line: str) -> logging.LogRecord:
    """A record to report a failed write of ``line`` against (``handleError``)."""
    return logging.LogRecord(__name__, logging.ERROR, __file__, 0, "%s", (line.rstrip(),), None)


def _quote(value: Any) -> str:
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    text = str(value)
    # Most values (names, keys, IDs) need no escaping: skip the encoder.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


class KlogFormatter(logging.Formatter):
    """``Lmmdd hh:mm:ss.uuuuuu pid file:line] msg``, then ``key="value"``
    pairs; with pairs, the message is quoted as klog's structured lines are.

    Every reconcile logs a line, so the line is cheap to make: the
    ``mmdd hh:mm:ss`` part is formatted once per second and the pid once
    per process (``os.getpid`` is a system call), not per line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""
        self._pid = -1
        self._pid_text = ""

    def _stamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # racy but benign: both writers compute the same text
            self._second_text = time.strftime("%m%d %H:%M:%S", time.localtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1e6):06d}"

    def _pid_field(self, pid: int | None) -> str:
        # The record's pid (logging reads it once per record) keeps a forked
        # child's lines right without asking the kernel again here.
        if pid is None:
            pid = os.getpid()
        if pid != self._pid:
            self._pid_text = f"{pid:>7}"
            self._pid = pid
        return self._pid_text

    def format(self, record: logging.LogRecord) -> str:
        line = self.line(
            record.levelno,
            record.created,
            record.process,
            record.filename,
            record.lineno,
            record.getMessage(),
            _kvs(record),
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def line(
        self,
        levelno: int,
        created: float,
        pid: int | None,
        filename: str,
        lineno: int,
        message: str,
        kvs: Mapping[str, Any],
    ) -> str:
        """The line for these fields (``format`` and :class:`KeyValueLogger`'s
        direct path both build it here, so the two cannot drift apart)."""
        severity = "F" if levelno >= logging.CRITICAL else _SEVERITY.get(levelno)
        if severity is None:
            severity = "E" if levelno > logging.WARNING else "I"
        if kvs:
            pairs = " ".join(f"{k}={_quote(v)}" for k, v in kvs.items())
            message = f"{_quote(message)} {pairs}"
        ts = self._stamp(created)
        return f"{severity}{ts} {self._pid_field(pid)} {filename}:{lineno}] {message}"


class LineHandler(logging.StreamHandler[IO[str]]):
    """A stream handler that formats outside its lock and writes whole
    lines, in order, coalescing the lines of threads that log while another
    thread is writing.

    ``logging.StreamHandler`` formats while holding the handler's lock, so
    workers that log one line per reconcile queue up behind each other's
    formatting (the profile of the Network controller showed a fifth of its
    samples waiting in ``Handler.acquire``). Here the lock covers only the
    write and flush.

    Why coalesce: one ``write`` per line into a pipe costs 8-23 us of CPU
    when the reader sleeps between lines (a wake-up per line), about as
    much as the rest of a reconcile, and with two workers every write also
    hands the GIL over. So a line is queued, and the thread that finds
    the writer's lock free writes every queued line in one ``write``; a
    thread that finds it taken leaves its line to the writer, which checks
    the queue again after it lets the lock go, so no line waits for a later
    one. A single thread still writes each line at once; under load a line
    waits at most for the write in progress. Lines are never split or
    interleaved: only the lock's holder writes, whole lines. When more than
    ``MAX_QUEUED`` lines wait (a stalled reader), loggers wait for the
    writer instead of queueing more, as a plain handler would.
    """

    #: Lines queued behind a write in progress before loggers block on it.
    MAX_QUEUED = 10_000

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._queued: deque[str] = deque()

    def handle(self, record: logging.LogRecord) -> bool:
        rv = self.filter(record)
        if not rv:
            return False
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return rv
        self.put(line, record)
        return rv

    def put(self, line: str, record: logging.LogRecord | None = None) -> None:
        """Write ``line`` (whole, newline included) in order with every other
        line of this handler; ``record`` is what a write error is reported
        against (:class:`KeyValueLogger`'s direct path makes none unless a
        write fails)."""
        lock = self.lock
        assert lock is not None  # created by Handler.__init__
        queued = self._queued
        queued.append(line)  # deque.append/popleft: atomic, no lock needed
        if len(queued) > self.MAX_QUEUED:
            acquire(lock)  # back-pressure: wait for the writer, then write
        elif not lock.acquire(False):
            return  # the writer holds the lock and writes our line after its own
        while True:
            try:
                self._write_queued(queued)
            except Exception:
                self.handleError(record or _record_of(line))
            finally:
                lock.release()
            # A line queued while we held the lock, by a thread that then
            # found it taken, is ours to write: check after releasing.
            if not queued or not lock.acquire(False):
                return

    def _write_queued(self, queued: deque[str]) -> None:
        lines = []
        try:
            while True:
                lines.append(queued.popleft())
        except IndexError:
            pass
        if lines:
            self.stream.write("".join(lines))
            self.flush_stream()

    def flush(self) -> None:
        """Write what is queued, then flush the stream (``logging.shutdown`` calls this)."""
        lock = self.lock
        assert lock is not None
        acquire(lock)
        try:
            self._write_queued(self._queued)
        finally:
            lock.release()
        super().flush()

    def flush_stream(self) -> None:
        # A line-buffered text stream (stderr) has flushed at the newline.
        if not getattr(self.stream, "line_buffering", False):
            self.stream.flush()


class JsonFormatter(logging.Formatter):
    """One JSON object per line (Kubernetes' ``--logging-format=json``
    fields: ``ts``, ``caller``, ``msg``, then the pairs), plus ``level`` and
    ``logger``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "caller": f"{record.filename}:{record.lineno}",
            "msg": record.getMessage(),
        }
        for key, value in _kvs(record).items():
            doc.setdefault(key, value if isinstance(value, bool | int | float) else str(value))
        if record.exc_info:
            doc["err"] = self.formatException(record.exc_info)
        return json.dumps(doc)


class KeyValueLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds key/value pairs to every record (klog's
    ``klog.KObj``-style context, logr's ``WithValues``).

    Pairs given to one call join the bound ones::

        log = KeyValueLogger(logging.getLogger("foo"), controller="foos")
        log.info("Created Deployment", deployment="web")
        log.with_values(reconcileID="3f2a").info("done")

    The pairs travel on the record (``record.kvs``); the formatters of this
    module print them. Under another formatter they are not shown.
    """

    def __init__(self, logger: logging.Logger, **kvs: Any) -> None:
        super().__init__(logger, {})
        self.kvs: dict[str, Any] = dict(kvs)

    def with_values(self, **kvs: Any) -> KeyValueLogger:
        # Not through __init__ (LoggerAdapter's and a dict copy): the runner
        # binds a logger per reconcile.
        bound = KeyValueLogger.__new__(KeyValueLogger)
        bound.logger, bound.extra, bound.kvs = self.logger, {}, {**self.kvs, **kvs}
        return bound

    # debug/info/warning/error take the direct path when they can (below);
    # critical, exception and log are LoggerAdapter's.
    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._emit(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._emit(logging.INFO, msg, args, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._emit(logging.WARNING, msg, args, kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._emit(logging.ERROR, msg, args, kwargs)

    def _emit(self, levelno: int, msg: object, args: tuple[object, ...], kwargs: Any) -> None:
        """Build the klog line and hand it to the handler, without a
        ``LogRecord``, when the one thing that would see the record is a
        :class:`LineHandler` with a :class:`KlogFormatter` (what
        :func:`setup_logging` sets up); else log through ``logging``.

        Why: the network controller logs a line per reconcile, and
        ``logging``'s machinery (``findCaller``, the ``LogRecord``, the walk
        to the handlers) cost 10.8 us of its 36 us per key. The line is
        the same either way: both paths build it in ``KlogFormatter.line``.
        """
        logger = self.logger
        if not logger.isEnabledFor(levelno):
            return
        handler = None
        if not (
            logger.disabled
            or (kwargs and not _LOGGING_KWARGS.isdisjoint(kwargs))
            or (len(args) == 1 and isinstance(args[0], Mapping))  # logging's %(name)s form
        ):
            handler = _direct_handler(logger, levelno)
        if handler is not None:
            frame = sys._getframe(2)  # our caller's (_emit, then info/debug/...)
            path = frame.f_code.co_filename
            filename = _basenames.get(path)
            if filename is None:
                filename = _basenames[path] = os.path.basename(path)
            try:
                message = str(msg) % args if args else str(msg)
                kvs = {**self.kvs, **kwargs} if kwargs else self.kvs
                formatter: KlogFormatter = handler.formatter  # type: ignore[assignment]
                line = formatter.line(
                    levelno, time.time(), _pid, filename, frame.f_lineno, message, kvs
                )
            except Exception:  # logging reports it, below
                pass
            else:
                handler.put(line + handler.terminator)
                return
        # Two frames of ours (_emit, info/...) before the caller's.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2
        self.log(levelno, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        pairs = {**self.kvs, **(extra.get(KVS) or {})}
        # Keyword arguments that logging does not know are pairs too.
        for name in list(kwargs):
            if name not in ("exc_info", "stack_info", "stacklevel", "extra"):
                pairs[name] = kwargs.pop(name)
        extra[KVS] = pairs
        kwargs["extra"] = extra
        return msg, kwargs


def _direct_handler(logger: logging.Logger, levelno: int) -> LineHandler | None:
    """The handler a record of ``logger`` at ``levelno`` reaches, when it
    reaches exactly one, a :class:`LineHandler` with a
    :class:`KlogFormatter`, and no filter is on the way; else None.

    Checked on every call (three loggers' attributes for a module logger
    under root): logging has no generation count that would tell a cached
    answer is stale after a handler is added (pytest's caplog adds one).
    """
    found: LineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for h in current.handlers:
            if (
                found is not None
                or type(h) is not LineHandler
                or type(h.formatter) is not KlogFormatter
                or h.filters
                or levelno < h.level
            ):
                return None
            found = h
        current = current.parent if current.propagate else None
    return found


def setup_logging(verbosity: int = 0, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Route every logger to ``stream`` (stderr) in ``fmt`` (``text``: klog
    lines, ``json``) at the level ``verbosity`` asks for; safe to call again."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: use 'text' or 'json'")
    handler = LineHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KlogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 4 else logging.INFO)
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
