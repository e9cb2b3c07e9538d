"""Offline mode: skype.log files written by `skypewatch analyze`, rotated, compressed,
damaged; conn.log joins."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import shared_capture
from test_correlate_live import records

from skypewatch.analyze import analyze
from skypewatch.cli import main
from skypewatch.correlation.engine import EngineOptions
from skypewatch.correlation.offline import run_offline
from skypewatch.skypelog import SKYPE_FIELDS
from skypewatch.zeeklog import ZeekLogWriter


def correlate(tmp_path: Path, *logs, conn=()):
    result, engine = run_offline(
        [str(p) for p in logs],
        [str(c) for c in conn],
        tmp_path / "out",
        EngineOptions(),
        report=problems.append,
    )
    return result, engine


problems: list[str] = []


@pytest.fixture(autouse=True)
def _clear():
    problems.clear()


@pytest.mark.parametrize(
    "capture, client, stages",
    [
        (("skype", "SkypeIRC.cap"), "192.168.1.2", "probe, sn_handshake, login, version_check"),
        (("skype", "skype.pcap"), "192.168.1.34", "probe, sn_handshake, login"),
    ],
)
def test_real_captures_end_with_a_notice_naming_the_stages(tmp_path, capture, client, stages):
    analyze([shared_capture(*capture)], tmp_path / "a")
    result, _ = correlate(tmp_path, tmp_path / "a" / "skype.log")
    assert [n.src for n in result.notices] == [client]
    assert f"stages {stages};" in result.notices[-1].msg
    assert problems == []


def write_skype_log(path: Path, recs, use_json=False) -> Path:
    with ZeekLogWriter(path.parent, path.name.removesuffix(".log"), SKYPE_FIELDS, use_json) as w:
        for r in recs:
            w.write(r.values())
    return path


def test_rotated_compressed_json_in_any_order_give_the_same_notices(tmp_path):
    recs = [
        replace(r, ts=r.ts + i * 10, uid=f"C{i:017d}")
        for i, r in enumerate(records("10.0.0.5") + records("10.0.0.6"))
    ]
    whole = write_skype_log(tmp_path / "skype.log", recs)
    reference, _ = correlate(tmp_path, whole)
    rot = tmp_path / "rot"
    rot.mkdir()
    for k, chunk in enumerate((recs[:2], recs[2:4], recs[4:])):
        plain = write_skype_log(rot / f"skype.{k}.log", chunk, use_json=k == 1)
        with open(plain, "rb") as src, gzip.open(rot / f"skype.{k}.log.gz", "wb") as dst:
            dst.write(src.read())
        plain.unlink()
    files = sorted(rot.iterdir(), reverse=True)  # given newest first
    rotated, _ = correlate(tmp_path, *files)
    assert [n.values() for n in rotated.notices] == [n.values() for n in reference.notices]
    assert len(reference.notices) == 2
    directory, _ = correlate(tmp_path, rot)
    assert [n.values() for n in directory.notices] == [n.values() for n in reference.notices]


def test_bad_lines_are_named_and_the_rest_is_read(tmp_path):
    good = write_skype_log(tmp_path / "skype.log", records())
    lines = good.read_text().splitlines()
    data = [i for i, line in enumerate(lines) if not line.startswith("#")]
    lines.insert(data[1], "garbage without tabs")
    lines.insert(data[1], "\t".join(["x"] * 5))
    bad_conf = lines[data[0]].split("\t")
    bad_conf[15] = "maybe"
    lines.insert(data[0], "\t".join(bad_conf))
    broken = tmp_path / "broken.log"
    broken.write_text("\n".join(lines) + "\n")
    result, engine = correlate(tmp_path, broken)
    assert engine.stats.records == 3, "every good line is still used"
    assert len(problems) == 3
    assert all(p.startswith(f"{broken}:") for p in problems)
    assert any("unknown confidence 'maybe'" in p for p in problems)
    assert any("1 columns, the header has 18" in p for p in problems)
    assert [n.src for n in result.notices] == ["10.0.0.5"]


def test_truncated_gzip_keeps_what_was_readable(tmp_path):
    many = [replace(r, ts=r.ts + i, uid=f"C{i:017d}") for i in range(300) for r in records()]
    plain = write_skype_log(tmp_path / "skype.log", many)
    packed = gzip.compress(plain.read_bytes())
    cut = tmp_path / "skype.1.log.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    result, engine = correlate(tmp_path, cut)
    assert 0 < engine.stats.records < len(many)
    assert len(problems) == 1 and "compressed data ends early" in problems[0]
    assert problems[0].startswith(f"{cut}:")
    assert result.notices


def test_conn_log_sessions_join_probes(tmp_path):
    probe = records()[0]
    skype = write_skype_log(tmp_path / "skype.log", [probe])
    conn = tmp_path / "conn.log"
    rows = [  # TCP to the probed ip:port 2 s later, to its port 80, and an unrelated one
        {
            "ts": probe.ts + 2,
            "uid": "Cconn1",
            "id.orig_h": probe.client,
            "id.orig_p": 50000,
            "id.resp_h": probe.peer,
            "id.resp_p": probe.resp_p,
            "proto": "tcp",
            "orig_bytes": 60,
        },
        {
            "ts": probe.ts + 3,
            "uid": "Cconn2",
            "id.orig_h": probe.client,
            "id.orig_p": 50001,
            "id.resp_h": probe.peer,
            "id.resp_p": 80,
            "proto": "tcp",
            "orig_bytes": 60,
        },
        {
            "ts": probe.ts + 4,
            "uid": "Cconn3",
            "id.orig_h": probe.client,
            "id.orig_p": 50002,
            "id.resp_h": "8.8.8.8",
            "id.resp_p": 443,
            "proto": "tcp",
            "orig_bytes": 60,
        },
        {
            "ts": probe.ts + 500,
            "uid": "Cconn4",
            "id.orig_h": probe.client,
            "id.orig_p": 50003,
            "id.resp_h": probe.peer,
            "id.resp_p": probe.resp_p,
            "proto": "tcp",
            "orig_bytes": 9,
        },
    ]
    conn.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result, engine = correlate(tmp_path, skype, conn=[conn])
    assert engine.stats.joined == 2, "same ip:port and the port-80 fallback, in the window"
    assert result.notices and "stages probe, sn_handshake" in result.notices[0].msg
    assert "Cconn1" in result.notices[0].sub and "Cconn3" not in result.notices[0].sub


def test_cli_exit_codes(tmp_path, capsys):
    junk = tmp_path / "junk.log"
    junk.write_text("not a zeek log\nat all\n")
    assert main(["correlate", str(junk), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"skypewatch: {junk}:1: not a Zeek log: data before a #fields/#types header"
        " (and not JSON lines)\n"
    ), "one line, naming file, line and problem"
    assert not (tmp_path / "o" / "notice.log").exists(), "no log is left behind"
    assert main(["correlate", str(tmp_path / "missing.log"), "-o", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"skypewatch: {tmp_path / 'missing.log'}: no such file\n"
    good = write_skype_log(tmp_path / "skype.log", records())
    assert main(["correlate", str(good), str(junk), "-o", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "1 notice(s)" in captured.out and "Skype::Login_Sequence: 10.0.0.5" in captured.out
    assert f"{junk}:1: not a Zeek log" in captured.err, "the unreadable file is still named"
    assert main(["correlate"]) == 2
    assert "give either LOG files" in capsys.readouterr().err
