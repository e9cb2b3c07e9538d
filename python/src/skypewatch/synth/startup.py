"""One Skype client start-up as frames: the version check, the U1-U4 probes with host-cache
fan-out, the TCP super-node handshake with its 80/443 fallbacks, login L1-L4 and an optional
call, each message built from the published layouts (docs/signatures.md#message-layouts)."""

from __future__ import annotations

import random

from . import messages as m
from .addresses import Addresses
from .conditions import Conditions
from .frames import SYN, TcpSession, tcp_frame, udp_flow, udp_frame
from .truth import UNOBSERVABLE, Conn, Event


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
        if self.cond.firewall_all:
            self._run_blocked(t)
            return
        t = self._version_check(t)
        t, sns = self._probes(t, knows_public_ip)
        t = self._sn_handshake(t, sns)
        t, ls = self._login(t)
        if self.cond.known_nodes and not knows_public_ip:
            t = self._known_nodes(t, sns[0], ls)
        if self.cond.call and not self.cond.udp_blocked:
            self._call(t)

    def _version_check(self, t: float) -> float:
        """The HTTP version check at every start."""
        rng, cond = self.rng, self.cond
        return self._tcp(
            t,
            self.update_server,
            80,
            "version_check",
            [
                (True, m.version_check(rng, "1.4.0.84" if cond.version == "1.4" else "2.0.0.103")),
                (False, m.version_reply("1.4.0.84")),
            ],
        )

    def _probes(self, t: float, knows_public_ip: bool) -> tuple[float, list[tuple[bytes, int]]]:
        """U1s to the host cache from the one Skype port; U2-U4 where UDP gets through."""
        rng, cond = self.rng, self.cond
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
        return t, sns

    def _sn_handshake(self, t: float, sns: list[tuple[bytes, int]]) -> float:
        """TCP to a super node: its own port, else 80 (raw), else 443 (TLS look-alike)."""
        rng, cond = self.rng, self.cond
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
        return t

    def _login(self, t: float) -> tuple[float, bytes]:
        """Login L1-L4 with one of the login servers."""
        rng, cond = self.rng, self.cond
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
        return t, ls

    def _call(self, t: float) -> None:
        """A call after login: end-to-end voice from the Skype port."""
        rng = self.rng
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
