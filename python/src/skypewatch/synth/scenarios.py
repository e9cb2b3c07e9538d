"""Skype start-up scenarios under the network conditions of the seed study.

Ehlert and Petgang observed Skype behind a modified NAT and firewall: an open network, a
client behind NAT, UDP blocked, TCP above 1024 blocked, a restricted login server, automatic
login on restart, and a local super node relaying for outside clients.  Each scenario here
produces client start-ups (version check, U1-U4 probes with host-cache fan-out, the TCP
super-node handshake with its 80/443 fallbacks, login L1-L4, an optional call) from the
published message layouts, optionally mixed with benign background traffic.

Output is streamed: a scheduler admits a start-up only when the capture's clock reaches it,
so memory depends on how many conversations overlap, not on the capture's length.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from . import messages as m
from .background import background
from .frames import SYN, TcpSession, tcp_frame, udp_flow, udp_frame
from .pcapwriter import PcapWriter
from .truth import TRUTH_COLUMNS, UNOBSERVABLE, Conn, Event, truth_path

EPOCH = 1156519200.0  # 2006-08-25, the day SkypeIRC.cap was captured
RESOLVER = bytes((10, 0, 0, 1))


@dataclass(frozen=True, slots=True)
class Conditions:
    version: str = "1.4"  # "1.4": U1 18 B, U4 18/51/53 B; "2.0": sizes vary
    nat: bool = False  # client behind NAT: U2 names the NAT's public address
    udp_blocked: bool = False  # probes leave, no answer returns
    tcp_high_blocked: bool = False  # UDP and TCP above 1024 blocked: 80/443 fallback
    login_restricted: bool = False  # the login server's own port is blocked: 443 fallback
    restart: bool = False  # a second start-up later: automatic login, public IP known
    call: bool = True  # a voice call after login (needs UDP)
    firewall_all: bool = False  # nothing from outside comes back, not even the version check
    known_nodes: bool = False  # after login, opaque TCP to the proven nodes on other ports


SCENARIOS: dict[str, tuple[str, Conditions]] = {
    "open-1.4": ("open network, Skype 1.4 message sizes", Conditions()),
    "open-2.0": ("open network, Skype 2.0 (U1 and U4 sizes vary)", Conditions(version="2.0")),
    "nat": ("client behind NAT; U2 carries the NAT address", Conditions(nat=True)),
    "udp-blocked": (
        "UDP blocked: unanswered probes, then TCP",
        Conditions(udp_blocked=True, call=False),
    ),
    "tcp-high-blocked": (
        "UDP and TCP above 1024 blocked: raw 80 and TLS look-alike 443",
        Conditions(udp_blocked=True, tcp_high_blocked=True, call=False),
    ),
    "login-restricted": (
        "login server port blocked: login over 443",
        Conditions(login_restricted=True),
    ),
    "autologin": ("automatic login again on restart", Conditions(restart=True)),
    "local-supernode": ("a local host relays for outside clients", Conditions()),
    "all-blocked": (
        "a firewall drops every packet to the outside: probes, then SN port, 443, 80",
        Conditions(version="2.0", udp_blocked=True, firewall_all=True, call=False),
    ),
    "known-nodes": (
        "open start-up, then opaque TCP to the proven login server and super node",
        Conditions(known_nodes=True, call=False),
    ),
}

_PUBLIC_FIRST_OCTETS = (
    24,
    62,
    64,
    65,
    66,
    67,
    68,
    69,
    70,
    71,
    72,
    80,
    81,
    82,
    83,
    84,
    85,
    86,
    87,
    88,
    89,
    90,
    91,
    193,
    194,
    195,
    212,
    213,
    217,
)

_FIRST_BITS = len(_PUBLIC_FIRST_OCTETS).bit_length()


@dataclass(frozen=True, slots=True)
class SynthOptions:
    clients: int = 1
    seed: int = 1
    duration: float = 120.0
    background: float = 0.0  # background packets per second (approximate)

    def __post_init__(self) -> None:
        # nan or inf would never end (the scheduler compares against them); pcap seconds
        # are 32 bits, so the capture's clock must stay well inside them
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise ValueError(f"clients must be between 1 and {MAX_CLIENTS:,}")
        if not (math.isfinite(self.duration) and 0 < self.duration <= MAX_DURATION):
            raise ValueError(f"duration must be positive and at most {MAX_DURATION:,.0f} s")
        if not (math.isfinite(self.background) and 0 <= self.background <= MAX_BACKGROUND):
            raise ValueError(f"background must be between 0 and {MAX_BACKGROUND:,.0f} packets/s")


MAX_CLIENTS = 1_000_000
MAX_DURATION = 30 * 86_400.0
MAX_BACKGROUND = 1_000_000.0


@dataclass(slots=True)
class SynthResult:
    pcap: Path
    truth: Path
    packets: int
    connections: int
    skype_connections: int
    seconds: float = 0.0


class Addresses:
    """Deterministic address allocation: local 10.x hosts, public outside hosts.

    Addresses are unique among the last ``RECENT`` drawn, so memory stays flat however long
    the capture; a repeat after that is as harmless as it is on a real network."""

    RECENT = 1 << 16

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[bytes] = set()
        self.order: deque[bytes] = deque()

    def _take(self, a: bytes) -> bool:
        if a in self.used:
            return False
        self.used.add(a)
        self.order.append(a)
        if len(self.order) > self.RECENT:
            self.used.discard(self.order.popleft())
        return True

    def public(self) -> bytes:
        # Background fan-outs draw hundreds of thousands of these, so the draws are written
        # out with getrandbits: the same rejection sampling as Random.choice/randrange
        # (CPython's _randbelow), hence the same addresses, at a fraction of the calls.
        bits = self.rng.getrandbits
        while True:
            i = bits(_FIRST_BITS)
            while i >= len(_PUBLIC_FIRST_OCTETS):
                i = bits(_FIRST_BITS)
            b = bits(9)
            while b >= 256:
                b = bits(9)
            c = bits(9)
            while c >= 256:
                c = bits(9)
            d = bits(8)
            while d >= 254:
                d = bits(8)
            a = bytes((_PUBLIC_FIRST_OCTETS[i], b, c, d + 1))
            if self._take(a):
                return a

    def local(self) -> bytes:
        while True:
            a = bytes(
                (
                    10,
                    self.rng.randrange(1, 255),
                    self.rng.randrange(256),
                    self.rng.randrange(2, 255),
                )
            )
            if self._take(a):
                return a


# -- one client start-up ------------------------------------------------------------------


class Startup:
    """Builds the events of one Skype client start-up (and what follows it)."""

    def __init__(
        self,
        rng: random.Random,
        addrs: Addresses,
        cond: Conditions,
        client: bytes,
        port: int,
        update_server: bytes,
        login_servers: list[bytes],
    ) -> None:
        self.rng, self.addrs, self.cond = rng, addrs, cond
        self.client, self.port = client, port
        self.public_ip = addrs.public() if cond.nat else client
        self.update_server = update_server
        self.login_servers = login_servers
        self.events: list[Event] = []
        self.ident = rng.getrandbits(16)

    def _udp(
        self, t: float, to_peer: bool, peer: bytes, pport: int, payload: bytes, conn: Conn
    ) -> None:
        if to_peer:
            f = udp_frame(self.client, self.port, peer, pport, payload)
        else:
            f = udp_frame(peer, pport, self.client, self.port, payload)
        self.events.append((t, f, conn))

    def _session(self, peer: bytes, pport: int, stage: str) -> tuple[TcpSession, Conn]:
        s = TcpSession(
            self.client,
            self.rng.randint(1025, 65000),
            peer,
            pport,
            self.rng.getrandbits(31),
            self.rng.getrandbits(31),
        )
        return s, Conn("tcp", self.client, s.cport, peer, pport, stage, self.client)

    def _emit(
        self, t: float, frames: list[tuple[bool, bytes]], conn: Conn, gap: float = 0.03
    ) -> float:
        for i, (_, f) in enumerate(frames):
            self.events.append((t + i * gap, f, conn))
        return t + len(frames) * gap

    def _tcp(
        self,
        t: float,
        peer: bytes,
        pport: int,
        stage: str,
        exchange: list[tuple[bool, bytes]],
        gap: float = 0.03,
    ) -> float:
        s, conn = self._session(peer, pport, stage)
        frames = [*s.handshake(), *(s.send(frm, data) for frm, data in exchange), *s.close()]
        return self._emit(t, frames, conn, gap)

    def _attempt(self, t: float, peer: bytes, pport: int) -> float:
        """A SYN that the firewall swallows, retried once: no payload, nothing to detect."""
        cport = self.rng.randint(1025, 65000)
        conn = Conn("tcp", self.client, cport, peer, pport, UNOBSERVABLE, self.client)
        seq = self.rng.getrandbits(31)
        for k in (0.0, 3.0):
            self.events.append(
                (t + k, tcp_frame(self.client, cport, peer, pport, seq, 0, SYN), conn)
            )
        return t + 6.0

    def _reset_after(self, t: float, peer: bytes, pport: int, stage: str, first: bytes) -> float:
        """Handshake, one client message, then a RST from the network."""
        s, conn = self._session(peer, pport, stage)
        return self._emit(t, [*s.handshake(), s.send(True, first), s.reset()], conn)

    def _u1_size(self) -> int:
        return 18 if self.cond.version == "1.4" else self.rng.randint(18, 37)

    def _u4_size(self) -> int:
        return (
            self.rng.choice((18, 51, 53))
            if self.cond.version == "1.4"
            else self.rng.randint(20, 80)
        )

    def run(self, t: float, knows_public_ip: bool = False) -> None:
        rng, cond = self.rng, self.cond
        if cond.firewall_all:
            self._run_blocked(t)
            return
        # 1. version check over HTTP
        t = self._tcp(
            t,
            self.update_server,
            80,
            "version_check",
            [
                (True, m.version_check(rng, "1.4.0.84" if cond.version == "1.4" else "2.0.0.103")),
                (False, m.version_reply("1.4.0.84")),
            ],
        )
        # 2. UDP probes to the host cache, from the one Skype port
        sns = [(self.addrs.public(), rng.randint(1025, 65000)) for _ in range(rng.randint(8, 12))]
        t += 0.3
        answered = not cond.udp_blocked
        for k, (sn, sport) in enumerate(sns):
            conn = Conn("udp", self.client, self.port, sn, sport, "probe", self.client)
            self.ident = (self.ident + 2) & 0xFFFF
            u1 = m.u1(rng, self.ident, self._u1_size())
            tk = t + k * rng.uniform(0.05, 0.2)
            self._udp(tk, True, sn, sport, u1, conn)
            if answered and k == 0 and not knows_public_ip:
                challenge = rng.getrandbits(32).to_bytes(4, "big")
                self._udp(
                    tk + 0.08, False, sn, sport, m.u2(rng, u1, self.public_ip, challenge), conn
                )
                self._udp(tk + 0.09, True, sn, sport, m.u3(rng, u1, challenge, sn), conn)
                self._udp(tk + 0.2, False, sn, sport, m.u4(rng, self._u4_size()), conn)
            elif answered and (k == 0 or rng.random() < 0.4):
                self._udp(tk + 0.08, False, sn, sport, m.u4(rng, self._u4_size()), conn)
            elif k < 3:  # unanswered: resent after 2 s and 4 s more with a new IV
                self._udp(tk + 2.0, True, sn, sport, m.u1_resent(rng, u1), conn)
                self._udp(tk + 6.0, True, sn, sport, m.u1_resent(rng, u1), conn)
        t += len(sns) * 0.2 + (5.5 if cond.udp_blocked else 0.5)
        # 3. TCP to a super node: its own port, else 80 (raw), else 443 (TLS look-alike)
        sn, sport = sns[0]
        if cond.tcp_high_blocked:
            t = self._attempt(t, sn, sport)
            t = self._tcp(
                t,
                sn,
                80,
                "sn_handshake",
                [
                    (True, m.obfuscated(rng, rng.randint(40, 110))),
                    (False, m.obfuscated(rng, rng.randint(40, 110))),
                    (True, m.obfuscated(rng, 8)),
                ],
            )
            sn2 = sns[1][0]
            t = self._tcp(
                t + 0.5,
                sn2,
                443,
                "sn_handshake",
                [
                    (True, m.sslv2_hello(rng)),
                    (False, m.FIXED_SERVER_HELLO),
                    (True, m.obfuscated(rng, rng.randint(24, 70))),
                    (False, m.obfuscated(rng, rng.randint(24, 70))),
                ],
            )
        else:
            t = self._tcp(
                t,
                sn,
                sport,
                "sn_handshake",
                [
                    (True, m.obfuscated(rng, rng.randint(48, 110))),
                    (False, m.obfuscated(rng, rng.randint(48, 110))),
                    (True, m.obfuscated(rng, 8)),
                    (False, m.obfuscated(rng, rng.randint(20, 60))),
                ],
            )
        # 4. login L1-L4
        ls = rng.choice(self.login_servers)
        login = [
            (True, m.L1),
            (False, m.L2),
            (True, m.login_l3(rng, rng.randint(200, 330))),
            (False, m.login_l4(rng, rng.randint(16, 222))),
            (True, m.login_record(rng, 20)),
            (False, m.login_record(rng, 60)),
        ]
        if cond.login_restricted:
            # A DPI firewall lets the handshake through, then resets the connection as
            # soon as it sees L1; the client falls back to 443.
            t = self._reset_after(t + 0.5, ls, 33033, "login", m.L1)
            t = self._tcp(t + 1.0, ls, 443, "login", login)
        elif cond.tcp_high_blocked:
            t = self._attempt(t + 0.5, ls, 33033)
            t = self._tcp(t, ls, 443, "login", login)
        else:
            t = self._tcp(t + 0.5, ls, 33033, "login", login)
        if cond.known_nodes and not knows_public_ip:
            t = self._known_nodes(t, sns[0], ls)
        # 5. a call: end-to-end voice from the Skype port
        if cond.call and not cond.udp_blocked:
            peer, pport = self.addrs.public(), rng.randint(1025, 65000)
            conn = Conn("udp", self.client, self.port, peer, pport, "media", self.client)
            out = udp_flow(self.client, self.port, peer, pport)
            back = udp_flow(peer, pport, self.client, self.port)
            add = self.events.append
            t += 2.0
            for i in range(rng.randint(150, 250)):
                add((t + i * 0.02, out(m.voice_frame(rng, rng.randint(30, 70))), conn))
                add((t + i * 0.02 + 0.007, back(m.voice_frame(rng, rng.randint(30, 70))), conn))

    def _run_blocked(self, t: float) -> None:
        """A start-up behind a firewall that drops everything to the outside.  The version
        check's SYN goes unanswered; the one Skype port probes a dozen or more super nodes
        with U1s numbered by one counter (+2 a message, as real captures show), sent in
        parallel so neighbours may swap, each resent once or twice with the same id and CRC;
        then the TCP fallback to two probed super nodes.  No U2, no handshake, no login."""
        rng = self.rng
        t = self._attempt(t, self.update_server, 80)
        sns = [(self.addrs.public(), rng.randint(1025, 65000)) for _ in range(rng.randint(12, 16))]
        last = t
        for k, (sn, sport) in enumerate(sns):
            conn = Conn("udp", self.client, self.port, sn, sport, "probe", self.client)
            self.ident = (self.ident + 2) & 0xFFFF
            u1 = m.u1(rng, self.ident, self._u1_size())
            tk = t + k * 0.12 + rng.uniform(0.0, 0.15)
            self._udp(tk, True, sn, sport, u1, conn)
            self._udp(tk + 2.0, True, sn, sport, m.u1_resent(rng, u1), conn)
            if rng.random() < 0.5:
                self._udp(tk + 6.0, True, sn, sport, m.u1_resent(rng, u1), conn)
            last = max(last, tk)
        t = self._syn_chain(last + rng.uniform(2.0, 3.0), *sns[0])
        self._syn_chain(t + rng.uniform(1.0, 2.0), *sns[1])

    def _syn_chain(self, t: float, peer: bytes, pport: int) -> float:
        """The TCP fallback to one super node, every SYN swallowed: its own port, then 443,
        then 80, 1-1.4 s apart, each retried once on its source port 3 s later.  All three
        start within 3 s of the first: Zeek ends an unanswered SYN's connection 5 s after
        it (tcp_attempt_delay) and judges it then, when the fallback must already be seen."""
        rng = self.rng
        for port in (pport, 443, 80):
            cport = rng.randint(1025, 65000)
            conn = Conn("tcp", self.client, cport, peer, port, "sn_handshake", self.client)
            syn = tcp_frame(self.client, cport, peer, port, rng.getrandbits(31), 0, SYN)
            self.events.append((t, syn, conn))
            self.events.append((t + 3.0, syn, conn))
            t += rng.uniform(1.0, 1.4)
        return t

    def _known_nodes(self, t: float, sn: tuple[bytes, int], login_server: bytes) -> float:
        """After login, opaque TCP (RC4 from byte 0) to nodes that earlier connections
        proved: the login server's ip:port again, the login server on a port the client
        never probed (12350), and the super node whose U2 answered, on a port it was never
        probed on."""
        rng = self.rng
        node, probed_port = sn
        other = rng.randint(1025, 65000)
        while other == probed_port:
            other = rng.randint(1025, 65000)
        for peer, port, stage in (
            (login_server, 33033, "login"),
            (login_server, 12350, "login"),
            (node, other, "sn_handshake"),
        ):
            t = self._tcp(
                t + 0.5,
                peer,
                port,
                stage,
                [
                    (True, m.opaque(rng, rng.randint(40, 120))),
                    (False, m.opaque(rng, rng.randint(40, 120))),
                ],
            )
        return t


def supernode_relay(
    rng: random.Random, addrs: Addresses, node: bytes, node_port: int, t: float
) -> list[Event]:
    """An outside client probing a local super node, then connecting to it over TCP."""
    outside, oport = addrs.public(), rng.randint(1025, 65000)
    conn = Conn("udp", outside, oport, node, node_port, "probe", outside)
    u1 = m.u1(rng, rng.getrandbits(16))
    challenge = rng.getrandbits(32).to_bytes(4, "big")
    events: list[Event] = [
        (t, udp_frame(outside, oport, node, node_port, u1), conn),
        (
            t + 0.05,
            udp_frame(node, node_port, outside, oport, m.u2(rng, u1, outside, challenge)),
            conn,
        ),
    ]
    s = TcpSession(
        outside, rng.randint(1025, 65000), node, node_port, rng.getrandbits(31), rng.getrandbits(31)
    )
    tconn = Conn("tcp", outside, s.cport, node, node_port, "sn_handshake", outside)
    frames = [
        *s.handshake(),
        s.send(True, m.obfuscated(rng, 60)),
        s.send(False, m.obfuscated(rng, 80)),
        *s.close(),
    ]
    events += [(t + 1.0 + i * 0.03, f, tconn) for i, (_, f) in enumerate(frames)]
    return events


def supernode_visitors(
    rng: random.Random, addrs: Addresses, node: bytes, node_port: int, t: float
) -> list[Event]:
    """Later visitors of a local super node already proven by its NACKs: a scanner whose
    GET gets Skype's bare 404, a peer that connects over TCP without probing first, and a
    peer whose datagram the node leaves unanswered."""
    events: list[Event] = []
    for k, (request, reply) in enumerate(
        (
            (b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 404 Not Found\r\n\r\n"),
            (m.obfuscated(rng, 44), m.obfuscated(rng, 61)),
        )
    ):
        visitor = addrs.public()
        s = TcpSession(
            visitor,
            rng.randint(1025, 65000),
            node,
            node_port,
            rng.getrandbits(31),
            rng.getrandbits(31),
        )
        conn = Conn("tcp", visitor, s.cport, node, node_port, "sn_handshake", node)
        frames = [*s.handshake(), s.send(True, request), s.send(False, reply), *s.close()]
        events += [(t + k * 2.0 + i * 0.03, f, conn) for i, (_, f) in enumerate(frames)]
    peer, pport = addrs.public(), rng.randint(1025, 65000)
    conn = Conn("udp", peer, pport, node, node_port, "probe", node)
    events.append(
        (t + 5.0, udp_frame(peer, pport, node, node_port, m.u1(rng, rng.getrandbits(16), 26)), conn)
    )
    return events


# -- scheduling and writing ---------------------------------------------------------------

Session = tuple[float, Callable[[], list[Event]]]


def _client_sessions(
    name: str, cond: Conditions, opts: SynthOptions, rng: random.Random, addrs: Addresses
) -> Iterator[Session]:
    update_server = addrs.public()
    login_servers = [addrs.public() for _ in range(4)]
    span = max(1.0, opts.duration - 40.0)
    if name == "local-supernode":
        node, node_port = addrs.local(), rng.randint(1025, 65000)
        starts = sorted(rng.uniform(0, span) for _ in range(max(opts.clients, 6)))
        for s in starts:
            sub = random.Random(rng.getrandbits(64))
            yield (
                EPOCH + s,
                (lambda sub=sub, s=s: supernode_relay(sub, addrs, node, node_port, EPOCH + s)),
            )
        last = starts[-1] + 5.0
        sub = random.Random(rng.getrandbits(64))
        yield EPOCH + last, (lambda: supernode_visitors(sub, addrs, node, node_port, EPOCH + last))
        return
    starts = sorted(rng.uniform(0, span) for _ in range(opts.clients))
    for s in starts:
        sub = random.Random(rng.getrandbits(64))
        client = addrs.local()
        port = sub.randint(1025, 65000)

        def build(sub=sub, s=s, client=client, port=port) -> list[Event]:
            st = Startup(sub, addrs, cond, client, port, update_server, login_servers)
            st.run(EPOCH + s)
            if cond.restart:
                st.run(EPOCH + s + min(opts.duration / 2, 600.0), knows_public_ip=True)
            return st.events

        yield EPOCH + s, build


def _background_sessions(
    opts: SynthOptions, rng: random.Random, addrs: Addresses
) -> Iterator[Session]:
    if opts.background <= 0:
        return
    hosts = [RESOLVER] + [addrs.local() for _ in range(20)]
    rate = opts.background / 30.0  # conversations per second; ~30 packets each on average
    t = 0.0
    while True:
        t += -math.log(1.0 - rng.random()) / rate
        if t >= opts.duration:
            return
        sub = random.Random(rng.getrandbits(64))
        yield EPOCH + t, (lambda sub=sub, t=t: background(sub, EPOCH + t, hosts, addrs.public))


# Conversations are merged a window of capture time at a time: a stable sort of everything
# due in the window equals a packet-by-packet heap merge ordered by (time, conversation, index),
# and runs in C instead of one Python step per packet.
WINDOW = 1.0


_ts = itemgetter(0)  # an event's time; in C, as sort keys are called per packet


def _batches(
    name: str, opts: SynthOptions, on_session: Callable[[list[Conn]], None] | None = None
) -> Iterator[list[Event]]:
    """The scenario's events in time order, one window at a time.  ``on_session`` gets each
    conversation's connections (in first-packet order) when the scheduler admits it."""
    if name not in SCENARIOS:
        raise KeyError(name)
    cond = SCENARIOS[name][1]
    rng = random.Random(f"{name}:{opts.seed}")
    addrs = Addresses(random.Random(rng.getrandbits(64)))
    starts = heapq.merge(
        _client_sessions(name, cond, opts, random.Random(rng.getrandbits(64)), addrs),
        _background_sessions(opts, random.Random(rng.getrandbits(64)), addrs),
        key=lambda s: s[0],
    )
    active: list[tuple[list[Event], int]] = []  # admission order, and the next event's index
    nxt = next(starts, None)
    end = 0.0
    while active or nxt is not None:
        if not active:
            end = nxt[0]  # type: ignore[index]  # skip idle time
        end += WINDOW
        while nxt is not None and nxt[0] < end:
            events = sorted(nxt[1](), key=_ts)
            if events:
                if on_session is not None:
                    conns = list(map(itemgetter(2), events))
                    # identity first (C speed), then equality, as first seen
                    on_session(
                        list(dict.fromkeys(dict(zip(map(id, conns), conns, strict=True)).values()))
                    )
                active.append((events, 0))
            nxt = next(starts, None)
        batch: list[Event] = []
        still: list[tuple[list[Event], int]] = []
        for events, i in active:
            j = bisect_left(events, end, lo=i, key=_ts)
            batch += events[i:j]
            if j < len(events):
                still.append((events, j))
        active = still
        batch.sort(key=_ts)
        yield batch


def stream(
    name: str, opts: SynthOptions, on_session: Callable[[list[Conn]], None] | None = None
) -> Iterator[tuple[float, bytes]]:
    """The scenario's frames in time order.  ``on_session`` gets each conversation's
    connections (in first-packet order) when the scheduler admits it."""
    for batch in _batches(name, opts, on_session):
        for ts, frame, _ in batch:
            yield ts, frame


def synthesize(
    name: str, out: str | Path, opts: SynthOptions, progress: Callable[[int], None] | None = None
) -> SynthResult:
    """Write the scenario's capture and its ``.truth.tsv``; same options, same bytes."""
    out = Path(out)
    truth = truth_path(out)
    tmp_pcap = out.with_name(f".{out.name}.tmp")
    tmp_truth = truth.with_name(f".{truth.name}.tmp")
    counts = [0, 0]
    try:
        with PcapWriter(tmp_pcap) as w, open(tmp_truth, "w", encoding="utf-8") as tf:
            tf.write("\t".join(TRUTH_COLUMNS) + "\n")

            def on_session(conns: list[Conn]) -> None:
                for conn in conns:
                    tf.write(conn.row() + "\n")
                    counts[0] += 1
                    counts[1] += conn.stage is not None

            mark = 0
            for batch in _batches(name, opts, on_session):
                w.write_events(batch)
                if progress is not None and w.packets >> 16 != mark:
                    mark = w.packets >> 16
                    progress(w.packets)
            packets = w.packets
        tmp_pcap.replace(out)
        tmp_truth.replace(truth)
    except BaseException:
        tmp_pcap.unlink(missing_ok=True)
        tmp_truth.unlink(missing_ok=True)
        raise
    return SynthResult(out, truth, packets, counts[0], counts[1])


def describe() -> str:
    return "\n".join(f"  {n:<18} {d}" for n, (d, _) in SCENARIOS.items())


__all__ = ["SCENARIOS", "SynthOptions", "SynthResult", "describe", "stream", "synthesize"]
