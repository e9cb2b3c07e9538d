"""Which TCP flows the bulk engine may count instead of handling: a first pass over the capture.

A TCP *instance* is a flow's packets (both directions) until the flow is silent for
``tcp_timeout`` by the clock (every connection of the flow has ended by then: a new instance
is a new connection).  An instance is skipped -- one connection, counted, its packets kept
out of the tracker -- when the first pass proved all of this:

* one connection: no bare SYN but possibly its first packet (a bare SYN after a close opens
  a new one); if it has a FIN or RST, no packet from ``tcp_close_delay`` after the first
  (the close can end it no earlier); if its first packet is a SYN, the other side answered
  within ``tcp_attempt_delay``, or no packet came after it (the attempt timer); no packet
  older than the clock, none from a frame only the full decoder takes;
* no signature can see anything in it: no payload whose first bytes could begin a Skype
  pattern at the start of a stream (L1, the SSLv2 hello, the fixed ServerHello, an HTTP
  request), no "Skype" in its payload or split across two segments near a stream's start
  (the User-Agent check), no SYN with payload and no segment before its side's SYN (where a
  stream could begin inside a segment);
* neither host is *touched*: a host of a UDP connection the engine does not skip, of a TCP
  instance with something a signature could see, or of any packet from the full decoder.
  Only such hosts ever get host-context entries, so the context signatures (TCP to a probed
  peer, a known node, the fallback chain) cannot fire on it, and its SYN writes no chain.

Memory: a bit per instance of the capture (the verdicts, 10^7 connections in 1.25 MB), the
open instances of one pass (like the tracker's table) and the touched hosts (bounded: the
engine gives up beyond ``MAX_TOUCHED``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..packets.decode import TCP, Packet
from .bulk import Decoded, Unsupported

MAX_TOUCHED = 2_000_000
_MARGIN = 1e-3  # seconds kept clear of each delay: rounding never decides a boundary
STREAM_REACH = 1024 + 65536  # no byte further into a stream reaches the inspection window
_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
# first bytes of a stream that a signature reads (sn_handshake, login, version_check)
ORIG_HEADS = (
    b"\x16\x03\x01\x00\x00",  # L1
    b"\x80\x46\x01\x03\x01",  # the SSLv2-format hello
    b"GET ",
    b"HEAD",
    b"POST",
)
RESP_HEADS = (b"\x16\x03\x01\x00\x4a",)  # the fixed ServerHello
_SKYPE = re.compile(rb"Skype")
_SKYPE_PREFIXES = (b"S", b"Sk", b"Sky", b"Skyp")


def _endpoint_arrays(d: Decoded, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return d.src[idx] << 16 | d.sport[idx], d.dst[idx] << 16 | d.dport[idx]


@dataclass(slots=True)
class TcpPackets:
    """The chunk's TCP packets of one flow key order: plain ones and the full decoder's
    IPv4 ones (``forced``), sorted by flow, then capture order."""

    pos: np.ndarray  # frame index in the chunk
    sub: np.ndarray  # packet index within the frame (full decoder)
    forced: np.ndarray
    a: np.ndarray  # source endpoint (ip << 16 | port)
    b: np.ndarray
    inst: np.ndarray  # instance id
    new: np.ndarray  # the instance's first packet


class Instances:
    """Instance ids, the same in both passes: (flow) -> (clock at its last packet, id)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.flows: dict[tuple[int, int], tuple[float, int]] = {}
        self.next_id = 0
        self._pruned = 0

    def assign(
        self,
        d: Decoded,
        run: np.ndarray,
        decoded: dict[int, list[Packet]],
    ) -> TcpPackets:
        tcp = np.flatnonzero(d.plain & (d.proto == TCP))
        a, b = _endpoint_arrays(d, tcp)
        pos = tcp
        sub = np.zeros(tcp.size, dtype=np.int64)
        forced = np.zeros(tcp.size, dtype=bool)
        ep, es, ea, eb = [], [], [], []
        for i, pkts in decoded.items():
            for k, p in enumerate(pkts):
                if p[0] == TCP and len(p[1]) == 4 and len(p[3]) == 4:
                    ep.append(i)
                    es.append(k)
                    ea.append(int.from_bytes(p[1], "big") << 16 | p[2])
                    eb.append(int.from_bytes(p[3], "big") << 16 | p[4])
        if ep:
            pos = np.concatenate([pos, np.array(ep, dtype=np.int64)])
            sub = np.concatenate([sub, np.array(es, dtype=np.int64)])
            forced = np.concatenate([forced, np.ones(len(ep), dtype=bool)])
            a = np.concatenate([a, np.array(ea, dtype=np.int64)])
            b = np.concatenate([b, np.array(eb, dtype=np.int64)])
        klo, khi = np.minimum(a, b), np.maximum(a, b)
        order = np.lexsort((sub, pos, khi, klo))
        klo, khi, pos, sub, forced, a, b = (x[order] for x in (klo, khi, pos, sub, forced, a, b))
        m = pos.size
        inst = np.zeros(m, dtype=np.int64)
        new = np.zeros(m, dtype=bool)
        if m == 0:
            return TcpPackets(pos, sub, forced, a, b, inst, new)
        t = run[pos]
        first = np.ones(m, dtype=bool)
        first[1:] = (klo[1:] != klo[:-1]) | (khi[1:] != khi[:-1])
        prev = np.empty(m)
        prev[0] = -np.inf
        prev[1:] = t[:-1]
        gstart = np.flatnonzero(first)
        g_prev = np.full(gstart.size, -np.inf)
        g_inst = np.full(gstart.size, -1, dtype=np.int64)
        flows = self.flows
        for g, key in enumerate(zip(klo[gstart].tolist(), khi[gstart].tolist(), strict=True)):
            st = flows.get(key)
            if st is not None:
                g_prev[g], g_inst[g] = st
        prev[gstart] = g_prev
        new = t >= prev + self.timeout
        n_new = int(new.sum())
        ids = np.full(m, -1, dtype=np.int64)
        ids[new] = np.arange(self.next_id, self.next_id + n_new)
        self.next_id += n_new
        # a group's first packet that continues an instance: the carried id
        cont = first & ~new
        ids[cont] = g_inst[np.searchsorted(gstart, np.flatnonzero(cont))]
        seg = np.cumsum(new | first) - 1
        inst = ids[np.flatnonzero(new | first)][seg]
        last = np.ones(m, dtype=bool)
        last[:-1] = first[1:]
        li = np.flatnonzero(last)
        for key_lo, key_hi, lt, iid in zip(
            klo[li].tolist(), khi[li].tolist(), t[li].tolist(), inst[li].tolist(), strict=True
        ):
            flows[(key_lo, key_hi)] = (lt, iid)
        return TcpPackets(pos, sub, forced, a, b, inst, new)

    def prune(self, now: float) -> None:
        t = self.timeout
        self.flows = {k: v for k, v in self.flows.items() if not v[0] + t <= now}
        self._pruned = len(self.flows)

    def maybe_prune(self, now: float) -> None:
        if len(self.flows) > 2 * self._pruned + 4096:
            self.prune(now)

    def open_ids(self) -> np.ndarray:
        return np.array([v[1] for v in self.flows.values()], dtype=np.int64)


class _Inst:
    __slots__ = (
        "base",
        "first_syn",
        "fr",
        "hosts",
        "last",
        "multi",
        "r0",
        "relevant",
        "resp_r",
        "src0",
        "syn_seq",
    )

    def __init__(self, r0: float, src0: int, first_syn: bool, lo: int, hi: int) -> None:
        self.r0 = r0
        self.src0 = src0
        self.first_syn = first_syn
        self.resp_r = np.inf  # the clock at the other side's first packet
        self.fr = np.inf  # the clock at the first FIN or RST
        self.last = r0
        self.multi = False
        self.relevant = False
        self.syn_seq: dict[int, int] = {}  # per side (source endpoint): its first SYN's seq
        self.base: dict[int, int] = {}  # per side: its first payload's seq
        self.hosts = (lo >> 16, hi >> 16)


@dataclass(slots=True)
class Delays:
    close: float
    attempt: float


class Plan:
    """The first pass's product: per instance, may it be skipped (hosts aside); the hosts
    it must not involve."""

    def __init__(self, delays: Delays) -> None:
        self.delays = delays
        self.open: dict[int, _Inst] = {}
        self.verdict = bytearray()  # 1: one inert connection
        self.touched: set[int] = set()
        self.touched_array = np.zeros(0, dtype=np.int64)
        self._kept = 0

    def _close(self, iid: int, st: _Inst) -> None:
        d = self.delays
        ok = not st.multi and not st.relevant
        if ok and st.fr != np.inf and st.last >= st.fr + d.close - _MARGIN:
            ok = False
        if ok and st.first_syn:
            reach = st.r0 + d.attempt - _MARGIN
            if st.resp_r >= reach and st.last >= reach:
                ok = False
        if st.relevant:
            self.touched.update(st.hosts)
        if len(self.verdict) <= iid:
            self.verdict.extend(b"\0" * (iid + 1 - len(self.verdict) + 4096))
        self.verdict[iid] = 1 if ok else 0

    def touch(self, hosts: np.ndarray) -> None:
        self.touched.update(hosts.tolist())
        if len(self.touched) > MAX_TOUCHED:
            raise Unsupported("too many hosts with Skype-shaped traffic")

    def observe(
        self,
        ts: np.ndarray,
        run: np.ndarray,
        before: np.ndarray,
        d: Decoded,
        buf: bytes,
        p: TcpPackets,
    ) -> None:
        """Fold one chunk's TCP packets into their instances."""
        m = p.pos.size
        if m == 0:
            return
        bb = np.frombuffer(buf, dtype=np.uint8)
        plain_pos = np.where(p.forced, 0, p.pos)
        p0 = d.pay_start[plain_pos]
        p1 = d.pay_end[plain_pos]
        plen = np.where(p.forced, 0, p1 - p0)
        flags = np.where(p.forced, 0, d.flags[plain_pos])
        seq = d.seq[plain_pos]
        # could a stream begin with a signature's head here?
        heads_o = _compatible(bb, p0, plen, ORIG_HEADS)
        heads_r = _compatible(bb, p0, plen, RESP_HEADS)
        split = _ends_with_any(bb, p1, plen, _SKYPE_PREFIXES)
        skype = np.zeros(m, dtype=bool)
        hits = [mt.start() for mt in _SKYPE.finditer(buf)]
        if hits:
            h = np.array(hits, dtype=np.int64)
            # a hit inside a payload: p0 <= h and h + 5 <= p1
            order = np.argsort(p0, kind="stable")
            k = np.searchsorted(p0[order], h, "right") - 1
            ok = k >= 0
            cand = order[k[ok]]
            inside = h[ok] + 5 <= p1[cand]
            skype[cand[inside]] = True
        skype &= plen > 0
        t = run[p.pos].tolist()
        late = (ts[p.pos] < before[p.pos]).tolist()
        open_ = self.open
        for j, (iid, new, a, fl, sq, n, forced) in enumerate(
            zip(
                p.inst.tolist(),
                p.new.tolist(),
                p.a.tolist(),
                flags.tolist(),
                seq.tolist(),
                plen.tolist(),
                p.forced.tolist(),
                strict=True,
            )
        ):
            r = t[j]
            if new:
                # a new instance of this flow: the flow's previous one is complete
                st = _Inst(r, a, bool(fl & _SYN), min(a, int(p.b[j])), max(a, int(p.b[j])))
                open_[iid] = st
            else:
                st = open_[iid]
                if fl & _SYN and not fl & _ACK:
                    st.multi = True  # a bare SYN after the first packet
            st.last = r
            if forced or late[j]:
                st.multi = True
                st.relevant = True  # what it carries is unknown
            if a != st.src0 and r < st.resp_r:
                st.resp_r = r
            if fl & (_FIN | _RST) and st.fr == np.inf:
                st.fr = r
            if fl & _SYN:
                s0 = st.syn_seq.setdefault(a, sq)
                if s0 != sq or n:
                    st.relevant = True  # a second ISN, or data in the SYN
            if n:
                base = st.base.setdefault(a, sq)
                syn = st.syn_seq.get(a)
                if syn is not None and ((sq - syn - 1) & 0xFFFFFFFF) >= 0x80000000:
                    st.relevant = True  # before its side's SYN: a stream could start inside
                if (
                    heads_o[j]
                    or heads_r[j]
                    or skype[j]
                    or (split[j] and ((sq - base) & 0xFFFFFFFF) < STREAM_REACH)
                ):
                    st.relevant = True

    def finish_chunk(self, now: float, timeout: float) -> None:
        """Instances whose flow has been silent for the timeout are complete: judged and
        dropped once the table doubled since the last time (O(1) amortised)."""
        if len(self.open) <= 2 * self._kept + 4096:
            return
        done = [iid for iid, st in self.open.items() if st.last + timeout <= now]
        for iid in done:
            self._close(iid, self.open.pop(iid))
        self._kept = len(self.open)

    def finish(self) -> None:
        for iid, st in self.open.items():
            self._close(iid, st)
        self.open.clear()
        if len(self.touched) > MAX_TOUCHED:
            raise Unsupported("too many hosts with Skype-shaped traffic")
        self.touched_array = np.array(sorted(self.touched), dtype=np.int64)

    def skippable(self, inst: np.ndarray) -> np.ndarray:
        v = np.frombuffer(bytes(self.verdict), dtype=np.uint8)
        ok = inst < v.size
        out = np.zeros(inst.size, dtype=bool)
        out[ok] = v[inst[ok]] == 1
        return out


def _compatible(
    bb: np.ndarray, p0: np.ndarray, plen: np.ndarray, heads: tuple[bytes, ...]
) -> np.ndarray:
    """Payloads whose first bytes agree with some head as far as both go."""
    out = np.zeros(p0.size, dtype=bool)
    has = plen > 0
    for h in heads:
        agree = has.copy()
        for k, byte in enumerate(h):
            inside = plen > k
            at = np.where(inside & has, p0 + k, 0)
            agree &= ~inside | (bb[at] == byte)
        out |= agree
    return out


def _ends_with_any(
    bb: np.ndarray, p1: np.ndarray, plen: np.ndarray, tails: tuple[bytes, ...]
) -> np.ndarray:
    out = np.zeros(p1.size, dtype=bool)
    for tail in tails:
        k = len(tail)
        ok = plen >= k
        for i, byte in enumerate(tail):
            at = np.where(ok, p1 - k + i, 0)
            ok &= bb[at] == byte
        out |= ok
    return out
