"""Stage 3: authentication with a login server (L1-L4), docs/signatures.md#stage-3-login.

L1 is a 5-byte TLS record header announcing a zero-length handshake, L2 a zero-length
application-data header.  Both are illegal in real TLS, which is why they are so strong.
"""

from __future__ import annotations

from ..connections.connection import Connection
from ..skypelog import Stage, Strength
from .base import Hit

STAGE = Stage.LOGIN
L1 = b"\x16\x03\x01\x00\x00"
L2 = b"\x17\x03\x01\x00\x00"
_RECORD_HEADS = (b"\x16\x03\x01", b"\x17\x03\x01")
_OBJECT_LIST_MARKERS = (0x41, 0x42)  # Skype object lists, never a TLS HandshakeType


def login_hits(conn: Connection) -> list[Hit]:
    o, r = conn.orig_stream, conn.resp_stream
    if not o.startswith(L1):
        return []
    # Exactly 5 bytes, or coalesced with the next Skype record (never a real handshake).
    if not (conn.orig_first_seg == 5 or o[5:8] in _RECORD_HEADS):
        return []
    hits: list[Hit] = []
    if r.startswith(L2):
        hits.append(
            Hit(
                "login_handshake",
                STAGE,
                Strength.CONFIRMED,
                "client sent 16 03 01 00 00 and the server answered 17 03 01 00 00 (L1/L2)",
            )
        )
    else:
        hits.append(
            Hit("login_hello", STAGE, Strength.LIKELY, "client opened with 16 03 01 00 00 (L1)")
        )
    if (o[5:8] == b"\x16\x03\x01" and len(o) > 10 and o[10] in _OBJECT_LIST_MARKERS) or (
        r.startswith(L2) and r[5:8] == b"\x17\x03\x01"
    ):
        hits.append(
            Hit(
                "login_records",
                STAGE,
                Strength.CONFIRMED,
                "followed by Skype records (L3 object list / L4 17 03 01 reply)",
            )
        )
    return hits
