"""Calls after start-up: end-to-end voice and SkypeOut framing (SKU-7, SKU-8, Tstat's rules)."""

from __future__ import annotations

from ..connection import Connection
from .base import POSSIBLE, Hit

STAGE = "media"
MIN_PACKETS = 100  # Tstat MIN_SKYPE_E2E_NUM
MIN_SHARE = 0.9  # Tstat MIN_SKYPE_E2E_PERC
# Skype's frame IDs vary from datagram to datagram; RTP keeps version/payload type in the
# same two bytes, so a sequence number that happens to mask to 0x0D is not voice.
MIN_ID_CHANGE_SHARE = 0.5
FRAME_GAP = (0.005, 0.06)  # voice frames every ~20 ms


def media_hits(conn: Connection) -> list[Hit]:
    hits: list[Hit] = []
    n = conn.udp_payload_pkts
    if (
        n > MIN_PACKETS
        and conn.type_d > MIN_SHARE * n
        and conn.voice_id_changes >= MIN_ID_CHANGE_SHARE * conn.type_d
    ):
        hits.append(
            Hit(
                "e2e_voice",
                STAGE,
                POSSIBLE,
                f"{conn.type_d} of {n} datagrams are type-0x0D voice frames",
            )
        )
    k = conn.orig_payload_pkts
    prefix = conn.first_orig_prefix
    if k > MIN_PACKETS and conn.prefix_same > MIN_SHARE * k and prefix[1:4] != b"\0\0\0":
        gap = (conn.last_orig_ts - conn.first_orig_ts) / (k - 1)
        if FRAME_GAP[0] <= gap <= FRAME_GAP[1]:
            hits.append(
                Hit(
                    "skypeout_e2o",
                    STAGE,
                    POSSIBLE,
                    f"{conn.prefix_same} of {k} datagrams share the 4-byte header"
                    f" {prefix.hex()} every {gap * 1000:.0f} ms (SkypeOut framing)",
                )
            )
    return hits
