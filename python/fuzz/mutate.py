"""Seed mutation for the hypothesis engine: a seed and a list of edits, each edit a tuple of
small integers and bytes, so hypothesis can shrink a failing input towards its seed.

The edits are the ones that break parsers: bit flips, boundary integers written over length
and count fields (both byte orders), cuts, duplicated and deleted ranges, splices of two
seeds, and, for text formats, a token (a TSV cell, a JSON value, a number) replaced by one
from the target's dictionary, and whole lines duplicated, deleted or swapped.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from hypothesis import strategies as st

INTERESTING_8 = (0, 1, 0x7F, 0x80, 0xFF)
INTERESTING_16 = (0, 1, 0x7FFF, 0x8000, 0xFFFF, 12, 20, 28, 32)
INTERESTING_32 = (0, 1, 3, 4, 8, 12, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x0A0D0D0A, 65536)
_DELIMS = frozenset(b'\t,\n:"[]{} ')

Edit = tuple[int, int, int, bytes]  # (operation, position, value, bytes)
N_OPS = 15


def _token_span(data: bytearray, pos: int) -> tuple[int, int]:
    start = pos
    while start > 0 and data[start - 1] not in _DELIMS:
        start -= 1
    end = pos
    while end < len(data) and data[end] not in _DELIMS:
        end += 1
    return start, end


def _line_spans(data: bytearray) -> list[tuple[int, int]]:
    spans, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        spans.append((start, end))
        start = end
    return spans


def apply(
    seed: bytes,
    edits: Sequence[Edit],
    seeds: Sequence[bytes],
    dictionary: Sequence[bytes],
    max_len: int,
) -> bytes:
    data = bytearray(seed)
    for op, pos, value, blob in edits:
        n = len(data)
        at = pos % (n + 1)
        token = dictionary[value % len(dictionary)] if dictionary else blob
        if op == 0 and n:  # flip a bit
            data[at % n] ^= 1 << (value % 8)
        elif op == 1 and n:
            data[at % n] = INTERESTING_8[value % len(INTERESTING_8)]
        elif op == 2 and n >= 2:
            fmt = "<H" if value & 1 else ">H"
            struct.pack_into(fmt, data, at % (n - 1), INTERESTING_16[value // 2 % 9])
        elif op == 3 and n >= 4:
            fmt = "<I" if value & 1 else ">I"
            v = INTERESTING_32[value // 2 % len(INTERESTING_32)]
            struct.pack_into(fmt, data, at % (n - 3), v if value % 7 else n)
        elif op == 4:  # delete a range
            del data[at : at + 1 + value % 64]
        elif op == 5:  # insert bytes
            data[at:at] = blob
        elif op == 6 and n:  # duplicate a range
            data[at:at] = data[at : at + 1 + value % 256]
        elif op == 7:  # cut the input short
            del data[at:]
        elif op == 8:  # insert a dictionary token
            data[at:at] = token
        elif op == 9 and n:  # replace the token around a position (a cell, a JSON value)
            start, end = _token_span(data, at % n)
            data[start:end] = token
        elif op == 10 and seeds:  # splice: our head, another seed's tail
            other = seeds[value % len(seeds)]
            data[at:] = other[pos % (len(other) + 1) :]
        elif op in (11, 12, 13) and n:
            lines = _line_spans(data)
            a, b = lines[pos % len(lines)], lines[value % len(lines)]
            if op == 11:  # duplicate a line
                data[a[0] : a[0]] = data[a[0] : a[1]]
            elif op == 12:
                del data[a[0] : a[1]]
            elif a != b:  # swap two lines
                first, second = sorted((a, b))
                x, y = bytes(data[first[0] : first[1]]), bytes(data[second[0] : second[1]])
                data[second[0] : second[1]] = x
                data[first[0] : first[1]] = y
        elif op == 14 and n:  # repeat a token many times (long cells, deep nesting)
            data[at:at] = token * (1 + value % 2000)
        if len(data) > max_len:
            del data[max_len:]
    return bytes(data)


def edits(max_edits: int = 6) -> st.SearchStrategy[list[Edit]]:
    return st.lists(
        st.tuples(
            st.integers(0, N_OPS - 1),
            st.integers(0, 2**24),
            st.integers(0, 2**16),
            st.binary(max_size=12),
        ),
        max_size=max_edits,
    )


def inputs(
    seeds: Sequence[bytes], dictionary: Sequence[bytes], max_len: int
) -> st.SearchStrategy[bytes]:
    """Mutated seeds (shrinking towards the first seed, unchanged)."""
    seeds = list(seeds)
    return st.builds(
        lambda i, e: apply(seeds[i], e, seeds, dictionary, max_len),
        st.integers(0, len(seeds) - 1),
        edits(),
    )


def random_edits(rng: random.Random, n: int) -> list[Edit]:
    return [
        (
            rng.randrange(N_OPS),
            rng.randrange(2**24),
            rng.randrange(2**16),
            rng.randbytes(rng.randrange(13)),
        )
        for _ in range(n)
    ]
