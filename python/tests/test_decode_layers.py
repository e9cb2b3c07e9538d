"""The decoder beyond plain Ethernet/IP: encapsulations, tunnels, fragments, undecoded counts,
and pcapng clocks and interfaces -- each against what Zeek 8.0 does by default."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_capture_damage import epb, idb, opt, shb

from skypewatch.analyze import analyze, format_summary
from skypewatch.errors import CaptureError
from skypewatch.packets.capture import read_capture
from skypewatch.packets.decode import TCP, UDP, Decoder, decode, decode_plain
from skypewatch.packets.fragments import FragmentOptions, FragmentTable
from skypewatch.synth.encapsulate import EncapOptions, Encapsulator
from skypewatch.synth.frames import addr_bytes, tcp_frame, udp_frame
from skypewatch.synth.pcapwriter import PcapWriter

A, B = addr_bytes("10.0.0.5"), addr_bytes("198.51.100.7")
A6, B6 = addr_bytes("2001:db8::5"), addr_bytes("2001:db8::7")
PAYLOAD = bytes(range(200))


def five(p) -> tuple:
    return p[0], p[1], p[2], p[3], p[4]


def only(packets):
    assert len(packets) == 1, packets
    return packets[0]


def wrapped(form: str, frame: bytes, **options) -> list[bytes]:
    return Encapsulator(form, EncapOptions(**options)).frames(1, frame)


# -- encapsulations: the inner packet, its own 5-tuple --------------------------------------


@pytest.mark.parametrize("form", ["pppoe", "mpls", "gre", "gre-eth", "ipip"])
@pytest.mark.parametrize("v6", [False, True])
def test_link_and_ip_tunnels_give_the_inner_packet(form, v6):
    src, dst = (A6, B6) if v6 else (A, B)
    plain = udp_frame(src, 35990, dst, 40001, PAYLOAD)
    (frame,) = wrapped(form, plain)
    assert decode_plain(1, frame) is None  # never taken for a plain packet
    assert only(Decoder().frame(5.0, 1, frame)) == decode(1, plain)


def test_vxlan_gives_the_outer_datagram_then_the_inner_packet():
    plain = tcp_frame(A, 50000, B, 443, 7, 9, 0x18, b"\x16\x03\x01\x00\x00")
    (frame,) = wrapped("vxlan", plain)
    outer, inner = Decoder().frame(1.0, 1, frame)
    assert outer[0] == UDP and outer[4] == 4789 and outer[1] == bytes([192, 0, 2, 1])
    assert inner == decode(1, plain) and inner[0] == TCP


def _udp_tunnel(port: int, header: bytes, inner: bytes) -> bytes:
    return udp_frame(addr_bytes("192.0.2.1"), 50000, addr_bytes("192.0.2.2"), port, header + inner)


def _raw_ip(frame: bytes) -> bytes:
    return frame[14:]


@pytest.mark.parametrize(
    ("name", "port", "header", "eth"),
    [
        ("geneve-eth", 6081, struct.pack("!BBHI", 0, 0, 0x6558, 0x000100), True),
        ("geneve-ip", 6081, struct.pack("!BBHI", 1, 0, 0x0800, 0) + b"\0" * 4, False),
        ("gtpv1", 2152, None, False),
        ("ayiya", 5072, bytes([0x41, 0x52, 0x11, 4]) + bytes(4 + 16 + 20), False),
        ("gre-in-udp", 4754, struct.pack("!HH", 0, 0x0800), False),
    ],
)
def test_udp_tunnels_zeek_decodes_by_default(name, port, header, eth):
    plain = udp_frame(A, 35990, B, 40001, PAYLOAD)
    inner = plain if eth else _raw_ip(plain)
    if header is None:  # GTPv1-U G-PDU with a sequence number
        header = struct.pack("!BBHIHBB", 0x32, 255, len(inner) + 4, 0x1234, 1, 0, 0)
    outer, got = Decoder().frame(1.0, 1, _udp_tunnel(port, header, inner))
    assert outer[4] == port
    assert got == decode(1, plain)


def test_teredo_on_its_port_and_by_detection_on_any_port():
    teredo_src = addr_bytes("2001:0:4136:e378:8000:63bf:3fff:fdd2")
    v6 = _raw_ip(udp_frame(teredo_src, 35990, A6, 40001, PAYLOAD))
    origin = b"\x00\x00" + b"\xff" * 6
    for port in (3544, 33333):
        _outer, inner = Decoder().frame(1.0, 1, _udp_tunnel(port, origin, v6))
        assert inner[1] == teredo_src and inner[2] == 35990
    # an IPv6 header whose length disagrees with the datagram: Zeek's analyzer violation
    bad = v6[:4] + struct.pack("!H", 9) + v6[6:]
    d = Decoder()
    assert len(d.frame(1.0, 1, _udp_tunnel(3544, b"", bad))) == 1
    assert d.undecoded == {"bad Teredo (tunnelled)": 1}


def test_tunnel_depth_is_zeeks_max_depth():
    frame = udp_frame(A, 35990, B, 40001, PAYLOAD)
    for _ in range(4):
        (frame,) = wrapped("ipip", frame)
    assert five(only(Decoder().frame(1.0, 1, frame))) == (UDP, A, 35990, B, 40001)
    (frame,) = wrapped("ipip", frame)
    d = Decoder()
    assert d.frame(1.0, 1, frame) == []
    assert d.undecoded == {"tunnel depth exceeded": 1}


def _over_gre(gre: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(gre), 0, 0, 64, 47, 0, A, B) + gre


@pytest.mark.parametrize(
    "header",
    [
        struct.pack("!HHI", 0x1000, 0x88BE, 5) + bytes(8),  # ERSPAN II: sequence, 8 bytes
        struct.pack("!HH", 0, 0x22EB) + bytes(12),  # ERSPAN III, no optional subheader
        struct.pack("!HH", 0, 0x22EB) + bytes(11) + b"\x01" + bytes(8),  # ... with it
        struct.pack("!HH", 0, 0x88BE) + b"",  # ERSPAN I: Ethernet at once
    ],
)
def test_erspan_mirrors_give_the_mirrored_packet(header):
    plain = udp_frame(A6, 35990, B6, 40001, PAYLOAD)
    assert only(Decoder().frame(1.0, 101, _over_gre(header + plain))) == decode(1, plain)


def test_pptp_gre_version_1_gives_the_ppp_packet():
    ip = _raw_ip(udp_frame(A, 35990, B, 40001, PAYLOAD))
    gre = struct.pack("!HHHHI", 0x3001, 0x880B, len(ip) + 4, 7, 1) + b"\xff\x03\x00\x21" + ip
    assert five(only(Decoder().frame(1.0, 101, _over_gre(gre)))) == (UDP, A, 35990, B, 40001)
    d = Decoder()  # an inner packet whose length disagrees: Zeek refuses it
    assert d.frame(1.0, 101, _over_gre(gre + b"pad")) == []
    assert d.undecoded == {"bad IP in PPTP": 1}


def test_gre_refusals_are_counted():
    inner = _raw_ip(udp_frame(A, 1, B, 2, b"x"))
    d = Decoder()
    for flags in (0x4000, 0x0008, 0x0002):  # routing, reserved flag, version 2
        gre = struct.pack("!HH", flags, 0x0800) + inner
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(gre), 0, 0, 64, 47, 0, A, B) + gre
        assert d.frame(1.0, 101, ip) == []
    assert d.undecoded == {"GRE routing": 1, "unknown GRE flags": 1, "unknown GRE version": 1}


# -- fragments ----------------------------------------------------------------------------


def _frags(frame: bytes, form: str = "frag", size: int = 16) -> list[bytes]:
    return wrapped(form, frame, fragment_size=size)


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("form", ["frag", "frag-reorder", "frag-overlap"])
def test_fragments_reassemble_to_the_plain_packet(form, v6):
    src, dst = (A6, B6) if v6 else (A, B)
    plain = tcp_frame(src, 50000, dst, 443, 7, 9, 0x18, PAYLOAD)
    frags = _frags(plain, form)
    assert len(frags) > 10
    d = Decoder()
    out = [p for f in frags for p in d.frame(3.0, 1, f)]
    assert out == [decode(1, plain)]
    assert not d.undecoded and len(d.fragments) == 0


def test_overlap_keeps_the_data_that_came_first():
    t = FragmentTable()
    key = (A, B, 1)
    assert t.add(0.0, key, UDP, 8, b"B" * 8, True) is None
    assert t.add(0.0, key, UDP, 0, b"a" * 16, True) is None  # bytes 8-15 were there: kept
    assert t.add(0.0, key, UDP, 16, b"c" * 4, False) == (UDP, b"a" * 8 + b"B" * 8 + b"cccc")


def test_a_later_last_fragment_that_says_otherwise_extends_the_datagram():
    t = FragmentTable()
    key = (A, B, 2)
    assert t.add(0.0, key, UDP, 8, b"x" * 8, False) is None
    assert t.add(0.0, key, UDP, 16, b"y" * 8, False) is None  # the larger end wins
    assert t.add(0.0, key, UDP, 0, b"z" * 8, True) == (UDP, b"z" * 8 + b"x" * 8 + b"y" * 8)


def test_a_reassembly_expires_five_minutes_after_its_first_fragment():
    d = Decoder()
    frags = _frags(udp_frame(A, 35990, B, 40001, PAYLOAD))
    assert d.frame(0.0, 1, frags[0]) == []
    for f in frags[1:-1]:
        assert d.frame(299.0, 1, f) == []  # later fragments do not extend its life
    assert d.frame(300.5, 1, frags[-1]) == []  # too late: a new reassembly, never whole
    d.finish()
    assert d.undecoded == {"fragments incomplete": len(frags)}
    assert d.fragments.stats.expired == 1


def test_a_completed_datagram_leaves_the_table_and_a_repeat_starts_afresh():
    d = Decoder()
    frags = _frags(udp_frame(A, 35990, B, 40001, PAYLOAD))
    got = [p for f in frags for p in d.frame(1.0, 1, f)]
    assert len(got) == 1 and len(d.fragments) == 0
    assert d.frame(1.0, 1, frags[3]) == [] and len(d.fragments) == 1


def test_the_table_is_bounded_and_counts_what_it_dropped():
    d = Decoder(FragmentOptions(max_datagrams=3))
    enc = Encapsulator("frag", EncapOptions(fragment_size=16))
    firsts = [enc.frames(1, udp_frame(A, 1000 + i, B, 53, PAYLOAD))[0] for i in range(10)]
    for f in firsts:
        assert d.frame(1.0, 1, f) == []
    assert len(d.fragments) == 3
    assert d.fragments.stats.evicted == 7
    assert d.undecoded == {"fragments table full": 7}
    d.finish()
    assert d.undecoded == {"fragments table full": 7, "fragments incomplete": 3}


def test_byte_bound_of_the_table():
    t = FragmentTable(FragmentOptions(max_bytes=100))
    for i in range(5):
        t.add(0.0, (A, B, i), UDP, 0, b"x" * 40, True)
    assert len(t) == 2 and t.stats.evicted == 3


def test_a_fragment_cut_by_the_snap_length():
    frags = _frags(udp_frame(A, 35990, B, 40001, PAYLOAD))
    d = Decoder()
    first = d.frame(1.0, 1, frags[0][:-4])  # Zeek analyses a cut first fragment alone
    assert len(first) == 1 and first[0][2] == 35990
    assert d.frame(1.0, 1, frags[1][:-4]) == []
    assert d.undecoded == {"truncated fragment": 1}


# -- counting what is not decoded ------------------------------------------------------------


def test_undecoded_frames_are_counted_by_reason_and_summarised_in_one_line(tmp_path):
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28
    icmp = bytearray(udp_frame(A, 1, B, 2, b"ping"))
    icmp[23] = 1
    cap = tmp_path / "mixed.pcap"
    with PcapWriter(cap) as w:
        w.write(1.0, udp_frame(A, 35990, B, 40001, PAYLOAD))
        w.write(2.0, arp)
        w.write(3.0, arp)
        w.write(4.0, bytes(icmp))
        w.write(5.0, udp_frame(A, 35990, B, 40001, PAYLOAD)[:40])
    s = analyze([cap], tmp_path / "out")
    assert s.undecoded == {"ARP": 2, "ICMP": 1, "truncated UDP": 1}
    lines = [ln for ln in format_summary(s).splitlines() if ln.startswith("not decoded")]
    assert lines == ["not decoded: 4 frame(s) (ARP 2, ICMP 1, truncated UDP 1)"]


# -- pcapng: per-interface clocks and link types ---------------------------------------------


def test_pcapng_if_tsoffset_and_if_tsresol_per_interface(tmp_path):
    frame = udp_frame(A, 35990, B, 40001, PAYLOAD)
    offset = 1_156_500_000  # 2006-08-25
    data = (
        shb()
        + idb(1, options=opt(14, struct.pack("<q", offset)) + opt(0, b""))
        + idb(1, options=opt(9, b"\x09"))  # nanoseconds, no offset
        + epb(frame, iface=0, ticks=2_500_000)
        + epb(frame, iface=1, ticks=7_000_000_000)
    )
    path = tmp_path / "c.pcapng"
    path.write_bytes(data)
    times = [ts for ts, _, _ in read_capture(path)]
    assert times == [pytest.approx(offset + 2.5), pytest.approx(7.0)]


def test_an_unsupported_interface_costs_only_its_own_packets(tmp_path):
    frame = udp_frame(A, 35990, B, 40001, PAYLOAD)
    path = tmp_path / "two.pcapng"
    path.write_bytes(shb() + idb(1) + idb(147) + epb(frame, 0) + epb(b"\0" * 40, 1) + epb(frame, 0))
    s = analyze([path], tmp_path / "out")
    assert s.packets == 3
    assert s.undecoded == {"link type 147": 1}
    only_bad = tmp_path / "bad.pcapng"
    only_bad.write_bytes(shb() + idb(147) + epb(b"\0" * 40, 0))
    with pytest.raises(CaptureError, match="unsupported link type 147"):
        analyze([only_bad], tmp_path / "out2")


# -- reassembly against a byte-level model ---------------------------------------------------


@st.composite
def _fragmentations(draw):
    """A datagram, fragments that cover it (overlapping, repeated, in any order), and junk
    fragments over bytes already sent, each placed after the real data it overlaps."""
    data = draw(st.binary(min_size=1, max_size=300))
    n = len(data)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, (n - 1) // 8)), max_size=12)))
    bounds = [0, *(c * 8 for c in cuts if c * 8 < n), n]
    pieces = [(a, b) for a, b in itertools.pairwise(bounds) if a < b]
    extra = draw(st.lists(st.sampled_from(pieces), max_size=4))  # repeats
    order = draw(st.permutations(pieces + extra))
    junk_at = draw(st.lists(st.integers(0, len(order)), max_size=3))
    return data, order, junk_at


@given(_fragmentations())
@settings(max_examples=300, deadline=None)
def test_reassembly_completes_exactly_when_covered_and_first_data_wins(case):
    data, order, junk_at = case
    n = len(data)
    t = FragmentTable()
    have = bytearray(n)  # the model: which bytes arrived
    last_seen = False
    result = None
    for i, (a, b) in enumerate(order):
        assert result is None, "complete before the last fragment of the model"
        if i in junk_at and any(have):  # junk over the first byte already held
            pos = have.index(1) // 8 * 8
            if all(have[pos : pos + 8]) and pos + 8 < n:
                assert t.add(0.0, (A, B, 9), UDP, pos, b"\xee" * 8, True) is None
        result = t.add(0.0, (A, B, 9), UDP, a, data[a:b], b < n)
        have[a:b] = b"\x01" * (b - a)
        last_seen = last_seen or b == n
        if last_seen and all(have):
            assert result == (UDP, data)
            return
    raise AssertionError("the model says the datagram was never whole")
