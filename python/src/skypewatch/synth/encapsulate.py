"""Re-wrap a capture's IP packets in the encapsulations Zeek decodes, or cut them into
fragments: the same traffic in another form, to hold both engines to the same flows.

Every form writes Ethernet frames.  A frame of the source that carries no IP packet is
kept as it was if it is Ethernet, and left out otherwise.  Forms:

- ``vlan``: Ethernet, an 802.1Q tag, IP;
- ``qinq``: Ethernet, an 802.1ad service tag, an 802.1Q tag, IP;
- ``pppoe``: Ethernet, PPPoE session, PPP, IP;
- ``mpls``: Ethernet, a two-label MPLS stack, IP;
- ``gre``: Ethernet, IPv4 (protocol 47), GRE (protocol type of the inner IP), IP;
- ``gre-eth``: as ``gre`` with transparent Ethernet bridging (0x6558) around the frame;
- ``vxlan``: Ethernet, IPv4, UDP to 4789, VXLAN, the original Ethernet frame;
- ``ipip``: Ethernet, IPv4 (protocol 4 or 41), IP;
- ``frag``: every IP packet longer than the fragment size cut into fragments, in order;
- ``frag-reorder``: the same fragments in a shuffled order (the last one often first);
- ``frag-overlap``: in order, plus fragments that overlap ones already sent -- an identical
  copy across a boundary, and different bytes over data already there (the first data
  must win, as in Zeek);
- ``frag-junk-first``: different bytes over the second fragment's data arrive before it:
  they win (the first data does, in Zeek), so this form changes the traffic on purpose;
- ``frag-incomplete``: as ``frag``, but one datagram in ``drop_every`` loses one fragment;
- ``ipv6``: every IPv4 packet as IPv6, its addresses mapped into 64:ff9b::/96 (RFC 6052),
  its payload unchanged (so TCP and UDP checksums are not recomputed: read with ``-C``);
- ``ipv6-frag``: ``ipv6``, then cut into IPv6 fragments in a shuffled order;
- ``geneve``: Ethernet, IPv4, UDP to 6081, Geneve with one option, the Ethernet frame;
- ``gtpv1``: Ethernet, IPv4, UDP to 2152, a GTPv1-U G-PDU header with a sequence number, IP;
- ``gtpv1-ext``: the same with an extension header, as a 5G core's N3 interface carries
  every G-PDU (a PDU session container: one 4-byte word, QoS flow 9);
- ``ayiya``: Ethernet, IPv4, UDP to 5072, an AYIYA forward header (SHA-1 size), IP;
- ``teredo``: ``ipv6``, then Ethernet, IPv4, UDP to 3544 with an origin indication, IPv6.

IPv4 packets become IPv4 fragments, IPv6 packets IPv6 fragments (a fragment header after
the fixed header).  Fragmented datagrams get fresh identifications, so that no two of them
ever share a reassembly.  Checksums of the headers written here are correct, so that Zeek
reads the result without ``-C`` as well.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..packets.capture import read_capture
from ..packets.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_ALT,
)
from .frames import ETH_DST, ETH_SRC, checksum
from .pcapwriter import PcapWriter

FORMS = (
    "vlan",
    "qinq",
    "pppoe",
    "mpls",
    "gre",
    "gre-eth",
    "vxlan",
    "ipip",
    "frag",
    "frag-reorder",
    "frag-overlap",
    "frag-junk-first",
    "frag-incomplete",
    "ipv6",
    "ipv6-frag",
    "geneve",
    "gtpv1",
    "gtpv1-ext",
    "ayiya",
    "teredo",
)
# Tunnel endpoints: documentation addresses (RFC 5737), never in the captures themselves.
OUTER_SRC = bytes([192, 0, 2, 1])
OUTER_DST = bytes([192, 0, 2, 2])
_VLAN = (0x8100, 0x88A8, 0x9100)
_MACS = ETH_DST + ETH_SRC


@dataclass(frozen=True, slots=True)
class EncapOptions:
    fragment_size: int = 16  # bytes of IP payload per fragment (a multiple of 8)
    drop_every: int = 7  # frag-incomplete: one datagram in this many loses a fragment
    seed: int = 17


def ip_of_frame(link_type: int, frame: bytes) -> tuple[bytes | None, bytes]:
    """``(IP packet, Ethernet header)`` of a frame; the IP packet is None when the frame
    carries none.  The Ethernet header is the frame's own (VLAN tags and all) or a plain
    one for other link types."""
    eth = _MACS + b"\x08\x00"
    if link_type == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None, eth
        off = 12
        ethertype = struct.unpack_from("!H", frame, off)[0]
        while ethertype in _VLAN and len(frame) >= off + 6:
            off += 4
            ethertype = struct.unpack_from("!H", frame, off)[0]
        if ethertype not in (0x0800, 0x86DD):
            return None, frame[: off + 2]
        return _trim_ip(frame[off + 2 :]), frame[: off + 2]
    if link_type == LINKTYPE_RAW or link_type in LINKTYPE_RAW_ALT:
        return _trim_ip(frame), eth
    if link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return _trim_ip(frame[4:]), eth
    if link_type == LINKTYPE_LINUX_SLL:
        return (_trim_ip(frame[16:]) if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None), eth
    if link_type == LINKTYPE_LINUX_SLL2:
        return (_trim_ip(frame[20:]) if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None), eth
    return None, eth


def _trim_ip(data: bytes) -> bytes | None:
    """The IP packet without link-layer padding after it; None if it is no IP packet."""
    if len(data) >= 20 and data[0] >> 4 == 4:
        total = struct.unpack_from("!H", data, 2)[0]
        return data[:total] if total >= 20 else None
    if len(data) >= 40 and data[0] >> 4 == 6:
        return data[: 40 + struct.unpack_from("!H", data, 4)[0]]
    return None


def _eth(ethertype: int, payload: bytes) -> bytes:
    return _MACS + struct.pack("!H", ethertype) + payload


def _ethertype_of(ip: bytes) -> int:
    return 0x0800 if ip[0] >> 4 == 4 else 0x86DD


def _ipv4(proto: int, payload: bytes, ident: int = 0) -> bytes:
    hdr = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            ident,
            0,
            64,
            proto,
            0,
            OUTER_SRC,
            OUTER_DST,
        )
    )
    struct.pack_into("!H", hdr, 10, checksum(bytes(hdr)))
    return bytes(hdr) + payload


NAT64_PREFIX = bytes.fromhex("0064ff9b") + bytes(8)


def _udp(ip: bytes, port: int, payload: bytes) -> bytes:
    """A UDP header to ``port`` (checksum 0: none, as IPv4 allows) from a source port
    that follows the inner addresses, as tunnel endpoints spread flows."""
    sport = 49152 + sum(ip[8:40] if ip[0] >> 4 == 6 else ip[12:20]) % 0x3FFF
    return struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload


def _geneve(ip: bytes) -> tuple[int, bytes]:
    option = struct.pack("!HBB", 0x0103, 0x01, 1) + b"\x00\x00\x00\x2a"  # 4 bytes of data
    return 6081, struct.pack("!BBHI", 2, 0, 0x6558, 0x000A0100) + option


def _gtpv1(ip: bytes) -> tuple[int, bytes]:
    # version 1, GTP, sequence number present; G-PDU; length counts what follows the
    # first 8 bytes
    return 2152, struct.pack("!BBHIHBB", 0x32, 255, len(ip) + 4, 0x0000BEEF, 7, 0, 0)


def _gtpv1_ext(ip: bytes) -> tuple[int, bytes]:
    # version 1, GTP, an extension header (so a sequence number field too); its type 0x85
    # (PDU session container): length one word, PDU type 0 and QFI 9, no next header
    return 2152, struct.pack("!BBHIHBB", 0x36, 255, len(ip) + 8, 0x0000BEEF, 7, 0, 0x85) + (
        b"\x01\x00\x09\x00"
    )


def _ayiya(ip: bytes) -> tuple[int, bytes]:
    nxt = 4 if ip[0] >> 4 == 4 else 41
    # 16-byte identity, 20-byte SHA-1 signature, opcode 1 (forward)
    return 5072, bytes([0x41, 0x52, 0x11, nxt]) + bytes(4) + bytes(16) + bytes(20)


def _teredo(ip: bytes) -> tuple[int, bytes]:
    return 3544, b"\x00\x00" + struct.pack("!H", 3544 ^ 0xFFFF) + bytes(b ^ 0xFF for b in OUTER_SRC)


# VLAN forms: (tag protocol, VLAN id), outermost first (802.1ad's service tag, then 802.1Q)
_TAGS = {"vlan": [(0x8100, 10)], "qinq": [(0x88A8, 100), (0x8100, 10)]}
_UDP_FORMS = {
    "geneve": _geneve,
    "gtpv1": _gtpv1,
    "gtpv1-ext": _gtpv1_ext,
    "ayiya": _ayiya,
    "teredo": _teredo,
}


def _as_ipv6(ip: bytes) -> bytes:
    """An IPv4 packet as IPv6 (addresses in 64:ff9b::/96); IPv6 and IPv4 fragments as they
    are (a fragment's header cannot be rewritten without reassembling it)."""
    if ip[0] >> 4 != 4 or struct.unpack_from("!H", ip, 6)[0] & 0x3FFF:
        return ip
    hlen = (ip[0] & 0x0F) * 4
    payload = ip[hlen:]
    hdr = struct.pack("!IHBB", 0x60000000 | ip[1] << 20, len(payload), ip[9], ip[8])
    return hdr + NAT64_PREFIX + ip[12:16] + NAT64_PREFIX + ip[16:20] + payload


class Encapsulator:
    """One form, applied frame by frame (fragmenting forms give several frames per packet)."""

    def __init__(self, form: str, options: EncapOptions | None = None) -> None:
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r} (one of {', '.join(FORMS)})")
        self.form = form
        self.options = options or EncapOptions()
        self.rng = random.Random(self.options.seed)
        self._ident = 0
        self._datagrams = 0

    def frames(self, link_type: int, frame: bytes) -> list[bytes]:
        ip, eth = ip_of_frame(link_type, frame)
        if ip is None:
            return [frame] if link_type == LINKTYPE_ETHERNET else []
        form = self.form
        if form in _TAGS:
            tags = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in _TAGS[form])
            return [eth[:12] + tags + eth[12:] + ip]
        if form == "pppoe":
            ppp = b"\x00\x21" if ip[0] >> 4 == 4 else b"\x00\x57"
            session = struct.pack("!BBHH", 0x11, 0x00, 0x0001, len(ip) + 2)
            return [_eth(0x8864, session + ppp + ip)]
        if form == "mpls":
            labels = struct.pack("!II", (16 << 12) | (0 << 9) | 64, (17 << 12) | 0x100 | 64)
            return [_eth(0x8847, labels + ip)]
        if form == "gre":
            return [_eth(0x0800, _ipv4(47, struct.pack("!HH", 0, _ethertype_of(ip)) + ip))]
        if form == "gre-eth":
            inner = eth + ip
            return [
                _eth(0x0800, _ipv4(47, struct.pack("!HH", 0x2000, 0x6558) + b"\0\0\0\x2a" + inner))
            ]
        if form == "vxlan":
            inner = eth + ip
            vx = struct.pack("!II", 0x08000000, 0x123400)
            return [_eth(0x0800, _ipv4(17, _udp(ip, 4789, vx + inner)))]
        if form == "ipip":
            return [_eth(0x0800, _ipv4(4 if ip[0] >> 4 == 4 else 41, ip))]
        if form in _UDP_FORMS:
            port, header = _UDP_FORMS[form](ip)
            inner = eth + ip if form == "geneve" else ip
            if form == "teredo":
                inner = _as_ipv6(ip)
            return [_eth(0x0800, _ipv4(17, _udp(ip, port, header + inner)))]
        if form.startswith("ipv6"):
            ip = _as_ipv6(ip)
            eth = eth[:-2] + b"\x86\xdd"
            if form == "ipv6":
                return [eth + ip]
        return [eth + f for f in self._fragment(ip)]

    def _fragment(self, ip: bytes) -> list[bytes]:
        size = self.options.fragment_size
        v4 = ip[0] >> 4 == 4
        hlen = (ip[0] & 0x0F) * 4 if v4 else 40
        data = ip[hlen:]
        if len(data) <= size or (v4 and struct.unpack_from("!H", ip, 6)[0] & 0x3FFF):
            return [ip]  # small enough, or a fragment already: as it was
        self._ident = (self._ident + 1) & (0xFFFF if v4 else 0xFFFFFFFF)
        self._datagrams += 1
        pieces = [(off, data[off : off + size]) for off in range(0, len(data), size)]
        last = pieces[-1][0]
        frags = [self._piece(ip, hlen, v4, off, chunk, off != last) for off, chunk in pieces]
        form = self.form
        if form in ("frag-reorder", "ipv6-frag"):
            self.rng.shuffle(frags)
        elif form == "frag-overlap" and len(pieces) >= 3:
            # an identical copy across the first boundary, then different bytes over data
            # already held, both before the datagram can complete
            copy = self._piece(
                ip, hlen, v4, size // 2 // 8 * 8, data[size // 2 // 8 * 8 :][:size], True
            )
            junk = self._piece(ip, hlen, v4, size, b"\xee" * size, True)
            frags = [*frags[:2], copy, junk, *frags[2:]]
        elif form == "frag-junk-first" and len(pieces) >= 3:
            frags = [self._piece(ip, hlen, v4, size, b"\xee" * size, True), *frags]
        elif form == "frag-incomplete" and self._datagrams % self.options.drop_every == 0:
            del frags[self.rng.randrange(len(frags))]
        return frags

    def _piece(self, ip: bytes, hlen: int, v4: bool, off: int, chunk: bytes, more: bool) -> bytes:
        if v4:
            hdr = bytearray(ip[:hlen])
            struct.pack_into(
                "!HHH", hdr, 2, hlen + len(chunk), self._ident, (off // 8) | (0x2000 * more)
            )
            struct.pack_into("!H", hdr, 10, 0)
            struct.pack_into("!H", hdr, 10, checksum(bytes(hdr)))
            return bytes(hdr) + chunk
        base = bytearray(ip[:40])
        nxt = base[6]
        base[6] = 44
        struct.pack_into("!H", base, 4, 8 + len(chunk))
        frag = struct.pack("!BBHI", nxt, 0, off | more, self._ident)
        return bytes(base) + frag + chunk


def encapsulate(
    frames: Iterable[tuple[float, int, bytes]], form: str, options: EncapOptions | None = None
) -> Iterator[tuple[float, bytes]]:
    """``(time, Ethernet frame)`` of the source frames in the given form."""
    enc = Encapsulator(form, options)
    for ts, link_type, frame in frames:
        for out in enc.frames(link_type, frame):
            yield ts, out


def rewrap_capture(
    source: str | Path, target: str | Path, form: str, options: EncapOptions | None = None
) -> int:
    """Write ``source`` in ``form`` to the pcap ``target``; the number of frames written."""
    with PcapWriter(target) as out:
        batch: list[tuple[float, bytes]] = []
        for event in encapsulate(read_capture(source), form, options):
            batch.append(event)
            if len(batch) >= 4096:
                out.write_events(batch)
                batch = []
        if batch:
            out.write_events(batch)
        return out.packets
