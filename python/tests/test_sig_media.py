"""SKU-7/8: call media framing."""

from __future__ import annotations

import struct

from conftest import udp_conn

from skypewatch.signatures.media import media_hits
from skypewatch.synth import messages as m


def test_e2e_voice(rng):
    frames = [(i % 2 == 0, i * 0.02, m.voice_frame(rng, 60)) for i in range(150)]
    hits = media_hits(udp_conn(frames))
    assert [h.name for h in hits] == ["e2e_voice"]


def test_rtp_is_not_voice(rng):
    rtp = [
        (True, i * 0.02, struct.pack("!BBHII", 0x80, 0, i, i * 160, 0xDEAD) + bytes(160))
        for i in range(150)
    ]
    assert media_hits(udp_conn(rtp)) == []


def test_skypeout_framing_and_wireguard_exclusion(rng):
    header = bytes.fromhex("006b02f5")
    out = [(True, i * 0.02, header + m.obfuscated(rng, 25)) for i in range(150)]
    assert [h.name for h in media_hits(udp_conn(out))] == ["skypeout_e2o"]
    wireguard = [(True, i * 0.02, b"\x04\0\0\0" + m.obfuscated(rng, 60)) for i in range(150)]
    assert media_hits(udp_conn(wireguard)) == []
    slow = [(True, i * 1.0, header + m.obfuscated(rng, 25)) for i in range(150)]
    assert media_hits(udp_conn(slow)) == []


def test_skypeout_outside_the_gate_is_a_known_blind_spot(rng):
    """l7-filter's SkypeOut example header has type nibble 0xC: the flow is never inspected
    (the price of looking at only Skype-typed flows, in Zeek and here alike)."""
    header = bytes.fromhex("006b2cf5")
    out = [(True, i * 0.02, header + m.obfuscated(rng, 25)) for i in range(150)]
    conn = udp_conn(out)
    assert not conn.inspecting and conn.datagrams == []
    assert media_hits(conn) == []
