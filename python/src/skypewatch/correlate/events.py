"""The correlator's inputs besides skype.log records: probes and TCP sessions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """A client sent a U1-shaped datagram to a peer (Zeek: Skype::probe_seen)."""

    ts: float
    uid: str
    client: str
    client_port: int
    peer: str
    peer_port: int


@dataclass(frozen=True, slots=True)
class TcpEvent:
    """A client opened TCP to a peer (Zeek: Skype::tcp_session_seen, or a conn.log row)."""

    ts: float
    uid: str
    client: str
    client_port: int
    peer: str
    peer_port: int
