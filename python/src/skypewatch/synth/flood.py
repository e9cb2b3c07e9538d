"""Cheap traffic that an attacker (or a busy network) uses to fill a detector's bounded
state: one-packet connections from distinct hosts, each costing the sender one datagram.

* ``udp``: a plain one-packet UDP flow (random payload) -- an open connection until the
  UDP timeout ends it, nothing more.
* ``agent``: one TCP segment carrying an HTTP request with ``User-Agent: Skype``, no
  handshake -- a ``possible`` skype.log line (``skype_user_agent``) from a new client host.
* ``probe``: one lone U1-shaped datagram -- an entry in the host context's probe and
  endpoint tables for a host that shows nothing else.

Sources are distinct addresses counted up from 198.18.0.0 (RFC 2544's benchmark range:
outside, and never one of a synthesized start-up's hosts); a flood of *n* connections
starts at *t0* and spreads evenly over *duration* seconds.  Deterministic: same arguments,
same frames.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from .frames import ACK, PSH, tcp_frame, udp_frame
from .messages import u1
from .pcapwriter import PcapWriter
from .scenarios import SynthOptions, stream

FLOOD_KINDS = ("udp", "agent", "probe")
_FIRST_SOURCE = 198 << 24 | 18 << 16  # 198.18.0.0/15: 131,072 addresses, then wraps
_SOURCES = 1 << 17
_TARGET = bytes((203, 0, 113, 80))  # the one host every flood connection goes to


def source(i: int) -> bytes:
    """The *i*-th flood source address (distinct for the first 131,072)."""
    return (_FIRST_SOURCE + 1 + i % (_SOURCES - 2)).to_bytes(4, "big")


def _agent_request(i: int) -> bytes:
    return (
        b"GET /ui/update HTTP/1.1\r\nHost: example.net\r\n"
        b"User-Agent: Skype/" + str(i % 10).encode() + b".0\r\n\r\n"
    )


def flood(
    kind: str, n: int, t0: float, duration: float, seed: int = 1, first: int = 0
) -> Iterator[tuple[float, bytes]]:
    """*n* one-packet connections of *kind* from sources *first*.. as (ts, frame), in time
    order."""
    if kind not in FLOOD_KINDS:
        raise ValueError(f"unknown flood kind {kind!r} (known: {', '.join(FLOOD_KINDS)})")
    rng = random.Random(f"flood:{kind}:{seed}")
    step = duration / max(n, 1)
    for i in range(n):
        src = source(first + i)
        sport = 1024 + rng.getrandbits(15)
        ts = t0 + i * step
        if kind == "udp":
            payload = rng.randbytes(20 + rng.getrandbits(5))
            yield ts, udp_frame(src, sport, _TARGET, 53000 + (i & 0x3FF), payload, ident=i)
        elif kind == "probe":
            payload = u1(rng, rng.getrandbits(16))
            yield ts, udp_frame(src, sport, _TARGET, 33033, payload, ident=i)
        else:
            seq = rng.getrandbits(31)
            frame = tcp_frame(src, sport, _TARGET, 80, seq, 1, PSH | ACK, _agent_request(i))
            yield ts, frame


def merged(*streams: Iterable[tuple[float, bytes]]) -> Iterator[tuple[float, bytes]]:
    """Time-ordered streams of (ts, frame) as one (ties: the earlier stream first)."""
    return heapq.merge(*streams, key=lambda e: e[0])


FLOOD_WHEN = ("before", "during", "after")


def write_flooded_startup(
    path: str | Path,
    n: int,
    when: str,
    kinds: tuple[str, ...] = FLOOD_KINDS,
    seconds: float = 30.0,
    scenario: str = "open-1.4",
) -> int:
    """One real start-up (*scenario*, one client) and a flood of *n* one-packet connections of
    each of *kinds* (distinct sources across kinds) that ends as the start-up begins
    (``before``), spans it (``during``) or begins as it ends (``after``, while its notice
    is still settling).  Returns the packets written."""
    if when not in FLOOD_WHEN:
        raise ValueError(f"unknown flood timing {when!r} (known: {', '.join(FLOOD_WHEN)})")
    start_up = list(stream(scenario, SynthOptions(clients=1, duration=60.0)))
    first, last = start_up[0][0], start_up[-1][0]
    t0 = {"before": first - seconds, "during": (first + last - seconds) / 2, "after": last}[when]
    floods = [flood(kind, n, t0, seconds, first=k * n) for k, kind in enumerate(kinds)]
    with PcapWriter(path) as w:
        batch: list[tuple[float, bytes]] = []
        for ev in merged(start_up, *floods):
            batch.append(ev)
            if len(batch) >= 65536:
                w.write_events(batch)
                batch = []
        w.write_events(batch)
        return w.packets
