"""Reading pcap and pcapng files.

The reader yields ``(timestamp, link_type, frame)`` for every captured frame.  It is written
with ``struct.unpack_from`` over large buffered reads rather than a general packet library,
because record iteration dominates the cost of analysing a capture (see the README's
benchmark figures).  Anything wrong with the file raises :class:`CaptureError`; a file that
ends in the middle of a record raises :class:`CaptureTruncated` *after* every complete
record before it has been yielded, so the caller can analyse what was readable.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from .errors import CaptureError, CaptureTruncated

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_CHUNK = 1 << 22

Frame = tuple[float, int, bytes]


def read_capture(path: str | Path) -> Iterator[Frame]:
    """Yield the frames of one pcap or pcapng file, in file order."""
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except FileNotFoundError:
        raise CaptureError(path, "no such file") from None
    except IsADirectoryError:
        raise CaptureError(path, "is a directory, not a capture file") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot open: {exc.strerror}") from None
    try:
        head = fh.read(4)
        if not head:
            raise CaptureError(path, "empty file, not a capture")
        if head in _PCAP_MAGICS:
            yield from _read_pcap(path, fh, head)
        elif head == _PCAPNG_SHB:
            yield from _read_pcapng(path, fh, head)
        else:
            raise CaptureError(path, "not a pcap or pcapng capture (unknown magic number)")
    finally:
        fh.close()


def _read_pcap(path: Path, fh, magic: bytes) -> Iterator[Frame]:
    endian, resolution = _PCAP_MAGICS[magic]
    header = magic + fh.read(20)
    if len(header) < 24:
        raise CaptureError(path, "not a capture: pcap file header is cut short")
    link_type = struct.unpack_from(endian + "I", header, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    unpack_rec = rec.unpack_from
    buf = b""
    pos = 0
    offset = 24  # file offset of buf[0]
    index = 0
    while True:
        if len(buf) - pos < 16:
            more = fh.read(_CHUNK)
            buf = buf[pos:] + more
            offset += pos
            pos = 0
            if not more:
                if buf:
                    raise CaptureTruncated(path, index, offset, "record header cut short")
                return
            continue
        sec, frac, incl, _orig = unpack_rec(buf, pos)
        if incl > 262144 * 4:
            raise CaptureTruncated(
                path, index, offset + pos, f"corrupt record (captured length {incl})"
            )
        end = pos + 16 + incl
        if end > len(buf):
            more = fh.read(max(_CHUNK, incl + 16))
            if not more:
                raise CaptureTruncated(path, index, offset + pos, "packet data cut short")
            buf = buf[pos:] + more
            offset += pos
            pos = 0
            continue
        yield sec + frac * resolution, link_type, buf[pos + 16 : end]
        pos = end
        index += 1


def _read_pcapng(path: Path, fh, magic: bytes) -> Iterator[Frame]:
    data_offset = 0
    endian = "<"
    interfaces: list[tuple[int, float]] = []  # (link_type, seconds per tick)
    index = 0
    first = True
    while True:
        head = magic if first else fh.read(4)
        first = False
        if not head:
            return
        rest = fh.read(8)
        if len(head) < 4 or len(rest) < 8:
            raise CaptureTruncated(path, index, data_offset, "block header cut short")
        if head == _PCAPNG_SHB:
            bom = rest[4:8]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise CaptureError(path, "not a capture: pcapng byte-order magic is wrong")
            interfaces = []
        block_type = struct.unpack(endian + "I", head)[0]
        block_len = struct.unpack_from(endian + "I", rest, 0)[0]
        if block_len < 12 or block_len % 4:
            raise CaptureTruncated(path, index, data_offset, f"corrupt block length {block_len}")
        body = rest[4:] + fh.read(block_len - 12)
        if len(body) < block_len - 8:
            raise CaptureTruncated(path, index, data_offset, "block cut short")
        body = body[: block_len - 12]
        data_offset += block_len
        if block_type == 0x00000001:  # Interface Description Block
            link_type = struct.unpack_from(endian + "H", body, 0)[0]
            interfaces.append((link_type, _if_tsresol(body[8:], endian)))
        elif block_type == 0x00000006:  # Enhanced Packet Block
            iface, ts_hi, ts_lo, incl = struct.unpack_from(endian + "IIII", body, 0)
            if iface >= len(interfaces):
                raise CaptureError(path, f"packet {index} names undeclared interface {iface}")
            link_type, tick = interfaces[iface]
            yield ((ts_hi << 32) | ts_lo) * tick, link_type, body[20 : 20 + incl]
            index += 1
        elif block_type == 0x00000003:  # Simple Packet Block: no timestamp
            if not interfaces:
                raise CaptureError(path, "simple packet block before any interface")
            (orig_len,) = struct.unpack_from(endian + "I", body, 0)
            yield 0.0, interfaces[0][0], body[4 : 4 + orig_len]
            index += 1


def _if_tsresol(options: bytes, endian: str) -> float:
    """Seconds per timestamp tick from an IDB's if_tsresol option (default microseconds)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[pos + 4]
            if value & 0x80:
                return 2.0 ** -(value & 0x7F)
            return 10.0**-value
        pos += 4 + ((length + 3) & ~3)
    return 1e-6
