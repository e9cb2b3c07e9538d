"""The eviction policy of every bounded table: evict by value, not by age alone.

A detector that forgets its oldest entry when a table is full can be blinded by anyone who
sends it enough cheap traffic: a flood of hosts with nothing but weak evidence pushes out
the one client whose notice is pending.  A :class:`TieredTable` keeps one insertion-ordered
dict (least recently used first) per *tier*, a tier being how much an entry is worth to the
detection -- noise (weak or ``possible`` evidence only), evidence (``likely`` or better), a
pending notice -- and when it is full it gives up:

1. the least recently used entry of the lowest tier, if that tier is not above the new
   entry's: noise makes room for anything, and only displaces other noise;
2. otherwise the new entry itself (every stored entry outranks it).

An entry of a tier at or above ``protected`` that goes either way is a *loss*: counted, and
its description kept (the first few) for the warning the user sees.  Displaced noise is only
counted.  Every operation is O(1) amortised (a few dict operations, one per tier at most).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

NOISE = 0
"""Weak or ``possible`` evidence only: the first to go."""
EVIDENCE = 1
"""``likely`` or better evidence, or a host proven by a strong signature."""
PENDING = 2
"""A qualified host whose notice is not out yet."""

MAX_NAMED = 8  # losses named in a warning before "+N more"


@dataclass(slots=True)
class BoundStats:
    """What a full table gave up."""

    evicted: int = 0
    """Entries below ``protected`` displaced to make room (noise, by design)."""
    refused: int = 0
    """New entries not stored because every stored one outranked them."""
    lost: int = 0
    """Entries at or above ``protected`` evicted or refused: evidence the detector lost."""
    named: list[str] = field(default_factory=list)
    """Descriptions of the first ``MAX_NAMED`` losses."""

    def note_loss(self, what: str) -> None:
        self.lost += 1
        if len(self.named) < MAX_NAMED:
            self.named.append(what)

    def add(self, other: BoundStats) -> None:
        self.evicted += other.evicted
        self.refused += other.refused
        self.lost += other.lost
        room = MAX_NAMED - len(self.named)
        if room > 0:
            self.named.extend(other.named[:room])


class TieredTable(Generic[K, V]):
    """A mapping bounded to *limit* entries, evicting by tier, then least recent use.

    ``put`` inserts or updates an entry (and makes it the most recent of its tier); a
    tier may rise or fall with an update.  ``get`` does not change the order; values must
    not be None (``get``'s "absent").  Iteration (``items``) goes tier by tier, lowest
    first, oldest first within a tier."""

    __slots__ = (
        "_describe",
        "_n",
        "_on_evict",
        "_tiers",
        "_worth",
        "limit",
        "name",
        "protected",
        "stats",
    )

    def __init__(
        self,
        name: str,
        limit: int,
        tiers: int = 2,
        protected: int = EVIDENCE,
        describe: Callable[[K], str] = str,
        on_evict: Callable[[K, V], None] | None = None,
        stats: BoundStats | None = None,
        worth: Callable[[K, V], int] | None = None,
    ) -> None:
        if limit < 1 or tiers < 1:
            raise ValueError("a bounded table needs a limit and a tier of at least 1")
        self.name = name
        self.limit = limit
        self.protected = protected
        self.stats = stats if stats is not None else BoundStats()  # may be shared by tables
        self._describe = describe
        self._on_evict = on_evict  # told of every entry displaced (not of refused ones)
        # What an entry is worth *now*, asked before it is displaced: an entry stored as
        # noise whose host has since shown evidence moves up instead (once: O(1) amortised)
        self._worth = worth
        self._tiers: list[OrderedDict[K, V]] = [OrderedDict() for _ in range(tiers)]
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: object) -> bool:
        # a loop, not any(): this runs per packet, and a generator costs twice as much
        for t in self._tiers:  # noqa: SIM110
            if key in t:
                return True
        return False

    def __bool__(self) -> bool:
        return self._n > 0

    def get(self, key: K) -> V | None:
        for t in self._tiers:
            v = t.get(key)
            if v is not None:
                return v
        return None

    def tier_of(self, key: K) -> int:
        """The tier *key* is stored in, or -1."""
        for i, t in enumerate(self._tiers):
            if key in t:
                return i
        return -1

    def put(self, key: K, value: V, tier: int = NOISE) -> bool:
        """Store *key* as the most recent entry of *tier*; False if it was refused."""
        tiers = self._tiers
        tier = min(tier, len(tiers) - 1)
        home = tiers[tier]
        if key in home:
            home[key] = value
            home.move_to_end(key)
            return True
        for other in tiers:
            if other is not home and key in other:
                del other[key]  # a change of tier: no growth
                home[key] = value
                return True
        if self._n >= self.limit and not self._make_room(key, tier):
            return False
        home[key] = value
        self._n += 1
        return True

    def add(self, key: K, value: V, tier: int = NOISE) -> bool:
        """``put`` for a key the caller knows is not stored (a new connection's uid): the
        per-packet path, without the look in every tier."""
        if self._n >= self.limit and not self._make_room(key, tier):
            return False
        self._tiers[min(tier, len(self._tiers) - 1)][key] = value
        self._n += 1
        return True

    def changes_front(self, key: K, tier: int) -> bool:
        """Whether ``put(key, value, tier)`` may change a tier's least recent entry or its
        time -- the only entries :meth:`prune` and :meth:`first_time` look at: *key* is one,
        it goes into an empty tier, or it is new to a full table (which evicts one)."""
        tiers = self._tiers
        if not tiers[min(tier, len(tiers) - 1)]:
            return True
        for t in tiers:
            if key in t:
                return next(iter(t)) == key
        return self._n >= self.limit  # else a new key goes behind its tier's least recent

    def merge(self, entries: list[tuple[K, V]], order: Callable[[K], int]) -> None:
        """Put new *entries* into the lowest tier among its entries by *order* of their
        keys, for a caller whose entries went in that order and that gives back ones kept
        elsewhere meanwhile (the bulk engine's skipped connections).  The table must have
        room for them; nothing is evicted."""
        if self._n + len(entries) > self.limit:
            raise ValueError(f"{self.name}: no room to merge {len(entries)} entries")
        low = self._tiers[0]
        merged = sorted([*low.items(), *entries], key=lambda kv: order(kv[0]))
        low.clear()
        low.update(merged)
        self._n += len(entries)

    def touch(self, key: K) -> None:
        """Make *key* the most recent entry of its tier (a use that keeps it alive)."""
        for t in self._tiers:
            if key in t:
                t.move_to_end(key)
                return

    def pop(self, key: K) -> V | None:
        for t in self._tiers:
            if key in t:
                self._n -= 1
                return t.pop(key)
        return None

    def _make_room(self, key: K, tier: int) -> bool:
        tiers = self._tiers
        low = 0
        while low < len(tiers):
            t = tiers[low]
            if not t:
                low += 1
                continue
            if low > tier:
                break  # everything stored outranks the new entry
            old, value = t.popitem(last=False)
            if self._worth is not None:
                now = min(self._worth(old, value), len(tiers) - 1)
                if now > low:
                    tiers[now][old] = value  # promoted, not displaced
                    continue
            self._n -= 1
            if self._on_evict is not None:
                self._on_evict(old, value)
            if low >= self.protected:
                self.stats.note_loss(f"{self.name} {self._describe(old)}")
            else:
                self.stats.evicted += 1
            return True
        self.stats.refused += 1
        if tier >= self.protected:
            self.stats.note_loss(f"{self.name} {self._describe(key)}")
        return False

    # -- age-based expiry and iteration -------------------------------------------------------
    def oldest(self) -> Iterator[tuple[int, K, V]]:
        """The least recent entry of each non-empty tier: (tier, key, value)."""
        for i, t in enumerate(self._tiers):
            if t:
                key = next(iter(t))
                yield i, key, t[key]

    def expire(self, expired: Callable[[V], bool]) -> Iterator[tuple[K, V]]:
        """Pop, tier by tier, the oldest entries while *expired* says so (each tier is in
        order of last use, so the first entry that is not expired ends that tier)."""
        for t in self._tiers:
            while t:
                key = next(iter(t))
                value = t[key]
                if not expired(value):
                    break
                del t[key]
                self._n -= 1
                yield key, value

    def prune(self, expired: Callable[[V], bool]) -> None:
        """``expire`` for a caller that needs nothing back (per packet: no generator)."""
        for t in self._tiers:
            while t:
                value = next(iter(t.values()))
                if not expired(value):
                    break
                t.popitem(last=False)
                self._n -= 1

    def first_time(self, time_of: Callable[[V], float]) -> float:
        """The least *time_of* among the tiers' least recent entries (inf if empty)."""
        best = math.inf
        for t in self._tiers:
            if t:
                x = time_of(next(iter(t.values())))
                if x < best:
                    best = x
        return best

    def items(self) -> Iterator[tuple[K, V]]:
        for t in self._tiers:
            yield from t.items()

    def clear(self) -> None:
        for t in self._tiers:
            t.clear()
        self._n = 0
