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
from test_capture_damage import DAMAGE, epb, idb, pb, shb, spb

from fuzz.containers import pcapng_bytes
from fuzz.differential import capture, compare
from skypewatch.analyze import analyze
from skypewatch.errors import CaptureError, CaptureTruncated
from skypewatch.fastpath import bulk
from skypewatch.fastpath.chunk import Cut
from skypewatch.packets.capture import read_capture


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
    path.write_bytes(pcapng_bytes(records, rng, "<>"[seed % 2], (1, 113, 101, 0)[seed]))
    want = list(read_capture(path))
    assert len(want) == len(records)
    assert _walk(path, monkeypatch, chunk_bytes) == want
    assert bulk.pcap_header(path) is not None


@pytest.mark.parametrize("case", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_file_the_reference_reads_with_an_error_is_left_to_it(tmp_path, monkeypatch, case):
    """Damage is the reference's to say; a file that ends inside a block after the first
    interface is read up to it, and the cut said in the reference's words."""
    _name, data, error, words, before = case
    path = tmp_path / "d.pcapng"
    path.write_bytes(data)
    if error is CaptureTruncated and words == "cut short":
        monkeypatch.setattr(bulk, "CHUNK_BYTES", 1 << 22)
        got = 0
        with pytest.raises(Cut) as cut:
            for c in bulk.chunks(path):
                got += c.ts.size
        assert got == before and words in cut.value.why and not cut.value.damaged
        return
    with pytest.raises(bulk.Unsupported):
        _walk(path, monkeypatch, 1 << 22)


def test_an_interface_behind_large_blocks_is_found(tmp_path):
    """A 200 KB block before the first interface (decryption secrets, say): the look before
    the run still finds the interface, and the bulk engine runs."""
    big = struct.pack("<II", 0x0A, 12 + 200_000) + bytes(200_000) + struct.pack("<I", 200_012)
    path = tmp_path / "b.pcapng"
    path.write_bytes(shb() + big + idb() + epb(bytes(60)))
    assert bulk.pcap_header(path) is not None
    assert analyze([path], tmp_path / "o").engine.startswith("bulk")


def test_a_section_header_shorter_than_its_fields_is_left_to_the_reference(tmp_path, monkeypatch):
    """24 bytes long, its trailer agreeing: the reference refuses the file (at least 28)."""
    head = struct.pack("<II", 0x0A0D0D0A, 24) + struct.pack("<IHHII", 0x1A2B3C4D, 1, 0, 0, 24)
    path = tmp_path / "s.pcapng"
    path.write_bytes(head + idb() + epb(bytes(60)))
    with pytest.raises(CaptureError):
        list(read_capture(path))
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
    cap.write_bytes(pcapng_bytes(records, rng))
    engines: list[str] = []
    assert compare(cap, tmp_path, require_bulk=True, engines=engines, workers=workers) == []
    assert engines[0].startswith("bulk (")
