"""verdict.judge's rules, each on hits made for it (docs/signatures.md#strengths-and-confidence)."""

from __future__ import annotations

import ipaddress
import random

import pytest

from skypewatch.packets.decode import TCP, UDP
from skypewatch.signatures.base import Hit
from skypewatch.skypelog import Confidence, PeerRole, Stage, Strength
from skypewatch.verdict.judge import (
    MAX_EVIDENCE,
    Facts,
    addr_str,
    client_is_responder,
    judge_facts,
)

ORIG, RESP = bytes((10, 0, 0, 7)), bytes((198, 51, 100, 9))
FACTS = Facts(1000.0, 12345, ORIG, 40000, RESP, 443, TCP, 1002.5, True)
W, P, L, C = Strength.WEAK, Strength.POSSIBLE, Strength.LIKELY, Strength.CONFIRMED


def hit(name: str, stage: Stage, strength: Strength, **kw: str) -> Hit:
    return Hit(name, stage, strength, f"<{name}>", **kw)


def test_weak_hits_alone_make_no_line():
    assert judge_facts(FACTS, [hit("lone_u1", Stage.PROBE, W)], False) is None
    assert judge_facts(FACTS, [], True) is None


def test_confidence_is_the_strongest_solid_hit_raised_once_by_a_confirmed_host():
    hits = [hit("a", Stage.PROBE, P), hit("b", Stage.PROBE, L), hit("c", Stage.PROBE, W)]
    assert judge_facts(FACTS, hits, False).confidence == Confidence.LIKELY
    assert judge_facts(FACTS, hits, True).confidence == Confidence.CONFIRMED
    assert judge_facts(FACTS, hits[:1], True).confidence == Confidence.LIKELY
    top = [hit("z", Stage.LOGIN, C)]
    assert judge_facts(FACTS, top, True).confidence == Confidence.CONFIRMED


def test_stage_is_the_latest_of_the_solid_hits_and_names_the_peer():
    hits = [
        hit("probe_x", Stage.PROBE, C),
        hit("login_x", Stage.LOGIN, P),
        hit("media_x", Stage.MEDIA, L),
        hit("late_weak", Stage.SN_HANDSHAKE, W),  # weak: no say in the stage
    ]
    rec = judge_facts(FACTS, hits, False)
    assert (rec.stage, rec.peer_role) == (Stage.LOGIN, PeerRole.LOGIN_SERVER)
    assert (rec.client, rec.peer) == ("10.0.0.7", "198.51.100.9")
    rec = judge_facts(FACTS, [hit("v", Stage.VERSION_CHECK, L), hit("m", Stage.MEDIA, L)], False)
    assert (rec.stage, rec.peer_role) == (Stage.VERSION_CHECK, PeerRole.UPDATE_SERVER)


def test_inbound_hits_name_the_responder_the_client_unless_the_originator_has_its_own():
    inbound = hit("to_skype_endpoint", Stage.PROBE, L)
    rec = judge_facts(FACTS, [inbound, hit("lone_u1", Stage.PROBE, W)], False)
    assert (rec.client, rec.peer, rec.peer_role) == ("198.51.100.9", "10.0.0.7", PeerRole.PEER)
    assert client_is_responder([inbound])
    inbound_tcp = hit("tcp_to_skype_port", Stage.SN_HANDSHAKE, C)
    rec = judge_facts(FACTS, [inbound, inbound_tcp, hit("skype_404", Stage.PROBE, P)], False)
    assert (rec.client, rec.stage, rec.peer_role) == ("198.51.100.9", Stage.SN_HANDSHAKE, "peer")
    # an own hit of an earlier stage than the inbound one: the originator is the client,
    # and the stage is its own (the inbound hit describes the responder)
    own = hit("u1_u2_nack", Stage.PROBE, P)
    rec = judge_facts(FACTS, [inbound_tcp, own], False)
    assert (rec.client, rec.stage, rec.peer_role) == ("10.0.0.7", Stage.PROBE, PeerRole.SUPER_NODE)
    assert rec.confidence == Confidence.CONFIRMED  # the inbound hit still counts for it
    assert not client_is_responder([inbound_tcp, own])
    assert not client_is_responder([hit("lone_u1", Stage.PROBE, W)])


def test_evidence_strongest_first_then_by_name_and_capped():
    hits = [
        hit("b", Stage.PROBE, P),
        hit("a", Stage.PROBE, P),
        hit("z", Stage.PROBE, C),
        hit("w", Stage.PROBE, W),
    ]
    assert judge_facts(FACTS, hits, False).evidence == "<z>; <a>; <b>; <w>"
    long = [Hit(f"n{i}", Stage.PROBE, L, "x" * 90) for i in range(6)]
    ev = judge_facts(FACTS, long, False).evidence
    assert len(ev) == MAX_EVIDENCE and ev.endswith("...")


def test_the_first_hit_naming_a_public_ip_or_version_gives_it():
    hits = [
        hit("a", Stage.PROBE, L),
        hit("b", Stage.PROBE, L, client_public_ip="203.0.113.1"),
        hit("c", Stage.PROBE, W, client_public_ip="203.0.113.2", skype_version="5.0"),
        hit("d", Stage.PROBE, L, skype_version="6.0"),
    ]
    rec = judge_facts(FACTS, hits, False)
    assert (rec.client_public_ip, rec.skype_version) == ("203.0.113.1", "5.0")
    assert rec.signatures == frozenset("abcd")


def test_the_line_s_connection_columns():
    rec = judge_facts(FACTS, [hit("a", Stage.PROBE, L)], False)
    assert (rec.ts, rec.orig_p, rec.resp_p, rec.proto, rec.duration) == (
        1000.0,
        40000,
        443,
        "tcp",
        2.5,
    )
    assert rec.uid.startswith("C") and rec.answered
    udp = FACTS._replace(proto=UDP, last_ts=999.0, answered=False)
    rec = judge_facts(udp, [hit("a", Stage.PROBE, L)], False)
    assert (rec.proto, rec.duration, rec.answered) == ("udp", 0.0, False)


@pytest.mark.parametrize("size", [4, 16])
def test_addresses_are_written_as_ipaddress_writes_them(size):
    rng = random.Random(size)
    samples = [bytes(rng.randrange(256) for _ in range(size)) for _ in range(300)]
    samples += [bytes(size), b"\xff" * size]
    if size == 16:  # the zero runs and v4-mapped forms ipaddress compresses
        samples += [bytes(10) + b"\xff\xff" + bytes((1, 2, 3, 4)), b"\x20\x01\x0d\xb8" + bytes(12)]
    for a in samples:
        assert addr_str(a) == str(ipaddress.ip_address(a))
