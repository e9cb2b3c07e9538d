"""Stage 1: the UDP probe from a Skype client to super nodes (U1-U4).

Reference: docs/signatures.md#stage-1-the-udp-probe.

Message layouts (0-based offsets):
  U1  ID(2) type(1)=0x?2 IV(4) CRC(4) body        >= 18 bytes (18 in Skype 1.4)
  U2  ID(2, echo) type=0x?7|0x?5 public_ip(4) challenge(4)        exactly 11 bytes
  U3  ID(2, echo) type=0x?3 0x01 challenge(4) sn_ip(4) CRC(4) body  len(U1) + 5
  U4  type 0x?2 reply, 18/51/53 bytes in 1.4
The type lives in ``p[2] & 0x8F`` (udp_layout.py); bits 0x70 are random.
"""

from __future__ import annotations

import ipaddress

from ..connections.connection import Connection
from ..skypelog import Stage, Strength
from .base import Hit
from .udp_layout import (
    NIBBLE_MASK,
    PROBE,
    U1_MIN,
    U2_LEN,
    U2_NIBBLES,
    U3_GROWTH,
    U3_NIBBLE,
    U4_LENGTHS_1_4,
    is_type2,
    ptype,
)

STAGE = Stage.PROBE

REPLY_WINDOW = (
    5.0  # seconds between U1 and U2 (the client waits 5 s: docs/signatures.md#u1_u2_nack)
)
U3_WINDOW = 2.0  # U3 follows U2 "right after"
RETRANSMIT_GAP = (0.5, 15.0)  # observed back-off 2 s, 4 s
LONE_U1_MAX = 140

# Ports whose protocols put 0x02 at byte 2 by design or echo bytes 0-1
# (docs/signatures.md#false-positive-traps).
EXCLUDED_PORTS = frozenset((53, 123, 137, 161, 162, 389, 1119, 5353, 5355, 9600))


def u1_shaped(p: bytes, sport: int, dport: int) -> bool:
    """A lone datagram that looks like a U1 once the known look-alikes are excluded."""
    if not (U1_MIN <= len(p) <= LONE_U1_MAX and ptype(p) == PROBE):
        return False
    if sport in EXCLUDED_PORTS or dport in EXCLUDED_PORTS:
        return False
    # BER/ASN.1 (SNMP, CLDAP) and Omron FINS put 0x02 at byte 2 by construction.
    return p[0] != 0x30 and p[:3] not in (b"\x80\x00\x02", b"\xc0\x00\x02")


def is_u2_for(u1: bytes, p: bytes) -> bool:
    return len(p) == U2_LEN and p[:2] == u1[:2] and p[2] & NIBBLE_MASK in U2_NIBBLES


def _ipv4(b: bytes) -> str:
    return str(ipaddress.IPv4Address(b))


def probe_hits(conn: Connection) -> list[Hit]:
    """All probe-stage hits in the connection's buffered datagrams (either direction starts)."""
    hits: list[Hit] = []
    dgrams = conn.datagrams
    n = len(dgrams)
    orig_v4 = len(conn.orig) == 4
    nack_done = False
    for i in range(n):
        is_orig, t_u1, u1 = dgrams[i]
        if not is_orig or not is_type2(u1) or nack_done:
            continue
        for j in range(i + 1, n):
            r_orig, t_u2, u2 = dgrams[j]
            if t_u2 - t_u1 > REPLY_WINDOW:
                break
            if r_orig or not is_u2_for(u1, u2):
                continue
            nack_done = True
            public_ip = _ipv4(u2[3:7])
            ident = u1[:2].hex()
            hits.append(
                Hit(
                    "u1_u2_nack",
                    STAGE,
                    Strength.LIKELY,
                    f"U1 {len(u1)}B id 0x{ident} answered by 11B NACK"
                    f" type 0x{u2[2] & NIBBLE_MASK:x}"
                    f" echoing the id, naming public IP {public_ip}",
                    client_public_ip=public_ip,
                )
            )
            if orig_v4 and u2[3:7] == conn.orig:
                hits.append(
                    Hit(
                        "u2_public_ip",
                        STAGE,
                        Strength.CONFIRMED,
                        f"U2 carries the client's own address {public_ip}",
                        client_public_ip=public_ip,
                    )
                )
            hits.extend(_u3_u4(conn, u1, u2, t_u2, dgrams[j + 1 :]))
            break
    hits.extend(_retransmit(conn))
    return hits


def _u3_u4(
    conn: Connection, u1: bytes, u2: bytes, t_u2: float, rest: list[tuple[bool, float, bytes]]
) -> list[Hit]:
    hits: list[Hit] = []
    for k, (is_orig, t, p) in enumerate(rest):
        if t - t_u2 > U3_WINDOW:
            break
        if not is_orig:
            continue
        if len(p) != len(u1) + U3_GROWTH or p[:2] != u1[:2] or p[2] & NIBBLE_MASK != U3_NIBBLE:
            continue
        if len(conn.resp) != 4 or p[8:12] != conn.resp:
            continue
        extras = []
        if p[3] == 0x01:
            extras.append("cookie 0x01")
        if p[4:8] == u2[7:11]:
            extras.append("challenge echoed")
        if p[12:16] == u1[7:11]:
            extras.append("U1 CRC repeated")
        detail = f" ({', '.join(extras)})" if extras else ""
        hits.append(
            Hit(
                "u3_resend",
                STAGE,
                Strength.CONFIRMED,
                f"U3 {len(p)}B = U1 + 5 with same id names super node {_ipv4(p[8:12])}{detail}",
            )
        )
        for r_orig, t_r, r in rest[k + 1 :]:
            if t_r - t > REPLY_WINDOW:
                break
            if not r_orig and is_type2(r):
                sizes = "a Skype 1.4 size" if len(r) in U4_LENGTHS_1_4 else "a 2.x+ size"
                hits.append(
                    Hit(
                        "u4_reply",
                        STAGE,
                        Strength.LIKELY,
                        f"U4 type-2 reply of {len(r)}B ({sizes})",
                    )
                )
                break
        break
    return hits


def _retransmit(conn: Connection) -> list[Hit]:
    """An unanswered U1 sent again with the same id, length and CRC but a new IV
    (docs/signatures.md#probe_retransmit)."""
    seen: dict[bytes, tuple[float, bytes]] = {}
    for is_orig, t, p in conn.datagrams:
        if not is_orig or not is_type2(p):
            continue
        key = p[:3] + p[7:11] + len(p).to_bytes(2, "big")
        prev = seen.get(key)
        if prev is not None:
            gap = t - prev[0]
            if prev[1] != p[3:7] and RETRANSMIT_GAP[0] <= gap <= RETRANSMIT_GAP[1]:
                return [
                    Hit(
                        "probe_retransmit",
                        STAGE,
                        Strength.LIKELY,
                        f"U1 {len(p)}B id 0x{p[:2].hex()} resent after {gap:.1f}s with the same"
                        f" CRC {p[7:11].hex()} and a new IV",
                    )
                ]
        seen[key] = (t, p[3:7])
    return []


def weak_hits(conn: Connection) -> list[Hit]:
    """Single-datagram shapes that only count next to host evidence
    (docs/signatures.md#lone_u1-and-type2_exchange)."""
    o = r = None  # the first datagram each way
    for is_orig, _, p in conn.datagrams:
        if is_orig:
            if o is None:
                o = p
                if r is not None:
                    break
        elif r is None:
            r = p
            if o is not None:
                break
    if o is None or not u1_shaped(o, conn.orig_p, conn.resp_p):
        return []
    if r is not None and is_type2(r):
        return [
            Hit(
                "type2_exchange",
                STAGE,
                Strength.WEAK,
                f"type-2 {len(o)}B answered by type-2 {len(r)}B",
            )
        ]
    if r is None:
        return [Hit("lone_u1", STAGE, Strength.WEAK, f"unanswered U1-shaped {len(o)}B datagram")]
    return []


def id_sequence_hit(port: int, min_peers: int) -> Hit:
    """The flow's U1 came from a port whose probes to new peers carry one climbing counter."""
    return Hit(
        "probe_id_sequence",
        STAGE,
        Strength.LIKELY,
        f"port {port} probed {min_peers}+ new peers with U1 ids climbing in small steps"
        " (one message counter)",
    )
