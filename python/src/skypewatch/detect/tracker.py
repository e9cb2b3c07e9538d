"""Connection tracking the way Zeek does it, feeding the signatures.

Connections are keyed by 5-tuple (both orientations point at the same object, so a packet
costs one dictionary lookup).  UDP connections end after ``udp_timeout`` seconds of silence,
TCP ones ``tcp_close_delay`` after a RST or the second FIN, or after ``tcp_timeout`` of
silence (Zeek's defaults), each at the exact time Zeek's timer would end it: the first
packet at or after that time.  Payload is copied only while a connection is still inside
its inspection window; after that a packet only moves counters.  Every finished
connection is judged once and handed to ``on_record`` if a signature fired.

Open connections are bounded (``max_connections``; Zeek has no such bound, and grows): when
the table is full, the least recently opened connection that holds nothing of value ends
early, as if its timer had fired -- a one-sided flow, or one of a host that showed nothing.
A connection that both sides spoke in with payload a signature can see, or of a host with
likely-or-better evidence, ends early only to make room for another such one, and that loss
is counted and named in the summary (bounded.py).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..bounded import EVIDENCE, NOISE, BoundStats, TieredTable
from ..connections.connection import Connection, uid_text
from ..connections.zeekports import zeek_flips
from ..packets.decode import TCP, UDP, Packet
from ..signatures.base import Hit
from ..signatures.login import login_hits
from ..signatures.sn_handshake import handshake_hits
from ..signatures.udp_layout import U1_MIN, U2_LEN, worth_inspecting
from ..signatures.udp_probe import probe_hits, u1_shaped
from ..skypelog import PeerRole, SkypeRecord, Strength
from ..verdict.host_context import HostContext, HostOptions
from ..verdict.judge import host_of_client, judge
from .hits import (
    CTX_LOGIN_SERVER,
    CTX_NODE,
    CTX_NODE_HOST,
    CTX_PROBED_EP,
    CTX_PROBED_HOST,
    CTX_SKYPE_PORT,
    connection_hits,
)

_SYN, _ACK = 0x02, 0x10
_DUE_MARGIN = 1e-3  # seconds; far above the rounding of a time plus a delay at epoch magnitudes
_STRONG_UDP = frozenset(("u1_u2_nack", "u2_public_ip", "u3_resend", "probe_retransmit"))


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    udp_timeout: float = 60.0
    """Zeek's udp_inactivity_timeout."""
    tcp_timeout: float = 300.0
    """Zeek's tcp_inactivity_timeout."""
    tcp_close_delay: float = 5.0
    """Zeek's tcp_close_delay: how long a closed TCP connection lingers."""
    tcp_attempt_delay: float = 5.0
    """Zeek's tcp_attempt_delay: an originator's SYN nobody answered ends the connection
    after this long, so a SYN sent again later opens a new one."""
    max_connections: int = 200_000
    """Open connections tracked at most (see the module's docstring); a flood of one-packet
    flows costs at most this many times the memory of one (~1.1 KB: 200,000 take ~230 MB;
    the host tables' bound, ``HostOptions.max_entries``, is the same number)."""
    host: HostOptions = field(default_factory=HostOptions)


@dataclass(slots=True)
class TrackerStats:
    packets: int = 0
    connections: int = 0
    records: int = 0
    max_open: int = 0
    bounds: BoundStats = field(default_factory=BoundStats)
    """What the full connection table gave up: ended early (``evicted``, ``lost``) or never
    tracked (``refused``: their packets went unanalysed)."""
    untracked_packets: int = 0


Judged = Callable[[Connection, list[Hit], bool], None]
"""A finished connection with hits, and whether its client host is confirmed (read when
it ended): what a verdict needs, for a verdict made elsewhere (``Tracker(on_hits=...)``)."""


class Tracker:
    def __init__(
        self,
        on_record: Callable[[SkypeRecord, float], None],
        options: TrackerOptions | None = None,
        on_hits: Judged | None = None,
        on_udp_flow: Callable[[Connection, HostContext], None] | None = None,
    ) -> None:
        """*on_hits*, if given, takes every finished connection with hits instead of the
        verdict here (and *on_record*): analyze's outputs process judges them.  With
        *on_udp_flow* too, a finished UDP connection with datagrams goes there, with the
        host context as it is then, before its hits are looked for: the outputs process
        makes them (``hits.udp_reads``, ``hits.udp_hits_from``)."""
        self.options = options or TrackerOptions()
        self.on_record = on_record
        self.on_hits = on_hits
        self.on_udp_flow = on_udp_flow
        self.ctx = HostContext(self.options.host)
        self.stats = TrackerStats()
        self._by_key: dict[tuple, Connection] = {}
        # key (the uid's number) -> connection, by what it is worth, least recently opened first
        self._open: TieredTable[int, Connection] = TieredTable(
            "connection",
            self.options.max_connections,
            2,
            describe=self._describe,
            on_evict=self._evicted,
            stats=self.stats.bounds,
            worth=self._worth,
        )
        # (when the inactivity timer is due, tie-breaker, connection), like Zeek's timer
        # queue: a due connection that had packets since is put back at last packet + timeout
        self._idle: list[tuple[float, int, int]] = []  # keys: an ended one is not kept
        self._idle_seq = 0
        self._closing: deque[Connection] = deque()
        self._attempts: deque[Connection] = deque()
        # No timer of those three queues is due before this network time (a lower bound:
        # set by each sweep, lowered by what is queued after it).  A packet earlier than it
        # and than the host context's expiry_due needs no sweep: most packets.
        self._due = -math.inf
        # Zeek judges a connection that a packet's time (or the packet itself) ended after
        # the packet: with what the packet's signature evals changed in the host context,
        # but before the signature events it raised (the TCP strong checks, kept here).
        self._ended: list[Connection] = []
        self._after: list[tuple[float, bytes, bytes, int, list[str]]] = []
        self.now = 0.0
        self._uid_state = _UID_SEED

    # -- packets -------------------------------------------------------------------------
    def packet(self, ts: float, pkt: Packet) -> None:
        self._packet(ts, pkt)
        if self._ended or self._after:
            self._drain()

    def packets(self, times: Sequence[float], pkts: Sequence[Packet], lo: int, hi: int) -> None:
        """:meth:`packet` for ``times[lo:hi]`` and ``pkts[lo:hi]`` in order (fastpath/: a run
        of packets with nothing between them); one call instead of one per packet."""
        step = self._packet
        ended = self._ended
        after = self._after
        for k in range(lo, hi):
            step(times[k], pkts[k])
            if ended or after:
                # the packet ended connections or raised strong TCP checks: as packet()
                self._drain()
                ended = self._ended
                after = self._after

    def _drain(self) -> None:
        """Judge what the last packet ended, then its strong TCP checks (Zeek's order)."""
        if self._ended:
            ended, self._ended = self._ended, []
            for conn in ended:
                self._judge(conn)
        if self._after:
            after, self._after = self._after, []
            for t, orig, resp, resp_p, names in after:
                self._strong_tcp(t, orig, resp, resp_p, names)

    # -- what the bulk engine (fastpath/) needs: packets it keeps out of the tracker --------
    def tick(self, ts: float) -> None:
        """What a packet at *ts* does before it is handled, for a packet that is not handed
        over (fastpath/: a flow that can never match): the timers due by then fire, and what
        they ended is judged, as after that packet."""
        if ts > self.now:
            self.now = ts
            if ts >= self._due or ts >= self.ctx.expiry_due:
                self.sweep(ts)
        if self._ended:  # (no strong TCP check waits here: only a packet raises them)
            self._drain()

    def next_due(self) -> float:
        """A network time before which :meth:`sweep` ends or re-queues nothing (a lower
        bound: a sweep at or after it may still find nothing due)."""
        o = self.options
        due = self._idle[0][0] if self._idle else math.inf
        if self._closing:
            due = min(due, self._closing[0].closing + o.tcp_close_delay)
        if self._attempts:
            due = min(due, self._attempts[0].ts + o.tcp_attempt_delay)
        # the close and attempt checks subtract where this adds: a margin covers the rounding
        return due - _DUE_MARGIN

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def skip_connections(self, n: int) -> None:
        """*n* connections opened and ended outside the tracker (fastpath/): counted, and
        their uids used up, so that every later connection keeps the uid it would have."""
        self.stats.connections += n
        self._uid_state = (self._uid_state + n * _UID_STEP) & _UID_MASK

    def skipped_keys(self, n: int) -> list[int]:
        """:meth:`skip_connections`, and the keys those *n* connections have (for
        :meth:`adopt`)."""
        state = self._uid_state
        keys = []
        for _ in range(n):
            state = (state + _UID_STEP) & _UID_MASK
            keys.append(state)
        self.skip_connections(n)
        return keys

    def adopt(self, conns: Sequence[Adopted]) -> None:
        """UDP connections opened outside the tracker and still open (fastpath/: skipped
        ones, whose first datagram was not a Skype message), taken in as if they had been
        tracked from the start: not inspected, in the open-connection table in the order
        they opened among the others (it evicts the least recently opened), their
        inactivity timers due when they were.  Their uids were used up by
        :meth:`skipped_keys`; the table must have room for them."""
        if len(self._open) + len(conns) > self.options.max_connections:
            raise ValueError("no room in the open-connection table for the adopted ones")
        made = []
        for key, ts, orig, orig_p, resp, resp_p, last_ts, due in conns:
            conn = Connection(key, ts, UDP, orig, orig_p, resp, resp_p)
            conn.inspecting = False
            conn.last_ts = last_ts
            self._by_key[(orig, orig_p, resp, resp_p, UDP)] = conn
            self._by_key[(resp, resp_p, orig, orig_p, UDP)] = conn
            heapq.heappush(self._idle, (due, self._idle_seq, key))
            self._idle_seq += 1
            self._queued(due)
            made.append((key, conn))
        self._open.merge(made, _opening_order)
        self.stats.max_open = max(self.stats.max_open, len(self._open))

    def _packet(self, ts: float, pkt: Packet) -> None:
        proto, src, sport, dst, dport, flags, seq, payload, ack, length = pkt
        if ts > self.now:
            # Zeek fires every timer due by a packet's time before handling the packet
            self.now = ts
            if ts >= self._due or ts >= self.ctx.expiry_due:
                self.sweep(ts)
        conn = self._by_key.get((src, sport, dst, dport, proto))
        if (
            conn is not None
            and conn.attempt
            and not conn.resp_pkts
            and proto == TCP
            and self._ended_attempt(conn, ts)
        ):
            self._finish(conn)
            conn = None
        if conn is None or (proto == TCP and conn.closing and flags & _SYN and not flags & _ACK):
            if conn is not None:
                self._finish(conn)
            if zeek_flips(proto, flags, sport, dport):
                conn = self._start(ts, proto, dst, dport, src, sport)
            else:
                conn = self._start(ts, proto, src, sport, dst, dport)
                if conn is not None and proto == TCP and flags & _SYN:
                    conn.attempt = True
                    self._attempts.append(conn)
                    self._queued(ts + self.options.tcp_attempt_delay)
                    self.ctx.note_attempt(ts, src, dst, dport)
            if conn is None:  # a full table of connections worth more
                self.stats.untracked_packets += 1
                return
        is_orig = conn.orig_p == sport and conn.orig == src
        if is_orig:
            conn.orig_pkts += 1
        else:
            conn.resp_pkts += 1
            conn.resp_bytes += length if proto == TCP else len(payload)
        if proto == UDP:
            conn.last_ts = ts
            if payload and conn.inspecting:
                self._udp_payload(conn, ts, is_orig, payload)
            return
        # Zeek stops moving a TCP connection's last time once both endpoints have closed:
        # its duration ends at the close, not at the final ACK (tcpclose.py).
        close = conn.close_state
        assert close is not None  # every TCP connection is made with one
        if not close.both_closed:
            conn.last_ts = ts
        close.packet(is_orig, flags, seq, ack, length)
        if close.complete and not conn.closing:
            conn.closing = conn.last_ts  # Zeek: deleted tcp_close_delay after its last time
            self._closing.append(conn)
            self._queued(conn.closing + self.options.tcp_close_delay)
        if (payload or flags & _SYN) and conn.inspecting:
            self._tcp_segment(conn, ts, is_orig, flags, seq, payload)

    def _udp_payload(self, conn: Connection, ts: float, is_orig: bool, payload: bytes) -> None:
        first = not conn.datagrams
        if first and not worth_inspecting(payload):
            conn.inspecting = False  # not a Skype message: this flow is never looked at again
            return
        if not conn.add_datagram(is_orig, ts, payload):
            return
        ctx = self.ctx
        if first and is_orig and len(payload) >= 3:
            shaped = u1_shaped(payload, conn.orig_p, conn.resp_p)
            if shaped:
                ctx.note_probe(ts, conn.orig, conn.resp, conn.resp_p)
            ctx.note_new_flow(
                ts, conn.orig, conn.orig_p, conn.resp, shaped, payload[0] << 8 | payload[1]
            )
        # Only a datagram that can complete a strong pattern is worth a check: an 11-byte
        # reply (U2) or another type-2 datagram from the originator (U3, retransmission).
        if (
            not conn.strong_checked
            and len(conn.datagrams) >= 2
            and ((not is_orig and len(payload) == U2_LEN) or (is_orig and len(payload) >= U1_MIN))
        ):
            hits = probe_hits(conn)
            if any(h.name in _STRONG_UDP for h in hits):
                conn.strong_checked = True
                ctx.prove_endpoint(ts, conn.orig, conn.orig_p)
                ctx.prove_endpoint(ts, conn.resp, conn.resp_p)
                ctx.prove_node(ts, conn.resp, conn.resp_p, PeerRole.SUPER_NODE)
                if any(h.strength == Strength.CONFIRMED for h in hits):
                    ctx.confirm_host(ts, conn.orig)

    def _tcp_segment(
        self, conn: Connection, ts: float, is_orig: bool, flags: int, seq: int, payload: bytes
    ) -> None:
        had_orig = bool(conn.orig_stream)
        if not conn.add_segment(is_orig, flags, seq, payload):
            return
        if is_orig and not had_orig:
            # What the host context knows now, kept for the verdict at the end (hits.py).
            ctx = self.ctx
            if ctx.probed(ts, conn.orig, conn.resp, conn.resp_p):
                conn.ctx |= CTX_PROBED_EP
            if ctx.probed_host(ts, conn.orig, conn.resp):
                conn.ctx |= CTX_PROBED_HOST
            ep = ctx.endpoint(conn.resp, conn.resp_p)
            if ep is not None and ep.proven:
                conn.ctx |= CTX_SKYPE_PORT
            role = None
            if ctx.skype_client(ts, conn.orig, conn.resp):
                role = ctx.node(conn.resp, conn.resp_p)
                if role is not None:
                    conn.ctx |= CTX_NODE
                else:
                    role = ctx.node_host(conn.resp)
                    if role is not None:
                        conn.ctx |= CTX_NODE_HOST
            if role == PeerRole.LOGIN_SERVER:
                conn.ctx |= CTX_LOGIN_SERVER
        if not conn.strong_checked and conn.resp_stream:
            hits = login_hits(conn) + handshake_hits(conn)
            if any(h.strength == Strength.CONFIRMED for h in hits):
                conn.strong_checked = True
                names = [h.name for h in hits]
                self._after.append((ts, conn.orig, conn.resp, conn.resp_p, names))

    def _strong_tcp(
        self, ts: float, orig: bytes, resp: bytes, resp_p: int, names: list[str]
    ) -> None:
        """Confirmed login or handshake evidence: the client is confirmed, the server proven
        a login server (L1/L2) or super node (the constant ServerHello)."""
        self.ctx.confirm_host(ts, orig)
        if "fixed_server_hello" in names:
            self.ctx.prove_node(ts, resp, resp_p, PeerRole.SUPER_NODE)
        if "login_handshake" in names:
            self.ctx.prove_node(ts, resp, resp_p, PeerRole.LOGIN_SERVER)

    # -- connection lifecycle --------------------------------------------------------------
    def _start(
        self, ts: float, proto: int, orig: bytes, orig_p: int, resp: bytes, resp_p: int
    ) -> Connection | None:
        """A new connection, or None if a full table of connections worth more refused it."""
        conn = Connection(self._next_key(), ts, proto, orig, orig_p, resp, resp_p)
        # stored as noise: what it is worth is asked only when the table is full (_worth)
        if not self._open.add(conn.key, conn):
            return None
        self._by_key[(orig, orig_p, resp, resp_p, proto)] = conn
        self._by_key[(resp, resp_p, orig, orig_p, proto)] = conn
        timeout = self.options.udp_timeout if proto == UDP else self.options.tcp_timeout
        heapq.heappush(self._idle, (ts + timeout, self._idle_seq, conn.key))
        self._idle_seq += 1
        self._queued(ts + timeout)
        self.stats.connections += 1
        open_now = len(self._open)
        if open_now > self.stats.max_open:
            self.stats.max_open = open_now
        return conn

    def _queued(self, due: float) -> None:
        """A timer was queued for network time *due*: the sweep bound comes down to it
        (less the margin next_due keeps for the rounding of the queues' own checks)."""
        if due - _DUE_MARGIN < self._due:
            self._due = due - _DUE_MARGIN

    def sweep(self, now: float) -> None:
        """End every connection whose timer is due at network time *now*."""
        o = self.options
        idle = self._idle
        while idle and idle[0][0] <= now:
            _, _, uid = heapq.heappop(idle)
            conn = self._open.get(uid)
            if conn is None:
                continue  # ended otherwise
            timeout = o.udp_timeout if conn.proto == UDP else o.tcp_timeout
            due = conn.last_ts + timeout
            if due <= now:
                self._finish(conn)
            else:
                heapq.heappush(idle, (due, self._idle_seq, uid))
                self._idle_seq += 1
        closing = self._closing
        while closing and now - closing[0].closing >= o.tcp_close_delay:
            conn = closing.popleft()
            if conn.key in self._open:
                self._finish(conn)
        attempts = self._attempts
        while attempts and now - attempts[0].ts >= o.tcp_attempt_delay:
            conn = attempts.popleft()
            if self._ended_attempt(conn, now) and conn.key in self._open:
                self._finish(conn)
        self.ctx.expire(now)
        self._due = self.next_due()

    def finish_all(self) -> None:
        """End of input: judge every open connection, oldest first (as Zeek flushes)."""
        for conn in sorted((c for _, c in self._open.items()), key=lambda c: (c.ts, c.uid)):
            self._finish(conn)
        for conn in self._ended:
            self._judge(conn)
        self._ended.clear()
        self._closing.clear()
        self._attempts.clear()

    def _ended_attempt(self, conn: Connection, now: float) -> bool:
        """Zeek's attempt timer: a SYN whose responder stayed silent for tcp_attempt_delay."""
        return (
            conn.attempt and conn.resp_pkts == 0 and now - conn.ts >= self.options.tcp_attempt_delay
        )

    def _finish(self, conn: Connection) -> None:
        """The connection ends now; it is judged once the current packet is handled."""
        if self._open.pop(conn.key) is not None:
            self._unlink(conn)

    def _unlink(self, conn: Connection) -> None:
        by_key = self._by_key
        for k in (
            (conn.orig, conn.orig_p, conn.resp, conn.resp_p, conn.proto),
            (conn.resp, conn.resp_p, conn.orig, conn.orig_p, conn.proto),
        ):
            if by_key.get(k) is conn:
                del by_key[k]
        self._ended.append(conn)

    # -- a full connection table ------------------------------------------------------------
    def _worth(self, _key: int, conn: Connection) -> int:
        """What an open connection is worth now: both sides spoke and a signature has
        something to look at, or one of its hosts showed likely-or-better evidence, or it
        is a TCP attempt of a fallback chain."""
        if conn.orig_pkts and conn.resp_pkts and (conn.datagrams or conn.orig_stream or conn.ctx):
            return EVIDENCE
        ctx = self.ctx
        if conn.attempt and (conn.orig, conn.resp) in ctx.chains:
            return EVIDENCE
        return EVIDENCE if ctx.known(conn.orig) or ctx.known(conn.resp) else NOISE

    def _evicted(self, _key: int, conn: Connection) -> None:
        """Ended early by a full table: judged like a connection whose timer fired."""
        self._unlink(conn)
        # Its timer stays queued until due: under a flood, many more than the open
        # connections.  Rebuilt when the stale ones outnumber the rest (O(1) amortised).
        idle = self._idle
        if len(idle) > len(self._open) + len(self._open) // 2 + 4096:
            live = self._open
            idle[:] = [e for e in idle if e[2] in live]
            heapq.heapify(idle)

    @staticmethod
    def _describe(key: int) -> str:
        return uid_text(key)

    def _judge(self, conn: Connection) -> None:
        if self.on_udp_flow is not None and conn.proto == UDP:
            if conn.datagrams:  # (without, a UDP connection has no hit)
                self.on_udp_flow(conn, self.ctx)
            return
        hits = self.connection_hits(conn)
        if not hits:
            return
        client = host_of_client(conn, hits)
        # Hosts are confirmed only by signatures as they fire on packets, never here: the
        # order in which connections end (Zeek drains them in no set order) cannot matter.
        confirmed = self.ctx.is_confirmed(client)
        if self.on_hits is not None:
            self.on_hits(conn, hits, confirmed)
            return
        record = judge(conn, hits, confirmed)
        if record is None:
            return
        self.stats.records += 1
        self.on_record(record, self.now)

    def connection_hits(self, conn: Connection) -> list[Hit]:
        """Every signature hit of a finished connection, including host-context ones."""
        return connection_hits(conn, self.ctx)

    def _next_key(self) -> int:
        # Deterministic, Zeek-looking uids: same capture, same uids (a counter stepped by
        # the golden ratio; connections.connection.uid_text writes it when a line needs it).
        self._uid_state = (self._uid_state + _UID_STEP) & _UID_MASK
        return self._uid_state


# A connection's key: its uid's number, the n-th connection's the seed plus n + 1 steps
_UID_SEED = 0x5EED5EED
_UID_STEP = 0x9E3779B97F4A7C15  # (odd: the steps never repeat within 2^64 connections)
_UID_MASK = 0xFFFFFFFFFFFFFFFF
_UID_UNSTEP = pow(_UID_STEP, -1, 1 << 64)

Adopted = tuple[int, float, bytes, int, bytes, int, float, float]
"""An adopted connection: key, open time, originator and port, responder and port, last
time, when its inactivity timer is due (:meth:`Tracker.adopt`)."""


def _opening_order(key: int) -> int:
    """Which connection a key belongs to, counted from 0 in the order they opened."""
    return ((key - _UID_SEED) * _UID_UNSTEP - 1) & _UID_MASK
