"""SKT-1..7 and the version check on crafted streams, with near-misses."""

from __future__ import annotations

from conftest import CLIENT, tcp_conn

from skypewatch.signatures.login import L1, L2, login_hits
from skypewatch.signatures.sn_handshake import (
    FIXED_SERVER_HELLO,
    correlated_hits,
    handshake_hits,
)
from skypewatch.signatures.version_check import version_hits
from skypewatch.synth import messages as m

# A real TLS 1.0 ClientHello record header: same first three bytes as L1, non-zero length.
REAL_TLS_HELLO = bytes.fromhex("16030100ba010000b60301") + bytes(180)


def names(hits):
    return {h.name for h in hits}


def test_login_l1_l2_is_confirmed(rng):
    hits = login_hits(tcp_conn(L1 + m.login_l3(rng), L2 + m.login_l4(rng), first_seg=5))
    assert names(hits) == {"login_handshake", "login_records"}
    assert all(h.strength == "confirmed" for h in hits)


def test_login_l1_alone_is_likely():
    hits = login_hits(tcp_conn(L1, b"", first_seg=5))
    assert [(h.name, h.strength) for h in hits] == [("login_hello", "likely")]


def test_login_near_misses():
    assert login_hits(tcp_conn(REAL_TLS_HELLO)) == []
    # L1 bytes followed by something that is not a Skype record in the same segment
    assert login_hits(tcp_conn(L1 + b"GET / HTTP/1.1\r\n", first_seg=21)) == []
    assert login_hits(tcp_conn(b"\x16\x03\x01\x00\x01")) == []
    assert login_hits(tcp_conn(b"\x17\x03\x01\x00\x00", L2)) == []


def test_sslv2_hello_then_junk(rng):
    hits = handshake_hits(tcp_conn(m.sslv2_hello(rng) + m.obfuscated(rng, 27)))
    assert names(hits) == {"sslv2_hello", "fake_tls_junk"}
    hello_only = handshake_hits(tcp_conn(m.sslv2_hello(rng)))
    assert [(h.name, h.strength) for h in hello_only] == [("sslv2_hello", "possible")]


def test_sslv2_hello_near_misses(rng):
    hello = m.sslv2_hello(rng)
    # a real server answering with TLS: an old SChannel client, not Skype
    real = handshake_hits(tcp_conn(hello + b"\x16\x03\x01\x00\x10", b"\x16\x03\x01\x00\x4a\x02"))
    assert names(real) == {"sslv2_hello"}
    assert handshake_hits(tcp_conn(hello[:71])) == []
    other_ciphers = hello[:20] + b"\xff" + hello[21:]
    assert handshake_hits(tcp_conn(other_ciphers + b"junk")) == []


def test_fixed_server_hello(rng):
    hits = handshake_hits(tcp_conn(m.sslv2_hello(rng) + m.obfuscated(rng, 30), FIXED_SERVER_HELLO))
    assert names(hits) == {"sslv2_hello", "fake_tls_junk", "fixed_server_hello"}
    changed = bytearray(FIXED_SERVER_HELLO)
    changed[40] ^= 1
    assert "fixed_server_hello" not in names(handshake_hits(tcp_conn(b"", bytes(changed))))


def test_skype_404():
    hits = handshake_hits(
        tcp_conn(b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 404 Not Found\r\n\r\n", resp_p=80)
    )
    assert names(hits) == {"skype_404"}
    web = b"HTTP/1.0 404 Not Found\r\nServer: nginx\r\n\r\n"
    assert handshake_hits(tcp_conn(b"GET / HTTP/1.0\r\n\r\n", web, resp_p=80)) == []


def test_version_check(rng):
    hits = version_hits(tcp_conn(m.version_check(rng, "1.2.0.18", platform=2), resp_p=80))
    assert names(hits) == {"http_version_check", "skype_user_agent"}
    vc = next(h for h in hits if h.name == "http_version_check")
    assert vc.skype_version == "1.2.0.18" and "Linux" in vc.evidence


def test_version_check_variants_and_misses():
    newest = b"GET /ui/0/3.5.0.239/en/getnewestversion HTTP/1.1\r\nHost: ui.skype.com\r\n\r\n"
    hit = version_hits(tcp_conn(newest, resp_p=80))
    assert [h.skype_version for h in hit] == ["3.5.0.239"]
    other_host = newest.replace(b"ui.skype.com", b"example.com")
    assert version_hits(tcp_conn(other_host, resp_p=80)) == []
    preview = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: SkypeUriPreview Preview/0.5\r\n\r\n"
    assert version_hits(tcp_conn(preview, resp_p=80)) == []


def test_correlated_tcp(rng):
    opaque = tcp_conn(m.obfuscated(rng, 57), resp_p=40002)
    assert names(correlated_hits(opaque, True, True, False)) == {"tcp_to_probed_peer"}
    assert correlated_hits(opaque, False, False, False) == []
    on80 = tcp_conn(m.obfuscated(rng, 57), resp_p=80)
    assert names(correlated_hits(on80, False, True, False)) == {"non_http_80_after_probe"}
    http = tcp_conn(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", resp_p=80)
    assert correlated_hits(http, True, True, True) == []
    tls = tcp_conn(REAL_TLS_HELLO, resp_p=40002)
    assert correlated_hits(tls, True, True, True) == []
    inbound = tcp_conn(m.obfuscated(rng, 29), resp_p=35990)
    assert names(correlated_hits(inbound, False, False, True)) == {"tcp_to_skype_port"}


def test_version_check_answered_by_a_bare_404_names_the_originator_the_client():
    """skype_404 says the responder looks like a Skype node, but the originator asked ui.skype.com
    for an update: it is the client, for the host context and the log line alike."""
    import random

    from skypewatch.verdict.judge import client_is_responder, host_of_client, judge

    conn = tcp_conn(
        m.version_check(random.Random(404), "1.4.0.84"),
        b"HTTP/1.0 404 Not Found\r\n\r\n",
        resp_p=80,
    )
    hits = version_hits(conn) + handshake_hits(conn)
    assert {"http_version_check", "skype_404"} <= {h.name for h in hits}
    assert not client_is_responder(hits)
    assert host_of_client(conn, hits) == conn.orig
    rec = judge(conn, hits, host_confirmed=False)
    assert rec is not None
    assert (rec.client, rec.stage, rec.peer_role) == (CLIENT, "version_check", "update_server")
