"""The per-line reader: every line checked against its log's declared types, one by one.

It is the authority on what a good line is: the correlator reads through it, and the bulk
reader hands it every block it cannot vouch for.  A row is a dict of the declared fields in
their Python form (``values.py``); a bad line is raised (strict) or reported and skipped
(lenient, see ``problems.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .format import Dialect
from .header import KnownLogs, LogHeader
from .problems import Lenient, bad_line
from .source import open_source
from .values import json_checker, tsv_parser

Row = dict[str, Any]


class _BigInt(str):
    """A JSON integer longer than any Zeek type holds, kept as its digits: refused wherever a
    value is checked (it is neither an int nor a plain str), ignored in undeclared fields."""


def _parse_int(digits: str) -> int | str:
    return int(digits) if len(digits) <= 20 else _BigInt(digits)


_DECODER = json.JSONDecoder(parse_int=_parse_int)


def json_object(line: str) -> dict[str, Any]:
    """One JSON line; ValueError (with the reason) unless it is one JSON object."""
    try:
        obj = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise ValueError("JSON line is not an object")
    return obj


class LineParser:
    """Parses the data lines of one log, following its (possibly redefined) header.

    *expect* (field -> Zeek type): the types a reader relies on.  While the header declares
    one of these fields with another type, every data line is refused: a log that calls its
    ``ts`` a string, or its ports counts, would hand the reader values it cannot use."""

    def __init__(self, header: LogHeader, expect: Mapping[str, str] | None = None) -> None:
        self.header = header
        self.expect = expect or {}
        self._key: tuple[tuple[str, ...], tuple[str, ...], Dialect] | None = None
        self._columns: list[tuple[str, Callable[[Any], Any]]] = []
        self._mismatch: str | None = None

    def _compile(self) -> list[tuple[str, Callable[[Any], Any]]]:
        h = self.header
        key = (tuple(h.fields), tuple(h.types), h.dialect)
        if key != self._key:
            pairs = zip(h.fields, h.types, strict=True)
            if h.json:
                self._columns = [(n, json_checker(t)) for n, t in pairs]
            else:
                self._columns = [(n, tsv_parser(t, h.dialect)) for n, t in pairs]
            self._key = key
            self._mismatch = h.mismatch(self.expect)
        if self._mismatch is not None:
            raise ValueError(self._mismatch)
        return self._columns

    def parse(self, line: str) -> Row | None:
        """The row of one data line (None for a ``#`` line); ValueError says what is wrong."""
        h = self.header
        if h.json:
            if line.isspace():  # blank to JSON (and to Arrow's parser)
                return None
            obj = json_object(line)
            row = {}
            for name, check in self._compile():
                try:
                    row[name] = check(obj.get(name))
                except (ValueError, UnicodeError) as exc:
                    raise ValueError(f"column {name!r}: {_reason(exc)}") from None
            return row
        if line[0] == "#":
            h.meta_line(line)
            return None
        if not h.ready:
            raise ValueError(h.unusable())
        columns = self._compile()
        cells = line.split(h.dialect.separator)
        if len(cells) != len(columns):
            raise ValueError(f"{len(cells)} columns, the header has {len(columns)}")
        row = {}
        for (name, parse), cell in zip(columns, cells, strict=True):
            try:
                row[name] = parse(cell)
            except ValueError as exc:
                raise ValueError(f"column {name!r}: {exc}") from None
        return row


def _reason(exc: Exception) -> str:
    return "text that is not valid Unicode" if isinstance(exc, UnicodeError) else str(exc)


# A run of non-empty lines.  Empty lines are skipped by the regular expression engine, not
# one by one in Python: a log of millions of empty lines (a 67 KB gzip holds 64 MiB of them)
# costs what its bytes cost to scan, with the line numbers of the rest kept.
_LINE_RUN = re.compile(rb"[^\n]+(?:\n[^\n]+)*")


def block_rows(
    parser: LineParser, path: Path, lineno: int, block: bytes, lenient: Lenient | None
) -> Iterator[tuple[int, Row]]:
    """(line number, row) for the good lines of one block; bad ones reported or raised."""
    if b"\n\n" not in block and not block.startswith(b"\n"):
        yield from _run_rows(parser, path, lineno, block, lenient)
        return
    pos = 0
    for m in _LINE_RUN.finditer(block):
        lineno += block.count(b"\n", pos, m.start())
        pos = m.start()
        yield from _run_rows(parser, path, lineno, block[m.start() : m.end() + 1], lenient)


def _run_rows(
    parser: LineParser, path: Path, lineno: int, block: bytes, lenient: Lenient | None
) -> Iterator[tuple[int, Row]]:
    try:
        lines = block.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = None
    raws: Sequence[bytes | str] = block.split(b"\n") if lines is None else lines
    for i, raw in enumerate(raws[:-1]):  # a block ends with a line break
        if not raw:
            continue
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_line(lenient, path, lineno + i, f"not UTF-8 text (byte {exc.start + 1})")
                continue
        else:
            line = raw
        if line[-1] == "\r":  # a CRLF line: Arrow's parsers take CR LF as one line break
            line = line[:-1]
            if not line:
                continue
        try:
            row = parser.parse(line)
        except ValueError as exc:
            bad_line(lenient, path, lineno + i, str(exc))
            continue
        if row is not None:
            yield lineno + i, row


def iter_rows(
    path: str | Path,
    lenient: Lenient | None = None,
    expect: Mapping[str, str] | None = None,
    known: KnownLogs | None = None,
) -> Iterator[tuple[int, Row]]:
    """(line number, row) for every good data line of one Zeek log (TSV or JSON lines,
    gzip or not).  Strict without *lenient*; a file that is not a log raises LogReadError
    (strict) or is noted in *lenient* and yields nothing.  *expect*: see ``LineParser``; a
    header that declares one of its columns with another type refuses the whole file.
    *known*: the kinds of log known (``header.LogKind``), for typing JSON logs."""
    path = Path(path)
    # a header declaring an expected column with another type refuses the file in one line
    src = open_source(path, lenient, (lambda _h: expect) if expect else None, known)
    if src is None:
        return
    with src:
        parser = LineParser(src.header, expect)
        for lineno, block in src.data_blocks():
            yield from block_rows(parser, path, lineno, block, lenient)
    if lenient is not None:
        lenient.finish_file(path)


def read_log(
    path: str | Path, lenient: Lenient | None = None, known: KnownLogs | None = None
) -> tuple[LogHeader, list[Row]]:
    """A whole log as (header, rows); strict unless *lenient* is given."""
    path = Path(path)
    src = open_source(path, lenient, None, known)
    if src is None:
        return LogHeader(), []
    with src:
        parser = LineParser(src.header)
        rows = [
            row
            for lineno, block in src.data_blocks()
            for _, row in block_rows(parser, path, lineno, block, lenient)
        ]
    if lenient is not None:
        lenient.finish_file(path)
    return src.header, rows
