"""One rule for every output: whole or not at all, never over an input, `-` is stdout.

Each class of the rule has a near-miss control beside it: the refusal must not catch the
run next to it that is fine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from skypewatch.cli import main
from skypewatch.zeeklog import ZeekLogWriter

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "testing" / "btest" / "Traces"
WAIT = float(os.environ.get("SKYPEWATCH_TEST_WAIT", "60"))  # seconds a condition may take
SW = [sys.executable, "-m", "skypewatch"]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT:.0f} s (SKYPEWATCH_TEST_WAIT) for {what}")
        time.sleep(0.02)


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("logs")
    assert main(["analyze", str(TRACES / "skype-local-supernode.pcap"), "-o", str(out), "-q"]) == 0
    return out


# -- unique temporary names: two runs into one directory ------------------------------------


def test_two_writers_of_one_log_never_share_a_temporary_file(tmp_path):
    """Interleaved as two runs can be: A opens, B opens, A closes, B closes.  With one shared
    temporary name B's open truncated A's file and the log came out torn."""
    a = ZeekLogWriter(tmp_path, "skype", [("ts", "time"), ("uid", "string")])
    b = ZeekLogWriter(tmp_path, "skype", [("ts", "time"), ("uid", "string")])
    assert a.tmp != b.tmp
    for i in range(1000):
        a.write([float(i), "A"])
        b.write([float(i), "B"])
    a.close()
    whole_a = (tmp_path / "skype.log").read_text()
    b.close()
    text = (tmp_path / "skype.log").read_text()
    assert text.count("#close") == 1 and "\tA" not in text and text.count("\tB\n") == 1000
    assert whole_a.count("\tA\n") == 1000  # A was whole too while it was the last to finish
    assert temps(tmp_path) == []


def test_a_log_in_place_is_readable_by_others(tmp_path):
    """mkstemp makes 0600 files; the log renamed into place has open()'s mode, as before."""
    old = os.umask(0o022)
    try:
        with ZeekLogWriter(tmp_path, "skype", [("ts", "time")]) as w:
            w.write([1.0])
    finally:
        os.umask(old)
    assert (tmp_path / "skype.log").stat().st_mode & 0o777 == 0o644


def test_concurrent_analyze_runs_each_leave_a_whole_log(tmp_path):
    out = tmp_path / "out"
    runs = [
        subprocess.Popen([*SW, "analyze", str(TRACES / name), "-o", str(out), "-q"])
        for name in ("skype-open-1.4-background.pcap", "skype-local-supernode.pcap") * 2
    ]
    assert [r.wait(timeout=WAIT) for r in runs] == [0, 0, 0, 0]
    for log in ("skype.log", "notice.log"):
        text = (out / log).read_text()
        assert text.count("#open") == 1 and text.count("#close") == 1 and text.endswith("\n")
        assert text.count("#fields") == 1
    assert temps(out) == []


# -- atomic replace for query -o and report -o -------------------------------------------------


def _full_temp(monkeypatch) -> None:
    """Every temporary output file is the full device (writes fail with ENOSPC)."""
    from skypewatch import atomic

    real = atomic.temp_beside

    def full(final: Path) -> tuple[int, Path]:
        fd, tmp = real(final)
        os.close(fd)
        tmp.unlink()
        tmp.symlink_to("/dev/full")
        return os.open(tmp, os.O_WRONLY), tmp

    monkeypatch.setattr(atomic, "temp_beside", full)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is absent")
@pytest.mark.parametrize("command", ["query", "report"])
def test_a_failed_write_leaves_the_previous_output_whole(tmp_path, logs, monkeypatch, command):
    target = tmp_path / "answer.out"
    target.write_text("the good answer of yesterday\n")
    _full_temp(monkeypatch)
    assert main([command, str(logs), "-o", str(target)]) == 1
    assert target.read_text() == "the good answer of yesterday\n"
    assert temps(tmp_path) == []


@pytest.mark.parametrize("command", ["query", "report"])
def test_a_good_write_replaces_the_previous_output(tmp_path, logs, command):
    """The control: without a failure the output is replaced, and no temporary file stays."""
    target = tmp_path / "answer.out"
    target.write_text("the good answer of yesterday\n")
    assert main([command, str(logs), "-o", str(target)]) == 0
    assert "yesterday" not in target.read_text() and target.stat().st_size > 100
    assert temps(tmp_path) == []


# -- an output that is an input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{d}", "-o", "{d}/skype.log"],
        ["report", "{d}", "-o", "{d}/notice.log"],
        ["query", "{d}", "-o", "{d}/notice.log"],
        ["query", "{d}/skype.log", "-o", "{link}"],  # a symlink is the file it names
        ["correlate", "{d}/skype.log", "-o", "{d}", "--conn", "{d}/notice.log"],
    ],
)
def test_an_output_that_is_an_input_is_refused(tmp_path, logs, capsys, argv):
    d = tmp_path / "logs"
    d.mkdir()
    for name in ("skype.log", "notice.log"):
        (d / name).write_bytes((logs / name).read_bytes())
    (tmp_path / "link.log").symlink_to(d / "skype.log")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    args = [a.format(d=d, link=tmp_path / "link.log") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is also an input" in err[0]
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{d}", "-o", "{d}/report.html"],  # beside the inputs, not one of them
        ["query", "{d}/skype.log", "-o", "{d}/notice.log"],  # notice.log not read here
        ["correlate", "{d}", "-o", "{d}"],  # correlate reads skype*.log of a directory
    ],
)
def test_an_output_beside_the_inputs_is_fine(tmp_path, logs, argv):
    d = tmp_path / "logs"
    d.mkdir()
    for name in ("skype.log", "notice.log"):
        (d / name).write_bytes((logs / name).read_bytes())
    assert main([a.format(d=d) for a in argv]) == 0
    assert temps(d) == []


# -- "-" is stdout ------------------------------------------------------------------------------


def test_dash_is_stdout_for_query_and_report(tmp_path, logs):
    q = subprocess.run(
        [*SW, "query", str(logs), "--format", "csv", "-o", "-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert q.returncode == 0 and q.stdout.startswith("client,first_seen")
    r = subprocess.run(
        [*SW, "report", str(logs), "-o", "-"], cwd=tmp_path, capture_output=True, timeout=WAIT
    )
    assert r.returncode == 0 and r.stdout.startswith(b"<!doctype html>")
    assert r.stdout.rstrip().endswith(b"</html>")  # the summary line went to stderr
    assert b"client(s)" in r.stderr
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    # the control: ./- is a file named "-"
    r = subprocess.run([*SW, "report", str(logs), "-o", "./-"], cwd=tmp_path, capture_output=True,
                       timeout=WAIT)  # fmt: skip
    assert r.returncode == 0 and not r.stdout.startswith(b"<!doctype")
    assert (tmp_path / "-").read_text().startswith("<!doctype html>")


def test_dash_is_refused_where_logs_go_to_a_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", "-", "-q"]) == 2
    assert "not to stdout" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()
    # the control: a directory really named "-" is still possible
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", "./-", "-q"]) == 0
    assert (tmp_path / "-" / "skype.log").exists()


# -- the same FIFO twice ------------------------------------------------------------------------


def test_the_same_fifo_given_twice_is_read_once(tmp_path, logs):
    fifo = tmp_path / "skype.fifo.log"
    os.mkfifo(fifo)
    data = (logs / "skype.log").read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:  # blocks until the reader opens it
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    run = subprocess.run(
        [*SW, "query", str(fifo), str(fifo), "--view", "lines", "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    writer.join(timeout=WAIT)
    assert run.returncode == 0, run.stderr
    rows = len(run.stdout.splitlines()) - 1
    assert rows == sum(1 for ln in data.splitlines() if ln and not ln.startswith(b"#"))


def test_one_log_named_twice_counts_once(tmp_path, logs, capsys):
    """The same rule for regular files: a log and the directory holding it, read once."""
    assert main(["query", str(logs), str(logs / "skype.log"), "--format", "csv"]) == 0
    twice = capsys.readouterr().out
    assert main(["query", str(logs), "--format", "csv"]) == 0
    assert twice == capsys.readouterr().out


# -- stop signals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
)
def test_a_stop_signal_mid_write_leaves_no_temporary_file_and_the_old_logs(tmp_path, sig, code):
    """analyze reads a capture from a FIFO the test feeds: the run is mid-way (its logs'
    temporary files exist) for as long as the test wants, when the signal comes."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "skype.log").write_text("the logs of the last good run\n")
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    run = subprocess.Popen(
        [*SW, "analyze", str(fifo), "-o", str(out), "-q"],
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job inherits SIGINT ignored: give the run the default back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        with open(fifo, "wb") as feed:
            feed.write((TRACES / "skype-open-1.4-background.pcap").read_bytes()[:200_000])
            feed.flush()
            wait_for(lambda: len(temps(out)) == 2, "both logs' temporary files")
            run.send_signal(sig)
            _, err = run.communicate(timeout=WAIT)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert temps(out) == []
    assert (out / "skype.log").read_text() == "the logs of the last good run\n"
    assert not (out / "notice.log").exists()


# -- analyze's summary: bounded, and a bounded count says so ---------------------------------


def test_the_summary_lists_50_notices_and_counts_the_rest(tmp_path, capsys):
    from skypewatch.analyze import SHOWN_NOTICES, analyze
    from skypewatch.zeeklog import read_log

    pcap = tmp_path / "many.pcap"
    assert main(["synth", "open-1.4", "-o", str(pcap), "--clients", "70", "--duration", "60"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(pcap), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    _, notices = read_log(tmp_path / "out" / "notice.log")
    assert len(notices) > SHOWN_NOTICES
    listed = [ln for ln in out if ln.startswith("  Skype::")]
    assert len(listed) == SHOWN_NOTICES
    assert f"  +{len(notices) - SHOWN_NOTICES} more (see notice.log)" in out
    assert f"notice.log: {len(notices)} notice(s)" in out
    s = analyze([pcap], tmp_path / "again")  # without keep_records, notices are not kept
    assert s.notices == [] and s.notice_count == len(notices)
    assert len(s.shown_notices) == SHOWN_NOTICES


def test_a_capped_count_says_at_least():
    from skypewatch.analyze import MAX_SUMMARY_HOSTS, Summary, format_summary
    from skypewatch.skypelog import PeerRole

    s = Summary()
    s.tally.peers[PeerRole.SUPER_NODE] = {f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}"
                                          for i in range(MAX_SUMMARY_HOSTS)}  # fmt: skip
    s.tally.peers[PeerRole.LOGIN_SERVER] = {"192.0.2.1", "192.0.2.2"}
    text = format_summary(s)
    assert f"super nodes (≥{MAX_SUMMARY_HOSTS:,}):" in text
    assert f"+≥{MAX_SUMMARY_HOSTS - 8:,} more" in text
    assert "login servers (2): 192.0.2.1, 192.0.2.2" in text  # the control: exact, no ≥


def test_correlate_reads_a_fifo(tmp_path, logs):
    """correlate orders files by their first line: a FIFO, which can be read once, was read
    for that and then waited on forever."""
    fifo = tmp_path / "skype.log"
    os.mkfifo(fifo)
    data = (logs / "skype.log").read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)
    writer.start()
    run = subprocess.run([*SW, "correlate", str(fifo), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=WAIT)  # fmt: skip
    writer.join(timeout=WAIT)
    assert run.returncode == 0, run.stderr
    records = sum(1 for ln in data.splitlines() if ln and not ln.startswith(b"#"))
    assert f"{records} skype.log records" in run.stdout


def test_a_capture_named_twice_is_refused(tmp_path, capsys):
    nat = TRACES / "skype-nat.pcap"
    same = TRACES / ".." / "Traces" / "skype-nat.pcap"
    assert main(["analyze", str(nat), str(same), "-o", str(tmp_path / "a"), "-q"]) == 2
    assert "the same capture as" in capsys.readouterr().err
    # the control: two captures, each once, are one stream as before
    other = TRACES / "skype-open-1.4.pcap"
    assert main(["analyze", str(nat), str(other), "-o", str(tmp_path / "b"), "-q"]) == 0


# -- started without stdout or stderr (``>&-``, ``2>&-``) ------------------------------------


@pytest.mark.parametrize(
    "closed, flags, code",
    [(1, [], 1), (1, ["-q"], 0), (2, [], 0), (2, ["--workers", "2"], 0)],
)
def test_a_closed_stdout_or_stderr(tmp_path, closed, flags, code):
    """Python has None for a descriptor closed at start: the summary that cannot be shown
    is one line and exit 1, as a full disk is; nothing else changes."""
    out = tmp_path / "out"
    run = subprocess.run(
        [*SW, "analyze", *flags, str(TRACES / "skype-open-1.4-background.pcap"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        preexec_fn=lambda: os.close(closed),
    )
    assert run.returncode == code, run.stderr
    if closed == 1 and code:
        assert len(run.stderr.splitlines()) == 1 and "skypewatch: stdout: " in run.stderr
    elif closed == 1:
        assert run.stderr == ""
    skype = (out / "skype.log").read_text().splitlines()
    assert skype[-1].startswith("#close") and len(skype) > 10
