"""Target ``cli``: ``skypewatch`` command lines built from the parser's real subcommands and
option names, with values drawn from what breaks option parsing (non-finite and huge
numbers, thousands of digits, bad networks, times and URLs, empty text, abbreviations,
``--opt=value``) and paths that break commands (missing, a directory where a file belongs,
a file where a directory belongs, ``/dev/full``, an unwritable place, a name with a line
break), over the seed captures and the logs the tools wrote.  ``main()`` runs in-process in
a scratch directory.

Contract: ``main`` returns 0, 1 (the run could not finish: an output could not be written)
or 2 (bad input or usage) -- no exception, no other code; stderr holds no traceback and
every line on it is one of skypewatch's own (``skypewatch: ...`` or a usage error); a usage
error is exactly one line; exit 1 and 2 come with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
from pathlib import Path

from skypewatch.cli import build_parser, main

from . import seeds
from .harness import Target, Violation, Workspace

HUGE = "9" * 5000
# (valid, invalid) values; a command line takes the valid ones three times in four, so that
# most runs get past the option parser into the command
NUMBERS = (
    ("1", "2", "5", "30", "60", "2.5", " 7 ", "+3", "1e-3"),
    ("nan", "inf", "-inf", "-1", "0", "-0.0", "1e12", "1e400", HUGE, "", "abc", "0x10",
     "1e-300", "1_000", "\u0663", "86401"),
)  # fmt: skip
SMALL = {  # synth's valid values, kept small so that a run takes a moment
    "clients": (("1", "2", "3"), ("0", "-1", "1e12", HUGE, "1.5", "nan", "1000001")),
    "duration": (("10", "20", "30.5"), ("9.99", "nan", "inf", "1e12", "0", "-10", "2592001")),
    "background": (("0", "10", "50"), ("nan", "inf", "-1", "1e12", "1000001")),
    "seed": (("0", "1", "18446744073709551615"), ("-1", "18446744073709551616", HUGE, "1.0")),
}
NETS = (
    ("10.0.0.0/8", "10.0.0.0/8,192.168.0.0/16", "fe80::/10", "1.2.3.4", "192.168.1.2/24"),
    ("", ",", "banana", "10.0.0.0/33", "1.2.3.4/-1", "::/129"),
)
TIMES = (
    ("2006-08-25", "2006-08-25T19:32:21+01:00", "1156534341", "2006-08-25T15:20:30Z"),
    ("nan", "inf", "-1", "1e12", HUGE, "", "2026-13-01", "yesterday",
     "0001-01-01T00:00:00+01:00", "9999-12-31", "2026-11-01T10:00:00+24:00"),
)  # fmt: skip
URLS = (
    ("ws://127.0.0.1:27759",),
    ("ws://127.0.0.1:99999", "ws://127.0.0.1:0", "ws://127.0.0.1:abc", "ws://127.0.0.1:" + HUGE,
     "http://127.0.0.1:27759", "ws://", "ws://[::1", ""),
)  # fmt: skip
NAMED = {  # options whose values are names the command knows
    "view": (("clients", "lines", "super-nodes", "local-super-nodes", "public-ips"), ("bogus", "")),
    "format": (("table", "csv", "json", "parquet"), ("bogus", "", "TABLE")),
    "stage": (("probe", "sn_handshake", "login", "version_check", "media"), ("bogus", "")),
    "scenario": (("nat", "open-1.4", "local-supernode", "udp-blocked"), ("bogus", "", "a\nb")),
    "topic": (("zeek/skype/",), ("", " ")),
    "title": (("Skype", "a <b> & 'c'", "\u00e9t\u00e9"), ("", "a\nb")),
}
OUT_DIRS = (
    ("out", "out/sub", "dir"),
    ("exists.txt", "/dev/full", "/proc/self/fuzz", "", " ", "a\nb", "-", "link-to-full"),
)
OUT_FILES = (("out.html", "out.txt", "out.parquet", "dir/x.html"),
             ("dir", "exists.txt", "/dev/full", "missing/x.html", "/proc/self/fuzz.html", "",
              "a\nb.html", "link-to-full"))  # fmt: skip
JUNK = ("--", "-", "--bogus", "-x", "--help", "--json", "-q")


Pools = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


class Chooser:
    """Choices read from the input's bytes (zeros once they run out)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def below(self, n: int) -> int:
        if n <= 1:
            return 0
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b % n

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, one_in: int) -> bool:
        return self.below(one_in) == 0


def fixtures(ws: Workspace) -> Pools:
    """Input files the command lines name (absolute paths, never written to)."""

    def make() -> Pools:
        d = ws.path("cli-fixtures")
        d.mkdir(exist_ok=True)
        caps = []
        for i, data in enumerate(seeds.pcap_seeds(ws)[:4] + seeds.pcapng_seeds(ws)[:2]):
            p = d / f"capture{i}.pcap"
            p.write_bytes(data)
            caps.append(str(p))
        cut = d / "cut.pcap"
        cut.write_bytes(Path(caps[0]).read_bytes()[:-7])
        (d / "empty.pcap").write_bytes(b"")
        (d / "text.txt").write_text("not a capture\n")
        (d / "nodata").mkdir(exist_ok=True)
        logs = []
        for i, data in enumerate(seeds.log_seeds(ws, "tsv") + seeds.log_seeds(ws, "json")):
            sub = d / f"logs{i}"
            sub.mkdir(exist_ok=True)
            name = (
                "notice.log" if b"notice" in data[:400] or b'"note"' in data[:400] else "skype.log"
            )
            (sub / (name + (".gz" if data[:2] == b"\x1f\x8b" else ""))).write_bytes(data)
            logs.append(str(sub))
            logs.append(str(next(sub.iterdir())))
        conns = []
        for i, data in enumerate(seeds.conn_seeds(ws)[:3]):
            p = d / f"conn{i}"
            p.mkdir(exist_ok=True)
            (p / "conn.log").write_bytes(data)
            conns.append(str(p / "conn.log"))
        bad = d / "bad.log"
        bad.write_bytes(Path(logs[1]).read_bytes().replace(b"\t", b"\tnan", 3))
        misc = [
            str(d / "empty.pcap"),
            str(d / "text.txt"),
            str(d / "nodata"),
            "missing.log",
            "",
            "/dev/full",
            "a\nb",
        ]
        return {  # (good inputs, broken ones)
            "captures": (tuple(caps), (str(cut), *misc)),
            "logs": (tuple(logs), (str(bad), *conns[:1], *caps[:1], *misc)),
            "conn": (tuple(conns), (*logs[:2], *misc)),
        }

    return ws.remember("cli-fixtures", make)  # type: ignore[return-value]


def _mix(ch: Chooser, pool: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return ch.pick(pool[1] if ch.chance(4) else pool[0])


def _value(ch: Chooser, cmd: str, action: argparse.Action, fx: Pools) -> str:
    dest = action.dest
    kind = getattr(action.type, "__name__", "")
    if dest == "output":
        return _mix(ch, OUT_DIRS if cmd in ("analyze", "correlate") else OUT_FILES)
    if dest == "png":
        return _mix(ch, OUT_DIRS)
    if dest in ("conn", "captures", "logs"):
        return _mix(ch, fx[dest])
    if dest == "source":  # synth --rewrap's capture
        return _mix(ch, fx["captures"])
    if cmd == "synth" and dest in SMALL:
        return _mix(ch, SMALL[dest])
    if dest in NAMED:
        return _mix(ch, NAMED[dest])
    if action.choices:
        return _mix(ch, (tuple(action.choices), ("bogus", "")))
    if kind in ("number", "whole number"):
        return _mix(ch, NUMBERS)
    if kind in ("networks", "network"):
        return _mix(ch, NETS)
    if kind == "timestamp":
        return _mix(ch, TIMES)
    if kind == "websocket":
        return _mix(ch, URLS)
    return ch.pick(("", "x", "a\nb"))


def build_argv(data: bytes, ws: Workspace) -> list[str]:
    ch = Chooser(data)
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = list(sub.choices)
    head = ch.pick([*commands] * 6 + ["--help", "--version", "bogus", ""])
    if head not in sub.choices:
        return [head]
    p = sub.choices[head]
    fx = fixtures(ws)
    optionals = [a for a in p._actions if a.option_strings and a.dest != "help"]
    positional = next((a for a in p._actions if not a.option_strings), None)
    argv = [head]
    for _ in range(ch.below(7)):
        what = ch.below(10)
        if what < 6:
            a = ch.pick(optionals)
            opt = ch.pick(a.option_strings)
            if opt.startswith("--") and ch.chance(8):  # argparse takes unique prefixes
                opt = opt[: 3 + ch.below(len(opt) - 2)]
            if a.nargs == 0:
                argv.append(opt)
            elif opt.startswith("--") and ch.chance(4):
                argv.append(f"{opt}={_value(ch, head, a, fx)}")
            else:
                argv += [opt, _value(ch, head, a, fx)]
        elif what < 9 and positional is not None:
            argv.append(_value(ch, head, positional, fx))
        else:
            argv.append(ch.pick(JUNK))
    if positional is not None and positional.nargs in ("+", "?", None) and ch.below(4):
        argv.append(_value(ch, head, positional, fx))  # the usual case: something to read
    for a in optionals:
        if a.required and not ch.chance(8):  # synth's -o
            argv += [a.option_strings[-1], _value(ch, head, a, fx)]
    return argv


def _goes_live(argv: list[str]) -> bool:
    """Would this be ``correlate --zeek`` with nothing else to read (it runs until stopped)?"""
    if not argv or argv[0] != "correlate":
        return False
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            return False
    return bool(args.zeek) and not (args.logs or args.conn)


def run(data: bytes, ws: Workspace) -> None:
    argv = build_argv(data, ws)
    if _goes_live(argv):
        return
    cwd = ws.fresh_dir("cli-run")
    (cwd / "exists.txt").write_text("already here\n")
    (cwd / "dir").mkdir()
    (cwd / "link-to-full").symlink_to("/dev/full")
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                raise Violation("SystemExit escaped main()", repr(exc.code)) from None
    finally:
        os.chdir(before)
    _check_result(argv, code, err.getvalue())


def _check_result(argv: list[str], code: object, stderr: str) -> None:
    shown = repr(argv)[:300]
    if code not in (0, 1, 2):
        raise Violation(f"exit code {code!r}", shown)
    if "Traceback" in stderr:
        raise Violation("a traceback on stderr", shown + " " + stderr[-300:])
    lines = [ln for ln in stderr.split("\n") if ln.strip()]
    for ln in lines:
        if not ln.startswith("skypewatch"):
            raise Violation("a stderr line that is not skypewatch's", shown + " " + repr(ln[:120]))
    if code and not lines:
        raise Violation(f"exit {code} without a message", shown)
    usage = [ln for ln in lines if ": error: " in ln and "(see skypewatch" in ln]
    if usage and len(lines) != 1:
        raise Violation("a usage error in more than one line", shown)


def cli_seeds(_ws: Workspace) -> list[bytes]:
    # byte strings that pick each subcommand with a few options each
    return [bytes([i, 5, 1, 2, 3, 0, 4, 7, 3, 1, 9, 2, 8, 6, 1, 1, 3, 2, 0]) for i in range(12)]


def cleanup(ws: Workspace) -> None:
    shutil.rmtree(ws.path("cli-run"), ignore_errors=True)


TARGET = Target("cli", run, cli_seeds, deadline=30.0, max_len=96)
