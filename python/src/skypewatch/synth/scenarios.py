"""Skype start-up scenarios under the network conditions of the seed study.

Each scenario (conditions.py) produces client start-ups (startup.py), super-node relays and
their visitors, optionally mixed with benign background traffic (background.py).

Output is streamed: a scheduler admits a start-up only when the capture's clock reaches it,
so memory depends on how many conversations overlap, not on the capture's length.
"""

from __future__ import annotations

import heapq
import math
import os
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from pathlib import Path

from ..atomic import temp_beside
from . import messages as m
from .addresses import RESOLVER, Addresses
from .background import background
from .conditions import EPOCH, SCENARIOS, Conditions
from .frames import TcpSession, udp_frame
from .pcapwriter import PcapWriter
from .startup import Startup
from .truth import TRUTH_COLUMNS, Conn, Event, truth_path

__all__ = ["EPOCH", "SCENARIOS", "SynthOptions", "SynthResult", "describe", "synthesize"]


@dataclass(frozen=True, slots=True)
class SynthOptions:
    clients: int = 1
    seed: int = 1
    duration: float = 120.0
    background: float = 0.0  # background packets per second (approximate)

    def __post_init__(self) -> None:
        # nan or inf would never end (the scheduler compares against them); pcap seconds
        # are 32 bits, so the capture's clock must stay well inside them
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise ValueError(f"clients must be between 1 and {MAX_CLIENTS:,}")
        if not (math.isfinite(self.duration) and 0 < self.duration <= MAX_DURATION):
            raise ValueError(f"duration must be positive and at most {MAX_DURATION:,.0f} s")
        if not (math.isfinite(self.background) and 0 <= self.background <= MAX_BACKGROUND):
            raise ValueError(f"background must be between 0 and {MAX_BACKGROUND:,.0f} packets/s")


MAX_CLIENTS = 1_000_000
MAX_DURATION = 30 * 86_400.0
MAX_BACKGROUND = 1_000_000.0


@dataclass(slots=True)
class SynthResult:
    pcap: Path
    truth: Path
    packets: int
    connections: int
    skype_connections: int
    seconds: float = 0.0


def supernode_relay(
    rng: random.Random, addrs: Addresses, node: bytes, node_port: int, t: float
) -> list[Event]:
    """An outside client probing a local super node, then connecting to it over TCP."""
    outside, oport = addrs.public(), rng.randint(1025, 65000)
    conn = Conn("udp", outside, oport, node, node_port, "probe", outside)
    u1 = m.u1(rng, rng.getrandbits(16))
    challenge = rng.getrandbits(32).to_bytes(4, "big")
    events: list[Event] = [
        (t, udp_frame(outside, oport, node, node_port, u1), conn),
        (
            t + 0.05,
            udp_frame(node, node_port, outside, oport, m.u2(rng, u1, outside, challenge)),
            conn,
        ),
    ]
    s = TcpSession(
        outside, rng.randint(1025, 65000), node, node_port, rng.getrandbits(31), rng.getrandbits(31)
    )
    tconn = Conn("tcp", outside, s.cport, node, node_port, "sn_handshake", outside)
    frames = [
        *s.handshake(),
        s.send(True, m.obfuscated(rng, 60)),
        s.send(False, m.obfuscated(rng, 80)),
        *s.close(),
    ]
    events += [(t + 1.0 + i * 0.03, f, tconn) for i, (_, f) in enumerate(frames)]
    return events


def supernode_visitors(
    rng: random.Random, addrs: Addresses, node: bytes, node_port: int, t: float
) -> list[Event]:
    """Later visitors of a local super node already proven by its NACKs: a scanner whose
    GET gets Skype's bare 404, a peer that connects over TCP without probing first, and a
    peer whose datagram the node leaves unanswered."""
    events: list[Event] = []
    for k, (request, reply) in enumerate(
        (
            (b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 404 Not Found\r\n\r\n"),
            (m.obfuscated(rng, 44), m.obfuscated(rng, 61)),
        )
    ):
        visitor = addrs.public()
        s = TcpSession(
            visitor,
            rng.randint(1025, 65000),
            node,
            node_port,
            rng.getrandbits(31),
            rng.getrandbits(31),
        )
        conn = Conn("tcp", visitor, s.cport, node, node_port, "sn_handshake", node)
        frames = [*s.handshake(), s.send(True, request), s.send(False, reply), *s.close()]
        events += [(t + k * 2.0 + i * 0.03, f, conn) for i, (_, f) in enumerate(frames)]
    peer, pport = addrs.public(), rng.randint(1025, 65000)
    conn = Conn("udp", peer, pport, node, node_port, "probe", node)
    events.append(
        (t + 5.0, udp_frame(peer, pport, node, node_port, m.u1(rng, rng.getrandbits(16), 26)), conn)
    )
    return events


# -- scheduling and writing ---------------------------------------------------------------

Session = tuple[float, Callable[[], list[Event]]]


def _client_sessions(
    name: str, cond: Conditions, opts: SynthOptions, rng: random.Random, addrs: Addresses
) -> Iterator[Session]:
    update_server = addrs.public()
    login_servers = [addrs.public() for _ in range(4)]
    span = max(1.0, opts.duration - 40.0)
    if name == "local-supernode":
        node, node_port = addrs.local(), rng.randint(1025, 65000)
        starts = sorted(rng.uniform(0, span) for _ in range(max(opts.clients, 6)))
        for s in starts:
            sub = random.Random(rng.getrandbits(64))
            yield EPOCH + s, partial(supernode_relay, sub, addrs, node, node_port, EPOCH + s)
        last = starts[-1] + 5.0
        sub = random.Random(rng.getrandbits(64))
        yield EPOCH + last, partial(supernode_visitors, sub, addrs, node, node_port, EPOCH + last)
        return
    starts = sorted(rng.uniform(0, span) for _ in range(opts.clients))
    for s in starts:
        sub = random.Random(rng.getrandbits(64))
        client = addrs.local()
        port = sub.randint(1025, 65000)

        def build(
            sub: random.Random = sub, s: float = s, client: bytes = client, port: int = port
        ) -> list[Event]:
            st = Startup(sub, addrs, cond, client, port, update_server, login_servers)
            st.run(EPOCH + s)
            if cond.restart:
                st.run(EPOCH + s + min(opts.duration / 2, 600.0), knows_public_ip=True)
            return st.events

        yield EPOCH + s, build


def _background_sessions(
    opts: SynthOptions, rng: random.Random, addrs: Addresses
) -> Iterator[Session]:
    if opts.background <= 0:
        return
    hosts = [RESOLVER] + [addrs.local() for _ in range(20)]
    rate = opts.background / 30.0  # conversations per second; ~30 packets each on average
    t = 0.0
    while True:
        t += -math.log(1.0 - rng.random()) / rate
        if t >= opts.duration:
            return
        sub = random.Random(rng.getrandbits(64))
        yield EPOCH + t, partial(background, sub, EPOCH + t, hosts, addrs.public)


# Conversations are merged a window of capture time at a time: a stable sort of everything
# due in the window equals a packet-by-packet heap merge ordered by (time, conversation, index),
# and runs in C instead of one Python step per packet.
WINDOW = 1.0


_ts = itemgetter(0)  # an event's time; in C, as sort keys are called per packet


def _sessions(name: str, opts: SynthOptions) -> Iterator[Session]:
    """The scenario's conversations in start order.  Building one draws from the shared
    address pool, so they must be built in this order, each before the next is pulled."""
    if name not in SCENARIOS:
        raise KeyError(name)
    cond = SCENARIOS[name][1]
    rng = random.Random(f"{name}:{opts.seed}")
    addrs = Addresses(random.Random(rng.getrandbits(64)))
    return heapq.merge(
        _client_sessions(name, cond, opts, random.Random(rng.getrandbits(64)), addrs),
        _background_sessions(opts, random.Random(rng.getrandbits(64)), addrs),
        key=lambda s: s[0],
    )


def _batches(
    name: str, opts: SynthOptions, on_session: Callable[[list[Conn]], None] | None = None
) -> Iterator[list[Event]]:
    """The scenario's events in time order, one window at a time.  ``on_session`` gets each
    conversation's connections (in first-packet order) when the scheduler admits it."""
    return _merge_windows(_sessions(name, opts), on_session)


def _merge_windows(
    starts: Iterator[Session], on_session: Callable[[list[Conn]], None] | None = None
) -> Iterator[list[Event]]:
    """Conversations (in start order) merged into time-ordered batches, one window each."""
    active: list[tuple[list[Event], int]] = []  # admission order, and the next event's index
    nxt = next(starts, None)
    end = 0.0
    while active or nxt is not None:
        if not active:
            end = nxt[0]  # type: ignore[index]  # skip idle time
        end += WINDOW
        while nxt is not None and nxt[0] < end:
            events = sorted(nxt[1](), key=_ts)
            if events:
                if on_session is not None:
                    conns = list(map(itemgetter(2), events))
                    # identity first (C speed), then equality, as first seen
                    on_session(
                        list(dict.fromkeys(dict(zip(map(id, conns), conns, strict=True)).values()))
                    )
                active.append((events, 0))
            nxt = next(starts, None)
        batch: list[Event] = []
        still: list[tuple[list[Event], int]] = []
        for events, i in active:
            j = bisect_left(events, end, lo=i, key=_ts)
            batch += events[i:j]
            if j < len(events):
                still.append((events, j))
        active = still
        batch.sort(key=_ts)
        yield batch


def stream(
    name: str, opts: SynthOptions, on_session: Callable[[list[Conn]], None] | None = None
) -> Iterator[tuple[float, bytes]]:
    """The scenario's frames in time order.  ``on_session`` gets each conversation's
    connections (in first-packet order) when the scheduler admits it."""
    for batch in _batches(name, opts, on_session):
        for ts, frame, _ in batch:
            yield ts, frame


def synthesize(
    name: str, out: str | Path, opts: SynthOptions, progress: Callable[[int], None] | None = None
) -> SynthResult:
    """Write the scenario's capture and its ``.truth.tsv``; same options, same bytes."""
    out = Path(out)
    truth = truth_path(out)
    # names of this run's own (skypewatch.atomic): two runs never write one temporary file
    fd, tmp_pcap = temp_beside(out)
    os.close(fd)
    try:
        fd, tmp_truth = temp_beside(truth)
    except BaseException:
        tmp_pcap.unlink(missing_ok=True)
        raise
    os.close(fd)
    counts = [0, 0]
    try:
        with PcapWriter(tmp_pcap) as w, open(tmp_truth, "w", encoding="utf-8") as tf:
            tf.write("\t".join(TRUTH_COLUMNS) + "\n")

            def on_session(conns: list[Conn]) -> None:
                for conn in conns:
                    tf.write(conn.row() + "\n")
                    counts[0] += 1
                    counts[1] += conn.stage is not None

            mark = 0
            for batch in _batches(name, opts, on_session):
                w.write_events(batch)
                if progress is not None and w.packets >> 16 != mark:
                    mark = w.packets >> 16
                    progress(w.packets)
            packets = w.packets
        tmp_pcap.replace(out)
        tmp_truth.replace(truth)
    except BaseException:
        tmp_pcap.unlink(missing_ok=True)
        tmp_truth.unlink(missing_ok=True)
        raise
    return SynthResult(out, truth, packets, counts[0], counts[1])


def describe() -> str:
    return "\n".join(f"  {n:<18} {d}" for n, (d, _) in SCENARIOS.items())


__all__ = ["SCENARIOS", "SynthOptions", "SynthResult", "describe", "stream", "synthesize"]
