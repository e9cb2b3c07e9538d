"""The harness tells the outcomes apart: the documented error is fine; another exception, a
broken promise and running past the deadline are findings, each known by where it happened,
and only the first input of each distinct finding is kept."""

from __future__ import annotations

import time

from fuzz.harness import Findings, Target, Violation, Workspace, check, minimize
from fuzz.mutate import apply
from skypewatch.errors import SkypewatchError


def _target(run, deadline: float = 5.0) -> Target:
    return Target("t", run, lambda _ws: [b"seed"], deadline=deadline)


def _run(data: bytes, _ws: Workspace) -> None:
    if data.startswith(b"user"):
        try:
            raise SkypewatchError("bad input")
        except SkypewatchError:
            return  # what a target does with the documented error
    if data.startswith(b"crash"):
        {}["missing"]  # the bug a fuzzer finds
    if data.startswith(b"promise"):
        raise Violation("a promise", data.decode())
    if data.startswith(b"hang"):
        while True:
            time.sleep(0.01)


def test_outcomes(tmp_path):
    ws = Workspace(tmp_path)
    t = _target(_run, deadline=0.3)
    assert check(t, b"user", ws).ok
    crash = check(t, b"crash 1", ws)
    assert crash.kind == "crash" and crash.signature.startswith("KeyError at ")
    assert check(t, b"crash 2", ws).signature == crash.signature  # same place, same finding
    promise = check(t, b"promise x", ws)
    assert promise.kind == "crash" and promise.signature == "violation: a promise"
    started = time.monotonic()
    hang = check(t, b"hang", ws)
    assert hang.kind == "hang" and time.monotonic() - started < 2.0


def test_findings_keep_the_first_input_of_each(tmp_path):
    ws = Workspace(tmp_path / "ws")
    found = Findings(tmp_path / "findings", "t")
    t = _target(_run)
    for data in (b"crash 1", b"crash 2", b"promise y"):
        found.add(check(t, data, ws), data)
    files = sorted(p.name for p in (tmp_path / "findings" / "t").glob("*.bin"))
    assert len(files) == 2 and sorted(found.seen.values()) == [1, 2]
    assert {(tmp_path / "findings" / "t" / f).read_bytes() for f in files} == {
        b"crash 1",
        b"promise y",
    }


def test_minimize_keeps_the_finding(tmp_path):
    ws = Workspace(tmp_path)
    t = _target(_run)
    data = b"crash" + b"x" * 200
    small = minimize(t, data, ws, check(t, data, ws).signature)
    assert small == b"crash"


def test_edits_stay_within_the_length_limit():
    seeds = [b"#fields\ta\tb\n1\t2\n", b"\xd4\xc3\xb2\xa1" + bytes(40)]
    for op in range(15):
        for pos in (0, 3, 10**6):
            out = apply(seeds[0], [(op, pos, 12345, b"abc")], seeds, (b"tok",), max_len=64)
            assert len(out) <= 64
