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
from collections.abc import Callable
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


def _ipv6_frame(src: bytes, dst: bytes, proto: int, segment: bytes) -> bytes:
    """An Ethernet frame carrying ``segment`` (a finished UDP/TCP header + payload) over IPv6.
    IPv4 frames are built in one piece by udp_frame and tcp_frame."""
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(segment), proto, 64, src, dst)
    return ETH_DST + ETH_SRC + b"\x86\xdd" + hdr + segment


_UDP = struct.Struct("!HHHH")
_TCP = struct.Struct("!HHIIBBHHH")
# Ethernet + IPv4 + UDP/TCP headers in one pack: one allocation, then one concatenation.
_ETH_IPV4_UDP = struct.Struct("!12sHBBHHHBBH4s4sHHHH")
_ETH_IPV4_TCP = struct.Struct("!12sHBBHHHBBH4s4sHHIIBBHHH")
_MACS = ETH_DST + ETH_SRC
# The IPv4 header words that never change here: 0x4500 (version, IHL, TOS), 0x4000 (DF) and
# 0x40xx (TTL 64; the protocol is added per frame) plus the 20-byte header's own length.
# Checksums are sums of words modulo 0xFFFF (see checksum()), so each part of a header is
# summed on its own from the integers at hand and nothing is packed twice.  The folding is
# written out inline below: these two are the synthesizer's hottest functions.
_IP_CONST = 0x4500 + 0x4000 + 0x4000 + 20


def udp_frame(
    src: bytes, sport: int, dst: bytes, dport: int, payload: bytes, ident: int = 0
) -> bytes:
    seg_len = 8 + len(payload)
    if len(src) != 4:
        seg = _UDP.pack(sport, dport, seg_len, 0) + payload
        c = _l4_checksum(src, dst, 17, seg)
        return _ipv6_frame(src, dst, 17, seg[:6] + struct.pack("!H", c) + seg[8:])
    ident &= 0xFFFF
    addrs = int.from_bytes(src + dst, "big")
    ipc = ~(((_IP_CONST + 17 + seg_len + ident + addrs) % 0xFFFF) or 0xFFFF) & 0xFFFF
    pay = int.from_bytes(payload, "big")
    if seg_len & 1:
        pay <<= 8  # an odd segment is padded with a zero byte for the sum
    c = ~(((addrs + 17 + 2 * seg_len + sport + dport + pay) % 0xFFFF) or 0xFFFF) & 0xFFFF
    return (
        _ETH_IPV4_UDP.pack(
            _MACS,
            0x0800,
            0x45,
            0,
            20 + seg_len,
            ident,
            0x4000,
            64,
            17,
            ipc,
            src,
            dst,
            sport,
            dport,
            seg_len,
            c or 0xFFFF,
        )
        + payload
    )


def udp_flow(src: bytes, sport: int, dst: bytes, dport: int) -> Callable[[bytes], bytes]:
    """``udp_frame`` for one direction of one flow, for calls' hundreds of datagrams: the
    addresses are summed once and the headers before the UDP checksum are kept per length
    (a voice codec's frames mostly share a few lengths).  Same bytes as ``udp_frame``."""
    if len(src) != 4:
        return lambda payload: udp_frame(src, sport, dst, dport, payload)
    addrs = int.from_bytes(src + dst, "big")
    udp_base = addrs + 17 + sport + dport
    heads: dict[int, bytes] = {}

    def frame(payload: bytes) -> bytes:
        seg_len = 8 + len(payload)
        head = heads.get(seg_len)
        if head is None:
            # everything before the UDP checksum depends on the length, not the content
            head = udp_frame(src, sport, dst, dport, bytes(seg_len - 8))[:40]
            heads[seg_len] = head
        pay = int.from_bytes(payload, "big")
        if seg_len & 1:
            pay <<= 8
        c = ~(((udp_base + 2 * seg_len + pay) % 0xFFFF) or 0xFFFF) & 0xFFFF
        return b"".join((head, (c or 0xFFFF).to_bytes(2, "big"), payload))

    return frame


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
        return _ipv6_frame(src, dst, 6, seg[:16] + struct.pack("!H", c) + seg[18:])
    ident &= 0xFFFF
    addrs = int.from_bytes(src + dst, "big")
    ipc = ~(((_IP_CONST + 6 + seg_len + ident + addrs) % 0xFFFF) or 0xFFFF) & 0xFFFF
    pay = int.from_bytes(payload, "big")
    if seg_len & 1:
        pay <<= 8
    # TCP header words: ports, sequence and acknowledgment (two words each, and a 32-bit
    # number is congruent to the sum of its halves), data offset with flags, window.
    total = addrs + 6 + seg_len + sport + dport + seq + ack + (5 << 12 | flags) + 65535 + pay
    c = ~((total % 0xFFFF) or 0xFFFF) & 0xFFFF
    return (
        _ETH_IPV4_TCP.pack(
            _MACS,
            0x0800,
            0x45,
            0,
            20 + seg_len,
            ident,
            0x4000,
            64,
            6,
            ipc,
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            5 << 4,
            flags,
            65535,
            c,
            0,
        )
        + payload
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
