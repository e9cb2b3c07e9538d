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
    """The Internet checksum (RFC 1071) of ``data``.

    The ones'-complement sum of 16-bit words is congruent to the whole buffer read as one
    big-endian integer modulo 0xFFFF (2**16 is 1 modulo 0xFFFF), and CPython does that
    arithmetic in C: several times faster than summing words in Python."""
    if len(data) & 1:
        data += b"\0"
    value = int.from_bytes(data, "big")
    if value == 0:
        return 0xFFFF
    folded = value % 0xFFFF
    return ~(folded or 0xFFFF) & 0xFFFF


def checksum_reference(data: bytes) -> int:
    """RFC 1071 word by word: the oracle ``checksum`` is tested against."""
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


_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_ETH_IPV4 = ETH_DST + ETH_SRC + b"\x08\x00"


def udp_frame(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes, ident: int = 0):
    seg_len = 8 + len(payload)
    if len(src) != 4:
        seg = _UDP.pack(sport, dport, seg_len, 0) + payload
        c = _l4_checksum(src, dst, 17, seg)
        return ip_frame(src, dst, 17, seg[:6] + struct.pack("!H", c) + seg[8:], ident)
    # IPv4 in one pass: pseudo-header, UDP header and payload summed together
    # (checksum() inlined: this is the synthesizer's hottest function).
    summed = src + dst + b"\x00\x11" + seg_len.to_bytes(2, "big")
    summed += _UDP.pack(sport, dport, seg_len, 0) + payload
    if len(summed) & 1:
        summed += b"\0"
    c = ~((int.from_bytes(summed, "big") % 0xFFFF) or 0xFFFF) & 0xFFFF
    ip = _IPV4.pack(0x45, 0, 20 + seg_len, ident & 0xFFFF, 0x4000, 64, 17, 0, src, dst)
    ipc = ~((int.from_bytes(ip, "big") % 0xFFFF) or 0xFFFF) & 0xFFFF
    return b"".join(
        (
            _ETH_IPV4,
            ip[:10],
            ipc.to_bytes(2, "big"),
            ip[12:],
            _UDP.pack(sport, dport, seg_len, c or 0xFFFF),
            payload,
        )
    )


_TCP = struct.Struct("!HHIIBBHHH")


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
    seq &= 0xFFFFFFFF
    ack &= 0xFFFFFFFF
    seg_len = 20 + len(payload)
    if len(src) != 4:
        seg = _TCP.pack(sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
        c = _l4_checksum(src, dst, 6, seg)
        return ip_frame(src, dst, 6, seg[:16] + struct.pack("!H", c) + seg[18:], ident)
    summed = src + dst + b"\x00\x06" + seg_len.to_bytes(2, "big")
    summed += _TCP.pack(sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    if len(summed) & 1:
        summed += b"\0"
    c = ~((int.from_bytes(summed, "big") % 0xFFFF) or 0xFFFF) & 0xFFFF
    ip = _IPV4.pack(0x45, 0, 20 + seg_len, ident & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ipc = ~((int.from_bytes(ip, "big") % 0xFFFF) or 0xFFFF) & 0xFFFF
    return b"".join(
        (
            _ETH_IPV4,
            ip[:10],
            ipc.to_bytes(2, "big"),
            ip[12:],
            _TCP.pack(sport, dport, seq, ack, 5 << 4, flags, 65535, c, 0),
            payload,
        )
    )


@dataclass
class TcpSession:
    """Produces the frames of one TCP connection: handshake, data both ways, close."""

    client: bytes
    cport: int
    server: bytes
    sport: int
    cseq: int = 1000
    sseq: int = 50000

    def _three(self, first: int, second: int, first_ack: int) -> list[tuple[bool, bytes]]:
        """Client, server, client: the handshake (SYN) or the close (FIN) exchange."""
        out = [
            (
                True,
                tcp_frame(
                    self.client, self.cport, self.server, self.sport, self.cseq, first_ack, first
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
                    second,
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

    def handshake(self) -> list[tuple[bool, bytes]]:
        return self._three(SYN, SYN | ACK, 0)

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
        return self._three(FIN | ACK, FIN | ACK, self.sseq)

    def reset(self) -> tuple[bool, bytes]:
        """A RST toward the client, as a middlebox that kills the connection sends it."""
        return False, tcp_frame(
            self.server, self.sport, self.client, self.cport, self.sseq, self.cseq, RST | ACK
        )
