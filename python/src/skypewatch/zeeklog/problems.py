"""Strict and lenient reading: what happens to a bad line, or to a file that is not a log.

Strict (no ``Lenient`` given): the first problem raises ``LogReadError`` naming file and line.
Lenient: a bad line is counted, reported as ``file:line: problem`` and skipped, and reading
goes on; a file that cannot be read at all (missing, not a Zeek log, nothing but damage) is
held and reported when reading ends -- unless no file at all could be read, which raises one
``LogReadError`` (so a command fails with one line, not a page of warnings).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import one_line
from .format import LogReadError


def _stderr(message: str) -> None:
    print(f"skypewatch: {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Lenient:
    """Counts and reports bad lines instead of raising (``report`` gets ``file:line: problem``).

    At most ``shown`` problems are reported per file; the rest are counted and summed up by
    ``finish_file``."""

    report: Callable[[str], None] = _stderr
    progress: Callable[[Path, int, int, int], None] | None = None
    """Told (file, bytes of it read, its size, bytes of lines so far: more than read for gzip)
    after each block: for a progress line on long reads."""
    shown: int = 20
    bad_lines: int = 0
    files_read: int = 0
    unreadable: list[LogReadError] = field(default_factory=list)
    _per_file: Counter[Path] = field(default_factory=Counter)

    def line(self, path: Path, lineno: int | None, problem: str) -> None:
        self.bad_lines += 1
        self._per_file[path] += 1
        if self._per_file[path] <= self.shown:
            self.report(str(LogReadError(path, lineno, problem)))  # one line: an error's str

    def file(self, error: LogReadError) -> None:
        self.unreadable.append(error)

    def finish_file(self, path: Path) -> None:
        hidden = self._per_file[path] - self.shown
        if hidden > 0:
            self.report(
                one_line(
                    f"{path}: {hidden:,} more bad line(s) skipped (the first {self.shown} shown)"
                )
            )

    def done(self) -> None:
        """Reading has ended: report the files that could not be read, or raise if none could."""
        if self.unreadable and self.files_read == 0:
            first, more = self.unreadable[0], len(self.unreadable) - 1
            if more:
                raise LogReadError(
                    first.path, first.line, f"{first.problem} ({more} more unreadable)"
                )
            raise first
        self.report_unreadable()

    def report_unreadable(self) -> None:
        for err in self.unreadable:
            self.report(str(err))
        self.unreadable.clear()


def bad_line(lenient: Lenient | None, path: Path, lineno: int | None, problem: str) -> None:
    """Report (lenient) or raise (strict) one bad line."""
    if lenient is None:
        raise LogReadError(path, lineno, problem)
    lenient.line(path, lineno, problem)
