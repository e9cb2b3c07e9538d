"""When Zeek stops timing a TCP connection: its ``duration`` to the packet.

Zeek moves a TCP connection's last-packet time on every packet until *both* endpoints have
closed (``TCPSessionAdapter::Process``: ``if ( ! orig->did_close || ! resp->did_close )``), so
``conn.log``'s duration ends at the packet that completed the close, not at the final ACK.
An endpoint's FIN or RST closes it only once its reassembler has nothing pending
(``TCP_Reassembler::DataPending``): its own stream has no hole up to the FIN, and the peer's
data it should have acknowledged has been acknowledged, unless it was reset.  A close that
waits is completed by the first later packet that clears the condition (``CheckEOF``).

skype.log reports Zeek's duration, so this module replays that model packet by packet for
every TCP connection: sequence numbers relative to each endpoint's initial one, the
contiguous delivered edge, the acknowledged ("trimmed") edge and out-of-order blocks.  It
models Zeek 8.0's ``TCPSessionAdapter`` and ``TCP_Reassembler`` (read in zeek/zeek v8.0.10);
the engine-parity test holds it to Zeek's conn.log on every shared capture.
"""

from __future__ import annotations

_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
_CONTROL = _SYN | _FIN | _RST | _ACK  # a plain segment has only ACK of these
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
_TOO_LARGE_SEQ_DELTA = 1048576  # Zeek's TOO_LARGE_SEQ_DELTA for SYN/RST sequence jumps

INACTIVE, OPEN, CLOSED, RESET = range(4)


class _Endpoint:
    __slots__ = (
        "ack_max",
        "blocks",
        "data_max",
        "delivered",
        "did_close",
        "did_eof",
        "fin_cnt",
        "fin_seq",
        "last_seq",
        "start",
        "state",
        "trim",
    )

    def __init__(self) -> None:
        self.start = -1  # absolute initial sequence number; -1 until the endpoint is seen
        self.state = INACTIVE
        self.last_seq = 0  # relative: one past the highest segment (a SYN or FIN counts 1)
        self.delivered = 1  # relative: the contiguous edge (Zeek's last_reassem_seq)
        self.trim = 1  # relative: what the peer acknowledged (blocks below are dropped)
        self.data_max = 1  # relative: one past the highest payload byte received
        self.blocks: list[tuple[int, int]] = []  # out-of-order payload above ``delivered``
        self.fin_cnt = 0
        self.fin_seq = 0
        self.did_close = False
        self.did_eof = False
        self.ack_max = 0  # relative: the highest acknowledgment the peer sent (not in a RST)

    def init(self, start: int) -> None:
        self.start = start & _MASK
        self.last_seq = 1

    def rel(self, seq: int) -> int:
        """``seq`` relative to the initial sequence number; negative when it lies before it."""
        d = (seq - self.start) & _MASK
        return d - 0x100000000 if d >= _HALF else d

    def size(self) -> int:
        """Zeek's ``TCP_Endpoint::Size``: payload bytes by sequence numbers, counting what
        the peer acknowledged but the capture missed, less the SYN and FIN octets."""
        size = max(self.last_seq, self.ack_max)
        if size:
            size -= 1
        if self.fin_cnt and size:
            size -= 1
        return size

    def has_blocks(self) -> bool:
        return self.data_max > self.trim

    def data(self, lo: int, hi: int) -> None:
        """Zeek's ``TCP_Reassembler::DataSent`` for payload [lo, hi)."""
        if hi <= self.trim:
            return  # already acknowledged: Zeek never inserts it
        lo = max(lo, self.trim)
        if hi > self.data_max:
            self.data_max = hi
        if lo <= self.delivered:
            if hi > self.delivered:
                self.delivered = hi
                if self.blocks:
                    self._merge()
        else:
            self.blocks.append((lo, hi))

    def ack(self, upto: int) -> None:
        """Zeek's ``AckReceived`` / ``TrimToSeq``: the peer acknowledged up to ``upto``."""
        if self.fin_cnt and upto >= self.fin_seq:
            upto = self.fin_seq - 1
        if upto <= self.trim:
            return
        self.trim = upto
        if upto > self.delivered:
            self.delivered = upto  # a gap the peer acknowledged: skipped over
        if self.blocks:
            self.blocks = [(lo, hi) for lo, hi in self.blocks if hi > upto]
            self._merge()

    def _merge(self) -> None:
        self.blocks.sort()
        keep = []
        for lo, hi in self.blocks:
            if lo <= self.delivered:
                self.delivered = max(self.delivered, hi)
            else:
                keep.append((lo, hi))
        self.blocks = keep


class TcpCloseState:
    """Zeek's view of one TCP connection's close, fed every packet in order."""

    __slots__ = ("both_closed", "close_deferred", "complete", "ends", "fast_orig", "fast_resp")

    def __init__(self) -> None:
        self.ends = (_Endpoint(), _Endpoint())  # originator, responder
        self.close_deferred = False
        # Zeek's close_complete: the connection now lingers tcp_close_delay, then ends
        self.complete = False
        # both endpoints' did_close (an attribute: read on every packet, set in _closed)
        self.both_closed = False
        # whether a plain ACK or data segment from that end takes the fast path (_fast);
        # only general() changes what decides it, so it is worked out there, once
        self.fast_orig = False
        self.fast_resp = False

    def responder_size(self) -> int:
        return self.ends[1].size()

    def packet(self, is_orig: bool, flags: int, seq: int, ack: int, length: int) -> None:
        """Account for one packet (read :attr:`both_closed` for its time *before*)."""
        ends = self.ends
        if is_orig:
            ep, peer = ends
            fast = self.fast_orig
        else:
            peer, ep = ends
            fast = self.fast_resp
        if fast and (flags & _CONTROL) == _ACK:
            # The bulk of every connection: an ACK or data segment between two open ends with
            # no FIN yet.  The same steps as general() with its no-ops left out (no state
            # change, no close, no end of data possible) and the usual case of ack() and
            # data() written in; a test holds the two paths together.
            d = (seq - ep.start) & _MASK
            rel = d - 0x100000000 if d >= _HALF else d
            d = (ack - peer.start) & _MASK
            ack_rel = d - 0x100000000 if d >= _HALF else d
            if ack_rel < 0:
                ack_rel = 0
            elif ack_rel > peer.ack_max:
                peer.ack_max = ack_rel
            if rel + length > ep.last_seq:
                ep.last_seq = rel + length
            if ack_rel > peer.trim:
                # ack(): no FIN on either side here, so nothing caps the acknowledgment
                peer.trim = ack_rel
                if ack_rel > peer.delivered:
                    peer.delivered = ack_rel
                if peer.blocks:
                    peer.blocks = [(lo, hi) for lo, hi in peer.blocks if hi > ack_rel]
                    peer._merge()
            if length > 0 and rel >= 0:
                hi = rel + length
                trim = ep.trim
                if hi > trim:  # data(): what the peer acknowledged already is never kept
                    lo = rel if rel > trim else trim
                    if hi > ep.data_max:
                        ep.data_max = hi
                    if lo > ep.delivered:
                        ep.blocks.append((lo, hi))
                    elif hi > ep.delivered:
                        ep.delivered = hi
                        if ep.blocks:
                            ep._merge()
            return
        self.general(ep, peer, flags, seq, ack, length)
        self._fast()

    def _fast(self) -> None:
        """Which ends' plain ACK and data segments may take the fast path: that end open,
        the other end not closed or reset and numbered (so no FIN from either: a FIN
        leaves its end closed or reset for good)."""
        o, r = self.ends
        self.fast_orig = o.state == OPEN and r.state <= OPEN and r.start >= 0
        self.fast_resp = r.state == OPEN and o.state <= OPEN and o.start >= 0

    def general(
        self, ep: _Endpoint, peer: _Endpoint, flags: int, seq: int, ack: int, length: int
    ) -> None:
        """Every packet's accounting, as Zeek's TCP analyzer does it."""
        syn, fin, rst = flags & _SYN, flags & _FIN, flags & _RST
        seg_len = length + (1 if syn else 0) + (1 if fin else 0)
        if ep.state == INACTIVE:  # its first packet (re)starts the numbering, as in Zeek
            ep.init(seq if syn else seq - 1)
        rel = ep.rel(seq)
        if fin:
            ep.fin_cnt += 1
            ep.fin_seq = rel + seg_len
        ack_rel = None
        if flags & _ACK:
            if peer.start < 0:
                peer.init(ack - 1)
                ack_rel = 1
            else:
                ack_rel = peer.rel(ack)
                if ack_rel < 0:
                    ack_rel = 0
                elif not rst and ack_rel > peer.ack_max:
                    peer.ack_max = ack_rel
        self._update_last_seq(ep, rel + seg_len, flags)
        do_close = self._state_machine(ep, peer, syn, fin, rst)
        if ack_rel is not None:
            peer.ack(ack_rel)
            self._check_eof(peer)
        if length > 0 and not rst and rel >= 0:
            lo = rel + 1 if syn else rel
            ep.data(lo, lo + length)
        self._check_eof(ep)
        if do_close:
            self._closed(ep)

    # -- Zeek's TCPSessionAdapter, reduced to what decides the close ---------------------
    @staticmethod
    def _update_last_seq(ep: _Endpoint, one_past: int, flags: int) -> None:
        delta = one_past - ep.last_seq
        if flags & (_SYN | _RST) and abs(delta) > _TOO_LARGE_SEQ_DELTA:
            return
        if flags & _FIN and ep.last_seq == 1:
            ep.last_seq = one_past
        elif ep.state == RESET:
            return
        elif delta > 0:
            ep.last_seq = one_past

    @staticmethod
    def _state_machine(ep: _Endpoint, peer: _Endpoint, syn: int, fin: int, rst: int) -> bool:
        if ep.state == CLOSED:
            if rst and peer.state != CLOSED:
                ep.state = RESET
                return not ep.did_close
            return False
        if ep.state == RESET:
            return False
        do_close = False
        if fin and not rst:
            ep.state = CLOSED
            do_close = True
        if rst:
            ep.state = RESET
            do_close = True
        if not do_close and ep.state == INACTIVE:
            ep.state = OPEN
        return do_close

    @staticmethod
    def _data_pending(ep: _Endpoint, peer: _Endpoint) -> bool:
        if ep.last_seq < ep.delivered:
            return False  # Zeek: sequence numbers it cannot trust
        if ep.delivered not in (ep.last_seq - 1, ep.last_seq):
            return True
        return ep.state != RESET and peer.has_blocks()

    def _check_eof(self, ep: _Endpoint) -> None:
        if ep.did_eof or not (ep.fin_cnt or ep.state in (CLOSED, RESET)):
            return
        peer = self.ends[1] if ep is self.ends[0] else self.ends[0]
        if self._data_pending(ep, peer):
            return
        ep.did_eof = True
        if self.close_deferred:
            self._closed(ep)

    def _closed(self, ep: _Endpoint) -> None:
        peer = self.ends[1] if ep is self.ends[0] else self.ends[0]
        if self._data_pending(ep, peer):
            self.close_deferred = True
            return
        self.close_deferred = False
        if ep.did_close:
            return
        ep.did_close = True
        self.both_closed = peer.did_close
        if ep.state == RESET or peer.did_close or peer.state == INACTIVE:
            self.complete = True
