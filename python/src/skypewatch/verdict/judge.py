"""From a connection's signature hits to its skype.log line (or to no line at all).

Rules, in the order they apply (docs/signatures.md#strengths-and-confidence):
* weak hits (a lone U1, a type-2 exchange) never make a line on their own;
* the connection's confidence is the strongest base strength among its other hits;
* a host that already has confirmed evidence from another connection raises the rest of its
  connections one level ("confidence rises with independent stages");
* the stage is the latest start-up stage any hit belongs to.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import NamedTuple

from ..connections.connection import Connection, uid_text
from ..packets.decode import TCP
from ..signatures.base import Hit
from ..skypelog import Confidence, PeerRole, SkypeRecord, Stage, Strength

# What the client's peer is at each stage of its own hits.
ROLE_BY_STAGE = {
    Stage.PROBE: PeerRole.SUPER_NODE,
    Stage.SN_HANDSHAKE: PeerRole.SUPER_NODE,
    Stage.LOGIN: PeerRole.LOGIN_SERVER,
    Stage.VERSION_CHECK: PeerRole.UPDATE_SERVER,
    Stage.MEDIA: PeerRole.PEER,
}
# Hits that say the *responder* is the Skype node we know about: it is the client, the
# originator is its peer.
INBOUND_HITS = frozenset(("to_skype_endpoint", "tcp_to_skype_port", "skype_404"))
MAX_EVIDENCE = 400


@functools.lru_cache(maxsize=1 << 14)
def addr_str(a: bytes) -> str:
    # a few hosts make most lines (a client's every connection names it): cached, since
    # ipaddress's objects cost more than the rest of a line's formatting
    return str(ipaddress.ip_address(a))


def client_is_responder(hits: list[Hit]) -> bool:
    """Who runs Skype on this connection: the responder when every solid hit only says the
    responder is a known Skype node (an inbound connection to a Skype client), else the
    originator.  The one rule for the host context and the log line."""
    solid = [h for h in hits if h.strength is not Strength.WEAK]
    return bool(solid) and all(h.name in INBOUND_HITS for h in solid)


class Facts(NamedTuple):
    """All that a verdict reads of its connection, besides the hits: small enough to send
    to another process (analyze's outputs process) where the connection itself is not."""

    ts: float
    key: int
    orig: bytes
    orig_p: int
    resp: bytes
    resp_p: int
    proto: int
    last_ts: float
    answered: bool


def facts(conn: Connection) -> Facts:
    # Zeek's resp$size: for TCP by sequence numbers, so bytes the capture missed count
    cs = conn.close_state
    answered = cs.responder_size() > 0 if cs is not None else conn.resp_bytes > 0
    return Facts(
        conn.ts,
        conn.key,
        conn.orig,
        conn.orig_p,
        conn.resp,
        conn.resp_p,
        conn.proto,
        conn.last_ts,
        answered,
    )


def judge(conn: Connection, hits: list[Hit], host_confirmed: bool) -> SkypeRecord | None:
    """The connection's verdict; ``host_confirmed`` says whether its client host already has
    confirmed evidence from elsewhere."""
    return judge_facts(facts(conn), hits, host_confirmed)


def judge_facts(conn: Facts, hits: list[Hit], host_confirmed: bool) -> SkypeRecord | None:
    """:func:`judge` from the connection's :class:`Facts`."""
    solid = [h for h in hits if h.strength is not Strength.WEAK]
    if not solid:
        return None
    best = Confidence(max(solid, key=lambda h: h.strength.rank).strength)
    confidence = best.raised() if host_confirmed else best
    orig_h, resp_h = addr_str(conn.orig), addr_str(conn.resp)
    names = frozenset(h.name for h in hits)
    if client_is_responder(hits):
        client, peer = resp_h, orig_h
        stage = max((h.stage for h in solid), key=lambda st: st.precedence)
        role = PeerRole.PEER
    else:
        # the inbound hits describe the responder, not the client's start-up stage
        own = [h for h in solid if h.name not in INBOUND_HITS]
        stage = max((h.stage for h in own), key=lambda st: st.precedence)
        client, peer, role = orig_h, resp_h, ROLE_BY_STAGE[stage]
    ordered = sorted(hits, key=lambda h: (-h.strength.rank, h.name))
    evidence = "; ".join(h.evidence for h in ordered)
    if len(evidence) > MAX_EVIDENCE:
        evidence = evidence[: MAX_EVIDENCE - 3] + "..."
    return SkypeRecord(
        ts=conn.ts,
        uid=uid_text(conn.key),
        orig_h=orig_h,
        orig_p=conn.orig_p,
        resp_h=resp_h,
        resp_p=conn.resp_p,
        proto="tcp" if conn.proto == TCP else "udp",
        duration=max(0.0, conn.last_ts - conn.ts),
        stage=stage,
        signatures=names,
        client=client,
        peer=peer,
        peer_role=role,
        client_public_ip=next((h.client_public_ip for h in hits if h.client_public_ip), None),
        skype_version=next((h.skype_version for h in hits if h.skype_version), None),
        confidence=confidence,
        evidence=evidence,
        answered=conn.answered,
    )


def host_of_client(conn: Connection, hits: list[Hit]) -> bytes:
    """The address the verdict will name as client, before the record exists."""
    return conn.resp if client_is_responder(hits) else conn.orig
