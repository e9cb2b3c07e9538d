"""One rule for every reader: a log Zeek can write is read, anything else refused in one line.

The logs here are a real run's skype.log and notice.log re-written as a site's Zeek could
have written them -- other ``LogAscii`` options, ``$exclude``d columns, extra ``&log``
fields, a byte order mark, columns declared with other types -- by a small writer of the
test's own (not the package's).  Each class has a near-miss control beside it.
"""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from skypewatch.analyst.logs import read_log as read_frame
from skypewatch.cli import main
from skypewatch.zeeklog import Lenient, iter_rows
from skypewatch.zeeklog import read_log as read_rows
from skypewatch.zeeklog.bulk import iter_tables

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "testing" / "btest" / "Traces"
VIEWS = ("clients", "lines", "super-nodes", "local-super-nodes", "public-ips")
SW = [sys.executable, "-m", "skypewatch"]


@dataclass
class Log:
    """A TSV log taken apart: header values, field names and types, rows of raw cells."""

    path: str
    fields: list[str]
    types: list[str]
    rows: list[list[str]]
    meta: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Log:
        meta, rows = {}, []
        for line in text.splitlines():
            if line.startswith("#separator "):
                continue
            if line.startswith("#"):
                key, _, value = line.partition("\t")
                meta[key] = value
            elif line:
                rows.append(line.split("\t"))
        return cls(
            meta["#path"], meta["#fields"].split("\t"), meta["#types"].split("\t"), rows, meta
        )

    def write(
        self,
        sep: str = "\t",
        set_sep: str = ",",
        empty: str = "(empty)",
        unset: str = "-",
        bom: bool = False,
    ) -> str:
        """As Zeek's ASCII writer with these options: markers replaced, separators inside
        values escaped as \\xNN."""

        def esc(text: str, also: str = "") -> str:
            for ch in {*sep, *also}:
                text = text.replace(ch, f"\\x{ord(ch):02x}")
            return text

        def cell(raw: str, ztype: str) -> str:
            if raw == "-":
                return unset
            if raw == "(empty)":
                return empty
            if ztype.startswith(("set[", "vector[")):
                return set_sep.join(esc(x, set_sep) for x in raw.split(","))
            return esc(raw)

        head = [
            "#separator " + "".join(f"\\x{ord(c):02x}" for c in sep),
            f"#set_separator{sep}{esc(set_sep)}",
            f"#empty_field{sep}{esc(empty)}",
            f"#unset_field{sep}{esc(unset)}",
            f"#path{sep}{self.path}",
            f"#open{sep}2026-12-01-00-00-00",
            f"#fields{sep}" + sep.join(self.fields),
            f"#types{sep}" + sep.join(self.types),
        ]
        body = [sep.join(cell(c, t) for c, t in zip(r, self.types, strict=True)) for r in self.rows]
        text = "\n".join([*head, *body, f"#close{sep}2026-12-01-00-00-01"]) + "\n"
        return ("\ufeff" if bom else "") + text

    def without(self, *names: str) -> Log:
        keep = [i for i, n in enumerate(self.fields) if n not in names]
        return Log(
            self.path,
            [self.fields[i] for i in keep],
            [self.types[i] for i in keep],
            [[r[i] for i in keep] for r in self.rows],
            self.meta,
        )

    def retyped(self, name: str, ztype: str) -> Log:
        types = [ztype if n == name else t for n, t in zip(self.fields, self.types, strict=True)]
        return Log(self.path, self.fields, types, self.rows, self.meta)

    def plus(self, name: str, ztype: str, value: str) -> Log:
        return Log(
            self.path,
            [*self.fields, name],
            [*self.types, ztype],
            [[*r, value] for r in self.rows],
            self.meta,
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["analyze", str(TRACES / "skype-local-supernode.pcap"), "-o", str(out), "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def skype(run) -> Log:
    return Log.parse((run / "skype.log").read_text())


@pytest.fixture(scope="module")
def notice(run) -> Log:
    return Log.parse((run / "notice.log").read_text())


def _cli(argv: list[str], capsys) -> tuple[int, str, list[str]]:
    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, [ln for ln in cap.err.splitlines() if ln.strip()]


# -- LogAscii options ---------------------------------------------------------------------------

DIALECTS = {
    "pipe": {"sep": "|"},
    "semicolon sets": {"set_sep": ";"},
    "NULL and EMPTY": {"unset": "NULL", "empty": "EMPTY"},
    "all at once": {"sep": "|", "set_sep": ":", "unset": "NULL", "empty": "EMPTY"},
    "two-character separator": {"sep": "::"},  # Arrow splits on one byte: the per-line path
}


@pytest.mark.parametrize("options", DIALECTS.values(), ids=DIALECTS.keys())
def test_any_logascii_options_read_as_the_defaults(tmp_path, run, skype, options):
    (tmp_path / "skype.log").write_text(skype.write(**options))
    want = read_frame(run / "skype.log")
    got = read_frame(tmp_path / "skype.log")
    pd.testing.assert_frame_equal(got, want)
    assert read_rows(tmp_path / "skype.log")[1] == read_rows(run / "skype.log")[1]
    # the set column really held several elements somewhere (else the separator is untested)
    assert want["signatures"].map(len).max() > 1


def test_a_set_separator_is_taken_from_the_header_not_guessed(tmp_path, skype):
    """The near miss: cells written with ',' under a header declaring ';' are one element."""
    text = skype.write(set_sep=";").replace("#set_separator\t;", "#set_separator\t|")
    (tmp_path / "skype.log").write_text(text)
    df = read_frame(tmp_path / "skype.log")
    multi = df[df["signatures"].map(len) > 1]
    assert multi.empty  # every 'a;b' is one element: the header is what counts
    assert df["signatures"].map(lambda s: any(";" in x for x in s)).any()


@pytest.mark.parametrize(
    "options, why",
    [
        ({"unset": "X", "empty": "X"}, "#unset_field and #empty_field must differ"),
        ({"set_sep": "|", "sep": "|"}, "#set_separator"),
    ],
)
def test_options_that_cannot_tell_values_apart_are_refused(tmp_path, skype, capsys, options, why):
    (tmp_path / "skype.log").write_text(skype.write(**options))
    code, _, err = _cli(["query", str(tmp_path / "skype.log")], capsys)
    assert code == 2 and len(err) == 1 and why in err[0]


@pytest.mark.parametrize("kind", ["tsv", "json"])
def test_a_byte_order_mark_is_skipped(tmp_path, run, kind, capsys):
    src = run / "skype.log"
    if kind == "json":
        assert main(["analyze", str(TRACES / "skype-local-supernode.pcap"), "-o",
                     str(tmp_path / "j"), "-q", "--json"]) == 0  # fmt: skip
        src = tmp_path / "j" / "skype.log"
    (tmp_path / "bom.log").write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    assert main(["query", str(src), "--view", "lines", "--format", "csv"]) == 0
    plain = capsys.readouterr().out
    assert main(["query", str(tmp_path / "bom.log"), "--view", "lines", "--format", "csv"]) == 0
    assert capsys.readouterr().out == plain and plain.count("\n") > 10
    # the near miss: half a byte order mark is no mark, and no log
    (tmp_path / "half.log").write_bytes(b"\xef\xbb" + src.read_bytes())
    code, _, err = _cli(["query", str(tmp_path / "half.log")], capsys)
    assert code == 2 and len(err) == 1


# -- $exclude and extra &log fields -------------------------------------------------------------

EXCLUDED = ("client_public_ip", "skype_version", "answered", "evidence", "signatures", "duration")


@pytest.mark.parametrize("view", VIEWS)
def test_excluded_columns_come_out_empty_in_every_view(tmp_path, run, skype, capsys, view):
    (tmp_path / "skype.log").write_text(skype.without(*EXCLUDED).write())
    # the trace's outside clients reach its inside relay only: with nothing inside, every line
    # names its client, so that the client views have hosts to compare
    nets = [] if view == "local-super-nodes" else ["--local-nets", "127.0.0.0/8"]
    code, out, err = _cli(["query", str(tmp_path / "skype.log"), "--view", view,
                           "--format", "csv", *nets], capsys)  # fmt: skip
    assert code == 0 and err == []
    code, full, _ = _cli(["query", str(run / "skype.log"), "--view", view, "--format", "csv",
                          *nets], capsys)  # fmt: skip
    got = pd.read_csv(pd.io.common.StringIO(out)) if out else pd.DataFrame()
    want = pd.read_csv(pd.io.common.StringIO(full))
    if view == "public-ips":  # made of an excluded column: nothing to say
        assert got.empty and not want.empty
        return
    key = want.columns[0]
    assert sorted(got[key]) == sorted(want[key])  # the same hosts, from the columns left


def test_a_report_and_correlate_read_a_log_with_excluded_columns(tmp_path, skype, capsys):
    (tmp_path / "skype.log").write_text(skype.without(*EXCLUDED).write())
    assert main(["report", str(tmp_path / "skype.log"), "-o", str(tmp_path / "r.html")]) == 0
    assert main(["correlate", str(tmp_path / "skype.log"), "-o", str(tmp_path / "c")]) == 0


EXTRA = [
    ("ports", "set[port]", "80,443"),
    ("gaps", "vector[interval]", "1.500000,0.250000"),
    ("ratio", "double", "0.5"),
    ("when", "time", "1156534341.000000"),
    ("tags", "set[string]", "(empty)"),
    ("net", "subnet", "10.0.0.0/8"),
    ("n_extra", "count", "-"),
]


def test_extra_fields_of_any_type_are_read_and_written_as_parquet(tmp_path, skype):
    log = skype
    for name, ztype, value in EXTRA:
        log = log.plus(name, ztype, value)
    (tmp_path / "skype.log").write_text(log.write())
    df = read_frame(tmp_path / "skype.log")
    assert list(df["ports"].iloc[0]) == [80, 443] and list(df["tags"].iloc[0]) == []
    assert df["n_extra"].isna().all()
    out = tmp_path / "lines.parquet"
    assert main(["query", str(tmp_path / "skype.log"), "--view", "lines", "--format",
                 "parquet", "-o", str(out)]) == 0  # fmt: skip
    back = pd.read_parquet(out)
    assert len(back) == len(skype.rows) and back["ports"].iloc[0] == "80,443"
    assert back["gaps"].iloc[0] == "1.5,0.25"


# -- declared types ---------------------------------------------------------------------------


@pytest.mark.parametrize("ztype", ["double", "string", "count"])
@pytest.mark.parametrize(
    "argv",
    [
        ["query", "{log}"],
        *(["query", "{log}", "--view", v] for v in VIEWS[1:]),
        ["query", "{log}", "--since", "2006-01-01"],
        ["report", "{log}", "-o", "{tmp}/r.html"],
        ["correlate", "{log}", "-o", "{tmp}/c"],
    ],
)
def test_a_ts_of_another_type_is_refused_in_one_line(tmp_path, skype, capsys, ztype, argv):
    log = tmp_path / "skype.log"
    log.write_text(skype.retyped("ts", ztype).write())
    code, _, err = _cli([a.format(log=log, tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and len(err) == 1, err
    assert f"column 'ts' is declared '{ztype}'" in err[0]


def test_an_extra_column_may_be_of_any_type_the_known_ones_not(tmp_path, skype, capsys):
    """The near miss of the above: a double called ts2 is just an extra column."""
    log = tmp_path / "skype.log"
    log.write_text(skype.plus("ts2", "double", "1.5").write())
    assert main(["query", str(log), "--since", "2006-01-01"]) == 0
    log.write_text(skype.retyped("peer", "string").write())  # a known column: refused
    code, _, err = _cli(["query", str(log)], capsys)
    assert code == 2 and "column 'peer' is declared 'string', not addr" in err[0]


# -- notice.log, recognised and read whatever it lacks ---------------------------------------------


def _report(tmp_path: Path, files: dict[str, str]) -> str:
    d = tmp_path / "logs"
    d.mkdir(parents=True)
    for name, text in files.items():
        (d / name).write_text(text)
    assert main(["report", str(d), "-o", str(tmp_path / "r.html")]) == 0
    return (tmp_path / "r.html").read_text()


def test_a_notice_log_with_unset_times_or_without_msg_is_reported(tmp_path, skype, notice):
    unset_ts = Log(notice.path, notice.fields, notice.types, [["-", *r[1:]] for r in notice.rows])
    page = _report(tmp_path, {"skype.log": skype.write(), "notice.log": unset_ts.write()})
    assert "from notice.log" in page and page.count("class=note>Skype::") == len(notice.rows)
    page = _report(tmp_path / "b", {"skype.log": skype.write(),
                                    "notice.log": notice.without("msg").write()})  # fmt: skip
    assert "from notice.log" in page and page.count("class=note>Skype::") == len(notice.rows)


def test_a_log_with_a_note_column_is_not_a_notice_log(tmp_path, skype, notice):
    other = Log("weird", ["ts", "uid", "note", "name"], ["time", "string", "string", "string"],
                [["1156534341.000000", "Cx", "hello", "x"]])  # fmt: skip
    page = _report(tmp_path, {"skype.log": skype.write(), "weird.log": other.write()})
    assert "computed by the correlator" in page and "hello" not in page
    # the control: a notice.log under another path (a notice filter's) is one by its columns
    alarm = Log("notice_alarm", notice.fields, notice.types, notice.rows)
    page = _report(tmp_path / "b", {"skype.log": skype.write(), "alarm.log": alarm.write()})
    assert "from notice.log" in page


# -- empty lines: cheap, and the line numbers after them still right -----------------------------


@pytest.mark.parametrize("kind", ["tsv", "json"])
@pytest.mark.parametrize("where", ["before the header", "among the data"])
def test_millions_of_empty_lines_keep_line_numbers(tmp_path, skype, kind, where):
    empty = 3_000_000
    lines = skype.write().splitlines()
    head = [ln for ln in lines if ln.startswith("#") and not ln.startswith("#close")]
    data = [ln for ln in lines if not ln.startswith("#")]
    if kind == "json":
        head, data = (
            [],
            [
                '{"ts":1156534341.0,"uid":"C1","stage":"probe","peer_role":"peer",'
                '"client":"10.0.0.1","peer":"10.0.0.2","confidence":"likely"}'
            ]
            * 3,
        )
    bad = "this line is bad"
    if where == "before the header":
        text = "\n" * empty + "\n".join([*head, data[0], data[1], bad, data[2]]) + "\n"
        bad_at = empty + len(head) + 3
    else:
        text = "\n".join([*head, data[0]]) + "\n" * (empty + 1)
        text += "\n".join([data[1], bad, data[2]]) + "\n"
        bad_at = len(head) + 1 + empty + 2
    log = tmp_path / "skype.log.gz"
    log.write_bytes(gzip.compress(text.encode(), 1))
    seen: list[str] = []
    rows = list(iter_rows(log, Lenient(report=seen.append)))
    assert [n for n, _ in rows][-1] == bad_at + 1 and len(rows) == 3
    assert seen[0].startswith(f"{log}:{bad_at}:")
    seen.clear()
    tables = list(iter_tables(log, Lenient(report=seen.append)))
    assert sum(t.num_rows for _, t in tables) == 3 and seen[0].startswith(f"{log}:{bad_at}:")


# -- the edges: undecodable names and titles, basic-format dates, spreadsheet cells ---------------


def test_non_utf8_names_and_titles_under_a_strict_locale(tmp_path, run):
    d = tmp_path / os.fsdecode(b"caf\xe9")
    d.mkdir()
    (d / "skype.log").write_bytes((run / "skype.log").read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for argv in (
        ["report", str(d), "-o", str(d / "r.html"), "--title", os.fsdecode(b"t\xe9st")],
        ["correlate", str(d), "-o", str(d)],
        ["query", str(d / "nothing.log")],  # the error names the file
    ):
        p = subprocess.run([*SW, *argv], env=env, capture_output=True, timeout=120)
        assert b"Traceback" not in p.stderr, p.stderr[-300:]
        assert p.returncode == (2 if argv[0] == "query" else 0)
    assert "t\ufffdst" in (d / "r.html").read_text()


def test_an_iso_basic_date_is_a_date(tmp_path, run, capsys):
    log = str(run / "skype.log")
    first = read_frame(log)["ts"].min()
    day, next_day = f"{first:%Y%m%d}", f"{first + pd.Timedelta(days=1):%Y%m%d}"
    counts = {}
    for since in (day, next_day, f"{day}T000000Z", str(int(first.timestamp()) - 1)):
        assert main(["query", log, "--view", "lines", "--format", "csv", "--since", since]) == 0
        counts[since] = capsys.readouterr().out.count("\n")
    n = len(read_frame(log)) + 1
    assert counts[day] == n and counts[f"{day}T000000Z"] == n
    assert counts[next_day] == 0
    assert counts[str(int(first.timestamp()) - 1)] == n  # the control: epoch seconds still are


HOSTILE = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)", "\tx", "\rx", "ok\r=cmd|'/C calc'!A0"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path, skype, capsys):
    rows = [list(r) for r in skype.rows[: len(HOSTILE)]]
    col = skype.fields.index("evidence")
    from skypewatch.zeeklog import escape

    for r, text in zip(rows, HOSTILE, strict=True):
        r[col] = escape(text)
    (tmp_path / "skype.log").write_text(Log("skype", skype.fields, skype.types, rows).write())
    assert main(["query", str(tmp_path / "skype.log"), "--view", "lines", "--format", "csv",
                 "-o", str(tmp_path / "x.csv")]) == 0  # fmt: skip
    df = pd.read_csv(tmp_path / "x.csv", keep_default_na=False)
    assert sorted(df["evidence"]) == sorted(
        ("'" if t[0] in "=+-@\t\r" else "") + t for t in HOSTILE
    )
    with open(tmp_path / "x.csv", newline="") as fh:  # rows as a spreadsheet splits them
        table = list(csv.reader(fh))
    assert len(table) == len(HOSTILE) + 1 and {len(r) for r in table} == {len(table[0])}
    assert not any(cell.startswith(("=", "+", "@")) for row in table for cell in row)
    assert (df["id.orig_p"] > 0).all()  # numbers are no formulas: left alone
    # the control: JSON is no spreadsheet's, and keeps the text as it is
    assert main(["query", str(tmp_path / "skype.log"), "--view", "lines", "--format", "json"]) == 0
    js = pd.read_json(pd.io.common.StringIO(capsys.readouterr().out), lines=True)
    assert sorted(js["evidence"]) == sorted(HOSTILE)


@pytest.mark.parametrize(
    "tail",
    [
        "\n" * 1000 + "#close\t2026-12-01-00-00-01\n",
        "#close\t2026-12-01-00-00-01\n" + "\n" * 1000,
        "".join(f"#c{i}\n\n\n" for i in range(10)),  # more runs than the bulk reader skips
        "\n" * 1000,
    ],
    ids=["empty lines then #close", "#close then empty lines", "alternating", "only empty"],
)
def test_both_readers_agree_on_empty_lines_at_the_end(tmp_path, skype, tail):
    text = skype.write().replace("#close\t2026-12-01-00-00-01\n", "")
    (tmp_path / "skype.log").write_text(text + "\n\n" + tail)
    header, rows = read_rows(tmp_path / "skype.log")
    tables = list(iter_tables(tmp_path / "skype.log"))
    assert len(rows) == len(skype.rows) == sum(t.num_rows for _, t in tables)
    assert tables[-1][0].closed == header.closed == ("#close" in tail)
