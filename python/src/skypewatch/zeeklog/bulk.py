"""The bulk reader: a log's blocks through Arrow's CSV and JSON parsers, column by column.

Each block (``files.blocks``: about 8 MiB of whole lines) is parsed by ``pyarrow.csv`` (TSV,
every cell as text, then checked and converted by ``columns.py``) or ``pyarrow.json`` (JSON
lines, against the log's schema, then range-checked).  A block it cannot vouch for -- a cell
or value that breaks a rule, bytes that are not UTF-8, a ``#`` line among the data, anything
Arrow refuses -- goes through the per-line reader (``rows.py``), which keeps the good lines and
reports or raises the bad ones by file and line.  So both readers accept exactly the same
lines; the bulk one is only faster on clean ones.

Tables come out typed for analysts: ``time`` as timestamp[ns, UTC] exact to the microsecond,
``interval`` duration[ns], ``count`` uint64, ``int`` int64, ``port`` uint16, ``double``
float64, ``bool``, strings (escapes undone), containers as lists.  Each table's schema
metadata ``zeek_types`` holds the Zeek types of its columns.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson

from .columns import ARROW_TYPES, Column, arrow_type, as_text, convert
from .format import Dialect, LogReadError, inner_type, is_container
from .header import KnownLogs, LogHeader
from .problems import Lenient
from .rows import LineParser, block_rows
from .source import Expect, open_source
from .values import LATEST, LIMITS, PATTERNS


@functools.lru_cache(maxsize=8)
def _tsv_parse(separator: str) -> pcsv.ParseOptions:
    return pcsv.ParseOptions(
        delimiter=separator,
        quote_char=False,
        double_quote=False,
        escape_char=False,
        ignore_empty_lines=True,
    )


_JSON_CHUNK = 2 << 20  # a longer line makes Arrow refuse the block: the per-line reader reads it
# A line (after the first) that does not begin with an object, or is blank.  Arrow takes any
# JSON value as a row (a line `null` becomes a row of nulls, `{..} {..}` two rows) where the
# per-line reader and Zeek see one bad line, and pyarrow 26's JSON reader crashes the process
# (SIGSEGV) on a block whose first value is `null`: such blocks never reach it.  (A search
# anchored on the newline: a multi-line `^` costs ten times as much.)
_NOT_AN_OBJECT_LINE = re.compile(rb"\n[^{]")
_EMPTY_LINES = re.compile(rb"\n\n+")
_MAX_EMPTY_RUNS = 4  # runs of empty lines among the '#' lines ending a block, skipped in bulk


def iter_tables(
    path: str | Path,
    lenient: Lenient | None = None,
    expect: Expect | None = None,
    known: KnownLogs | None = None,
) -> Iterator[tuple[LogHeader, pa.Table]]:
    """(header, table) per block of one log; at least one table (empty for a log without
    data).  Strict unless *lenient* is given; see ``problems.py``.  *expect*: the types the
    header must declare (see ``LogSource``); a log that redefines its header part-way to
    other types has those lines refused.  *known*: the kinds of log known
    (``header.LogKind``), for typing JSON logs.

    Two blocks are parsed at once on worker threads (Arrow releases the GIL); results are
    taken in file order, and the per-line reader and header changes stay on this thread."""
    path = Path(path)
    src = open_source(path, lenient, expect, known)
    if src is None:
        return
    with src, ThreadPoolExecutor(max_workers=2) as pool:
        h = src.header
        parser = LineParser(h, expect(h) if expect else None)
        blocks = src.data_blocks()
        ahead: deque[tuple[int, bytes, Shape, Future]] = deque()
        iso = False  # JSON times as ISO 8601 text (Zeek's json_timestamps), not numbers
        yielded = False
        while True:
            while len(ahead) < PREFETCH and (nxt := next(blocks, None)) is not None:
                shape = _shape(h)
                ahead.append((*nxt, shape, pool.submit(_fast, shape, nxt[1], iso)))
            if not ahead:
                break
            lineno, block, shape, job = ahead.popleft()
            table, tail, iso = job.result() if shape == _shape(h) else _fast(_shape(h), block, iso)
            if table is not None and h.mismatch(parser.expect) is not None:
                table = None  # redefined to types the reader cannot use: refused line by line
            if table is None:
                for fields, types, rows in _rows_per_header(parser, path, lineno, block, lenient):
                    yielded = True
                    yield h, from_rows(fields, types, rows)
                continue
            for line in tail:
                h.meta_line(line)
            yielded = True
            yield h, table
        if not yielded:
            yield h, from_rows(h.fields, h.types, [])
    if lenient is not None:
        lenient.finish_file(path)


PREFETCH = 3
Shape = tuple[bool, tuple[str, ...], tuple[str, ...], Dialect]  # json, fields, types, options


def _shape(h: LogHeader) -> Shape:
    return h.json, tuple(h.fields), tuple(h.types), h.dialect


def _fast(shape: Shape, block: bytes, iso: bool) -> tuple[pa.Table | None, list[str], bool]:
    """(table or None, trailing ``#`` lines, ISO times) of one block; pure, for the workers."""
    json, fields, types, dialect = shape
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        # Arrow's parsers end a line at a lone CR too; lines end at LF only (a CRLF line's CR
        # is dropped), so such a block is the per-line reader's
        return None, [], iso
    try:
        if json:
            table, iso = _json_block(fields, types, block, iso)
            return table, [], iso
        return (*_tsv_block(fields, types, dialect, block), iso)
    except (pa.ArrowException, ValueError, OverflowError):
        return None, [], iso


def _tsv_block(
    fields: tuple[str, ...], types: tuple[str, ...], dialect: Dialect, block: bytes
) -> tuple[pa.Table | None, list[str]]:
    if len(dialect.separator.encode("utf-8", "surrogateescape")) != 1 or dialect.problem():
        return None, []  # Arrow splits at one character: the per-line reader takes the rest
    body, tail = _split_comments(block)
    if body is None or not _utf8(body) or not _usable(fields, types):
        return None, []
    if not body.strip(b"\n"):  # nothing but empty lines (Arrow skips those among the data)
        return from_rows(fields, types, []), tail
    names = [f"c{i}" for i in range(len(fields))]  # Zeek allows no duplicates; be safe
    raw = pcsv.read_csv(
        pa.BufferReader(body),
        read_options=pcsv.ReadOptions(column_names=names),
        parse_options=_tsv_parse(dialect.separator),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[dialect.unset],
            strings_can_be_null=True,
            check_utf8=False,
        ),
    )
    escapes = b"\\" in body  # one byte: memchr, where looking for "\\x" costs a scan
    columns: list[Column] = []
    for i, ztype in enumerate(types):
        col = convert(raw.column(i), ztype, escapes, dialect)
        if col is None:
            return None, []
        columns.append(col)
    return _finish(fields, types, columns), tail


def _usable(fields: Sequence[str], types: Sequence[str]) -> bool:
    """As ``LogHeader.ready``: columns named, typed, each name once."""
    return bool(fields) and len(fields) == len(types) and len(set(fields)) == len(fields)


def _split_comments(block: bytes) -> tuple[bytes | None, list[str]]:
    """(data lines, trailing ``#`` lines such as ``#close``); None for the data if the block
    starts with a ``#`` line.  A ``#`` line among the data has the wrong number of cells (or
    a first cell that is no value), so Arrow or the checks refuse the block and the per-line
    reader, which follows redefined headers, takes it."""
    end, tail, empty_runs = len(block), [], 0
    while end > 0:
        if end == 1 or block[end - 2] == 0x0A:  # empty lines: a run skipped at once
            empty_runs += 1
            if empty_runs > _MAX_EMPTY_RUNS:
                return None, []  # '#' and empty lines alternating: the per-line reader's
            end = len(block[:end].rstrip(b"\n"))
            end += end > 0
            continue
        start = block.rfind(b"\n", 0, end - 1) + 1
        line = block[start : end - 1]
        if not line.startswith(b"#"):
            break
        tail.append(line)
        end = start
    body = block[:end] if end < len(block) else block
    if body.startswith(b"#"):
        return None, []
    try:
        return body, [t.decode("utf-8") for t in reversed(tail) if t]
    except UnicodeDecodeError:
        return None, []


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_block(
    fields: tuple[str, ...], types: tuple[str, ...], block: bytes, iso: bool
) -> tuple[pa.Table | None, bool]:
    if not block.startswith(b"{") or _NOT_AN_OBJECT_LINE.search(block):
        if b"\n\n" not in block and not block.startswith(b"\n"):
            return None, iso
        # empty lines are no rows: gone in one pass (only blocks that have them pay for the
        # search; line numbers matter only to the per-line reader, which gets the block as
        # it was)
        block = _EMPTY_LINES.sub(b"\n", block).lstrip(b"\n")
        if not block:
            return from_rows(fields, types, []), iso
        if not block.startswith(b"{") or _NOT_AN_OBJECT_LINE.search(block):
            return None, iso
    if not _utf8(block):
        return None, iso
    try:
        raw = _read_json(fields, types, block, iso)
    except pa.ArrowInvalid:
        iso = not iso  # the other spelling of times, or a bad block (then this raises too)
        raw = _read_json(fields, types, block, iso)
    if raw.num_rows != block.count(b"\n") + (not block.endswith(b"\n")):
        return None, iso  # a line held more than one value: one row per line, or per-line
    columns = []
    for i, ztype in enumerate(types):
        col = raw.column(i)
        if not _json_column_ok(col, ztype):
            return None, iso
        columns.append(col)
    return _finish(fields, types, columns), iso


def _read_json(
    fields: tuple[str, ...], types: tuple[str, ...], block: bytes, iso: bool
) -> pa.Table:
    schema = pa.schema(
        [
            (n, pa.timestamp("us", tz="UTC") if iso and t == "time" else arrow_type(t))
            for n, t in zip(fields, types, strict=True)
        ]
    )
    return pjson.read_json(
        pa.BufferReader(block),
        read_options=pjson.ReadOptions(block_size=_JSON_CHUNK),
        parse_options=pjson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False
        ),
    )


def _json_column_ok(col: pa.ChunkedArray, ztype: str) -> bool:
    """What Arrow's JSON parser let through but the rules refuse: times and intervals out of
    range (or NaN), malformed addresses, unset elements in a container."""
    if is_container(ztype):
        values = pc.list_flatten(col)
        return values.null_count == 0 and _json_column_ok(values, inner_type(ztype))
    if pa.types.is_timestamp(col.type):
        mm = pc.min_max(pc.cast(col, pa.int64())).as_py()
        return mm["min"] is None or (mm["min"] >= 0 and mm["max"] <= LATEST * 1e6)
    if ztype in ("time", "interval", "double"):
        if pc.any(pc.is_nan(col)).as_py():
            return False
        mm = pc.min_max(col).as_py()
        lo, hi = LIMITS[ztype]
        return mm["min"] is None or (lo <= mm["min"] and mm["max"] <= hi)
    if ztype in PATTERNS and ztype not in ARROW_TYPES:
        return pc.all(pc.match_substring_regex(pc.unique(col), f"^(?:{PATTERNS[ztype]})$")).as_py()
    return True


def _rows_per_header(
    parser: LineParser, path: Path, lineno: int, block: bytes, lenient: Lenient | None
) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
    """The good rows of a block by the header they were read under: ``#fields``/``#types``
    lines among the data redefine the columns for the lines after them."""
    h = parser.header
    fields: list[str] | None = None
    types: list[str] = []
    rows: list[dict[str, Any]] = []
    for _, row in block_rows(parser, path, lineno, block, lenient):
        if h.fields != fields or h.types != types:  # the header the row was read under
            if rows:
                yield fields or [], types, rows
            fields, types, rows = list(h.fields), list(h.types), []
        rows.append(row)
    if rows:
        yield fields or [], types, rows


def from_rows(fields: Sequence[str], types: Sequence[str], rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of the per-line reader as a table of the same form.  A header no row can have been
    read under (#fields and #types of different lengths, a name twice) gives no columns."""
    if not _usable(fields, types):
        fields, types = [], []
    columns = []
    for name, ztype in zip(fields, types, strict=True):
        values = [r[name] for r in rows]
        typ = arrow_type(ztype)
        if typ == pa.string():
            values = [v if v is None else as_text(v) for v in values]
        elif is_container(ztype) and typ.value_type == pa.string():
            values = [v if v is None else [as_text(x) for x in v] for v in values]
        columns.append(pa.array(values, type=typ))
    return _finish(fields, types, columns)


def _finish(fields: Sequence[str], types: Sequence[str], columns: list[Any]) -> pa.Table:
    out = []
    for col, ztype in zip(columns, types, strict=True):
        if ztype == "time":
            col = _exact(col, pa.timestamp("ns", tz="UTC"))
        elif ztype == "interval":
            col = _exact(col, pa.duration("ns"))
        out.append(col)
    table = pa.Table.from_arrays(out, names=list(fields))
    return table.replace_schema_metadata({"zeek_types": "\t".join(types)})


def arrow_column_type(ztype: str) -> pa.DataType:
    """The Arrow type of a *ztype* column in the tables this reader gives."""
    if ztype == "time":
        return pa.timestamp("ns", tz="UTC")
    if ztype == "interval":
        return pa.duration("ns")
    return arrow_type(ztype)


def _exact(col: pa.Array | pa.ChunkedArray, typ: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """Seconds to nanoseconds exact to the microsecond: Zeek writes six decimals, and below
    2**53 microseconds (year 2255) rounding the double recovers them exactly."""
    if pa.types.is_timestamp(col.type):
        return pc.cast(col, typ)
    micros = pc.cast(pc.round(pc.multiply(col, 1e6)), pa.int64())
    return pc.cast(pc.multiply(micros, 1000), typ)


__all__ = ["LogReadError", "arrow_column_type", "from_rows", "iter_tables"]
