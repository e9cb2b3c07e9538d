"""Capture formats and header decoding, cross-checked against dpkt on real captures."""

from __future__ import annotations

import socket
import struct

import dpkt
import pytest
from conftest import shared_capture

from skypewatch.errors import CaptureError, CaptureTruncated
from skypewatch.packets.capture import read_capture
from skypewatch.packets.decode import TCP, UDP, UnsupportedLinkType, decode
from skypewatch.synth.frames import addr_bytes, tcp_frame, udp_frame
from skypewatch.synth.pcapwriter import PcapWriter

A, B = addr_bytes("192.0.2.1"), addr_bytes("198.51.100.2")


def _pcap(path, frames, link=1, nano=False, big=False):
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    with open(path, "wb") as fh:
        fh.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, link))
        for ts, f in frames:
            frac = round((ts % 1) * (1e9 if nano else 1e6))
            fh.write(struct.pack(e + "IIII", int(ts), frac, len(f), len(f)) + f)


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_pcap_variants(tmp_path, nano, big):
    f = udp_frame(A, 1, B, 2, b"hello")
    _pcap(tmp_path / "x.pcap", [(1000.25, f), (1001.5, f)], nano=nano, big=big)
    got = list(read_capture(tmp_path / "x.pcap"))
    assert [round(ts, 6) for ts, _, _ in got] == [1000.25, 1001.5]
    assert got[0][1] == 1 and got[0][2] == f


def test_pcapng_from_dpkt(tmp_path):
    path = tmp_path / "x.pcapng"
    frames = [udp_frame(A, 1, B, 2, b"a" * n) for n in (1, 50, 300)]
    with open(path, "wb") as fh:
        w = dpkt.pcapng.Writer(fh)
        for i, f in enumerate(frames):
            w.writepkt(f, ts=2000.0 + i)
    got = list(read_capture(path))
    assert [g[2] for g in got] == frames
    assert [round(g[0], 3) for g in got] == [2000.0, 2001.0, 2002.0]


def test_truncated_pcap_yields_then_raises(tmp_path):
    path = tmp_path / "t.pcap"
    f = udp_frame(A, 1, B, 2, b"x" * 100)
    _pcap(path, [(1.0, f)] * 5)
    data = path.read_bytes()
    path.write_bytes(data[:-50])
    seen = []
    with pytest.raises(CaptureTruncated) as exc:
        for item in read_capture(path):
            seen.append(item)
    assert len(seen) == 4
    assert exc.value.packet_index == 4
    assert "packet 5" in str(exc.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty file"),
        (b"GIF89a" + bytes(40), "not a pcap"),
        (b"\xd4\xc3\xb2\xa1\x02", "cut short"),
    ],
)
def test_not_a_capture(tmp_path, content, problem):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=problem):
        list(read_capture(path))


def test_missing_file(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        list(read_capture(tmp_path / "nope.pcap"))


def test_decode_link_layers_and_vlan():
    eth = udp_frame(A, 1111, B, 53, b"payload")
    ip = eth[14:]
    vlan = eth[:12] + b"\x81\x00\x00\x05" + eth[12:]
    qinq = eth[:12] + b"\x88\xa8\x00\x05\x81\x00\x00\x06" + eth[12:]
    sll = bytes(14) + b"\x08\x00" + ip
    sll2 = b"\x08\x00" + bytes(18) + ip
    loop = struct.pack("<I", 2) + ip
    expect = (UDP, A, 1111, B, 53, 0, 0, b"payload", 0, 0)
    for link, frame in (
        (1, eth),
        (101, ip),
        (1, vlan),
        (1, qinq),
        (113, sll),
        (276, sll2),
        (0, loop),
    ):
        assert decode(link, frame) == expect, link
    with pytest.raises(UnsupportedLinkType):
        decode(105, ip)


def test_decode_ipv6_and_tcp_and_padding():
    a6, b6 = addr_bytes("2001:db8::1"), addr_bytes("2001:db8::2")
    f = tcp_frame(a6, 5000, b6, 443, 77, 991, 0x18, b"\x16\x03\x01\x00\x00")
    assert decode(1, f) == (TCP, a6, 5000, b6, 443, 0x18, 77, b"\x16\x03\x01\x00\x00", 991, 5)
    padded = udp_frame(A, 1, B, 2, b"") + bytes(18)  # Ethernet minimum-size padding
    assert decode(1, padded)[7] == b""


def test_decode_gives_the_wire_length_of_a_segment_cut_at_the_snap_length():
    # Zeek numbers a stream by the IP header's length, not by the bytes a capture kept.
    for a, b in ((A, B), (addr_bytes("2001:db8::1"), addr_bytes("2001:db8::2"))):
        f = tcp_frame(a, 5000, b, 80, 1000, 2000, 0x18, b"x" * 600)
        p = decode(1, f[: len(f) - 500])
        assert p is not None
        assert (p[7], p[8], p[9]) == (b"x" * 100, 2000, 600)


def test_decode_rejects_fragments_and_garbage():
    f = bytearray(udp_frame(A, 1, B, 2, b"x" * 20))
    f[14 + 6] = 0x00
    f[14 + 7] = 0x10  # fragment offset 16: no transport header in this packet
    assert decode(1, bytes(f)) is None
    assert decode(1, b"\x00" * 13) is None
    assert decode(1, bytes(f[:30])) is None


def test_decoder_matches_dpkt_on_real_captures():
    for name in ("SkypeIRC.cap", "skype.pcap"):
        path = shared_capture("skype", name)
        ours = []
        for _, link, frame in read_capture(path):
            p = decode(link, frame)
            if p is not None:
                ours.append((p[0], p[1], p[2], p[3], p[4], bytes(p[7])))
        theirs = []
        with open(path, "rb") as fh:
            for _, buf in dpkt.pcap.Reader(fh):
                ip = dpkt.ethernet.Ethernet(buf).data
                if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                    continue
                if isinstance(ip.data, (dpkt.udp.UDP, dpkt.tcp.TCP)):
                    if isinstance(ip, dpkt.ip.IP) and ip.offset:
                        continue
                    l4 = ip.data
                    proto = UDP if isinstance(l4, dpkt.udp.UDP) else TCP
                    theirs.append((proto, ip.src, l4.sport, ip.dst, l4.dport, bytes(l4.data)))
        assert ours == theirs, name
        assert len(ours) > 2000
        assert socket.inet_ntoa(ours[0][1])


def test_writer_reader_round_trip(tmp_path):
    frames = [udp_frame(A, i, B, 2, bytes([i]) * i) for i in range(1, 50)]
    with PcapWriter(tmp_path / "w.pcap") as w:
        for i, f in enumerate(frames):
            w.write(100 + i * 0.001, f)
    got = list(read_capture(tmp_path / "w.pcap"))
    assert [g[2] for g in got] == frames
