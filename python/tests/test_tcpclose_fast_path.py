"""The TCP close model's fast path (an open connection's ACK and data segments) must leave
exactly the state the general path leaves, for any packet sequence: both are fed the same
random segments -- handshakes, data in and out of order, retransmissions, gaps, FINs, RSTs,
sequence wrap-around -- and every field of both endpoints is compared after every packet."""

from __future__ import annotations

import random

import pytest

from skypewatch.connections.tcpclose import TcpCloseState

SYN, FIN, RST, ACK, PSH = 0x02, 0x01, 0x04, 0x10, 0x08
FIELDS = list(TcpCloseState().ends[0].__slots__)


def snapshot(s: TcpCloseState) -> tuple:
    ends = tuple(tuple(getattr(e, f) for f in FIELDS) for e in s.ends)
    return ends, s.close_deferred, s.complete


def general_only(s: TcpCloseState, is_orig: bool, flags: int, seq: int, ack: int, n: int):
    ep, peer = (s.ends[0], s.ends[1]) if is_orig else (s.ends[1], s.ends[0])
    s.general(ep, peer, flags, seq, ack, n)


def segments(rng: random.Random, count: int):
    """A plausible but messy conversation: mostly in-order data with ACKs, now and then a
    retransmission, a reordering, a gap, a stray flag combination, a FIN or a RST."""
    isn = [rng.getrandbits(32), rng.getrandbits(32)]
    nxt = [isn[0], isn[1]]
    out = [(True, SYN, isn[0], 0, 0)]
    if rng.random() < 0.9:
        out.append((False, SYN | ACK, isn[1], isn[0] + 1, 0))
        nxt = [isn[0] + 1, isn[1] + 1]
        out.append((True, ACK, nxt[0], nxt[1], 0))
    for _ in range(count):
        side = rng.random() < 0.5
        i = 0 if side else 1
        n = rng.choice((0, 0, 1, 100, 536, 1460))
        seq, ackn = nxt[i], nxt[1 - i]
        r = rng.random()
        if r < 0.05:
            seq -= rng.choice((1, 100, 1460))  # retransmission / overlap
        elif r < 0.10:
            seq += rng.choice((100, 1460, 5000))  # a gap (lost segment)
        elif r < 0.12:
            ackn += rng.choice((100, 3000))  # acknowledges what the capture missed
        flags = ACK | (PSH if n else 0)
        r = rng.random()
        if r < 0.03:
            flags |= FIN
        elif r < 0.05:
            flags = RST | (ACK if rng.random() < 0.5 else 0)
        elif r < 0.06:
            flags = rng.getrandbits(6)  # anything at all
        out.append((side, flags, seq & 0xFFFFFFFF, ackn & 0xFFFFFFFF, n))
        if seq == nxt[i]:
            nxt[i] += n + (1 if flags & FIN else 0)
    return out


@pytest.mark.parametrize("seed", range(300))
def test_fast_path_leaves_the_general_paths_state(seed):
    rng = random.Random(seed)
    fast, slow = TcpCloseState(), TcpCloseState()
    for k, (is_orig, flags, seq, ack, n) in enumerate(segments(rng, rng.randint(5, 60))):
        fast.packet(is_orig, flags, seq, ack, n)
        general_only(slow, is_orig, flags, seq, ack, n)
        assert snapshot(fast) == snapshot(slow), f"after packet {k}: {flags:#x} seq {seq} ack {ack}"


def test_the_fast_path_is_taken(monkeypatch):
    """Guard against a condition that never holds: an established connection's data segment
    must not reach the general path."""
    s = TcpCloseState()
    s.packet(True, SYN, 1000, 0, 0)
    s.packet(False, SYN | ACK, 5000, 1001, 0)
    s.packet(True, ACK, 1001, 5001, 0)
    calls = []
    monkeypatch.setattr(TcpCloseState, "general", lambda *a: calls.append(a))
    s.packet(True, ACK | PSH, 1001, 5001, 100)
    s.packet(False, ACK, 5001, 1101, 0)
    assert calls == []
    s.packet(True, ACK | FIN, 1101, 5001, 0)
    assert len(calls) == 1
