"""A pipe or FIFO read by the bulk engine (one process), and handed to the reference from its
first byte again when the bulk engine does not take it or gives up before its first packet:
either way the logs and the summary are the reference's on the same bytes read from a file."""

from __future__ import annotations

import itertools
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.containers import pcap_bytes, pcapng_bytes
from fuzz.differential import capture, compare, damage, log_body, write_in_pieces
from skypewatch.analyze import Summary, analyze, format_summary
from skypewatch.errors import CaptureError
from skypewatch.fastpath import bulk as bulk_reader
from skypewatch.fastpath.bulk import REFUSED
from skypewatch.fastpath.chunk import Cut, stream_runs
from skypewatch.packets.capture import OpenStream

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def _same(stream: Summary, file: Summary, fifo: Path, src: Path) -> None:
    """The stream's run said and wrote what the reference did on the file."""
    assert log_body(stream.skype_log) == log_body(file.skype_log)
    assert log_body(stream.notice_log) == log_body(file.notice_log)
    assert (stream.packets, stream.connections, stream.notice_count) == (
        file.packets,
        file.connections,
        file.notice_count,
    )
    assert str(stream.truncated).replace(str(fifo), "X") == str(file.truncated).replace(
        str(src), "X"
    )
    assert format_summary(stream).splitlines()[2:-1] == format_summary(file).splitlines()[2:-1]


def _through_fifo(
    tmp_path: Path, data: bytes, name: str, rng: random.Random | None = None, workers: int = 1
) -> tuple[Summary, Summary, Path, Path]:
    src = tmp_path / f"{name}.cap"
    src.write_bytes(data)
    fifo = tmp_path / f"{name}.fifo"
    os.mkfifo(fifo)
    writer = write_in_pieces(fifo, data, rng)
    s = analyze([fifo], tmp_path / f"{name}-stream", workers=workers)
    writer.join(timeout=30)
    assert not writer.is_alive()
    ref = analyze([src], tmp_path / f"{name}-file", engine="reference")
    return s, ref, fifo, src


@pytest.mark.parametrize("workers", [1, 2])
def test_a_pcap_fifo_is_read_by_the_bulk_engine_in_one_process(tmp_path, workers):
    src = tmp_path / "d.pcap"
    assert not capture(9, src).late
    s, ref, fifo, _ = _through_fifo(tmp_path, src.read_bytes(), "d", workers=workers)
    assert s.engine.startswith("bulk (") and "second process" not in s.engine, s.engine
    assert s.engine.endswith("in one process: a stream)") == (workers == 2), s.engine
    _same(s, ref, fifo, tmp_path / "d.cap")


def test_a_stream_written_in_pieces_across_small_chunks(tmp_path, monkeypatch):
    """Records cut by every read and every chunk: joined, in order, none lost or doubled."""
    monkeypatch.setattr(bulk_reader, "CHUNK_BYTES", 3000)
    for seed in (1, 2, 3):
        src = tmp_path / f"s{seed}.pcap"
        capture(seed, src)
        data = src.read_bytes()
        s, ref, fifo, file = _through_fifo(tmp_path, data, f"s{seed}", random.Random(seed))
        assert s.engine.startswith("bulk ("), s.engine
        _same(s, ref, fifo, file)


def test_a_stream_the_bulk_engine_does_not_take_is_read_again_from_its_first_byte(tmp_path):
    """pcapng, another link type, not a capture, empty: the reference reads every byte."""
    src = tmp_path / "d.pcap"
    capture(4, src)
    frames = _records(src.read_bytes())
    cases = {
        "pcapng": pcapng_bytes(frames, random.Random(1)),
        "ppp": pcap_bytes([(1.0, b"\xff\x03\x00\x21" + bytes(40))], 9),
        "garbage": b"no capture at all, " * 100,
        "empty": b"",
        "short": src.read_bytes()[:10],
    }
    for name, data in cases.items():
        try:
            s, ref, fifo, file = _through_fifo(tmp_path, data, name)
        except CaptureError as exc:  # as the file says it (the path aside)
            f = tmp_path / f"{name}.cap"
            with pytest.raises(CaptureError) as on_file:
                analyze([f], tmp_path / f"{name}-again", engine="reference")
            assert str(exc).replace(f"{name}.fifo", "X") == str(on_file.value).replace(
                f"{name}.cap", "X"
            )
            continue
        assert s.engine == f"reference ({REFUSED})", (name, s.engine)
        _same(s, ref, fifo, file)


def test_a_stream_cut_or_damaged_ends_as_the_file_does(tmp_path, monkeypatch):
    """Before its first packet (the bulk engine gives up: the reference reads the kept
    bytes again) and after it (the bulk engine ends the input there, as the reference)."""
    monkeypatch.setattr(bulk_reader, "CHUNK_BYTES", 5000)
    src = tmp_path / "d.pcap"
    capture(6, src)
    data = src.read_bytes()
    second = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]
    huge = bytearray(data)
    struct.pack_into("<I", huge, 24 + 8, 1 << 30)  # the first record's caplen: no record's
    late = bytearray(data)
    struct.pack_into("<I", late, second + 8, 1 << 30)
    cases = {
        "header-only": data[:24],
        "first-cut": data[:30],
        "first-huge": bytes(huge),
        "second-huge": bytes(late),
        "mid-cut": data[: len(data) * 2 // 3 + 5],
    }
    for name, cut in cases.items():
        try:
            s, ref, fifo, file = _through_fifo(tmp_path, cut, name)
        except CaptureError as exc:
            assert name == "header-only", (name, exc)
            assert "holds no packets" in str(exc)
            continue
        assert s.truncated is not None, name
        _same(s, ref, fifo, file)
        gave_up = s.engine.startswith("reference")
        assert gave_up == (name in ("first-cut", "first-huge")), (name, s.engine)


def test_a_long_stream_damaged_at_its_first_record_is_read_again_whole(tmp_path):
    """At the default chunk size the bulk reader reads a chunk and more before it finds the
    first record damaged: analyze.STREAM_KEEP holds all of it, and the reference reads
    the 20 MB stream again from its first byte (as the file: damaged at packet 1)."""
    src = tmp_path / "d.pcap"
    capture(3, src)
    body = src.read_bytes()[24:]
    data = bytearray(src.read_bytes()[:24] + body * (20_000_000 // len(body) + 1))
    struct.pack_into("<I", data, 24 + 8, 1 << 30)
    s, ref, fifo, file = _through_fifo(tmp_path, bytes(data), "long")
    assert s.engine.startswith("reference"), s.engine
    assert s.truncated is not None and "packet 1 " in str(s.truncated)
    _same(s, ref, fifo, file)


@pytest.mark.parametrize("keep", [10240, 10239])
def test_the_stream_keeps_what_it_read_up_to_its_bound(tmp_path, keep):
    data = bytes(range(256)) * 40  # 10,240 bytes
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    writer = write_in_pieces(fifo, data, random.Random(keep))
    stream = OpenStream.open(fifo, keep=keep)
    try:
        head = stream.head(24)
        assert len(head) >= 24 and data.startswith(head)
        if len(head) <= keep:  # what was read so far, however the writer cut it
            assert stream.replay() == head
        while stream.read():
            pass
        if keep >= len(data):
            assert stream.replay() == data
        else:
            with pytest.raises(CaptureError, match="too far to be read again"):
                stream.replay()
    finally:
        stream.close()
        writer.join(timeout=30)


def test_the_stream_keeps_nothing_once_the_bulk_reader_has_packets(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk_reader, "CHUNK_BYTES", 3000)
    src = tmp_path / "d.pcap"
    capture(2, src)
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    writer = write_in_pieces(fifo, src.read_bytes(), random.Random(1))
    stream = OpenStream.open(fifo, keep=1 << 30)
    try:
        assert bulk_reader.stream_header(stream) is not None
        assert stream.replay()[:24] == src.read_bytes()[:24]
        found = bulk_reader.chunks(stream)
        assert next(found).ts.size > 0
        with pytest.raises(CaptureError, match="too far to be read again"):
            stream.replay()
        assert sum(c.ts.size for c in found) > 0
    finally:
        stream.close()
        writer.join(timeout=30)


@pytest.mark.parametrize("how", ["pipe", "file"])
def test_analyze_reads_standard_input_for_a_dash(tmp_path, how):
    """``-`` is standard input (tcpdump's and Zeek's ``-r -``): a pipe, or a file
    redirected in."""
    src = tmp_path / "d.pcap"
    capture(7, src)
    cmd = [sys.executable, "-m", "skypewatch", "analyze", "--engine", "bulk", "-"]
    cmd += ["-o", str(tmp_path / "p")]
    with open(src, "rb") as fh:
        if how == "pipe":
            feeder = subprocess.Popen(["cat"], stdin=fh, stdout=subprocess.PIPE)
            run = subprocess.run(cmd, stdin=feeder.stdout, capture_output=True, text=True)
            feeder.stdout.close()  # (a run that read nothing must not leave cat blocked)
            feeder.wait(timeout=60)
        else:
            run = subprocess.run(cmd, stdin=fh, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "did not run" not in run.stderr, run.stderr
    ref = analyze([src], tmp_path / "r", engine="reference")
    assert log_body(tmp_path / "p" / "skype.log") == log_body(ref.skype_log)


def test_a_dash_with_a_terminal_on_standard_input_is_a_one_line_error(tmp_path):
    main, other = os.openpty()
    try:
        cmd = [sys.executable, "-m", "skypewatch", "analyze", "-", "-o", str(tmp_path / "o")]
        run = subprocess.run(cmd, stdin=other, capture_output=True, text=True, timeout=60)
    finally:
        os.close(main)
        os.close(other)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "standard input is a terminal" in run.stderr
    assert not (tmp_path / "o" / "skype.log").exists()


def test_analyze_reads_dev_stdin_from_a_pipe_in_bulk(tmp_path):
    src = tmp_path / "d.pcap"
    capture(5, src)
    cmd = [sys.executable, "-m", "skypewatch", "analyze", "--engine", "bulk", "/dev/stdin"]
    cmd += ["-o", str(tmp_path / "p")]
    with open(src, "rb") as fh:
        feeder = subprocess.Popen(["cat"], stdin=fh, stdout=subprocess.PIPE)
        run = subprocess.run(cmd, stdin=feeder.stdout, capture_output=True, text=True)
        feeder.stdout.close()  # (a run that read nothing must not leave cat blocked)
        feeder.wait(timeout=60)
    assert run.returncode == 0, run.stderr
    assert "did not run" not in run.stderr, run.stderr  # (it says so where it did not)
    ref = analyze([src], tmp_path / "r", engine="reference")
    assert log_body(tmp_path / "p" / "skype.log") == log_body(ref.skype_log)


def _records(data: bytes) -> list[tuple[float, bytes]]:
    """A little-endian microsecond pcap's whole (time, frame) records."""
    out, at = [], 24
    while at + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, at)
        if at + 16 + caplen > len(data):
            break
        out.append((sec + usec / 1e6, data[at + 16 : at + 16 + caplen]))
        at += 16 + caplen
    return out


@pytest.mark.parametrize("seed", range(6))
def test_randomized_differential_through_a_fifo(seed, tmp_path):
    """fuzz.differential's captures (containers, cuts into parts, damage for half) with the
    bulk engine reading the one capture from a FIFO written in pieces."""
    gen = capture(seed, tmp_path / "d.cap", varied=True)
    if seed % 2:
        damage(gen.parts[0], random.Random(f"damage:{seed}"))
    rng = random.Random(f"piped:{seed}")
    assert compare(list(gen.parts), tmp_path, require_bulk=False, piped=rng) == []


@pytest.mark.parametrize("seed", range(12))
def test_stream_runs_hands_out_every_record_once_whatever_the_reads(seed):
    """The stream's reads cut records anywhere (one byte at a time too), records larger
    than a chunk among them, and the stream may end inside one: every whole record comes
    out once, in order, at its own offset, and a cut one is the Cut's."""
    rng = random.Random(seed)
    frames = [(1.0 + i, rng.randbytes(rng.choice((0, 1, 60, 1500, 9000)))) for i in range(80)]
    data = pcap_bytes(frames)
    records = _records(data)
    if seed % 3 == 0:  # cut inside a record's header, or inside its data
        starts = list(itertools.accumulate([24] + [16 + len(f) for _, f in records]))
        k = rng.randrange(1, len(records))
        inside = rng.randrange(1, 16) if seed % 2 else rng.randrange(16, starts[k + 1] - starts[k])
        data = data[: starts[k] + inside]
        records = _records(data)
    pieces = []
    at = 24
    while at < len(data):
        n = rng.choice((1, 3, 16, 17, 700, 3000, 20_000))
        pieces.append(data[at : at + n])
        at += n
    reads = iter(pieces)
    header = bulk_reader._header(data[:24])
    assert header is not None
    got: list[tuple[int, bytes]] = []
    cut = None
    try:
        for buf, starts, consumed, offset in stream_runs(
            lambda: next(reads, b""), b"", 3000, 24, bulk_reader._walk(header)
        ):
            for s in starts:
                caplen = struct.unpack_from("<I", buf, s + 8)[0]
                got.append((offset + s, buf[s + 16 : s + 16 + caplen]))
            assert consumed == got[-1][0] + 16 + len(got[-1][1])
    except Cut as c:
        cut = c
    assert [f for _, f in got] == [f for _, f in records]
    assert [o for o, _ in got] == list(
        itertools.accumulate([24] + [16 + len(f) for _, f in records[:-1]])
    )[: len(records)]
    whole = 24 + sum(16 + len(f) for _, f in records)
    if whole == len(data):
        assert cut is None
    else:
        assert cut is not None and cut.offset == whole and cut.rest == data[whole:]
