"""What the fuzz suite (python/fuzz/) found, one test per class, each input minimized by hand
to the smallest case of its class: the parser at fault fails these without its fix."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from skypewatch.analyst import logs
from skypewatch.cli import main
from skypewatch.errors import CaptureTruncated
from skypewatch.packets.capture import MAX_SECONDS, read_capture
from skypewatch.synth.frames import addr_bytes, udp_frame
from skypewatch.zeeklog import Lenient, LogReadError, read_log
from skypewatch.zeeklog.bulk import iter_tables

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "testing" / "btest" / "Traces"
FRAME = udp_frame(addr_bytes("10.0.0.5"), 35990, addr_bytes("81.2.3.4"), 40001, b"\x02" * 18)


def pcap(records: list[tuple[int, int, bytes]]) -> bytes:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return head + b"".join(
        struct.pack("<IIII", sec, frac, len(f), len(f)) + f for sec, frac, f in records
    )


# -- capture times past 2100: analyze wrote logs its own reader refused -----------------------


@pytest.mark.parametrize(
    "sec, usec",
    [
        (4_150_000_000, 0),  # 2101: a u32 pcap clock runs to 2106
        (4_102_444_000, 4_000_000_000),  # a "microsecond" fraction of 4,000 s
        (0xFFFFFFFF, 0xFFFFFFFF),  # the fuzzer's: both fields all ones
    ],
)
def test_pcap_time_past_2100_is_damage(tmp_path, sec, usec):
    path = tmp_path / "late.pcap"
    path.write_bytes(pcap([(1000, 0, FRAME), (sec, usec, FRAME), (1001, 0, FRAME)]))
    got = []
    with pytest.raises(CaptureTruncated, match="beyond 2100") as err:
        got.extend(read_capture(path))
    assert len(got) == 1 and err.value.damaged and err.value.packet_index == 1


def test_capture_ending_past_2100_gives_logs_that_read_back(tmp_path, capsys):
    """A real start-up shifted to end just after 2100: analysed up to the first packet past
    it (exit 2, one line), and skype.log/notice.log read back strictly."""
    data = bytearray((TRACES / "skype-nat.pcap").read_bytes())
    first = struct.unpack_from("<I", data, 24)[0]
    shift = int(MAX_SECONDS) - first - 4  # the first four seconds are before 2100
    pos, shifted = 24, 0
    while pos + 16 <= len(data):
        sec, _frac, incl = struct.unpack_from("<III", data, pos)
        struct.pack_into("<I", data, pos, sec + shift)
        pos += 16 + incl
        shifted += 1
    path = tmp_path / "late.pcap"
    path.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert main(["analyze", str(path), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "beyond 2100" in err[0]
    _, rows = read_log(out / "skype.log")  # strict: the fix's point
    read_log(out / "notice.log")
    assert rows and all(r["ts"] <= MAX_SECONDS for r in rows)


# -- a line break in a file name broke the one-line error --------------------------------------


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_error_naming_a_file_with_a_line_break_is_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "a\nb.pcap"), "-o", str(tmp_path / "o")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("skypewatch: ") and "a\\nb.pcap" in line


def test_usage_error_quoting_a_line_break_is_one_line(capsys):
    assert main(["query", "--bogus\nx", "skype.log"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--bogus\\nx" in line


def test_bad_line_reports_from_a_directory_with_a_line_break_are_one_line_each(tmp_path, capsys):
    d = tmp_path / "logs\nday1"
    d.mkdir()
    out = tmp_path / "o"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(d), "-q"]) == 0
    log = d / "skype.log"
    lines = log.read_text().splitlines()
    body = [ln for ln in lines if not ln.startswith("#")]
    log.write_text("\n".join(lines[:8] + ["nan\tx"] * 30 + body) + "\n")  # 30 bad, > shown
    assert main(["correlate", str(d), "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 21  # 20 shown, then how many more
    assert all(ln.startswith("skypewatch: ") and "logs\\nday1" in ln for ln in err)


# -- --local-nets with host bits: accepted by the option, refused (traceback) by the engine ------


def test_local_nets_with_host_bits_are_the_network():
    from skypewatch.cli.args import networks

    assert networks("192.168.1.2/24, 10.1.2.3/8,fe80::1/64") == (
        "192.168.1.0/24",
        "10.0.0.0/8",
        "fe80::/64",
    )


@pytest.mark.parametrize("command", ["analyze", "correlate", "query", "report"])
def test_every_command_takes_local_nets_with_host_bits(tmp_path, capsys, command):
    logs_dir = tmp_path / "logs"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(logs_dir), "-q"]) == 0
    args = {
        "analyze": [str(TRACES / "skype-nat.pcap"), "-o", str(tmp_path / "a"), "-q"],
        "correlate": [str(logs_dir), "-o", str(tmp_path / "c")],
        "query": [str(logs_dir), "--view", "local-super-nodes"],
        "report": [str(logs_dir), "-o", str(tmp_path / "r.html")],
    }[command]
    assert main([command, *args, "--local-nets", "192.168.1.2/24"]) == 0, capsys.readouterr().err


# -- a header redefined inside a block the bulk reader hands to the per-line reader -----------

HEAD = "#separator \\x09\n#fields\ta\tb\n#types\tstring\tcount\n"


@pytest.mark.parametrize(
    "text, rows",
    [
        # #fields without #types after a bad line: the last header is not whole (ValueError)
        (HEAD + "x\tbad\n#fields\ta\tb\tc\n", 0),
        # the columns renamed after a bad line: rows of both headers in one block (KeyError)
        (HEAD + "x\t1\ny\tbad\n#fields\tc\td\n#types\tstring\tstring\np\tq\n", 2),
    ],
)
def test_bulk_reader_follows_a_header_redefined_among_bad_lines(tmp_path, text, rows):
    path = tmp_path / "x.log"
    path.write_text(text)
    bad: list[str] = []
    _, per_line = read_log(path, Lenient(report=bad.append))
    bulk_bad: list[str] = []
    tables = [t for _, t in iter_tables(path, Lenient(report=bulk_bad.append))]
    assert len(per_line) == rows == sum(t.num_rows for t in tables)
    assert bad == bulk_bad and len(bad) == 1
    for t in tables:  # each part keeps its own columns
        assert t.num_rows == 0 or t.column_names in (["a", "b"], ["c", "d"])
    assert len(logs.read_log(path, lenient=Lenient(report=lambda _m: None))) == rows


@pytest.mark.parametrize(
    "name, text, rows",
    [
        # the fuzzer's, minimized: JSON lines ended by CR LF, then by lone CRs
        ("x.log", '\n{"a":0}\r\n{"a":0}\r\n{"a":0}\r{"a":0}\r', 2),
        ("x.log", HEAD + "x\t1\ry\t2\nz\t3\r\n", 1),
    ],
)
def test_a_lone_carriage_return_ends_no_line_in_either_reader(tmp_path, name, text, rows):
    """Arrow's parsers end a line at a lone CR, the per-line reader (as Zeek) at LF only: the
    bulk reader read more rows than the per-line reader from the same file."""
    path = tmp_path / name
    path.write_bytes(text.encode())
    bad: list[str] = []
    _, per_line = read_log(path, Lenient(report=bad.append))
    bulk_bad: list[str] = []
    n_bulk = sum(t.num_rows for _, t in iter_tables(path, Lenient(report=bulk_bad.append)))
    assert len(per_line) == n_bulk == rows and len(bad) == len(bulk_bad) == 1
    assert len(logs.read_log(path, lenient=Lenient(report=lambda _m: None))) == rows


def test_a_column_named_twice_is_no_header(tmp_path):
    """pandas could not build a frame with two columns of one name (ArrowNotImplementedError
    when one was a set): a header naming a column twice is refused, before or among data."""
    path = tmp_path / "x.log"
    path.write_text("#separator \\x09\n#fields\ta\ta\n#types\tstring\tset[string]\nx\ty\n")
    with pytest.raises(LogReadError, match="names the column 'a' twice"):
        read_log(path)
    with pytest.raises(LogReadError, match="names the column 'a' twice"):
        logs.read_log(path)
    path.write_text(HEAD + "x\t1\n#fields\ta\ta\n#types\tstring\tset[string]\ny\tz\n")
    bad: list[str] = []
    _, rows = read_log(path, Lenient(report=bad.append))
    assert rows == [{"a": "x", "b": 1}] and len(bad) == 1 and "'a' twice" in bad[0]
    df = logs.read_log(path, lenient=Lenient(report=bad.append))
    assert list(df["a"]) == ["x"] and len(bad) == 2


def test_pandas_reader_refuses_a_column_whose_type_changes_part_way(tmp_path):
    path = tmp_path / "x.log"
    path.write_text(HEAD + "x\t1\n#types\tstring\tstring\ny\thello\n")
    with pytest.raises(LogReadError, match="'b' changes type from count to string"):
        logs.read_log(path)


def test_category_addresses_after_a_header_left_unfinished(tmp_path):
    path = tmp_path / "x.log"
    path.write_text(
        "#separator \\x09\n#fields\ta\th\n#types\tstring\taddr\nx\t1.2.3.4\n#fields\ta\n"
    )
    df = logs.read_log(path, addr_as="category")
    assert list(df["h"].astype(str)) == ["1.2.3.4"] and df["h"].dtype == "category"


# -- a log whose header declares the correlator's columns with other types ------------------


def _retyped(log: Path, column: str, ztype: str, value: str | None = None) -> None:
    """Declare *column* as *ztype* in a TSV log (and put *value* in every data line)."""
    lines = log.read_text().splitlines()
    fields = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    i = fields.index(column)
    out = []
    for ln in lines:
        cells = ln.split("\t")
        if ln.startswith("#types"):
            cells[i + 1] = ztype
        elif not ln.startswith("#") and value is not None:
            cells[i] = value
        out.append("\t".join(cells))
    log.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize(
    "column, ztype, value",
    [
        ("ts", "string", None),  # the fuzzer's: a str where the engine does arithmetic
        ("id.resp_p", "string", "http"),  # the fuzzer's: a str port
        ("id.orig_p", "count", "99999"),  # a count is no port: 99,999 would pass
        ("id.orig_h", "string", "not-an-address"),
    ],
)
def test_conn_log_declaring_other_types_gives_bad_lines(tmp_path, capsys, column, ztype, value):
    logs_dir = tmp_path / "logs"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(logs_dir), "-q"]) == 0
    conn = tmp_path / "conn.log"
    from skypewatch.zeeklog import CONN_FIELDS, ZeekLogWriter

    _, rows = read_log(logs_dir / "skype.log")
    with ZeekLogWriter(tmp_path, "conn", CONN_FIELDS) as w:
        for r in rows:
            w.write([r.get(n) for n, _ in CONN_FIELDS[:6]] + ["tcp", None, 1.0, 100]
                    + [None] * (len(CONN_FIELDS) - 10))  # fmt: skip
    _retyped(conn, column, ztype, value)
    assert main(["correlate", str(logs_dir / "skype.log"), "--conn", str(conn), "-o",
                 str(tmp_path / "out")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"column '{column}' is declared '{ztype}'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "column, ztype, value",
    [("ts", "double", "1e300"), ("id.resp_p", "count", "70000"), ("client", "string", "x")],
)
def test_skype_log_declaring_other_types_gives_bad_lines(tmp_path, capsys, column, ztype, value):
    logs_dir = tmp_path / "logs"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(logs_dir), "-q"]) == 0
    _retyped(logs_dir / "skype.log", column, ztype, value)
    assert main(["correlate", str(logs_dir), "-o", str(tmp_path / "out")]) == 2  # none usable
    err = capsys.readouterr().err
    assert f"column '{column}' is declared '{ztype}'" in err and "Traceback" not in err


def test_a_hostile_value_is_quoted_short_in_a_bad_line_report(tmp_path, capsys):
    """The fuzzer's: a confidence of 4,000 characters was quoted whole on stderr."""
    logs_dir = tmp_path / "logs"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(logs_dir), "-q"]) == 0
    log = logs_dir / "skype.log"
    log.write_text(log.read_text().replace("\tconfirmed\t", "\t" + "null" * 1000 + "\t", 1))
    assert main(["correlate", str(logs_dir), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any("unknown confidence 'nullnull" in ln for ln in err)
    assert all(len(ln) < 400 for ln in err)


# -- the disk fills up mid-run: one line and exit 1, never a traceback ------------------------

needs_dev_full = pytest.mark.skipif(
    not Path("/dev/full").exists(), reason="/dev/full (a device that is always full) is absent"
)


def full_disk_for(monkeypatch, log_name: str) -> None:
    """The temporary file of *log_name* (each run draws its own name) is the full device:
    every write to it fails with ENOSPC, as on a full disk."""
    import os

    from skypewatch import atomic

    real = atomic.temp_beside

    def temp_on_a_full_disk(final: Path) -> tuple[int, Path]:
        fd, tmp = real(final)
        if final.name != log_name:
            return fd, tmp
        os.close(fd)
        tmp.unlink()
        tmp.symlink_to("/dev/full")
        return os.open(tmp, os.O_WRONLY), tmp

    monkeypatch.setattr("skypewatch.zeeklog.writer.temp_beside", temp_on_a_full_disk)


@needs_dev_full
@pytest.mark.parametrize("full", ["skype.log", "notice.log"])
@pytest.mark.parametrize("use_json", [False, True])
def test_analyze_on_a_full_disk(tmp_path, capsys, monkeypatch, use_json, full):
    """Either log failing (here when it is closed: the lines fit in the buffer) leaves no log
    and no temporary file of either: both are finished before either is put in place."""
    out = tmp_path / "out"
    out.mkdir()
    full_disk_for(monkeypatch, full)
    argv = ["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(out), "-q"]
    assert main([*argv, "--json"] if use_json else argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert line == (
        f"skypewatch: {out / full}: No space left on device;"
        " the run could not finish, its output is incomplete"
    )
    assert not (out / "skype.log").exists() and not (out / "notice.log").exists()
    assert sorted(p.name for p in out.iterdir()) == []  # no temporary file either


@needs_dev_full
def test_correlate_on_a_full_disk(tmp_path, capsys, monkeypatch):
    logs_dir = tmp_path / "logs"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(logs_dir), "-q"]) == 0
    out = tmp_path / "out"
    out.mkdir()
    full_disk_for(monkeypatch, "notice.log")
    assert main(["correlate", str(logs_dir), "-o", str(out)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"skypewatch: {out / 'notice.log'}: No space left on device")
    assert sorted(p.name for p in out.iterdir()) == []


@needs_dev_full
@pytest.mark.parametrize("command", ["query", "report"])
def test_query_and_report_into_a_full_device(tmp_path, capsys, command):
    logs_dir = tmp_path / "logs"
    assert main(["analyze", str(TRACES / "skype-nat.pcap"), "-o", str(logs_dir), "-q"]) == 0
    capsys.readouterr()
    assert main([command, str(logs_dir), "-o", "/dev/full"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("skypewatch: /dev/full: No space left on device")


@needs_dev_full
def test_a_full_stdout_is_named(tmp_path):
    """stdout on a full disk (``> /dev/full``): exit 1 and one line naming stdout, also in a
    real process (where Python would otherwise fail again when it flushes at exit)."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "skypewatch", "synth", "nat", "-o", str(tmp_path / "n.pcap")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "skypewatch: stdout: No space left on device; what was to be printed there is lost"
    ]


def test_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "1    the run could not finish" in out and "2    bad input or usage" in out


@pytest.mark.parametrize(
    "view", ["clients", "lines", "super-nodes", "local-super-nodes", "public-ips"]
)
@pytest.mark.parametrize("stage", ["probe", "sn_handshake", "login", "version_check", "media"])
def test_every_view_of_a_stage_filtered_log(tmp_path, capsys, view, stage):
    """The 20-minute cli run's: `query --stage login --view local-super-nodes` left the view
    an empty chunk, whose mapped column was strings, and `&` on strings is a TypeError."""
    logs_dir = tmp_path / "logs"
    trace = TRACES / "skype-open-1.4-background.pcap"  # no relay: the view's chunk is empty
    assert main(["analyze", str(trace), "-o", str(logs_dir), "-q"]) == 0
    assert main(["query", str(logs_dir / "skype.log"), "--stage", stage, "--view", view]) == 0
    out = capsys.readouterr().out
    assert out.strip()


@pytest.mark.parametrize(
    "text, rows",
    [
        ('{"a":0}\nnull\n{"a":1}\n', 2),  # a null line: Arrow made it a row of nulls
        ('{"a":0} {"a":1}\n{"a":2}\n', 1),  # two objects on one line: Arrow, two rows
        ('{"a":0}null\n{"a":1}\n', 1),
        ('{"a":0}\n  {"a":1}\n', 2),  # leading blanks: fine for both, read line by line
        ('{"a":0}\n[1]\n"x"\n7\n{"a":1}\n', 2),
    ],
)
def test_json_lines_that_are_not_one_object_are_bad_lines_in_both_readers(tmp_path, text, rows):
    """The 20-minute json-log run's: values that are not one object per line became rows in
    the bulk (Arrow) reader and bad lines in the per-line reader (and in Zeek's eyes)."""
    path = tmp_path / "x.log"
    path.write_text(text)
    bad: list[str] = []
    _, per_line = read_log(path, Lenient(report=bad.append))
    bulk_bad: list[str] = []
    n_bulk = sum(t.num_rows for _, t in iter_tables(path, Lenient(report=bulk_bad.append)))
    assert len(per_line) == rows == n_bulk
    assert len(bad) == len(bulk_bad)


def test_a_json_log_with_a_block_starting_with_null_does_not_kill_the_process():
    """The 20-minute json-log run's input, as found: pyarrow 26's JSON reader dies of SIGSEGV
    on a block whose first value is null (here the file's last line, `null{...}`, after
    lines the per-line reader took).  In a subprocess: a crash must fail this test, not end
    the run."""
    path = Path(__file__).parent / "data" / "fuzz-json-log-null-block.log"
    r = subprocess.run(
        [sys.executable, "-m", "skypewatch", "query", str(path), "--view", "lines"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
    assert "Traceback" not in r.stderr
    assert "not JSON" in r.stderr  # its damaged lines are reported, the rest is read
