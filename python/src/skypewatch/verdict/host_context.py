"""What the analyser remembers across connections, with expiry and a size bound.

* ``probes``: (client, peer, peer_port) a client sent a U1-shaped datagram to, for the TCP
  correlations (docs/signatures.md#tcp_to_probed_peer: Skype uses the same port number for
  TCP and UDP).
* ``endpoints``: UDP (address, port) pairs proven to speak Skype by a strong signature, plus
  per-endpoint fan-out bookkeeping (docs/signatures.md#probe_fanout).  Every UDP flow on a
  proven endpoint is Skype.
* ``confirmed``: hosts with confirmed evidence, which raise the confidence of their other
  connections ("confidence rises with independent stages").
* per endpoint, the run of U1 ids it sent to new peers: Skype numbers its messages with one
  counter, so the probes of a start-up carry ids a small step apart (``probe_id_sequence``).
* ``chains``: a probing client's TCP attempts to one peer, its Skype port then 443 and 80
  (the start-up's TCP fallback, ``tcp_fallback_chain``), answered or not.
* ``nodes``: super nodes and login servers proven by a strong signature, by ip:port and by
  host, for the opaque TCP that other connections send them (``tcp_to_known_node``).

Each table is a :class:`~skypewatch.bounded.TieredTable` refreshed on use: per tier an
insertion-ordered dict, so expiry and eviction pop from the front in O(1).  What a host has
shown decides the tier: the entries of a host with likely-or-better evidence (a marked or
confirmed host, a proven endpoint or node) are never displaced by a flood of hosts that
only sent a U1-shaped datagram; what a full table gave up is counted (``bounds``) and, when
it was evidence, named for the summary.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..bounded import EVIDENCE, NOISE, BoundStats, TieredTable

Addr = bytes
K = TypeVar("K")
V = TypeVar("V")
# How much earlier than its exact time an expiry check runs: far above the rounding of
# now - window at epoch magnitudes (a few 1e-7 s), so a skipped check never misses one.
_DUE_MARGIN = 1e-3


def _value(entry: float) -> float:
    return entry


def _first(entry: tuple[float, str]) -> float:
    return entry[0]


def _chain_start(entry: Chain) -> float:
    return entry.first_ts


def _last_seen(entry: Endpoint) -> float:
    return entry.last_seen


@dataclass(frozen=True, slots=True)
class HostOptions:
    probe_tcp_window: float = 60.0
    """Seconds after a UDP probe during which TCP to the same peer counts as the follow-up."""
    fanout_window: float = 60.0
    """Seconds over which one UDP port's distinct U1 destinations are counted."""
    fanout_min_peers: int = 5
    """Distinct destinations of U1-shaped datagrams from one port that make a fan-out."""
    fanout_min_share: float = 0.8
    """Share of a port's new flows that must open U1-shaped (uTP and DHT stay far below)."""
    endpoint_idle: float = 3600.0
    """Seconds a proven Skype endpoint is remembered after its last use."""
    max_entries: int = 200_000
    """Upper bound per table.  When full, entries of hosts with weak evidence only make room
    first (least recently used first); a host with likely-or-better evidence loses an entry
    only to another such host, and that loss is reported."""
    id_seq_min: int = 8
    """U1s to distinct peers whose ids climb in small steps that make an id sequence."""
    id_seq_max_step: int = 256
    """Largest step between the ids of consecutive U1s to new peers (seen: 1-39)."""
    chain_window: float = 30.0
    """Seconds from a client's TCP attempt on a peer's Skype port to its 443/80 fallback."""


@dataclass(slots=True)
class Endpoint:
    last_seen: float
    proven: bool = False
    fanout: bool = False
    flows: int = 0
    u1_flows: int = 0
    recent: OrderedDict[Addr, float] = field(default_factory=OrderedDict)
    # the ids of its recent U1s to new peers: peer -> (id, when)
    id_sequence: bool = False
    ids: dict[Addr, tuple[int, float]] = field(default_factory=dict)


@dataclass(slots=True)
class Chain:
    """A client's TCP attempts to one peer: the first on its Skype port, then 443/80."""

    first_ts: float
    first_port: int
    fallback: bool = False  # 443 or 80 followed within the window


def id_run_length(ids: list[int], max_step: int) -> int:
    """The most *ids* (sorted, 16-bit) that form one run of steps 1..max_step, the run
    allowed to wrap from 65535 to 0."""
    n = len(ids)
    if n < 2:
        return n
    best = run = 1
    # twice round the circle, so that a run across the wrap is seen whole
    for k in range(1, 2 * n):
        step = (ids[k % n] - ids[(k - 1) % n]) & 0xFFFF
        run = run + 1 if 0 < step <= max_step else 1
        best = max(best, min(run, n))
    return best


def _ip(addr: Addr) -> str:
    if len(addr) == 4:
        return ".".join(map(str, addr))
    return str(ipaddress.ip_address(addr))


def _host_key(key: tuple) -> str:
    return _ip(key[0])


def _host(addr: Addr) -> str:
    return _ip(addr)


class HostContext:
    def __init__(self, options: HostOptions | None = None) -> None:
        self.options = options or HostOptions()
        limit = self.options.max_entries
        self.bounds = BoundStats()  # every table's, together
        b = self.bounds

        def table(
            name: str,
            worth: Callable[..., Any] | None = None,
            describe: Callable[..., str] = _host_key,
        ) -> TieredTable:
            return TieredTable(name, limit, 2, describe=describe, stats=b, worth=worth)

        # an entry keyed by a host is worth what the host has shown by now
        by_host = self._worth_of_host
        self.probes: TieredTable[tuple[Addr, Addr, int], float] = table("probe from", by_host)
        self.probed_hosts: TieredTable[tuple[Addr, Addr], float] = table("probe from", by_host)
        self.endpoints: TieredTable[tuple[Addr, int], Endpoint] = table(
            "UDP endpoint", self._worth_of_endpoint
        )
        self.confirmed: TieredTable[Addr, float] = table("confirmed host", describe=_host)
        # hosts whose Skype port is proven, fans out or numbers its probes: a Skype client
        self.marked: TieredTable[Addr, float] = table("Skype client", describe=_host)
        self.chains: TieredTable[tuple[Addr, Addr], Chain] = table("TCP chain of", by_host)
        self.nodes: TieredTable[tuple[Addr, int], tuple[float, str]] = table("node")
        self.node_hosts: TieredTable[Addr, tuple[float, str]] = table("node", describe=_host)
        # No table's oldest entry is due before this network time (public: the tracker
        # skips its whole timer sweep before it).  Expiry runs per packet; this makes all
        # but the due ones one comparison.  Anything that may change a tier's oldest entry
        # (the only ones expiry reads) lowers it to that table's new due time: an eviction,
        # a refresh of that entry, a first entry in a tier -- not a refresh of another one.
        self.expiry_due = -math.inf
        # the same per table (expiry_due is their least): a run prunes only the due ones
        self._ages = self._aging()
        self._dues = [-math.inf] * len(self._ages)
        self._age_of = {id(t): i for i, (t, _, _) in enumerate(self._ages)}

    # -- updates -------------------------------------------------------------------------
    @property
    def evictions(self) -> int:
        """Entries the full tables gave up (displaced or refused, noise or not)."""
        b = self.bounds
        return b.evicted + b.refused + b.lost

    def known(self, addr: Addr) -> bool:
        """Whether *addr* showed likely-or-better evidence (its entries are protected)."""
        return addr in self.marked or addr in self.confirmed

    def _worth_of_host(self, key: tuple, _value: object) -> int:
        return EVIDENCE if self.known(key[0]) else NOISE

    def _worth_of_endpoint(self, key: tuple[Addr, int], ep: Endpoint) -> int:
        if ep.proven or ep.fanout or ep.id_sequence or self.known(key[0]):
            return EVIDENCE
        return NOISE

    def note_probe(self, ts: float, client: Addr, peer: Addr, peer_port: int) -> None:
        tier = EVIDENCE if self.known(client) else NOISE
        self._put(self.probes, (client, peer, peer_port), ts, tier)
        self._put(self.probed_hosts, (client, peer), ts, tier)

    def note_new_flow(
        self, ts: float, addr: Addr, port: int, peer: Addr, u1_shaped: bool, ident: int = -1
    ) -> None:
        """Fan-out and id bookkeeping for the first datagram of a UDP flow that (addr, port)
        started; *ident* is a U1-shaped datagram's id (bytes 0-1).

        Only ports that have sent a U1-shaped datagram are tracked, so the table holds the
        few candidates rather than every UDP client on the network."""
        if not u1_shaped and (addr, port) not in self.endpoints:
            return
        ep = self._endpoint(ts, addr, port)
        if ep is None:  # refused: a full table of endpoints worth more
            return
        ep.flows += 1
        if not u1_shaped:
            return
        ep.u1_flows += 1
        if not ep.id_sequence:
            self._id_run(ep, ts, addr, peer, ident)
        if ep.fanout:
            return  # the flag never clears: no more bookkeeping needed
        recent = ep.recent
        recent[peer] = ts
        recent.move_to_end(peer)
        horizon = ts - self.options.fanout_window
        while recent and next(iter(recent.values())) < horizon:
            recent.popitem(last=False)
        if len(recent) > 4 * self.options.fanout_min_peers:
            recent.popitem(last=False)
        o = self.options
        if len(recent) >= o.fanout_min_peers and ep.u1_flows >= o.fanout_min_share * ep.flows:
            ep.fanout = True
            self._put(self.endpoints, (addr, port), ep, EVIDENCE)
            self._put(self.marked, addr, ts, EVIDENCE)

    def _id_run(self, ep: Endpoint, ts: float, addr: Addr, peer: Addr, ident: int) -> None:
        """One counter numbers a client's messages: its probes to new peers within the
        fan-out window carry ids that, sorted, climb in small steps (wrapping at 65536).
        Sorted, not in arrival order: probes go out in parallel, and in a cluster their
        flows reach the workers in no set order."""
        o = self.options
        ids = ep.ids
        ids.pop(peer, None)
        ids[peer] = (ident, ts)
        horizon = ts - o.fanout_window
        for stale in [p for p, (_, t) in ids.items() if t < horizon]:
            del ids[stale]
        while len(ids) > 4 * o.id_seq_min:  # a bounded sample: the oldest go first
            del ids[next(iter(ids))]
        if len(ids) < o.id_seq_min:
            return
        if id_run_length(sorted(i for i, _ in ids.values()), o.id_seq_max_step) >= o.id_seq_min:
            ep.id_sequence = True
            ep.ids = {}
            self._put(self.marked, addr, ts, EVIDENCE)

    def prove_endpoint(self, ts: float, addr: Addr, port: int) -> None:
        ep = self._endpoint(ts, addr, port, EVIDENCE)
        if ep is not None:
            ep.proven = True
        self._put(self.marked, addr, ts, EVIDENCE)

    def prove_node(self, ts: float, addr: Addr, port: int, role: str) -> None:
        """A strong signature showed *addr*:*port* to be a super node or login server."""
        self._put(self.nodes, (addr, port), (ts, role), EVIDENCE)
        self._put(self.node_hosts, addr, (ts, role), EVIDENCE)

    def note_attempt(self, ts: float, client: Addr, peer: Addr, port: int) -> None:
        """A TCP connection attempt (the originator's SYN).  From a client with probe
        evidence for the peer, one on the peer's Skype port (the port it probed, or any
        high port) starts a chain; 443 or 80 within chain_window continues it."""
        key = (client, peer)
        chain = self.chains.get(key)
        if chain is not None and ts - chain.first_ts <= self.options.chain_window:
            if port in (443, 80):
                chain.fallback = True
            return
        if port in (443, 80) or not (port >= 1024 or self.probed(ts, client, peer, port)):
            return
        if not (self.probed_host(ts, client, peer) or client in self.marked):
            return
        self._put(self.chains, key, Chain(ts, port), EVIDENCE if self.known(client) else NOISE)

    # -- queries for the TCP fallback and known nodes ---------------------------------------
    def in_chain(self, conn_ts: float, client: Addr, peer: Addr, port: int) -> bool:
        chain = self.chains.get((client, peer))
        return (
            chain is not None
            and chain.fallback
            and port in (chain.first_port, 443, 80)
            and 0 <= conn_ts - chain.first_ts <= self.options.chain_window
        )

    def skype_client(self, ts: float, host: Addr, peer: Addr) -> bool:
        """Whether *host* showed itself a Skype client: a proven, fanning-out or counting
        Skype port, confirmed evidence, or a probe to *peer* just before."""
        return host in self.marked or host in self.confirmed or self.probed_host(ts, host, peer)

    def node(self, addr: Addr, port: int) -> str | None:
        hit = self.nodes.get((addr, port))
        return hit[1] if hit is not None else None

    def node_host(self, addr: Addr) -> str | None:
        hit = self.node_hosts.get(addr)
        return hit[1] if hit is not None else None

    def confirm_host(self, ts: float, addr: Addr) -> None:
        self._put(self.confirmed, addr, ts, EVIDENCE)

    # -- queries -------------------------------------------------------------------------
    def probed(self, ts: float, client: Addr, peer: Addr, peer_port: int) -> bool:
        t = self.probes.get((client, peer, peer_port))
        return t is not None and 0 <= ts - t <= self.options.probe_tcp_window

    def probed_host(self, ts: float, client: Addr, peer: Addr) -> bool:
        t = self.probed_hosts.get((client, peer))
        return t is not None and 0 <= ts - t <= self.options.probe_tcp_window

    def endpoint(self, addr: Addr, port: int) -> Endpoint | None:
        return self.endpoints.get((addr, port))

    def is_confirmed(self, addr: Addr) -> bool:
        return addr in self.confirmed

    # -- housekeeping --------------------------------------------------------------------
    def expire(self, now: float) -> None:
        if now < self.expiry_due:
            return
        self._expire(now)

    def _aging(self) -> tuple[tuple[TieredTable, float, Callable[[Any], float]], ...]:
        """Every table, the window after which its entries expire, and each entry's time."""
        o = self.options
        return (
            (self.probes, o.probe_tcp_window, _value),
            (self.probed_hosts, o.probe_tcp_window, _value),
            (self.confirmed, o.endpoint_idle, _value),
            (self.marked, o.endpoint_idle, _value),
            (self.nodes, o.endpoint_idle, _first),
            (self.node_hosts, o.endpoint_idle, _first),
            (self.chains, o.endpoint_idle, _chain_start),
            (self.endpoints, o.endpoint_idle, _last_seen),
        )

    def _expire(self, now: float) -> None:
        """Prune the tables that may hold something due by *now*; each one's bound is then
        its oldest entries' earliest due time (first_time: inf when empty)."""
        dues = self._dues
        for i, (table, window, time_of) in enumerate(self._ages):
            if dues[i] <= now:
                if table:
                    horizon = now - window
                    table.prune(lambda v, t=time_of, h=horizon: t(v) < h)  # type: ignore[misc]
                dues[i] = self._table_due(i)
        self.expiry_due = min(dues)

    def _endpoint(self, ts: float, addr: Addr, port: int, tier: int = NOISE) -> Endpoint | None:
        """The endpoint's bookkeeping, created or refreshed; None if a full table refused it."""
        key = (addr, port)
        eps = self.endpoints
        ep = eps.get(key)
        if ep is None:
            ep = Endpoint(ts)
            tier = EVIDENCE if self.known(addr) else tier
            if not self._put(eps, key, ep, tier):
                return None
        else:
            tier = max(tier, self._worth_of_endpoint(key, ep))
            # expiry reads only each tier's oldest entry: a refresh of another one, which
            # moves to the end of its tier, leaves the next due time as it is
            ep.last_seen = max(ep.last_seen, ts)
            self._put(eps, key, ep, tier)
        return ep

    def _put(self, table: TieredTable, key: Any, value: Any, tier: int) -> bool:
        """``table.put``, keeping the expiry bounds; False if a full table refused it (its
        attempt to make room may still have moved entries between tiers: the bound is
        lowered all the same)."""
        front = table.changes_front(key, tier)
        stored = table.put(key, value, tier)
        if front:
            self._front_changed(table)
        return stored

    def _table_due(self, i: int) -> float:
        """When table *i*'s oldest entries are due (inf when empty), less the margin."""
        table, window, time_of = self._ages[i]
        return table.first_time(time_of) + window - _DUE_MARGIN

    def _front_changed(self, table: TieredTable) -> None:
        """A put changed a tier's oldest entry of *table* (after the put): the next due
        time comes down to that table's, if earlier.  The other tables' did not move, and
        the bound was at most theirs."""
        i = self._age_of[id(table)]
        due = self._table_due(i)
        if due < self._dues[i]:
            self._dues[i] = due
            if due < self.expiry_due:
                self.expiry_due = due
