"""Stage 2: the TCP handshake with a super node.

Reference: docs/signatures.md#stage-2-the-tcp-handshake-with-a-super-node.

On the super node's own port the stream is RC4 from byte 0, so nothing fixed is visible; the
checks there are correlations with the UDP probe that came first.  On 443 Skype imitates TLS
with an SSLv2-format hello and, on the server side, a ServerHello that never changes.
"""

from __future__ import annotations

import re

from ..connections.connection import Connection
from ..skypelog import PeerRole, Stage, Strength
from .base import Hit

STAGE = Stage.SN_HANDSHAKE
LOGIN = Stage.LOGIN

SSLV2_HELLO_PREFIX = bytes.fromhex(
    "80460103010 02d0000 0010".replace(" ", "")
    + "000005000004 00000a000009 000064000062 000008000003 000006010080 0700c0030080"
    " 060040020080 040080".replace(" ", "")
)
SSLV2_HELLO_LEN = 72
FIXED_SERVER_HELLO = bytes.fromhex(
    "160301004a0200004603014 01be486".replace(" ", "")
    + "02ade029e17774e544b9c99cb431315e02dd779d154a9609ba5da870"
    + "20"
    + "1ca0e4f64c6351ae2f8e4ee1e6766a0a88d5d8c55cae98c5e481f22a69bf9058"
    + "000500"
)
SKYPE_404 = b"HTTP/1.0 404 Not Found\r\n\r\n"


def looks_tls_record(b: bytes) -> bool:
    return len(b) >= 3 and 0x14 <= b[0] <= 0x17 and b[1] == 0x03 and b[2] <= 0x04


def contradicts_tls(b: bytes) -> bool:
    """True once the bytes seen can no longer begin a TLS record header."""
    return bool(b) and (
        not 0x14 <= b[0] <= 0x17 or (len(b) > 1 and b[1] != 0x03) or (len(b) > 2 and b[2] > 0x04)
    )


# Beginnings of protocols that are not Skype's opaque TCP.  The Zeek package's
# skype-tcp-cleartext signature is this same expression.
CLEARTEXT = re.compile(
    rb"^(?:[\x14-\x17]\x03[\x00-\x04]"  # a TLS record
    rb"|[\x80-\xff][\x00-\xff]\x01[\x00\x03][\x00-\x04]"  # an SSLv2 CLIENT-HELLO
    rb"|GET |POST |HEAD |PUT |OPTIONS |CONNECT |DELETE |TRACE |PATCH |SSH-|HTTP/"
    rb"|[\x09\x0a\x0d\x20-\x7e]{16})"  # 16 printable bytes: some text protocol
)


def is_known_cleartext(b: bytes) -> bool:
    return CLEARTEXT.match(b) is not None


def handshake_hits(conn: Connection) -> list[Hit]:
    """Signatures visible inside one TCP connection."""
    o, r = conn.orig_stream, conn.resp_stream
    hits: list[Hit] = []
    hello = len(o) >= SSLV2_HELLO_LEN and o.startswith(SSLV2_HELLO_PREFIX)
    fixed = r.startswith(FIXED_SERVER_HELLO)
    if hello:
        hits.append(
            Hit(
                "sslv2_hello",
                STAGE,
                Strength.POSSIBLE,
                "72-byte SSLv2-format ClientHello with Skype's fixed cipher list",
            )
        )
        after = o[SSLV2_HELLO_LEN:]
        if contradicts_tls(after) and (fixed or not looks_tls_record(r)):
            hits.append(
                Hit(
                    "fake_tls_junk",
                    STAGE,
                    Strength.LIKELY,
                    "the hello is followed by raw bytes, not TLS records (TLS look-alike)",
                )
            )
    if fixed:
        hits.append(
            Hit(
                "fixed_server_hello",
                STAGE,
                Strength.CONFIRMED,
                "server answered with Skype's constant 79-byte ServerHello (gmt 0x401be486)",
            )
        )
    if o.startswith(b"GET ") and r == SKYPE_404:  # Zeek: the reply is exactly 26 bytes
        hits.append(
            Hit(
                "skype_404",
                STAGE,
                Strength.POSSIBLE,
                "responder answered GET with a bare 'HTTP/1.0 404 Not Found', as Skype nodes do",
            )
        )
    return hits


def correlated_hits(
    conn: Connection,
    probed_endpoint: bool,
    probed_host: bool,
    resp_is_skype_port: bool,
    known_node: str = "",
    known_host: str = "",
) -> list[Hit]:
    """Signatures that need what other connections showed just before: the same client's
    UDP probe (docs/signatures.md#tcp_to_probed_peer), or a peer proven a super node or login
    server (*known_node*:
    its ip:port, *known_host*: another port of it; the role, or "" if not)."""
    o = conn.orig_stream
    if not o or is_known_cleartext(o):
        return []
    hits = _after_probe_hits(conn.resp_p, probed_endpoint, probed_host, resp_is_skype_port)
    if hits:
        return hits
    return _known_peer_hits(known_node, known_host)


def _after_probe_hits(
    resp_p: int, probed_endpoint: bool, probed_host: bool, resp_is_skype_port: bool
) -> list[Hit]:
    """What the client's UDP probes just before, or a proven Skype UDP port, make of it."""
    hits: list[Hit] = []
    if probed_endpoint:
        hits.append(
            Hit(
                "tcp_to_probed_peer",
                STAGE,
                Strength.LIKELY,
                "opaque TCP to the ip:port the client had just probed over UDP",
            )
        )
    elif resp_p == 80 and probed_host:
        hits.append(
            Hit(
                "non_http_80_after_probe",
                STAGE,
                Strength.LIKELY,
                "non-HTTP bytes on port 80 to a host the client had just probed over UDP",
            )
        )
    if resp_is_skype_port and not probed_endpoint:
        hits.append(
            Hit(
                "tcp_to_skype_port",
                STAGE,
                Strength.LIKELY,
                "opaque TCP to the port of a proven Skype UDP endpoint",
            )
        )
    return hits


def _known_peer_hits(known_node: str, known_host: str) -> list[Hit]:
    """A peer proven a super node or login server: on that ip:port, or on another port."""
    role = known_node or known_host
    if not role:
        return []
    stage = LOGIN if role == PeerRole.LOGIN_SERVER else STAGE
    what = role.replace("_", " ")
    if known_node:
        return [
            Hit(
                "tcp_to_known_node",
                stage,
                Strength.LIKELY,
                f"opaque TCP to the ip:port of a proven {what}",
            )
        ]
    return [
        Hit(
            "tcp_to_known_host",
            stage,
            Strength.POSSIBLE,
            f"opaque TCP to another port of a proven {what}",
        )
    ]


def fallback_chain_hit(port: int) -> Hit:
    """A connection of a probing client's TCP fallback: the peer's Skype port, then 443/80."""
    which = {443: "443", 80: "80"}.get(port, f"its Skype port {port}")
    return Hit(
        "tcp_fallback_chain",
        STAGE,
        Strength.LIKELY,
        f"TCP attempt on {which}, part of a probing client's fallback from the super node's"
        " port to 443/80 (answered or not)",
    )
