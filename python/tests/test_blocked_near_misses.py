"""Issue 12's rules against traffic that resembles a blocked Skype start-up but is not one.

Each near miss is a small capture built with the synthesizer's frame helpers and run through
``analyze``: it must give no likely or confirmed line and no notice.  Beside each stands its
control, the same capture changed in the one property the rule keys on (a probe first, a
real counter, a port outside the exclusions, opaque bytes instead of TLS/HTTP), which must
fire: so each near miss fails if the property stopped mattering.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from skypewatch.analyze import Summary, analyze
from skypewatch.detect.tracker import TrackerOptions
from skypewatch.synth import messages as m
from skypewatch.synth.frames import SYN, TcpSession, addr_bytes, tcp_frame, udp_frame
from skypewatch.synth.pcapwriter import PcapWriter
from skypewatch.verdict.host_context import HostOptions

T0 = 1_700_000_000.0
CONFIDENT = ("likely", "confirmed")


@dataclass
class Capture:
    """Frames in any order; written sorted by time (stable) and analysed."""

    events: list[tuple[float, bytes]] = field(default_factory=list)

    def udp(self, t: float, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        self.events.append(
            (T0 + t, udp_frame(addr_bytes(src), sport, addr_bytes(dst), dport, payload))
        )

    def syn(self, t: float, src: str, sport: int, dst: str, dport: int, retry: float = 3.0):
        """An unanswered SYN, retried once on the same source port (within Zeek's 5 s)."""
        f = tcp_frame(addr_bytes(src), sport, addr_bytes(dst), dport, 7_000, 0, SYN)
        self.events += [(T0 + t, f), (T0 + t + retry, f)]

    def tcp(
        self,
        t: float,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        exchange: list[tuple[bool, bytes]],
    ) -> None:
        """A whole connection: handshake, the exchange, FIN both ways, 30 ms apart."""
        s = TcpSession(addr_bytes(src), sport, addr_bytes(dst), dport, 1_000, 90_000)
        frames = [*s.handshake(), *(s.send(c, d) for c, d in exchange), *s.close()]
        self.events += [(T0 + t + i * 0.03, f) for i, (_, f) in enumerate(frames)]

    def write(self, pcap: Path) -> None:
        with PcapWriter(pcap) as w:
            w.write_events(sorted(self.events, key=lambda e: e[0]))

    def analyze(self, tmp_path, host: HostOptions | None = None) -> Summary:
        pcap = tmp_path / "c.pcap"
        self.write(pcap)
        opts = TrackerOptions(host=host) if host is not None else None
        return analyze([pcap], tmp_path / "out", tracker_options=opts, keep_records=True)


def confident(s: Summary, client: str | None = None):
    return [
        r for r in s.records if r.confidence in CONFIDENT and (client is None or r.client == client)
    ]


def with_signature(s: Summary, name: str):
    return [r for r in s.records if name in r.signatures]


def u1_like(rng: random.Random, ident: int, size: int | None = None) -> bytes:
    """Bytes 0-1 the id, byte 2 of type 2 (bits 0x70 random): what u1_shaped accepts."""
    return m.u1(rng, ident & 0xFFFF, size or rng.randint(18, 60))


def _peer(i: int) -> str:
    return f"203.0.{113 + i // 250}.{1 + i % 250}"


# -- (i) a port scanner ----------------------------------------------------------------------


@pytest.mark.parametrize("probe_first", [False, True], ids=["scanner", "control-probed"])
def test_port_scanner_syns_to_skype_ports_are_no_fallback_chain(tmp_path, probe_first):
    """SYNs to 33033, 443 and 80 of 40 hosts, a few tenths of a second apart, some reset:
    the chain's shape, without the probe evidence that makes it Skype's fallback."""
    rng = random.Random(1)
    cap = Capture()
    scanner = "10.0.0.66"
    for i in range(40):
        peer, t = _peer(i), i * 0.5
        if probe_first:  # control: one U1-shaped datagram to the host's 33033 first
            cap.udp(t - 0.2, scanner, 21_000 + i, peer, 33033, u1_like(rng, rng.getrandbits(16)))
        for k, port in enumerate((33033, 443, 80)):
            sport = 40_000 + 3 * i + k
            if i % 3 == 2:  # a closed port answers with a RST
                cap.syn(t + 0.3 * k, scanner, sport, peer, port, retry=10.0)
                cap.events.append(
                    (
                        T0 + t + 0.3 * k + 0.05,
                        tcp_frame(
                            addr_bytes(peer), port, addr_bytes(scanner), sport, 0, 7_001, 0x14
                        ),
                    )
                )
            else:
                cap.syn(t + 0.3 * k, scanner, sport, peer, port)
    s = cap.analyze(tmp_path)
    if not probe_first:
        assert s.records == [] and s.notices == []
        return
    chained = with_signature(s, "tcp_fallback_chain")
    assert {(r.resp_h, r.resp_p) for r in chained} == {
        (_peer(i), p) for i in range(40) for p in (33033, 443, 80)
    }
    assert all(r.confidence == "likely" for r in chained)
    assert [n.note for n in s.notices] == ["Skype::Blocked_Startup"]


# -- (ii) DHT/uTP/QUIC-like fan-out without a counter --------------------------------------


def _fanout(ids: list[int], answer: bool = True) -> Capture:
    """One UDP port (6881) sends a first datagram of type 2 to 30 new peers within 6 s.
    A third of the peers answer with type-2 bytes (a type-2 exchange, which the fan-out
    and id rules count like a lone U1), a third with bytes of another shape (which they
    do not count), a third stay silent."""
    rng = random.Random(2)
    cap = Capture()
    for i, ident in enumerate(ids):
        peer, port, t = _peer(i), 1024 + rng.randrange(60_000), i * 0.2
        cap.udp(t, "10.0.0.30", 6881, peer, port, u1_like(rng, ident))
        if answer and i % 3:
            kind = 0x42 if i % 3 == 1 else 0x41
            reply = bytes([rng.getrandbits(8), rng.getrandbits(8), kind]) + m.obfuscated(rng, 60)
            cap.udp(t + 0.05, peer, port, "10.0.0.30", 6881, reply)
    return cap


def _counted(ids: list[int]) -> int:
    """The fan-out's flows the id and fan-out rules look at: lone or type-2 answered."""
    return sum(1 for i in range(len(ids)) if i % 3 != 2)


_rng3 = random.Random(3)
RANDOM_IDS = [_rng3.getrandbits(16) for _ in range(30)]
WIDE_STEPS = [(0x0100 + 300 * k) & 0xFFFF for k in range(30)]  # climbing, 300 apart
COUNTER = [(0xFFF0 + 2 * k) & 0xFFFF for k in range(30)]  # one counter, across the wrap


@pytest.mark.parametrize("ids", [RANDOM_IDS, WIDE_STEPS], ids=["random-ids", "steps-of-300"])
def test_udp_fanout_without_an_id_counter_stays_possible(tmp_path, ids):
    s = _fanout(ids).analyze(tmp_path)
    # the capture does reach the fan-out logic: its flows are logged, at possible
    assert len(with_signature(s, "probe_fanout")) == _counted(ids)
    assert with_signature(s, "probe_id_sequence") == []
    assert confident(s) == [] and s.notices == []


def test_udp_fanout_with_one_counter_is_an_id_sequence(tmp_path):
    """Control: the same fan-out with ids from one counter (+2, wrapping) is likely."""
    s = _fanout(COUNTER).analyze(tmp_path)
    assert len(with_signature(s, "probe_id_sequence")) == _counted(COUNTER)
    assert len(confident(s)) == _counted(COUNTER)


@pytest.mark.parametrize("ids", [RANDOM_IDS, WIDE_STEPS], ids=["random-ids", "steps-of-300"])
def test_the_step_bound_is_what_keeps_the_fanout_out(tmp_path, ids):
    """With the step bound lifted, any set of ids is one run: the near misses above fire."""
    s = _fanout(ids).analyze(tmp_path, HostOptions(id_seq_max_step=65_535))
    assert len(with_signature(s, "probe_id_sequence")) == _counted(ids)


def test_a_counter_needs_eight_peers(tmp_path):
    """Seven peers with consecutive ids are not yet a sequence (id_seq_min is 8)."""
    s = _fanout(COUNTER[:7], answer=False).analyze(tmp_path)
    assert with_signature(s, "probe_id_sequence") == []
    assert confident(s) == [] and s.notices == []


# -- (iii) DNS and NTP with climbing ids ---------------------------------------------------


def _queries(port: int, sport: int, answered: bool, n: int = 20) -> Capture:
    """A client querying 20 servers from one port, ids +1 each; byte 2 is 0x02, so only
    the port keeps these from the U1 shape.  Answered: each server echoes the id."""
    rng = random.Random(4)
    cap = Capture()
    for i in range(n):
        peer, t = _peer(i), i * 0.1
        ident = 0x4000 + i
        if port == 123 or sport == 123:
            query = ident.to_bytes(2, "big") + b"\x02" + m.obfuscated(rng, 45)  # NTP's 48 B
        else:
            query = ident.to_bytes(2, "big") + b"\x02\x00\x00\x01\x00\x00\x00\x00\x00\x00"
            query += b"\x07example\x03com\x00\x00\x01\x00\x01"
        cap.udp(t, "10.0.0.53", sport, peer, port, query)
        if answered:
            reply = query[:2] + b"\x81\x80" + query[4:]
            cap.udp(t + 0.02, peer, port, "10.0.0.53", sport, reply)
    return cap


@pytest.mark.parametrize("answered", [True, False], ids=["answered", "unanswered"])
@pytest.mark.parametrize(
    ("port", "sport"), [(53, 40_053), (123, 123), (123, 40_123)], ids=["dns", "ntp-sym", "ntp"]
)
def test_dns_and_ntp_ids_climbing_by_one_are_no_sequence(tmp_path, port, sport, answered):
    s = _queries(port, sport, answered).analyze(tmp_path)
    assert s.records == [] and s.notices == []


def test_the_same_datagrams_off_the_excluded_ports_are_a_sequence(tmp_path):
    """Control: the unanswered DNS-shaped datagrams to port 5300 carry a counter the rule
    sees (a likely line each, and a blocked start-up notice: nothing answered)."""
    s = _queries(5300, 40_053, answered=False).analyze(tmp_path)
    assert len(with_signature(s, "probe_id_sequence")) == 20
    assert [n.note for n in s.notices] == ["Skype::Blocked_Startup"]


# -- (iv) a TLS client retrying 443, then 80 ------------------------------------------------

TLS_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + b"\x00" * 134
TLS_SERVER_HELLO = bytes.fromhex("160303005a020000560303") + bytes(range(32, 64)) + b"\x00" * 54
HTTP_GET = b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5\r\n\r\n"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("high_port_first", [False, True], ids=["tls-client", "control-chain"])
def test_tls_client_retrying_443_then_80_is_no_chain(tmp_path, high_port_first):
    """443 unanswered (retried), then plain HTTP on 80 a second later: no high-port attempt
    first and no probe.  Control: a probe and a SYN to the probed high port before it."""
    cap = Capture()
    client, server = "10.0.0.8", "198.51.100.80"
    if high_port_first:
        cap.udp(-1.0, client, 31_000, server, 40_000, u1_like(random.Random(5), 0x1234, 18))
        cap.syn(-0.5, client, 50_000, server, 40_000)
    cap.syn(0.0, client, 50_001, server, 443)
    cap.tcp(1.2, client, 50_002, server, 80, [(True, HTTP_GET), (False, HTTP_OK)])
    s = cap.analyze(tmp_path)
    if not high_port_first:
        assert s.records == [] and s.notices == []
        return
    assert {r.resp_p for r in with_signature(s, "tcp_fallback_chain")} == {40_000, 443, 80}


# -- (v) one U1-shaped datagram, then real TLS and HTTP to the same peer ---------------------

SKYPE_A, B = "10.0.0.10", "10.0.0.20"
NODE = "198.51.100.7"


def _prove_node(cap: Capture) -> None:
    """Another client's U1 answered by a U2: NODE:40001 is a proven super node."""
    rng = random.Random(6)
    u1 = m.u1(rng, 0x2222)
    cap.udp(0.0, SKYPE_A, 33_000, NODE, 40_001, u1)
    u2 = m.u2(rng, u1, addr_bytes(SKYPE_A), b"\x01\x02\x03\x04")
    cap.udp(0.05, NODE, 40_001, SKYPE_A, 33_000, u2)


@pytest.mark.parametrize("cleartext", [True, False], ids=["tls-http", "control-opaque"])
def test_real_tls_and_http_to_a_probed_proven_node_are_not_opaque(tmp_path, cleartext):
    """B sends one U1-shaped datagram to the node (on a port nobody proved), then a real TLS
    handshake to its 443 and HTTP to its 80.  B counts as a Skype client for that peer and
    the node is proven, so only the cleartext check stands between these and
    tcp_to_known_host / non_http_80_after_probe.  Without a high-port attempt first, the
    443/80 attempts start no fallback chain."""
    rng = random.Random(7)
    cap = Capture()
    _prove_node(cap)
    cap.udp(10.0, B, 50_000, NODE, 40_002, u1_like(rng, 0x5555, 18))
    if cleartext:
        tls = [(True, TLS_HELLO), (False, TLS_SERVER_HELLO)]
        http = [(True, HTTP_GET), (False, HTTP_OK)]
    else:
        tls = [(True, m.opaque(rng, 80)), (False, m.opaque(rng, 80))]
        http = [(True, m.opaque(rng, 60)), (False, m.opaque(rng, 60))]
    cap.tcp(11.0, B, 50_443, NODE, 443, tls)
    cap.tcp(12.0, B, 50_080, NODE, 80, http)
    s = cap.analyze(tmp_path)
    b_tcp = [r for r in s.records if r.orig_h == B and r.proto == "tcp"]
    assert with_signature(s, "tcp_fallback_chain") == []
    if cleartext:
        assert b_tcp == []
        assert confident(s, B) == [] and B not in {n.src for n in s.notices}
        return
    got = {r.resp_p: r.signatures for r in b_tcp}
    assert got == {443: {"tcp_to_known_host"}, 80: {"non_http_80_after_probe"}}


def test_a_high_port_attempt_first_makes_even_answered_tls_a_chain(tmp_path):
    """What tcp_fallback_chain does with case (v) once a SYN to the probed high port comes
    first: the attempts to 443 and 80 are part of the chain whatever they carried (the rule
    looks at attempts, answered or not), while the cleartext still fires no known-node
    rule."""
    cap = Capture()
    _prove_node(cap)
    cap.udp(10.0, B, 50_000, NODE, 40_002, u1_like(random.Random(8), 0x5555, 18))
    cap.syn(10.5, B, 50_002, NODE, 40_002)
    cap.tcp(11.5, B, 50_443, NODE, 443, [(True, TLS_HELLO), (False, TLS_SERVER_HELLO)])
    cap.tcp(12.5, B, 50_080, NODE, 80, [(True, HTTP_GET), (False, HTTP_OK)])
    s = cap.analyze(tmp_path)
    got = {r.resp_p: r.signatures for r in s.records if r.orig_h == B and r.proto == "tcp"}
    assert got == {p: {"tcp_fallback_chain"} for p in (40_002, 443, 80)}
