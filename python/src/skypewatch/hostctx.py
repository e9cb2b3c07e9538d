"""What the analyser remembers across connections, with expiry and a size bound.

* ``probes``: (client, peer, peer_port) a client sent a U1-shaped datagram to, for the TCP
  correlations SKT-5/SKT-6 (Skype uses the same port number for TCP and UDP).
* ``endpoints``: UDP (address, port) pairs proven to speak Skype by a strong signature, plus
  per-endpoint fan-out bookkeeping (SKH-1).  Every UDP flow on a proven endpoint is Skype.
* ``confirmed``: hosts with confirmed evidence, which raise the confidence of their other
  connections ("confidence rises with independent stages").

Each table is an insertion-ordered dict refreshed on use, so expiry and eviction pop from the
front in O(1).  Evictions are counted so a flood shows up in the summary rather than as
unbounded memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

Addr = bytes


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
    """Upper bound per table; the oldest entries are evicted beyond it."""


@dataclass(slots=True)
class Endpoint:
    last_seen: float
    proven: bool = False
    fanout: bool = False
    flows: int = 0
    u1_flows: int = 0
    recent: OrderedDict[Addr, float] = field(default_factory=OrderedDict)


class HostContext:
    def __init__(self, options: HostOptions | None = None) -> None:
        self.options = options or HostOptions()
        self.probes: OrderedDict[tuple[Addr, Addr, int], float] = OrderedDict()
        self.probed_hosts: OrderedDict[tuple[Addr, Addr], float] = OrderedDict()
        self.endpoints: OrderedDict[tuple[Addr, int], Endpoint] = OrderedDict()
        self.confirmed: OrderedDict[Addr, float] = OrderedDict()
        self.evictions = 0

    # -- updates -------------------------------------------------------------------------
    def note_probe(self, ts: float, client: Addr, peer: Addr, peer_port: int) -> None:
        self._put(self.probes, (client, peer, peer_port), ts)
        self._put(self.probed_hosts, (client, peer), ts)

    def note_new_flow(self, ts: float, addr: Addr, port: int, peer: Addr, u1_shaped: bool) -> None:
        """Fan-out bookkeeping for the first datagram of a UDP flow that (addr, port) started.

        Only ports that have sent a U1-shaped datagram are tracked, so the table holds the
        few candidates rather than every UDP client on the network."""
        if not u1_shaped and (addr, port) not in self.endpoints:
            return
        ep = self._endpoint(ts, addr, port)
        ep.flows += 1
        if not u1_shaped:
            return
        ep.u1_flows += 1
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

    def prove_endpoint(self, ts: float, addr: Addr, port: int) -> None:
        self._endpoint(ts, addr, port).proven = True

    def confirm_host(self, ts: float, addr: Addr) -> None:
        self._put(self.confirmed, addr, ts)

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
        o = self.options
        for table, horizon in (
            (self.probes, now - o.probe_tcp_window),
            (self.probed_hosts, now - o.probe_tcp_window),
            (self.confirmed, now - o.endpoint_idle),
        ):
            while table and next(iter(table.values())) < horizon:
                table.popitem(last=False)
        horizon = now - o.endpoint_idle
        eps = self.endpoints
        while eps and next(iter(eps.values())).last_seen < horizon:
            eps.popitem(last=False)

    def _endpoint(self, ts: float, addr: Addr, port: int) -> Endpoint:
        key = (addr, port)
        ep = self.endpoints.get(key)
        if ep is None:
            ep = Endpoint(ts)
            self.endpoints[key] = ep
            if len(self.endpoints) > self.options.max_entries:
                self.endpoints.popitem(last=False)
                self.evictions += 1
        else:
            ep.last_seen = max(ep.last_seen, ts)
            self.endpoints.move_to_end(key)
        return ep

    def _put(self, table: OrderedDict, key, ts: float) -> None:
        table[key] = ts
        table.move_to_end(key)
        if len(table) > self.options.max_entries:
            table.popitem(last=False)
            self.evictions += 1
