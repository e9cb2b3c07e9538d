"""Building Ethernet/IPv4/IPv6 frames with UDP or TCP, with correct checksums.

Zeek discards packets whose IP checksum is wrong unless run with ``-C``, so synthesized
traces must be right on the wire.  Everything is ``struct``-based for the synthesizer's
throughput target.
"""

from __future__ import annotations

import ipaddress
import struct
import sys
from array import array
from dataclasses import dataclass

_LITTLE = sys.byteorder == "little"
ETH_SRC = bytes.fromhex("020000000001")
ETH_DST = bytes.fromhex("020000000002")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) & 1:
        data += b"\0"
    words = array("H", data)
    if _LITTLE:
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def addr_bytes(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


def _l4_checksum(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(segment))
    else:
        pseudo = src + dst + struct.pack("!I3xB", len(segment), proto)
    c = checksum(pseudo + segment)
    return c if c or proto == 6 else 0xFFFF


def ip_frame(src: bytes, dst: bytes, proto: int, segment: bytes, ident: int = 0) -> bytes:
    """An Ethernet frame carrying ``segment`` (a finished UDP/TCP header + payload)."""
    if len(src) == 4:
        hdr = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(segment),
            ident & 0xFFFF,
            0x4000,
            64,
            proto,
            0,
            src,
            dst,
        )
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        return ETH_DST + ETH_SRC + b"\x08\x00" + hdr + segment
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(segment), proto, 64, src, dst)
    return ETH_DST + ETH_SRC + b"\x86\xdd" + hdr + segment


def udp_frame(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes, ident: int = 0):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = _l4_checksum(src, dst, 17, seg)
    seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return ip_frame(src, dst, 17, seg, ident)


def tcp_frame(
    src: bytes,
    sport: int,
    dst: bytes,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    ident: int = 0,
) -> bytes:
    seg = (
        struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            5 << 4,
            flags,
            65535,
            0,
            0,
        )
        + payload
    )
    c = _l4_checksum(src, dst, 6, seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ip_frame(src, dst, 6, seg, ident)


@dataclass
class TcpSession:
    """Produces the frames of one TCP connection: handshake, data both ways, close."""

    client: bytes
    cport: int
    server: bytes
    sport: int
    cseq: int = 1000
    sseq: int = 50000

    def handshake(self) -> list[tuple[bool, bytes]]:
        out = [
            (True, tcp_frame(self.client, self.cport, self.server, self.sport, self.cseq, 0, SYN)),
            (
                False,
                tcp_frame(
                    self.server,
                    self.sport,
                    self.client,
                    self.cport,
                    self.sseq,
                    self.cseq + 1,
                    SYN | ACK,
                ),
            ),
            (
                True,
                tcp_frame(
                    self.client,
                    self.cport,
                    self.server,
                    self.sport,
                    self.cseq + 1,
                    self.sseq + 1,
                    ACK,
                ),
            ),
        ]
        self.cseq += 1
        self.sseq += 1
        return out

    def send(self, from_client: bool, payload: bytes) -> tuple[bool, bytes]:
        if from_client:
            f = tcp_frame(
                self.client,
                self.cport,
                self.server,
                self.sport,
                self.cseq,
                self.sseq,
                PSH | ACK,
                payload,
            )
            self.cseq += len(payload)
        else:
            f = tcp_frame(
                self.server,
                self.sport,
                self.client,
                self.cport,
                self.sseq,
                self.cseq,
                PSH | ACK,
                payload,
            )
            self.sseq += len(payload)
        return from_client, f

    def close(self) -> list[tuple[bool, bytes]]:
        out = [
            (
                True,
                tcp_frame(
                    self.client,
                    self.cport,
                    self.server,
                    self.sport,
                    self.cseq,
                    self.sseq,
                    FIN | ACK,
                ),
            ),
            (
                False,
                tcp_frame(
                    self.server,
                    self.sport,
                    self.client,
                    self.cport,
                    self.sseq,
                    self.cseq + 1,
                    FIN | ACK,
                ),
            ),
            (
                True,
                tcp_frame(
                    self.client,
                    self.cport,
                    self.server,
                    self.sport,
                    self.cseq + 1,
                    self.sseq + 1,
                    ACK,
                ),
            ),
        ]
        self.cseq += 1
        self.sseq += 1
        return out
