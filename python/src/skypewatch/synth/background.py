"""Benign background traffic that a Skype detector must leave alone
(docs/signatures.md#false-positive-traps).

DNS, real TLS, QUIC, BitTorrent (uTP and DHT fanning out from one port, as Skype does) and
RTP: each a short conversation produced as a time-ordered list of (ts, frame, truth) events.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from .frames import TcpSession, udp_flow, udp_frame
from .truth import Conn, Event


def _rand(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "big")


def _dns_name(rng: random.Random) -> bytes:
    labels = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))
        for _ in range(2)
    ] + ["com"]
    return b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0"


def dns(rng: random.Random, t: float, host: bytes, resolver: bytes) -> list[Event]:
    ident = rng.getrandbits(16)
    sport = rng.randint(1024, 65535)
    qname = _dns_name(rng)
    q = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + b"\0\x01\0\x01"
    answer = b"\xc0\x0c\0\x01\0\x01\0\0\x0e\x10\0\x04" + _rand(rng, 4)
    r = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + qname + b"\0\x01\0\x01" + answer
    c = Conn("udp", host, sport, resolver, 53)
    return [
        (t, udp_frame(host, sport, resolver, 53, q), c),
        (t + 0.02, udp_frame(resolver, 53, host, sport, r), c),
    ]


def tls(rng: random.Random, t: float, host: bytes, server: bytes) -> list[Event]:
    s = TcpSession(
        host, rng.randint(1024, 65535), server, 443, rng.getrandbits(31), rng.getrandbits(31)
    )
    c = Conn("tcp", host, s.cport, server, 443)
    body = b"\x01\x00\x00\xfc\x03\x03" + _rand(rng, 32) + b"\x20" + _rand(rng, 32) + bytes(188)
    hello = b"\x16\x03\x01" + len(body).to_bytes(2, "big") + body
    sh_body = b"\x02\x00\x00\x46\x03\x03" + _rand(rng, 64) + b"\x13\x01\x00"
    frames = [
        *s.handshake(),
        s.send(True, hello),
        s.send(False, b"\x16\x03\x03" + len(sh_body).to_bytes(2, "big") + sh_body),
        s.send(True, b"\x17\x03\x03\x00@" + _rand(rng, 64)),
        s.send(False, b"\x17\x03\x03\x01\x00" + _rand(rng, 256)),
        *s.close(),
    ]
    return [(t + i * 0.01, f, c) for i, (_, f) in enumerate(frames)]


def quic(rng: random.Random, t: float, host: bytes, server: bytes) -> list[Event]:
    sport = rng.randint(1024, 65535)
    c = Conn("udp", host, sport, server, 443)
    dcid = _rand(rng, 8)
    initial = bytes([0xC3]) + b"\0\0\0\1" + b"\x08" + dcid + b"\x00" + _rand(rng, 1186)
    out = [(t, udp_frame(host, sport, server, 443, initial), c)]
    out.append(
        (
            t + 0.03,
            udp_frame(
                server, 443, host, sport, bytes([0xC1]) + b"\0\0\0\1" + b"\0\x08" + _rand(rng, 1000)
            ),
            c,
        )
    )
    for i in range(rng.randint(4, 12)):
        frm_client = i % 2 == 0
        pkt = bytes([0x40 | rng.getrandbits(5)]) + dcid + _rand(rng, rng.randint(30, 1200))
        a, b = (host, server) if frm_client else (server, host)
        pa, pb = (sport, 443) if frm_client else (443, sport)
        out.append((t + 0.05 + i * 0.01, udp_frame(a, pa, b, pb, pkt), c))
    return out


def utp_fanout(rng: random.Random, t: float, host: bytes, peers: list[bytes]) -> list[Event]:
    """uTP SYNs from one port to many peers: fan-out shaped like Skype's, but not Skype."""
    sport = rng.randint(1024, 65535)
    out: list[Event] = []
    for i, peer in enumerate(peers):
        dport = rng.randint(1024, 65535)
        c = Conn("udp", host, sport, peer, dport)
        conn_id = rng.getrandbits(16)
        syn = struct.pack("!BBHIIIHH", 0x41, 0, conn_id, rng.getrandbits(32), 0, 0x100000, 1, 0)
        ts = t + i * 0.05
        out.append((ts, udp_frame(host, sport, peer, dport, syn), c))
        if rng.random() < 0.5:
            st = struct.pack(
                "!BBHIIIHH",
                0x21,
                0,
                conn_id,
                rng.getrandbits(32),
                0,
                0x100000,
                rng.getrandbits(16),
                1,
            )
            out.append((ts + 0.04, udp_frame(peer, dport, host, sport, st), c))
    return out


def dht_fanout(rng: random.Random, t: float, host: bytes, peers: list[bytes]) -> list[Event]:
    sport = rng.randint(1024, 65535)
    out: list[Event] = []
    for i, peer in enumerate(peers):
        dport = rng.randint(1024, 65535)
        c = Conn("udp", host, sport, peer, dport)
        q = b"d1:ad2:id20:" + _rand(rng, 20) + b"e1:q4:ping1:t2:" + _rand(rng, 2) + b"1:y1:qe"
        out.append((t + i * 0.03, udp_frame(host, sport, peer, dport, q), c))
    return out


_RTP_HEADER = struct.Struct("!BBHII")


def rtp(rng: random.Random, t: float, a: bytes, b: bytes, packets: int = 150) -> list[Event]:
    pa, pb = rng.randrange(10000, 60000, 2), rng.randrange(10000, 60000, 2)
    c = Conn("udp", a, pa, b, pb)
    seq, ts_rtp, ssrc = rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32)
    audio = _rand(rng, 160 * packets)  # the whole call's payload in one draw
    pack = _RTP_HEADER.pack
    frame = udp_flow(a, pa, b, pb)
    return [
        (
            t + i * 0.02,
            frame(
                pack(0x80, 0, (seq + i) & 0xFFFF, (ts_rtp + 160 * i) & 0xFFFFFFFF, ssrc)
                + audio[160 * i : 160 * i + 160]
            ),
            c,
        )
        for i in range(packets)
    ]


KINDS = ("dns", "tls", "quic", "utp", "dht", "rtp")


def background(
    rng: random.Random, t: float, hosts: list[bytes], remote: Callable[[], bytes]
) -> list[Event]:
    """One background conversation of a random kind; ``remote()`` draws an outside address."""
    kind = rng.choice(KINDS)
    host = rng.choice(hosts)
    if kind == "dns":
        return dns(rng, t, host, hosts[0])
    if kind == "tls":
        return tls(rng, t, host, remote())
    if kind == "quic":
        return quic(rng, t, host, remote())
    if kind == "utp":
        return utp_fanout(rng, t, host, [remote() for _ in range(rng.randint(6, 12))])
    if kind == "dht":
        return dht_fanout(rng, t, host, [remote() for _ in range(rng.randint(6, 12))])
    return rtp(rng, t, host, remote(), packets=rng.randint(60, 200))
