"""The bulk engine on two processes (fastpath/pipeline.py) gives the reference path's logs.

The same differential checks as test_bulk_engine.py with ``workers=2``, and what the
second process must never do: leave a different result, a process behind, or a log
behind when it fails or the run is interrupted.  Failures of the child are provoked by
patching what it runs, which a forked child inherits (so those tests need fork).
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import runpy
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import PCAPS, bulk_can_run, shared_capture

from fuzz.differential import capture, compare, log_body
from skypewatch import analyze as analyze_module
from skypewatch.analyze import PIPELINE_MIN_BYTES, analyze, auto_workers, format_summary
from skypewatch.detect.tracker import TrackerOptions
from skypewatch.fastpath import bulk, pipeline
from skypewatch.synth.conditions import SCENARIOS
from skypewatch.synth.encapsulate import FORMS, rewrap_capture
from skypewatch.synth.flood import write_flooded_startup
from skypewatch.synth.scenarios import SynthOptions, synthesize

SHARED_CAPTURES = sorted(
    str(p.relative_to(PCAPS))
    for p in PCAPS.glob("*/*")
    if p.suffix in (".pcap", ".cap", ".pcapng") and bulk_can_run(p)
)
needs_fork = pytest.mark.skipif(
    "fork" not in mp.get_all_start_methods(), reason="patches reach the child only by fork"
)


@pytest.mark.parametrize("rel", SHARED_CAPTURES or ["skype/SkypeIRC.cap"])
def test_shared_captures(rel, tmp_path):
    """Those the bulk engine takes (pcap and pcapng; the others never reach a second process,
    and test_bulk_engine.py holds them)."""
    path = shared_capture(*rel.split("/"))
    engines: list[str] = []
    assert compare(path, tmp_path, engines=engines, workers=2) == []
    assert "second process" in engines[0]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_synth_scenarios(scenario, tmp_path):
    res = synthesize(
        scenario, tmp_path / "s.pcap", SynthOptions(clients=2, duration=200.0, background=100.0)
    )
    assert compare(res.pcap, tmp_path, workers=2) == []


@pytest.mark.parametrize("form", FORMS)
def test_encapsulated_forms(form, startup_pcap, tmp_path):
    cap = tmp_path / "wrapped.pcap"
    rewrap_capture(startup_pcap, cap, form)
    assert compare(cap, tmp_path, require_bulk=bulk_can_run(cap), workers=2) == []


@pytest.mark.parametrize("seed", range(6))
def test_randomized_differential(seed, tmp_path):
    cap = tmp_path / "d.pcap"
    capture(seed, cap)
    assert compare(cap, tmp_path, workers=2) == []


def test_a_table_that_could_fill_is_taken_in_one_process(tmp_path, monkeypatch):
    """The bound is checked on the tracker's side, with the child's count of open skipped
    connections; the flow table is in the child, so the tracker cannot take the skipped
    connections over there: the run starts again in one process, which does."""
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 3000, "during", kinds=("udp",))
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 1500)  # (so that the child fails late)
    opts = TrackerOptions(max_connections=1000)
    ref = analyze([cap], tmp_path / "r", tracker_options=opts, engine="reference")
    two = analyze([cap], tmp_path / "b", tracker_options=opts, engine="bulk", workers=2)
    assert two.engine.startswith("bulk (") and "second process" not in two.engine
    assert "the open-connection table could fill" in two.engine
    assert (two.connections, two.conn_state.evicted) == (ref.connections, ref.conn_state.evicted)
    assert log_body(two.skype_log) == log_body(ref.skype_log)
    assert format_summary(two).splitlines()[1:-1] == format_summary(ref).splitlines()[1:-1]


@needs_fork
def test_a_failing_child_takes_the_reference_path(tmp_path, monkeypatch):
    cap = tmp_path / "d.pcap"
    capture(2, cap)
    ref = analyze([cap], tmp_path / "r", engine="reference")

    def broken(*_a, **_k):
        raise RuntimeError("disk on fire")
        yield  # pragma: no cover

    monkeypatch.setattr(pipeline, "batches", broken)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (bulk reader process failed: RuntimeError: disk on fire)"
    assert log_body(s.skype_log) == log_body(ref.skype_log)
    assert log_body(s.notice_log) == log_body(ref.notice_log)
    assert mp.active_children() == []


@needs_fork
def test_a_child_that_dies_takes_the_reference_path(tmp_path, monkeypatch):
    cap = tmp_path / "d.pcap"
    capture(2, cap)

    def dies(*_a, **_k):
        os._exit(9)
        yield  # pragma: no cover

    monkeypatch.setattr(pipeline, "batches", dies)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the bulk reader process ended (exit code 9))"
    assert s.packets > 0 and mp.active_children() == []


@needs_fork
def test_a_capture_swapped_under_its_name_falls_back(tmp_path, monkeypatch):
    """The tracker cuts packets from its own descriptor's bytes: a path that names another
    file by the time the reader opens it (here the reader itself swaps it) is refused, and
    the reference engine reads what the path names now -- never a mix of two files."""
    path, other = tmp_path / "cap.pcap", tmp_path / "other.pcap"
    capture(2, path)
    capture(11, other)
    want = analyze([other], tmp_path / "r", engine="reference")
    swap_in = tmp_path / "swap-in.pcap"
    shutil.copy(other, swap_in)
    real = pipeline.batches

    def swapped(paths, *args, **kwargs):
        os.replace(swap_in, paths[0])
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(pipeline, "batches", swapped)
    s = analyze([path], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the capture changed while it was read)"
    assert log_body(s.skype_log) == log_body(want.skype_log) and log_body(want.skype_log)
    assert log_body(s.notice_log) == log_body(want.notice_log)


def test_the_second_of_two_captures_swapped_falls_back(tmp_path, monkeypatch):
    """Several captures: each is read from the file the tracker's side opened, or refused."""
    first, second, other = (tmp_path / f"{n}.pcap" for n in ("first", "second", "other"))
    capture(2, first)
    capture(4, second)
    capture(11, other)
    want = analyze([first, other], tmp_path / "r", engine="reference")
    real = pipeline.batches

    def swapped(paths, *args, **kwargs):
        os.replace(other, paths[1])
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(pipeline, "batches", swapped)
    s = analyze([first, second], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the capture changed while it was read)"
    assert log_body(s.skype_log) == log_body(want.skype_log) and log_body(want.skype_log)


def _zero_first_payload(fh, _original: bytes) -> None:
    fh.seek(24 + 16 + 42)  # the first record's payload, zeroed in place
    fh.write(bytes(8))


def _flip_two_top_bits(fh, original: bytes) -> None:
    # the top bit of two 8-byte words of the chunk (bytes 8k+7): two changes that a
    # weighted sum mod 2^64 misses (2^63 twice is 0), as a "faster" check once did;
    # written from the original bytes, so that every batch writes the same change
    for at in (1_007, 2_007):
        fh.seek(at)
        fh.write(bytes((original[at] ^ 0x80,)))


def _rewrite_after_each_batch(monkeypatch, change, original: bytes) -> None:
    """The reader makes *change* to its capture after each batch it decodes, before the
    tracker's process has it."""
    real = pipeline.batches

    def rewritten(paths, *args, **kwargs):
        for b in real(paths, *args, **kwargs):
            with open(paths[0], "r+b") as fh:
                change(fh, original)
            yield b

    monkeypatch.setattr(pipeline, "batches", rewritten)


@needs_fork
@pytest.mark.parametrize("change", [_zero_first_payload, _flip_two_top_bits])
def test_a_capture_rewritten_in_place_falls_back(tmp_path, monkeypatch, change):
    """Same file, other bytes (rewritten after the reader decoded a chunk, before the tracker
    read it again: no shared buffers here): the chunk's CRC-32 differs, and the reference
    engine reads the file as it is."""
    monkeypatch.setattr(pipeline, "_SLOT_BYTES", 0)  # every chunk read again
    path = tmp_path / "cap.pcap"
    capture(2, path)
    original = path.read_bytes()
    _rewrite_after_each_batch(monkeypatch, change, original)
    s = analyze([path], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the capture changed while it was read)"
    want = analyze([path], tmp_path / "r", engine="reference")
    assert log_body(s.skype_log) == log_body(want.skype_log)


@needs_fork
@pytest.mark.parametrize("change", [_zero_first_payload, _flip_two_top_bits])
def test_shared_buffers_hold_the_bytes_that_were_decoded(tmp_path, monkeypatch, change):
    """With the chunk's bytes in shared memory, the tracker applies the very bytes the
    reader decoded: a rewrite after the reader read them changes nothing (the logs are
    those of the file as it was read), and nothing falls back."""
    path = tmp_path / "cap.pcap"
    capture(2, path)
    original = path.read_bytes()
    assert len(original) < bulk.CHUNK_BYTES  # one chunk: all of it read before the rewrite
    (tmp_path / "as-read.pcap").write_bytes(original)
    _rewrite_after_each_batch(monkeypatch, change, original)
    s = analyze([path], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine.startswith("bulk")
    want = analyze([tmp_path / "as-read.pcap"], tmp_path / "r", engine="reference")
    assert log_body(s.skype_log) == log_body(want.skype_log)
    assert path.read_bytes() != original  # (the change was made)


@needs_fork
@pytest.mark.parametrize("slot_bytes", [None, 600])
def test_shared_buffers_are_not_refilled_while_in_use(tmp_path, monkeypatch, slot_bytes):
    """Many small chunks through three shared buffers while this process applies
    each slowly, so that the reader could run far ahead (the pipe holds many small
    batches): each buffer waits for its batch to be applied, and the logs are the
    reference's (a buffer given back before its batch is applied fails this).  With
    buffers of 600 bytes, the chunks that do not fit are read again between them."""
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 512)
    if slot_bytes is not None:
        monkeypatch.setattr(pipeline, "_SLOT_BYTES", slot_bytes)
    cap = tmp_path / "d.pcap"
    capture(4, cap)
    ref = analyze([cap], tmp_path / "r", engine="reference")
    shared: list[int] = []

    class Counting(pipeline.Applier):
        def apply(self, b, buf):
            shared.append(b.slot)
            time.sleep(0.003)  # slow: the reader fills what it may meanwhile
            super().apply(b, buf)

    monkeypatch.setattr(pipeline, "Applier", Counting)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine.startswith("bulk")
    assert len(shared) > 50 and set(range(pipeline._SLOTS)) <= set(shared)
    assert (-1 in shared) == (slot_bytes is not None)  # read again: too large for a buffer
    assert log_body(s.skype_log) == log_body(ref.skype_log)


def test_a_reader_that_cannot_start_takes_the_reference_path(tmp_path, monkeypatch):
    """No file descriptor or process left for the second process: the reference engine."""
    cap = tmp_path / "d.pcap"
    capture(2, cap)

    def no_pipe(*_a, **_k):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(pipeline, "_context", lambda: type("Ctx", (), {"Pipe": no_pipe})())
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (cannot start the bulk reader process: Too many open files)"
    assert s.packets > 0


@needs_fork
def test_a_child_killed_mid_batch_takes_the_reference_path(tmp_path, monkeypatch):
    """Killed while it sends a batch larger than the pipe holds: this process reads
    end-of-file and falls back, it does not wait for the rest of the batch."""
    cap = tmp_path / "d.pcap"
    capture(3, cap)
    ref = analyze([cap], tmp_path / "r", engine="reference")
    real = pipeline.batches

    def dies_mid_send(p, *args, **kwargs):
        for b in real(p, *args, **kwargs):
            yield b
            # then a batch far past the pipe's buffer, and death while it is being sent
            threading.Timer(0.3, os._exit, (9,)).start()
            big = {0: [(17, b"", 0, b"", 0, bytes(8 << 20))]}
            yield dataclasses.replace(b, buf=b"", decoded=big)

    def slow(_done: int, _total: int) -> None:
        time.sleep(1.0)  # this process reads nothing meanwhile: the child is stuck in send

    monkeypatch.setattr(pipeline, "batches", dies_mid_send)
    started = time.monotonic()
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2, progress=slow)
    assert time.monotonic() - started < 30
    assert s.engine.startswith("reference (the bulk reader process ended")
    assert log_body(s.skype_log) == log_body(ref.skype_log)


def test_an_interrupted_run_leaves_no_process_and_no_log(tmp_path):
    """Ctrl-C (or SIGTERM, which the CLI turns into the same) while the tracker works: both
    helper processes (the reader, the outputs process) are stopped and joined, and no log
    or temporary file is left behind."""
    cap = tmp_path / "d.pcap"
    capture(4, cap)

    def interrupt(_done: int, _total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze([cap], tmp_path / "o", engine="bulk", workers=2, progress=interrupt)
    assert mp.active_children() == []
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == []


def test_auto_workers(tmp_path, monkeypatch):
    small = tmp_path / "small.pcap"
    capture(1, small)
    big = tmp_path / "big.pcap"
    with open(big, "wb") as fh:  # sparse: only its size is looked at
        fh.truncate(PIPELINE_MIN_BYTES)
    monkeypatch.setattr(analyze_module.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    half = tmp_path / "half.pcap"
    with open(half, "wb") as fh:
        fh.truncate(PIPELINE_MIN_BYTES // 2 + 1)
    got = (auto_workers([small]), auto_workers([big]), auto_workers([half, half]))
    assert got == (1, 2, 2)  # (captures read as one stream count together)
    monkeypatch.setattr(analyze_module.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert auto_workers([big]) == 1


def test_workers_on_the_command_line(tmp_path, capsys):
    from skypewatch.cli import main

    cap = tmp_path / "d.pcap"
    capture(8, cap)
    assert main(["analyze", "-q", "--workers", "1", str(cap), "-o", str(tmp_path / "a")]) == 0
    assert main(["analyze", "-q", "--workers", "2", str(cap), "-o", str(tmp_path / "b")]) == 0
    a, b = (log_body(tmp_path / x / "skype.log") for x in "ab")
    assert a == b and a
    capsys.readouterr()
    assert main(["analyze", "--workers", "3", str(cap), "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers" in err


# The run's tracker made slow (a pause per batch), so that the signal comes mid-run.
_SLOW_RUN = (
    "import sys, time\n"
    "from skypewatch.fastpath import engine\n"
    "apply = engine.Applier.apply\n"
    "def slow(self, b, buf):\n"
    "    time.sleep(0.3)\n"
    "    apply(self, b, buf)\n"
    "engine.Applier.apply = slow\n"
    "from skypewatch.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _slow_run(tmp_path: Path, stderr: int) -> tuple[subprocess.Popen, Path]:
    """``analyze --workers 2`` made slow, on an 18 MB capture (five chunks, 0.3 s each at
    least), with SIGINT's default action (a shell's background job has it ignored)."""
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 60_000, "during")
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RUN, "analyze", "--workers", "2", str(cap), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return run, out


def _helpers(run: subprocess.Popen, out: Path | None = None) -> list[int]:
    """The run's two children (the outputs process, then the reader), once both exist
    (and, with *out*, once a log is being written)."""
    deadline = time.monotonic() + 60
    while not (
        len(_children(run.pid)) == 2 and (out is None or (out.exists() and any(out.iterdir())))
    ):
        assert run.poll() is None, "the run ended before the signal: make it longer"
        assert time.monotonic() < deadline, "no second process (or no temporary log)"
        time.sleep(0.02)
    return _children(run.pid)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the child")
@pytest.mark.parametrize(
    "sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_stop_signal_stops_both_processes_and_leaves_no_file(tmp_path, sig, code):
    run, out = _slow_run(tmp_path, subprocess.PIPE)
    try:
        children = _helpers(run, out)
        run.send_signal(sig)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(out.iterdir()) == []
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # stopped and reaped


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the child")
def test_the_second_process_leaves_when_the_first_is_killed(tmp_path):
    """SIGKILL leaves no clean-up to the first process: the reader's next send fails on
    the closed pipe, and it leaves on its own; then the outputs process reads end-of-file,
    removes its files and leaves."""
    run, out = _slow_run(tmp_path, subprocess.DEVNULL)
    try:
        children = _helpers(run, out)
        run.kill()
        run.wait()
        deadline = time.monotonic() + 30
        for child in children:
            while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
                assert time.monotonic() < deadline, "a helper process outlived the first"
                time.sleep(0.05)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert list(out.iterdir()) == []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_the_spawn_start_method_gives_the_same_logs(tmp_path, monkeypatch):
    """Where fork is not used (no fork, or other threads running) the child is spawned: a
    fresh interpreter that imports what it runs."""
    cap = tmp_path / "d.pcap"
    capture(4, cap)
    monkeypatch.setattr(pipeline, "_context", lambda: mp.get_context("spawn"))
    s = analyze([cap], tmp_path / "s", engine="bulk", workers=2)
    assert "second process" in s.engine
    ref = analyze([cap], tmp_path / "r", engine="reference")
    assert log_body(s.skype_log) == log_body(ref.skype_log) and log_body(s.notice_log) == log_body(
        ref.notice_log
    )


def test_python_dash_m_does_not_run_again_in_a_spawned_child():
    """``python -m skypewatch`` is the main module a spawned child imports first, under the
    name ``__mp_main__``: importing it so must not run the command."""
    runpy.run_module("skypewatch", run_name="__mp_main__")  # no SystemExit


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the child")
@pytest.mark.parametrize("which", [0, 1], ids=["outputs", "reader"])
def test_a_stop_signal_while_a_helper_process_is_stopped(tmp_path, which):
    """A stopped child (SIGSTOP) keeps a SIGTERM pending: the run still ends soon, the
    child is killed and reaped, and no file is left (the outputs process's own files are
    removed by the run when it cannot)."""
    run, out = _slow_run(tmp_path, subprocess.PIPE)
    try:
        child = _helpers(run, out)[which]
        os.kill(child, signal.SIGSTOP)
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            os.kill(child, signal.SIGCONT)
            run.kill()
            run.wait()
    assert run.returncode == 143
    assert not Path(f"/proc/{child}").exists() or _state(child) == "Z"
    assert list(out.iterdir()) == []
