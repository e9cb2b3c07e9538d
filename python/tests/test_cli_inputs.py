"""Every option of every subcommand refuses bad values in one line, exit 2, before any work;
output paths that cannot be written are refused the same way."""

from __future__ import annotations

import argparse
import math
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skypewatch.cli import args as cliargs
from skypewatch.cli import main

HUGE = "9" * 5000  # beyond Python's int-string limit (4,300 digits)
NUMBERS = ["nan", "inf", "-inf", "-1", "1e12", "1e400", HUGE, "", "abc", "0x10"]
SECONDS = [*NUMBERS, "0", "-0.0", "86401"]
NETS = ["", ",", "banana", "10.0.0.0/33", "10.0.0.0/8,banana", "1.2.3.4/-1", "::/129"]
TIMES = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "1e12",
    HUGE,
    "",
    "2026-13-01",
    "yesterday",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31",
    "2026-11-01T10:00:00+24:00",
]
URLS = [
    "ws://127.0.0.1:99999",
    "ws://127.0.0.1:0",
    "ws://127.0.0.1:-1",
    "ws://127.0.0.1:abc",
    "ws://127.0.0.1:1e3",
    "ws://127.0.0.1:" + HUGE,
    "http://127.0.0.1:27759",
    "ws://",
    "ws://[::1",
    "",
]

# (subcommand, option, bad values); the base arguments are otherwise valid
TABLE = [
    ("analyze", "--udp-timeout", SECONDS),
    ("analyze", "--probe-window", SECONDS),
    ("analyze", "--settle", SECONDS),
    ("analyze", "--fanout-peers", [*NUMBERS, "0", "1", "2.5", "1001", "1e3"]),
    ("analyze", "--max-connections", [*NUMBERS, "0", "999", "2.5", "100000001", "1e6"]),
    ("analyze", "--local-nets", NETS),
    ("analyze", "--engine", ["", "fast", "Reference", "bulk,reference"]),
    ("analyze", "--workers", ["", "0", "3", "-1", "two", "2.0", " 2", "AUTO"]),
    ("analyze", "--output", ["", " "]),
    ("correlate", "--probe-window", SECONDS),
    ("correlate", "--settle", SECONDS),
    ("correlate", "--reorder-window", [*NUMBERS, "0", "604801"]),
    ("correlate", "--local-nets", NETS),
    ("correlate", "--topic", [""]),
    ("correlate", "--output", [""]),
    ("correlate", "--max-future", SECONDS),
    ("correlate-live", "--ca-file", [""]),  # unusable files: test_live_hostile_peer.py
    ("correlate-live", "--zeek", URLS),
    ("query", "--since", TIMES),
    ("query", "--until", TIMES),
    ("query", "--client", NETS),
    ("query", "--local-nets", NETS),
    ("query", "--output", [""]),
    ("query", "--min-confidence", ["", "sure"]),
    ("report", "--output", [""]),
    ("report", "--png", [""]),
    ("report", "--local-nets", NETS),
    ("synth", "--clients", [*NUMBERS, "0", "1.5", "1e3", "1000001"]),
    ("synth", "--seed", ["-1", "nan", "1.5", "", HUGE, str(2**64)]),
    ("synth", "--duration", [*NUMBERS, "0", "9.99", "2592001"]),
    ("synth", "--background", [*NUMBERS, "-0.5", "1000001"]),
    ("synth", "--output", [""]),
    ("synth", "--rewrap", ["", "bogus"]),
    ("synth", "--source", [""]),
]


def _base(command: str, tmp: Path, trace: Path) -> list[str]:
    return {
        "analyze": ["analyze", str(trace), "-o", str(tmp / "out")],
        "correlate": ["correlate", str(tmp / "skype.log"), "-o", str(tmp / "out")],
        "correlate-live": ["correlate", "-o", str(tmp / "out")],
        "query": ["query", str(tmp / "skype.log")],
        "report": ["report", str(tmp / "skype.log"), "-o", str(tmp / "r.html")],
        "synth": ["synth", "nat", "-o", str(tmp / "s.pcap")],
    }[command]


def run_main(argv: list[str], capsys, limit: float = 20.0) -> tuple[int, str]:
    """main() in a thread: a hang fails the test instead of stalling the suite."""
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"skypewatch {' '.join(argv)[:120]} still running"
    assert result, "main() raised instead of returning an exit code"
    return result[0], capsys.readouterr().err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err[:500]
    assert "Traceback" not in err
    assert len(err) < 600, "a refused value is echoed shortened"
    return err


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    from skypewatch.synth.scenarios import SynthOptions, synthesize

    out = tmp_path_factory.mktemp("trace") / "t.pcap"
    return synthesize("open-1.4", out, SynthOptions(clients=1, duration=30.0)).pcap


@pytest.mark.parametrize(
    "command, option, value",
    [(c, o, v) for c, o, values in TABLE for v in values],
    ids=lambda x: x if len(str(x)) < 30 else f"{str(x)[:10]}..({len(x)})",
)
def test_bad_option_value_is_one_line_exit_2(tmp_path, capsys, trace, command, option, value):
    argv = [*_base(command, tmp_path, trace), option, value]
    code, err = run_main(argv, capsys)
    assert code == 2
    assert option in one_line(err), "the message names the option"
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.pcap").exists(), "no work"


def test_table_covers_every_numeric_and_value_option():
    """A new option without a row here fails this test."""
    from skypewatch.cli import build_parser

    covered = {(c.replace("-live", ""), o) for c, o, _ in TABLE}
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    exempt = {("report", "--title"), ("query", "--view"), ("query", "--stage")}
    exempt |= {("query", "--format"), ("correlate", "--conn")}  # checked in the command
    for name, p in sub.choices.items():
        for action in p._actions:
            if not action.option_strings or action.nargs == 0 or action.help == "==SUPPRESS==":
                continue
            long = max(action.option_strings, key=len)
            assert (name, long) in covered | exempt, f"{name} {long} has no bad-value row"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["query", "nope.log", "--format", "xml"], "unknown format 'xml'"),
        (["query", "nope.log", "--view", "everything"], "unknown view"),
        (["query", "nope.log", "--stage", "dialling"], "unknown stage 'dialling'"),
        (["query", "nope.log", "--format", "parquet"], "give -o FILE"),
        (["query", "nope.log", "--since", "2026-02-01", "--until", "2026-01-01"], "later than"),
        (["synth", "-o", "x.pcap"], "name a scenario"),
        (["synth", "dial-up", "-o", "x.pcap"], "unknown scenario"),
        (["correlate"], "either LOG files"),
    ],
)
def test_checks_run_before_reading_any_input(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, err = run_main(argv, capsys)
    assert code == 2
    assert words in one_line(err), "refused before the missing log is even opened"


# -- output paths -----------------------------------------------------------------------

UNWRITABLE = "/proc/skypewatch-cannot-write-here"  # refused even to root


def _outputs(tmp: Path, trace: Path) -> list[tuple[list[str], str]]:
    a_file = tmp / "a-file"
    a_file.write_text("x")
    a_dir = tmp / "a-dir"
    a_dir.mkdir()
    (tmp / "logdir").mkdir()
    (tmp / "logdir" / "skype.log").mkdir()  # where analyze would write its log
    (tmp / "t.truth.tsv").mkdir()
    (tmp / "plots" / "fanout.png").mkdir(parents=True)
    log = tmp / "in.log"
    log.write_text("#fields\tts\n")
    t = str(trace)
    return [
        (["analyze", t, "-o", str(a_file)], "is a file, not a directory"),
        (["analyze", t, "-o", str(a_file / "sub")], "Not a directory"),
        (["analyze", t, "-o", UNWRITABLE], "cannot"),
        (["analyze", t, "-o", "/proc"], "cannot write there"),
        (["analyze", t, "-o", str(tmp / "logdir")], "skype.log in it is a directory"),
        (["correlate", str(log), "-o", str(a_file)], "is a file, not a directory"),
        (["correlate", "--zeek", "ws://127.0.0.1:1", "-o", str(a_file)], "is a file"),
        (["correlate", str(log), "-o", UNWRITABLE], "cannot"),
        (["report", str(log), "-o", str(a_dir)], "is a directory; name a file"),
        (["report", str(log), "-o", str(log)], "is also an input"),
        (["report", str(log), "-o", f"{UNWRITABLE}/r.html"], "cannot"),
        (["report", str(log), "-o", str(a_file / "r.html")], "cannot write there"),
        (["report", str(log), "-o", str(tmp / "r.html"), "--png", str(a_file)], "is a file"),
        (["report", str(log), "-o", str(tmp / "r.html"), "--png", UNWRITABLE], "cannot"),
        (["report", str(log), "-o", str(tmp / "r.html"), "--png", str(tmp / "plots")], "fanout"),
        (["query", str(log), "-o", str(a_dir)], "is a directory; name a file"),
        (["query", str(log), "-o", str(tmp / "missing" / "q.csv")], "does not exist"),
        (["query", str(log), "-o", f"{UNWRITABLE}.csv"], "cannot write there"),
        (["synth", "nat", "-o", str(a_dir)], "is a directory; name a file"),
        (["synth", "nat", "-o", f"{UNWRITABLE}.pcap"], "cannot write there"),
        (["synth", "nat", "-o", str(a_file / "x.pcap")], "is not a directory"),
        (["synth", "nat", "-o", str(tmp / "t.pcap")], "truth file"),
        (["synth", "nat", "-o", "/dev/null"], "not a regular file"),
        (["synth", "--all", "-o", str(a_file)], "is a file, not a directory"),
    ]


def test_output_paths_are_checked_before_work(tmp_path, capsys, trace):
    for argv, words in _outputs(tmp_path, trace):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        code, err = run_main(argv, capsys)
        assert code == 2, argv
        assert words in one_line(err), (argv, err)
        after = sorted(p.name for p in tmp_path.rglob("*"))
        assert after == before, f"{argv}: nothing is written when the output is refused"
    assert Path("/dev/null").is_char_device()


def test_read_only_directory_refused_for_ordinary_users(tmp_path, capsys, trace):
    if os.geteuid() == 0:
        pytest.skip("root writes into mode-0555 directories; /proc paths above cover root")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        for argv in (
            ["analyze", str(trace), "-o", str(ro)],
            ["synth", "nat", "-o", str(ro / "x.pcap")],
            ["report", str(trace), "-o", str(ro / "r.html")],
        ):
            code, err = run_main(argv, capsys)
            assert code == 2 and "cannot write there" in one_line(err)
    finally:
        ro.chmod(0o755)


def test_good_output_paths_still_work(tmp_path, capsys, trace):
    out = tmp_path / "new" / "deeper"
    assert run_main(["analyze", str(trace), "-o", str(out), "-q"], capsys)[0] == 0
    assert (out / "skype.log").is_file()
    assert not list(out.glob(".skypewatch-*")), "the write probe leaves nothing behind"
    again = run_main(["analyze", str(trace), "-o", str(out), "-q"], capsys)
    assert again[0] == 0, "an existing output directory is reused"
    pcap = tmp_path / "s.pcap"
    pcap.write_bytes(b"old")
    code, _ = run_main(["synth", "nat", "-o", str(pcap), "--duration", "10"], capsys)
    assert code == 0 and pcap.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1", "replaced"


# -- the argument types themselves ------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [("5", 5), ("+5", 5), ("007", 7), (" 12 ", 12), ("1000", 1000)],
)
def test_whole_accepts_decimal_digits(text, value):
    assert cliargs.whole(1, 1000)(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01",
        "2026-11-01T10:00:00",
        "2026-11-01T10:00:00Z",
        "2026-11-01 10:00:00.123456+01:00",
        "1764547200",
        "1764547200.5",
        "0",
    ],
)
def test_timestamp_accepts_iso_and_epoch(text):
    assert cliargs.timestamp(text) == text


@pytest.mark.parametrize("url", ["ws://127.0.0.1:27759", "wss://zeek.example:1", "ws://[::1]:9"])
def test_websocket_accepts_valid_urls(url):
    assert cliargs.websocket(url) == url


@given(st.text(max_size=40))
def test_number_types_return_in_range_or_refuse(text):
    checks = [
        (cliargs.seconds(86_400.0), lambda v: math.isfinite(v) and 0 < v <= 86_400),
        (cliargs.real(10.0, 100.0), lambda v: 10 <= v <= 100),
        (cliargs.whole(2, 1000), lambda v: isinstance(v, int) and 2 <= v <= 1000),
        (cliargs.timestamp, lambda v: isinstance(v, str)),
        (cliargs.networks, lambda v: len(v) >= 1),
        (cliargs.network, lambda v: isinstance(v, str)),
        (cliargs.websocket, lambda v: v.startswith(("ws://", "wss://"))),
    ]
    for parse, ok in checks:
        try:
            value = parse(text)
        except argparse.ArgumentTypeError:
            continue
        assert ok(value), (text, value)


@given(st.from_regex(r"[+-]?[0-9]{1,30}", fullmatch=True))
def test_whole_matches_int_within_bounds(text):
    try:
        got = cliargs.whole(-(10**9), 10**9)(text)
    except argparse.ArgumentTypeError:
        assert abs(int(text)) > 10**9
    else:
        assert got == int(text)


@pytest.mark.parametrize(
    "field, value",
    [
        ("duration", math.inf),
        ("duration", math.nan),
        ("duration", 0.0),
        ("duration", 1e12),
        ("background", math.nan),
        ("background", math.inf),
        ("background", -1.0),
        ("clients", 0),
        ("clients", 10**9),
    ],
)
def test_synth_options_refuse_what_would_never_end(field, value):
    """The API is guarded as the command line is: nan or inf would loop without end."""
    from skypewatch.synth.scenarios import SynthOptions

    with pytest.raises(ValueError, match=field):
        SynthOptions(**{field: value})
