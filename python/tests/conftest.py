"""Fixtures: crafted connections for signature tests, and the shared real captures."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

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


# Ethernet, Linux cooked (v1, v2), raw IP (three numbers), BSD and OpenBSD loopback
BULK_LINK_TYPES = (1, 113, 276, 101, 12, 14, 0, 108)


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


def relinked(frame: bytes, link_type: int) -> bytes | None:
    """An Ethernet frame as a frame of *link_type* (tests of the link types the engines
    read); None when that link type cannot carry it (raw IP and loopback carry no tags)."""
    if link_type == 1:
        return frame
    if link_type == 113:  # Linux cooked: packet type, ARPHRD, address length, address (8)
        return struct.pack("!HHH", 0, 1, 6) + frame[6:12] + b"\0\0" + frame[12:]
    if link_type == 276:  # Linux cooked v2: protocol, reserved, ifindex, ARPHRD, ...
        head = struct.pack("!HIHBB", 0, 2, 1, 0, 6) + frame[6:12] + b"\0\0"
        return frame[12:14] + head + frame[14:]
    if frame[12:14] not in (b"\x08\x00", b"\x86\xdd"):
        return None
    if link_type in (101, 12, 14):
        return frame[14:]
    family = 2 if frame[12:14] == b"\x08\x00" else 24
    return struct.pack("<I" if link_type == 0 else "!I", family) + frame[14:]


def write_pcap(path: Path, records: list[tuple[float, bytes]], link_type: int = 1) -> Path:
    """A little-endian microsecond pcap of (time, frame) records."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type)]
    for ts, frame in records:
        sec = int(ts)
        usec = min(round((ts - sec) * 1e6), 999_999)
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path
