"""Damaged pcap and pcapng structure: every kind gets CaptureError or CaptureTruncated (one
line, exit 2 on the command line), never struct.error, IndexError or a hang; and any bytes at
all, or mutations of real and synthesized captures, do the same."""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import PCAPS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skypewatch.errors import CaptureError, CaptureTruncated
from skypewatch.packets.capture import MAX_BLOCK, read_capture
from skypewatch.synth.frames import addr_bytes, udp_frame

FRAME = udp_frame(addr_bytes("10.0.0.5"), 35990, addr_bytes("81.2.3.4"), 40001, b"\x02" * 18)
REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "testing" / "btest" / "Traces"

# -- a small pcapng writer that can also write it wrong ---------------------------------


def pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def block(btype: int, body: bytes, e: str = "<", length=None, trailer=None) -> bytes:
    body = pad4(body)
    n = 12 + len(body) if length is None else length
    t = n if trailer is None else trailer
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", t)


def shb(e: str = "<", major: int = 1, bom: bytes | None = None, length=None) -> bytes:
    magic = bom if bom is not None else struct.pack(e + "I", 0x1A2B3C4D)
    body = magic + struct.pack(e + "HHq", major, 0, -1)
    return block(0x0A0D0D0A, body, e, length)


def opt(code: int, value: bytes, e: str = "<", length=None) -> bytes:
    n = len(value) if length is None else length
    return struct.pack(e + "HH", code, n) + pad4(value)


def idb(link: int = 1, snaplen: int = 0, options: bytes = b"", e: str = "<", length=None):
    return block(1, struct.pack(e + "HHI", link, 0, snaplen) + options, e, length)


def epb(data: bytes, iface: int = 0, ticks: int = 1_000_000, e="<", caplen=None, length=None):
    cap = len(data) if caplen is None else caplen
    body = struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, cap, len(data))
    return block(6, body + data, e, length)


def spb(data: bytes, orig: int | None = None, e: str = "<", length=None) -> bytes:
    return block(3, struct.pack(e + "I", len(data) if orig is None else orig) + data, e, length)


def pb(data: bytes, iface: int = 0, ticks: int = 5_000_000, e: str = "<") -> bytes:
    body = struct.pack(e + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), 99)
    return block(2, body + data, e)


GOOD = shb() + idb() + epb(FRAME) + epb(FRAME, ticks=2_000_000)


def read_all(data: bytes) -> tuple[list, Exception | None]:
    with tempfile.NamedTemporaryFile(suffix=".pcapng") as fh:
        fh.write(data)
        fh.flush()
        got: list = []
        try:
            for item in read_capture(fh.name):
                got.append(item)
        except CaptureError as exc:
            return got, exc
        return got, None


# -- the structure checks, one damage at a time -----------------------------------------

# (name, bytes, error class, words, packets read before the error)
DAMAGE = [
    ("shb too short", shb(length=24) + GOOD[28:], CaptureError, "section header block len", 0),
    ("shb wrong byte order", shb(bom=b"ABCD"), CaptureError, "byte-order magic", 0),
    ("shb version 2", shb(major=2) + idb(), CaptureError, "version 2.0 is not supported", 0),
    ("shb length odd", shb(length=30), CaptureError, "multiple of 4", 0),
    ("shb beyond file", shb(length=4096), CaptureError, "cut short", 0),
    ("shb header only", b"\n\r\r\n\x1c\x00", CaptureError, "cut short", 0),
    ("idb too short", shb() + idb(length=16), CaptureTruncated, "interface description bl", 0),
    ("epb too short", GOOD + epb(FRAME, length=28), CaptureTruncated, "enhanced packet block", 2),
    ("spb too short", GOOD + spb(FRAME, length=12), CaptureTruncated, "simple packet block", 2),
    ("pb too short", GOOD + block(2, bytes(16)), CaptureTruncated, "packet block length 28", 2),
    ("block under 12", GOOD + block(0xBAD, b"", length=8), CaptureTruncated, "at least 12", 2),
    ("length not x4", GOOD + block(5, bytes(8), length=21), CaptureTruncated, "multiple of 4", 2),
    ("absurd length", GOOD + block(5, bytes(8), length=0xFFFFFFFC), CaptureTruncated, "beyond", 2),
    ("beyond file", GOOD + epb(FRAME, length=4000), CaptureTruncated, "cut short", 2),
    ("trailer differs", GOOD + epb(FRAME)[:-4] + b"\x00" * 4, CaptureTruncated, "trailing", 2),
    ("header cut", GOOD + b"\x06\x00\x00\x00\x20\x00", CaptureTruncated, "cut short", 2),
    (
        "tsresol cut at end",
        shb() + idb(options=opt(9, b"", length=8)),
        CaptureTruncated,
        "option 9 (8 bytes) runs past",
        0,
    ),
    ("tsresol empty", shb() + idb(options=opt(9, b"")), CaptureTruncated, "is empty", 0),
    ("tsresol 10^-127", shb() + idb(options=opt(9, b"\x7f")), CaptureTruncated, "0x7f", 0),
    ("tsresol 2^-64", shb() + idb(options=opt(9, b"\xc0")), CaptureTruncated, "0xc0", 0),
    (
        "any option cut",
        shb() + idb(options=opt(2, b"eth0", length=300)),
        CaptureTruncated,
        "option 2 (300 bytes)",
        0,
    ),
    (
        "caplen beyond block",
        GOOD + epb(FRAME, caplen=len(FRAME) + 40),
        CaptureTruncated,
        "captured length",
        2,
    ),
    ("undeclared iface", GOOD + epb(FRAME, iface=1), CaptureTruncated, "interface 1", 2),
    ("epb before idb", shb() + epb(FRAME), CaptureTruncated, "declares 0", 0),
    ("spb before idb", shb() + spb(FRAME), CaptureTruncated, "before any interface", 0),
    ("timestamp 2^63", GOOD + epb(FRAME, ticks=1 << 63), CaptureTruncated, "beyond 2100", 2),
    (
        "later shb bad bom",
        GOOD + shb(bom=b"\xff\xff\xff\xff") + idb(),
        CaptureTruncated,
        "byte-order magic",
        2,
    ),
    (
        "interfaces do not outlive their section",
        GOOD + shb() + epb(FRAME),
        CaptureTruncated,
        "declares 0",
        2,
    ),
]


@pytest.mark.parametrize(
    "data, error, words, before", [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE]
)
def test_damaged_pcapng(data, error, words, before):
    got, exc = read_all(data)
    assert type(exc) is error, exc
    assert words in str(exc)
    assert len(got) == before, "every packet before the damage is read"
    if isinstance(exc, CaptureTruncated):
        assert exc.packet_index == before
        assert exc.damaged == ("cut short" not in words)


def test_damage_is_reported_at_its_block():
    damaged = GOOD + epb(FRAME, iface=7)
    _, exc = read_all(damaged)
    assert isinstance(exc, CaptureTruncated) and exc.byte_offset == len(GOOD)
    assert f"byte offset {len(GOOD)}" in str(exc) and str(exc).count("\n") == 0


def test_block_length_limit_is_wiresharks():
    assert MAX_BLOCK == 128 * 1024 * 1024


# -- well-formed variants are read exactly ----------------------------------------------


def test_byte_order_may_change_between_sections():
    big = shb(">") + idb(101, e=">") + epb(FRAME[14:], ticks=3_000_000, e=">")
    little = shb("<") + idb(1, options=opt(9, b"\x09") + opt(0, b"")) + epb(FRAME, ticks=7 * 10**9)
    got, exc = read_all(little + big)
    assert exc is None
    assert [(round(ts, 6), link) for ts, link, _ in got] == [(7.0, 1), (3.0, 101)]
    assert got[0][2] == FRAME and got[1][2] == FRAME[14:]


def test_resolutions_obsolete_and_simple_packets_and_snaplen():
    data = (
        shb()
        + idb(1, snaplen=20, options=opt(9, b"\x83"))  # 2^-3 s per tick, frames cut to 20
        + idb(113)
        + spb(FRAME)  # interface 0: snaplen applies
        + epb(FRAME, iface=1, ticks=1_000_000)  # microseconds on interface 1
        + pb(FRAME, iface=0, ticks=80)  # 80 / 8 = 10 s
        + block(0x00000005, bytes(16))  # interface statistics: skipped
    )
    got, exc = read_all(data)
    assert exc is None
    assert got == [(0.0, 1, FRAME[:20]), (1.0, 113, FRAME), (10.0, 1, FRAME)]


def test_spb_orig_len_beyond_its_block_reads_what_is_there():
    got, exc = read_all(shb() + idb() + spb(FRAME, orig=10_000))
    assert exc is None and got == [(0.0, 1, FRAME)]


# -- the command line: one line, exit 2 -------------------------------------------------


@pytest.mark.parametrize(
    "name", ["shb too short", "idb too short", "tsresol cut at end", "undeclared iface"]
)
def test_cli_one_line_exit_2(tmp_path, name):
    data = next(d[1] for d in DAMAGE if d[0] == name)
    cap = tmp_path / "bad.pcapng"
    cap.write_bytes(data)
    r = subprocess.run(
        [sys.executable, "-m", "skypewatch", "analyze", str(cap), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "bad.pcapng: " in r.stderr and ("damaged capture" in r.stderr or "not a" in r.stderr)


# -- any bytes: parse, or CaptureError; never anything else, always ends ----------------

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
PREFIXES = [
    b"",
    PCAP_HEADER,
    struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1),
    struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101),
    b"\n\r\r\n",
    shb(),
    shb(">"),
    shb() + idb(),
]


def _check_any(data: bytes) -> None:
    got, _exc = read_all(data)  # any other exception fails the test
    assert len(got) <= len(data) // 12
    for ts, link, frame in got:
        assert isinstance(frame, bytes) and 0 <= ts < 2**32 + 5000 and link >= 0


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PREFIXES), st.binary(max_size=300))
def test_any_bytes(prefix, rest):
    _check_any(prefix + rest)


ENDIAN = st.sampled_from(["<", ">"])
# IDB options: known and unknown codes, lengths that may run past the block
OPTIONS = st.lists(
    st.builds(
        lambda c, v, n: opt(c, v, length=n),
        st.one_of(st.sampled_from([0, 2, 9, 14]), st.integers(0, 0xFFFF)),
        st.binary(max_size=8),
        st.one_of(st.none(), st.integers(0, 0xFFFF)),
    ),
    max_size=4,
).map(b"".join)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    ENDIAN,
    st.lists(
        st.one_of(
            st.builds(lambda b, o, e: idb(b, options=o, e=e), st.integers(0, 300), OPTIONS, ENDIAN),
            st.builds(
                lambda d, i, t, e: epb(d, i, t, e=e),
                st.binary(max_size=64),
                st.integers(0, 3),
                st.integers(0, 2**64 - 1),
                ENDIAN,
            ),
            st.builds(
                lambda d, n, e: spb(d, n, e=e),
                st.binary(max_size=64),
                st.integers(0, 2**32 - 1),
                ENDIAN,
            ),
            st.builds(
                lambda t, b, e: block(t, b, e),
                st.one_of(st.sampled_from([1, 2, 3, 5, 6]), st.integers(0, 2**32 - 1)),
                st.binary(max_size=40),
                ENDIAN,
            ),
            st.builds(lambda b: shb(bom=b), st.sampled_from([None, b"\x1a\x2b\x3c\x4d", b"xxxx"])),
        ),
        max_size=8,
    ),
    st.integers(0, 400),
    st.binary(max_size=8),
)
def test_structured_pcapng_with_damage(e, blocks, cut, junk):
    """Blocks that are each well framed (random contents), then cut and tailed with junk."""
    data = shb(e) + b"".join(blocks)
    _check_any(data[: max(cut, 4)] + junk)
    _check_any(data)


def _seeds() -> list[bytes]:
    seeds = [GOOD, shb(">") + idb(e=">") + epb(FRAME, e=">")]
    for path in sorted(TRACES.glob("*.pcap"))[:3]:
        seeds.append(path.read_bytes()[:4096])
    for name in ("benign/http.pcapng", "benign/rtp.pcapng", "skype/SkypeIRC.cap"):
        if (PCAPS / name).exists():  # optional extra seeds; the test stands without them
            seeds.append((PCAPS / name).read_bytes()[:4096])
    return seeds


SEEDS = _seeds()
SPECIAL = [0, 1, 4, 11, 12, 13, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 20]


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(SEEDS) - 1),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "word", "cut", "insert"]),
            st.integers(0, 4095),
            st.integers(0, 255),
            st.sampled_from(SPECIAL),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_captures(seed, mutations):
    data = bytearray(SEEDS[seed])
    for kind, where, byte, word in mutations:
        at = where % max(len(data), 1)
        if kind == "flip" and data:
            data[at] ^= byte or 1
        elif kind == "word":
            data[at : at + 4] = struct.pack("<I" if byte & 1 else ">I", word)
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = bytes([byte]) * (word % 16 + 1)
    _check_any(bytes(data))
