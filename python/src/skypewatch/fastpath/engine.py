"""The bulk engine: UDP connections that can never match are counted, not handled.

A UDP connection whose first datagram with payload is not a legacy Skype message
(``signatures.udp_layout.worth_inspecting`` is false: QUIC, DNS, uTP, most of a sensor's
UDP) is never looked at again by the tracker: it keeps no datagram, writes nothing into the
host context and can raise no hit (``detect.hits.udp_hits`` needs a kept datagram).  What
it leaves behind is only its count, its uid (connections are numbered in the order they
open) and its share of the open-connection table.  This engine finds those connections a
chunk of records at a time with numpy and keeps their packets out of the tracker.  The
arrays hold a row per packet (a UDP tunnel the bulk decoder takes gives two: the datagram,
then the packet inside; ``bulk.unfold``), or a frame that gives no packet, only the reason
the full decoder counts (ARP, ICMP...: ``Decoded.reason``).  Every frame that the bulk
decoder does not take (other tunnels, IPv6 extension headers, fragments...) goes through
the full ``Decoder`` in capture order, and its UDP packets join their
flows' decisions (below); every other packet -- TCP, UDP connections that open with a
Skype-shaped datagram or with an empty one -- goes through the ``Tracker`` in capture order.

What the skipped packets would have done in the tracker is reproduced exactly:

* connection boundaries: network time is the latest packet's time so far (the tracker's
  ``now``: a packet older than it moves nothing).  A UDP connection's last time is its
  latest packet's own time, and its inactivity timer fires at a packet that moves the
  clock to it or past: it ends the connection if the clock also passed last time +
  ``udp_timeout``, else it is put back there.  For a flow whose packets all came in time
  that means: it ends before a packet of its flow exactly when the clock at that packet is
  at least the previous packet's time plus ``udp_timeout`` (vectorised).  A flow with a
  late packet (times stamped out of order: multi-queue capture, merged interfaces) keeps
  its timer and late last time, and its packets are followed one by one (``_odd_flow``);
* uids and the connection count: the tracker skips the uids of the connections skipped
  before each packet it is given (``Tracker.skip_connections``);
* timers: a skipped packet still moves network time, and the timers it makes fire end
  tracked connections, judged after that packet.  Before each packet it is given, the
  tracker ticks at the first skipped time at or after its next due time, again and again
  (``Tracker.tick``); between those, nothing it holds is due, and the host context's expiry
  is monotone, so a skipped sweep changes nothing;
* the open-connection bound: if tracked and skipped connections open together could
  fill the table (``max_connections``) within the next chunk, a full table's evictions
  would depend on the skipped ones.  In one process (:func:`feed`) the tracker then adopts
  the skipped connections still open (``Tracker.adopt``: each with the key its uid was
  given, its open time, its last packet's time and its inactivity timer, in the table's
  order of opening among the tracked ones; ``_UdpFlows.opened`` keeps what that needs) and
  nothing is skipped from that chunk on: the flood's evictions are the reference's.  With
  ``--workers 2`` (pipeline.py, where the flow table is in the reader's process) the
  engine gives up (:class:`Unsupported`) and analyze starts again in one process.

One figure differs: ``Summary.max_open`` counts the tracker's connections only.  The summary
shows it only when the table was full, which happens only after an adoption, when it is the
bound either way.

It also gives up (same fall-back) on everything the bulk reader does not take (bulk.py).
A UDP packet that only the full decoder takes (three VLAN tags, a payload that Zeek's
Teredo or AYIYA detection looks at, an IPv6 extension header, a tunnel's inner packet...)
belongs to its flow like any other: it opens a skipped connection when its payload is not
a Skype message (read from the decoder's packet), and in a skipped connection the tracker
only ticks for it; otherwise it is handed to the tracker.  The differential tests hold it
to the reference.
"""

from __future__ import annotations

import math
import mmap
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..connections.zeekports import zeek_flips
from ..detect.tracker import Tracker
from ..packets.capture import OpenStream
from ..packets.decode import UDP, Decoder, Packet
from ..signatures.udp_layout import worth_inspecting
from .bulk import (
    REASONS,
    Chunk,
    Decoded,
    Header,
    Unsupported,
    chunks,
    decode_chunk,
    pcap_header,
    unfold,
)
from .chunk import Cut

TABLE_COULD_FILL = "the open-connection table could fill"  # (Unsupported's, with --workers 2)
# worth_inspecting by the third byte, for whole columns (the length is checked beside it)
_WORTH_NIBBLE = np.array([worth_inspecting(bytes((0, 0, i))) for i in range(256)], dtype=bool)
_ADDR_CACHE_MAX = 1 << 16

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class InputCut:
    """Where the input ended inside a record (the reference reader's CaptureTruncated): the
    captures after that one are not read."""

    capture: int  # which of the captures
    packet_index: int  # its whole records before the cut
    byte_offset: int
    why: str
    damaged: bool  # a record is damaged there (else the file ends inside it)


class EndedInRecord(Exception):
    """Not a failure: the input's end (:class:`InputCut`)."""

    def __init__(self, cut: InputCut) -> None:
        super().__init__(cut.why)
        self.cut = cut


@dataclass(slots=True)
class FastStats:
    frames: int = 0
    skipped_packets: int = 0
    skipped_connections: int = 0
    cut: InputCut | None = None  # the input ended inside a record there
    # the open-connection table could fill after this many frames: the tracker adopted
    # the skipped connections still open (``adopted``) and nothing was skipped after
    exact_from: int | None = None
    adopted: int = 0


def supported(path: str | Path) -> Header | None:
    return pcap_header(path)


class _UdpFlows:
    """Per UDP flow (both directions): the clock at its last packet, whether the connection
    open now is skipped, and when that one's inactivity timer fires (after a late packet,
    its last time too: _over).  A flow whose connection is over is dropped: its next packet
    opens a new connection anyway.  A flow is keyed by its two endpoints as integers, address << 16
    | port: an IPv4 address as itself, an IPv6 one as 2^32 + a number given to it here (kept
    while a flow of it is)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.flows: dict[tuple[int, int], tuple[float, ...]] = {}  # _over says what
        self.skipped_open = 0  # flows whose open connection is skipped (an upper bound)
        self._pruned_size = 0
        self._v6: dict[bytes, int] = {}  # IPv6 address -> its number
        self._v6_next = 0
        # Kept in one process only (Applier.apply's, with the tracker): for a flow whose
        # open connection is skipped, that connection's key, open time and first packet's
        # source and destination endpoints (Tracker.adopt); and once the tracker adopted
        # them, True: no connection is skipped any more
        self.opened: dict[tuple[int, int], tuple[int, float, int, int]] | None = None
        self.exact = False
        self._v6_of: dict[int, bytes] | None = None

    def v6_endpoint(self, addr: bytes, port: int) -> int:
        number = self._v6.get(addr)
        if number is None:
            number = self._v6[addr] = self._v6_next
            self._v6_next += 1
        return ((1 << 32) + number) << 16 | port

    def prune(self, now: float) -> None:
        t = self.timeout
        self.flows = {k: v for k, v in self.flows.items() if not _over(v, now, t)}
        self.skipped_open = sum(1 for v in self.flows.values() if v[1])
        self._pruned_size = len(self.flows)
        if self._v6:
            live = {k >> 16 for pair in self.flows for k in pair if k >> 48}
            self._v6 = {a: n for a, n in self._v6.items() if (1 << 32) + n in live}
        if self.opened:
            flows = self.flows
            self.opened = {k: v for k, v in self.opened.items() if k in flows}

    def take_over(self, now: float) -> list[tuple[tuple[int, int], float, float]]:
        """The flows whose skipped connection is open at clock *now*, each with that
        connection's last time and when its inactivity timer is due, for the tracker to
        adopt; from now on no connection is skipped (``exact``)."""
        t = self.timeout
        found = []
        for k, v in self.flows.items():
            if v[1] and not _over(v, now, t):
                last = v[3] if len(v) > 3 else v[0]  # (a late packet's own time)
                # a timer that a move of the clock since the flow's last packet reached was
                # put back at last + timeout by the sweep then (the state keeps the old one,
                # as _over and _odd_flow read it: at the flow's next packet); one queued at
                # a clock that has not moved since is still queued, even if below it
                swept = now > v[0] and now >= v[2]
                found.append((k, last, last + t if swept else v[2]))
        self.exact = True
        self.flows = {}
        self.skipped_open = 0
        return found

    def address(self, endpoint: int) -> tuple[bytes, int]:
        """An endpoint's address and port (v6_endpoint's numbers read back)."""
        number, port = endpoint >> 16, endpoint & 0xFFFF
        if number < 1 << 32:
            return number.to_bytes(4, "big"), port
        if self._v6_of is None:  # (after take_over the numbers no longer change)
            self._v6_of = {n: a for a, n in self._v6.items()}
        return self._v6_of[number - (1 << 32)], port

    def prune_now_and_then(self, now: float, limit: int) -> None:
        """Prune if the table grew by an eighth of *limit* since the last time: a table of
        many open skipped flows is not walked at every chunk."""
        if len(self.flows) >= self._pruned_size + limit // 8:
            self.prune(now)

    def maybe_prune(self, now: float) -> None:
        """Prune once the table doubled since the last time: O(1) amortised per flow."""
        if len(self.flows) > 2 * self._pruned_size + 4096:
            self.prune(now)


_NEW_FLOW = (-math.inf, False, math.inf, False)

Openings = tuple[np.ndarray, ...]
"""The skipped connections a chunk opens, in capture order: their flows (the two
endpoints' numbers, low and high), the opening packet's source and destination endpoints,
its time."""
_NO_OPENINGS: Openings = tuple(np.zeros(0, dtype=t) for t in (np.int64,) * 4 + (np.float64,))


def _over(state: tuple[float, ...], now: float, timeout: float) -> bool:
    """Has the flow's connection ended for any packet at clock *now* or later?  A flow's
    state: the clock at its last packet, whether its connection is skipped, when that
    one's inactivity timer fires, and, after a late packet, its last time (_odd_flow)."""
    if len(state) == 3:  # its last time is that clock, the timer at most timeout after it
        return now > state[0] and state[0] + timeout <= now
    return now > state[0] and now >= state[2] and now >= state[3] + timeout


def _endpoint(addr: bytes, port: int, flows: _UdpFlows) -> int:
    if len(addr) == 4:
        return int.from_bytes(addr, "big") << 16 | port
    return flows.v6_endpoint(addr, port)


@dataclass(slots=True)
class Batch:
    """A chunk's work for the tracker, worked out without the tracker (so that another
    process can: pipeline.py).  Arrays are per tracked row unless said otherwise: a row is
    a frame, or one of a tunnel's two packets (bulk.unfold); positions are rows'."""

    frames: int
    file_bytes: int  # bytes of the file consumed through this chunk
    file_offset: int  # where the chunk's bytes begin in the file
    size: int  # how many bytes the chunk has
    buf: bytes | None  # the chunk's bytes; None once sent to another process (read again)
    n_skipped: int  # skipped packets
    total_new: int  # skipped connections opened
    # skipped connections that may be open while its packets are handled (a bound: those
    # open when it begins and those it opens; after it, ones that ended in it are gone)
    skipped_open: int
    handed: int  # packets handed to the tracker: each may open a connection
    tts: np.ndarray  # time
    idx: np.ndarray  # position in the chunk
    tr_plain: np.ndarray  # the bulk decoder took it
    hi_pos: np.ndarray  # skipped packets before it: sk_ts[:hi_pos]
    skips_before: np.ndarray  # skipped connections opened before it in the chunk
    sk_ts: np.ndarray  # per skipped packet: the network time it moves the clock to
    plain: tuple[np.ndarray, ...]  # the plain tracked frames' fields, in Packet's order
    v6_rows: np.ndarray  # which of those are IPv6 (their addresses 0 in ``plain``)
    v6_at: np.ndarray  # and where in the chunk's bytes each one's two addresses are
    decoded: dict[int, list[Packet]]  # the full decoder's packets, by position
    # of those, the ones in skipped connections: sub-packet -> whether it opens one
    skipped_sub: dict[int, dict[int, bool]]
    buf_crc: int = 0  # CRC-32 of buf, once buf is left out (pipeline.py)
    slot: int = -1  # or the shared buffer that holds buf's bytes instead (pipeline.py)
    bytes_before: int = 0  # the bytes of the captures before this one (for progress)
    capture: int = 0  # which of the captures it is from
    openings: Openings = _NO_OPENINGS  # the skipped connections it opens
    # before it, the tracker adopts these flows' skipped connections (last time, timer:
    # _UdpFlows.take_over), and from it on nothing is skipped (``exact``)
    takeover: list[tuple[tuple[int, int], float, float]] | None = None
    exact: bool = False


def batches(
    paths: Sequence[str | Path | OpenStream],
    decoder: Decoder,
    udp_timeout: float,
    limit: int,
    open_now: Callable[[], int] | None = None,
    identities: Sequence[tuple[int, int]] | None = None,
    flows: _UdpFlows | None = None,
) -> Iterator[Batch]:
    """The captures' chunks as :class:`Batch` es, one stream (the clock and the UDP flows go
    on from one capture to the next, as in the reference), or :class:`Unsupported`; a
    capture that ends inside a record ends the input: :class:`EndedInRecord` after its
    last whole one.
    *open_now*: the tracker's open connections, when it runs in this process between
    batches (then the UDP flow table is pruned exactly when the open-connection bound needs
    it; else when it could).  *identities*: the (device, inode) each capture must have.
    *flows*: the UDP flow table, from a caller that records the skipped connections'
    openings in it (``_UdpFlows.opened``): then, with *open_now*, a table that could fill
    makes the tracker adopt them (``Batch.takeover``) instead of :class:`Unsupported`."""
    if flows is None:
        flows = _UdpFlows(udp_timeout)
    now = -np.inf  # network time as the reference tracker keeps it: the latest packet's
    full = decoder.frame
    bytes_before = 0
    for k, path in enumerate(paths):
        read = 0
        frames = 0
        try:
            for c in _some(chunks(path, None if identities is None else identities[k])):
                batch, now = _batch(
                    c, bytes_before, now, full, decoder.undecoded, flows, open_now, limit
                )
                batch.capture = k
                read = c.file_bytes
                frames += c.ts.size
                yield batch
        except Cut as cut:  # the input ends there, as in the reference
            raise EndedInRecord(InputCut(k, frames, cut.offset, cut.why, cut.damaged)) from None
        bytes_before += read


def _some(found: Iterator[Chunk]) -> Iterator[Chunk]:
    """The chunks of a capture, which must hold a frame: the reference refuses one that
    holds none (its error is the reference's to give)."""
    empty = True
    for c in found:
        empty = False
        yield c
    if empty:
        raise Unsupported("a capture holds no packets")


def _batch(
    c: Chunk,
    bytes_before: int,
    now: float,
    full: Callable[[float, int, bytes], list[Packet]],
    undecoded: Counter[str],
    flows: _UdpFlows,
    open_now: Callable[[], int] | None,
    limit: int,
) -> tuple[Batch, float]:
    """One chunk's :class:`Batch`, and the network time after it; what the full decoder
    would have counted for the bulk decoder's frames goes into *undecoded*."""
    # the chunk's packets as rows, in order: a frame's packet, or a tunnel's datagram and
    # then the packet inside; a frame of the full decoder is one row (its packets, maybe
    # none, in ``decoded``)
    d, frame_of = unfold(decode_chunk(c))
    ts = c.ts if frame_of is None else c.ts[frame_of]
    buf = c.buf
    _count(d.reason, undecoded)
    # the frames the bulk decoder does not take, through the full decoder now, in order
    # (the decoder's state depends on nothing else), their packets kept for the tracker;
    # a frame of which it makes no packet, only a reason (ARP, ICMP...), is counted above
    decoded: dict[int, list[Packet]] = {}
    ts_list = ts.tolist()
    for r in np.flatnonzero(~d.plain & (d.reason == 0)).tolist():
        i = r if frame_of is None else int(frame_of[r])
        s = int(c.data[i])
        pkts = full(ts_list[r], c.link_type, buf[s : s + int(c.caplen[i])])
        if pkts:
            decoded[r] = pkts
    # events: frames that call the tracker in the reference path (a frame of the full
    # decoder without a packet calls nothing); run: network time after each frame
    event = d.plain.copy()
    if decoded:
        event[np.fromiter(decoded, dtype=np.int64)] = True
    run = np.maximum.accumulate(np.where(event, ts, -np.inf))
    np.maximum(run, now, out=run)
    before = now
    now = float(run[-1])
    takeover = None
    if not flows.exact and open_now is not None and flows.opened is not None:
        # The open-connection bound, in the tracker's process: if tracked and skipped
        # connections together could fill the table in this chunk (its packets, each
        # skipped or handed over, count at most twice; as Applier.apply's check), the
        # tracker adopts the skipped ones still open and nothing is skipped from here on
        packets = d.plain.size + 2 * sum(map(len, decoded.values()))
        if flows.skipped_open + open_now() + 2 * packets >= limit:
            flows.prune(before)
            if flows.skipped_open + open_now() + 2 * packets >= limit:
                takeover = flows.take_over(before)
    at_start = flows.skipped_open
    if flows.exact:
        skip = np.zeros(d.plain.size, dtype=bool)
        new_skipped = np.zeros(d.plain.size, dtype=np.int64)
        skipped_sub: dict[int, dict[int, bool]] = {}
        openings = _NO_OPENINGS
    else:
        skip, new_skipped, skipped_sub, openings = _udp_skips(ts, run, d, buf, decoded, flows)
    n_skipped = int(skip.sum())
    tracked = event & ~skip
    # a frame that gives no packet (ARP, a record cut to nothing) opens nothing
    handed = int(np.count_nonzero(tracked & d.plain)) + sum(map(len, decoded.values()))
    # the open-connection bound (checked by the tracker's side): a tighter count of the
    # skipped connections still open when it could matter (none once taken over)
    if not flows.exact:
        if open_now is not None:
            if flows.skipped_open + open_now() + 2 * handed >= limit:
                flows.prune(now)
        elif flows.skipped_open + 2 * handed >= limit // 2:
            flows.prune_now_and_then(now, limit)
    starts_before = np.cumsum(new_skipped) - new_skipped  # skipped opens before frame i
    sk_idx = np.flatnonzero(skip)
    tr_idx = np.flatnonzero(tracked)
    pi = tr_idx[d.plain[tr_idx]]
    v6_rows = np.flatnonzero(d.v6[pi])
    batch = Batch(
        frames=c.ts.size,
        file_bytes=c.file_bytes,
        file_offset=c.file_offset,
        size=len(buf),
        buf=buf,
        n_skipped=n_skipped,
        total_new=int(new_skipped.sum()),
        skipped_open=0 if flows.exact else at_start + int(new_skipped.sum()),
        handed=handed,
        tts=ts[tr_idx],
        idx=tr_idx,
        tr_plain=d.plain[tr_idx],
        # skipped events before each tracked one: [lo, hi) into sk_idx
        hi_pos=np.searchsorted(sk_idx, tr_idx),
        skips_before=starts_before[tr_idx],
        sk_ts=run[sk_idx],
        plain=(
            d.proto[pi],
            d.src[pi],
            d.sport[pi],
            d.dst[pi],
            d.dport[pi],
            d.flags[pi],
            d.seq[pi],
            d.pay_start[pi],
            d.pay_end[pi],
            d.ack[pi],
            d.wire[pi],
        ),
        v6_rows=v6_rows,
        v6_at=d.addr_at[pi[v6_rows]],
        decoded=decoded,
        skipped_sub=skipped_sub,
        bytes_before=bytes_before,
        openings=openings,
        takeover=takeover,
        exact=flows.exact,
    )
    if not flows.exact:
        flows.maybe_prune(now)
    return batch, now


def _count(reason: np.ndarray, undecoded: Counter[str]) -> None:
    """What the full decoder counts for frames the bulk decoder took (``Decoded.reason``)."""
    if reason.any():
        for k, count in enumerate(np.bincount(reason, minlength=len(REASONS)).tolist()):
            if k and count:
                undecoded[REASONS[k]] += count


class Applier:
    """The tracker's side: each :class:`Batch` into the tracker, in capture order."""

    def __init__(self, tracker: Tracker, flows: _UdpFlows | None = None) -> None:
        """*flows*: the batches' UDP flow table, when they are made in this process: the
        skipped connections' keys are then recorded in it (``_UdpFlows.opened``), for the
        tracker to adopt the open ones if the table could fill (``Batch.takeover``)."""
        self.tracker = tracker
        self.stats = FastStats()
        self._addr_cache: dict[int, bytes] = {}
        self._flows = flows
        if flows is not None:
            flows.opened = {}
        self._openings: Openings = _NO_OPENINGS
        self._next_opening = 0

    def _skip(self, n: int) -> None:
        """The batch's next *n* skipped connections open (their uids used up), and with a
        flow table, what the tracker would need to adopt them is recorded."""
        if self._flows is None:
            self.tracker.skip_connections(n)
            return
        opened = self._flows.opened
        assert opened is not None
        lo, hi, src, dst, ts = self._openings
        j = self._next_opening
        for k, key in enumerate(self.tracker.skipped_keys(n), j):
            opened[(int(lo[k]), int(hi[k]))] = (key, float(ts[k]), int(src[k]), int(dst[k]))
        self._next_opening = j + n

    def _adopt(self, takeover: list[tuple[tuple[int, int], float, float]]) -> None:
        """The skipped connections still open into the tracker (Batch.takeover)."""
        flows = self._flows
        if flows is None or flows.opened is None:
            raise Unsupported(TABLE_COULD_FILL)
        adopted = []
        for flow, last, due in takeover:
            found = flows.opened.get(flow)
            if found is None:  # (never seen: every skipped opening is recorded in _skip)
                raise Unsupported(TABLE_COULD_FILL)
            key, ts, a, b = found
            (src, sport), (dst, dport) = flows.address(a), flows.address(b)
            if zeek_flips(UDP, 0, sport, dport):
                src, sport, dst, dport = dst, dport, src, sport
            adopted.append((key, ts, src, sport, dst, dport, last, due))
        flows.opened = {}
        try:
            self.tracker.adopt(adopted)
        except ValueError:  # no room for them (it checks before it changes anything)
            raise Unsupported(TABLE_COULD_FILL) from None
        self.stats.adopted = len(adopted)
        self.stats.exact_from = self.stats.frames

    def apply(self, b: Batch, buf: bytes | mmap.mmap) -> None:
        """*buf*: the chunk's bytes (a buffer that may be longer: only its slices are
        read, and none is kept)."""
        tracker = self.tracker
        if b.takeover is not None:
            self._adopt(b.takeover)
        self._openings = b.openings
        self._next_opening = 0
        if not b.exact and b.skipped_open + tracker.open_connections + 2 * b.handed >= (
            tracker.options.max_connections
        ):
            # tracked and skipped ones together could fill the table, whose evictions
            # would then depend on the skipped ones
            raise Unsupported(TABLE_COULD_FILL)
        stats = self.stats
        stats.frames += b.frames
        stats.skipped_packets += b.n_skipped
        packet = tracker.packet
        packets = tracker.packets
        sk_ts = b.sk_ts
        hi_pos = b.hi_pos.tolist()
        skips_before = b.skips_before.tolist()
        tr_plain = b.tr_plain.tolist()
        # the plain packets as decode_plain gives them, built at C speed by zip (a UDP
        # packet's flags, seq, ack and wire length are 0 in the arrays, as decode_plain has)
        proto, src, sport, dst, dport, flags, seq, pay_start, pay_end, ack, wire = b.plain
        srcs = src.tolist()
        dsts = dst.tolist()
        addr_cache = self._addr_cache
        if len(addr_cache) >= _ADDR_CACHE_MAX:
            addr_cache.clear()
        for a in set(srcs).union(dsts):
            if a not in addr_cache:
                addr_cache[a] = a.to_bytes(4, "big")
        src_addrs = [addr_cache[a] for a in srcs]
        dst_addrs = [addr_cache[a] for a in dsts]
        for k, at in zip(b.v6_rows.tolist(), b.v6_at.tolist(), strict=True):
            src_addrs[k] = buf[at : at + 16]
            dst_addrs[k] = buf[at + 16 : at + 32]
        plain_pkts = list(
            zip(
                proto.tolist(),
                src_addrs,
                sport.tolist(),
                dst_addrs,
                dport.tolist(),
                flags.tolist(),
                seq.tolist(),
                [buf[a:z] for a, z in zip(pay_start.tolist(), pay_end.tolist(), strict=True)],
                ack.tolist(),
                wire.tolist(),
                strict=True,
            )
        )
        tts = b.tts
        plain_tts = tts[b.tr_plain].tolist()  # beside plain_pkts
        idx = b.idx.tolist()
        decoded = b.decoded
        skipped_sub = b.skipped_sub
        done_skips = 0
        lo = 0
        next_plain = 0
        # runs of plain packets with nothing between them (no skipped packet, no skipped
        # connection): the tracker takes each run in one call; another frame is a run alone
        run_at = _runs(b.hi_pos, b.skips_before, b.tr_plain)
        for r in range(len(run_at) - 1):
            k = run_at[r]
            hi = hi_pos[k]
            if hi > lo:  # skipped packets since the last tracked one
                _pass_skipped(tracker, sk_ts, lo, hi)
                lo = hi
            sb = skips_before[k]
            if sb != done_skips:
                self._skip(sb - done_skips)
                done_skips = sb
            if tr_plain[k]:
                end = next_plain + run_at[r + 1] - k
                packets(plain_tts, plain_pkts, next_plain, end)
                next_plain = end
            else:
                t = float(tts[k])  # (a frame of the full decoder: few)
                i = idx[k]
                gone = skipped_sub.get(i)
                for sub, pkt in enumerate(decoded[i]):
                    opens = None if gone is None else gone.get(sub)
                    if opens is None:
                        packet(t, pkt)
                        continue
                    tracker.tick(t)  # what the reference does for it: timers, judging
                    if opens:  # counted here, in its place among the frame's packets
                        self._skip(1)
                        done_skips += 1
        # skipped packets after the last tracked one
        if sk_ts.size > lo:
            _pass_skipped(tracker, sk_ts, lo, sk_ts.size)
        if b.total_new != done_skips:
            self._skip(b.total_new - done_skips)
        stats.skipped_connections += b.total_new


def feed(
    paths: Sequence[str | Path | OpenStream],
    tracker: Tracker,
    decoder: Decoder,
    progress: Progress | None = None,
    total_bytes: int = 0,
) -> FastStats:
    """Every frame of the captures, one stream, into *tracker* and *decoder*, or
    :class:`Unsupported` (nothing of it must then be used: the caller starts over with the
    reference engine); a table that could fill is taken over (``Tracker.adopt``)."""
    opts = tracker.options
    flows = _UdpFlows(opts.udp_timeout)
    applier = Applier(tracker, flows)
    try:
        for b in batches(
            paths,
            decoder,
            opts.udp_timeout,
            opts.max_connections,
            lambda: tracker.open_connections,
            flows=flows,
        ):
            assert b.buf is not None
            applier.apply(b, b.buf)
            if progress is not None:
                progress(b.bytes_before + b.file_bytes, total_bytes)
    except EndedInRecord as end:
        applier.stats.cut = end.cut
    return applier.stats


def _udp_skips(
    ts: np.ndarray,
    run: np.ndarray,
    d: Decoded,
    buf: bytes,
    decoded: dict[int, list[Packet]],
    flows: _UdpFlows,
) -> tuple[np.ndarray, np.ndarray, dict[int, dict[int, bool]], Openings]:
    """Per frame of the chunk: is it a packet of a skipped UDP connection, and does it open
    one.  *flows* carries each flow's state from chunk to chunk."""
    n = ts.size
    skip = np.zeros(n, dtype=bool)
    new_skipped = np.zeros(n, dtype=np.int64)
    udp = np.flatnonzero(d.plain & (d.proto == UDP))
    # UDP packets of the full decoder's frames (they can share a flow with plain frames),
    # with whether each could open a skipped connection
    extra_pos: list[int] = []
    extra_sub: list[int] = []
    extra_a: list[int] = []
    extra_b: list[int] = []
    extra_nw: list[bool] = []
    for i, pkts in decoded.items():
        for k, p in enumerate(pkts):
            if p[0] == UDP:
                extra_pos.append(i)
                extra_sub.append(k)
                extra_a.append(_endpoint(p[1], p[2], flows))
                extra_b.append(_endpoint(p[3], p[4], flows))
                extra_nw.append(bool(p[7]) and not worth_inspecting(p[7]))
    if udp.size == 0 and not extra_pos:
        return skip, new_skipped, {}, _NO_OPENINGS
    a = d.src[udp] << 16 | d.sport[udp]
    b = d.dst[udp] << 16 | d.dport[udp]
    six = np.flatnonzero(d.v6[udp])
    if six.size:  # their addresses numbered (few distinct ones: a loop over packets)
        v6 = flows.v6_endpoint
        for j, at, sp, dp in zip(
            six.tolist(),
            d.addr_at[udp[six]].tolist(),
            d.sport[udp[six]].tolist(),
            d.dport[udp[six]].tolist(),
            strict=True,
        ):
            a[j] = v6(buf[at : at + 16], sp)
            b[j] = v6(buf[at + 16 : at + 32], dp)
    pos = udp
    forced = np.zeros(udp.size, dtype=bool)
    sub = np.zeros(udp.size, dtype=np.int64)
    forced_nw = np.zeros(udp.size, dtype=bool)
    if extra_pos:
        a = np.concatenate([a, np.array(extra_a, dtype=np.int64)])
        b = np.concatenate([b, np.array(extra_b, dtype=np.int64)])
        pos = np.concatenate([pos, np.array(extra_pos, dtype=np.int64)])
        sub = np.concatenate([sub, np.array(extra_sub, dtype=np.int64)])
        forced = np.concatenate([forced, np.ones(len(extra_pos), dtype=bool)])
        forced_nw = np.concatenate([forced_nw, np.array(extra_nw, dtype=bool)])
    klo = np.minimum(a, b)
    khi = np.maximum(a, b)
    order = np.lexsort((sub, pos, khi, klo))  # a flow's packets in capture order
    klo, khi, pos, forced, sub = klo[order], khi[order], pos[order], forced[order], sub[order]
    src, dst = a[order], b[order]
    forced_nw = forced_nw[order]
    t = run[pos]  # network time at each packet: a flow's connection ends by this clock
    own = ts[pos]  # its own time: a UDP connection's last time (below the clock if late)
    m = t.size
    first = np.ones(m, dtype=bool)
    first[1:] = (klo[1:] != klo[:-1]) | (khi[1:] != khi[:-1])
    prev_t = np.empty(m)
    prev_t[0] = -np.inf
    prev_t[1:] = t[:-1]
    carry_skip = np.zeros(m, dtype=bool)
    gstart = np.flatnonzero(first)
    gid = np.cumsum(first) - 1
    known = flows.flows
    glo = klo[gstart].tolist()
    ghi = khi[gstart].tolist()
    g_state = [known.get(k) for k in zip(glo, ghi, strict=True)]
    carried = [_NEW_FLOW if st is None else (*st[:3], len(st) > 3) for st in g_state]
    # the clock at its last packet, skipped, its timer, late last time (_over)
    g_prev, g_skip, g_due0, g_late = (np.array(x) for x in zip(*carried, strict=True))
    prev_t[gstart] = g_prev
    carry_skip[gstart] = g_skip
    # (a packet that does not move the clock fires no timer, even one the sum rounds to it)
    opens = (t > prev_t) & (t >= prev_t + flows.timeout)
    # the packet's payload is not a Skype message: read in the chunk for plain frames, from
    # the full decoder's packet for the others (a STUN message long enough to pass for
    # Teredo, a VLAN frame...), which then open a skipped connection as plain ones do
    plain_pos = np.where(forced, 0, pos)
    p0 = d.pay_start[plain_pos]
    p1 = d.pay_end[plain_pos]
    bb = np.frombuffer(buf, dtype=np.uint8)
    has3 = (p1 - p0) >= 3
    nib = bb[np.where(has3, p0 + 2, 0)]
    not_worth = np.where(forced, forced_nw, (p1 > p0) & ~(has3 & _WORTH_NIBBLE[nib]))
    opens_skipped = opens & not_worth
    # each connection's decision, spread over its packets: a segment starts where a
    # connection opens or where a flow's packets begin (continuing the carried one)
    seg_start = opens | first
    seg_val = np.where(opens, opens_skipped, carry_skip)
    seg_id = np.cumsum(seg_start) - 1
    decision = seg_val[np.flatnonzero(seg_start)][seg_id]
    # the open connection's inactivity timer (when the tracker's sweep looks at it next)
    ends = np.append(gstart[1:], m)
    last_open = np.maximum.accumulate(np.where(seg_start, np.arange(m), 0))[ends - 1]
    opened = opens[last_open]
    g_due = np.where(opened, t[last_open] + flows.timeout, g_due0)
    t_last = t[ends - 1]
    # A flow with a late packet, now or before (its last time below the clock), ends by
    # the tracker's timer rules, which the clock alone no longer gives: its packets one by
    # one (few flows)
    odd = np.zeros(gstart.size, dtype=bool)
    odd[gid[own < t]] = True
    odd |= g_late.astype(bool)
    state: dict[tuple[int, int], tuple[float, ...]] = {}
    for g in np.flatnonzero(odd).tolist():
        a, z = int(gstart[g]), int(ends[g])
        state[(glo[g], ghi[g])] = _odd_flow(
            g_state[g],
            flows.timeout,
            t[a:z].tolist(),
            own[a:z].tolist(),
            not_worth[a:z].tolist(),
            opens[a:z],
            opens_skipped[a:z],
            decision[a:z],
        )
    # any other flow's timer is put back at its last time + timeout when the clock passes
    # it: where its open connection's packets outlast the timer (few), follow it along them
    for g in np.flatnonzero(~odd & (t_last >= g_due)).tolist():
        a, z = int(last_open[g]), int(ends[g])
        g_due[g] = _timer(
            float(g_due[g]), flows.timeout, t[a:z].tolist(), bool(opened[g]), float(g_prev[g])
        )
    skipped_sub: dict[int, dict[int, bool]] = {}
    fs = np.flatnonzero(decision & forced)
    for i, k, o in zip(pos[fs].tolist(), sub[fs].tolist(), opens_skipped[fs].tolist(), strict=True):
        skipped_sub.setdefault(i, {})[k] = o
    plain_skip = decision & ~forced
    skip[pos[plain_skip]] = True
    np.add.at(new_skipped, pos[opens_skipped], 1)  # a frame of the full decoder: maybe several
    # the flows' state for the next chunk
    for key, lt, dec, due in zip(
        zip(glo, ghi, strict=True),
        t_last.tolist(),
        decision[ends - 1].tolist(),
        g_due.tolist(),
        strict=True,
    ):
        known[key] = state.get(key) or (lt, dec, due)
    flows.skipped_open += int(opens_skipped.sum())
    # the skipped connections opened, in capture order (Openings)
    o = np.flatnonzero(opens_skipped)
    o = o[np.lexsort((sub[o], pos[o]))]
    return skip, new_skipped, skipped_sub, (klo[o], khi[o], src[o], dst[o], own[o])


def _odd_flow(
    st: tuple[float, ...] | None,
    timeout: float,
    clock: list[float],
    own: list[float],
    not_worth: list[bool],
    opens: np.ndarray,
    opens_skipped: np.ndarray,
    decision: np.ndarray,
) -> tuple[float, ...]:
    """A flow's packets one by one, as the tracker times its connection: where each opens
    a connection and whether that one is skipped (into the arrays, in place), and the
    flow's state after them.  The connection's inactivity timer fires only when a packet
    moves the clock to it or past; then it ends the connection if the clock also passed
    its last time + timeout, else it is put back there.  Its last time is its latest
    packet's own time, below the clock for a late one."""
    if st is None:
        c, skip, due, last = -math.inf, False, math.inf, -math.inf
        new = True
    else:
        c, skip, due = st[0], bool(st[1]), st[2]
        last = st[3] if len(st) > 3 else st[0]
        new = False
    for j, (tj, sj, nw) in enumerate(zip(clock, own, not_worth, strict=True)):
        moved = tj > c
        if new or (moved and tj >= due and tj >= last + timeout):
            new = False
            skip = nw
            due = sj + timeout
            opens[j] = True
            opens_skipped[j] = nw
        else:
            if moved and tj >= due:
                due = last + timeout
            opens[j] = False
            opens_skipped[j] = False
        decision[j] = skip
        last = sj
        c = tj
    if last == c and due <= last + timeout:
        return (c, skip, due)  # as a flow whose packets all came in time
    return (c, skip, due, last)


def _timer(due: float, timeout: float, clock: list[float], opened: bool, last: float) -> float:
    """The inactivity timer of a flow whose packets came in time, after its open
    connection's packets at *clock* (the first opened it if *opened*, else *last* is its
    time before them): each time a move of the clock reaches the timer, the sweep then
    puts it back at the previous packet's time + timeout.  A timer queued below the clock
    (a connection that a late packet opened) stays until the clock moves."""
    j = 1 if opened else 0
    while True:
        j = bisect_left(clock, due, j)
        if j == len(clock):
            return due
        before = clock[j - 1] if j > 0 else last
        if clock[j] > before:
            # (the clock moved at or before that packet: the timer lies past the previous
            # one's clock while the connection goes on, or, for a timeout below the clock's
            # step, every move ends it and its packets share one clock)
            due = before + timeout
            j += 1
        else:  # no move since the previous packet: the next one that moves it
            j = bisect_right(clock, before, j)


def _runs(hi_pos: np.ndarray, skips_before: np.ndarray, tr_plain: np.ndarray) -> list[int]:
    """Where each run of tracked frames begins (and, last, their count): a run is plain
    frames with the same skipped packets and connections before them; any other frame is a
    run of its own."""
    n = tr_plain.size
    start = np.ones(n + 1, dtype=bool)
    start[1:n] = (
        (hi_pos[1:] != hi_pos[:-1])
        | (skips_before[1:] != skips_before[:-1])
        | ~tr_plain[1:]
        | ~tr_plain[:-1]
    )
    return np.flatnonzero(start).tolist()


def _pass_skipped(tracker: Tracker, sk_ts: np.ndarray, lo: int, hi: int) -> None:
    """What the skipped packets ``sk_ts[lo:hi]`` do to the tracker: each fires the timers its
    time makes due (as the reference's per-packet sweep would), and the last moves the clock,
    which expires the host context, though nothing is due by then."""
    gap_end = float(sk_ts[hi - 1])
    if gap_end <= tracker.now:
        return
    due = tracker.next_due()
    while due <= gap_end:
        j = max(
            int(np.searchsorted(sk_ts, due, "left")),
            int(np.searchsorted(sk_ts, tracker.now, "right")),
            lo,
        )
        if j >= hi:
            break
        tracker.tick(float(sk_ts[j]))
        due = tracker.next_due()
    tracker.tick(gap_end)
