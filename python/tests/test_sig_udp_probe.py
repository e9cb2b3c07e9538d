"""SKU-1..6 on crafted datagrams, with the near-misses that must not fire."""

from __future__ import annotations

from conftest import CLIENT, SN, udp_conn

from skypewatch.signatures.udp_probe import probe_hits, u1_shaped, weak_hits
from skypewatch.synth import messages as m
from skypewatch.synth.frames import addr_bytes

CHALLENGE = b"\x24\x49\x9e\xb8"


def names(hits):
    return {h.name for h in hits}


def test_u1_u2_pair_fires_and_reports_public_ip(rng):
    u1 = m.u1(rng, 0x15F2)
    u2 = m.u2(rng, u1, addr_bytes("86.128.245.115"), CHALLENGE)
    hits = probe_hits(udp_conn([(True, 0, u1), (False, 0.1, u2)]))
    assert names(hits) == {"u1_u2_nack"}
    assert hits[0].client_public_ip == "86.128.245.115"
    assert hits[0].strength == "likely"


def test_u2_naming_the_client_itself_is_confirmed(rng):
    u1 = m.u1(rng, 7)
    u2 = m.u2(rng, u1, addr_bytes(CLIENT), CHALLENGE)
    assert "u2_public_ip" in names(probe_hits(udp_conn([(True, 0, u1), (False, 0.1, u2)])))


def test_nack_type_5_also_counts(rng):
    u1 = m.u1(rng, 9, size=346)
    u2 = u1[:2] + b"\x35" + addr_bytes("1.2.3.4") + CHALLENGE
    assert "u1_u2_nack" in names(probe_hits(udp_conn([(True, 0, u1), (False, 0.05, u2)])))


def test_u2_near_misses_do_not_fire(rng):
    u1 = m.u1(rng, 0x1111)
    good = m.u2(rng, u1, addr_bytes("1.2.3.4"), CHALLENGE)
    misses = {
        "12 bytes (a DNS header)": good + b"\0",
        "wrong id": b"\x22\x22" + good[2:],
        "type 3": good[:2] + b"\x73" + good[3:],
        "type 2": good[:2] + b"\x72" + good[3:],
    }
    for why, reply in misses.items():
        assert probe_hits(udp_conn([(True, 0, u1), (False, 0.1, reply)])) == [], why
    # too late: the client gives up after 5 s
    assert probe_hits(udp_conn([(True, 0, u1), (False, 6.0, good)])) == []
    # the probe must be a type-2 datagram of at least 18 bytes
    short = u1[:17]
    assert probe_hits(udp_conn([(True, 0, short), (False, 0.1, good)])) == []
    typed3 = u1[:2] + b"\x03" + u1[3:]
    assert probe_hits(udp_conn([(True, 0, typed3), (False, 0.1, good)])) == []


def test_full_u1_to_u4_sequence(rng):
    u1 = m.u1(rng, 0x15F2)
    u2 = m.u2(rng, u1, addr_bytes("86.128.245.115"), CHALLENGE)
    u3 = m.u3(rng, u1, CHALLENGE, addr_bytes(SN))
    u4 = m.u4(rng, 51)
    assert len(u3) == len(u1) + 5
    hits = probe_hits(
        udp_conn([(True, 0, u1), (False, 0.1, u2), (True, 0.1, u3), (False, 0.3, u4)])
    )
    assert names(hits) == {"u1_u2_nack", "u3_resend", "u4_reply"}
    u3hit = next(h for h in hits if h.name == "u3_resend")
    assert u3hit.strength == "confirmed"
    assert "challenge echoed" in u3hit.evidence and "U1 CRC repeated" in u3hit.evidence


def test_u3_near_misses(rng):
    u1 = m.u1(rng, 0x15F2)
    u2 = m.u2(rng, u1, addr_bytes("86.128.245.115"), CHALLENGE)
    u3 = m.u3(rng, u1, CHALLENGE, addr_bytes(SN))
    for why, bad in {
        "wrong SN address": m.u3(rng, u1, CHALLENGE, addr_bytes("203.0.113.9")),
        "U1 + 4": u3[:-1],
        "type 2": u3[:2] + b"\x02" + u3[3:],
        "other id": b"\x00\x01" + u3[2:],
    }.items():
        hits = probe_hits(udp_conn([(True, 0, u1), (False, 0.1, u2), (True, 0.2, bad)]))
        assert "u3_resend" not in names(hits), why


def test_retransmit_same_crc_new_iv(rng):
    u1 = m.u1(rng, 0x1697, size=31)
    again = m.u1_resent(rng, u1)
    hits = probe_hits(
        udp_conn([(True, 0, u1), (True, 2.05, again), (True, 6.09, m.u1_resent(rng, u1))])
    )
    assert names(hits) == {"probe_retransmit"}


def test_retransmit_near_misses(rng):
    u1 = m.u1(rng, 0x1697, size=31)
    again = m.u1_resent(rng, u1)
    # an identical datagram is an ordinary retransmission (DNS retries look like this)
    assert probe_hits(udp_conn([(True, 0, u1), (True, 2.0, u1)])) == []
    # a different CRC means a different message
    other_crc = again[:7] + b"\0\0\0\0" + again[11:]
    assert probe_hits(udp_conn([(True, 0, u1), (True, 2.0, other_crc)])) == []
    # within a burst (0.1 s) it is not the back-off of an unanswered probe
    assert probe_hits(udp_conn([(True, 0, u1), (True, 0.1, again)])) == []


def test_weak_shapes_only_as_weak(rng):
    u1 = m.u1(rng, 5)
    lone = weak_hits(udp_conn([(True, 0, u1)]))
    assert [(h.name, h.strength) for h in lone] == [("lone_u1", "weak")]
    exchange = weak_hits(udp_conn([(True, 0, u1), (False, 0.1, m.u4(rng, 18))]))
    assert [h.name for h in exchange] == ["type2_exchange"]
    assert probe_hits(udp_conn([(True, 0, u1)])) == []


def test_u1_shape_excludes_known_look_alikes():
    snmp = bytes.fromhex("302602010104067075626c6963a019020400000001020100020100300b")
    fins = bytes.fromhex("800002000100000b00000101820000000001") + b"\0" * 4
    assert not u1_shaped(snmp, 40000, 161)
    assert not u1_shaped(snmp, 40000, 40001)  # BER by its first byte, on any port
    assert not u1_shaped(fins, 40000, 40001)
    zoom = bytes.fromhex("010002") + bytes(30)
    assert u1_shaped(zoom, 50000, 8801)  # shape only: weak, so host evidence must decide
    assert not u1_shaped(b"\x12\x34\x02" + bytes(20), 50000, 53)
    assert not u1_shaped(b"\x12\x34\x02" + bytes(200), 50000, 40000)  # longer than a probe
