"""Fixtures: crafted connections for signature tests, and the shared real captures."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from fuzz.containers import LINK_TYPES
from skypewatch.connections.connection import Connection
from skypewatch.packets.decode import TCP, UDP
from skypewatch.signatures.udp_layout import worth_inspecting
from skypewatch.synth.frames import addr_bytes
from skypewatch.synth.scenarios import SynthOptions, synthesize

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared"))
PCAPS = SHARED / "pcaps"

CLIENT = "10.0.0.5"
SN = "198.51.100.7"


BULK_LINK_TYPES = LINK_TYPES  # the link types the bulk engine reads


def bulk_can_run(path: Path) -> bool:
    """A classic pcap (microsecond times) of a link type the bulk engine reads, or a pcapng
    of one section whose interfaces share one such link type, with enhanced packet blocks
    only."""
    data = path.read_bytes()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        links = set()
        pos = 0
        while pos + 12 <= len(data):
            btype, blen = struct.unpack_from(e + "II", data, pos)
            if btype in (2, 3) or (btype == 0x0A0D0D0A and pos) or blen < 12:
                return False
            if btype == 1:
                links.add(struct.unpack_from(e + "H", data, pos + 8)[0])
            pos += blen
        return len(links) == 1 and links <= set(BULK_LINK_TYPES)
    head = data[:24]
    return head[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4") and (
        struct.unpack("<I" if head[0] == 0xD4 else ">I", head[20:24])[0] & 0x0FFFFFFF
        in BULK_LINK_TYPES
    )


@pytest.fixture(scope="module")
def startup_pcap(tmp_path_factory) -> Path:
    """One synthesized Skype start-up, for the encapsulated and fragmented forms."""
    d = tmp_path_factory.mktemp("startup")
    return synthesize("open-1.4", d / "s.pcap", SynthOptions(duration=120.0, background=50.0)).pcap


def shared_capture(*parts: str) -> Path:
    """A capture from ../shared/pcaps, or a visible skip when the folder is absent."""
    path = PCAPS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared capture {path} is absent (tests read ../shared/pcaps beside the repo)")
    return path


def udp_conn(
    datagrams, orig: str = CLIENT, resp: str = SN, orig_p: int = 35990, resp_p: int = 40001
) -> Connection:
    """A UDP connection holding ``datagrams``: (is_orig, seconds, payload) in order."""
    c = Connection(0x5EED, 1000.0, UDP, addr_bytes(orig), orig_p, addr_bytes(resp), resp_p)
    for is_orig, t, p in datagrams:
        if is_orig:
            c.orig_pkts += 1
        else:
            c.resp_pkts += 1
        c.last_ts = 1000.0 + t
        if not c.inspecting:
            continue
        if not c.datagrams and not worth_inspecting(p):
            c.inspecting = False  # as the detector does (detect/tracker.py)
            continue
        c.add_datagram(is_orig, 1000.0 + t, p)
    return c


def tcp_conn(
    orig_stream: bytes = b"",
    resp_stream: bytes = b"",
    orig: str = CLIENT,
    resp: str = SN,
    resp_p: int = 443,
    first_seg: int | None = None,
) -> Connection:
    c = Connection(0x5EED, 1000.0, TCP, addr_bytes(orig), 50000, addr_bytes(resp), resp_p)
    c.orig_stream = orig_stream
    c.resp_stream = resp_stream
    c.orig_first_seg = len(orig_stream) if first_seg is None else first_seg
    return c


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)
