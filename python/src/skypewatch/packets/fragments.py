"""IPv4 and IPv6 fragment reassembly with Zeek 8.0's semantics (src/Frag.cc, src/Reassem.cc).

What Zeek does, and so what this does:

- a datagram is keyed by (source, destination, identification), the protocol not included;
- its reassembly expires ``frag_timeout`` (5 min) after its *first* fragment, however many
  follow; a fragment arriving later starts a new reassembly;
- overlapping bytes keep the data that came first (a later fragment only fills holes);
- the datagram's length is set by the fragment without "more fragments"; it is complete when
  the bytes from 0 to that length are all there.  A later "last" fragment that says
  otherwise, or data beyond the end, makes the larger end win (``fragment_size_inconsistency``);
  contiguous data up to the end with more data beyond a hole is delivered as far as it is
  contiguous, as Zeek does;
- a completed datagram leaves the table: a repeat of one of its fragments starts afresh.

Zeek's table has no size cap (only the timeout).  This one is bounded, in datagrams and in
bytes held: when full, the reassembly started longest ago is dropped and its frames are
counted, so that a flood of never-completed fragments costs bounded memory and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

FRAG_TIMEOUT = 300.0  # Zeek's frag_timeout (init-bare.zeek: 5 min)
MAX_DATAGRAMS = 8192  # reassemblies held at once
MAX_BYTES = 32 << 20  # fragment payload bytes held in all reassemblies
MAX_DATAGRAM = 65_535 + 8 * 8191  # an IPv4 offset plus a full-length fragment: nothing ends later


@dataclass(frozen=True, slots=True)
class FragmentOptions:
    timeout: float = FRAG_TIMEOUT
    max_datagrams: int = MAX_DATAGRAMS
    max_bytes: int = MAX_BYTES


class _Reassembly:
    """One datagram's fragments so far: non-overlapping blocks, sorted by offset."""

    __slots__ = ("blocks", "expires", "frames", "held", "proto", "size")

    def __init__(self, proto: int, expires: float) -> None:
        self.blocks: list[tuple[int, bytes]] = []  # (offset, data), disjoint, ascending
        self.proto = proto
        self.size = 0  # the datagram's payload length; 0 while no last fragment was seen
        self.expires = expires
        self.frames = 0
        self.held = 0

    def insert(self, offset: int, data: bytes) -> int:
        """Add the parts of ``data`` at ``offset`` that no earlier fragment covered (the
        first data wins); the number of new bytes."""
        upper = offset + len(data)
        added = 0
        merged: list[tuple[int, bytes]] = []
        pos = offset  # the next byte of data not yet placed or skipped
        for seq, block in self.blocks:
            end = seq + len(block)
            if end <= pos or seq >= upper:
                merged.append((seq, block))
                continue
            if seq > pos:  # a hole before this block: the new data fills it
                merged.append((pos, data[pos - offset : seq - offset]))
                added += seq - pos
            merged.append((seq, block))
            pos = max(pos, end)
        if pos < upper:
            merged.append((pos, data[pos - offset :]))
            added += upper - pos
        merged.sort(key=_first)
        # adjacent blocks become one: fragments sent in order then cost one block, not one
        # each, and every later insert and completeness check stays short
        blocks = [merged[0]]
        for seq, block in merged[1:]:
            last_seq, last = blocks[-1]
            if last_seq + len(last) == seq:
                blocks[-1] = (last_seq, last + block)
            else:
                blocks.append((seq, block))
        self.blocks = blocks
        return added

    def complete(self) -> bytes | None:
        """The datagram's payload if it is whole, as Zeek decides (BlockInserted)."""
        blocks = self.blocks
        if not blocks or blocks[0][0] > 0 or not self.size:
            return None
        reach = 0  # the end of the data contiguous from offset 0
        gap = False
        for seq, block in blocks:
            if seq > reach:
                gap = True
                break
            reach = max(reach, seq + len(block))
        if gap:
            if reach < self.size:
                return None
            self.size = reach  # contiguous to the end, more beyond a hole: deliver what is
        else:
            last = blocks[-1][0] + len(blocks[-1][1])
            if last < self.size:
                return None
            self.size = max(self.size, last)
        out = bytearray()
        for seq, block in blocks:
            if seq > len(out):
                break
            out += block[len(out) - seq :]
        return bytes(out[: self.size])


def _first(block: tuple[int, bytes]) -> int:
    return block[0]


@dataclass(slots=True)
class FragmentStats:
    reassembled: int = 0  # datagrams completed
    expired: int = 0  # reassemblies timed out before they were whole
    evicted: int = 0  # reassemblies dropped because the table was full
    frames_lost: int = 0  # fragment frames of reassemblies that expired or were dropped
    max_held: int = 0


FragmentKey = tuple[bytes, bytes, int]
Lost = Callable[[str, int], None]  # (reason, frames)


class FragmentTable:
    """Reassemblies in progress, in the order they started (which is also expiry order,
    since each expires a fixed time after its start)."""

    __slots__ = ("_bytes", "_lost", "_table", "options", "stats")

    def __init__(self, options: FragmentOptions | None = None, lost: Lost | None = None) -> None:
        self.options = options or FragmentOptions()
        self.stats = FragmentStats()
        self._table: dict[FragmentKey, _Reassembly] = {}
        self._bytes = 0
        self._lost = lost

    def __len__(self) -> int:
        return len(self._table)

    def add(
        self,
        now: float,
        key: FragmentKey,
        proto: int,
        offset: int,
        data: bytes,
        more: bool,
    ) -> tuple[int, bytes] | None:
        """One fragment in; ``(protocol, payload)`` of the datagram it completes, or None.

        ``proto`` is the fragment's protocol (IPv4) or its fragment header's next header
        (IPv6): Zeek takes the first fragment's, and an offset-0 fragment's over it."""
        self._expire(now)
        table = self._table
        r = table.get(key)
        if r is None:
            self._make_room(len(data))
            r = table[key] = _Reassembly(proto, now + self.options.timeout)
            self.stats.max_held = max(self.stats.max_held, len(table))
        elif offset == 0:
            r.proto = proto
        r.frames += 1
        upper = offset + len(data)
        if not more:
            r.size = upper if not r.size else max(r.size, upper)
        elif r.size and upper > r.size:
            r.size = upper
        if not data:  # Zeek's reassembler ignores an empty block, and checks nothing
            return None
        added = r.insert(offset, data)
        r.held += added
        self._bytes += added
        done = r.complete()
        if done is None:
            return None
        del table[key]
        self._bytes -= r.held
        self.stats.reassembled += 1
        return r.proto, done

    def flush(self) -> None:
        """The end of input: every reassembly still waiting counts as lost."""
        for r in self._table.values():
            self._count("incomplete", r)
        self._table.clear()
        self._bytes = 0

    def _expire(self, now: float) -> None:
        table = self._table
        while table:
            key = next(iter(table))
            r = table[key]
            if r.expires > now:
                return
            del table[key]
            self._bytes -= r.held
            self.stats.expired += 1
            self._count("incomplete", r)

    def _make_room(self, incoming: int) -> None:
        table = self._table
        opts = self.options
        while table and (
            len(table) >= opts.max_datagrams or self._bytes + incoming > opts.max_bytes
        ):
            r = table.pop(next(iter(table)))
            self._bytes -= r.held
            self.stats.evicted += 1
            self._count("table full", r)

    def _count(self, why: str, r: _Reassembly) -> None:
        self.stats.frames_lost += r.frames
        if self._lost is not None:
            self._lost(why, r.frames)
