"""The bulk reader's record walk (fastpath/bulk.chunks) against the reference reader.

The walk only follows the records' lengths and checks them all at once afterwards, giving
back the last record of a buffer when it does not fit: small chunk sizes put that edge on
every few records.
"""

from __future__ import annotations

import os
import random
import struct

import pytest

from skypewatch.fastpath import bulk
from skypewatch.fastpath.chunk import Cut
from skypewatch.packets.capture import MAX_CAPLEN, read_capture


def _pcap(records: list[tuple[int, int, bytes]], caplens: dict[int, int] | None = None) -> bytes:
    """A little-endian Ethernet pcap; *caplens* overrides record i's captured length field."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for i, (sec, usec, frame) in enumerate(records):
        incl = (caplens or {}).get(i, len(frame))
        out.append(struct.pack("<IIII", sec, usec, incl, len(frame)) + frame)
    return b"".join(out)


def _walk(path, monkeypatch, chunk_bytes: int) -> list[tuple[float, bytes]]:
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk_bytes)
    assert bulk.pcap_header(path) is not None
    got = []
    for c in bulk.chunks(path):
        for at, cap, ts in zip(c.data.tolist(), c.caplen.tolist(), c.ts.tolist(), strict=True):
            got.append((ts, c.buf[at : at + cap]))
    return got


@pytest.mark.parametrize("chunk_bytes", [17, 64, 100, 1000, 1 << 22])
@pytest.mark.parametrize("seed", range(4))
def test_the_walk_reads_every_record_as_the_reference_does(
    tmp_path, monkeypatch, seed, chunk_bytes
):
    rng = random.Random(seed)
    records = [
        (
            1_600_000_000 + i,
            rng.randrange(1_000_000),
            rng.randbytes(rng.choice((0, 1, 14, 60, 333))),
        )
        for i in range(200)
    ]
    path = tmp_path / "walk.pcap"
    path.write_bytes(_pcap(records))
    want = [(ts, frame) for ts, _link, frame in read_capture(path)]
    assert _walk(path, monkeypatch, chunk_bytes) == want


@pytest.mark.parametrize("where", [0, 57, 199])
@pytest.mark.parametrize("chunk_bytes", [100, 1 << 22])
@pytest.mark.parametrize("present", [False, True], ids=["length-only", "whole-record"])
def test_a_length_past_the_limit_ends_the_records_wherever_it_is(
    tmp_path, monkeypatch, where, chunk_bytes, present
):
    # a length past MAX_CAPLEN: in a record that does not fit in the buffer (the walk
    # stops there), or one whose bytes are all there (only the check of every length finds
    # it); the records before it are read, then the damage is said as capture.py says it
    records = [(1_600_000_000, i, bytes(40)) for i in range(200)]
    if present:
        records[where] = (1_600_000_000, where, bytes(MAX_CAPLEN + 1))
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(_pcap(records, {where: MAX_CAPLEN + 1}))
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk_bytes)
    got = 0
    with pytest.raises(Cut) as cut:
        for c in bulk.chunks(path):
            got += c.ts.size
    assert got == where
    assert cut.value.damaged and cut.value.offset == 24 + 56 * where
    assert cut.value.why == f"corrupt record (captured length {MAX_CAPLEN + 1})"


@pytest.mark.parametrize("where", [0, 57, 199])
def test_a_time_past_2100_ends_the_records(tmp_path, monkeypatch, where):
    records = [(1_600_000_000, i, bytes(40)) for i in range(200)]
    records[where] = (0xFFFFFFFF, 0, bytes(40))
    path = tmp_path / "future.pcap"
    path.write_bytes(_pcap(records))
    got = 0
    with pytest.raises(Cut) as cut:
        for c in bulk.chunks(path):
            got += c.ts.size
    assert (got, cut.value.damaged, cut.value.offset) == (where, True, 24 + 56 * where)
    assert cut.value.why == "timestamp 4294967295 s is beyond 2100"


@pytest.mark.parametrize("chunk_bytes", [17, 100, 1 << 22])
@pytest.mark.parametrize(
    ("keep", "why"),
    [
        (5, "record header cut short"),
        (15, "record header cut short"),
        (16, "packet data cut short"),
        (55, "packet data cut short"),
    ],
)
def test_a_record_cut_short_ends_the_walk(tmp_path, monkeypatch, chunk_bytes, keep, why):
    """The whole records first, then where the file ends inside one, in the reference
    reader's words (*keep*: the last record's bytes left of its 56)."""
    records = [(1_600_000_000, i, bytes(40)) for i in range(20)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(_pcap(records)[: 24 + 19 * 56 + keep])
    got: list[tuple[float, bytes]] = []
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk_bytes)
    with pytest.raises(Cut) as cut:
        for c in bulk.chunks(path):
            starts, times = c.data.tolist(), c.ts.tolist()
            got += [(t, c.buf[a : a + 40]) for a, t in zip(starts, times, strict=True)]
    assert (cut.value.offset, cut.value.why) == (24 + 19 * 56, why)
    assert len(got) == 19 and got[-1][0] == 1_600_000_000 + 18e-6


@pytest.mark.parametrize("size", [24 + 3 * 30_016, 50_000])
def test_a_file_cut_below_the_reader_ends_inside_the_record_it_held(tmp_path, monkeypatch, size):
    """Truncated while it is read, at or below the start of the record a read cut (the
    reader reads that record again with the next bytes): the input ends inside that record,
    whose bytes the reader held, as it did when it kept them, not quietly before it."""
    records = [(1_600_000_000, i, bytes(30_000)) for i in range(6)]
    path = tmp_path / "shrinks.pcap"
    path.write_bytes(_pcap(records))
    # reads far larger than the file object's buffer, as the real ones (4 MiB), so that the
    # seek back reads the file again: the first ends 9,952 bytes into the fourth record
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 100_000)
    found = bulk.chunks(path)
    assert next(found).data.size == 3
    os.truncate(path, size)
    with pytest.raises(Cut) as cut:
        next(found)
    assert (cut.value.offset, cut.value.why) == (24 + 3 * 30_016, "packet data cut short")


def test_the_header_is_read_from_the_file_whose_records_are_read(tmp_path):
    """A capture swapped after pcap_header looked at its path (here: for a big-endian
    pcap, then for a pcapng) is read or refused as what the path names now, never with the
    first file's byte order."""
    path = tmp_path / "c.pcap"
    path.write_bytes(_pcap([(1, 0, bytes(60)), (2, 0, bytes(70))]))
    assert bulk.pcap_header(path) == bulk.Header("<", 1e-6, 1)
    big = [struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    big += [struct.pack(">IIII", 5, 0, 64, 64) + bytes(64)]
    path.write_bytes(b"".join(big))
    (c,) = bulk.chunks(path)
    assert c.caplen.tolist() == [64] and c.ts.tolist() == [5.0]
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(60))
    with pytest.raises(bulk.Unsupported, match=bulk.REFUSED):
        list(bulk.chunks(path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_path_that_became_a_fifo_is_refused_without_waiting(tmp_path):
    path = tmp_path / "c.pcap"
    os.mkfifo(path)  # no writer: a blocking open would wait for ever
    with pytest.raises(bulk.Unsupported, match=bulk.REFUSED):
        list(bulk.chunks(path))
