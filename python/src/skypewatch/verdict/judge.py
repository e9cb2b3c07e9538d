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
    # ipaddress's objects cost more than the rest of a line's formatting (IPv4 is written
    # here: a quarter of ipaddress's cost, for a capture of many hosts)
    if len(a) == 4:
        return "%d.%d.%d.%d" % (a[0], a[1], a[2], a[3])  # noqa: UP031 - fastest here
    return str(ipaddress.ip_address(a))


def client_is_responder(hits: list[Hit]) -> bool:
    """Who runs Skype on this connection: the responder when every solid hit only says the
    responder is a known Skype node (an inbound connection to a Skype client), else the
    originator.  The one rule for the host context and the log line."""
    solid = False
    for h in hits:
        if h.strength is not _WEAK:
            if h.name not in INBOUND_HITS:
                return False
            solid = True
    return solid


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
    # One pass over the hits for what the rules read (this runs for every logged line):
    # the strongest solid hit (the first of equals), whether every solid hit is inbound
    # (client_is_responder), the latest stage among all solid hits and among the
    # originator's own ones.
    rank = _RANK_OF
    precedence = _PRECEDENCE
    best: Strength | None = None
    best_rank = 0
    stage = own_stage = Stage.PROBE  # (their ranks -1: the first solid hit sets both)
    stage_rank = own_rank = -1
    inbound_only = True
    public_ip = version = None
    for h in hits:
        if public_ip is None and h.client_public_ip:
            public_ip = h.client_public_ip
        if version is None and h.skype_version:
            version = h.skype_version
        s = h.strength
        if s is _WEAK:
            continue
        r = rank[s]
        if r > best_rank:
            best, best_rank = s, r
        p = precedence[h.stage]
        if p > stage_rank:
            stage, stage_rank = h.stage, p
        if h.name not in INBOUND_HITS:
            inbound_only = False
            if p > own_rank:
                own_stage, own_rank = h.stage, p
    if best is None:
        return None
    confidence = _CONFIDENCE_OF[best]
    if host_confirmed:
        confidence = confidence.raised()
    orig_h, resp_h = addr_str(conn.orig), addr_str(conn.resp)
    if inbound_only:
        client, peer, role = resp_h, orig_h, PeerRole.PEER
    else:
        # the inbound hits describe the responder, not the client's start-up stage
        stage = own_stage
        client, peer, role = orig_h, resp_h, ROLE_BY_STAGE[own_stage]
    if len(hits) == 1:
        evidence = hits[0].evidence
    else:
        ordered = sorted(hits, key=lambda h: (-rank[h.strength], h.name))
        evidence = "; ".join([h.evidence for h in ordered])
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
        signatures=frozenset([h.name for h in hits]),
        client=client,
        peer=peer,
        peer_role=role,
        client_public_ip=public_ip,
        skype_version=version,
        confidence=confidence,
        evidence=evidence,
        answered=conn.answered,
    )


_WEAK = Strength.WEAK
_RANK_OF = {s: s.rank for s in Strength}
_PRECEDENCE = {st: st.precedence for st in Stage}
_CONFIDENCE_OF: dict[Strength, Confidence] = {
    s: Confidence(s.value) for s in Strength if s is not Strength.WEAK
}


def host_of_client(conn: Connection, hits: list[Hit]) -> bytes:
    """The address the verdict will name as client, before the record exists."""
    return conn.resp if client_is_responder(hits) else conn.orig
