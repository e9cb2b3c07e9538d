"""A pcapng file read in chunks of whole blocks, for the bulk engine (bulk.py reads pcap).

Wireshark and dumpcap write pcapng by default, so most captures an analyst is handed are
pcapng.  Only what the reference reader (``packets/capture.py``) reads without a word is
taken here: one section; interfaces declared before the first packet, all of one link type
of :data:`~.chunk.LINKS`; enhanced packet blocks; blocks of other types (name resolution,
statistics, secrets, custom) skipped as the reference skips them, once their length and
trailing copy are checked.  Anything else -- a second section, a simple or obsolete packet
block, a block whose length or trailer is wrong, a packet of an undeclared interface, a time
before 1970 or beyond 2100 -- raises :class:`~.chunk.Unsupported`, and the reference engine
reads the capture (and says what is wrong with it).  A file that ends inside a block is
read up to it (:class:`~.chunk.Cut`, in the reference reader's words).

A packet's time is computed as capture.py computes it: the 64-bit tick count as a double,
times the interface's seconds per tick, plus its offset in seconds (IEEE doubles, the same
steps in numpy).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, NoReturn

import numpy as np

from ..packets.capture import (
    BLOCK_CUT,
    BLOCK_EPB,
    BLOCK_IDB,
    BLOCK_PB,
    BLOCK_SHB,
    BLOCK_SPB,
    MAX_BLOCK,
    MAX_SECONDS,
    PCAPNG_BYTE_ORDER,
    PCAPNG_MIN_BLOCK,
    PCAPNG_SHB,
    block_cut,
    interface_clock,
)
from .chunk import LINKS, REFUSED, Chunk, Cut, Header, Unsupported, runs, u32_column

_MIN_BLOCK = np.zeros(16, dtype=np.int64) + 12  # by block type, for types below 16 (and SHB)
for _btype, _least in PCAPNG_MIN_BLOCK.items():
    if _btype < 16:
        _MIN_BLOCK[_btype] = _least


def header(head: bytes) -> Header | None:
    """The section's byte order and its first interface's clock and link type, from the
    file's first bytes, if they hold them and the link type is read here; else None."""
    if head[:4] != PCAPNG_SHB or len(head) < 28:
        return None
    endian = PCAPNG_BYTE_ORDER.get(head[8:12])
    if endian is None:
        return None
    pos = struct.unpack_from(endian + "I", head, 4)[0]
    try:
        interfaces = _Interfaces(endian)
        while pos + 12 <= len(head):
            btype, blen = struct.unpack_from(endian + "II", head, pos)
            if blen < 12 or pos + blen > len(head):
                return None
            if btype == BLOCK_IDB:
                interfaces.add(head, pos, blen)
                tick, link = interfaces.ticks[0], interfaces.link_type
                return Header(endian, tick, link) if link in LINKS else None
            if btype in (BLOCK_EPB, BLOCK_PB, BLOCK_SPB, BLOCK_SHB):
                return None
            pos += blen
    except Unsupported:
        return None
    return None


class _Interfaces:
    """The section's interfaces: one link type, each its clock."""

    def __init__(self, endian: str) -> None:
        self.endian = endian
        self.link_type: int | None = None
        self.ticks: list[float] = []
        self.offsets: list[int] = []
        self._columns: tuple[np.ndarray, np.ndarray] | None = None

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Seconds per tick and offsets as arrays by interface (made once per change: a
        file may declare very many interfaces)."""
        if self._columns is None:
            self._columns = (np.array(self.ticks), np.array(self.offsets, dtype=np.int64))
        return self._columns

    def add(self, buf: bytes, pos: int, blen: int) -> None:
        if blen < PCAPNG_MIN_BLOCK[BLOCK_IDB]:
            raise Unsupported("damaged pcapng block")
        link, _reserved, _snaplen = struct.unpack_from(self.endian + "HHI", buf, pos + 8)
        if self.link_type is not None and link != self.link_type:
            raise Unsupported("pcapng interfaces of several link types")
        if link not in LINKS:
            raise Unsupported(f"pcapng interface of link type {link}")
        tick, offset = interface_clock(buf, pos + 16, pos + blen - 4, self.endian, _refuse)
        self.link_type = link
        self.ticks.append(tick)
        self.offsets.append(offset)
        self._columns = None


def _refuse(why: str) -> NoReturn:
    raise Unsupported(f"damaged pcapng interface: {why}")


def chunks(fh: BinaryIO, head: bytes, chunk_bytes: int) -> Iterator[Chunk]:
    """The packets of the pcapng file *fh*, whose first bytes *head* were read already."""
    endian = PCAPNG_BYTE_ORDER.get(head[8:12]) if len(head) >= 12 else None
    if endian is None:
        raise Unsupported(REFUSED)
    head_u32 = struct.Struct(endian + "I").unpack_from
    interfaces = _Interfaces(endian)
    packets_seen = False

    def walk(buf: bytes) -> tuple[list[int], int]:
        # The one loop over every block in Python: it only follows the lengths (each at
        # least 12, else the walk would stand still).  A block that does not fit in buf is
        # given back for the next read; everything else is checked at once afterwards.
        starts: list[int] = []
        append = starts.append
        pos, n = 0, len(buf)
        last = n - 12
        while pos <= last:
            blen = head_u32(buf, pos + 4)[0]
            if blen < 12:
                raise Unsupported("damaged pcapng block")
            append(pos)
            pos += blen
        if pos > n:
            pos = starts.pop()
            if head_u32(buf, pos + 4)[0] > MAX_BLOCK:
                raise Unsupported("damaged pcapng block")
        return starts, pos

    try:
        for buf, starts, consumed, offset in runs(fh, head, chunk_bytes, 0, walk):
            chunk, packets_seen = _chunk(
                buf, np.array(starts, dtype=np.int64), interfaces, offset, consumed, packets_seen
            )
            if chunk is not None:
                yield chunk
    except Cut as cut:
        raise _cut_short(cut, endian) from None


def _cut_short(cut: Cut, endian: str) -> Cut:
    """A pcapng ending inside a block, in capture.py's words, or :class:`Unsupported` when
    that reader would call the block's header damaged, or it begins a new section (its
    messages are its own)."""
    rest = cut.rest
    if len(rest) < 12:
        return Cut(cut.offset, rest, BLOCK_CUT)
    if rest[:4] == PCAPNG_SHB:
        raise Unsupported("a section cut short")
    btype, blen = struct.unpack_from(endian + "II", rest)
    if blen < PCAPNG_MIN_BLOCK.get(btype, 12) or blen & 3 or blen > MAX_BLOCK:
        raise Unsupported("damaged pcapng block")
    return Cut(cut.offset, rest, block_cut(btype, blen))


def _chunk(
    buf: bytes,
    starts: np.ndarray,
    interfaces: _Interfaces,
    offset: int,
    consumed: int,
    packets_seen: bool,
) -> tuple[Chunk | None, bool]:
    endian = interfaces.endian
    b = np.frombuffer(buf, dtype=np.uint8)
    btype = u32_column(b, starts, endian)
    blen = u32_column(b, starts + 4, endian)
    least = np.where(btype < 16, _MIN_BLOCK[np.minimum(btype, 15)], 12)
    least[btype == BLOCK_SHB] = PCAPNG_MIN_BLOCK[BLOCK_SHB]
    if bool(np.any((blen < least) | (blen & 3 != 0) | (blen > MAX_BLOCK))):
        raise Unsupported("damaged pcapng block")
    if bool(np.any(u32_column(b, starts + blen - 4, endian) != blen)):
        raise Unsupported("damaged pcapng block")
    packet = btype == BLOCK_EPB
    others = np.flatnonzero(~packet)
    if others.size:
        # few: the section header, interfaces, and blocks the reference skips
        first_packet = int(np.argmax(packet)) if packet.any() else starts.size
        for k in others.tolist():
            pos, kind, length = int(starts[k]), int(btype[k]), int(blen[k])
            if kind == BLOCK_SHB:
                if offset + pos != 0:
                    raise Unsupported("a pcapng file of several sections")
                major = struct.unpack_from(endian + "H", buf, pos + 12)[0]
                if major != 1:
                    raise Unsupported("pcapng version")
            elif kind == BLOCK_IDB:
                if packets_seen or k > first_packet:
                    raise Unsupported("a pcapng interface declared after packets")
                interfaces.add(buf, pos, length)
            elif kind in (BLOCK_PB, BLOCK_SPB):
                raise Unsupported("pcapng packet blocks other than enhanced ones")
    at = starts[packet]
    if not at.size:
        return None, packets_seen
    iface = u32_column(b, at + 8, endian)
    if interfaces.link_type is None or bool(np.any(iface >= len(interfaces.ticks))):
        raise Unsupported("a pcapng packet of an undeclared interface")
    caplen = u32_column(b, at + 20, endian)
    if bool(np.any(caplen > blen[packet] - 32)):
        raise Unsupported("a pcapng packet longer than its block")
    hi = u32_column(b, at + 12, endian).astype(np.uint64)
    lo = u32_column(b, at + 16, endian).astype(np.uint64)
    ticks = (hi << np.uint64(32) | lo).astype(np.float64)
    per_tick, offsets = interfaces.columns()
    ts = ticks * per_tick[iface] + offsets[iface]
    if bool(np.any((ts < 0.0) | (ts > MAX_SECONDS))):
        raise Unsupported("time before 1970 or beyond 2100")
    chunk = Chunk(buf, interfaces.link_type, at + 28, caplen, ts, consumed, offset)
    return chunk, True
