"""The bulk reader on pcapng (fastpath/pcapng.py) against the reference reader.

Every packet it hands out is the reference's (time to the bit, frame, link type), whatever
the chunk size, byte order, resolutions, offsets and skipped blocks; every file the
reference reads with an error, and every layout it does not take on, sends the capture to
the reference engine; and the engine's logs on a pcapng capture are the reference's.
"""

from __future__ import annotations

import random
import struct

import pytest
from test_capture_damage import DAMAGE, block, epb, idb, opt, pb, shb, spb

from fuzz.differential import capture, compare
from skypewatch.analyze import analyze
from skypewatch.fastpath import bulk
from skypewatch.packets.capture import read_capture

# if_tsresol values: microseconds, nanoseconds, milliseconds, 2^-20 and 2^-30 s per tick
_RESOLUTIONS = [(b"\x06", 1e-6), (b"\x09", 1e-9), (b"\x03", 1e-3), (b"\x94", 2.0**-20)]
_SKIPPED = [4, 5, 0x0A, 0x00000BAD, 0x40000BAD]  # names, statistics, secrets, custom


def _pcapng(
    records: list[tuple[float, bytes]], rng: random.Random, e: str = "<", link: int = 1
) -> bytes:
    """The records as a pcapng of 1-3 interfaces with random clocks, their packets spread
    over the interfaces, with blocks the readers skip between them."""
    n_if = rng.randrange(1, 4)
    clocks = []
    out = [shb(e)]
    for _ in range(n_if):
        code, tick = rng.choice(_RESOLUTIONS)
        offset = rng.choice((0, 0, -1_000_000, 86_400))
        options = opt(9, code, e) + (opt(14, struct.pack(e + "q", offset), e) if offset else b"")
        out.append(idb(link, options=options + opt(0, b"", e), e=e))
        clocks.append((tick, offset))
    for ts, frame in records:
        if rng.random() < 0.05:
            out.append(block(rng.choice(_SKIPPED), rng.randbytes(rng.randrange(0, 40)), e))
        iface = rng.randrange(n_if)
        tick, offset = clocks[iface]
        out.append(epb(frame, iface=iface, ticks=max(0, round((ts - offset) / tick)), e=e))
    return b"".join(out)


def _walk(path, monkeypatch, chunk_bytes: int) -> list[tuple[float, int, bytes]]:
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk_bytes)
    got = []
    for c in bulk.chunks(path):
        for at, cap, ts in zip(c.data.tolist(), c.caplen.tolist(), c.ts.tolist(), strict=True):
            got.append((ts, c.link_type, c.buf[at : at + cap]))
    return got


@pytest.mark.parametrize("chunk_bytes", [40, 300, 5000, 1 << 22])
@pytest.mark.parametrize("seed", range(4))
def test_the_walk_reads_every_packet_as_the_reference_does(
    tmp_path, monkeypatch, seed, chunk_bytes
):
    rng = random.Random(seed)
    records = [
        (1_600_000_000 + i * 0.37 + rng.random(), rng.randbytes(rng.choice((0, 3, 14, 60, 333))))
        for i in range(150)
    ]
    path = tmp_path / "w.pcapng"
    path.write_bytes(_pcapng(records, rng, e="<>"[seed % 2], link=(1, 113, 101, 0)[seed]))
    want = list(read_capture(path))
    assert len(want) == len(records)
    assert _walk(path, monkeypatch, chunk_bytes) == want
    assert bulk.pcap_header(path) is not None


@pytest.mark.parametrize("case", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_file_the_reference_reads_with_an_error_is_left_to_it(tmp_path, monkeypatch, case):
    _name, data, _error, _words, _before = case
    path = tmp_path / "d.pcapng"
    path.write_bytes(data)
    with pytest.raises(bulk.Unsupported):
        _walk(path, monkeypatch, 1 << 22)


FRAME = bytes(60)
GOOD = shb() + idb() + epb(FRAME)


@pytest.mark.parametrize(
    "data",
    [
        GOOD + spb(FRAME),
        GOOD + pb(FRAME),
        GOOD + shb() + idb() + epb(FRAME),
        GOOD + idb() + epb(FRAME, iface=1),
        shb() + idb(1) + idb(113) + epb(FRAME),
        shb() + idb(9) + epb(FRAME),  # PPP
    ],
    ids=[
        "simple packet",
        "obsolete packet",
        "second section",
        "interface after packets",
        "two link types",
        "link type not read in bulk",
    ],
)
def test_a_layout_the_bulk_reader_does_not_take_is_left_to_the_reference(
    tmp_path, monkeypatch, data
):
    path = tmp_path / "l.pcapng"
    path.write_bytes(data)
    list(read_capture(path))  # the reference reads it
    with pytest.raises(bulk.Unsupported):
        _walk(path, monkeypatch, 1 << 22)
    s = analyze([path], tmp_path / "o")
    assert s.engine.startswith("reference (")


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("seed", [2, 6])
def test_the_engine_on_pcapng_gives_the_reference_logs(tmp_path, seed, workers):
    src = tmp_path / "d.pcap"
    capture(seed, src)
    rng = random.Random(seed)
    records = [(ts, frame) for ts, _link, frame in read_capture(src)]
    cap = tmp_path / "d.pcapng"
    cap.write_bytes(_pcapng(records, rng))
    engines: list[str] = []
    assert compare(cap, tmp_path, require_bulk=True, engines=engines, workers=workers) == []
    assert engines[0].startswith("bulk (")
