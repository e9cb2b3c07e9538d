"""The one log reader: its two paths agree line for line, its type rules, the files it
finds, gzip members, and the unfinished-JSON sidecar."""

from __future__ import annotations

import gzip
import ipaddress
import json
from pathlib import Path
from unittest.mock import patch

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skypewatch.analyst.logs import iter_log as iter_frames
from skypewatch.analyst.logs import read_log as read_frame
from skypewatch.zeeklog import (
    INCOMPLETE,
    Lenient,
    LogReadError,
    ZeekLogWriter,
    bulk,
    iter_rows,
    log_files,
    parse_value,
    read_log,
)
from skypewatch.zeeklog.columns import as_text
from skypewatch.zeeklog.values import json_checker

FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("h", "addr"),
    ("p", "port"),
    ("n", "count"),
    ("i", "int"),
    ("d", "interval"),
    ("x", "double"),
    ("ok", "bool"),
    ("tags", "set[string]"),
    ("ttls", "vector[interval]"),
    ("net", "subnet"),
    ("text", "string"),
]

# Per type: cells a valid log has, and cells damage produces.
GOOD = {
    "time": ["1700000000.123456", "0.000000", "4102444800.000000", "-"],
    "addr": ["10.0.0.1", "::1", "2001:db8::7", "fe80::1:2", "-"],
    "port": ["0", "80", "65535", "-"],
    "count": ["0", "18446744073709551615", "-"],
    "int": ["-9223372036854775808", "42", "-"],
    "interval": ["0.300000", "-1.5", "-"],
    "double": ["1.5", "-2", "1e10", "1.5E-3", "-"],
    "bool": ["T", "F", "-"],
    "set[string]": ["a,b", "(empty)", "x\\x2cy", "-"],
    "vector[interval]": ["1.0,2.5", "(empty)", "-"],
    "subnet": ["10.0.0.0/8", "2001:db8::/32", "-"],
    "string": ["hello", "(empty)", "caf\\xc3\\xa9", "\\xff\\xfe", "\\x2d", "-"],
}
BAD = [
    "inf", "NaN", "nan", "1e303", "1e309", "1e999", "-1", "70000", "9" * 30, "", " 1", "+1",
    "0x10", "1.2.3", "999.1.1.1", ":::", "T,F", "true", "10.0.0.0/33", ".5", "5.", "1..2", "a,",
    "18446744073709551616", "9223372036854775808", "4102444800.000001", "\\xZZ", "000080",
    "0" * 21 + "1", "00000000001.5",
]  # fmt: skip


def _header(fields) -> str:
    names = "\t".join(n for n, _ in fields)
    types = "\t".join(t for _, t in fields)
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        f"#path\ttest\n#open\t2026-11-29-00-00-00\n#fields\t{names}\n#types\t{types}\n"
    )


cells = {t: st.sampled_from(GOOD[t]) | st.sampled_from(BAD) for _, t in FIELDS}
line_st = st.tuples(*(cells[t] for _, t in FIELDS))


def _good_lines(path: Path) -> tuple[list[int], list[str]]:
    reported: list[str] = []
    rows = list(iter_rows(path, Lenient(report=reported.append)))
    return [n for n, _ in rows], reported


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line_st, min_size=1, max_size=12))
def test_bulk_and_per_line_readers_accept_the_same_lines(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("agree") / "test.log"
    body = [
        "\t".join(
            (f"U{i}" if name == "uid" else c) for (name, _), c in zip(FIELDS, cells_, strict=True)
        )
        for i, cells_ in enumerate(lines)
    ]
    path.write_text(_header(FIELDS) + "\n".join(body) + "\n#close\t2026-11-29-00-00-01\n")
    numbers, per_line_problems = _good_lines(path)
    bulk_problems: list[str] = []
    df = read_frame(path, lenient=Lenient(report=bulk_problems.append))
    assert df["uid"].tolist() == [f"U{n - 9}" for n in numbers]
    assert bulk_problems == per_line_problems


def _plain(v, ztype: str):
    """A value of either reader in one comparable form (times in whole microseconds)."""
    if (
        v is None
        or v is pd.NA
        or v is pd.NaT
        or (isinstance(v, float) and v != v and ztype != "double")
    ):
        return None
    if isinstance(v, (pd.Timestamp, pd.Timedelta)):
        return v.value // 1000
    if ztype in ("time", "interval"):
        return round(v * 1e6)
    if ztype == "vector[interval]":
        return [round(x * 1e6) for x in v]
    if isinstance(v, str):
        return as_text(v)
    if isinstance(v, list) and v and isinstance(v[0], str):
        return [as_text(x) for x in v]
    return v if not hasattr(v, "item") else v.item()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(*(st.sampled_from(GOOD[t]) for _, t in FIELDS)), min_size=1, max_size=30))
def test_the_bulk_path_reads_clean_blocks_itself_to_the_same_values(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("clean") / "test.log"
    body = ["\t".join(c) for c in lines]
    path.write_text(_header(FIELDS) + "\n".join(body) + "\n#close\t2026-11-29-00-00-01\n")
    _, rows = read_log(path)
    with patch.object(bulk, "block_rows", side_effect=AssertionError("fell back")):
        df = read_frame(path)
    assert len(df) == len(rows)
    for name, ztype in FIELDS:
        for i, row in enumerate(rows):
            assert _plain(df[name].iloc[i], ztype) == _plain(row[name], ztype), (name, row[name])


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses())
def test_every_address_as_python_writes_it_is_an_address(ip):
    assert parse_value("addr", str(ip)) == str(ip)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:./", max_size=45))
def test_no_string_is_taken_for_an_address_that_is_not_one(text):
    try:
        parse_value("addr", text)
    except ValueError:
        return
    ipaddress.ip_address(text)  # raises if the reader accepted a non-address


@pytest.mark.parametrize(
    "ztype, value",
    [
        ("port", 80.0),
        ("port", True),
        ("port", 65536),
        ("count", -1),
        ("count", 2**64),
        ("time", float("inf")),
        ("time", float("nan")),
        ("time", "2026-13-01T00:00:00Z"),
        ("time", [1]),
        ("string", 1.2),
        ("string", ["a"]),
        ("string", "\ud800"),
        ("addr", ["1.2.3.4"]),
        ("addr", "1.2.3.4.5"),
        ("set[string]", "a"),
        ("set[string]", ["a", None]),
        ("bool", 1),
    ],
)
def test_json_values_of_the_wrong_kind_are_refused(ztype, value):
    with pytest.raises((ValueError, UnicodeError)):
        json_checker(ztype)(value)


def test_json_iso_times_read_as_utc_seconds():
    check = json_checker("time")
    assert check("2026-11-29T12:00:00.123456Z") == pytest.approx(1795953600.123456)
    assert check("2026-11-29T12:00:00") == check("2026-11-29T12:00:00+00:00")


def test_directories_give_their_logs_not_sidecars_or_temporary_files(tmp_path):
    names = [
        "skype.log",
        "skype.2026-11-29-00-00-00.log.gz",
        "skype.log.1",
        "skype.log.2.gz",
        "conn.log",
        "skype.log.incomplete",
        ".skype.log.tmp",
        "notes.txt",
    ]
    for n in names:
        (tmp_path / n).write_text("")
    assert [p.name for p in log_files([tmp_path], "skype")] == sorted(
        ["skype.log", "skype.2026-11-29-00-00-00.log.gz", "skype.log.1", "skype.log.2.gz"]
    )
    assert len(log_files([tmp_path])) == 5


def test_gzip_members_are_all_read(tmp_path):
    log = tmp_path / "src" / "test.log"
    log.parent.mkdir()
    log.write_text(_header(FIELDS[:2]) + "1.000000\tA\n")
    more = "2.000000\tB\n3.000000\tC\n"
    (tmp_path / "test.log.gz").write_bytes(
        gzip.compress(log.read_bytes()) + gzip.compress(more.encode()) + b"\0" * 16
    )
    _, rows = read_log(tmp_path / "test.log.gz")
    assert [r["uid"] for r in rows] == ["A", "B", "C"]
    assert read_frame(tmp_path / "test.log.gz")["uid"].tolist() == ["A", "B", "C"]


def test_an_unfinished_json_log_says_so_beside_it(tmp_path):
    w = ZeekLogWriter(tmp_path, "test", FIELDS[:2], use_json=True)
    w.write([1.5, "C1"])
    final = w.close(complete=False, why="the capture is truncated")
    sidecar = tmp_path / ("test.log" + INCOMPLETE)
    note = json.loads(sidecar.read_text())
    assert note == {
        "log": "test.log",
        "complete": False,
        "lines": 1,
        "why": "the capture is truncated",
    }
    header, rows = read_log(final)
    assert not header.closed and rows == [{"ts": 1.5, "uid": "C1"}]
    assert [json.loads(x) for x in final.read_text().splitlines()] == [{"ts": 1.5, "uid": "C1"}]
    with ZeekLogWriter(tmp_path, "test", FIELDS[:2], use_json=True) as w2:
        w2.write([2.5, "C2"])
    assert not sidecar.exists(), "a finished run removes the stale mark"
    assert read_log(final)[0].closed


def test_analyze_json_of_a_truncated_capture_leaves_the_mark(tmp_path):
    from skypewatch.cli import main
    from skypewatch.synth.scenarios import SynthOptions, synthesize

    pcap = synthesize("open-1.4", tmp_path / "s.pcap", SynthOptions(clients=2)).pcap
    cut = tmp_path / "cut.pcap"
    data = pcap.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])
    assert main(["analyze", str(cut), "-o", str(tmp_path / "out"), "--json", "-q"]) == 2
    assert (tmp_path / "out" / "skype.log.incomplete").exists()
    assert main(["analyze", str(pcap), "-o", str(tmp_path / "out"), "--json", "-q"]) == 0
    assert not (tmp_path / "out" / "skype.log.incomplete").exists()


def test_strict_errors_carry_file_and_line(tmp_path):
    p = tmp_path / "x.log"
    p.write_text(_header(FIELDS[:2]) + "1.0\tA\nnope\tB\n")
    with pytest.raises(LogReadError) as err:
        read_log(p)
    assert (err.value.path, err.value.line) == (p, 10)
    assert "column 'ts': not a time: 'nope'" in err.value.problem


@pytest.mark.parametrize("lines, sizes", [(50, [25, 25]), (51, [25, 25, 1]), (0, [0])])
def test_streamed_chunks_hold_every_row_once(tmp_path, lines, sizes):
    p = tmp_path / "test.log"
    body = "".join(f"{1000 + i}.000000\tU{i}\n" for i in range(lines))
    p.write_text(_header(FIELDS[:2]) + body + "#close\t2026-11-29-00-00-01\n")
    chunks = list(iter_frames(p, chunksize=25))
    assert [len(c) for c in chunks] == sizes
    uids = [u for c in chunks for u in c["uid"].tolist()]
    assert uids == [f"U{i}" for i in range(lines)]


# JSON fragments per type, for conn.log (a schema the reader knows by the file's name).
GOOD_JSON = {
    "time": ["1700000000.123456", "1700000000", '"2026-11-29T12:00:00.5Z"', "null"],
    "string": ['"x"', '""', '"caf\\u00e9"', '"\\u0000"', "null"],
    "addr": ['"10.0.0.1"', '"::1"', "null"],
    "port": ["0", "65535", "null"],
    "enum": ['"tcp"', "null"],
    "interval": ["0.5", "-2", "null"],
    "count": ["0", "18446744073709551615", "null"],
    "bool": ["true", "false", "null"],
    "set[string]": ['["a","b"]', "[]", "null"],
}
BAD_JSON = [
    "1e999", "NaN", "Infinity", "-1", "65536", "1.5", "true", '"1"', '["1.2.3.4"]', "{}",
    "9" * 30, "9" * 5000, "[" * 50 + "]" * 50, '"\\ud800"', '["a",null]', '[1]', '"999.1.1.1"',
    '"yesterday"', "18446744073709551616",
]  # fmt: skip


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_json_bulk_and_per_line_readers_accept_the_same_lines(tmp_path_factory, data):
    from skypewatch.zeeklog import CONN_FIELDS

    names = [n for n, _ in CONN_FIELDS if n != "uid"]
    lines = []
    for i in range(data.draw(st.integers(1, 10))):
        damaged = data.draw(st.none() | st.sampled_from(names))  # at most one bad value a line
        parts = [f'"uid":"U{i}"']
        for name, ztype in CONN_FIELDS:
            if name == "uid":
                continue
            good = GOOD_JSON.get(ztype, ["null"])
            choice = st.sampled_from(BAD_JSON if name == damaged else good)
            parts.append(f'"{name}":{data.draw(choice)}')
        lines.append("{" + ",".join(parts) + "}")
    path = tmp_path_factory.mktemp("agreejson") / "conn.log"
    path.write_text("\n".join(lines) + "\n")
    numbers, per_line_problems = _good_lines(path)
    bulk_problems: list[str] = []
    df = read_frame(path, lenient=Lenient(report=bulk_problems.append))
    assert df["uid"].tolist() == [f"U{n - 1}" for n in numbers]
    assert bulk_problems == per_line_problems


def _conn_line(i: int, damaged: str | None = None, value: str = "") -> str:
    from skypewatch.zeeklog import CONN_FIELDS

    parts = []
    for name, ztype in CONN_FIELDS:
        v = f'"U{i}"' if name == "uid" else GOOD_JSON.get(ztype, ["null"])[0]
        parts.append(f'"{name}":{value if name == damaged else v}')
    return "{" + ",".join(parts) + "}"


def test_json_every_bad_value_in_every_field_is_judged_alike_by_both_readers(tmp_path):
    """One damaged value in an otherwise clean block: the bulk reader must not let through
    what the per-line reader refuses (nor refuse what it accepts)."""
    from skypewatch.zeeklog import CONN_FIELDS

    for name in [n for n, _ in CONN_FIELDS if n != "uid"]:
        for value in BAD_JSON:
            path = tmp_path / "conn.log"
            path.write_text(f"{_conn_line(0)}\n{_conn_line(1, name, value)}\n{_conn_line(2)}\n")
            numbers, per_line = _good_lines(path)
            bulk_problems: list[str] = []
            df = read_frame(path, lenient=Lenient(report=bulk_problems.append))
            assert df["uid"].tolist() == [f"U{n - 1}" for n in numbers], (name, value)
            assert bulk_problems == per_line, (name, value)


def test_tsv_every_bad_cell_in_every_column_is_judged_alike_by_both_readers(tmp_path):
    def line(i: int, col: int | None = None, value: str = "") -> str:
        cells = [f"U{i}" if n == "uid" else GOOD[t][0] for n, t in FIELDS]
        if col is not None:
            cells[col] = value
        return "\t".join(cells)

    path = tmp_path / "test.log"
    for col, (name, _) in enumerate(FIELDS):
        if name == "uid":
            continue
        for value in BAD:
            path.write_text(_header(FIELDS) + f"{line(0)}\n{line(1, col, value)}\n{line(2)}\n")
            numbers, per_line = _good_lines(path)
            bulk_problems: list[str] = []
            df = read_frame(path, lenient=Lenient(report=bulk_problems.append))
            assert df["uid"].tolist() == [f"U{n - 9}" for n in numbers], (name, value)
            assert bulk_problems == per_line, (name, value)


def test_addresses_as_categories_across_chunks_and_files(tmp_path):
    for k in range(2):
        body = "".join(f"{1000 + i}.000000\tU{i}\t10.0.0.{i % 3}\n" for i in range(40))
        fields = [("ts", "time"), ("uid", "string"), ("h", "addr")]
        (tmp_path / f"test.{k}.log").write_text(_header(fields) + body)
    df = read_frame(tmp_path, chunksize=25, addr_as="category")
    assert str(df["h"].dtype) == "category" and len(df) == 80
    assert sorted(df["h"].cat.categories) == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert str(df["uid"].dtype) == "string"
