"""Reading pcap and pcapng files.

The reader yields ``(timestamp, link_type, frame)`` for every captured frame.  It is written
with ``struct.unpack_from`` over large buffered reads rather than a general packet library,
because record iteration dominates the cost of analysing a capture (see the README's
benchmark figures).

A capture is untrusted input.  Every length is checked against the bytes it claims before
anything is unpacked from them, so no ``struct.error``, ``IndexError`` or ``OverflowError``
can come out of here: a file that is not a capture raises :class:`CaptureError`; one that
ends inside a record, or whose structure breaks part-way (a block too short for its type, an
option running past its block, a packet longer than its block, an undeclared interface, an
absurd timestamp resolution), raises :class:`CaptureTruncated` *after* every complete record
before it has been yielded, so the caller can analyse what was readable.
"""

from __future__ import annotations

import io
import os
import select
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

from ..errors import CaptureError, CaptureTruncated

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDER = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_CHUNK = 1 << 22
# A pipe is read only once select() says it has data, waiting at most this long at a time:
# a stop signal that lands just before a blocking read() would otherwise wait for the
# writer's next bytes (Python runs its handlers between bytecodes, and a read that began
# after the signal is not interrupted by it).
_PIPE_POLL = 0.2

# Larger than any link layer's frame (Wireshark's limit is 262,144 bytes): beyond this a
# length field is garbage, and believing it would mean reading gigabytes.
MAX_CAPLEN = 262_144 * 4
MAX_BLOCK = 1 << 27  # 128 MiB, as Wireshark's pcapng reader
# No capture's packet is from after 2100-01-01: a time beyond it is a broken record (a pcap
# fraction of a second of up to 4,294 s, a pcapng tick count or resolution that is garbage).
# It is also where the logs' times end (zeeklog.values.LATEST, the correlator's LATEST): the
# logs analyze writes from any capture it accepts must read back.
MAX_SECONDS = 4_102_444_800.0

BLOCK_SHB, BLOCK_IDB, BLOCK_PB, BLOCK_SPB, BLOCK_EPB = (
    0x0A0D0D0A,
    0x00000001,
    0x00000002,
    0x00000003,
    0x00000006,
)
# Smallest total length of each block: 12 bytes of framing plus its fixed fields.
PCAPNG_MIN_BLOCK = {BLOCK_SHB: 28, BLOCK_IDB: 20, BLOCK_PB: 32, BLOCK_SPB: 16, BLOCK_EPB: 32}
_BLOCK_NAME = {
    BLOCK_SHB: "section header",
    BLOCK_IDB: "interface description",
    BLOCK_PB: "packet",
    BLOCK_SPB: "simple packet",
    BLOCK_EPB: "enhanced packet",
}
_OPT_TSRESOL = 9
_OPT_TSOFFSET = 14

Frame = tuple[float, int, bytes]


def _open(path: Path) -> io.BufferedReader:
    try:
        return open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise CaptureError(path, "no such file") from None
    except IsADirectoryError:
        raise CaptureError(path, "is a directory, not a capture file") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot open: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise CaptureError(path, "not a valid file name") from None


def check_readable(path: str | Path) -> None:
    """Raise :class:`CaptureError` now if *path* cannot be opened (before any work)."""
    if is_pipe(path):
        return  # opening a pipe twice would wait for, then cut off, its writer
    _open(Path(path)).close()  # (it says what is wrong with a path it cannot stat too)


def is_pipe(path: str | Path) -> bool:
    """Whether *path* is a pipe or FIFO (``/dev/stdin`` fed by one too): a stream, read once."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


class OpenStream:
    """A pipe or FIFO opened once, for a run that reads its first bytes before it knows
    which reader takes it (analyze: the bulk engine takes a pcap of a link type it reads).
    Every byte read is also kept, up to ``keep`` bytes, so that another reader can start
    again from the first byte (:func:`read_capture` with *stream*) after the first one gave
    up early."""

    def __init__(self, path: Path, fh: io.BufferedReader, keep: int) -> None:
        self.path = path
        self.fh = fh
        # one buffer, not the reads: a writer's pieces may be a byte each
        self._kept: bytearray | None = bytearray()
        self._room = keep

    @classmethod
    def open(cls, path: str | Path, keep: int) -> OpenStream:
        """:class:`CaptureError` as :func:`read_capture` says it if it cannot be opened."""
        path = Path(path)
        return cls(path, _open(path), keep)

    def read(self) -> bytes:
        """What the stream has now: at least one byte, or b"" at its end."""
        try:
            more = _read_pipe(self.fh)
        except OSError as exc:
            raise CaptureError(self.path, f"read error: {exc.strerror or exc}") from None
        if self._kept is not None:
            self._room -= len(more)
            if self._room >= 0:
                self._kept += more
            else:
                self._kept = None  # too far to start again: a reader that gives up past here
        return more

    def head(self, n: int) -> bytes:
        """Every byte read until there are at least *n* (fewer: the stream ended)."""
        got = bytearray()
        while len(got) < n:
            more = self.read()
            if not more:
                break
            got += more
        return bytes(got)

    def forget(self) -> None:
        """Keep nothing more (a reader that can no longer give up): :meth:`replay` fails."""
        self._kept = None

    def replay(self) -> bytes:
        """Every byte read so far, for a reader starting again; :class:`CaptureError` if
        more was read than is kept."""
        if self._kept is None:
            raise CaptureError(self.path, "a stream read too far to be read again")
        return bytes(self._kept)

    def close(self) -> None:
        self.fh.close()


def read_capture(path: str | Path, stream: OpenStream | None = None) -> Iterator[Frame]:
    """Yield the frames of one pcap or pcapng file, in file order.  *stream*: *path*
    already opened and partly read (its bytes so far are read again; it stays open)."""
    path = Path(path)
    fh = _open(path) if stream is None else stream.fh
    try:
        src = _Input(path, fh, b"" if stream is None else stream.replay())
        if not src.have(4):
            if src.have(1):
                raise CaptureError(path, "not a pcap or pcapng capture (too short)")
            raise CaptureError(path, "empty file, not a capture")
        head = src.buf[:4]
        if head in _PCAP_MAGICS:
            yield from _read_pcap(src, head)
        elif head == PCAPNG_SHB:
            yield from _read_pcapng(src)
        else:
            raise CaptureError(path, "not a pcap or pcapng capture (unknown magic number)")
    finally:
        if stream is None:
            fh.close()


class _Input:
    """The file through one large buffer.  ``have(n)``: are *n* bytes there from ``pos``?

    Memory follows the bytes actually in the file, never a length field's claim."""

    __slots__ = ("base", "buf", "fh", "path", "pipe", "pos")

    def __init__(self, path: Path, fh: io.BufferedReader, read: bytes = b"") -> None:
        """*read*: the file's first bytes, read from *fh* already."""
        self.path = path
        self.fh = fh
        self.buf = read
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        try:
            self.pipe = not stat.S_ISREG(os.fstat(fh.fileno()).st_mode)
        except (OSError, ValueError):
            self.pipe = False

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def have(self, n: int) -> bool:
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        parts = [self.buf[self.pos :]]
        while avail < n:
            try:
                more = _read_pipe(self.fh) if self.pipe else self.fh.read(_CHUNK)
            except OSError as exc:
                raise CaptureError(self.path, f"read error: {exc.strerror or exc}") from None
            if not more:
                break
            parts.append(more)
            avail += len(more)
        self.base += self.pos
        self.buf = b"".join(parts)
        self.pos = 0
        return avail >= n


def _read_pipe(fh: io.BufferedReader) -> bytes:
    """What a pipe, FIFO or terminal has now (at least one byte, or b"" at its end): frames
    are analysed as they arrive, and a stop signal is handled within ``_PIPE_POLL`` seconds
    however long the writer stays silent.  (One read of up to ``_CHUNK`` bytes, larger
    than the buffer: nothing is left in it that select() would not see.)"""
    while not select.select([fh], [], [], _PIPE_POLL)[0]:
        pass
    return fh.read1(_CHUNK)


# What the readers say where a capture's records end before the file does (fastpath/ says
# the same where it reads the capture in bulk)
RECORD_HEADER_CUT = "record header cut short"
PACKET_DATA_CUT = "packet data cut short"
BLOCK_CUT = "block cut short"


def record_damage(ts: float, incl: int) -> str:
    """A pcap record header's damage: its time past 2100 (said first) or its captured
    length past any record's."""
    if ts > MAX_SECONDS:
        return f"timestamp {ts:.0f} s is beyond 2100"
    return f"corrupt record (captured length {incl})"


def block_cut(btype: int, blen: int) -> str:
    """A pcapng block whose *blen* bytes the file does not hold."""
    return f"{_block_name(btype)} block ({blen} bytes) cut short"


def _read_pcap(src: _Input, magic: bytes) -> Iterator[Frame]:
    path = src.path
    endian, resolution = _PCAP_MAGICS[magic]
    if not src.have(24):
        raise CaptureError(path, "not a capture: pcap file header is cut short")
    link_type = struct.unpack_from(endian + "I", src.buf, src.pos + 20)[0] & 0x0FFFFFFF
    src.pos += 24
    unpack_rec = struct.Struct(endian + "IIII").unpack_from
    buf, pos = src.buf, src.pos
    index = 0
    while True:
        if len(buf) - pos < 16:
            src.pos = pos
            if not src.have(16):
                if src.have(1):
                    raise CaptureTruncated(path, index, src.offset, RECORD_HEADER_CUT)
                return
            buf, pos = src.buf, src.pos
        sec, frac, incl, _orig = unpack_rec(buf, pos)
        ts = sec + frac * resolution
        if ts > MAX_SECONDS or incl > MAX_CAPLEN:
            why = record_damage(ts, incl)
            raise CaptureTruncated(path, index, src.base + pos, why, damaged=True)
        end = pos + 16 + incl
        if end > len(buf):
            src.pos = pos
            if not src.have(16 + incl):
                raise CaptureTruncated(path, index, src.offset, PACKET_DATA_CUT)
            buf, pos = src.buf, src.pos
            end = pos + 16 + incl
        yield ts, link_type, buf[pos + 16 : end]
        pos = end
        index += 1


class _Section:
    """What a pcapng section has declared so far: byte order and interfaces."""

    __slots__ = ("endian", "head", "interfaces", "packet", "u32")

    def __init__(self, endian: str) -> None:
        self.endian = endian
        self.head = struct.Struct(endian + "II").unpack_from  # block type, total length
        self.u32 = struct.Struct(endian + "I").unpack_from
        self.packet = struct.Struct(endian + "IIII").unpack_from  # EPB: iface, ts, caplen
        # link type, seconds per tick, snaplen, seconds added to every time (if_tsoffset)
        self.interfaces: list[tuple[int, float, int, int]] = []


def _block_name(btype: int) -> str:
    return _BLOCK_NAME.get(btype, f"type 0x{btype:08x}")


# why: long on purpose: the per-block loop of every pcapng read, where a call per packet costs
# measurable time and buf/pos/section would have to travel through each helper.
def _read_pcapng(src: _Input) -> Iterator[Frame]:
    path = src.path
    section: _Section | None = None
    index = 0
    buf, pos = src.buf, src.pos  # pos: the current block's first byte

    def broken(why: str, *, cut: bool = False) -> NoReturn:
        if section is None:  # the first section header is broken: this is no capture at all
            raise CaptureError(path, f"not a pcapng capture: {why}")
        raise CaptureTruncated(path, index, src.base + pos, why, damaged=not cut)

    while True:
        if len(buf) - pos < 12:  # the smallest block
            src.pos = pos
            whole = src.have(12)
            buf, pos = src.buf, src.pos  # the buffer may have moved: errors use pos
            if not whole:
                if len(buf) > pos:
                    broken(BLOCK_CUT, cut=True)
                return
        if section is None or buf[pos : pos + 4] == PCAPNG_SHB:
            # a section header sets the byte order its own length is written in
            endian = PCAPNG_BYTE_ORDER.get(buf[pos + 8 : pos + 12])
            if endian is None:
                broken("section header byte-order magic is wrong")
            current = _Section(endian)
        else:
            current = section
        btype, blen = current.head(buf, pos)
        minimum = PCAPNG_MIN_BLOCK.get(btype, 12)
        if blen < minimum or blen & 3:
            broken(
                f"{_block_name(btype)} block length {blen} (at least {minimum}, a multiple of 4)"
            )
        if blen > MAX_BLOCK:
            broken(f"{_block_name(btype)} block length {blen} is beyond {MAX_BLOCK} bytes")
        if len(buf) - pos < blen:
            src.pos = pos
            whole = src.have(blen)
            buf, pos = src.buf, src.pos
            if not whole:
                broken(block_cut(btype, blen), cut=True)
        trailer = current.u32(buf, pos + blen - 4)[0]
        if trailer != blen:
            broken(
                f"{_block_name(btype)} block length {blen} disagrees with its trailing copy"
                f" {trailer}"
            )
        body, end = pos + 8, pos + blen - 4
        if btype in (BLOCK_EPB, BLOCK_PB):
            if btype == BLOCK_EPB:
                iface, ts_hi, ts_lo, caplen = current.packet(buf, body)
            else:  # the obsolete packet block: 16-bit interface id, then a drop count
                iface, _drops, ts_hi, ts_lo, caplen = struct.unpack_from(
                    current.endian + "HHIII", buf, body
                )
            if caplen > end - body - 20:
                broken(
                    f"captured length {caplen} is beyond its {_block_name(btype)} block"
                    f" ({end - body - 20} bytes)"
                )
            interfaces = current.interfaces
            if iface >= len(interfaces):
                broken(
                    f"packet names interface {iface}, but its section declares {len(interfaces)}"
                )
            link_type, tick, _, tsoffset = interfaces[iface]
            ts = ((ts_hi << 32) | ts_lo) * tick + tsoffset
            if not 0.0 <= ts <= MAX_SECONDS:
                broken(f"timestamp {ts:.0f} s is before 1970 or beyond 2100")
            frame = buf[body + 20 : body + 20 + caplen]
            pos += blen
            index += 1
            yield ts, link_type, frame
            continue
        if btype == BLOCK_SHB:
            major, minor = struct.unpack_from(current.endian + "HH", buf, body + 4)
            if major != 1:
                broken(f"pcapng version {major}.{minor} is not supported (1.x is)")
            section = current
        elif btype == BLOCK_SPB:  # no timestamp, interface 0
            if not current.interfaces:
                broken("simple packet block before any interface description")
            link_type, _, snaplen, _ = current.interfaces[0]
            caplen = min(current.u32(buf, body)[0], end - body - 4)
            if snaplen:
                caplen = min(caplen, snaplen)
            frame = buf[body + 4 : body + 4 + caplen]
            pos += blen
            index += 1
            yield 0.0, link_type, frame
            continue
        elif btype == BLOCK_IDB:
            link_type, _reserved, snaplen = struct.unpack_from(current.endian + "HHI", buf, body)
            tick, tsoffset = interface_clock(buf, body + 8, end, current.endian, broken)
            current.interfaces.append((link_type, tick, snaplen, tsoffset))
        pos += blen


def interface_clock(
    buf: bytes, pos: int, end: int, endian: str, broken: Callable[[str], NoReturn]
) -> tuple[float, int]:
    """Seconds per timestamp tick (if_tsresol; microseconds when absent) and seconds to add
    to every timestamp (if_tsoffset; 0 when absent) from an IDB's options in ``buf[pos:end]``."""
    unpack = struct.Struct(endian + "HH").unpack_from
    tick = 1e-6
    tsoffset = 0
    while pos + 4 <= end:
        code, length = unpack(buf, pos)
        if code == 0:  # opt_endofopt
            break
        if pos + 4 + length > end:
            broken(f"interface option {code} ({length} bytes) runs past its block's end")
        if code == _OPT_TSRESOL:
            if length < 1:
                broken("interface option if_tsresol is empty")
            value = buf[pos + 4]
            exponent = value & 0x7F
            # a 64-bit tick count finer than these spans under a minute: not a real clock
            if (value & 0x80 and exponent > 63) or (not value & 0x80 and exponent > 18):
                broken(f"interface option if_tsresol {value:#04x} is not a usable resolution")
            tick = 2.0**-exponent if value & 0x80 else 10.0**-exponent
        elif code == _OPT_TSOFFSET:
            if length != 8:
                broken(f"interface option if_tsoffset is {length} bytes, not 8")
            tsoffset = struct.unpack_from(endian + "q", buf, pos + 4)[0]
        pos += 4 + ((length + 3) & ~3)
    return tick, tsoffset
