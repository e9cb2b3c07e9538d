"""The correlation engine that both ``skypewatch correlate`` modes drive.

Inputs: skype.log records (Zeek's Skype::detection), probes (Skype::probe_seen) and TCP
sessions (Skype::tcp_session_seen, or conn.log rows offline).  A TCP session from a client to
a peer it probed over UDP within ``probe_window`` -- same ip:port, or 80/443 on the same ip
(Skype's fallback) -- becomes a sn_handshake record of its own, unless Zeek already reported
that connection; every record then goes through the correlation core (core.py), which raises
the notices.

The engine is pure and event-driven: no clock but the events' timestamps, which it takes at
millisecond precision because that is what Zeek's WebSocket API carries, so a live run and an
offline run over the same events give the same notices.  State is bounded by time and by
count, by value (bounded.py): the probes of a client with likely-or-better evidence outlast
a flood of probes from hosts with none; what it drops, it counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bounded import EVIDENCE, NOISE, BoundStats, TieredTable
from ..skypelog import Confidence, Notice, PeerRole, SkypeRecord, Stage
from .events import ProbeEvent, TcpEvent
from .hosts import HostCorrelator, HostCorrelatorOptions

FALLBACK_PORTS = (80, 443)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    probe_window: float = 60.0
    """Seconds after a probe during which TCP from the client to the peer is its follow-up."""
    max_probes: int = 200_000
    """Upper bound on remembered (client, peer) probes; when full, probes of clients with
    weak evidence only make room first, least recent first."""
    max_uids: int = 500_000
    """Upper bound on remembered connection uids (for de-duplication)."""
    join_tcp: bool = True
    """Remember probes for the TCP sessions that may follow them.  False when no TCP session
    event will come (skype.log alone): the notices are the same, without the bookkeeping."""
    correlator: HostCorrelatorOptions = field(default_factory=HostCorrelatorOptions)


@dataclass(slots=True)
class EngineStats:
    records: int = 0
    probes: int = 0
    tcp_sessions: int = 0
    joined: int = 0
    duplicates: int = 0
    notices: int = 0
    bounds: BoundStats = field(default_factory=BoundStats)
    """What the full probe and uid tables gave up."""


Input = SkypeRecord | ProbeEvent | TcpEvent


class CorrelationEngine:
    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.core = HostCorrelator(self.options.correlator)
        self.stats = EngineStats()
        # (client, peer) -> {peer_port: ts of the latest probe}
        b = self.stats.bounds
        self._probes: TieredTable[tuple[str, str], dict[int, float]] = TieredTable(
            "probes of", self.options.max_probes, 2, describe=lambda k: k[0], stats=b
        )
        # uids already reported, for de-duplication: all alike, least recent first
        self._uids: TieredTable[str, bool] = TieredTable("uid", self.options.max_uids, 1, stats=b)

    def feed(self, item: Input) -> list[Notice]:
        if isinstance(item, SkypeRecord):
            return self.record(item)
        if isinstance(item, ProbeEvent):
            return self.probe(item)
        return self.tcp_session(item)

    def record(self, rec: SkypeRecord) -> list[Notice]:
        self.stats.records += 1
        ts = _ms(rec.ts)
        if self.options.join_tcp and rec.stage == Stage.PROBE and rec.client == rec.orig_h:
            self._note_probe(ts, rec.client, rec.peer, rec.resp_p)
        duplicate = not self._first_sight(rec.uid)
        self.stats.duplicates += duplicate
        return self._out(self.core.observe(rec, duplicate, ts))

    def probe(self, ev: ProbeEvent) -> list[Notice]:
        self.stats.probes += 1
        ts = _ms(ev.ts)
        self._note_probe(ts, ev.client, ev.peer, ev.peer_port)
        return self._out(self.core.advance(ts))

    def tcp_session(self, ev: TcpEvent) -> list[Notice]:
        self.stats.tcp_sessions += 1
        ts = _ms(ev.ts)
        ports = self._probes.get((ev.client, ev.peer))
        window = self.options.probe_window
        if not ports or ev.uid in self._uids:
            return self._out(self.core.advance(ts))
        probed_at = ports.get(ev.peer_port)
        how = "the ip:port it had probed"
        if probed_at is None and ev.peer_port in FALLBACK_PORTS:
            probed_at = max(ports.values())
            how = f"port {ev.peer_port} of a host it had probed (Skype's fallback)"
        if probed_at is None or not 0 <= ts - probed_at <= window:
            return self._out(self.core.advance(ts))
        self.stats.joined += 1
        self._first_sight(ev.uid)
        rec = SkypeRecord(
            ts=ts,
            uid=ev.uid,
            orig_h=ev.client,
            orig_p=ev.client_port,
            resp_h=ev.peer,
            resp_p=ev.peer_port,
            proto="tcp",
            duration=0.0,
            stage=Stage.SN_HANDSHAKE,
            signatures=frozenset({"probe_then_tcp"}),
            client=ev.client,
            peer=ev.peer,
            peer_role=PeerRole.SUPER_NODE,
            client_public_ip=None,
            skype_version=None,
            confidence=Confidence.LIKELY,
            evidence=f"TCP {ts - probed_at:.1f}s after a UDP probe, to {how} (correlator)",
        )
        return self._out(self.core.observe(rec))

    def tick(self, now: float) -> list[Notice]:
        """Let time pass without an event (live mode, when Zeek is quiet)."""
        return self._out(self.core.advance(_ms(now)))

    def flush(self) -> list[Notice]:
        return self._out(self.core.flush())

    # -- internals --------------------------------------------------------------------------
    def _note_probe(self, ts: float, client: str, peer: str, peer_port: int) -> None:
        key = (client, peer)
        ports = self._probes.get(key) or {}
        if len(ports) >= 64 and peer_port not in ports:  # one peer, many ports: keep recent
            ports.pop(next(iter(ports)))
        ports[peer_port] = max(ts, ports.get(peer_port, ts))
        tier = EVIDENCE if self.core.clients.tier_of(client) >= EVIDENCE else NOISE
        self._probes.put(key, ports, tier)
        horizon = ts - self.options.probe_window
        for _ in self._probes.expire(lambda p: max(p.values()) < horizon):
            pass

    def _first_sight(self, uid: str) -> bool:
        if uid in self._uids:
            return False
        self._uids.put(uid, True)
        return True

    def _out(self, notices: list[Notice]) -> list[Notice]:
        self.stats.notices += len(notices)
        return notices


def _ms(ts: float) -> float:
    """Milliseconds, truncated, as Zeek's WebSocket API writes timestamps."""
    return (round(ts * 1_000_000) // 1000) / 1000
