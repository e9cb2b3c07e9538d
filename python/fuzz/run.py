"""Long fuzzing runs: ``python -m fuzz.run --seconds N [TARGET...]`` (``make fuzz SECONDS=N``).

Each target runs in a process of its own, ``--jobs`` at a time, for N seconds: under atheris
(libFuzzer, coverage-guided) where it is installed, else a hypothesis loop driven by the
clock.  Per target it prints the inputs run, the distinct findings, the coverage atheris
reports, and where the findings are: ``fuzz/findings/<target>/`` (git-ignored) holds the
first input of each distinct finding (``.bin``) with its traceback (``.txt``), and
``summary.json``.  A process that dies or stops answering (a C call that never returns,
memory exhausted) is recorded as a finding with the input it was on, and restarted for the
rest of its time.

``python -m fuzz.run --replay TARGET FILE [--minimize]`` runs one saved input again (and
writes a smaller one with the same finding to FILE.min).
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import NAMES, load
from .harness import FINDINGS, Findings, Outcome, Workspace, check, minimize

WATCHDOG = 3.0  # a process silent for this many deadlines is hung in C code: killed


@dataclass(slots=True)
class Summary:
    target: str
    engine: str
    seconds: float = 0.0
    iterations: int = 0
    findings: dict[str, int] = field(default_factory=dict)  # signature -> inputs that hit it
    coverage: int | None = None  # libFuzzer's "cov:" (edges of instrumented code)
    features: int | None = None
    corpus: int | None = None
    restarts: int = 0

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "summary.json").write_text(json.dumps(asdict(self), indent=1) + "\n")


def atheris_available() -> bool:
    try:
        importlib.import_module("atheris")
    except ImportError:
        return False
    return True


# -- the child: one target, one engine -----------------------------------------------------


class _Child:
    def __init__(self, name: str, engine: str, seconds: float, scratch: Path) -> None:
        self.name, self.engine, self.seconds = name, engine, seconds
        self.scratch = scratch
        self.current = scratch / "current.bin"
        self.target = load(name)
        self.ws = Workspace.create(use_zeek=True)
        self.findings = Findings(FINDINGS, name)
        self.summary = Summary(name, engine)
        self.started = time.monotonic()
        self._saved = 0.0
        faulthandler.enable()

    def one(self, data: bytes) -> None:
        self.current.write_bytes(data)  # the parent's watchdog reads its age
        out = check(self.target, data, self.ws)
        self.summary.iterations += 1
        if not out.ok:
            self.findings.add(out, data)
        now = time.monotonic()
        if now - self._saved > 5.0:
            self.save(now)

    def save(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._saved = now
        self.summary.seconds = round(now - self.started, 1)
        self.summary.findings = dict(self.findings.seen)
        self.summary.save(self.scratch)

    def seeds(self) -> list[bytes]:
        return self.target.seeds(self.ws)


def _child_hypothesis(child: _Child) -> None:
    from hypothesis import HealthCheck, Phase, given, settings

    from .mutate import inputs

    seeds = child.seeds()
    for s in seeds:
        child.one(s)
    strategy = inputs(seeds, child.target.dictionary, child.target.max_len)
    end = child.started + child.seconds
    per_input = 0.01
    while (left := end - time.monotonic()) > 0:
        batch = int(max(1, min(2000, left / per_input)))

        def body(data: bytes) -> None:
            child.one(data)

        before, t0 = child.summary.iterations, time.monotonic()
        given(strategy)(
            settings(
                max_examples=batch,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(body)
        )()
        done = child.summary.iterations - before
        per_input = max((time.monotonic() - t0) / max(done, 1), 1e-4)
    child.save()


def _libfuzzer_dict(tokens: tuple[bytes, ...], path: Path) -> None:
    def esc(b: bytes) -> str:
        return "".join(chr(c) if 0x20 <= c < 0x7F and c not in b'"\\' else f"\\x{c:02x}" for c in b)

    path.write_text("".join(f'"{esc(t)}"\n' for t in tokens))


def _instrument() -> None:
    """Coverage comes from instrumented bytecode: every skypewatch module is imported inside
    atheris' block (the targets' lazy imports included), before any target loads them."""
    import atheris

    import skypewatch

    with atheris.instrument_imports(include=["skypewatch"]):
        for mod in pkgutil.walk_packages(skypewatch.__path__, "skypewatch."):
            if mod.name != "skypewatch.__main__":
                importlib.import_module(mod.name)


def _child_atheris(child: _Child) -> None:
    import atheris

    corpus = FINDINGS / child.name / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    seed_dir = child.scratch / "seeds"
    seed_dir.mkdir(exist_ok=True)
    for i, s in enumerate(child.seeds()):
        (seed_dir / f"seed-{i:03d}").write_bytes(s)
    argv = [
        sys.argv[0],
        f"-max_total_time={max(int(child.seconds), 1)}",
        f"-max_len={child.target.max_len}",
        "-handle_alrm=0",  # the per-input deadline is the harness's (SIGALRM)
        "-timeout=0",
        "-rss_limit_mb=3072",
        "-print_final_stats=1",
        f"-artifact_prefix={child.scratch}/",
    ]
    if child.target.dictionary:
        _libfuzzer_dict(child.target.dictionary, child.scratch / "tokens.dict")
        argv.append(f"-dict={child.scratch / 'tokens.dict'}")
    argv += [str(corpus), str(seed_dir)]
    atheris.Setup(argv, lambda data: child.one(bytes(data)))
    atheris.Fuzz()  # exits the process when the time is up


def child_main(name: str, engine: str, seconds: float, scratch: Path) -> None:
    if engine == "atheris":
        _instrument()
    child = _Child(name, engine, seconds, scratch)
    try:
        (_child_atheris if engine == "atheris" else _child_hypothesis)(child)
    finally:
        child.save()


# -- the parent: processes, restarts, the table --------------------------------------------

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STATUS = re.compile(r"cov: (\d+) ft: (\d+)(?: corp: (\d+))?")


@dataclass(slots=True)
class _Job:
    name: str
    engine: str
    seconds: float
    scratch: Path
    log: Path
    started: float = 0.0
    proc: subprocess.Popen | None = None
    total: Summary | None = None
    logfile: object = None
    watchdog_fired: bool = False

    def start(self, seconds: float) -> None:
        self.logfile = open(self.log, "a")  # noqa: SIM115 - closed in finish()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fuzz.run", "--child", self.name, "--engine", self.engine,
             "--seconds", str(seconds), "--scratch", str(self.scratch)],
            cwd=Path(__file__).resolve().parents[1],
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stuck(self) -> bool:
        """On one input for longer than the harness's deadline allows: stuck in a C call."""
        current = self.scratch / "current.bin"
        limit = load(self.name).deadline * WATCHDOG
        try:
            age = time.time() - current.stat().st_mtime
        except OSError:
            return False
        if age > limit and time.monotonic() - self.started > limit:
            self.watchdog_fired = True
            return True
        return False

    def finish(self, deadline_end: float) -> bool:
        """Account for a finished process; True if it must be restarted."""
        assert self.proc is not None
        code = self.proc.returncode
        self.logfile.close()  # type: ignore[attr-defined]
        part = _read_summary(self.scratch, self.name, self.engine)
        text = self.log.read_text(errors="replace")
        for m in _DONE.finditer(text):
            part.iterations = max(part.iterations, int(m.group(1)))
        status = _STATUS.findall(text)
        if status:
            cov, ft, corp = status[-1]
            part.coverage, part.features = int(cov), int(ft)
            part.corpus = int(corp) if corp else part.corpus
        total = self.total or Summary(self.name, self.engine)
        total.iterations += part.iterations
        total.seconds += time.monotonic() - self.started
        for sig, n in part.findings.items():
            total.findings[sig] = total.findings.get(sig, 0) + n
        total.coverage = part.coverage if part.coverage is not None else total.coverage
        total.features = part.features if part.features is not None else total.features
        total.corpus = part.corpus if part.corpus is not None else total.corpus
        self.total = total
        left = deadline_end - time.monotonic()
        died = code not in (0, None)
        if died:
            self._record_death(code, text)
        return died and left > 5

    def _record_death(self, code: int, log: str) -> None:
        current = self.scratch / "current.bin"
        data = current.read_bytes() if current.exists() else b""
        tail = log[-3000:]
        watchdog, self.watchdog_fired = self.watchdog_fired, False
        kind = "hang" if watchdog else "crash"
        where = "the watchdog fired (stuck in one call)" if watchdog else f"exit code {code}"
        sig = f"process died: {where}"
        findings = Findings(FINDINGS, self.name, dict.fromkeys(self.total.findings, 1))  # type: ignore[union-attr]
        findings.add(Outcome(kind, sig, tail), data)
        self.total.findings[sig] = self.total.findings.get(sig, 0) + 1  # type: ignore[union-attr]
        self.total.restarts += 1  # type: ignore[union-attr]


def _read_summary(scratch: Path, name: str, engine: str) -> Summary:
    p = scratch / "summary.json"
    if not p.exists():
        return Summary(name, engine)
    d = json.loads(p.read_text())
    p.unlink()
    return Summary(**d)


def parent_main(names: list[str], seconds: float, engine: str, jobs: int) -> int:
    FINDINGS.mkdir(parents=True, exist_ok=True)
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    scratch_root = Path(tempfile.mkdtemp(prefix="skypewatch-fuzz-run-", dir=shm))
    queue = [_Job(n, engine, seconds, scratch_root / n, FINDINGS / n / "run.log") for n in names]
    for job in queue:
        job.scratch.mkdir(parents=True)
        job.log.parent.mkdir(parents=True, exist_ok=True)
        job.log.write_text("")
    print(
        f"fuzzing {len(names)} target(s) for {seconds:g} s each with {engine},"
        f" {jobs} at a time; findings under {FINDINGS}",
        flush=True,
    )
    running: list[tuple[_Job, float]] = []
    done: list[_Job] = []
    pending = list(queue)
    while pending or running:
        while pending and len(running) < jobs:
            job = pending.pop(0)
            job.start(seconds)
            running.append((job, time.monotonic() + seconds))
        time.sleep(1.0)
        for job, end in list(running):
            assert job.proc is not None
            if job.proc.poll() is None:
                if time.monotonic() > end + 120 or job.stuck():
                    job.proc.kill()
                continue
            running.remove((job, end))
            if job.finish(end):
                job.start(end - time.monotonic())
                running.append((job, end))
            else:
                done.append(job)
                _report(job)
    shutil.rmtree(scratch_root, ignore_errors=True)
    print("\n" + _table([j.total for j in done if j.total is not None]))
    return 0


def _report(job: _Job) -> None:
    s = job.total
    assert s is not None
    s.seconds = round(s.seconds, 1)
    s.save(FINDINGS / job.name)
    cov = f", coverage {s.coverage} edges / {s.features} features" if s.coverage else ""
    print(
        f"{s.target}: {s.iterations:,} inputs in {s.seconds:.0f} s ({s.engine}{cov}),"
        f" {len(s.findings)} distinct finding(s)"
        + (f" -> {FINDINGS / s.target}" if s.findings else ""),
        flush=True,
    )
    for sig, n in sorted(s.findings.items(), key=lambda kv: -kv[1]):
        print(f"    {n:>7,}x {sig}", flush=True)


def _table(rows: list[Summary]) -> str:
    lines = ["| target | engine | seconds | inputs | distinct findings | coverage (edges) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for s in rows:
        cov = str(s.coverage) if s.coverage is not None else "-"
        lines.append(
            f"| {s.target} | {s.engine} | {s.seconds:.0f} | {s.iterations:,} |"
            f" {len(s.findings)} | {cov} |"
        )
    return "\n".join(lines)


def replay(name: str, path: Path, shrink: bool) -> int:
    target = load(name)
    ws = Workspace.create()
    try:
        data = path.read_bytes()
        out = check(target, data, ws)
        print(f"{name} {path}: {out.kind} {out.signature}")
        if out.detail:
            print(out.detail)
        if shrink and not out.ok:
            small = minimize(target, data, ws, out.signature)
            path.with_name(path.name + ".min").write_bytes(small)
            print(f"minimized {len(data)} -> {len(small)} bytes: {path}.min\n{small!r}")
        return 0 if out.ok else 1
    finally:
        ws.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "targets", nargs="*", metavar="TARGET", help=f"default: all ({', '.join(NAMES)})"
    )
    p.add_argument("--seconds", type=float, default=60.0, help="per target (default: 60)")
    p.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    p.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"))
    p.add_argument("--minimize", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    engine = a.engine
    if engine == "auto":
        engine = "atheris" if atheris_available() else "hypothesis"
    if a.child:
        child_main(a.child, engine, a.seconds, a.scratch)
        return 0
    if a.replay:
        return replay(a.replay[0], Path(a.replay[1]), a.minimize)
    unknown = [t for t in a.targets if t not in NAMES]
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if engine == "atheris" and not atheris_available():
        p.error("atheris is not installed (pip install atheris; Linux x86-64 wheels only)")
    return parent_main(a.targets or list(NAMES), a.seconds, engine, a.jobs)


if __name__ == "__main__":
    sys.exit(main())
