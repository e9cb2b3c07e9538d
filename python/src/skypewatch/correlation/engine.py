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
count; what it drops, it counts.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from ..skypelog import Confidence, Notice, PeerRole, SkypeRecord, Stage
from .events import ProbeEvent, TcpEvent
from .hosts import HostCorrelator, HostCorrelatorOptions

FALLBACK_PORTS = (80, 443)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    probe_window: float = 60.0
    """Seconds after a probe during which TCP from the client to the peer is its follow-up."""
    max_probes: int = 200_000
    """Upper bound on remembered probes; the oldest are evicted beyond it."""
    max_uids: int = 500_000
    """Upper bound on remembered connection uids (for de-duplication)."""
    correlator: HostCorrelatorOptions = field(default_factory=HostCorrelatorOptions)


@dataclass(slots=True)
class EngineStats:
    records: int = 0
    probes: int = 0
    tcp_sessions: int = 0
    joined: int = 0
    duplicates: int = 0
    notices: int = 0
    evicted: Counter = field(default_factory=Counter)


Input = SkypeRecord | ProbeEvent | TcpEvent


class CorrelationEngine:
    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.core = HostCorrelator(self.options.correlator)
        self.stats = EngineStats()
        # (client, peer) -> {peer_port: ts of the latest probe}
        self._probes: OrderedDict[tuple[str, str], dict[int, float]] = OrderedDict()
        self._uids: OrderedDict[str, None] = OrderedDict()

    def feed(self, item: Input) -> list[Notice]:
        if isinstance(item, SkypeRecord):
            return self.record(item)
        if isinstance(item, ProbeEvent):
            return self.probe(item)
        return self.tcp_session(item)

    def record(self, rec: SkypeRecord) -> list[Notice]:
        self.stats.records += 1
        ts = _ms(rec.ts)
        if rec.stage == Stage.PROBE and rec.client == rec.orig_h:
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
        ports = self._probes.get(key)
        if ports is None:
            ports = self._probes[key] = {}
            if len(self._probes) > self.options.max_probes:
                self._probes.popitem(last=False)
                self.stats.evicted["probes"] += 1
        else:
            self._probes.move_to_end(key)
        if len(ports) >= 64 and peer_port not in ports:  # one peer, many ports: keep recent
            ports.pop(next(iter(ports)))
        ports[peer_port] = max(ts, ports.get(peer_port, ts))
        horizon = ts - self.options.probe_window
        probes = self._probes
        while probes:
            oldest = next(iter(probes.values()))
            if max(oldest.values()) >= horizon:
                break
            probes.popitem(last=False)

    def _first_sight(self, uid: str) -> bool:
        if uid in self._uids:
            return False
        self._uids[uid] = None
        if len(self._uids) > self.options.max_uids:
            self._uids.popitem(last=False)
            self.stats.evicted["uids"] += 1
        return True

    def _out(self, notices: list[Notice]) -> list[Notice]:
        self.stats.notices += len(notices)
        return notices


def _ms(ts: float) -> float:
    """Milliseconds, truncated, as Zeek's WebSocket API writes timestamps."""
    return (round(ts * 1_000_000) // 1000) / 1000
