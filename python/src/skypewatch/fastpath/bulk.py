"""A capture file read in chunks and decoded with numpy, many records per step.

:func:`chunks` walks the record headers of a regular-file pcap (or, through pcapng.py, the
blocks of a pcapng), or of a pcap stream (a pipe: ``packets.capture.OpenStream``, whose
header :func:`stream_header` read), and hands out chunks of whole records: the chunk's
bytes, each record's data offset and captured length, and its time computed exactly as
``packets.capture`` computes it.  :func:`decode_chunk` applies
``packets.decode.decode_plain``'s rules to every record at once, behind up to two VLAN tags
too (a trunk port's capture is tagged throughout), in PPPoE sessions and behind MPLS labels
(access and carrier links), and inside the tunnels around one such packet: a frame it marks
``plain`` is one the full :class:`~skypewatch.packets.decode.Decoder` turns into exactly
that packet (a UDP tunnel's frame: the datagram and the packet inside,
``Decoded.tunnels``); one it does not mark plain but gives a ``reason`` is one the Decoder
makes no packet of, only counting that reason (ARP, ICMP...); every other frame goes to the
Decoder, as in the reference path.

Anything this reader does not take on -- a link type not in :data:`~.chunk.LINKS`, a
pcapng it does not read (pcapng.py) -- raises :class:`Unsupported`: the caller then
analyses the capture with the reference engine.  Where a pcap's records end before the
file does (it ends inside a record, or a record's time or captured length is damaged), the
records before are handed out and then :class:`~.chunk.Cut` says where and why, in the
reference reader's words: the input ends there, as it does in the reference.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..packets.capture import (
    MAX_CAPLEN,
    MAX_SECONDS,
    PACKET_DATA_CUT,
    PCAPNG_SHB,
    RECORD_HEADER_CUT,
    OpenStream,
    record_damage,
)
from ..packets.decode import (
    ARP_REASON,
    ETH_ARP,
    ETH_MPLS,
    ETH_PPPOE,
    ICMP_REASON,
    IPV6_AH,
    IPV6_EXT,
    IPV6_FRAGMENT,
    NOT_IP_REASON,
    PPP_IP,
    TCP,
    TUNNEL_UDP_PORTS,
    UDP,
    VLAN_TAGS,
    protocol_reason,
    tunnelled,
)
from ..packets.tunnels import (
    ERSPAN_2,
    ERSPAN_3,
    GENEVE_PORT,
    GTPV1_PORTS,
    TEREDO_PORT,
    TRANSPARENT_ETHERNET,
    VXLAN_PORT,
)
from . import pcapng
from .chunk import (
    LINKS,
    REFUSED,
    Chunk,
    Cut,
    Header,
    Stop,
    Unsupported,
    Walk,
    runs,
    stream_runs,
    u32_column,
    words,
)

# (what other modules take from here, with chunks and decode_chunk)
__all__ = [
    "REFUSED",
    "Chunk",
    "Decoded",
    "Header",
    "Unsupported",
    "chunks",
    "decode_chunk",
    "stream_header",
]

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
CHUNK_BYTES = 1 << 22  # records per step: a few tens of thousands, memory a few MB

# decode_plain's Teredo lead test: 0x00 or an IPv6 version nibble
_TEREDO_LEAD = np.array([1 if b == 0 or b >> 4 == 6 else 0 for b in range(256)], dtype=bool)


def _among(*values: int) -> np.ndarray:
    """A table of every 16-bit value, True at *values*: ``table[column]`` is a column's
    membership test (np.isin's sort or compare loop costs four times as much per chunk)."""
    table = np.zeros(1 << 16, dtype=bool)
    table[list(values)] = True
    return table


_TUNNEL_PORTS = _among(*TUNNEL_UDP_PORTS)


def pcap_header(path: str | Path) -> Header | None:
    """The header of a regular-file pcap or pcapng of a link type in :data:`LINKS` (for a
    pcapng, its first interface's); None for anything else (a pipe, another link type, an
    unreadable file: the reference path's).
    A look before the run: :func:`chunks` reads the header again from the file it reads."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)  # a pcapng's first interface lies in its first blocks
            if head[:4] != PCAPNG_SHB:
                return _header(head)
            found = pcapng.header(head)
            if found is None and len(head) == 1 << 16:
                # or behind large blocks (name resolution, decryption secrets...)
                found = pcapng.header(head + fh.read(1 << 24))
            return found
    except (OSError, ValueError):
        return None


def _header(head: bytes) -> Header | None:
    if len(head) < 24 or head[:4] not in _PCAP_MAGICS:
        return None
    endian, resolution = _PCAP_MAGICS[head[:4]]
    link = struct.unpack_from(endian + "I", head, 20)[0] & 0x0FFFFFFF  # as capture.py
    if link not in LINKS:
        return None
    return Header(endian, resolution, link)


def stream_header(stream: OpenStream) -> Header | None:
    """The header of the pcap *stream* begins with, read from it, if it is one of a link
    type in :data:`LINKS` (a pcapng stream is the reference's: its damage, which the bulk
    reader leaves to the reference, could only be found after records were handed out)."""
    return _header(stream.head(24)[:24])


def chunks(
    path: str | Path | OpenStream, identity: tuple[int, int] | None = None
) -> Iterator[Chunk]:
    """The records of the regular-file pcap or pcapng at *path*, a chunk at a time, or
    :class:`Unsupported`.  Its header is read from the file whose records are read (a
    capture swapped after :func:`pcap_header` looked at its path is judged as it is now),
    opened without blocking (a path that became a FIFO is refused, not waited on).
    *identity*: the (device, inode) the file must have (another process's view of it).
    An :class:`OpenStream` is a pcap stream whose header :func:`stream_header` took."""
    if isinstance(path, OpenStream):
        read = path.replay()  # (all read so far: its header and what came with it)
        header = _header(read)
        if header is None:
            raise Unsupported(REFUSED)
        found = _pcap_chunks(
            header, stream_runs(path.read, read[24:], CHUNK_BYTES, 24, _walk(header))
        )
        for chunk in found:
            # a chunk has packets: the engine cannot give up past it, nor need the stream
            # read again (analyze.STREAM_KEEP)
            path.forget()
            yield chunk
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise Unsupported(f"cannot open the capture: {exc.strerror}") from None
    with open(fd, "rb") as fh:
        st = os.fstat(fd)
        if identity is not None and (st.st_dev, st.st_ino) != identity:
            raise Unsupported("the capture changed while it was read")
        head = fh.read(24) if stat.S_ISREG(st.st_mode) else b""
        if head[:4] == PCAPNG_SHB:
            yield from pcapng.chunks(fh, head, CHUNK_BYTES)
            return
        header = _header(head)
        if header is None:
            raise Unsupported(REFUSED)
        yield from _pcap_chunks(header, runs(fh, b"", CHUNK_BYTES, 24, _walk(header)))


def _walk(header: Header) -> Walk:
    u32 = struct.Struct(header.endian + "I").unpack_from

    def walk(buf: bytes) -> tuple[list[int], int]:
        # The one loop over every record in Python: it only follows the lengths.  A
        # record that does not fit in buf is the last one it takes; it is given back
        # below, and every length is checked at once afterwards (_chunk).
        starts: list[int] = []
        append = starts.append
        pos, n = 0, len(buf)
        last = n - 16
        while pos <= last:
            append(pos)
            pos += 16 + u32(buf, pos + 8)[0]
        if pos > n:  # the last record does not fit: it waits for more bytes
            pos = starts.pop()
            if u32(buf, pos + 8)[0] > MAX_CAPLEN:  # ... or it never will
                raise Stop(starts, pos)
        return starts, pos

    return walk


def _pcap_chunks(
    header: Header, found: Iterator[tuple[bytes, list[int], int, int]]
) -> Iterator[Chunk]:
    """The chunks of a pcap's records as :func:`runs` (or :func:`stream_runs`) finds them."""
    try:
        for buf, starts, consumed, offset in found:
            chunk, bad = _chunk(buf, np.array(starts, dtype=np.int64), header, consumed, offset)
            if chunk is not None:
                yield chunk
            if bad is not None:
                raise Cut(offset + bad, buf[bad : bad + 16])
    except Cut as cut:
        raise _cut_short(cut, header) from None


def _cut_short(cut: Cut, header: Header) -> Cut:
    """Where a pcap's records end before the file does, in capture.py's words: the file
    ends inside a record, or a record's time or length is damaged (its time first)."""
    rest = cut.rest
    if len(rest) < 16:
        return Cut(cut.offset, rest, RECORD_HEADER_CUT)
    sec, frac, caplen = struct.unpack_from(header.endian + "III", rest)
    ts = sec + frac * header.resolution
    if ts > MAX_SECONDS or caplen > MAX_CAPLEN:
        return Cut(cut.offset, rest, record_damage(ts, caplen), damaged=True)
    return Cut(cut.offset, rest, PACKET_DATA_CUT)


def _chunk(
    buf: bytes, starts: np.ndarray, header: Header, consumed: int, offset: int
) -> tuple[Chunk | None, int | None]:
    """The records at *starts* as a chunk; up to the first one with a damaged time or
    length if there is one (then also where it begins in *buf*)."""
    b = np.frombuffer(buf, dtype=np.uint8)
    endian = header.endian
    sec = u32_column(b, starts, endian)
    frac = u32_column(b, starts + 4, endian)
    caplen = u32_column(b, starts + 8, endian)
    # capture.py: ts = sec + frac * resolution, in Python floats (IEEE doubles, same steps)
    ts = sec.astype(np.float64) + frac.astype(np.float64) * header.resolution
    bad = None
    if starts.size and (int(caplen.max()) > MAX_CAPLEN or float(ts.max()) > MAX_SECONDS):
        k = int(np.argmax((caplen > MAX_CAPLEN) | (ts > MAX_SECONDS)))
        bad = int(starts[k])
        starts, caplen, ts, consumed = starts[:k], caplen[:k], ts[:k], offset + bad
        if k == 0:
            return None, bad
    return Chunk(buf, header.link_type, starts + 16, caplen, ts, consumed, offset), bad


@dataclass(slots=True)
class Decoded:
    """decode_plain's answer for every frame of a chunk, as arrays (valid where ``plain``)."""

    plain: np.ndarray  # bool
    proto: np.ndarray  # int64: TCP or UDP
    src: np.ndarray  # int64 IPv4 address (0 for IPv6)
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    flags: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    pay_start: np.ndarray  # offsets in the chunk's buf
    pay_end: np.ndarray
    wire: np.ndarray  # TCP: the segment's length on the wire (decode_plain's tcp_len)
    v6: np.ndarray  # bool: an IPv6 packet, whose addresses are the 32 bytes at addr_at
    addr_at: (
        np.ndarray
    )  # offset in buf of an IPv6 packet's source address (its destination follows)
    # why the Decoder counts the frame as undecoded (an index into REASONS; 0: it does
    # not): beside its packet where ``plain``, else as all it makes of the frame (ARP,
    # ICMP...: no packet; 0: the frame is the Decoder's)
    reason: np.ndarray
    udp: np.ndarray  # bool: a UDP datagram with its header (plain or not), fields valid
    ip: np.ndarray  # bool: an IP header read (plain or not); then the IP payload's bytes:
    net_at: np.ndarray  # where it begins in buf
    net_len: np.ndarray  # how many the frame holds of it
    # UDP tunnels (VXLAN, Geneve, GTP-U) around one packet decode_chunk takes too: (the
    # frames, in order; their inner packets, a row each). The Decoder gives the datagram,
    # then that packet; ``plain`` is False for those frames (it means one packet) until
    # :func:`unfold` makes the two rows
    tunnels: list[tuple[np.ndarray, Decoded]] = field(default_factory=list)


# What the Decoder counts for a frame (``Decoded.reason``): the first two beside a packet,
# where a tunnel's inner packet gave none; the others for a frame of which it makes no
# packet (protocol_reason(p) at _PROTOCOL + p)
REASONS = (
    "",
    tunnelled(ICMP_REASON),
    tunnelled(protocol_reason(59)),
    ICMP_REASON,
    ARP_REASON,
    NOT_IP_REASON,
    *(protocol_reason(p) for p in range(256)),
)
_ICMP, _ARP, _NOT_IP, _PROTOCOL = (
    REASONS.index(r) for r in (ICMP_REASON, ARP_REASON, NOT_IP_REASON, protocol_reason(0))
)
# an IP protocol of which the Decoder may make a packet (TCP, UDP, the tunnels); behind
# IPv6 also the headers it follows to one (extension headers, fragments, AH)
_PACKET_PROTOCOLS = _among(TCP, UDP, 4, 41, 47)
_IPV6_CHAIN = _among(*IPV6_EXT, IPV6_FRAGMENT, IPV6_AH)
# ethertypes that carry IP, or ARP: any other (behind at most two tags) is "not IP"
_NOT_OTHER = _among(0x0800, 0x86DD, ETH_MPLS, ETH_PPPOE, *ETH_ARP)
_ARP_TYPES = _among(*ETH_ARP)


def _be16(b: np.ndarray, at: np.ndarray) -> np.ndarray:
    return b[at].astype(np.int64) << 8 | b[at + 1]


def _be32(b: np.ndarray, at: np.ndarray) -> np.ndarray:
    return words(b, ">u4")[at].astype(np.int64)


_TEREDO_PREFIX = 0x20010000  # 2001:0::/32, the addresses Zeek's Teredo pattern looks for


def _looks_like_teredo(b: np.ndarray, at: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``tunnels.looks_like_teredo`` of the UDP payloads of *n* bytes at offsets *at* of
    the chunk's bytes *b*, each at least 40 bytes long and led by 0x6_ or by 0x00 0x00-01."""
    b0 = b[at]
    b1 = b[at + 1]
    six = b0 >> 4 == 6
    # Zeek's pattern: exactly an IPv6 header with a source or destination in 2001:0::/32
    pattern = (
        six
        & (n == 40)
        & ((_be32(b, at + 8) == _TEREDO_PREFIX) | (_be32(b, at + 24) == _TEREDO_PREFIX))
    )
    # an authentication header (its two lengths), then an origin indication, then IPv6; or
    # an origin indication, then IPv6 (the reads stay inside each payload that has them)
    skip = np.where(b1 == 1, 13 + b[at + 2].astype(np.int64) + b[at + 3], 0)
    room = (b1 <= 1) & (n - skip >= 48)
    origin = np.where(room, at + skip, at)
    indication = (b1 == 0) | (_be16(b, origin) == 0)
    return pattern | (room & indication & (b[origin + 8] >> 4 == 6))


def _teredo_reason(b: np.ndarray, at: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``tunnels.teredo`` on the UDP payloads of *n* (40 or more) bytes at offsets *at*,
    then the inner IPv6 header's next header: 1 (ICMP) or 2 (no next header) where the
    Decoder would count that reason for the inner packet, 0 where anything else happens
    (a TCP or UDP packet inside, an extension header, a refusal: the Decoder's)."""
    # an authentication header (its two lengths), then perhaps an origin indication, then
    # IPv6; every read stays inside the payload
    auth_len = 13 + b[at + 2].astype(np.int64) + b[at + 3]
    pos = np.where((_be16(b, at) == 1) & (n >= auth_len), auth_len, 0)
    tag = _be16(b, at + np.where(n - pos >= 2, pos, 0))
    pos += np.where((n - pos >= 8) & (tag == 0), 8, 0)
    room = n - pos >= 40
    ip = at + np.where(room, pos, 0)
    plen = _be16(b, ip + 4)
    nxt = b[ip + 6]
    have = n - pos - 40
    # a payload as long as the header says; longer only for a bubble
    ok = room & (b[ip] >> 4 == 6) & ((have == plen) | ((have > plen) & (plen == 0) & (nxt == 59)))
    return np.where(ok & ((nxt == 58) | (nxt == 1)), 1, np.where(ok & (nxt == 59), 2, 0)).astype(
        np.int16
    )


# The Decoder's VLAN tags; a frame with more than two stacked goes to the Decoder.
_VLAN_TAGS = _among(*VLAN_TAGS)
_MAX_TAGS = 2
# After the tags, a PPPoE session header with PPP's protocol (8 bytes), or an MPLS label
# stack of at most this many labels (a deeper one goes to the Decoder).
_PPP_IP = _among(*PPP_IP)
_VXLAN_PORTS = _among(VXLAN_PORT)
_GTP_PORTS = _among(*GTPV1_PORTS)
_GENEVE_PORTS = _among(GENEVE_PORT)
_GRE_IP = _among(0x0800, 0x86DD)  # (and Geneve's)
_GRE_ETHERNET = _among(TRANSPARENT_ETHERNET, ERSPAN_2, ERSPAN_3)
_MAX_LABELS = 3
_GTP_EXTENSIONS = 3  # GTP-U extension headers before the packet (a longer chain: the Decoder's)
# How far past a frame's start a read below reaches, at most: the longest link header, two
# tags, PPPoE or the labels, an IPv6 header and a TCP header (the UDP payload's first bytes
# lie among them).
_REACH = (
    max(start for _, start in LINKS.values()) + 4 * _MAX_TAGS + max(8, 4 * _MAX_LABELS) + 40 + 20
)


def decode_chunk(c: Chunk) -> Decoded:
    """decode_plain over every frame at once (Ethernet, option-less unfragmented IPv4, TCP or
    a UDP datagram no tunnel analyzer would claim), and the same behind one or two VLAN
    tags, in a PPPoE session or behind up to three MPLS labels, or another link header of
    :data:`LINKS`, or in an IPv6 packet without extension headers, and the tunnels around
    one (``_tunnels``, ``_in_ip``): where the Decoder gives the same packet(s); and the
    frames it makes no packet of, with the reason it counts."""
    b = np.frombuffer(c.buf, dtype=np.uint8)
    if b.size < _REACH:  # a tiny chunk: every read below stays inside the bytes
        b = np.concatenate((b, np.zeros(_REACH - b.size, dtype=np.uint8)))
    o = c.data
    # A frame that begins too near the end of the bytes for every read below is left to
    # the Decoder (at most a chunk's last frame, and a short one); the others read where
    # they are, the former from the chunk's first bytes (then masked out).
    whole = o <= b.size - _REACH
    at, net = LINKS[c.link_type]
    d = _decode(b, o, c.caplen, at, net, whole, whole.copy(), whole.copy())
    _tunnels(b, d)
    _in_ip(b, d)
    return d


def _decode(
    b: np.ndarray,
    o: np.ndarray,
    cap: np.ndarray,
    at: int | np.ndarray | None,
    net: int | np.ndarray,
    whole: np.ndarray,
    is4: np.ndarray,
    is6: np.ndarray,
) -> Decoded:
    """decode_chunk's frames, or the frames inside tunnels: frames at offsets *o* of *b*
    with *cap* bytes each, their link type's ethertype at *at* (None: no link header) and
    network header at *net*; *whole*: which can be read (every read stays _REACH bytes past
    *o*); *is4*, *is6*: which may hold IPv4 or IPv6 as far as the caller knows."""
    n = o.size
    ot = np.where(whole, o, 0)
    # where the IP header begins in the frame
    ip = np.broadcast_to(np.asarray(net, dtype=np.int64), (n,)).copy()
    if at is not None:
        ethertype = _be16(b, ot + at)
        tagged = _VLAN_TAGS[ethertype]
        for _ in range(_MAX_TAGS):
            ethertype = np.where(tagged, _be16(b, ot + ip + 2), ethertype)
            ip += tagged * 4
            tagged &= _VLAN_TAGS[ethertype]
        # PPPoE: PPP's protocol must be IP; the IP packet is cut to the session's length
        pppoe = ~tagged & (ethertype == ETH_PPPOE)
        pppoe &= _PPP_IP[_be16(b, ot + ip + 6)]
        # (the Decoder: frame[off + 8 : off + 8 + min(length - 2, what the frame holds)])
        length = np.maximum(_be16(b, ot + ip + 4) - 2, 0)
        cap = np.where(pppoe, np.minimum(cap, ip + 8 + length), cap)
        ip += pppoe * 8
        # MPLS: labels up to the one marked bottom of stack, then IP
        mpls = ~tagged & (ethertype == ETH_MPLS)
        stack = mpls.copy()  # still reading labels
        for _ in range(_MAX_LABELS):
            bottom = (b[ot + ip + 2] & 1).astype(bool)
            ip += stack * 4
            stack &= ~bottom
        mpls &= ~stack
        # behind PPPoE or MPLS the Decoder goes by the version nibble alone
        is4 &= (~tagged & (ethertype == 0x0800)) | pppoe | mpls
        is6 &= (~tagged & (ethertype == 0x86DD)) | pppoe | mpls
        # ARP, or another ethertype that is not IP, with its link header and tags whole:
        # no packet, a reason
        link = whole & ~tagged & (cap >= ip)
        none = np.where(
            link & _ARP_TYPES[ethertype],
            _ARP,
            np.where(link & ~_NOT_OTHER[ethertype], _NOT_IP, 0),
        ).astype(np.int16)
    else:
        none = np.zeros(n, dtype=np.int16)
    # (the Decoder goes by the version nibble; a type that disagrees with it is its business)
    first = b[np.where(whole, o + ip, 0)]
    # (room for a UDP header: a short datagram in a frame without Ethernet padding, as the
    # sending host captures it; a TCP header's room is checked below)
    is4 &= (cap >= ip + 28) & (first == 0x45)
    is6 &= (cap >= ip + 48) & (first >> 4 == 6)
    oo = np.where(is4 | is6, o + ip, 0)
    hl = np.where(is6, 40, 20)  # the IP header's length
    total = np.where(is6, 40 + _be16(b, oo + 4), _be16(b, oo + 2))
    is4 &= (total >= 20) & ((_be16(b, oo + 6) & 0x3FFF) == 0)
    # IPv6: TCP or UDP right after the fixed header (an extension header, a fragment: the
    # Decoder's)
    proto = np.where(is6, b[oo + 6], b[oo + 9]).astype(np.int64)
    plain = is4 | is6
    # an IP packet of ICMP or another protocol of which the Decoder makes no packet: a reason
    other = plain & ~_PACKET_PROTOCOLS[proto] & ~(is6 & _IPV6_CHAIN[proto])
    if other.any():
        icmp = (proto == 1) | (proto == 58)
        none = np.where(other, np.where(icmp, _ICMP, _PROTOCOL + proto), none).astype(np.int16)
    src = np.where(is4, _be32(b, oo + 12), 0)
    dst = np.where(is4, _be32(b, oo + 16), 0)
    end = np.minimum(total, cap - ip)  # the IP packet's captured end, from its header
    tp = oo + hl  # the transport header
    sport = _be16(b, tp)
    dport = _be16(b, tp + 2)
    is_udp = plain & (proto == UDP)
    is_tcp = plain & (proto == TCP)
    # UDP: what decode_plain refuses
    is_udp &= end >= hl + 8
    udp_ok = is_udp.copy()
    udp_ok &= ~_TUNNEL_PORTS[sport] & ~_TUNNEL_PORTS[dport]
    long45 = end >= hl + 11
    b0 = b[tp + 8]
    b1 = b[tp + 9]
    b2 = b[tp + 10]
    dgram40 = end >= hl + 48  # a payload of 40 bytes or more
    exactly40 = end == hl + 48
    # decode_plain's test for what Teredo detection could take, then that detection itself
    # where it passes (STUN's binding requests, 0x0001..., pass the first): a datagram it
    # refuses gives the Decoder this one packet
    teredo = long45 & _TEREDO_LEAD[b0] & dgram40 & ((b1 <= 1) | ((b0 != 0) & exactly40))
    maybe = np.flatnonzero(teredo)
    if maybe.size:
        teredo[maybe] = _looks_like_teredo(b, tp[maybe] + 8, end[maybe] - hl[maybe] - 8)
    ayiya = long45 & (b2 == 0x11) & (b1 == 0x52)
    udp_ok &= ~teredo & ~ayiya
    # Teredo (by its port, or by its detection where no port claims the datagram) carrying
    # an IPv6 packet of ICMPv6 or no next header (qualification, bubbles: most of a Teredo
    # client's datagrams): the Decoder gives the outer datagram alone, and counts why the
    # inner packet gave none (``reason``)
    dport_claims = _TUNNEL_PORTS[dport]
    by_teredo = (dport == TEREDO_PORT) | (~dport_claims & (sport == TEREDO_PORT))
    by_teredo |= teredo & ~dport_claims & ~_TUNNEL_PORTS[sport]
    reason = np.zeros(n, dtype=np.int16)
    inner = np.flatnonzero(is_udp & by_teredo & dgram40)
    if inner.size:
        reason[inner] = _teredo_reason(b, tp[inner] + 8, end[inner] - hl[inner] - 8)
        udp_ok |= reason > 0
    # TCP
    seq = _be32(b, tp + 4)
    ack = _be32(b, tp + 8)
    data_off = (b[tp + 12].astype(np.int64) >> 4) * 4
    flags = b[tp + 13].astype(np.int64)
    tcp_ok = is_tcp & (data_off >= 20) & (end >= hl + data_off)
    ok = udp_ok | tcp_ok
    rel_start = np.where(is_udp, hl + 8, hl + data_off)
    pay_len = np.maximum(end - rel_start, 0)
    wire = np.maximum(total - hl - data_off, pay_len)
    zeros = np.zeros(n, dtype=np.int64)
    pay_start = o + ip + rel_start
    return Decoded(
        plain=ok,
        proto=proto,
        src=src,
        dst=dst,
        sport=sport,
        dport=dport,
        flags=np.where(tcp_ok, flags, zeros),
        seq=np.where(tcp_ok, seq, zeros),
        ack=np.where(tcp_ok, ack, zeros),
        pay_start=pay_start,
        pay_end=pay_start + pay_len,
        wire=np.where(tcp_ok, wire, zeros),
        v6=is6,  # (read where a row is a packet: plain, or a tunnel's datagram)
        addr_at=oo + 8,
        reason=np.where(ok, reason, none),
        udp=is_udp,
        ip=plain,
        net_at=tp,
        net_len=end - hl,
    )


def _tunnels(b: np.ndarray, d: Decoded) -> None:
    """The UDP datagrams of *d* that VXLAN, Geneve or GTP-U claims (by the responder's port,
    else the originator's, as the Decoder does) and that carry one packet decode_chunk
    takes (``Decoded.tunnels``); a GTP signalling message, which carries none, is plain."""
    sport, dport = d.sport, d.dport
    dport_claims = _TUNNEL_PORTS[dport]

    def claimed(ports: np.ndarray) -> np.ndarray:
        return ports[dport] | (~dport_claims & ports[sport])

    p = d.pay_start
    n = d.pay_end - p
    # reads below stay within _REACH bytes past an inner header 8-12 bytes into the
    # payload (VXLAN's inner Ethernet header adds 8 to the longest link header)
    room = p + 16 + _REACH <= b.size
    cand = d.udp & ~d.plain & room & (n >= 8)
    pr = np.where(cand, p, 0)
    vx = cand & claimed(_VXLAN_PORTS)
    gtp = cand & claimed(_GTP_PORTS)
    # VXLAN: the I flag, then an Ethernet frame (more than the header)
    vx &= ((b[pr] & 0x08) != 0) & (n > 8)
    # GTP-U: version 1; a G-PDU (255) holding exactly one IP packet (tunnels._exact_ip)
    # after 8 bytes, or 12 with a sequence number, N-PDU number or extension headers, and
    # those (5G's PDU session container rides on every G-PDU: up to _GTP_EXTENSIONS, each
    # its length in 4-byte words, its last byte the next one's type: 0, no more); another
    # message type carries no packet
    v1 = gtp & (b[pr] >> 5 == 1)
    d.plain |= v1 & (b[pr + 1] != 255)
    hdr = np.where(b[pr] & 0x07, 12, 8)
    gpdu = v1 & (b[pr + 1] == 255) & (n >= hdr)
    more = gpdu & ((b[pr] & 0x04) != 0)  # an extension header at hdr
    if more.any():
        for _ in range(_GTP_EXTENSIONS):
            size = b[np.where(more & (n > hdr), pr + hdr, 0)].astype(np.int64) * 4
            whole = more & (n > hdr) & (size >= 2) & (n >= hdr + size)
            gpdu &= ~more | whole  # one cut short: the Decoder's ("truncated GTPv1")
            hdr = np.where(whole, hdr + size, hdr)
            more = whole & (b[np.where(whole, pr + hdr - 1, 0)] != 0)
        gpdu &= ~more  # a longer chain: the Decoder's
        gpdu &= p + hdr + 4 + _REACH <= b.size  # (the reads below, as for 12 bytes)
        hdr = np.where(gpdu, hdr, 8)  # (nor beyond them elsewhere)
    ver = b[pr + hdr] >> 4
    size = n - hdr
    four = gpdu & (size >= 20) & (ver == 4) & (_be16(b, pr + hdr + 2) == size)
    six = gpdu & (size >= 40) & (ver == 6) & (40 + _be16(b, pr + hdr + 4) == size)
    g = np.flatnonzero(four | six)
    # Geneve: version 0, its options, then an Ethernet frame or an IP packet (reads past
    # the options stay within _REACH of the inner header)
    options = 8 + (b[pr] & 0x3F).astype(np.int64) * 4
    gen = cand & claimed(_GENEVE_PORTS) & (b[pr] >> 6 == 0) & (n > options)
    gen &= p + options + 16 + _REACH <= b.size
    kind = _be16(b, pr + 2)
    ge = np.flatnonzero(gen & (kind == TRANSPARENT_ETHERNET))
    gi = np.flatnonzero(gen & _GRE_IP[kind])
    for rows, at, net, is4, is6 in (
        (np.flatnonzero(vx), 8 + 12, 8 + 14, None, None),
        (g, None, hdr[g], four[g], six[g]),
        (ge, options[ge] + 12, options[ge] + 14, None, None),
        (gi, None, options[gi], None, None),
    ):
        if not rows.size:  # (most chunks have no tunnel: _decode costs ~60 numpy calls)
            continue
        frames, inner = _inside(b, p[rows], n[rows], rows, at, net, is4, is6)
        if frames.size:
            d.tunnels.append((frames, inner))


def _inside(
    b: np.ndarray,
    p: np.ndarray,
    n: np.ndarray,
    rows: np.ndarray,
    at: int | np.ndarray | None,
    net: int | np.ndarray,
    is4: np.ndarray | None = None,
    is6: np.ndarray | None = None,
) -> tuple[np.ndarray, Decoded]:
    """The packets decode_chunk takes inside the tunnels of *rows*: their payloads at *p*,
    *n* bytes each (every read within _REACH past the inner header: the callers' ``room``),
    with _decode's *at* and *net*, and what the caller knows of the IP version (*is4*,
    *is6*); which of *rows* hold one, and those packets, a row each."""
    yes = np.ones(rows.size, dtype=bool)
    inner = _decode(
        b,
        p,
        n,
        at,
        net,
        yes,
        yes.copy() if is4 is None else is4,
        yes.copy() if is6 is None else is6,
    )
    took = np.flatnonzero(inner.plain)
    return rows[took], rows_of(inner, took)


def _in_ip(b: np.ndarray, d: Decoded) -> None:
    """GRE (IP, Ethernet or ERSPAN type I/II/III inside: a remote SPAN's frames) and
    IP-in-IP around one packet decode_chunk takes: neither tunnel is TCP or UDP, so the
    Decoder gives the packet inside alone, and the frame is plain, as that packet
    (``tunnels.gre``; a GRE protocol other than IPv4, IPv6, Ethernet or ERSPAN, GRE version
    1 and the routing and unknown flags are the Decoder's)."""
    p, n = d.net_at, d.net_len
    room = d.ip & (p + 48 + _REACH <= b.size)  # (a GRE and ERSPAN III header: 44 bytes)
    ipip = room & ((d.proto == 4) | (d.proto == 41))
    gre = room & (d.proto == 47) & (n >= 4)
    pr = np.where(gre, p, 0)
    flags = _be16(b, pr)
    kind = _be16(b, pr + 2)
    hdr = 4 + 4 * ((flags >> 15 & 1) + (flags >> 13 & 1) + (flags >> 12 & 1) + (flags >> 7 & 1))
    gre &= (flags & 0x4007) == 0  # version 0, no routing
    gre &= (flags & 0x0078) == 0
    # ERSPAN II carries a sequence number's 8 bytes more; III 12, and 8 more with its
    # platform-specific subheader
    three = gre & (kind == ERSPAN_3)
    skip = np.where(gre & (kind == ERSPAN_2) & ((flags & 0x1000) != 0), 8, 0)
    skip = np.where(three, 12 + 8 * (b[np.where(three, pr + hdr + 11, 0)] & 1), skip)
    eth = gre & _GRE_ETHERNET[kind]
    inside = gre & _GRE_IP[kind]
    start = hdr + skip
    ip_in = np.flatnonzero(inside)
    eth_in = np.flatnonzero(eth)
    for rows, at, net in (
        (ip_in, None, hdr[ip_in]),
        (eth_in, start[eth_in] + 12, start[eth_in] + 14),
        (np.flatnonzero(ipip), None, 0),
    ):
        if not rows.size:
            continue
        frames, inner = _inside(b, p[rows], n[rows], rows, at, net)
        for name in _ROW_FIELDS:
            getattr(d, name)[frames] = getattr(inner, name)


def rows_of(d: Decoded, k: np.ndarray) -> Decoded:
    """Rows *k* of *d*."""
    return Decoded(**{f: getattr(d, f)[k] for f in _ROW_FIELDS})


_ROW_FIELDS = [f for f in Decoded.__dataclass_fields__ if f != "tunnels"]


def unfold(d: Decoded) -> tuple[Decoded, np.ndarray | None]:
    """*d* with a row per packet: each tunnel frame's datagram (plain now) and then the
    packet inside (``Decoded.tunnels``), every other frame as it is; and the frame of each
    row (None when no frame has a tunnel)."""
    if not d.tunnels:
        return d, None
    n = d.plain.size
    two = np.zeros(n, dtype=np.int64)
    for frames, _ in d.tunnels:
        two[frames] = 1
    frame_of = np.repeat(np.arange(n), 1 + two)
    first = np.cumsum(1 + two) - (1 + two)  # each frame's first row
    out = {f: getattr(d, f)[frame_of] for f in _ROW_FIELDS}
    out["plain"][first[two == 1]] = True  # the datagram
    for frames, inner in d.tunnels:
        for f in _ROW_FIELDS:
            out[f][first[frames] + 1] = getattr(inner, f)
    return Decoded(**out), frame_of
