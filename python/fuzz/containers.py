"""The same frames in another container: another link type, VLAN tags, pcapng.

The bulk engine reads pcap and pcapng of several link types, VLAN-tagged frames among them
(``skypewatch/fastpath``); the differential run (``differential.py``) and the tests write
their captures through these so that every reader path is held to the reference.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

from skypewatch.synth.encapsulate import Encapsulator

# Ethernet, Linux cooked (v1, v2), raw IP (three numbers), BSD and OpenBSD loopback
LINK_TYPES = (1, 113, 276, 101, 12, 14, 0, 108)
# if_tsresol codes and their seconds per tick: micro-, nano-, milliseconds, 2^-20 s
RESOLUTIONS = ((b"\x06", 1e-6), (b"\x09", 1e-9), (b"\x03", 1e-3), (b"\x94", 2.0**-20))
# blocks a pcapng reader skips: name resolution, statistics, secrets, custom (two kinds)
SKIPPED_BLOCKS = (4, 5, 0x0A, 0x00000BAD, 0x40000BAD)


def relinked(frame: bytes, link_type: int) -> bytes | None:
    """An Ethernet frame as a frame of *link_type*; None when that link type cannot carry
    it (raw IP and loopback carry no tags and only IP)."""
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


def tagged(frame: bytes, tags: list[tuple[int, int]]) -> bytes:
    """*frame* behind VLAN *tags*, (tag protocol, VLAN id) outermost first."""
    return frame[:12] + b"".join(struct.pack("!HH", t, v) for t, v in tags) + frame[12:]


def pcap_bytes(records: list[tuple[float, bytes]], link_type: int = 1) -> bytes:
    """A little-endian microsecond pcap of (time, frame) records."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type)]
    for ts, frame in records:
        sec = int(ts)
        usec = min(round((ts - sec) * 1e6), 999_999)
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    return b"".join(out)


def _block(btype: int, body: bytes, e: str) -> bytes:
    body += bytes(-len(body) % 4)
    return (
        struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))
    )


def _option(code: int, value: bytes, e: str) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + bytes(-len(value) % 4)


def pcapng_bytes(
    records: list[tuple[float, bytes]],
    rng: random.Random,
    e: str = "<",
    link_type: int = 1,
    varied: bool = True,
) -> bytes:
    """The records as a pcapng section of 1-3 interfaces with random clocks (resolution and
    offset), the packets spread over them, with blocks a reader skips between them; or,
    not *varied*, as dumpcap writes one interface: microseconds, nothing else.  A time is
    written as the nearest tick: read back, it may differ from the record's by up to half
    a tick (a millisecond at worst)."""
    n_if = rng.randrange(1, 4) if varied else 1
    clocks = []
    out = [_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)]
    for _ in range(n_if):
        code, tick = rng.choice(RESOLUTIONS) if varied else RESOLUTIONS[0]
        offset = rng.choice((0, 0, -1_000_000, 86_400)) if varied else 0
        options = _option(9, code, e)
        if offset:
            options += _option(14, struct.pack(e + "q", offset), e)
        options += _option(0, b"", e)
        out.append(_block(1, struct.pack(e + "HHI", link_type, 0, 0) + options, e))
        clocks.append((tick, offset))
    for ts, frame in records:
        if varied and rng.random() < 0.05:
            out.append(_block(rng.choice(SKIPPED_BLOCKS), rng.randbytes(rng.randrange(40)), e))
        iface = rng.randrange(n_if)
        tick, offset = clocks[iface]
        ticks = max(0, round((ts - offset) / tick))
        head = struct.pack(
            e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
        )
        out.append(_block(6, head + frame, e))
    return b"".join(out)


def write_varied(
    path: Path, records: list[tuple[float, bytes]], rng: random.Random
) -> tuple[str, bool, int]:
    """*records* (Ethernet frames) written to *path* in a container *rng* picks: pcap or
    pcapng, a link type of :data:`LINK_TYPES`, sometimes every frame VLAN-tagged, sometimes
    every IP packet in PPPoE, behind MPLS labels, in VXLAN, GTP-U, GRE or IP-in-IP, sometimes
    half the host pairs' flows as IPv6.  Returns what it picked, in a few words, whether
    times may now go back (a pcapng's interfaces round times to different ticks), and how
    many frames it wrote."""
    link = rng.choice(LINK_TYPES) if rng.random() < 0.5 else 1
    trunk = link in (1, 113, 276) and rng.random() < 0.3
    # sometimes every IP packet in a PPPoE session or behind two MPLS labels (an access or
    # a carrier link), under the tags if any, or every frame in VXLAN (a cloud's traffic
    # mirror), Geneve (a load balancer's) or GRE (a remote SPAN), or its IP packet in GTP-U
    # (a mobile core) or IP-in-IP
    access = None
    if link in (1, 113, 276) and rng.random() < 0.25:
        access = Encapsulator(
            rng.choice(
                ("pppoe", "mpls", "vxlan", "geneve", "gtpv1", "gtpv1-ext", "gre-eth", "ipip")
            )
        )
    # the flows of half the host pairs as IPv6 (addresses mapped into 64:ff9b::/96)
    v6 = Encapsulator("ipv6") if rng.random() < 0.3 else None
    out = []
    for ts, frame in records:
        if v6 is not None and frame[12:14] == b"\x08\x00" and len(frame) >= 34:
            pair = b"".join(sorted((frame[26:30], frame[30:34])))
            if zlib.crc32(pair) & 1:
                frame = v6.frames(1, frame)[0]
        if access is not None and frame[12:14] in (b"\x08\x00", b"\x86\xdd"):
            frame = access.frames(1, frame)[0]
        if trunk and len(frame) >= 14:
            frame = tagged(
                frame, [(0x8100, 7)] if rng.random() < 0.7 else [(0x88A8, 3), (0x8100, 7)]
            )
        carried = relinked(frame, link)
        if carried is not None:
            out.append((ts, carried))
    if rng.random() < 0.4:
        e = rng.choice("<>")
        path.write_bytes(pcapng_bytes(out, rng, e, link))
        kind = f"pcapng ({'little' if e == '<' else 'big'}-endian)"
    else:
        path.write_bytes(pcap_bytes(out, link))
        kind = "pcap"
    what = (
        f"{kind}, link type {link}"
        + (", tagged" if trunk else "")
        + (f", {access.form}" if access else "")
        + (", IPv6" if v6 else "")
    )
    return what, kind != "pcap", len(out)


def write_parts(
    path: Path, records: list[tuple[float, bytes]], rng: random.Random, parts: int
) -> tuple[list[Path], str, bool, int]:
    """*records* cut at random places into *parts* captures (path.0, path.1...), each
    written by :func:`write_varied` in a container of its own: the paths, what each is,
    whether times may go back, and how many frames they hold."""
    cuts = sorted(rng.sample(range(1, len(records)), parts - 1))
    paths, kinds, reordered, n = [], [], False, 0
    for k, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, len(records)], strict=True)):
        part = path.with_name(f"{path.name}.{k}")
        kind, back, m = write_varied(part, records[lo:hi], rng)
        paths.append(part)
        kinds.append(kind)
        reordered = reordered or back
        n += m
    return paths, " + ".join(kinds), reordered, n
