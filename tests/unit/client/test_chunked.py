"""The chunked-coding undoer: any split of the raw bytes across reads gives
the same payload, the end is found, and broken framing is an error.

Splits are exhaustive (every one and every two cut points of a small body),
so no seed is involved.
"""

from __future__ import annotations

import itertools

import pytest

from kubeloop.client._chunked import MAX_SIZE_LINE, ChunkedError, Dechunker


def chunk(data: bytes, ext: bytes = b"") -> bytes:
    return b"%x" % len(data) + ext + b"\r\n" + data + b"\r\n"


EVENTS = [
    b'{"type":"ADDED"}\n',
    b'{"type":"MODIFIED","object":{}}\n',
    b"abcdefghijklmnopqrstuvwxyz",
]
BODY = (
    chunk(EVENTS[0])
    + chunk(EVENTS[1], b";name=value")
    + b"1A\r\n"  # hex digits in either case
    + EVENTS[2]
    + b"\r\n"
    + b"0\r\n\r\n"
)


def feed_in_pieces(body: bytes, cuts: tuple[int, ...]) -> tuple[bytes, Dechunker]:
    d = Dechunker()
    bounds = [0, *cuts, len(body)]
    out = b"".join(d.feed(body[a:b]) for a, b in itertools.pairwise(bounds))
    return out, d


def test_the_payload_is_the_same_however_the_reads_cut_the_body() -> None:
    want = b"".join(EVENTS)
    for cuts in itertools.chain(
        [()],
        itertools.combinations(range(1, len(BODY)), 1),
        itertools.combinations(range(1, len(BODY)), 2),
    ):
        out, d = feed_in_pieces(BODY, cuts)
        assert (out, d.done) == (want, True), cuts


def test_one_read_of_several_chunks_gives_their_payloads_in_one_piece() -> None:
    d = Dechunker()
    assert d.feed(chunk(b"ab") + chunk(b"cd") + chunk(b"ef")[:4]) == b"abcde"
    assert not d.done
    assert d.feed(b"f\r\n") == b"f"


def test_nothing_after_the_last_chunk_is_taken_for_payload() -> None:
    d = Dechunker()
    assert d.feed(chunk(b"abc") + b"0\r\nTrailer: x\r\n\r\n" + chunk(b"late")) == b"abc"
    assert d.done
    assert d.feed(chunk(b"more")) == b""


def test_a_body_cut_before_its_last_chunk_is_not_done() -> None:
    d = Dechunker()
    assert d.feed(chunk(b"abc")) == b"abc"
    assert not d.done


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\nabc\r\n",  # not hex
        b"0x3\r\nabc\r\n",  # int() would take it
        b"-3\r\nabc\r\n",
        b"+3\r\nabc\r\n",
        b"1_0\r\nabc\r\n",
        b"\r\nabc\r\n",  # empty
        b"3\r\nabcXY",  # the payload not followed by CRLF
        b"3\r\nabc\rX",
    ],
)
def test_broken_framing_is_a_chunked_error(raw: bytes) -> None:
    with pytest.raises(ChunkedError):
        Dechunker().feed(raw)


def test_a_size_line_that_never_ends_is_an_error_once_it_is_too_long() -> None:
    d = Dechunker()
    d.feed(b"1" * MAX_SIZE_LINE)  # may still end
    with pytest.raises(ChunkedError, match="too long"):
        d.feed(b"1")
    with pytest.raises(ChunkedError, match="too long"):
        Dechunker().feed(b"1" + b";" * MAX_SIZE_LINE + b"\r\n")
