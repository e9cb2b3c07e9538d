"""Deterministic address allocation for synthesized captures: local 10.x hosts, public
outside hosts drawn from address space that was routed in 2006."""

from __future__ import annotations

import random
from collections import deque

RESOLVER = bytes((10, 0, 0, 1))

_PUBLIC_FIRST_OCTETS = (
    24,
    62,
    64,
    65,
    66,
    67,
    68,
    69,
    70,
    71,
    72,
    80,
    81,
    82,
    83,
    84,
    85,
    86,
    87,
    88,
    89,
    90,
    91,
    193,
    194,
    195,
    212,
    213,
    217,
)

_FIRST_BITS = len(_PUBLIC_FIRST_OCTETS).bit_length()


class Addresses:
    """Deterministic address allocation: local 10.x hosts, public outside hosts.

    Addresses are unique among the last ``RECENT`` drawn, so memory stays flat however long
    the capture; a repeat after that is as harmless as it is on a real network."""

    RECENT = 1 << 16

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[bytes] = set()
        self.order: deque[bytes] = deque()

    def _take(self, a: bytes) -> bool:
        if a in self.used:
            return False
        self.used.add(a)
        self.order.append(a)
        if len(self.order) > self.RECENT:
            self.used.discard(self.order.popleft())
        return True

    def public(self) -> bytes:
        # Background fan-outs draw hundreds of thousands of these, so the draws are written
        # out with getrandbits: the same rejection sampling as Random.choice/randrange
        # (CPython's _randbelow), hence the same addresses, at a fraction of the calls.
        bits = self.rng.getrandbits
        while True:
            i = bits(_FIRST_BITS)
            while i >= len(_PUBLIC_FIRST_OCTETS):
                i = bits(_FIRST_BITS)
            b = bits(9)
            while b >= 256:
                b = bits(9)
            c = bits(9)
            while c >= 256:
                c = bits(9)
            d = bits(8)
            while d >= 254:
                d = bits(8)
            a = bytes((_PUBLIC_FIRST_OCTETS[i], b, c, d + 1))
            if self._take(a):
                return a

    def local(self) -> bytes:
        while True:
            a = bytes(
                (
                    10,
                    self.rng.randrange(1, 255),
                    self.rng.randrange(256),
                    self.rng.randrange(2, 255),
                )
            )
            if self._take(a):
                return a
