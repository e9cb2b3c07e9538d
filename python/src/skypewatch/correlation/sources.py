"""Offline inputs of the correlator: skype.log and conn.log files, after the fact.

Accepts Zeek TSV or JSON lines, gzip-compressed or not, single files, rotated sets in any
order, or directories of them.  A bad line is reported with its file and line number and the
rest of the file is still read; a truncated gzip yields what was readable and one message.
Zeek writes a line when a connection ends, so lines are nearly but not exactly in time order:
a bounded reorder buffer puts them in order of their timestamp, holding at most
``reorder_window`` seconds of records.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..skypelog import (
    CONFIDENCES,
    KNOWN_LOGS,
    PEER_ROLES,
    SKYPE_FIELDS,
    STAGES,
    SkypeRecord,
)
from ..zeeklog import Lenient, iter_rows, log_files
from ..zeeklog.format import shorten
from ..zeeklog.header import CONN_KEY_FIELDS
from .events import TcpEvent

T = TypeVar("T")


@dataclass(slots=True)
class SourceStats:
    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    records: int = 0
    tcp_sessions: int = 0


def expand(paths: Iterable[str | Path], stem: str) -> list[Path]:
    """Files named by the arguments; a directory contributes its ``stem*`` Zeek logs."""
    return log_files(paths, stem)


def read_rows(
    path: Path, lenient: Lenient, stats: SourceStats, expect: Mapping[str, str] | None = None
) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every good data line of a Zeek log, read by the one reader in
    lenient mode: bad lines are reported and skipped; a file that cannot be read is held by
    *lenient* (``Lenient.done`` reports it, or raises if no file at all could be read).
    *expect*: the declared types the caller relies on (a line under a header that declares
    them otherwise is bad)."""
    stats.files += 1
    before = lenient.bad_lines
    for item in iter_rows(path, lenient, expect, KNOWN_LOGS):  # JSON skype.log: its schema
        stats.lines += 1
        yield item
    stats.lines += lenient.bad_lines - before
    stats.bad_lines += lenient.bad_lines - before


def record_from_row(row: dict[str, Any]) -> SkypeRecord:
    """A skype.log row (already type-checked by the reader) as the correlator's record;
    KeyError for a missing field, ValueError for an unknown stage, role or confidence."""
    row = _required(row, SKYPE_REQUIRED)
    _known(row["confidence"], CONFIDENCES, "confidence")  # before from_row quotes it whole
    rec = SkypeRecord.from_row(row)
    _known(rec.stage, STAGES, "stage")
    _known(rec.peer_role, PEER_ROLES, "peer_role")
    return rec


def skype_records(path: Path, lenient: Lenient, stats: SourceStats) -> Iterator[SkypeRecord]:
    for rec in _converted(path, lenient, stats, SKYPE_TYPES, record_from_row, "skype.log"):
        stats.records += 1
        yield rec


def conn_sessions(path: Path, lenient: Lenient, stats: SourceStats) -> Iterator[TcpEvent]:
    """TCP connections that carried client payload, from a conn.log."""
    for ev in _converted(path, lenient, stats, CONN_TYPES, _tcp_session, "conn.log"):
        if ev is not None:
            stats.tcp_sessions += 1
            yield ev


def _tcp_session(row: dict[str, Any]) -> TcpEvent | None:
    if row.get("proto") != "tcp" or not _positive(row.get("orig_bytes")):
        return None
    row = _required(row, CONN_REQUIRED)
    return TcpEvent(
        row["ts"], row["uid"], row["id.orig_h"], row["id.orig_p"],
        row["id.resp_h"], row["id.resp_p"],
    )  # fmt: skip


def _converted(
    path: Path,
    lenient: Lenient,
    stats: SourceStats,
    types: dict[str, str],
    convert: Callable[[dict[str, Any]], T],
    log: str,
) -> Iterator[T]:
    """Each row of *path* through *convert*; a row it refuses is a reported bad line."""
    for lineno, row in read_rows(path, lenient, stats, types):
        try:
            item = convert(row)
        except (KeyError, ValueError, TypeError) as exc:
            stats.bad_lines += 1
            what = f"missing field {exc}" if isinstance(exc, KeyError) else _cut(str(exc))
            lenient.line(path, lineno, f"not a {log} line ({what})")
            continue
        yield item


CONN_REQUIRED = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
SKYPE_REQUIRED = (*CONN_REQUIRED, "stage", "client", "peer", "peer_role", "confidence")
# The declared types the correlator relies on (the reader checks each value against its
# declared type, so a header that calls ts a string or a port a count would let through
# values the engine cannot use: every line under such a header is bad).
SKYPE_TYPES = dict(SKYPE_FIELDS)
CONN_TYPES = {**dict(CONN_KEY_FIELDS), "proto": "enum", "orig_bytes": "count"}


def _required(row: dict, names: tuple[str, ...]) -> dict:
    """The row, if every field the correlator needs is there and set (the reader has
    already checked each value's type)."""
    for name in names:
        if row.get(name) is None:
            raise KeyError(name)
    return row


def _cut(text: str, limit: int = 200) -> str:
    """A problem's text for a report line: a hostile value must not make it a page long."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _known(value: object, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {shorten(value)}")


def _positive(v: Any) -> bool:
    return v is not None and v > 0


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
    """The first data line's timestamp (for ordering rotated files); inf if none.  A FIFO or
    device (``<(zcat ...)``, /dev/stdin) can be read only once: -inf, keeping its place
    first, unread here."""
    try:
        if not path.is_file():
            return float("-inf")
    except OSError:
        pass  # missing or unreadable: reported when it is read
    stats = SourceStats()
    for _, row in read_rows(path, Lenient(report=lambda _msg: None), stats):
        try:
            return float(row["ts"])
        except (KeyError, ValueError, TypeError):
            continue
    return float("inf")
