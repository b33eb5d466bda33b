"""HTTP/1.1 chunked transfer coding, undone over whatever bytes each read gives.

A watch is one long chunked response, one chunk per event. http.client
takes it apart a chunk at a time through half a dozen Python calls (a size
line read through the buffered socket, the payload read, the CRLF after it),
and urllib3 wraps each chunk in a few more (its error catcher, its buffer):
in the update storm of the benchmarks that reading was the largest piece of
the reflector's time (py-spy, 18 % of all GIL-holding samples, more than
decoding and caching the event together). :class:`Dechunker` takes the
bytes of one read of the raw stream, however they fall across chunk
boundaries, and returns the payload they complete in one piece::

    dechunk = Dechunker()
    dechunk.feed(b"5\\r\\nhello\\r\\n3;ext=1\\r\\nabc")  # b"helloabc"
    dechunk.feed(b"\\r\\n0\\r\\n\\r\\n")                 # b""
    dechunk.done                                       # True

Chunk extensions and trailers are ignored, as the API server sends none. A
size line that is not hex, longer than 1 KiB, or a payload not followed by
CRLF raises :class:`ChunkedError`: the stream is broken and the connection
must be dropped.
"""

from __future__ import annotations

import re

__all__ = ["ChunkedError", "Dechunker"]

#: The longest size line (with extensions) taken before the stream counts as broken.
MAX_SIZE_LINE = 1024
_HEX = re.compile(rb"[0-9A-Fa-f]+\Z")


class ChunkedError(ValueError):
    """The bytes are not a valid chunked body."""


class Dechunker:
    """Undo the chunked coding of one response body, read by read (see the module docs)."""

    __slots__ = ("_after", "_head", "_left", "done")

    def __init__(self) -> None:
        self._left = 0  # payload bytes of the current chunk still to come
        self._after = b""  # what of the CRLF that ends a payload is still to come
        self._head = b""  # the start of a size line cut off by the end of a read
        #: The last chunk (size 0) has been seen: the body is complete.
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The payload bytes that ``data`` (the next bytes of the raw body)
        carries; nothing once :attr:`done`."""
        out: list[bytes] = []
        pos = 0
        end = len(data)
        while pos < end and not self.done:
            if self._left:
                upto = min(end, pos + self._left)
                out.append(data[pos:upto])
                self._left -= upto - pos
                pos = upto
                if not self._left:
                    self._after = b"\r\n"
            elif self._after:
                got = data[pos : pos + len(self._after)]
                if not self._after.startswith(got):
                    raise ChunkedError(f"chunk payload not followed by CRLF: {got!r}")
                self._after = self._after[len(got) :]
                pos += len(got)
            else:
                pos = self._size_line(data, pos)
        return out[0] if len(out) == 1 else b"".join(out)

    def _size_line(self, data: bytes, pos: int) -> int:
        """Read a chunk's size line from ``data[pos:]``; where reading goes on."""
        nl = data.find(b"\n", pos)
        if nl < 0:
            self._head += data[pos:]
            if len(self._head) > MAX_SIZE_LINE:
                raise ChunkedError("chunk size line too long")
            return len(data)
        line = self._head + data[pos:nl]
        self._head = b""
        if len(line) > MAX_SIZE_LINE:
            raise ChunkedError("chunk size line too long")
        digits = line.split(b";", 1)[0].strip()
        if _HEX.match(digits) is None:  # int() would also take "0x", "_" and signs
            raise ChunkedError(f"invalid chunk size line: {line[:64]!r}")
        size = int(digits, 16)
        if size == 0:
            self.done = True  # trailers, if any, are left unread
        self._left = size
        return nl + 1
