"""Link, IP and transport header decoding: what Zeek 8.0 decodes by default, as far as the
signatures need.

:class:`Decoder` turns a frame into :data:`Packet` tuples for TCP and UDP over IPv4/IPv6:
through VLAN, QinQ, MPLS and PPPoE, through IP-in-IP, GRE (IP, Ethernet, ERSPAN, PPTP),
VXLAN, Geneve, Teredo, AYIYA and GTPv1, and through IPv4/IPv6 fragments (reassembled, see
``fragments.py``).  A UDP tunnel gives two packets, the outer datagram first, as Zeek logs
both connections; an inner packet keeps its own 5-tuple.  Every frame that gives no packet
is counted in ``Decoder.undecoded`` by reason, as Zeek's weird.log would list it.

:func:`decode_plain` is the fast path for the frame most sensors see -- Ethernet, option-less
IPv4, TCP or UDP that no tunnel claims -- and answers None for anything else, which then
goes to the decoder.  Nothing here raises on malformed input: a capture is untrusted data.
"""

from __future__ import annotations

import struct
from collections import Counter

from ..errors import SkypewatchError
from . import tunnels
from .fragments import FragmentOptions, FragmentTable

TCP = 6
UDP = 17

# (proto, src, sport, dst, dport, tcp_flags, tcp_seq, payload, tcp_ack, tcp_len): tcp_len is
# the segment's payload length on the wire (the IP header's), which a capture cut at its
# snap length may not hold whole; Zeek numbers the stream by it.
Packet = tuple[int, bytes, int, bytes, int, int, int, bytes, int, int]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW = 101
LINKTYPE_RAW_ALT = (12, 14)
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

SUPPORTED_LINK_TYPES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_PPP: "PPP",
    LINKTYPE_RAW: "raw IP",
    12: "raw IP",
    14: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad, the older QinQ value
IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44
IPV6_AH = 51  # (its length counts 4-byte words, less 2)
ETH_MPLS = 0x8847
ETH_PPPOE = 0x8864  # PPPoE session stage (discovery, 0x8863, carries no IP)
ETH_ARP = (0x0806, 0x8035)  # ARP, RARP
PPP_IP = (0x0021, 0x0057)
MAX_TUNNEL_DEPTH = 4  # Zeek's Tunnel::max_depth

# UDP ports whose datagrams Zeek hands to a tunnel analyzer (by the responder's port).
_UDP_TUNNELS = {
    tunnels.VXLAN_PORT: tunnels.vxlan,
    tunnels.GENEVE_PORT: tunnels.geneve,
    tunnels.TEREDO_PORT: tunnels.teredo,
    tunnels.AYIYA_PORT: tunnels.ayiya,
    tunnels.GTPV1_PORTS[0]: tunnels.gtpv1,
    tunnels.GTPV1_PORTS[1]: tunnels.gtpv1,
    tunnels.GRE_IN_UDP_PORT: tunnels.gre,
}
TUNNEL_UDP_PORTS = frozenset(_UDP_TUNNELS)
# First bytes of a UDP payload Zeek's Teredo detection looks further at: an IPv6 header
# (0x6_), or 0x00 (an authentication or origin indication header).  One lookup per datagram.
_TEREDO_LEAD = bytes(1 if b == 0 or b >> 4 == 6 else 0 for b in range(256))

# Ethernet + option-less IPv4 in one unpack: ethertype, version/IHL, total length, fragment
# field, protocol, source, destination.  Most frames on a sensor take this path.
_ETH_IPV4_HDR = struct.Struct("!12xHBxH2xHxB2x4s4s").unpack_from
_TCP_HDR = struct.Struct("!HHIIBB").unpack_from
_u16 = struct.Struct("!H").unpack_from
_ports = struct.Struct("!HH").unpack_from
_seq = struct.Struct("!I").unpack_from
_u32 = _seq


class UnsupportedLinkType(SkypewatchError):
    def __init__(self, link_type: int) -> None:
        self.link_type = link_type
        super().__init__(f"unsupported link type {link_type}")


def check_link_type(link_type: int) -> None:
    if link_type not in SUPPORTED_LINK_TYPES:
        raise UnsupportedLinkType(link_type)


def decode_plain(link_type: int, frame: bytes) -> Packet | None:
    """The fast path: Ethernet, IPv4 without options or fragmentation, TCP, or UDP that no
    tunnel analyzer would claim; None for anything else (the :class:`Decoder` decides)."""
    if link_type == LINKTYPE_ETHERNET and len(frame) >= 54 and frame[14] == 0x45:
        ethertype, _, total, frag, proto, src, dst = _ETH_IPV4_HDR(frame, 0)
        if ethertype == _ETH_IPV4 and total >= 20 and not frag & 0x3FFF:
            end = min(14 + total, len(frame))
            if proto == UDP:
                if end < 42:
                    return None
                sport, dport = _ports(frame, 34)
                if sport in TUNNEL_UDP_PORTS or dport in TUNNEL_UDP_PORTS:
                    return None
                if end >= 45:
                    # what Zeek's Teredo and AYIYA detection could take (on any port):
                    # Teredo (tunnels.looks_like_teredo) wants 40 bytes or more opening with
                    # 0x00 or 0x6_, then a second byte of 0 or 1, unless the datagram is
                    # exactly an IPv6 header (its pattern) -- not a QUIC packet's 0x6_ lead
                    b0 = frame[42]
                    if _TEREDO_LEAD[b0] and end >= 82 and (frame[43] <= 1 or (b0 and end == 82)):
                        return None
                    if frame[44] == 0x11 and frame[43] == 0x52:
                        return None
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


def decode(link_type: int, frame: bytes) -> Packet | None:
    """The innermost packet of one frame, decoded on its own (no fragment reassembly across
    frames): for tests and tools that look at single frames."""
    packets = Decoder().frame(0.0, link_type, frame)
    return packets[-1] if packets else None


# A reason is why a frame gave no packet; HELD: a fragment kept for reassembly (not lost).
HELD = ""
ICMP_REASON = "ICMP"
ARP_REASON = "ARP"
NOT_IP_REASON = "not IP"  # an ethertype other than IP, ARP, MPLS, PPPoE or a VLAN tag


def protocol_reason(proto: int) -> str:
    """The reason for an IP packet of a protocol other than TCP, UDP, ICMP or a tunnel."""
    return f"IP protocol {proto}"


def tunnelled(reason: str) -> str:
    """The reason counted when a tunnel's inner packet gave none (the outer one was kept)."""
    return reason + " (tunnelled)"


class Decoder:
    """Frames to packets, with the state decoding needs across frames (fragments) and the
    count of what could not be decoded, by reason."""

    __slots__ = ("_out", "_ts", "fragments", "undecoded")

    def __init__(self, fragments: FragmentOptions | None = None) -> None:
        self.undecoded: Counter[str] = Counter()
        self.fragments = FragmentTable(fragments, self._lost)
        self._out: list[Packet] = []
        self._ts = 0.0

    def frame(self, ts: float, link_type: int, frame: bytes) -> list[Packet]:
        """Every packet in the frame, outer first; raises :class:`UnsupportedLinkType`."""
        out = self._out = []
        self._ts = ts
        reason = self._link(link_type, frame)
        if reason and not out:
            self.undecoded[reason] += 1
        elif reason:
            self.undecoded[tunnelled(reason)] += 1
        return out

    def unsupported(self, link_type: int) -> None:
        """Count one frame of a link type this decoder does not read."""
        self.undecoded[f"link type {link_type}"] += 1

    def finish(self) -> None:
        """The end of input: fragments still waiting are counted as lost."""
        self.fragments.flush()

    def _lost(self, why: str, frames: int) -> None:
        self.undecoded[f"fragments {why}"] += frames

    def _link(self, link_type: int, frame: bytes) -> str | None:
        if link_type == LINKTYPE_ETHERNET:
            return self._ethernet(frame, 0, 0)
        if link_type == LINKTYPE_RAW or link_type in LINKTYPE_RAW_ALT:
            return self._ip(frame, 0, 0)
        if link_type == LINKTYPE_LINUX_SLL:
            if len(frame) < 16:
                return "truncated link header"
            return self._ethertype(_u16(frame, 14)[0], frame, 16, 0)
        if link_type == LINKTYPE_LINUX_SLL2:
            if len(frame) < 20:
                return "truncated link header"
            return self._ethertype(_u16(frame, 0)[0], frame, 20, 0)
        if link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if len(frame) < 5:
                return "truncated link header"
            return self._ip(frame, 4, 0)
        if link_type == LINKTYPE_PPP:
            if len(frame) < 3:
                return "truncated link header"
            off = 4 if frame[0] == 0xFF and frame[1] == 0x03 else 2
            if len(frame) <= off:
                return "truncated link header"
            proto = _u16(frame, off - 2)[0]
            if proto == 0x0281:  # MPLS unicast
                return self._mpls(frame, off, 0)
            if proto in PPP_IP:
                return self._ip(frame, off, 0)
            return "not IP (PPP)"
        raise UnsupportedLinkType(link_type)

    def _ethernet(self, frame: bytes, off: int, depth: int) -> str | None:
        if len(frame) < off + 14:
            return "truncated link header"
        return self._ethertype(_u16(frame, off + 12)[0], frame, off + 14, depth)

    def _ethertype(self, ethertype: int, frame: bytes, off: int, depth: int) -> str | None:
        while ethertype in VLAN_TAGS:
            if len(frame) < off + 4:
                return "truncated link header"
            ethertype = _u16(frame, off + 2)[0]
            off += 4
        if ethertype in (_ETH_IPV4, _ETH_IPV6):
            return self._ip(frame, off, depth)
        if ethertype == ETH_MPLS:
            return self._mpls(frame, off, depth)
        if ethertype == ETH_PPPOE:
            n = len(frame) - off
            if n <= 8:
                return "truncated PPPoE"
            if _u16(frame, off + 6)[0] not in PPP_IP:
                return "not IP (PPPoE)"
            length = max(_u16(frame, off + 4)[0] - 2, 0)
            return self._ip(frame[off + 8 : off + 8 + min(length, n - 8)], 0, depth)
        if ethertype in ETH_ARP:
            return ARP_REASON
        return NOT_IP_REASON

    def _mpls(self, frame: bytes, off: int, depth: int) -> str | None:
        while True:  # the label stack, to the label marked bottom of stack
            if len(frame) - off <= 4:
                return "truncated MPLS"
            bottom = frame[off + 2] & 0x01
            off += 4
            if bottom:
                return self._ip(frame, off, depth)

    def _ip(self, frame: bytes, off: int, depth: int) -> str | None:
        if len(frame) < off + 20:
            return "truncated IP"
        version = frame[off] >> 4
        if version == 4:
            return self._ipv4(frame, off, depth)
        if version == 6:
            return self._ipv6(frame, off, depth)
        return "unknown IP version"

    def _ipv4(self, frame: bytes, off: int, depth: int) -> str | None:
        ihl = (frame[off] & 0x0F) * 4
        total = _u16(frame, off + 2)[0]
        if ihl < 20 or total < ihl:
            return "bad IP header"
        if len(frame) < off + ihl:
            return "truncated IP"
        src = frame[off + 12 : off + 16]
        dst = frame[off + 16 : off + 20]
        proto = frame[off + 9]
        frag = _u16(frame, off + 6)[0]
        if frag & 0x3FFF:
            offset = (frag & 0x1FFF) * 8
            end = off + total
            if len(frame) < end:  # cut by the snap length: reassembly is doomed
                if offset:
                    return "truncated fragment"
                return self._payload(proto, src, dst, frame, off + ihl, end, depth)
            ident = _u16(frame, off + 4)[0]
            done = self.fragments.add(
                self._ts,
                (src, dst, ident),
                proto,
                offset,
                frame[off + ihl : end],
                bool(frag & 0x2000),
            )
            if done is None:
                return HELD
            proto, data = done
            return self._payload(proto, src, dst, data, 0, len(data), depth)
        return self._payload(proto, src, dst, frame, off + ihl, off + total, depth)

    def _ipv6(self, frame: bytes, off: int, depth: int) -> str | None:
        if len(frame) < off + 40:
            return "truncated IP"
        wire_end = off + 40 + _u16(frame, off + 4)[0]
        src = frame[off + 8 : off + 24]
        dst = frame[off + 24 : off + 40]
        return self._ipv6_chain(frame[off + 6], src, dst, frame, off + 40, wire_end, depth)

    def _ipv6_chain(
        self, nxt: int, src: bytes, dst: bytes, frame: bytes, pos: int, wire_end: int, depth: int
    ) -> str | None:
        end = min(wire_end, len(frame))
        while True:
            if nxt in IPV6_EXT or nxt == IPV6_AH:
                if pos + 8 > end:
                    return "truncated IP"
                step = (frame[pos + 1] + 2) * 4 if nxt == IPV6_AH else (frame[pos + 1] + 1) * 8
                nxt, pos = frame[pos], pos + step
            elif nxt == IPV6_FRAGMENT:
                if pos + 8 > end:
                    return "truncated IP"
                field = _u16(frame, pos + 2)[0]
                offset, more = field & 0xFFF8, field & 1
                if not offset and not more:  # an atomic fragment: the whole packet
                    nxt, pos = frame[pos], pos + 8
                    continue
                if len(frame) < wire_end:
                    if offset:
                        return "truncated fragment"
                    nxt, pos = frame[pos], pos + 8
                    continue
                done = self.fragments.add(
                    self._ts,
                    (src, dst, _u32(frame, pos + 4)[0]),
                    frame[pos],
                    offset,
                    frame[pos + 8 : wire_end],
                    bool(more),
                )
                if done is None:
                    return HELD
                nxt, data = done
                return self._ipv6_chain(nxt, src, dst, data, 0, len(data), depth)
            else:
                return self._payload(nxt, src, dst, frame, pos, wire_end, depth)

    def _payload(
        self, proto: int, src: bytes, dst: bytes, frame: bytes, pos: int, wire_end: int, depth: int
    ) -> str | None:
        if proto in (TCP, UDP):
            pkt = _transport(proto, src, dst, frame, pos, wire_end)
            if pkt is None:
                return "truncated TCP" if proto == TCP else "truncated UDP"
            self._out.append(pkt)
            if proto == UDP:
                return self._udp_tunnel(pkt[2], pkt[4], pkt[7], depth)
            return None
        if proto == 4 or proto == 41 or proto == 47:
            if depth >= MAX_TUNNEL_DEPTH:
                return "tunnel depth exceeded"
            inner = frame[pos : min(wire_end, len(frame))]
            if proto != 47:
                return self._ip(inner, 0, depth + 1)
            return self._inner(tunnels.gre(inner), inner, depth)
        if proto == 1 or proto == 58:
            return ICMP_REASON
        return protocol_reason(proto)

    def _udp_tunnel(self, sport: int, dport: int, payload: bytes, depth: int) -> str | None:
        parse = _UDP_TUNNELS.get(dport) or _UDP_TUNNELS.get(sport)
        if parse is None:
            # Zeek tries Teredo and AYIYA detection on a datagram no port claimed
            if tunnels.looks_like_teredo(payload):
                parse = tunnels.teredo
            elif tunnels.looks_like_ayiya(payload):
                parse = tunnels.ayiya
            else:
                return None
        if depth >= MAX_TUNNEL_DEPTH:
            return "tunnel depth exceeded"
        return self._inner(parse(payload), payload, depth)

    def _inner(self, found: tunnels.Result, data: bytes, depth: int) -> str | None:
        if found is None or isinstance(found, str):
            return found
        kind, start = found
        if kind == tunnels.ETHERNET:
            return self._ethernet(data, start, depth + 1)
        return self._ip(data, start, depth + 1)


def _transport(
    proto: int, src: bytes, dst: bytes, frame: bytes, pos: int, wire_end: int
) -> Packet | None:
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
