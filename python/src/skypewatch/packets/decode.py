"""Link, IP and transport header decoding: just what the signatures need.

``decode(link_type, frame)`` returns a :data:`Packet` tuple for TCP and UDP over IPv4/IPv6,
or ``None`` for anything else (ARP, ICMP, non-first IP fragments, malformed headers).  It never
raises on malformed input: a capture is untrusted data.
"""

from __future__ import annotations

import struct

from ..errors import SkypewatchError

TCP = 6
UDP = 17

# (proto, src, sport, dst, dport, tcp_flags, tcp_seq, payload, tcp_ack, tcp_len): tcp_len is
# the segment's payload length on the wire (the IP header's), which a capture cut at its
# snap length may not hold whole; Zeek numbers the stream by it.
Packet = tuple[int, bytes, int, bytes, int, int, int, bytes, int, int]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_ALT = (12, 14)
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

SUPPORTED_LINK_TYPES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    12: "raw IP",
    14: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options

# Ethernet + option-less IPv4 in one unpack: ethertype, version/IHL, total length, fragment
# field, protocol, source, destination.  Most frames on a sensor take this path.
_ETH_IPV4_HDR = struct.Struct("!12xHBxH2xHxB2x4s4s").unpack_from
_TCP_HDR = struct.Struct("!HHIIBB").unpack_from
_u16 = struct.Struct("!H").unpack_from
_ports = struct.Struct("!HH").unpack_from
_seq = struct.Struct("!I").unpack_from


class UnsupportedLinkType(SkypewatchError):
    def __init__(self, link_type: int) -> None:
        self.link_type = link_type
        super().__init__(f"unsupported link type {link_type}")


def check_link_type(link_type: int) -> None:
    if link_type not in SUPPORTED_LINK_TYPES:
        raise UnsupportedLinkType(link_type)


def decode(link_type: int, frame: bytes) -> Packet | None:
    if link_type == LINKTYPE_ETHERNET and len(frame) >= 54 and frame[14] == 0x45:
        ethertype, _, total, frag, proto, src, dst = _ETH_IPV4_HDR(frame, 0)
        if ethertype == _ETH_IPV4 and total >= 20 and not frag & 0x1FFF:
            end = min(14 + total, len(frame))
            if proto == UDP:
                if end < 42:
                    return None
                sport, dport = _ports(frame, 34)
                return UDP, src, sport, dst, dport, 0, 0, frame[42:end], 0, 0
            if proto == TCP:
                sport, dport, seq, ack, off, flags = _TCP_HDR(frame, 34)
                data_off = (off >> 4) * 4
                if data_off < 20 or end < 34 + data_off:
                    return None
                payload = frame[34 + data_off : end]
                wire = max(total - 20 - data_off, len(payload))
                return TCP, src, sport, dst, dport, flags, seq, payload, ack, wire
            return None
    if link_type == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        ethertype = _u16(frame, 12)[0]
        off = 14
        while ethertype in _VLAN_TAGS and len(frame) >= off + 4:
            ethertype = _u16(frame, off + 2)[0]
            off += 4
    elif link_type == LINKTYPE_RAW or link_type in LINKTYPE_RAW_ALT:
        if not frame:
            return None
        ethertype = _ETH_IPV4 if frame[0] >> 4 == 4 else _ETH_IPV6
        off = 0
    elif link_type == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        ethertype = _u16(frame, 14)[0]
        off = 16
    elif link_type == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        ethertype = _u16(frame, 0)[0]
        off = 20
    elif link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 5:
            return None
        ethertype = _ETH_IPV4 if frame[4] >> 4 == 4 else _ETH_IPV6
        off = 4
    else:
        raise UnsupportedLinkType(link_type)
    if ethertype == _ETH_IPV4:
        return _ipv4(frame, off)
    if ethertype == _ETH_IPV6:
        return _ipv6(frame, off)
    return None


def _ipv4(frame: bytes, off: int) -> Packet | None:
    if len(frame) < off + 20:
        return None
    vihl = frame[off]
    if vihl >> 4 != 4:
        return None
    ihl = (vihl & 0x0F) * 4
    total = _u16(frame, off + 2)[0]
    if ihl < 20 or total < ihl:
        return None
    if _u16(frame, off + 6)[0] & 0x1FFF:  # not the first fragment: no transport header
        return None
    return _transport(
        frame[off + 9],
        frame[off + 12 : off + 16],
        frame[off + 16 : off + 20],
        frame,
        off + ihl,
        off + total,
    )


def _ipv6(frame: bytes, off: int) -> Packet | None:
    if len(frame) < off + 40 or frame[off] >> 4 != 6:
        return None
    nxt = frame[off + 6]
    wire_end = off + 40 + _u16(frame, off + 4)[0]
    end = min(wire_end, len(frame))
    src = frame[off + 8 : off + 24]
    dst = frame[off + 24 : off + 40]
    pos = off + 40
    while nxt in _IPV6_EXT or nxt == 44:
        if pos + 8 > end:
            return None
        if nxt == 44:  # fragment header: only the first fragment carries ports
            if _u16(frame, pos + 2)[0] & 0xFFF8:
                return None
            nxt, pos = frame[pos], pos + 8
        else:
            nxt, pos = frame[pos], pos + (frame[pos + 1] + 1) * 8
    return _transport(nxt, src, dst, frame, pos, wire_end)


def _transport(proto: int, src: bytes, dst: bytes, frame: bytes, pos: int, wire_end: int):
    """The transport header at ``pos``; ``wire_end`` is where the IP header says the packet
    ends, which may lie beyond the captured bytes."""
    end = min(wire_end, len(frame))
    if proto == UDP:
        if pos + 8 > end:
            return None
        sport, dport = _ports(frame, pos)
        return UDP, src, sport, dst, dport, 0, 0, frame[pos + 8 : end], 0, 0
    if proto == TCP:
        if pos + 20 > end:
            return None
        sport, dport = _ports(frame, pos)
        data_off = (frame[pos + 12] >> 4) * 4
        if data_off < 20:
            return None
        payload = frame[pos + data_off : end]
        return (
            TCP,
            src,
            sport,
            dst,
            dport,
            frame[pos + 13],
            _seq(frame, pos + 4)[0],
            payload,
            _seq(frame, pos + 8)[0],
            max(wire_end - pos - data_off, len(payload)),
        )
    return None
