"""Every signature hit of a finished connection: its own signatures, and the ones the host
context adds (proven Skype endpoints, probe fan-out and id sequences, probed or known nodes).

What the host context knew when a TCP connection's first payload arrived is kept in the
connection as ``Connection.ctx`` bits (set by the tracker, read here): the probe that explains
it may have expired from the context by the time the connection ends.
"""

from __future__ import annotations

from ..connections.connection import Connection
from ..packets.decode import UDP
from ..signatures.base import Hit
from ..signatures.login import login_hits
from ..signatures.media import media_hits
from ..signatures.sn_handshake import correlated_hits, fallback_chain_hit, handshake_hits
from ..signatures.udp_layout import KNOWN_TYPES, ptype
from ..signatures.udp_probe import STAGE as PROBE
from ..signatures.udp_probe import id_sequence_hit, probe_hits, weak_hits
from ..signatures.version_check import version_hits
from ..skypelog import PeerRole, Strength
from ..verdict.host_context import HostContext, HostOptions
from ..verdict.judge import addr_str

CTX_PROBED_EP = 1
CTX_PROBED_HOST = 2
CTX_SKYPE_PORT = 4
CTX_NODE = 8  # the responder's ip:port is a proven super node or login server
CTX_NODE_HOST = 16  # the responder is one, on another port
CTX_LOGIN_SERVER = 32  # ... and it is a login server (else a super node)


def connection_hits(conn: Connection, ctx: HostContext) -> list[Hit]:
    """Every signature hit of a finished connection, including host-context ones."""
    if conn.proto == UDP:
        return udp_hits(conn, ctx)
    return tcp_hits(conn, ctx)


UdpReads = tuple[bool, bool, bool, bool]
"""What :func:`udp_hits` reads of the host context -- its two endpoints -- taken when the
connection ended (analyze's outputs process makes the hits elsewhere from these): the
originator's endpoint proven, the responder's proven, the originator's id sequence, its
fan-out.  A plain tuple: it is made for every UDP connection judged."""


def udp_reads(conn: Connection, ctx: HostContext) -> UdpReads:
    o = ctx.endpoint(conn.orig, conn.orig_p)
    r = ctx.endpoint(conn.resp, conn.resp_p)
    if o is None:
        return (False, r is not None and r.proven, False, False)
    return (o.proven, r is not None and r.proven, o.id_sequence, o.fanout)


def udp_hits(conn: Connection, ctx: HostContext) -> list[Hit]:
    if not conn.datagrams:
        return []
    return udp_hits_from(conn, udp_reads(conn, ctx), ctx.options)


def udp_hits_from(conn: Connection, reads: UdpReads, options: HostOptions) -> list[Hit]:
    """:func:`udp_hits` of a connection with datagrams, from what the context said of it."""
    orig_proven, resp_proven, orig_id_sequence, orig_fanout = reads
    hits = probe_hits(conn) + media_hits(conn)
    first = conn.datagrams[0][2]
    framed = len(first) >= 3 and ptype(first) in KNOWN_TYPES
    if framed and orig_proven:
        hits.append(
            Hit(
                "skype_endpoint",
                PROBE,
                Strength.LIKELY,
                f"flow from proven Skype endpoint {addr_str(conn.orig)}:{conn.orig_p}",
            )
        )
    elif framed and resp_proven:
        hits.append(
            Hit(
                "to_skype_endpoint",
                PROBE,
                Strength.LIKELY,
                f"flow to proven Skype endpoint {addr_str(conn.resp)}:{conn.resp_p}",
            )
        )
    weak = weak_hits(conn)
    if weak and orig_id_sequence:
        hits.append(id_sequence_hit(conn.orig_p, options.id_seq_min))
    if weak and orig_fanout:
        hits.append(
            Hit(
                "probe_fanout",
                PROBE,
                Strength.POSSIBLE,
                f"one of the U1-shaped flows port {conn.orig_p} sent to"
                f" {options.fanout_min_peers}+ hosts within"
                f" {options.fanout_window:.0f}s",
            )
        )
    hits.extend(weak)  # listed beside solid hits; alone they make no line (verdict.judge)
    return hits


def tcp_hits(conn: Connection, ctx: HostContext) -> list[Hit]:
    hits = login_hits(conn) + handshake_hits(conn) + version_hits(conn)
    node = ""
    if conn.ctx & (CTX_NODE | CTX_NODE_HOST):
        node = PeerRole.LOGIN_SERVER if conn.ctx & CTX_LOGIN_SERVER else PeerRole.SUPER_NODE
    hits += correlated_hits(
        conn,
        probed_endpoint=bool(conn.ctx & CTX_PROBED_EP),
        probed_host=bool(conn.ctx & CTX_PROBED_HOST),
        resp_is_skype_port=bool(conn.ctx & CTX_SKYPE_PORT),
        known_node=node if conn.ctx & CTX_NODE else "",
        known_host=node if conn.ctx & CTX_NODE_HOST else "",
    )
    if conn.attempt and ctx.in_chain(conn.ts, conn.orig, conn.resp, conn.resp_p):
        hits.append(fallback_chain_hit(conn.resp_p))
    return hits
