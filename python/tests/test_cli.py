"""The command line: exit codes, one-line errors, no half-written logs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from skypewatch.cli import main
from skypewatch.zeeklog import read_log

TRACE = "skype-open-1.4.pcap"


@pytest.fixture
def trace(tmp_path):
    from skypewatch.synth.scenarios import SynthOptions, synthesize

    return synthesize("open-1.4", tmp_path / TRACE, SynthOptions(clients=2)).pcap


def test_analyze_writes_logs_and_summary(tmp_path, trace, capsys):
    assert main(["analyze", str(trace), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "notice.log: 2 notice(s)" in out and "Skype::Login_Sequence" in out
    header, rows = read_log(tmp_path / "out" / "skype.log")
    assert header.closed and header.path == "skype" and rows
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_json_output(tmp_path, trace):
    assert main(["analyze", str(trace), "-o", str(tmp_path), "--json", "-q"]) == 0
    lines = (tmp_path / "skype.log").read_text().splitlines()
    first = json.loads(lines[0])
    assert {"ts", "uid", "id.orig_h", "signatures", "confidence"} <= set(first)
    assert isinstance(first["signatures"], list) and isinstance(first["id.orig_p"], int)


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_missing_file(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.pcap"), "-o", str(tmp_path / "o")]) == 2
    assert "nope.pcap: no such file" in _err(capsys)
    assert not (tmp_path / "o" / "skype.log").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"hello world, not a pcap at all", "not a pcap or pcapng"),
        (bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"), "holds no packets"),
    ],
)
def test_bad_input_leaves_no_log(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    assert main(["analyze", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = _err(capsys)
    assert "bad.pcap" in err and message in err
    assert not (tmp_path / "o" / "skype.log").exists()
    assert not list((tmp_path / "o").glob(".*"))


def test_unsupported_link_type(tmp_path, capsys, trace):
    data = bytearray(trace.read_bytes())
    data[20:24] = (147).to_bytes(4, "little")  # DLT_USER0
    bad = tmp_path / "user0.pcap"
    bad.write_bytes(bytes(data))
    assert main(["analyze", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "unsupported link type 147" in _err(capsys)
    assert not (tmp_path / "o" / "skype.log").exists()


def test_truncated_capture_is_analysed_then_reported(tmp_path, capsys, trace):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(trace.read_bytes()[:-7])
    assert main(["analyze", str(cut), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cut.pcap: truncated capture" in err and "were analysed" in err
    header, rows = read_log(tmp_path / "o" / "skype.log")
    assert rows, "what was readable is analysed"
    assert not header.closed, "the log is marked unfinished: no #close line"


def test_bad_option_values(capsys, trace):
    assert main(["analyze", str(trace), "--udp-timeout", "0"]) == 2
    assert "--udp-timeout: must be greater than 0" in _err(capsys)
    assert main(["analyze", str(trace), "--local-nets", "10.0.0.0/8,banana"]) == 2
    assert "'banana' is not a network" in _err(capsys)


def test_usage_errors_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "skypewatch", "analyze"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "CAPTURE" in r.stderr


def test_help_teaches():
    r = subprocess.run(
        [sys.executable, "-m", "skypewatch", "analyze", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0
    for words in ("skype.log", "notice.log", "examples:", "exit codes"):
        assert words in r.stdout
