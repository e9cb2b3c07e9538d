"""What the bulk readers (bulk.py: pcap, pcapng.py: pcapng) hand out: a chunk of records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..packets.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_ALT,
)

# The link types read here, as the Decoder reads them: (where the first ethertype is, or
# None when the link header has none; where the network header begins behind it).  VLAN
# tags follow an ethertype as on Ethernet.
LINKS: dict[int, tuple[int | None, int]] = {
    LINKTYPE_ETHERNET: (12, 14),
    LINKTYPE_LINUX_SLL: (14, 16),  # tcpdump -i any
    LINKTYPE_LINUX_SLL2: (0, 20),
    LINKTYPE_RAW: (None, 0),
    **{raw: (None, 0) for raw in LINKTYPE_RAW_ALT},
    LINKTYPE_NULL: (None, 4),  # the address family is not read: the IP version decides
    LINKTYPE_LOOP: (None, 4),
}
REFUSED = "not a regular-file pcap or pcapng of a link type the bulk engine reads"


class Unsupported(Exception):
    """The capture is not one the bulk reader takes on; the reason says why."""


class Cut(Exception):
    """The file ends inside a record that begins at file offset *offset* (*rest*: its
    bytes), or that record is damaged (*damaged*); every record before it was whole and
    handed out.  *why*: the reference reader's words for it, once the format's reader found
    them."""

    def __init__(self, offset: int, rest: bytes, why: str = "", damaged: bool = False) -> None:
        super().__init__(why or "capture cut short")
        self.offset = offset
        self.rest = rest
        self.why = why
        self.damaged = damaged


class Stop(Exception):
    """A walk met a record it cannot go past (a length no record has): the records before
    it (*starts*) are whole, and the input ends at *pos* (:class:`Cut`)."""

    def __init__(self, starts: list[int], pos: int) -> None:
        super().__init__("a record the walk cannot go past")
        self.starts = starts
        self.pos = pos


@dataclass(frozen=True, slots=True)
class Header:
    endian: str  # struct's byte-order character
    resolution: float  # seconds per tick of a record's second field
    link_type: int


@dataclass(slots=True)
class Chunk:
    buf: bytes
    link_type: int
    data: np.ndarray  # int64: offset of each record's frame in buf
    caplen: np.ndarray  # int64
    ts: np.ndarray  # float64, as capture.py computes it
    file_bytes: int  # bytes of the file consumed through this chunk
    file_offset: int  # where buf begins in the file


def u32_column(b: np.ndarray, at: np.ndarray, endian: str) -> np.ndarray:
    """The 32-bit unsigned integers at offsets *at* of the bytes *b* (a C-contiguous uint8
    array)."""
    return words(b, endian + "u4")[at].astype(np.int64)


def words(b: np.ndarray, dtype: str) -> np.ndarray:
    """The bytes *b* as overlapping integers of *dtype*, one beginning at every offset (a
    view with a one-byte stride: one gather per column instead of one per byte; offsets
    too near the end for a whole one are out of range)."""
    size = np.dtype(dtype).itemsize
    return np.ndarray((max(b.size - size + 1, 0),), dtype, b, 0, (1,))


Walk = Callable[[bytes], tuple[list[int], int]]
"""A format's walk over a buffer: where each whole record (or block) begins, and where the
first one that does not fit begins (the buffer's length if all do)."""


def runs(
    fh: BinaryIO, rest: bytes, chunk_bytes: int, consumed: int, walk: Walk
) -> Iterator[tuple[bytes, list[int], int, int]]:
    """The file *fh* read *chunk_bytes* at a time after *rest* (bytes read already, which
    begin at file offset *consumed*), as (buffer, its records' starts, the file's bytes
    through its last record, the buffer's file offset); a record that does not fit waits
    for the next read; a file that ends inside one, or a record the walk cannot go past
    (:class:`Stop`), is :class:`Cut` once the records before it are out.
    *fh* must be a regular file positioned at *consumed* + ``len(rest)``."""

    def fill(rest: bytes, consumed: int) -> tuple[bytes, bool]:
        if not rest:
            buf = fh.read(chunk_bytes)
            return buf, bool(buf)
        # A record cut by the last read is read again with what follows it rather than
        # joined to it: ``rest + more`` cost a copy of the whole chunk into a fresh
        # buffer (0.5 s more to read a 515 MB capture with glibc's default malloc
        # settings, 0.04 s with cli/mallocpolicy.py's).
        # A block larger than a read is read at twice the size each time: its bytes
        # are read about twice in all, not once per read as joining them would.
        fh.seek(consumed)
        buf = fh.read(len(rest) + max(chunk_bytes, len(rest)))
        if len(buf) < len(rest):  # cut below it meanwhile: it ends inside that record
            raise Cut(consumed, rest)
        return buf, len(buf) > len(rest)  # (whether the file went on after it)

    return _walked(fill, rest, consumed, walk)


def stream_runs(
    read: Callable[[], bytes], rest: bytes, chunk_bytes: int, consumed: int, walk: Walk
) -> Iterator[tuple[bytes, list[int], int, int]]:
    """:func:`runs` for a stream that cannot seek (a pipe): *read* gives what it has now,
    at least one byte, or b"" at its end; a record cut by a read is joined to what follows
    it (a copy of the chunk: a stream has no second read)."""
    ended = False

    def fill(rest: bytes, _consumed: int) -> tuple[bytes, bool]:
        nonlocal ended
        # one buffer, not the reads: a writer's pieces may be a byte each
        acc = bytearray(rest)
        want = len(rest) + max(chunk_bytes, len(rest))  # (as runs: a large record, twice)
        while len(acc) < want and not ended:
            more = read()
            if more:
                acc += more
            else:
                ended = True
        return bytes(acc), not ended  # (the payloads cut from it are bytes)

    return _walked(fill, rest, consumed, walk)


def _walked(
    fill: Callable[[bytes, int], tuple[bytes, bool]], rest: bytes, consumed: int, walk: Walk
) -> Iterator[tuple[bytes, list[int], int, int]]:
    """:func:`runs`' loop over the buffers *fill* gives: each begins with the *rest* the
    last one left (at file offset *consumed*), with whether the input goes on after it."""
    while True:
        buf, more = fill(rest, consumed)
        if not buf:
            return
        try:
            starts, pos = walk(buf)
            stop = False
        except Stop as at:
            starts, pos, stop = at.starts, at.pos, True
        rest = buf[pos:]
        offset = consumed
        consumed += pos
        if starts:
            yield buf, starts, consumed, offset
        if stop or (not more and rest):
            raise Cut(consumed, rest)
        if not more:
            return
