"""The correlator's inputs besides skype.log records: probes and TCP sessions.

The engine and its core do arithmetic on timestamps (milliseconds, due times, session gaps)
and trust the types of every field, so whatever feeds them -- the WebSocket schema, the log
readers -- checks first that times are finite and within ``EARLIEST``..``LATEST``, ports
within 0-65535, and addresses, stages and confidences well formed.
"""

from __future__ import annotations

from dataclasses import dataclass

EARLIEST = 0.0
"""No Zeek network time is before the epoch."""
LATEST = 4_102_444_800.0
"""2100-01-01: far beyond any capture, and small enough that millisecond arithmetic is exact."""


def valid_time(ts: float, not_after: float = LATEST) -> bool:
    """A finite time the engine can do its arithmetic on (NaN fails both comparisons)."""
    return EARLIEST <= ts <= not_after


@dataclass(frozen=True, slots=True)
class _ClientToPeer:
    ts: float
    uid: str
    client: str
    client_port: int
    peer: str
    peer_port: int


@dataclass(frozen=True, slots=True)
class ProbeEvent(_ClientToPeer):
    """A client sent a U1-shaped datagram to a peer (Zeek: Skype::probe_seen)."""


@dataclass(frozen=True, slots=True)
class TcpEvent(_ClientToPeer):
    """A client opened TCP to a peer (Zeek: Skype::tcp_session_seen, or a conn.log row)."""
