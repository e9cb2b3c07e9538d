"""Whole TSV columns to their canonical Arrow form, checked with the per-line reader's rules.

Each function takes a column of raw cells (strings; unset ``-`` already null) and returns the
canonical array, or None when any cell breaks ``values.py``'s rules -- the caller then hands
the block to the per-line reader, which names the line.  Canonical forms: ``time``,
``interval``, ``double`` float64 seconds; ``count`` uint64, ``int`` int64, ``port`` uint16;
``bool``; strings (escapes undone); containers lists of their element's form.
"""

from __future__ import annotations

from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from .format import DEFAULT_DIALECT, EMPTY, Dialect, inner_type, is_container, unescape
from .values import LIMITS, MAX_PORT, PATTERNS

Column: TypeAlias = pa.Array | pa.ChunkedArray

ARROW_TYPES: dict[str, pa.DataType] = {
    "time": pa.float64(),
    "interval": pa.float64(),
    "double": pa.float64(),
    "count": pa.uint64(),
    "int": pa.int64(),
    "port": pa.uint16(),
    "bool": pa.bool_(),
}


def arrow_type(ztype: str) -> pa.DataType:
    if is_container(ztype):
        return pa.list_(arrow_type(inner_type(ztype)))
    return ARROW_TYPES.get(ztype, pa.string())


def _anchored(ztype: str) -> str:
    return f"^(?:{PATTERNS[ztype]})$"


def _all(mask: Column) -> bool:
    """Every non-null entry true (nulls are unset cells: always valid)."""
    return pc.all(mask).as_py() is not False


def _in_limits(col: Column, ztype: str) -> bool:
    lo, hi = LIMITS[ztype]
    mm = pc.min_max(col).as_py()
    return mm["min"] is None or (lo <= mm["min"] and mm["max"] <= hi)


def convert(
    col: Column, ztype: str, escapes: bool, dialect: Dialect = DEFAULT_DIALECT
) -> Column | None:
    """*col* (raw cells) as the canonical array of *ztype*, or None if a cell is malformed.
    *escapes*: whether the block may hold ``\\x`` escapes at all.  *dialect*: the log's
    empty marker and set separator (its unset marker is already null)."""
    if is_container(ztype):
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        out = [_container(c, inner_type(ztype), escapes, dialect) for c in chunks]
        if any(c is None for c in out):
            return None
        return pa.chunked_array(out, type=arrow_type(ztype))
    return _scalar(col, ztype, escapes, dialect.empty)


def _scalar(col: Column, ztype: str, escapes: bool, empty_mark: str = EMPTY) -> Column | None:
    if ztype in ("time", "interval", "double"):
        if not _all(pc.match_substring_regex(col, _anchored(ztype))):
            return None
        out = pc.cast(col, pa.float64())
        return out if _in_limits(out, ztype) else None
    if ztype in ("count", "port"):
        digits = 20 if ztype == "count" else 5
        ok = pc.and_(pc.ascii_is_decimal(col), pc.less_equal(pc.utf8_length(col), digits))
        if not _all(ok):
            return None
        if ztype == "count":
            return pc.cast(col, pa.uint64())  # 20 digits past 2**64 - 1 raise: caller falls back
        wide = pc.cast(col, pa.uint32())
        mm = pc.min_max(wide).as_py()
        return pc.cast(wide, pa.uint16()) if (mm["max"] or 0) <= MAX_PORT else None
    if ztype == "int":
        if not _all(pc.match_substring_regex(col, _anchored(ztype))):
            return None
        return pc.cast(col, pa.int64())
    if ztype == "bool":
        if not _all(pc.or_(pc.is_null(col), pc.is_in(col, value_set=pa.array(["T", "F"])))):
            return None
        return pc.equal(col, "T")
    if ztype in PATTERNS:  # addr, subnet: few distinct values, each checked once
        if not _all(pc.match_substring_regex(pc.unique(col), _anchored(ztype))):
            return None
        return col
    empty = pc.equal(col, empty_mark)  # cheap: lengths differ for nearly every cell
    if pc.any(empty).as_py():
        col = pc.if_else(empty, "", col)
    return unescaped(col) if escapes else col


def _container(col: pa.Array, inner: str, escapes: bool, dialect: Dialect) -> pa.Array | None:
    empty = pc.equal(col, dialect.empty)
    if pc.any(empty).as_py():  # (empty) is split as unset (no elements), then unmasked: []
        col_ = pc.if_else(pc.fill_null(empty, False), pa.scalar(None, col.type), col)
    else:
        col_ = col
    lists = pc.split_pattern(col_, dialect.set_separator)
    values = lists.values
    if inner in PATTERNS or inner in ARROW_TYPES:
        values = _scalar(values, inner, False)  # elements are never unset
        if values is None or values.null_count:
            return None
    elif escapes:
        values = unescaped(values)
    return pa.ListArray.from_arrays(lists.offsets, values, mask=pc.is_null(col))


def unescaped(col: Column) -> Column:
    """Cells holding ``\\xNN`` escapes, undone.  Bytes that do not form UTF-8 keep their
    ``\\xNN`` spelling, as Zeek's JSON writer shows them (Arrow text must be Unicode)."""
    has = pc.fill_null(pc.match_substring(col, "\\x"), False)
    if not pc.any(has).as_py():
        return col
    if isinstance(col, pa.ChunkedArray):
        col, has = col.combine_chunks(), has.combine_chunks()
    fixed = [as_text(unescape(v)) for v in pc.filter(col, has).to_pylist()]
    return pc.replace_with_mask(col, has, pa.array(fixed, pa.string()))


def as_text(s: str) -> str:
    """*s* as valid Unicode: bytes the escapes spelled that are not UTF-8 stay ``\\xNN``."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return s
