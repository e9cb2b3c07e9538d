"""Damaged Zeek logs through the real command line: `skypewatch correlate`, `query`, `report`.

Every class of damage either costs one line -- reported on stderr as ``file:line: problem``,
exit 0, every good line around it still read -- or, when nothing at all can be read, exit 2
with exactly one line on stderr.  Never a traceback.  The same classes in strict mode raise
the one ``LogReadError`` naming file and line, from both readers (per line and bulk).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from skypewatch.analyst.logs import read_log
from skypewatch.cli import main
from skypewatch.skypelog import KNOWN_LOGS, SKYPE_FIELDS, SkypeRecord
from skypewatch.zeeklog import LogReadError, ZeekLogWriter
from skypewatch.zeeklog import read_log as read_rows

CLIENTS = 8
BAD = 10  # index of the data line that gets damaged


def records() -> list[SkypeRecord]:
    """Skype start-ups of CLIENTS clients: probe, super-node TCP, login each."""
    out = []
    for c in range(CLIENTS):
        base = SkypeRecord(
            ts=1_700_000_000.0 + 60 * c + 0.123456,
            uid=f"Cprobe{c:012d}",
            orig_h=f"10.0.0.{c + 1}",
            orig_p=35990,
            resp_h="81.1.1.1",
            resp_p=4000,
            proto="udp",
            duration=0.3,
            stage="probe",
            signatures=frozenset({"u1_u2_nack", "u3_resend"}),
            client=f"10.0.0.{c + 1}",
            peer="81.1.1.1",
            peer_role="super_node",
            client_public_ip="86.1.1.1",
            skype_version=None,
            confidence="confirmed",
            evidence="U3 names the super node",
        )
        out += [
            base,
            replace(base, ts=base.ts + 2.5, uid=f"Ctcp{c:014d}", orig_p=50000, proto="tcp",
                    stage="sn_handshake", signatures=frozenset({"tcp_to_probed_peer"}),
                    confidence="likely", client_public_ip=None),
            replace(base, ts=base.ts + 4.0, uid=f"Clogin{c:012d}", orig_p=50001,
                    resp_h="91.1.1.1", resp_p=33033, proto="tcp", stage="login",
                    peer="91.1.1.1", peer_role="login_server",
                    signatures=frozenset({"login_handshake"}), client_public_ip=None,
                    skype_version="3.8.0.188"),
        ]  # fmt: skip
    return out


RECORDS = records()
GOOD = len(RECORDS) - 1  # lines left once the damaged one is dropped


def write_log(directory: Path, use_json: bool) -> Path:
    with ZeekLogWriter(directory, "skype", SKYPE_FIELDS, use_json) as w:
        for r in RECORDS:
            w.write(r.values())
    return w.final


def damage_line(log: Path, out: Path, change: Callable[[bytes], bytes]) -> Path:
    """*log* with data line BAD replaced by change(line)."""
    lines = log.read_bytes().split(b"\n")
    data = [i for i, ln in enumerate(lines) if ln and not ln.startswith(b"#")]
    lines[data[BAD]] = change(lines[data[BAD]])
    out.write_bytes(b"\n".join(lines))
    return out


def cell(col: int, value: bytes) -> Callable[[bytes], bytes]:
    def change(line: bytes) -> bytes:
        cells = line.split(b"\t")
        cells[col] = value
        return b"\t".join(cells)

    return change


def field(name: str, raw_json: str) -> Callable[[bytes], bytes]:
    """Replace the JSON value of *name* (added if absent) with the raw JSON text given."""

    def change(line: bytes) -> bytes:
        obj = json.loads(line)
        obj[name] = "\0MARK\0"
        return json.dumps(obj).replace('"\\u0000MARK\\u0000"', raw_json).encode()

    return change


TS, ORIG_H, ORIG_P = 0, 2, 3

# (id, JSON log?, damage): one bad line among good ones.
LINE_DAMAGE = [
    ("ts-inf", False, cell(TS, b"inf")),
    ("ts-nan", False, cell(TS, b"NaN")),
    ("ts-1e303", False, cell(TS, b"1e303")),
    ("ts-negative", False, cell(TS, b"-5.000000")),
    ("ts-year-3000", False, cell(TS, b"32503680000.000000")),
    ("port-1e999", False, cell(ORIG_P, b"1e999")),
    ("port-5000-digits", False, cell(ORIG_P, b"9" * 5000)),
    ("port-70000", False, cell(ORIG_P, b"70000")),
    ("port-negative", False, cell(ORIG_P, b"-1")),
    ("addr-octet", False, cell(ORIG_H, b"999.1.1.1")),
    ("addr-word", False, cell(ORIG_H, b"localhost")),
    ("columns", False, lambda ln: ln + b"\textra"),
    ("non-utf8", False, lambda ln: ln[:40] + b"\xff\xfe" + ln[40:]),
    ("nul-bytes", False, lambda ln: b"\0" * len(ln)),
    ("over-long", False, lambda ln: ln + b"x" * (17 << 20)),
    ("json-ip-list", True, field("client_public_ip", '["1.2.3.4"]')),
    ("json-version-number", True, field("skype_version", "1.2")),
    ("json-ts-1e999", True, field("ts", "1e999")),
    ("json-ts-nan", True, field("ts", "NaN")),
    ("json-ts-string", True, field("ts", '"yesterday"')),
    ("json-port-1e999", True, field("id.orig_p", "1e999")),
    ("json-port-huge-int", True, field("id.orig_p", "9" * 5000)),
    ("json-port-bool", True, field("id.orig_p", "true")),
    ("json-nested-1000", True, field("evidence", "[" * 1000 + "]" * 1000)),
    ("json-lone-surrogate", True, field("evidence", '"\\ud800"')),
    ("json-not-json", True, lambda ln: ln[:-5]),
    ("json-array", True, lambda ln: b"[" + ln + b"]"),
    ("json-non-utf8", True, lambda ln: ln[:-2] + b"\xff" + ln[-2:]),
]


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(capsys, *argv: str) -> Run:
    code = main(list(argv))
    cap = capsys.readouterr()
    return Run(code, cap.out, cap.err)


COMMANDS = ("correlate", "query", "report")


def command(name: str, log: Path, tmp: Path) -> list[str]:
    if name == "correlate":
        return ["correlate", str(log), "-o", str(tmp / "c")]
    if name == "query":
        return ["query", str(log), "--view", "lines", "--format", "csv", "-o", str(tmp / "q.csv")]
    return ["report", str(log), "-o", str(tmp / "r.html")]


def lines_read(name: str, r: Run, tmp: Path) -> int:
    """How many skype.log lines the command used, from its own output."""
    if name == "correlate":
        return int(r.out.split(" skype.log records")[0].rsplit(" ", 1)[1].replace(",", ""))
    if name == "query":
        return len((tmp / "q.csv").read_text().splitlines()) - 1
    return int(r.out.split(" Skype connections")[0].rsplit(" ", 1)[1])


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("damage", LINE_DAMAGE, ids=[d[0] for d in LINE_DAMAGE])
def test_a_bad_line_is_reported_and_the_rest_is_read(tmp_path, capsys, cmd, damage):
    _, use_json, change = damage
    bad = damage_line(write_log(tmp_path, use_json), tmp_path / "damaged.log", change)
    r = run(capsys, *command(cmd, bad, tmp_path))
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    problems = r.err.splitlines()
    line = BAD + 9 - use_json * 8  # TSV has 8 header lines
    assert len(problems) == 1 and problems[0].startswith(f"skypewatch: {bad}:{line}:")
    assert len(problems[0]) < 300, "a hostile value is cut, not echoed whole"
    assert lines_read(cmd, r, tmp_path) == GOOD, "every good line, before and after, is used"


def test_query_keeps_the_lines_around_the_bad_one(tmp_path, capsys):
    bad = damage_line(write_log(tmp_path, False), tmp_path / "d.log", cell(TS, b"inf"))
    r = run(capsys, *command("query", bad, tmp_path))
    assert r.code == 0
    uids = (tmp_path / "q.csv").read_text()
    assert RECORDS[BAD - 1].uid in uids and RECORDS[BAD + 1].uid in uids
    assert RECORDS[BAD].uid not in uids


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def truncated_gzip(log: Path, out: Path) -> int:
    """*log* repeated (with its header: as ``cat`` joins logs), gzipped and cut short; the
    number of whole data lines before the cut."""
    packed = _gzip(log.read_bytes() * 20)
    cut = packed[: len(packed) * 9 // 10]
    out.write_bytes(cut)
    text = zlib.decompressobj(31).decompress(cut)
    whole = text[: text.rfind(b"\n")].split(b"\n")
    return sum(1 for ln in whole if ln and not ln.startswith(b"#"))


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("use_json", [False, True], ids=["tsv", "json"])
def test_truncated_gzip_gives_what_was_readable(tmp_path, capsys, cmd, use_json):
    cut = tmp_path / "skype.1.log.gz"
    readable = truncated_gzip(write_log(tmp_path, use_json), cut)
    r = run(capsys, *command(cmd, cut, tmp_path))
    assert r.code == 0 and "Traceback" not in r.err
    assert r.err.startswith(f"skypewatch: {cut}:") and "compressed data ends early" in r.err
    assert len(r.err.splitlines()) == 1
    assert len(RECORDS) < readable < 20 * len(RECORDS)
    assert lines_read(cmd, r, tmp_path) == readable, "every whole line before the cut"


def _corrupt(p: Path) -> bytes:
    packed = bytearray(_gzip(p.read_bytes()))
    packed[30:60] = bytes(b ^ 0x5A for b in packed[30:60])
    return bytes(packed)


# (id, make the file): nothing in it can be read.
UNREADABLE: list[tuple[str, Callable[[Path], bytes | None]]] = [
    ("corrupt-gzip", _corrupt),
    ("gzip-cut-in-header", lambda p: _gzip(p.read_bytes())[:25]),
    ("not-a-log", lambda p: bytes(range(256)) * 40),
    ("pcap", lambda p: b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\0" * 200),
    ("json-without-objects", lambda p: b"[1]\n[2]\n"),
    ("header-not-text", lambda p: b"#separator \\x09\n#fields\tts\xff\n"),
    ("missing", lambda p: None),
]


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("make", UNREADABLE, ids=[u[0] for u in UNREADABLE])
def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path, capsys, cmd, make):
    _, build = make
    target = tmp_path / "skype.log.gz"
    (tmp_path / "src").mkdir()
    data = build(write_log(tmp_path / "src", False))
    if data is not None:
        target.write_bytes(data)
    r = run(capsys, *command(cmd, target, tmp_path))
    assert r.code == 2, r.err
    assert "Traceback" not in r.err
    assert r.err.count("\n") == 1 and r.err.startswith(f"skypewatch: {target}")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_an_unreadable_file_beside_a_good_one_is_named_and_skipped(tmp_path, capsys, cmd):
    good = write_log(tmp_path, False)
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"\x00\x01 not a log\n")
    r = run(capsys, *command(cmd, good, tmp_path)[:2], str(junk), *command(cmd, good, tmp_path)[2:])
    assert r.code == 0 and "Traceback" not in r.err
    assert r.err == f"skypewatch: {junk}:1: not a Zeek log: data before a #fields/#types header" \
        " (and not JSON lines)\n"  # fmt: skip
    assert lines_read(cmd, r, tmp_path) == len(RECORDS)


@pytest.mark.parametrize("damage", LINE_DAMAGE, ids=[d[0] for d in LINE_DAMAGE])
def test_strict_readers_raise_one_error_naming_file_and_line(tmp_path, damage):
    _, use_json, change = damage
    bad = damage_line(write_log(tmp_path, use_json), tmp_path / "damaged.log", change)
    line = BAD + 9 - use_json * 8
    with pytest.raises(LogReadError, match=rf"^{bad}:{line}: ") as per_line:
        read_rows(bad, known=KNOWN_LOGS)  # JSON skype.log typed by its schema, as readers do
    with pytest.raises(LogReadError, match=rf"^{bad}:{line}: ") as bulk:
        read_log(bad)
    assert str(per_line.value) == str(bulk.value), "both readers give the same reason"


def test_many_bad_lines_are_counted_not_all_printed(tmp_path, capsys):
    log = write_log(tmp_path, False)
    text = log.read_text().split("\n")
    text = text[:8] + ["garbage"] * 500 + text[8:]
    bad = tmp_path / "many.log"
    bad.write_text("\n".join(text))
    r = run(capsys, *command("query", bad, tmp_path))
    assert r.code == 0
    lines = r.err.splitlines()
    assert len(lines) == 21 and "480 more bad line(s) skipped" in lines[-1]
    assert lines_read("query", r, tmp_path) == len(RECORDS)


def test_the_installed_entry_point_reports_damage_without_a_traceback(tmp_path):
    bad = damage_line(write_log(tmp_path, False), tmp_path / "d.log", cell(TS, b"1e303"))
    for args in (["query", str(bad)], ["correlate", str(bad), "-o", str(tmp_path / "c")]):
        p = subprocess.run(
            [sys.executable, "-m", "skypewatch", *args], capture_output=True, text=True, timeout=120
        )
        assert p.returncode == 0 and "Traceback" not in p.stderr
        assert p.stderr == f"skypewatch: {bad}:{BAD + 9}: column 'ts': not a time: '1e303'\n"
