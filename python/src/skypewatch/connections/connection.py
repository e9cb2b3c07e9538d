"""Per-connection state: the payload the signatures may look at, and packet counters.

The inspection window is Zeek's signature window, so the two engines see the same bytes:
one buffer per connection shared by both directions, closed once it holds more than
``WINDOW_BYTES`` payload bytes or more than ``WINDOW_CHUNKS`` payload packets (TCP: in-order
stream chunks); the packet that crosses the limit is still inspected (Zeek's PIA with
``dpd_buffer_size`` = 1024, ``dpd_max_packets`` = 100, ``dpd_match_only_beginning`` = T).
UDP keeps at most ``MAX_DATAGRAMS`` datagrams per direction of that window; TCP keeps the
in-order beginning of each direction's stream.  After the window only counters move, so
memory per connection is bounded.
"""

from __future__ import annotations

from ..packets.decode import TCP
from .tcpclose import TcpCloseState

WINDOW_BYTES = 1024  # Zeek: dpd_buffer_size
WINDOW_CHUNKS = 100  # Zeek: dpd_max_packets
MAX_DATAGRAMS = 8  # per direction; the seed study's four messages fit twice over

_NO_DATAGRAMS: list[tuple[bool, float, bytes]] = []  # never appended to (add_datagram)

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_PAIRS = [a + b for a in _BASE62 for b in _BASE62]
_MASK64 = 0xFFFFFFFFFFFFFFFF


def uid_text(key: int) -> str:
    """A Zeek-looking uid for *key* (a 64-bit counter state: detect.tracker numbers the
    connections), the same for the same key: splitmix64's finaliser, written in base 62
    two digits at a time, 12 digits after the "C"."""
    z = key
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    z |= 1 << 70  # fixed length: 2^70 <= z < 2^71 takes 12 base-62 digits
    pairs = _BASE62_PAIRS
    out = "C"
    while z:
        z, r = divmod(z, 3844)
        out += pairs[r]
    return out


class Connection:
    __slots__ = (
        "attempt",
        "close_state",
        "closing",
        "ctx",
        "datagrams",
        "inspecting",
        "key",
        "last_ts",
        "n_orig_dgrams",
        "n_resp_dgrams",
        "orig",
        "orig_first_seg",
        "orig_gap",
        "orig_next_seq",
        "orig_p",
        "orig_pkts",
        "orig_stream",
        "proto",
        "resp",
        "resp_bytes",
        "resp_gap",
        "resp_next_seq",
        "resp_p",
        "resp_pkts",
        "resp_stream",
        "strong_checked",
        "ts",
        "window_bytes",
        "window_chunks",
    )

    def __init__(
        self, key: int, ts: float, proto: int, orig: bytes, orig_p: int, resp: bytes, resp_p: int
    ) -> None:
        # the uid's number: its text is written only for the connections that make a line
        self.key = key
        self.ts = ts
        self.last_ts = ts
        self.proto = proto
        self.orig = orig
        self.orig_p = orig_p
        self.resp = resp
        self.resp_p = resp_p
        self.orig_pkts = 0
        self.resp_pkts = 0
        self.resp_bytes = 0  # payload the responder sent: was the connection answered?
        self.closing = 0.0  # network time at which a TCP close was seen (0: open)
        self.attempt = False  # TCP: opened by the originator's SYN (Zeek's attempt timer)
        # TCP: Zeek's close bookkeeping, which decides where the duration ends
        self.close_state = TcpCloseState() if proto == TCP else None
        self.ctx = 0  # host-context bits the tracker records while the connection is young
        self.inspecting = True  # False once nothing more can reach the signatures
        self.strong_checked = False
        self.window_bytes = 0
        self.window_chunks = 0
        # UDP: (is_orig, ts, payload) in arrival order
        # one shared empty list until the first datagram is kept: most flows never keep one,
        # and an empty list per open flow is 56 bytes of a flood's memory
        self.datagrams: list[tuple[bool, float, bytes]] = _NO_DATAGRAMS
        self.n_orig_dgrams = 0
        self.n_resp_dgrams = 0
        # TCP: in-order beginning of each direction's byte stream
        self.orig_stream = b""
        self.resp_stream = b""
        self.orig_first_seg = 0
        self.orig_next_seq = -1
        self.resp_next_seq = -1
        self.orig_gap = False
        self.resp_gap = False

    @property
    def uid(self) -> str:
        return uid_text(self.key)

    def _window_admits(self, size: int) -> bool:
        """Account a payload chunk against the shared window; True if it is inspected."""
        if self.window_bytes > WINDOW_BYTES or self.window_chunks > WINDOW_CHUNKS:
            self.inspecting = False
            return False
        self.window_bytes += size
        self.window_chunks += 1
        return True

    def add_datagram(self, is_orig: bool, ts: float, payload: bytes) -> bool:
        """Offer one UDP payload to the inspection window.  True if it was kept."""
        if not self._window_admits(len(payload)):
            return False
        if is_orig:
            if self.n_orig_dgrams >= MAX_DATAGRAMS:
                return False
            self.n_orig_dgrams += 1
        else:
            if self.n_resp_dgrams >= MAX_DATAGRAMS:
                return False
            self.n_resp_dgrams += 1
        if self.datagrams is _NO_DATAGRAMS:
            self.datagrams = []
        self.datagrams.append((is_orig, ts, payload))
        if self.n_orig_dgrams >= MAX_DATAGRAMS and self.n_resp_dgrams >= MAX_DATAGRAMS:
            self.inspecting = False
        return True

    def add_segment(self, is_orig: bool, flags: int, seq: int, payload: bytes) -> bool:
        """Append in-order TCP payload to the direction's stream.  True if it grew."""
        if is_orig:
            nxt, stream, gap = self.orig_next_seq, self.orig_stream, self.orig_gap
        else:
            nxt, stream, gap = self.resp_next_seq, self.resp_stream, self.resp_gap
        if flags & 0x02:  # SYN: data starts at ISN + 1
            nxt = (seq + 1) & 0xFFFFFFFF
        grew = False
        if payload and not gap:
            if nxt < 0:
                nxt = seq
            delta = (seq - nxt) & 0xFFFFFFFF
            fresh = b""
            if delta == 0:
                fresh = payload
            elif delta > 0x7FFFFFFF:  # starts before what we have: retransmission or overlap
                behind = 0x100000000 - delta
                fresh = payload[behind:] if behind < len(payload) else b""
            else:  # a hole: we cannot know what is missing, so stop this side
                gap = True
            if fresh and self._window_admits(len(fresh)):
                if not stream and is_orig:  # login.py reads where the first segment ended
                    self.orig_first_seg = len(fresh)
                stream += fresh
                grew = True
            if fresh:
                nxt = (seq + len(payload)) & 0xFFFFFFFF
        if is_orig:
            self.orig_next_seq, self.orig_stream, self.orig_gap = nxt, stream, gap
        else:
            self.resp_next_seq, self.resp_stream, self.resp_gap = nxt, stream, gap
        if self.orig_gap and self.resp_gap:
            self.inspecting = False
        return grew
