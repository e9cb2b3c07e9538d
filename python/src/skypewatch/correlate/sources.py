"""Offline inputs of the correlator: skype.log and conn.log files, after the fact.

Accepts Zeek TSV or JSON lines, gzip-compressed or not, single files, rotated sets in any
order, or directories of them.  A bad line is reported with its file and line number and the
rest of the file is still read; a truncated gzip yields what was readable and one message.
Zeek writes a line when a connection ends, so lines are nearly but not exactly in time order:
a bounded reorder buffer puts them in order of their timestamp, holding at most
``reorder_window`` seconds of records.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import SkypeRecord
from ..zeeklog import UNSET, parse_value
from .events import TcpEvent

Report = Callable[[str], None]  # receives "file:line: problem"


@dataclass(slots=True)
class SourceStats:
    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    records: int = 0
    tcp_sessions: int = 0


def expand(paths: Iterable[str | Path], stem: str) -> list[Path]:
    """Files named by the arguments; a directory contributes its ``stem*.log*`` files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(q for q in p.iterdir() if q.name.startswith(stem) and ".log" in q.name)
            )
        else:
            out.append(p)
    return out


def _lines(path: Path, report: Report) -> Iterator[tuple[int, str]]:
    opener = gzip.open if _is_gzip(path) else open
    lineno = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="\n") as fh:
            for lineno, line in enumerate(fh, 1):
                yield lineno, line.rstrip("\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        report(
            f"{path}:{lineno + 1}: compressed data ends early or is corrupt ({exc});"
            f" the {lineno} lines before it were read"
        )
    except OSError as exc:
        report(f"{path}: cannot read: {exc.strerror or exc}")


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def read_rows(path: Path, report: Report, stats: SourceStats) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every data line of a Zeek log; bad lines reported, skipped."""
    stats.files += 1
    fields: list[str] = []
    types: list[str] = []
    for lineno, line in _lines(path, report):
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line.partition("\t")
            if key == "#fields":
                fields = value.split("\t")
            elif key == "#types":
                types = value.split("\t")
            continue
        stats.lines += 1
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                stats.bad_lines += 1
                report(f"{path}:{lineno}: not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                stats.bad_lines += 1
                report(f"{path}:{lineno}: JSON line is not an object")
                continue
            yield lineno, row
            continue
        if not fields or len(types) != len(fields):
            stats.bad_lines += 1
            report(f"{path}:{lineno}: data before a #fields/#types header")
            continue
        cells = line.split("\t")
        if len(cells) != len(fields):
            stats.bad_lines += 1
            report(f"{path}:{lineno}: {len(cells)} columns, the header has {len(fields)}")
            continue
        try:
            yield (
                lineno,
                {f: parse_value(t, c) for f, t, c in zip(fields, types, cells, strict=True)},
            )
        except ValueError as exc:
            stats.bad_lines += 1
            report(f"{path}:{lineno}: {exc}")


def skype_records(path: Path, report: Report, stats: SourceStats) -> Iterator[SkypeRecord]:
    for lineno, row in read_rows(path, report, stats):
        try:
            rec = SkypeRecord.from_row(row)
        except (KeyError, ValueError, TypeError) as exc:
            stats.bad_lines += 1
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            report(f"{path}:{lineno}: not a skype.log line ({what})")
            continue
        stats.records += 1
        yield rec


def conn_sessions(path: Path, report: Report, stats: SourceStats) -> Iterator[TcpEvent]:
    """TCP connections that carried client payload, from a conn.log."""
    for lineno, row in read_rows(path, report, stats):
        try:
            if row.get("proto") != "tcp" or not _positive(row.get("orig_bytes")):
                continue
            ev = TcpEvent(
                float(row["ts"]),
                str(row["uid"]),
                str(row["id.orig_h"]),
                int(row["id.orig_p"]),
                str(row["id.resp_h"]),
                int(row["id.resp_p"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            stats.bad_lines += 1
            report(f"{path}:{lineno}: not a conn.log line ({exc})")
            continue
        stats.tcp_sessions += 1
        yield ev


def _positive(v: Any) -> bool:
    return v not in (None, UNSET) and float(v) > 0


def in_time_order(streams: list[Iterator[Any]], window: float) -> Iterator[Any]:
    """Merge streams of nearly time-ordered items (``.ts``) into time order, holding at most
    *window* seconds of items: anything later than that is released in arrival order."""
    heap: list[tuple[float, int, Any]] = []
    seq = itertools.count()
    newest = float("-inf")
    for item in heapq.merge(*streams, key=lambda x: x.ts):
        newest = max(newest, item.ts)
        heapq.heappush(heap, (item.ts, next(seq), item))
        while heap and heap[0][0] < newest - window:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def first_ts(path: Path) -> float:
    """The first data line's timestamp (for ordering rotated files); inf if none."""
    stats = SourceStats()
    for _, row in read_rows(path, lambda _msg: None, stats):
        try:
            return float(row["ts"])
        except (KeyError, ValueError, TypeError):
            continue
    return float("inf")
