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
    header = bytes.fromhex("006b2cf5")
    out = [(True, i * 0.02, header + m.obfuscated(rng, 25)) for i in range(150)]
    assert [h.name for h in media_hits(udp_conn(out))] == ["skypeout_e2o"]
    wg = [(True, i * 0.02, b"\x04\0\0\0" + m.obfuscated(rng, 60)) for i in range(150)]
    assert media_hits(udp_conn(wg)) == []
    slow = [(True, i * 1.0, header + m.obfuscated(rng, 25)) for i in range(150)]
    assert media_hits(udp_conn(slow)) == []
