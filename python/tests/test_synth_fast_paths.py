"""The synthesizer's fast paths against plain, obviously-correct references.

Frames are checked with the RFC 1071 word-by-word checksum, the writer against dpkt's reader,
the windowed merge against a heap merge of the same conversations."""

from __future__ import annotations

import gc
import heapq
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypewatch.cli.gcpolicy import fewer_collections
from skypewatch.synth import scenarios
from skypewatch.synth.frames import checksum_reference, tcp_frame, udp_flow, udp_frame
from skypewatch.synth.pcapwriter import PcapWriter

ipv4 = st.binary(min_size=4, max_size=4)
port = st.integers(0, 65535)


def _checksums_ok(frame: bytes, proto: int) -> bool:
    ip = frame[14:34]
    segment = frame[34:]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, proto, len(segment))
    return checksum_reference(ip) == 0 and (
        checksum_reference(pseudo + segment) == 0
        or (proto == 17 and segment[6:8] == b"\0\0")  # UDP: 0 means "no checksum"
    )


@given(ipv4, port, ipv4, port, st.binary(max_size=1500), st.integers(0, 0x1FFFF))
def test_udp_frame_checksums_verify(src, sport, dst, dport, payload, ident):
    f = udp_frame(src, sport, dst, dport, payload, ident)
    assert len(f) == 42 + len(payload)
    assert struct.unpack("!H", f[18:20])[0] == ident & 0xFFFF
    assert f[-len(payload) or len(f) :] == payload
    assert _checksums_ok(f, 17)
    assert f[40:42] != b"\0\0"  # a computed zero is sent as 0xFFFF


@given(ipv4, port, ipv4, port, st.lists(st.binary(max_size=400), max_size=8))
def test_udp_flow_equals_udp_frame(src, sport, dst, dport, payloads):
    frame = udp_flow(src, sport, dst, dport)
    for p in payloads + payloads:  # the second pass uses the cached headers
        assert frame(p) == udp_frame(src, sport, dst, dport, p)


def test_udp_flow_ipv6_falls_back():
    a, b = bytes(15) + b"\1", bytes(15) + b"\2"
    assert udp_flow(a, 1, b, 2)(b"xyz") == udp_frame(a, 1, b, 2, b"xyz")


@given(
    ipv4,
    port,
    ipv4,
    port,
    st.integers(0, 2**33),
    st.integers(0, 2**33),
    st.integers(0, 0x3F),
    st.binary(max_size=1500),
)
def test_tcp_frame_checksums_verify(src, sport, dst, dport, seq, ack, flags, payload):
    f = tcp_frame(src, sport, dst, dport, seq, ack, flags, payload)
    assert _checksums_ok(f, 6)
    assert struct.unpack("!II", f[38:46]) == (seq & 0xFFFFFFFF, ack & 0xFFFFFFFF)


@settings(max_examples=30)
@given(st.lists(st.tuples(st.floats(0, 1e6), st.binary(max_size=80)), max_size=40))
def test_written_records_read_back_with_dpkt(tmp_path_factory, events):
    import dpkt

    path = tmp_path_factory.mktemp("w") / "a.pcap"
    with PcapWriter(path) as w:
        w.write(0.5, b"first")
        w.write_events([(ts, frame, None) for ts, frame in events])
        assert w.packets == 1 + len(events)
        assert w.bytes == 24 + 16 * w.packets + 5 + sum(len(f) for _, f in events)
    assert path.stat().st_size == w.bytes
    with open(path, "rb") as fh:
        got = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(fh)]
    assert [f for _, f in got] == [b"first"] + [f for _, f in events]
    for (ts, _), (want, _) in zip(got[1:], events, strict=True):
        assert abs(ts - want) <= 0.5e-6 + 1e-9 * want  # microsecond records


@pytest.mark.parametrize("name", ["autologin", "local-supernode"])
def test_windowed_merge_equals_a_heap_merge(name):
    opts = scenarios.SynthOptions(clients=3, seed=7, duration=30.0, background=3000.0)
    # The reference is built from the inputs alone: every conversation, in the order the
    # scheduler admits them (building one draws from the shared address pool), sorted by
    # time and merged packet by packet, ties by (conversation, index).  A window that drops,
    # repeats or reorders a packet, or admits a conversation late, differs from it.
    conversations = [
        sorted(build(), key=lambda e: e[0]) for _, build in scenarios._sessions(name, opts)
    ]
    reference = list(heapq.merge(*conversations, key=lambda e: e[0]))
    built = list(scenarios._merge_windows(scenarios._sessions(name, opts)))
    for batch in built:
        assert batch == sorted(batch, key=lambda e: e[0])
    flat = [e for batch in built for e in batch]
    assert flat == reference
    assert len(built) > 1 and len(flat) > 5000
    # The public entry point is the same merge of the same conversations.
    assert [e for batch in scenarios._batches(name, opts) for e in batch] == reference


def test_fewer_collections_restores_and_respects_a_disabled_collector():
    old = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] >= 100_000
    assert gc.get_threshold() == old
    try:
        gc.set_threshold(0)
        with fewer_collections():
            assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*old)
