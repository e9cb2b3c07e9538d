"""Calls after start-up: end-to-end voice and SkypeOut framing (Tstat's rules;
docs/signatures.md#e2e_voice, #skypeout_e2o).

Both are decided from the datagrams in the inspection window plus the flow's packet totals,
which is what a Zeek sensor can afford to look at too.
"""

from __future__ import annotations

from itertools import pairwise

from ..connections.connection import Connection
from ..skypelog import Stage, Strength
from .base import Hit
from .udp_layout import VOICE, ptype

STAGE = Stage.MEDIA
MIN_PACKETS = 100  # Tstat MIN_SKYPE_E2E_NUM: a call, not a burst
MIN_SAMPLE = 8  # inspected datagrams needed before judging their framing
MIN_SHARE = 0.9  # Tstat MIN_SKYPE_E2E_PERC
# Skype's frame IDs vary from datagram to datagram; RTP keeps version/payload type in the
# same two bytes, so a sequence number that happens to mask to 0x0D is not voice.
MIN_ID_CHANGE_SHARE = 0.5
FRAME_GAP = (0.005, 0.06)  # voice frames every ~20 ms


def media_hits(conn: Connection) -> list[Hit]:
    hits: list[Hit] = []
    if conn.orig_pkts + conn.resp_pkts <= MIN_PACKETS:
        return hits  # neither rule looks at a flow this short (most flows: probes)
    sample = [p for _, _, p in conn.datagrams]
    if conn.orig_pkts + conn.resp_pkts > MIN_PACKETS and len(sample) >= MIN_SAMPLE:
        voice = [p for p in sample if len(p) > 4 and ptype(p) == VOICE]
        changes = sum(1 for a, b in pairwise(voice) if a[:2] != b[:2])
        if len(voice) >= MIN_SHARE * len(sample) and changes >= MIN_ID_CHANGE_SHARE * (
            len(voice) - 1
        ):
            hits.append(
                Hit(
                    "e2e_voice",
                    STAGE,
                    Strength.POSSIBLE,
                    f"{len(voice)} of the first {len(sample)} datagrams are type-0x0D voice frames"
                    f" with changing ids, in a flow of {conn.orig_pkts + conn.resp_pkts} packets",
                )
            )
    orig = [(t, p) for is_orig, t, p in conn.datagrams if is_orig and len(p) >= 4]
    if conn.orig_pkts > MIN_PACKETS and len(orig) >= MIN_SAMPLE:
        prefix = orig[0][1][:4]
        same = sum(1 for _, p in orig if p[:4] == prefix)
        gap = (orig[-1][0] - orig[0][0]) / (len(orig) - 1)
        if (
            same >= MIN_SHARE * len(orig)
            and prefix[1:4] != b"\0\0\0"
            and FRAME_GAP[0] <= gap <= FRAME_GAP[1]
        ):
            hits.append(
                Hit(
                    "skypeout_e2o",
                    STAGE,
                    Strength.POSSIBLE,
                    f"{same} of the first {len(orig)} datagrams share the 4-byte header"
                    f" {prefix.hex()} every {gap * 1000:.0f} ms (SkypeOut framing)",
                )
            )
    return hits
