"""analyze's outputs in a process of their own (outputs_process.py, ``--workers 2``).

The differential tests of test_bulk_pipeline.py hold its logs to one process's; here, what
they do not reach: the end-of-input mark (no notice's clock moves while the connections
still open are judged), everything the summary carries back, hits on the wire, and what a
failing, dying or stopped outputs process must leave: the reference engine's logs, or the
disk's own error, never a temporary file or a process.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest

from fuzz.differential import capture
from skypewatch import processes
from skypewatch.analyze import analyze
from skypewatch.detect.tracker import TrackerOptions
from skypewatch.outputs import Outputs
from skypewatch.outputs import process as outputs_process
from skypewatch.outputs.records import put_in_place
from skypewatch.signatures.base import Hit
from skypewatch.skypelog import Stage, Strength
from skypewatch.synth import messages as m
from skypewatch.synth.flood import write_flooded_startup
from skypewatch.synth.frames import addr_bytes, udp_frame
from skypewatch.synth.pcapwriter import PcapWriter
from skypewatch.synth.scenarios import SynthOptions, stream
from skypewatch.verdict.host_context import HostOptions
from skypewatch.zeeklog import writer as writer_module

needs_fork = pytest.mark.skipif(
    "fork" not in mp.get_all_start_methods(), reason="patches reach the child only by fork"
)


def _body(path: Path) -> list[str]:
    return [x for x in path.read_text().splitlines() if not x.startswith("#")]


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def _probe(rng: random.Random, t: float, client: bytes, sn: bytes, until: float) -> list:
    """A U1 answered by a U2 naming the client's address, then keep-alives until *until*:
    a probe flow still open when a capture that ends at *until* ends."""
    cport, sport = rng.randint(1025, 65000), rng.randint(1025, 65000)
    u1 = m.u1(rng, rng.getrandbits(16))
    out = [
        (t, udp_frame(client, cport, sn, sport, u1)),
        (t + 0.05, udp_frame(sn, sport, client, cport, m.u2(rng, u1, client, bytes(4)))),
    ]
    k = t + 1.0
    while k < until:
        out.append((k, udp_frame(client, cport, sn, sport, m.keepalive(rng))))
        k += 2.0
    return out


def _drained_capture(path: Path) -> str:
    """One client's start-up; its notice is due 121 s after its last evidence.  Two probe
    flows are still open when the capture ends: another client's from past that time, and
    then one of the first client's.  Judged at the end oldest first, the first would move
    the correlator's clock past the notice's due time before the second is in, if the end
    of input moved it: the notice would count one connection less."""
    start_up = list(stream("open-1.4", SynthOptions(clients=1, duration=60.0)))
    first = analyze_frames(start_up, path)
    last = start_up[-1][0]
    rng = random.Random(7)
    client = addr_bytes(first)
    extra = _probe(
        rng, last + 130, addr_bytes("10.200.0.9"), addr_bytes("198.51.100.7"), last + 160
    )
    extra += _probe(rng, last + 140, client, addr_bytes("198.51.100.8"), last + 160)
    with PcapWriter(path) as w:
        w.write_events(sorted(start_up + extra, key=lambda e: e[0]))
    return first


def analyze_frames(frames: list, path: Path) -> str:
    """The client that the start-up's notice names."""
    with PcapWriter(path) as w:
        w.write_events(frames)
    s = analyze([path], path.parent / "first", engine="reference", keep_records=True)
    (client,) = {n.src for n in s.notices}
    return client


def test_the_end_of_input_moves_no_notice_clock(tmp_path):
    cap = tmp_path / "drained.pcap"
    client = _drained_capture(cap)
    one = analyze([cap], tmp_path / "one", engine="bulk", workers=1, keep_records=True)
    two = analyze([cap], tmp_path / "two", engine="bulk", workers=2, keep_records=True)
    assert "third" in two.engine
    assert _body(two.notice_log) == _body(one.notice_log)
    (notice,) = [n for n in one.notices if n.src == client]
    mine = [r for r in one.records if r.client == client]
    assert notice.n == len(mine), "the connection judged last is in the notice"


def test_the_mark_is_what_keeps_it(tmp_path, monkeypatch):
    """The capture above does tell: without the mark the notice counts one less."""
    cap = tmp_path / "drained.pcap"
    client = _drained_capture(cap)
    monkeypatch.setattr(Outputs, "__setattr__", _never_draining)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=1, keep_records=True)
    (notice,) = [n for n in s.notices if n.src == client]
    assert notice.n == len([r for r in s.records if r.client == client]) - 1


def _never_draining(self: Outputs, name: str, value: object) -> None:
    object.__setattr__(self, name, False if name == "draining" else value)


def test_the_summary_comes_back_whole(tmp_path):
    cap = tmp_path / "d.pcap"
    capture(5, cap)
    one = analyze([cap], tmp_path / "one", engine="bulk", workers=1, keep_records=True)
    two = analyze([cap], tmp_path / "two", engine="bulk", workers=2, keep_records=True)
    assert one.records and one.notices
    assert two.records == one.records and two.notices == one.notices
    assert two.shown_notices == one.shown_notices and two.notice_count == one.notice_count
    for name in ("by_confidence", "by_stage", "clients", "peers", "overflow"):
        assert getattr(two.tally, name) == getattr(one.tally, name), name
    assert (two.host_state, two.early_notices) == (one.host_state, one.early_notices)
    assert _names(tmp_path / "two") == ["notice.log", "skype.log"]


def test_hits_cross_the_pipe_unchanged():
    rng = random.Random(3)
    for _ in range(200):
        h = Hit(
            rng.choice(["u2_public_ip", "tcp_443_not_tls", "l1_l2"]),
            rng.choice(list(Stage)),
            rng.choice(list(Strength)),
            "".join(chr(rng.randint(32, 0x2FF)) for _ in range(rng.randint(0, 30))),
            rng.choice([None, "86.1.2.3"]),
            rng.choice([None, "1.4.0.84"]),
        )
        back = outputs_process._hit(outputs_process._wire(h))
        assert back == h and type(back.stage) is Stage and type(back.strength) is Strength


@needs_fork
def test_a_failing_outputs_process_takes_the_reference_path(tmp_path, monkeypatch):
    cap = tmp_path / "d.pcap"
    capture(2, cap)
    ref = analyze([cap], tmp_path / "r", engine="reference")

    def broken(*_a, **_k):
        raise RuntimeError("verdict on fire")

    monkeypatch.setattr(outputs_process, "judge_facts", broken)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the outputs process failed: RuntimeError: verdict on fire)"
    assert _body(s.skype_log) == _body(ref.skype_log) and _body(ref.skype_log)
    assert _names(tmp_path / "o") == ["notice.log", "skype.log"]
    assert mp.active_children() == []


@needs_fork
def test_a_stop_while_the_logs_are_finished_leaves_the_old_ones(tmp_path, monkeypatch):
    """A stop signal while the outputs process finishes the logs (here it signals this
    process, then takes its time): as in one process, nothing of the run is put in place,
    and the run does not wait for the child to finish."""
    cap = tmp_path / "d.pcap"
    capture(4, cap)
    out = tmp_path / "o"
    out.mkdir()
    for name in ("skype.log", "notice.log"):
        (out / name).write_text("OLD\n")
    real = Outputs.finish

    def slow(self: Outputs, complete: bool) -> None:
        os.kill(os.getppid(), signal.SIGUSR1)
        time.sleep(3.0)
        real(self, complete)

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Outputs, "finish", slow)
    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            analyze([cap], out, engine="bulk", workers=2)
        waited = time.monotonic() - started
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert _names(out) == ["notice.log", "skype.log"]
    assert (out / "skype.log").read_text() == "OLD\n" == (out / "notice.log").read_text()
    assert mp.active_children() == [] and waited < 2.5


@needs_fork
def test_an_error_that_names_no_log_takes_the_reference_path(tmp_path, monkeypatch):
    """Only a log's own OSError (it names the file: writer.py) is the run's error."""
    cap = tmp_path / "d.pcap"
    capture(2, cap)

    def broken(*_a, **_k):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(outputs_process, "judge_facts", broken)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the outputs process failed: OSError: [Errno 5] I/O error)"
    assert _names(tmp_path / "o") == ["notice.log", "skype.log"]


@needs_fork
def test_an_outputs_process_that_dies_leaves_no_file(tmp_path, monkeypatch):
    """Killed without a chance to clean up (here: _exit after its first verdict): this
    process removes what it had written and runs the reference engine."""
    cap = tmp_path / "d.pcap"
    capture(2, cap)

    def dies(*_a, **_k):
        os._exit(9)

    monkeypatch.setattr(outputs_process, "judge_facts", dies)
    s = analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert s.engine == "reference (the outputs process ended (exit code 9))"
    assert _names(tmp_path / "o") == ["notice.log", "skype.log"]
    assert mp.active_children() == []


@needs_fork
def test_a_full_disk_in_the_outputs_process_is_the_runs_error(tmp_path, monkeypatch):
    """As in one process: the error names the log, nothing is left, and no second run
    meets the same full disk again."""
    cap = tmp_path / "d.pcap"
    capture(2, cap)

    def full(self, _values):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.final))

    monkeypatch.setattr(writer_module.ZeekLogWriter, "write", full)
    with pytest.raises(OSError) as err:
        analyze([cap], tmp_path / "o", engine="bulk", workers=2)
    assert err.value.errno == errno.ENOSPC and err.value.filename.endswith("skype.log")
    assert _names(tmp_path / "o") == []
    assert mp.active_children() == []


def test_the_spawn_start_method_gives_the_same_logs(tmp_path, monkeypatch):
    cap = tmp_path / "d.pcap"
    capture(4, cap)
    monkeypatch.setattr(processes, "context", lambda: mp.get_context("spawn"))
    s = analyze([cap], tmp_path / "s", engine="bulk", workers=2, keep_records=True)
    assert "third" in s.engine
    ref = analyze([cap], tmp_path / "r", engine="reference", keep_records=True)
    assert _body(s.skype_log) == _body(ref.skype_log) and _body(ref.skype_log)
    assert _body(s.notice_log) == _body(ref.notice_log)
    assert s.records == ref.records


class _Inbox:
    def __init__(self, *msgs: tuple) -> None:
        self.msgs = list(msgs)

    def recv(self) -> tuple:
        if not self.msgs:
            raise EOFError
        return self.msgs.pop(0)


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, msg: tuple) -> None:
        self.sent.append(msg)


@pytest.fixture
def signals_kept():
    """_serve sets the child's signal handlers: run here, they are put back after."""
    import signal

    sigs = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    saved = {s: signal.getsignal(s) for s in sigs}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _settings(outdir: Path, keep: bool) -> outputs_process.Settings:
    return outputs_process.Settings(outdir, False, None, keep, HostOptions())


def _facts(ts: float) -> tuple:
    from skypewatch.verdict.judge import Facts

    return Facts(ts, 12345, bytes([10, 0, 0, 1]), 3000, bytes([1, 2, 3, 4]), 4000, 17, ts, True)


_WIRE = ("u2_public_ip", "probe", "confirmed", "U2 names 10.0.0.1", "10.0.0.1", None)


@pytest.mark.usefixtures("signals_kept")
@pytest.mark.parametrize("fails", [False, True])
def test_the_child_removes_its_files_when_its_parent_goes(tmp_path, monkeypatch, fails):
    """End-of-file before ("end") -- the parent gone, or given up -- or a failure: the
    child's own clean-up, without the parent's (which a dead parent cannot do)."""
    if fails:
        monkeypatch.setattr(outputs_process, "judge_facts", _raises)
    out = _Outbox()
    inbox = _Inbox(("v", [(_facts(1e9), [_WIRE], False)]))
    outputs_process._serve(_settings(tmp_path, keep=False), inbox, out, None)
    assert out.sent[0][0] == "ready" and len(out.sent[0][1]) == 2
    assert [m[0] for m in out.sent[1:]] == (["error"] if fails else [])
    assert _names(tmp_path) == []


@pytest.mark.usefixtures("signals_kept")
def test_the_child_judges_what_it_is_sent(tmp_path):
    out = _Outbox()
    msgs = [("v", [(_facts(1e9 + i), [_WIRE], False)]) for i in range(3)]
    outputs_process._serve(_settings(tmp_path, keep=True), _Inbox(*msgs, ("end", True)), out, None)
    kind, (produced, logs) = out.sent[-1]
    assert kind == "finished" and produced.records == 3
    assert _names(tmp_path) == sorted(p.tmp.name for p in logs), "the run puts them in place"
    put_in_place(produced, logs, True)
    assert [r.ts for r in produced.kept_records] == [1e9, 1e9 + 1, 1e9 + 2]
    assert len(_body(tmp_path / "skype.log")) == 3


def _raises(*_a: object, **_k: object) -> None:
    raise RuntimeError("no verdict")


@pytest.mark.usefixtures("signals_kept")
@pytest.mark.parametrize("orig_conf, resp_conf", [(False, True), (True, False)])
def test_a_udp_flows_client_is_confirmed_as_of_its_end(tmp_path, orig_conf, resp_conf):
    """A UDP flow's hits are made in the child, so which end is the client is known only
    there: the tracker sends both ends' confirmation.  Here the flow goes to a proven
    Skype endpoint (the responder is the client): only the responder's counts."""
    from skypewatch.detect.hits import UdpReads
    from skypewatch.verdict.judge import Facts

    f = Facts(1e9, 99, bytes([10, 0, 0, 1]), 3000, bytes([10, 0, 0, 2]), 4000, 17, 1e9, False)
    u1 = bytes([0x12, 0x34, 0x02]) + bytes(15)
    reads: UdpReads = (False, True, False, False)
    item = (f, [(True, 1e9, u1)], 1, 0, reads, orig_conf, resp_conf)
    out = _Outbox()
    inbox = _Inbox(("v", [item]), ("end", True))
    outputs_process._serve(_settings(tmp_path, keep=True), inbox, out, None)
    (rec,) = out.sent[-1][1][0].kept_records
    assert rec.client == "10.0.0.2" and "to_skype_endpoint" in rec.signatures
    assert rec.confidence == ("confirmed" if resp_conf else "likely")


@needs_fork
def test_the_command_line_says_when_asked_for_workers_did_not_run(tmp_path, monkeypatch, capsys):
    from skypewatch.cli import main

    cap = tmp_path / "d.pcap"
    capture(2, cap)
    monkeypatch.setattr(outputs_process, "judge_facts", _raises)
    assert main(["analyze", "-q", "--workers", "2", str(cap), "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert err == (
        "skypewatch: --workers 2 not used: reference (the outputs process failed:"
        " RuntimeError: no verdict)\n"
    )


def test_a_run_that_falls_back_leaves_the_outputs_process_quietly(tmp_path, capfd):
    """The bulk engine giving up mid-run (here: a table that could fill, which one process
    then takes) stops the outputs process while it may be removing its files: nothing on
    stderr from it (a stop that cut its clean-up short printed a traceback in 6 of 101
    fall-backs of a fuzz run), nothing left behind.  Five times, since it was a race."""
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 3000, "during", kinds=("udp",))
    opts = TrackerOptions(max_connections=1000)
    for k in range(5):
        out = tmp_path / f"o{k}"
        s = analyze([cap], out, tracker_options=opts, engine="bulk", workers=2)
        assert s.engine.startswith("bulk (") and "could fill" in s.engine
        assert _names(out) == ["notice.log", "skype.log"]
    err = capfd.readouterr().err
    assert err == ""
    assert mp.active_children() == []
