"""The bulk decoder (fastpath/bulk.decode_chunk) against the reference Decoder, frame by frame.

A frame decode_chunk marks plain must be one the Decoder turns into exactly that packet and
nothing else (no undecoded reason, no tunnel inside); a frame it leaves goes to the Decoder
anyway, so leaving one is never wrong, only slower.  The frames: a synthesized start-up's
TCP and UDP, behind no, one, two and three VLAN tags of every kind, in every link type the
bulk reader takes, then cut short and with header bytes flipped at random, and random bytes.
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from conftest import BULK_LINK_TYPES

from fuzz.containers import relinked
from skypewatch.fastpath import bulk
from skypewatch.packets.capture import read_capture
from skypewatch.packets.decode import VLAN_TAGS, Decoder, Packet, decode, decode_plain
from skypewatch.packets.tunnels import looks_like_ayiya, looks_like_teredo
from skypewatch.synth.encapsulate import Encapsulator
from skypewatch.synth.frames import udp_frame

_V6_A = bytes.fromhex("20010db8" + "00" * 11 + "01")  # two IPv6 hosts
_V6_B = bytes.fromhex("20010db8" + "00" * 11 + "02")


def _pcap(frames: list[bytes], link_type: int = 1) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1_600_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


def _tagged(frame: bytes, tags: list[int], rng: random.Random) -> bytes:
    inner = b"".join(struct.pack("!HH", t, rng.randrange(4096)) for t in tags)
    return frame[:12] + inner + frame[12:]


def _row(d: bulk.Decoded, buf: bytes, i: int) -> Packet:
    if d.v6[i]:
        at = int(d.addr_at[i])
        src, dst = buf[at : at + 16], buf[at + 16 : at + 32]
    else:
        src, dst = int(d.src[i]).to_bytes(4, "big"), int(d.dst[i]).to_bytes(4, "big")
    return (
        int(d.proto[i]),
        src,
        int(d.sport[i]),
        dst,
        int(d.dport[i]),
        int(d.flags[i]),
        int(d.seq[i]),
        buf[int(d.pay_start[i]) : int(d.pay_end[i])],
        int(d.ack[i]),
        int(d.wire[i]),
    )


def _pppoe(frame: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """*frame*'s IP packet in a PPPoE session (PPP's IPv4 or IPv6 protocol -- the version
    nibble decides behind either -- or another), its length field the packet's or more or
    less; and whether the packet stays whole (then decode_chunk must take it)."""
    ip = frame[14:]
    proto, whole = rng.choice([(0x0021, True), (0x0057, True), (0xC021, False)])
    extra = rng.choice([0, 0, 7, -1, -len(ip), -len(ip) - 2])
    whole &= extra >= 0
    head = struct.pack("!BBHHH", 0x11, 0, rng.randrange(65536), max(len(ip) + 2 + extra, 0), proto)
    return frame[:12] + b"\x88\x64" + head + ip, whole


def _mpls(frame: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """*frame*'s IP packet behind one to four MPLS labels, the last marked bottom of stack
    (or none): taken by decode_chunk up to three."""
    labels = rng.randrange(1, 5)
    bottom = rng.random() < 0.9
    stack = b"".join(
        struct.pack("!I", rng.randrange(1 << 20) << 12 | (bottom and k == labels - 1) << 8 | 64)
        for k in range(labels)
    )
    return frame[:12] + b"\x88\x47" + stack + frame[14:], bottom and labels <= 3


def _counted(d: bulk.Decoded, i: int) -> dict[str, int]:
    """What the Decoder must have counted as undecoded for frame *i* that decode_chunk took
    (as a packet, or as a frame without one)."""
    why = bulk.REASONS[d.reason[i]]
    return {why: 1} if why else {}


def _one_chunk(path, frames: list[bytes]) -> tuple[bulk.Chunk, bulk.Decoded]:
    """*frames* as an Ethernet pcap at *path*, read as one chunk and decoded (a frame after
    them: a chunk's last bytes are the Decoder's, test_a_frame_at_the_end...)."""
    path.write_bytes(_pcap([*frames, bytes(200)]))
    (c,) = bulk.chunks(path)
    return c, bulk.decode_chunk(c)


def _a_byte_changed(data: bytes, rng: random.Random, lo: int, hi: int) -> bytes:
    """*data* with one byte between *lo* and *hi* (or its end) set at random."""
    changed = bytearray(data)
    changed[rng.randrange(lo, min(len(changed), hi))] = rng.randrange(256)
    return bytes(changed)


def _ethernet_frames(source, rng: random.Random) -> list[bytes]:
    """Up to 300 of *source*'s IPv4 Ethernet frames, and the first 100 of them as IPv6."""
    base = [f for _ts, _link, f in read_capture(source)]
    base = [f for f in rng.sample(base, min(len(base), 300)) if f[12:14] == b"\x08\x00"]
    as_ipv6 = Encapsulator("ipv6")
    return base + [g for f in base[:100] for g in as_ipv6.frames(1, f)]


def _frames(source, rng: random.Random, link_type: int) -> tuple[list[bytes], list[bool]]:
    """Frames (each IPv4 one also as IPv6, each also in PPPoE or behind MPLS labels), and for
    each whether it is a whole TCP frame behind at most two tags (one decode_chunk must
    take: else the test could pass with nothing taken)."""
    base = [f for _ts, _link, f in read_capture(source)]
    base = rng.sample(base, min(len(base), 400))
    as_ipv6 = Encapsulator("ipv6")
    base += [g for f in base if f[12:14] == b"\x08\x00" for g in as_ipv6.frames(1, f)]
    frames: list[bytes] = []
    expect: list[bool] = []
    for f in base:
        # a whole TCP segment (a UDP datagram that a tunnel analyzer might claim is the
        # Decoder's)
        v4 = f[12:14] == b"\x08\x00" and len(f) >= 54 and f[14] == 0x45 and f[23] == 6
        v6 = f[12:14] == b"\x86\xdd" and len(f) >= 74 and f[20] == 6
        plain = v4 or v6
        _variants(f, plain, rng, link_type, frames, expect)
        if f[12:14] in (b"\x08\x00", b"\x86\xdd"):
            g, whole = (_pppoe if rng.random() < 0.5 else _mpls)(f, rng)
            _variants(g, plain and whole, rng, link_type, frames, expect)
    for f, counted in _no_packet_frames(rng):
        _variants(f, counted, rng, link_type, frames, expect)
    for _ in range(200):
        frames.append(rng.randbytes(rng.randrange(120)))
        expect.append(False)
    return frames, expect


def _no_packet_frames(rng: random.Random) -> list[tuple[bytes, bool]]:
    """Ethernet frames of which the Decoder makes no packet, only a reason: ARP and RARP,
    other ethertypes, ICMP, ICMPv6 and other IP protocols (each with True: decode_chunk
    must count it); and IP packets of tunnels and IPv6 headers with junk after them
    (False: the Decoder's)."""
    macs = rng.randbytes(12)
    out = [macs + t + rng.randbytes(rng.randrange(28, 60)) for t in (b"\x08\x06", b"\x80\x35")]
    out += [macs + struct.pack("!H", t) + rng.randbytes(46) for t in (0x88CC, 0x8863, 0x0842)]
    found = [(f, True) for f in out]
    chain = (0, 4, 41, 43, 44, 47, 51, 60)  # tunnels, IPv6's headers before a packet
    anything = rng.choice([p for p in range(256) if p not in (6, 17)])  # (not TCP, UDP)
    for proto in (1, 2, 50, 89, 132, 4, 41, 47, anything):
        body = rng.randbytes(rng.randrange(8, 60))
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0)
        found.append((macs + b"\x08\x00" + ip + _V6_A[:4] + _V6_B[:4] + body, proto not in chain))
    for nxt in (58, 59, 1, 50, *chain, anything):
        body = rng.randbytes(rng.randrange(8, 60))
        ip = struct.pack("!IHBB", 0x60000000, len(body), nxt, 64) + _V6_A + _V6_B
        found.append((macs + b"\x86\xdd" + ip + body, nxt not in chain))
    return found


def _variants(
    f: bytes,
    plain: bool,
    rng: random.Random,
    link_type: int,
    frames: list[bytes],
    expect: list[bool],
) -> None:
    """*f* behind zero to three VLAN tags, each as it is, cut short and with bytes flipped."""
    for depth in range(4):
        tagged = relinked(_tagged(f, [rng.choice(VLAN_TAGS) for _ in range(depth)], rng), link_type)
        if tagged is None:
            continue
        frames.append(tagged)
        expect.append(plain and depth <= 2)
        cut = tagged[: rng.randrange(len(tagged) + 1)]
        frames.append(cut)
        expect.append(False)
        flipped = bytearray(tagged)
        for _ in range(rng.randrange(1, 4)):
            flipped[rng.randrange(min(len(flipped), 70))] = rng.randrange(256)
        frames.append(bytes(flipped))
        expect.append(False)


@pytest.mark.parametrize("link_type", BULK_LINK_TYPES)
@pytest.mark.parametrize(("seed", "chunk_bytes"), [(0, 200), (1, 5000), (2, 1 << 22)])
def test_a_plain_frame_is_what_the_decoder_makes_of_it(
    tmp_path, monkeypatch, startup_pcap, seed, chunk_bytes, link_type
):
    rng = random.Random(seed)
    frames, expect = _frames(startup_pcap, rng, link_type)
    path = tmp_path / "f.pcap"
    path.write_bytes(_pcap(frames, link_type))
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk_bytes)
    k = 0
    taken = 0
    missed = 0
    for c in bulk.chunks(path):
        d = bulk.decode_chunk(c)
        for i in range(c.data.size):
            frame = frames[k]
            k += 1
            if not d.plain[i] and not d.reason[i]:
                # only a frame that begins within the chunk's last bytes may be left
                missed += expect[k - 1]
                continue
            taken += 1
            dec = Decoder()
            # a packet, or none (ARP, ICMP...): then only the reason counted
            want = [_row(d, c.buf, i)] if d.plain[i] else []
            assert dec.frame(0.0, link_type, frame) == want, frame.hex()
            assert dict(dec.undecoded) == _counted(d, i)
    assert k == len(frames)
    wanted = sum(expect)
    assert taken >= wanted - missed and wanted > 10
    # a chunk leaves at most its last frame to the Decoder
    assert missed <= (len(_pcap(frames, link_type)) // chunk_bytes + 1)


def test_a_frame_at_the_end_of_the_bytes_is_left_to_the_decoder(tmp_path):
    """The last frame of a chunk may begin too near the end for decode_chunk's reads: it is
    not decoded from bytes read elsewhere.  Here those would say IPv4 (the first record's
    length field reads 08 00 where a frame's type would be) and the last frame is an ARP
    frame whose body looks like an IPv4 TCP header."""
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    first = bytes(60)
    ip = bytes.fromhex("4500002800010000400600000a0000010a000002")
    tcp = ip + bytes(12) + b"\x50\x10" + bytes(6)  # data offset 20, ACK
    arp = bytes(12) + b"\x08\x06" + tcp
    data = head + struct.pack("<IIII", 1, 0, len(first), 8) + first
    data += struct.pack("<IIII", 2, 0, len(arp), len(arp)) + arp
    path = tmp_path / "arp.pcap"
    path.write_bytes(data)
    (c,) = bulk.chunks(path)
    assert c.buf[12:14] == b"\x08\x00"
    d = bulk.decode_chunk(c)
    assert d.plain.tolist() == [False, False]
    # (the first frame, zeros, is "not IP" in bulk too; the last is not counted as ARP
    # either: the Decoder's)
    assert [bulk.REASONS[r] for r in d.reason.tolist()] == ["not IP", ""]
    assert Decoder().frame(0.0, 1, arp) == []


def _teredo_looking(rng: random.Random) -> bytes:
    """A UDP datagram's payload that opens as Zeek's Teredo detection looks at: 0x00 or
    0x6_ first, often exactly an IPv6 header (40 bytes, a 2001:0::/32 address), or with an
    origin indication (0x00 0x00) or authentication header (0x00 0x01) before one."""
    kind = rng.randrange(7)
    ipv6 = bytes([0x60 | rng.randrange(16)]) + rng.randbytes(7)
    ipv6 += b"\x20\x01\x00\x00" + rng.randbytes(28) if rng.random() < 0.5 else rng.randbytes(32)
    if rng.random() < 0.3:  # an address at the pattern's other place
        ipv6 = ipv6[:24] + b"\x20\x01\x00\x00" + ipv6[28:]
    if kind == 0:  # 40 bytes: the pattern, or nearly; or more (not the pattern)
        return ipv6 + rng.randbytes(rng.choice((0, 0, 0, 1, 24)))
    if kind == 1:
        return b"\x00\x00" + rng.randbytes(6) + ipv6 + rng.randbytes(rng.randrange(20))
    if kind == 2:
        return b"\x00\x01\x00\x00" + rng.randbytes(9) + b"\x00\x00" + rng.randbytes(6) + ipv6
    if kind == 3:  # authentication with an id and a value, then maybe an origin, then IPv6
        ida, au = rng.choice((0, 1, 8, 200)), rng.choice((0, 3, 64))
        body = rng.randbytes(ida + au + 9)
        origin = b"\x00\x00" + rng.randbytes(6) if rng.random() < 0.7 else rng.randbytes(8)
        cut = rng.choice((0, 0, 1, 7, 30))
        whole = bytes([0, 1, ida, au]) + body + origin + ipv6 + rng.randbytes(cut)
        return whole[: len(whole) - rng.choice((0, 0, 0, 1, 9, 41))]
    if kind == 4:  # a STUN message: 0x0001 (a binding request) and its length, 40+ bytes
        return b"\x00" + bytes([rng.choice((0, 1))]) + rng.randbytes(rng.choice((38, 60, 300)))
    lead = bytes([0x60 | rng.randrange(16), rng.choice((0, 1, 2, rng.randrange(256)))])
    return lead + rng.randbytes(rng.choice((38, 39, 40, 46, 80, 1200)))  # QUIC-like


@pytest.mark.parametrize("seed", range(3))
def test_a_datagram_teredo_detection_could_take_is_left_to_the_decoder(tmp_path, seed):
    """decode_plain and decode_chunk take a datagram that opens with 0x00 or 0x6_ only when
    the Decoder finds no tunnel in it (a QUIC short header often opens with 0x6_)."""
    rng = random.Random(seed)
    frames = [
        udp_frame(bytes([10, 0, 0, 1]), 40000 + i, bytes([10, 0, 0, 2]), 443, _teredo_looking(rng))
        for i in range(400)
    ]
    c, d = _one_chunk(tmp_path / "t.pcap", frames)
    taken = tunnels = beyond_plain = 0
    for i, frame in enumerate(frames):
        dec = Decoder()
        want = dec.frame(0.0, 1, frame)
        plain = decode_plain(1, frame)
        if len(want) != 1 or dec.undecoded:
            tunnels += 1
            assert plain is None, frame.hex()
            # (taken only with the Decoder's count for the packet inside: the test below)
            assert not d.plain[i] or dict(dec.undecoded) == _counted(d, i), frame.hex()
            continue
        assert plain in (None, want[0])
        # the bulk decoder takes every datagram the Decoder finds no tunnel in, unless
        # AYIYA detection looks at it
        assert d.plain[i] or looks_like_ayiya(want[0][7]), frame.hex()
        if d.plain[i]:
            assert _row(d, c.buf, i) == want[0]
        taken += plain is not None
        beyond_plain += bool(d.plain[i]) and plain is None
    assert tunnels > 20 and taken > 40 and beyond_plain > 40


@pytest.mark.parametrize("seed", range(3))
def test_teredo_detection_in_bulk_is_the_decoders(seed):
    """bulk's vectorised Teredo detection against tunnels.looks_like_teredo, payload by
    payload, on the payloads that reach it (40 bytes or more, led by 0x6_ or 0x00 0x00-01)."""
    rng = random.Random(seed)
    payloads = [p for p in (_teredo_looking(rng) for _ in range(3000)) if len(p) >= 40]
    payloads = [p for p in payloads if p[0] >> 4 == 6 or (p[0] == 0 and p[1] <= 1)]
    buf = b"".join(payloads) + bytes(64)
    at = np.cumsum([0] + [len(p) for p in payloads[:-1]])
    n = np.array([len(p) for p in payloads])
    got = bulk._looks_like_teredo(np.frombuffer(buf, dtype=np.uint8), at, n).tolist()
    want = [looks_like_teredo(p) for p in payloads]
    assert got == want
    assert 200 < sum(want) < len(want) - 200


def _teredo(rng: random.Random) -> bytes:
    """A Teredo datagram as clients send them, or nearly: an IPv6 packet of ICMPv6, no next
    header (a bubble, sometimes with bytes after it), TCP, UDP or a hop-by-hop header,
    behind nothing, an origin indication, or an authentication header and maybe an origin
    indication; its payload length right, or one off."""
    nxt = rng.choice((58, 58, 59, 59, 1, 6, 17, 0))
    body = b"" if nxt == 59 and rng.random() < 0.7 else rng.randbytes(rng.choice((8, 20, 64)))
    if nxt == 0:  # a hop-by-hop header, then TCP (no reason of the list: left to the Decoder)
        body = b"\x06\x00" + body[2:]
    plen = len(body) + rng.choice((0, 0, 0, 0, 1, -1))
    after = rng.randbytes(rng.choice((0, 0, 0, 4))) if nxt == 59 else b""
    version = 0x60 if rng.random() < 0.9 else rng.choice((0x40, 0x70))  # (not Teredo's)
    ipv6 = bytes([version, 0, 0, 0]) + struct.pack("!HBB", max(plen, 0), nxt, 64)
    ipv6 += rng.randbytes(32) + body + after
    origin = b"\x00\x00" + rng.randbytes(6)
    ida, au = rng.choice((0, 4)), rng.choice((0, 8))
    auth = bytes([0, 1, ida, au]) + rng.randbytes(ida + au + 9)
    head = rng.choice((b"", b"", origin, auth, auth + origin, origin + origin, auth + auth))
    return head + ipv6


@pytest.mark.parametrize("seed", range(3))
def test_teredo_with_no_packet_inside_is_taken_with_its_reason(tmp_path, seed):
    """A Teredo datagram (on its port either way, or found by Zeek's detection on another)
    whose IPv6 packet carries ICMPv6 or no next header gives the Decoder the outer
    datagram alone, and a count of why the inner gave none: decode_chunk takes every such
    frame, with that count, and nothing the Decoder decodes otherwise."""
    rng = random.Random(seed)
    frames = []
    for i in range(800):
        # (VXLAN's port claims a datagram before Teredo's: not Teredo then)
        ports = rng.choice(((40000 + i, 3544), (3544, 40000 + i), (40000 + i, 443), (3544, 4789)))
        payload = _teredo(rng)
        if rng.random() < 0.1:
            payload = _a_byte_changed(payload, rng, 0, 60)
        frames.append(
            udp_frame(bytes([10, 0, 0, 1]), ports[0], bytes([10, 0, 0, 2]), ports[1], payload)
        )
    c, d = _one_chunk(tmp_path / "teredo.pcap", frames)
    with_reason = 0
    for i, frame in enumerate(frames):
        dec = Decoder()
        want = dec.frame(0.0, 1, frame)
        counted = dict(dec.undecoded)
        inner_none = len(want) == 1 and counted in ({r: 1} for r in bulk.REASONS[1:])
        if d.plain[i]:
            assert want == [_row(d, c.buf, i)] and counted == _counted(d, i), frame.hex()
        else:
            assert not inner_none, frame.hex()
        with_reason += inner_none
    assert 100 < with_reason < len(frames) - 100


def test_a_short_datagram_without_padding_is_taken(tmp_path):
    """A datagram of a few bytes in a frame as the sending host captures it (no Ethernet
    padding: under 54 bytes for IPv4) is decode_chunk's too, IPv4 and IPv6."""
    frames = [
        udp_frame(src, 40000 + size, dst, 5060, b" " * size)
        for size in range(13)
        for src, dst in (
            (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])),
            (_V6_A, _V6_B),
        )
    ]
    c, d = _one_chunk(tmp_path / "short.pcap", frames)
    assert min(map(len, frames)) == 42
    for i, frame in enumerate(frames):
        dec = Decoder()
        assert d.plain[i], frame.hex()
        assert dec.frame(0.0, 1, frame) == [_row(d, c.buf, i)] and not dec.undecoded


def _tunnelled(frame: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """*frame* (Ethernet) inside Geneve or VXLAN, or its IP packet inside Geneve or GTP-U,
    on either port of the tunnel, the header as senders write it or not quite; and whether
    the Decoder then gives the datagram and that packet (decode_chunk must take it)."""
    ip = frame[14:]
    if rng.random() < 0.25:  # Geneve: version, options, then Ethernet or IP
        version = rng.choice((0, 0, 0, 1))
        words = rng.choice((0, 0, 1, 3))
        kind = rng.choice((0x6558, 0x6558, 0x0800, 0x86DD, 0x0806, 0x1234))
        head = bytes([version << 6 | words, 0]) + struct.pack("!H", kind) + rng.randbytes(4)
        if kind in (0x0800, 0x86DD):
            kind = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
            head = head[:2] + struct.pack("!H", kind) + head[4:]
        body = frame if kind == 0x6558 else ip
        inner, port = head + rng.randbytes(4 * words) + body, 6081
        good = version == 0 and kind in (0x6558, 0x0800, 0x86DD)
    elif rng.random() < 0.6:
        flags = rng.choice((0x08, 0x08, 0x08, 0x00))
        head = bytes([flags, 0, 0, 0]) + rng.randbytes(3) + b"\x00"
        inner, port, good = head + frame, 4789, flags == 0x08
    else:
        flags = rng.choice((0x30, 0x30, 0x32, 0x31, 0x34, 0x36, 0x34, 0x50))
        kind = rng.choice((255, 255, 255, 1, 26))
        extra = b"\x00\x07\x00\x00" if flags & 0x07 else b""
        chain = True  # extension headers that end where they say, and few enough
        if flags & 0x04:  # (5G's PDU session container: one of a word or two, type 0x85)
            extra, chain = _gtp_extensions(rng)
        size = len(ip) + len(extra) + rng.choice((0, 0, 0, 1))
        inner = struct.pack("!BBHI", flags, kind, size, rng.getrandbits(32)) + extra
        inner += ip + (b"\x00" if rng.random() < 0.1 else b"")  # (trailing: not exact)
        port = rng.choice((2152, 2152, 2123))
        good = flags >> 5 == 1 and chain and kind == 255 and not inner.endswith(ip + b"\x00")
    other = 40000 if rng.random() < 0.8 else 3544  # (Teredo's port claims it first)
    sport, dport = (other, port) if rng.random() < 0.7 else (port, other)
    good &= dport == port or other == 40000
    a, b = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
    if rng.random() < 0.3:  # the tunnel over IPv6
        a, b = _V6_A, _V6_B
    return udp_frame(a, sport, b, dport, inner), good


def _gtp_extensions(rng: random.Random) -> tuple[bytes, bool]:
    """The four bytes after a GTP-U header with its E flag (sequence number, N-PDU number,
    the first extension's type), then one to four extension headers, sometimes one of
    length zero or the last one saying another follows; and whether the chain is well
    formed and at most three long (then decode_chunk must take the G-PDU)."""
    count = rng.choice((1, 1, 2, 3, 4))
    exts = b""
    for k in range(count):
        words = rng.choice((1, 1, 2, 3))
        exts += (
            bytes([words]) + rng.randbytes(4 * words - 2) + (b"\x00" if k == count - 1 else b"\x85")
        )
    good = count <= 3
    if rng.random() < 0.2:
        exts = b"\x00" + exts[1:] if rng.random() < 0.5 else exts[:-1] + b"\x85"
        good = False
    # (the first extension's type: the Decoder reads the first header whatever it says)
    return b"\x00\x07\x00" + bytes([rng.choice((0x85, 0x85, 0x00, 0xC0))]) + exts, good


@pytest.mark.parametrize("seed", range(3))
def test_a_tunnel_around_a_plain_packet_is_taken_as_both(tmp_path, startup_pcap, seed):
    """VXLAN and Geneve (Ethernet inside) and GTP-U and Geneve (IP inside): where the
    Decoder gives the datagram and the packet inside, decode_chunk gives the same two
    (Decoded.tunnels), with the same count of anything not decoded; a GTP message that
    carries no packet is plain."""
    rng = random.Random(seed)
    frames, expect = [], []
    for f in _ethernet_frames(startup_pcap, rng):
        if rng.random() < 0.3:
            f = _tagged(f, [0x8100], rng)  # (inside VXLAN: tags too)
        g, good = _tunnelled(f, rng)
        # (a tagged frame is taken too, but not required here)
        plain = f[12:14] in (b"\x08\x00", b"\x86\xdd") and decode(1, f) is not None
        frames += [g, _a_byte_changed(g, rng, 42, 110)]
        expect += [good and plain, False]
    c, d = _one_chunk(tmp_path / "tunnels.pcap", frames)
    pairs = {}
    for rows, inner in d.tunnels:
        for k, i in enumerate(rows.tolist()):
            pairs[i] = (k, inner)
    taken = signalling = 0
    for i, frame in enumerate(frames):
        dec = Decoder()
        want = dec.frame(0.0, 1, frame)
        if i in pairs:
            k, inner = pairs[i]
            assert not d.plain[i]
            assert want == [_row(d, c.buf, i), _row(inner, c.buf, k)], frame.hex()
            assert dict(dec.undecoded) == _counted(inner, k), frame.hex()
            taken += 1
        elif d.plain[i]:
            assert want == [_row(d, c.buf, i)] and dict(dec.undecoded) == _counted(d, i)
        else:
            assert not expect[i], frame.hex()
        # a GTP message other than a G-PDU carries no packet: the datagram alone
        at = 34 if frame[12:14] == b"\x08\x00" else 54  # the UDP header
        gtp = frame[at + 2 : at + 4] in (b"\x08\x68", b"\x08\x4b")
        if gtp and frame[at + 8] >> 5 == 1 and frame[at + 9] != 255:
            assert d.plain[i] and want == [_row(d, c.buf, i)], frame.hex()
            signalling += 1
    assert taken >= sum(expect) > 50 and signalling > 5


def _in_ip(frame: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """*frame* (Ethernet) in GRE -- its IP packet, or the whole frame (transparent Ethernet,
    ERSPAN I/II/III) -- or its IP packet in IP-in-IP, over IPv4 or IPv6, the GRE header as
    senders write it or not quite; and whether the Decoder then gives the packet inside
    alone (decode_chunk must take it, as a plain frame)."""
    ip = frame[14:]
    if rng.random() < 0.2:
        body, proto, good = ip, rng.choice((4, 41)), True
    else:
        flags = rng.choice((0, 0, 0x2000, 0x1000, 0x8000, 0xB000, 0x0080, 0x4000, 0x0008, 0x0001))
        kind = rng.choice((0x0800, 0x86DD, 0x6558, 0x88BE, 0x22EB, 0x880B, 0x8847))
        optional = bin(flags & 0xB080).count("1") * 4
        head = struct.pack("!HH", flags, kind) + rng.randbytes(optional)
        good = flags & 0x400F == 0
        if kind in (0x0800, 0x86DD):
            inner = ip
        elif kind == 0x6558:
            inner = frame
        elif kind == 0x88BE:  # ERSPAN II: its 8 bytes when a sequence number is there
            inner = (rng.randbytes(8) if flags & 0x1000 else b"") + frame
        elif kind == 0x22EB:  # ERSPAN III: 12 bytes, 8 more with the subheader bit
            sub = rng.random() < 0.3
            inner = rng.randbytes(11) + bytes([int(sub)]) + rng.randbytes(8 * sub) + frame
        else:
            inner, good = ip, False
        body, proto = head + inner, 47
    if rng.random() < 0.3:  # over IPv6
        head = bytes([0x60, 0, 0, 0]) + struct.pack("!HBB", len(body), proto, 64)
        outer = head + _V6_A + _V6_B + body
        return frame[:12] + b"\x86\xdd" + outer, good
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0)
    return frame[:12] + b"\x08\x00" + head + bytes([10, 8, 0, 1, 10, 8, 0, 2]) + body, good


@pytest.mark.parametrize("seed", range(3))
def test_gre_or_ip_in_ip_around_a_plain_packet_is_that_packet(tmp_path, startup_pcap, seed):
    """GRE (IP, Ethernet, ERSPAN I/II/III inside) and IP-in-IP: the Decoder gives the
    packet inside alone; decode_chunk takes such a frame as a plain one, that packet, and
    nothing the Decoder decodes otherwise."""
    rng = random.Random(seed)
    frames, expect = [], []
    for f in _ethernet_frames(startup_pcap, rng):
        g, good = _in_ip(f, rng)
        frames += [g, _a_byte_changed(g, rng, 14, 100)]
        expect += [good and decode(1, f) is not None, False]
    c, d = _one_chunk(tmp_path / "in-ip.pcap", frames)
    taken = 0
    for i, frame in enumerate(frames):
        dec = Decoder()
        want = dec.frame(0.0, 1, frame)
        if d.plain[i]:
            assert want == [_row(d, c.buf, i)], frame.hex()
            assert dict(dec.undecoded) == _counted(d, i), frame.hex()
            taken += expect[i]
        else:
            assert not expect[i], frame.hex()
    assert taken == sum(expect) > 50
