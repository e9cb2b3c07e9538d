"""Per-connection state: the few payloads and counters the signatures look at.

A connection keeps the first ``MAX_DATAGRAMS`` UDP payloads per direction and the first
``STREAM_BYTES`` of each TCP direction, in order (Zeek's ``dpd_buffer_size`` is the same 1 KiB).
Everything after that only moves counters, so memory per connection is bounded.
"""

from __future__ import annotations

from .decode import TCP

MAX_DATAGRAMS = 8  # per direction; the seed study's four messages fit several times over
STREAM_BYTES = 1024
MAX_SEGMENTS = 32  # payload segments after which a TCP stream's beginning is settled

# p[2] & 0x8F values that Skype UDP uses (signatures.md U-3)
KNOWN_UDP_TYPES = frozenset((0x00, 0x02, 0x03, 0x05, 0x07, 0x0D, 0x0F))


class Connection:
    __slots__ = (
        "closing",
        "ctx",
        "datagrams",
        "done_buffering",
        "fins",
        "first_orig_prefix",
        "first_orig_ts",
        "last_orig_ts",
        "last_ts",
        "n_orig_dgrams",
        "n_resp_dgrams",
        "orig",
        "orig_first_seg",
        "orig_gap",
        "orig_next_seq",
        "orig_p",
        "orig_payload_pkts",
        "orig_pkts",
        "orig_stream",
        "prefix_same",
        "proto",
        "refreshed",
        "resp",
        "resp_first_seg",
        "resp_gap",
        "resp_next_seq",
        "resp_p",
        "resp_pkts",
        "resp_stream",
        "segments",
        "strong_checked",
        "ts",
        "type_d",
        "udp_payload_pkts",
        "uid",
        "voice_id",
        "voice_id_changes",
    )

    def __init__(
        self, uid: str, ts: float, proto: int, orig: bytes, orig_p: int, resp: bytes, resp_p: int
    ) -> None:
        self.uid = uid
        self.ts = ts
        self.last_ts = ts
        self.proto = proto
        self.orig = orig
        self.orig_p = orig_p
        self.resp = resp
        self.resp_p = resp_p
        self.orig_pkts = 0
        self.resp_pkts = 0
        self.refreshed = ts  # when the tracker's expiry sweep last looked at it
        self.closing = 0.0  # network time at which a TCP close was seen (0: open)
        self.done_buffering = False
        self.strong_checked = False
        self.fins = 0  # bit 1: orig sent FIN, bit 2: resp sent FIN
        self.ctx = 0  # host-context bits the tracker records while the connection is young
        # UDP
        self.datagrams: list[tuple[bool, float, bytes]] = []
        self.n_orig_dgrams = 0
        self.n_resp_dgrams = 0
        self.udp_payload_pkts = 0
        self.orig_payload_pkts = 0
        self.first_orig_ts = 0.0
        self.last_orig_ts = 0.0
        self.type_d = 0  # datagrams with p[2] & 0x8F == 0x0D and more than 4 bytes (voice)
        self.voice_id = b""
        self.voice_id_changes = 0  # voice datagrams whose ID differs from the previous one's
        self.first_orig_prefix = b""
        self.prefix_same = 0  # orig datagrams sharing the first one's 4-byte prefix (SkypeOut)
        # TCP: in-order prefix of each direction's byte stream
        self.orig_stream = b""
        self.resp_stream = b""
        self.orig_first_seg = 0
        self.resp_first_seg = 0
        self.orig_next_seq = -1
        self.resp_next_seq = -1
        self.segments = 0
        self.orig_gap = False
        self.resp_gap = False

    @property
    def is_tcp(self) -> bool:
        return self.proto == TCP

    @property
    def saturated(self) -> bool:
        """No later packet can change a signature's answer; only counters still move."""
        if self.proto == TCP:
            return self.segments >= MAX_SEGMENTS or (
                (len(self.orig_stream) >= STREAM_BYTES or self.orig_gap)
                and (len(self.resp_stream) >= STREAM_BYTES or self.resp_gap)
            )
        return self.n_orig_dgrams >= MAX_DATAGRAMS and self.n_resp_dgrams >= MAX_DATAGRAMS

    def orig_datagrams(self) -> list[bytes]:
        return [p for is_orig, _, p in self.datagrams if is_orig]

    def resp_datagrams(self) -> list[bytes]:
        return [p for is_orig, _, p in self.datagrams if not is_orig]

    def count_datagram(self, is_orig: bool, ts: float, payload: bytes) -> None:
        """The per-datagram counters the media signatures need (every datagram, all flow)."""
        self.udp_payload_pkts += 1
        if len(payload) > 4 and payload[2] & 0x8F == 0x0D:
            self.type_d += 1
            if payload[:2] != self.voice_id:
                self.voice_id_changes += 1
                self.voice_id = payload[:2]
        if is_orig:
            self.orig_payload_pkts += 1
            self.last_orig_ts = ts
            if not self.first_orig_prefix:
                self.first_orig_prefix = payload[:4]
                self.first_orig_ts = ts
            if payload[:4] == self.first_orig_prefix:
                self.prefix_same += 1

    def add_datagram(self, is_orig: bool, ts: float, payload: bytes) -> bool:
        """Count one UDP payload; keep it if still in the inspection window.  True if kept."""
        self.count_datagram(is_orig, ts, payload)
        if is_orig:
            if self.n_orig_dgrams < MAX_DATAGRAMS:
                self.n_orig_dgrams += 1
                self.datagrams.append((True, ts, payload))
                return True
        elif self.n_resp_dgrams < MAX_DATAGRAMS:
            self.n_resp_dgrams += 1
            self.datagrams.append((False, ts, payload))
            return True
        return False

    def add_segment(self, is_orig: bool, flags: int, seq: int, payload: bytes) -> bool:
        """Append in-order TCP payload to the direction's stream prefix.  True if it grew."""
        if is_orig:
            nxt, stream, gap = self.orig_next_seq, self.orig_stream, self.orig_gap
        else:
            nxt, stream, gap = self.resp_next_seq, self.resp_stream, self.resp_gap
        if flags & 0x02:  # SYN: data starts at ISN + 1
            nxt = (seq + 1) & 0xFFFFFFFF
        grew = False
        if payload:
            self.segments += 1
        if payload and not gap and len(stream) < STREAM_BYTES:
            if nxt < 0:
                nxt = seq
            delta = (seq - nxt) & 0xFFFFFFFF
            if delta == 0:
                if not stream:
                    if is_orig:
                        self.orig_first_seg = len(payload)
                    else:
                        self.resp_first_seg = len(payload)
                stream += payload[: STREAM_BYTES - len(stream)]
                nxt = (seq + len(payload)) & 0xFFFFFFFF
                grew = True
            elif delta > 0x7FFFFFFF:  # starts before what we have: retransmission or overlap
                behind = 0x100000000 - delta
                if behind < len(payload):
                    stream += payload[behind : behind + STREAM_BYTES - len(stream)]
                    nxt = (seq + len(payload)) & 0xFFFFFFFF
                    grew = True
            else:  # a hole: we cannot know what is missing, so stop buffering this side
                gap = True
        if is_orig:
            self.orig_next_seq, self.orig_stream, self.orig_gap = nxt, stream, gap
        else:
            self.resp_next_seq, self.resp_stream, self.resp_gap = nxt, stream, gap
        return grew
