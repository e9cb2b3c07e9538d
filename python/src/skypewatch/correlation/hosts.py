"""The host-level correlation core: skype.log records in, notices out.

It is a pure, event-driven state machine: ``observe(record)`` and ``advance(now)`` return the
notices that became due, ``flush()`` the ones still pending at the end of input.  Its only
clock is the timestamps of the records it is given, so the same records give the same
notices whether they come from ``skypewatch analyze``, from skype.log files or live from Zeek.

Per client host it gathers the stages seen, the super nodes and login servers reached, the
public address revealed by U2 and the connection uids.  A client qualifies for a notice with
confirmed evidence, or with likely evidence from two different stages; the notice is held
back until ``settle`` seconds after the whole second of the client's latest evidence, so that
later stages of the same start-up land in it (a heap keeps that O(log n)), and there is one
notice per client per session (``session_gap`` of silence ends a session).  An outside
host whose only Skype traffic is with local hosts is not noticed on its own: it is one of the
clients of a local super node, and is named in that notice instead.

It also spots super nodes inside the protected network: a local host that outside clients
probe, or connect to over TCP on its Skype port, from ``sn_min_clients`` different addresses.

What it keeps per host is in :mod:`.sessions`, what its notices say in :mod:`.notices`.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from ..bounded import EVIDENCE, NOISE, PENDING, BoundStats, TieredTable
from ..skypelog import CONFIDENCE_RANK, Confidence, Notice, PeerRole, SkypeRecord, Stage
from .localnets import DEFAULT_LOCAL_NETS, LocalNets
from .notices import client_notice, node_notice
from .sessions import MAX_KEPT, MAX_UIDS, ClientSession, NodeCandidate, note

_LIKELY = CONFIDENCE_RANK[Confidence.LIKELY]
_CONFIRMED = CONFIDENCE_RANK[Confidence.CONFIRMED]


@dataclass(frozen=True, slots=True)
class HostCorrelatorOptions:
    settle: float = 120.0
    """Seconds of quiet after a client qualifies before its notice is raised."""
    session_gap: float = 3600.0
    """Seconds without evidence that end a client's session; a later one may notice again."""
    sn_min_clients: int = 5
    """Distinct outside clients that make a local host a reported super node."""
    local_nets: tuple[str, ...] = DEFAULT_LOCAL_NETS
    """Networks counted as inside (Zeek: Site::local_nets; see localnets.py)."""
    max_hosts: int = 100_000
    """Upper bound on tracked clients, and on super-node candidates.  When full, a host with
    weak evidence only makes room first (least recent first); a host with a pending notice
    or likely evidence goes only for another of its kind, and that loss is reported."""


@dataclass(slots=True)
class HostCorrelatorStats:
    records: int = 0
    notices: int = 0
    bounds: BoundStats = field(default_factory=BoundStats)
    early: int = 0
    """Notices raised before their settle time because their host had to leave a full table."""

    @property
    def evicted(self) -> int:
        """Entries a full table gave up (displaced or refused, noise or not)."""
        b = self.bounds
        return b.evicted + b.refused + b.lost


class HostCorrelator:
    def __init__(self, options: HostCorrelatorOptions | None = None) -> None:
        self.options = options or HostCorrelatorOptions()
        self._local = LocalNets(self.options.local_nets)
        # noise, evidence, pending notice (bounded.py); a pending notice that must leave is
        # raised at once instead (into _early, handed out with the next notices)
        self._early: list[Notice] = []
        self.stats = HostCorrelatorStats()
        b = self.stats.bounds
        self.clients: TieredTable[str, ClientSession] = TieredTable(
            "client", self.options.max_hosts, 3, on_evict=self._evicted_client, stats=b
        )
        self.nodes: TieredTable[str, NodeCandidate] = TieredTable(
            "super-node candidate",
            self.options.max_hosts,
            3,
            on_evict=self._evicted_node,
            stats=b,
        )
        # (due time, seq, is_node, address) of qualified clients and super-node candidates whose
        # notice is not out yet; an entry is stale when the host has had newer evidence since
        # (a later entry exists then)
        self._due: list[tuple[float, int, bool, str]] = []
        self._seq = 0
        self.now = float("-inf")

    def is_local(self, addr: str) -> bool:
        return addr in self._local

    # -- input -----------------------------------------------------------------------------
    def observe(
        self,
        rec: SkypeRecord,
        duplicate: bool = False,
        ts: float | None = None,
        advance: bool = True,
    ) -> list[Notice]:
        """Take one record.  A *duplicate* (a connection already reported, e.g. once by the
        correlator's own join and once by Zeek) adds its evidence but is not counted again.
        *ts*, when given, stands for ``rec.ts`` (the engine's millisecond clock).  With
        *advance* false the clock stays put: the end of input judges the connections still
        open in no set order, so their records must all be in before any notice is due."""
        self.stats.records += 1
        if ts is None:
            ts = rec.ts
        out = self.advance(ts) if advance and ts > self.now else []
        s = self._session(rec.client, ts, out)
        if s is not None:
            self._add_evidence(s, rec, ts, duplicate)
            # stored (or refreshed) with what it is worth now; a full table of hosts worth
            # more refuses it, and a refused session leaves nothing queued behind
            stored = self.clients.put(rec.client, s, _client_tier(s))
            if stored and not s.notified and s.qualified:
                due = self.due_time(s.last_ts)
                if due != s.queued_due:  # one heap entry per due second, not per record
                    s.queued_due = due
                    self._queue(due, False, rec.client)
        if rec.peer_role in (PeerRole.SUPER_NODE, PeerRole.PEER):
            out.extend(self._observe_node(rec, ts))
        if self._early:
            out.extend(self._early)
            self._early.clear()
        return out

    def _session(self, client: str, ts: float, out: list[Notice]) -> ClientSession | None:
        """The session of *client* that *ts* belongs to, opened or stretched to *ts*; None when
        it was noticed already and the record only keeps it going.  A session that ended
        (``session_gap`` of silence) goes, its notice into *out* if it had one due."""
        clients = self.clients
        s = clients.get(client)
        if s is not None and ts - s.last_ts > self.options.session_gap:
            if s.qualified and not s.notified:
                out.append(self._client_notice(client, s))
            clients.pop(client)
            s = None
        if s is None:
            return ClientSession(ts, ts)  # stored by the caller, with its evidence
        if s.notified:
            clients.put(client, s, EVIDENCE)  # keeps its place as recently used
        if ts < s.first_ts:
            s.first_ts = ts
        if ts > s.last_ts:
            s.last_ts = ts
        return None if s.notified else s

    def _add_evidence(self, s: ClientSession, rec: SkypeRecord, ts: float, duplicate: bool) -> None:
        """What *rec* tells about its client's session: stages, confidence, peers, ports."""
        if not duplicate:
            s.n += 1
            if len(s.uids) < MAX_UIDS:
                s.uids.append(rec.uid)
        if not s.reportable and (self.is_local(rec.client) or not self.is_local(rec.peer)):
            s.reportable = True
        stage = rec.stage
        s.stages.add(stage)
        rank = CONFIDENCE_RANK[rec.confidence]
        if rank >= _LIKELY:
            s.likely_stages.add(stage)
            if rank == _CONFIRMED:
                s.confirmed = True
        if s.best is None or rank > s.best_rank or (rank == s.best_rank and ts < s.best_ts):
            s.best, s.best_rank, s.best_ts = rec, rank, ts
        if rec.answered:
            s.answered = True
        if rec.stage == Stage.PROBE and rec.proto == "udp":
            note(s.probed, rec.peer)
        elif rec.proto == "tcp" and len(s.tcp_ports) < MAX_KEPT:
            s.tcp_ports.setdefault(rec.resp_p)
        role = rec.peer_role
        if role == PeerRole.SUPER_NODE:
            note(s.super_nodes, rec.peer)
        elif role == PeerRole.LOGIN_SERVER:
            note(s.login_servers, rec.peer)
        if rec.client_public_ip:
            note(s.public_ips, rec.client_public_ip)
        if rec.skype_version:
            note(s.versions, rec.skype_version)

    def _observe_node(self, rec: SkypeRecord, ts: float) -> list[Notice]:
        if rec.peer_role == PeerRole.SUPER_NODE and rec.stage == Stage.PROBE:
            node, outside = rec.peer, rec.client
        elif rec.peer_role == PeerRole.PEER and rec.orig_h == rec.peer:
            node, outside = rec.client, rec.peer  # outside host connected to our Skype port
        else:
            return []
        if not self.is_local(node) or self.is_local(outside):
            return []
        c = self.nodes.get(node)
        if c is None or ts - c.last_ts > self.options.session_gap:
            c = NodeCandidate(ts, ts)
        c.last_ts = max(c.last_ts, ts)
        if len(c.clients) < MAX_KEPT:
            c.clients.setdefault(outside)
        if len(c.uids) < MAX_UIDS:
            c.uids.append(rec.uid)
        if not self.nodes.put(node, c, _node_tier(c, self.options.sn_min_clients)):
            return []
        # Like a client's, a relay's notice waits to settle, so that it names every outside
        # client of the start-ups under way whatever order their connections end in.
        if not c.notified and c.qualified(self.options.sn_min_clients):
            due = self.due_time(c.last_ts)
            if due != c.queued_due:
                c.queued_due = due
                self._queue(due, True, node)
        return []

    def _queue(self, due: float, is_node: bool, addr: str) -> None:
        heapq.heappush(self._due, (due, self._seq, is_node, addr))
        self._seq += 1

    def _pending(self, is_node: bool, addr: str, at: float | None) -> bool:
        """Whether the heap entry for *addr* still stands (at *at*, or at all with None)."""
        host = self.nodes.get(addr) if is_node else self.clients.get(addr)
        if host is None or host.notified:
            return False
        return at is None or self.due_time(host.last_ts) == at

    def _raise(self, is_node: bool, addr: str) -> Notice:
        if is_node:
            node = self.nodes.get(addr)
            assert node is not None
            return self._node_notice(addr, node)
        s = self.clients.get(addr)
        assert s is not None
        return self._client_notice(addr, s)

    def advance(self, now: float) -> list[Notice]:
        """Move the clock; return notices whose settle time has passed."""
        if now <= self.now:
            return []
        self.now = now
        out: list[Notice] = []
        due = self._due
        while due and due[0][0] <= now:
            at, _, is_node, addr = heapq.heappop(due)
            if self._pending(is_node, addr, at):
                out.append(self._raise(is_node, addr))
        expired = now - self.options.session_gap
        for addr, s in self.clients.expire(lambda s: s.last_ts < expired):
            if s.qualified and not s.notified:
                out.append(self._client_notice(addr, s))
        for addr, c in self.nodes.expire(lambda c: c.last_ts < expired):
            if c.qualified(self.options.sn_min_clients) and not c.notified:
                out.append(self._node_notice(addr, c))
        if self._early:
            out.extend(self._early)
            self._early.clear()
        return out

    def due_time(self, last_ts: float) -> float:
        """When a qualified client's notice is raised: ``settle`` after the end of the whole
        second of its latest evidence (whole seconds let Zeek keep its queue in buckets)."""
        return math.floor(last_ts) + 1 + self.options.settle

    def flush(self) -> list[Notice]:
        """End of input: every notice still waiting, oldest evidence first."""
        waiting = {(is_node, addr) for _, _, is_node, addr in self._due}
        out = [
            self._raise(is_node, addr)
            for is_node, addr in waiting
            if self._pending(is_node, addr, None)
        ]
        self._due.clear()
        return sorted(out, key=lambda n: (n.ts, n.src, n.note))

    # -- output ----------------------------------------------------------------------------
    def _node_notice(self, node: str, c: NodeCandidate) -> Notice:
        self.stats.notices += 1
        return node_notice(node, c, self.options.session_gap)

    def _client_notice(self, addr: str, s: ClientSession) -> Notice:
        self.stats.notices += 1
        return client_notice(addr, s, self.options.session_gap)

    # -- full tables ------------------------------------------------------------------------
    def _evicted_client(self, addr: str, s: ClientSession) -> None:
        """A client that must leave a full table: a pending notice is raised now (earlier
        than its settle time, so later stages may miss it) rather than lost."""
        if s.qualified and not s.notified:
            self.stats.early += 1
            self._early.append(self._client_notice(addr, s))

    def _evicted_node(self, node: str, c: NodeCandidate) -> None:
        if c.qualified(self.options.sn_min_clients) and not c.notified:
            self.stats.early += 1
            self._early.append(self._node_notice(node, c))


def _client_tier(s: ClientSession) -> int:
    if s.notified:
        return EVIDENCE  # its notice is out; the session only suppresses a second one
    if s.qualified:
        return PENDING
    return EVIDENCE if s.likely_stages else NOISE


def _node_tier(c: NodeCandidate, min_clients: int) -> int:
    if c.notified:
        return EVIDENCE
    return PENDING if c.qualified(min_clients) else NOISE
