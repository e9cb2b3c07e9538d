"""What every fuzz target shares: the contract check, the per-input deadline, the findings.

A target is a function over one input's bytes that drives a parser and returns normally when
the parser kept its contract: it returned, or raised the error type the project documents for
bad input (``SkypewatchError`` and its subclasses, ``CodecError``; for the command line an
exit code with one line on stderr).  Anything else -- another exception, a broken promise
about the result (``Violation``), or running past the target's deadline (``Hang``) -- is a
finding.  ``check`` classifies one input; ``Findings`` keeps the first input of each distinct
finding on disk, keyed by where it happened, so a long run reports how many *different* bugs
it hit rather than how many inputs hit the same one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared"))
TRACES = REPO / "testing" / "btest" / "Traces"
FINDINGS = Path(__file__).resolve().parent / "findings"
SOURCE_ROOT = str(REPO / "python")


class Hang(BaseException):
    """The input ran past its deadline.  A BaseException, so that the code under test cannot
    swallow it with ``except Exception``."""


class Violation(AssertionError):
    """The parser returned or failed, but broke a promise: *summary* names the promise (it is
    the finding's identity), *detail* shows this input's case."""

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(f"{summary}: {detail}" if detail else summary)
        self.summary = summary


@dataclass(slots=True)
class Workspace:
    """Scratch space for one fuzzing process (in memory where the machine has /dev/shm) and
    the seed material the targets draw on."""

    root: Path
    shared: Path | None = SHARED / "pcaps" if (SHARED / "pcaps").is_dir() else None
    traces: Path = TRACES
    use_zeek: bool = False  # conn.log seeds from a real Zeek run (long runs, where it exists)
    cache: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(cls, **kw: object) -> Workspace:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        return cls(Path(tempfile.mkdtemp(prefix="skypewatch-fuzz-", dir=base)), **kw)  # type: ignore[arg-type]

    def path(self, name: str) -> Path:
        return self.root / name

    def fresh_dir(self, name: str) -> Path:
        """An empty directory, the same one for every input (cleared, not re-created)."""
        d = self.root / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def remember(self, key: str, make: Callable[[], object]) -> object:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    run: Callable[[bytes, Workspace], None]
    seeds: Callable[[Workspace], list[bytes]]
    deadline: float = 5.0
    """Seconds one input may take (the seeds take a few milliseconds)."""
    max_len: int = 16 * 1024
    dictionary: tuple[bytes, ...] = ()
    """Tokens the mutators insert: numbers, keywords and separators of the format."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "ok", "crash", "hang"
    signature: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def _on_alarm(_signum: int, _frame: object) -> None:
    raise Hang()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread once *seconds* of wall time have passed.  Python code is
    interrupted between bytecodes; a single C call that never returns is the long-run
    driver's watchdog's job (faulthandler)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _where(tb: traceback.StackSummary) -> str:
    """The innermost frame in the project's code (else the innermost frame): the place a
    finding is known by."""
    for fr in reversed(tb):
        if fr.filename.startswith(SOURCE_ROOT) and "/fuzz/" not in fr.filename:
            return f"{os.path.relpath(fr.filename, SOURCE_ROOT)}:{fr.lineno} in {fr.name}"
    fr = tb[-1] if tb else None
    return f"{fr.filename}:{fr.lineno} in {fr.name}" if fr else "?"


def check(target: Target, data: bytes, ws: Workspace) -> Outcome:
    """Run one input through *target* under its deadline and classify what happened."""
    try:
        with deadline(target.deadline):
            target.run(data, ws)
    except Hang as exc:
        stack = traceback.extract_tb(exc.__traceback__)
        return Outcome(
            "hang",
            f"hang (> {target.deadline:g} s) at {_where(stack)}",
            "".join(traceback.format_exception(exc)),
        )
    except Violation as exc:
        return Outcome(
            "crash", f"violation: {exc.summary}", "".join(traceback.format_exception(exc))
        )
    except Exception as exc:
        stack = traceback.extract_tb(exc.__traceback__)
        return Outcome(
            "crash",
            f"{type(exc).__name__} at {_where(stack)}",
            "".join(traceback.format_exception(exc)),
        )
    return Outcome("ok")


@dataclass(slots=True)
class Findings:
    """The first input of every distinct finding of one target, saved under *root*/<target>/
    as ``<kind>-<hash of the signature>.bin`` with a ``.txt`` beside it (signature, count,
    traceback)."""

    root: Path
    target: str
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.root / self.target

    def add(self, outcome: Outcome, data: bytes) -> bool:
        """Record *outcome*; True if it is a finding not seen before in this run."""
        new = outcome.signature not in self.seen
        self.seen[outcome.signature] = self.seen.get(outcome.signature, 0) + 1
        if new:
            self.directory.mkdir(parents=True, exist_ok=True)
            stem = self.directory / f"{outcome.kind}-{_digest(outcome.signature)}"
            stem.with_suffix(".bin").write_bytes(data)
            stem.with_suffix(".txt").write_text(
                f"{outcome.signature}\n\n{outcome.detail}", encoding="utf-8"
            )
        return new

    def write_counts(self) -> None:
        if not self.seen:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [f"{n}\t{kind}" for kind, n in sorted(self.seen.items(), key=lambda kv: -kv[1])]
        (self.directory / "counts.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def minimize(target: Target, data: bytes, ws: Workspace, signature: str, rounds: int = 8) -> bytes:
    """A smaller input with the same finding: chunks removed while it still reproduces."""

    def same(candidate: bytes) -> bool:
        out = check(target, candidate, ws)
        return not out.ok and out.signature == signature

    best = data
    for _ in range(rounds):
        shrunk = False
        chunk = max(len(best) // 2, 1)
        while chunk >= 1:
            pos = 0
            while pos < len(best):
                candidate = best[:pos] + best[pos + chunk :]
                if candidate != best and same(candidate):
                    best, shrunk = candidate, True
                else:
                    pos += chunk
            chunk //= 2
        if not shrunk:
            break
    return best
