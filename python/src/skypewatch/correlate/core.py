"""The host-level correlation core: skype.log records in, notices out.

It is a pure, event-driven state machine: ``observe(record)`` and ``advance(now)`` return the
notices that became due, ``flush()`` the ones still pending at the end of input.  Its only
clock is the timestamps of the records it is given, so the same records give the same
notices whether they come from ``skypewatch analyze``, from skype.log files or live from Zeek.

Per client host it gathers the stages seen, the super nodes and login servers reached, the
public address revealed by U2 and the connection uids.  A client qualifies for a notice with
confirmed evidence, or with likely evidence from two different stages; the notice is held
back ``settle`` seconds so later stages of the same start-up land in it, and there is one
notice per client per session (``session_gap`` of silence ends a session).  An outside
host whose only Skype traffic is with local hosts is not noticed on its own: it is one of the
clients of a local super node, and is named in that notice instead.

It also spots super nodes inside the protected network: a local host that outside clients
probe, or connect to over TCP on its Skype port, from ``sn_min_clients`` different addresses.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field

from ..records import CONFIDENCE_RANK, STAGES, Notice, SkypeRecord

DEFAULT_LOCAL_NETS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "fe80::/10",
)
MAX_LISTED = 10  # addresses named in a notice before "+N more"
MAX_UIDS = 20

CLIENT_DETECTED = "Skype::Client_Detected"
LOGIN_SEQUENCE = "Skype::Login_Sequence"
LOCAL_SUPER_NODE = "Skype::Local_Super_Node"


@dataclass(frozen=True, slots=True)
class CorrelatorOptions:
    settle: float = 120.0
    """Seconds of quiet after a client qualifies before its notice is raised."""
    session_gap: float = 3600.0
    """Seconds without evidence that end a client's session; a later one may notice again."""
    sn_min_clients: int = 5
    """Distinct outside clients that make a local host a reported super node."""
    local_nets: tuple[str, ...] = DEFAULT_LOCAL_NETS
    """Networks counted as inside (Zeek: Site::local_nets)."""
    max_hosts: int = 100_000
    """Upper bound on tracked clients and super-node candidates; the oldest are evicted."""


@dataclass(slots=True)
class ClientSession:
    first_ts: float
    last_ts: float
    stages: set[str] = field(default_factory=set)
    likely_stages: set[str] = field(default_factory=set)
    confirmed: bool = False
    signatures: set[str] = field(default_factory=set)
    super_nodes: dict[str, None] = field(default_factory=dict)
    login_servers: dict[str, None] = field(default_factory=dict)
    public_ips: dict[str, None] = field(default_factory=dict)
    versions: dict[str, None] = field(default_factory=dict)
    uids: list[str] = field(default_factory=list)
    n: int = 0
    best: SkypeRecord | None = None
    notified: bool = False
    reportable: bool = False  # a local client, or one seen talking to outside peers

    @property
    def qualified(self) -> bool:
        return self.reportable and (self.confirmed or len(self.likely_stages) >= 2)


@dataclass(slots=True)
class NodeCandidate:
    first_ts: float
    last_ts: float
    clients: dict[str, None] = field(default_factory=dict)
    uids: list[str] = field(default_factory=list)
    notified: bool = False


@dataclass(slots=True)
class CorrelatorStats:
    records: int = 0
    notices: int = 0
    evicted: int = 0


class Correlator:
    def __init__(self, options: CorrelatorOptions | None = None) -> None:
        self.options = options or CorrelatorOptions()
        self._local = [ipaddress.ip_network(n) for n in self.options.local_nets]
        self._local_cache: dict[str, bool] = {}
        self.clients: OrderedDict[str, ClientSession] = OrderedDict()
        self.nodes: OrderedDict[str, NodeCandidate] = OrderedDict()
        self._pending: dict[str, None] = {}  # qualified clients whose notice is not out yet
        self.now = float("-inf")
        self.stats = CorrelatorStats()

    def is_local(self, addr: str) -> bool:
        known = self._local_cache.get(addr)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(addr)
            local = any(ip in net for net in self._local)
        except ValueError:
            local = False
        if len(self._local_cache) >= 65536:  # bounded: a flood of addresses just re-parses
            self._local_cache.clear()
        self._local_cache[addr] = local
        return local

    # -- input -----------------------------------------------------------------------------
    def observe(self, rec: SkypeRecord, duplicate: bool = False) -> list[Notice]:
        """Take one record.  A *duplicate* (a connection already reported, e.g. once by the
        correlator's own join and once by Zeek) adds its evidence but is not counted again."""
        self.stats.records += 1
        out = self.advance(rec.ts)
        s = self.clients.get(rec.client)
        if s is not None and rec.ts - s.last_ts > self.options.session_gap:
            if s.qualified and not s.notified:
                out.append(self._client_notice(rec.client, s))
            del self.clients[rec.client]
            s = None
        if s is None:
            s = ClientSession(rec.ts, rec.ts)
            self._insert(self.clients, rec.client, s)
        else:
            self.clients.move_to_end(rec.client)
        s.first_ts = min(s.first_ts, rec.ts)
        s.last_ts = max(s.last_ts, rec.ts)
        if not duplicate:
            s.n += 1
        if not s.reportable and (self.is_local(rec.client) or not self.is_local(rec.peer)):
            s.reportable = True
        s.stages.add(rec.stage)
        s.signatures.update(rec.signatures)
        rank = CONFIDENCE_RANK[rec.confidence]
        if rank >= CONFIDENCE_RANK["likely"]:
            s.likely_stages.add(rec.stage)
        if rec.confidence == "confirmed":
            s.confirmed = True
        if s.best is None or (rank, -rec.ts) > (CONFIDENCE_RANK[s.best.confidence], -s.best.ts):
            s.best = rec
        if rec.peer_role == "super_node":
            s.super_nodes.setdefault(rec.peer)
        elif rec.peer_role == "login_server":
            s.login_servers.setdefault(rec.peer)
        if rec.client_public_ip:
            s.public_ips.setdefault(rec.client_public_ip)
        if rec.skype_version:
            s.versions.setdefault(rec.skype_version)
        if len(s.uids) < MAX_UIDS and not duplicate:
            s.uids.append(rec.uid)
        if s.qualified and not s.notified:
            self._pending[rec.client] = None
        out.extend(self._observe_node(rec))
        return out

    def _observe_node(self, rec: SkypeRecord) -> list[Notice]:
        if rec.peer_role == "super_node" and rec.stage == "probe":
            node, outside = rec.peer, rec.client
        elif rec.peer_role == "peer" and rec.orig_h == rec.peer:
            node, outside = rec.client, rec.peer  # outside host connected to our Skype port
        else:
            return []
        if not self.is_local(node) or self.is_local(outside):
            return []
        c = self.nodes.get(node)
        if c is None or rec.ts - c.last_ts > self.options.session_gap:
            c = NodeCandidate(rec.ts, rec.ts)
            self._insert(self.nodes, node, c)
        c.last_ts = max(c.last_ts, rec.ts)
        c.clients.setdefault(outside)
        if len(c.uids) < MAX_UIDS:
            c.uids.append(rec.uid)
        if not c.notified and len(c.clients) >= self.options.sn_min_clients:
            c.notified = True
            self.stats.notices += 1
            return [
                Notice(
                    ts=c.last_ts,
                    note=LOCAL_SUPER_NODE,
                    msg=f"{node} relays legacy Skype: probed by {len(c.clients)} outside clients",
                    sub="clients=" + _listing(c.clients) + " uids=" + ",".join(c.uids),
                    src=node,
                    n=len(c.clients),
                    uid=c.uids[0],
                    uids=tuple(c.uids),
                    suppress_for=self.options.session_gap,
                )
            ]
        return []

    def advance(self, now: float) -> list[Notice]:
        """Move the clock; return notices whose settle time has passed."""
        if now <= self.now:
            return []
        self.now = now
        out: list[Notice] = []
        horizon = now - self.options.settle
        for addr in list(self._pending):
            s = self.clients.get(addr)
            if s is None or s.notified:
                del self._pending[addr]
            elif s.last_ts <= horizon:
                out.append(self._client_notice(addr, s))
        expired = now - self.options.session_gap
        clients = self.clients
        while clients:
            addr, s = next(iter(clients.items()))
            if s.last_ts >= expired:
                break
            if s.qualified and not s.notified:
                out.append(self._client_notice(addr, s))
            del clients[addr]
        nodes = self.nodes
        while nodes and next(iter(nodes.values())).last_ts < expired:
            nodes.popitem(last=False)
        return out

    def flush(self) -> list[Notice]:
        out = [
            self._client_notice(addr, self.clients[addr])
            for addr in list(self._pending)
            if addr in self.clients and not self.clients[addr].notified
        ]
        return sorted(out, key=lambda n: (n.ts, n.src))

    # -- output ----------------------------------------------------------------------------
    def _client_notice(self, addr: str, s: ClientSession) -> Notice:
        s.notified = True
        self._pending.pop(addr, None)
        self.stats.notices += 1
        stages = [st for st in STAGES if st in s.stages]
        note = (
            LOGIN_SEQUENCE
            if "login" in s.likely_stages and s.likely_stages & {"probe", "sn_handshake"}
            else CLIENT_DETECTED
        )
        level = "confirmed" if s.confirmed else "likely"
        parts = []
        if s.public_ips:
            parts.append("public_ip=" + _listing(s.public_ips))
        if s.super_nodes:
            parts.append("super_nodes=" + _listing(s.super_nodes))
        if s.login_servers:
            parts.append("login_servers=" + _listing(s.login_servers))
        if s.versions:
            parts.append("version=" + _listing(s.versions))
        parts.append(
            "uids=" + ",".join(s.uids) + (f"(+{s.n - len(s.uids)})" if s.n > len(s.uids) else "")
        )
        best = s.best
        assert best is not None
        return Notice(
            ts=s.last_ts,
            note=note,
            msg=f"{addr} runs legacy Skype ({level}): stages {', '.join(stages)};"
            f" {s.n} connections",
            sub=" ".join(parts),
            src=addr,
            n=s.n,
            uid=best.uid,
            conn=(best.orig_h, best.orig_p, best.resp_h, best.resp_p, best.proto),
            uids=tuple(s.uids),
            suppress_for=self.options.session_gap,
        )

    def _insert(self, table: OrderedDict, key: str, value) -> None:
        table[key] = value
        if len(table) > self.options.max_hosts:
            table.popitem(last=False)
            self.stats.evicted += 1


def _listing(items: dict[str, None]) -> str:
    names = list(items)
    extra = len(names) - MAX_LISTED
    return ",".join(names[:MAX_LISTED]) + (f"(+{extra})" if extra > 0 else "")
