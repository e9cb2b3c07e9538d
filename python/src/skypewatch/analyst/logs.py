"""Zeek logs into pandas, and back: skype.log, notice.log, conn.log and friends.

Types follow the log, explicitly (never pandas' guesses):

=========================  =================================================================
Zeek type                  pandas
=========================  =================================================================
``time``                   ``datetime64[ns, UTC]``
``interval``               ``timedelta64[ns]``
``count`` / ``int``        ``UInt64`` / ``Int64`` (nullable)
``port``                   ``UInt16`` (nullable)
``double``                 ``Float64``
``bool``                   ``boolean``
``addr``, ``subnet``       ``string`` (or ``category`` with ``addr_as="category"``)
``string``, ``enum``       ``string`` (``\\xNN`` escapes undone)
``set[..]``, ``vector[..]``  lists (``ArrowDtype(list<..>)``: each value reads as a Python
                           list, stored in bulk); ``(empty)`` is ``[]``
=========================  =================================================================

``-`` (unset) is always missing -- ``NA``/``NaT``/``None`` -- never 0, False or "".  TSV logs
carry their types in the ``#types`` header; JSON logs (which have none) take them from the
schemas of skype, notice and conn logs, or from their first line.  Every value is checked
against its type (``skypewatch.zeeklog``): strict by default (``LogReadError`` naming file
and line), or pass ``lenient=Lenient()`` to skip and report bad lines.  Reading goes through
Arrow's CSV and JSON parsers a block at a time.

``read_log`` returns one DataFrame; ``iter_log`` streams chunks, so a log larger than memory
can be filtered.  ``write_log`` writes a DataFrame back in Zeek's format; a DataFrame read
from a TSV log is written back byte for byte (header lines included).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import SkypewatchError
from ..skypelog import KNOWN_LOGS
from ..zeeklog import (
    CONN_FIELDS,
    Lenient,
    LogHeader,
    LogReadError,
    ZeekLogWriter,
    escape,
    log_files,
)
from ..zeeklog.bulk import arrow_column_type, iter_tables
from ..zeeklog.format import DEFAULT_DIALECT
from ..zeeklog.header import expected_types

SCHEMAS = {kind: log.fields for kind, log in KNOWN_LOGS.items()}
DEFAULT_CHUNK = 200_000
LogMeta = LogHeader  # what a log says about itself; kept in ``DataFrame.attrs['zeek']``

_PANDAS = {
    pa.uint64(): pd.UInt64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype("pyarrow"),
}


# -- reading ------------------------------------------------------------------------------


def _tables(path: Path | str, lenient: Lenient | None) -> Iterator[tuple[LogHeader, pa.Table]]:
    """The log's tables with every column of its known schema (skype, notice, conn): a column
    a log filter's ``$exclude`` left out is there, unset, so that code reading a skype.log can
    count on its columns.  A log declaring a known column with another type is refused."""
    for header, table in iter_tables(path, lenient, expected_types, KNOWN_LOGS):
        kind = header.kind
        if kind is not None:
            table = _with_columns(table, SCHEMAS[kind])
        yield header, table


def _with_columns(table: pa.Table, fields: list[tuple[str, str]]) -> pa.Table:
    missing = [(n, t) for n, t in fields if n not in table.column_names]
    if not missing:
        return table
    types = (table.schema.metadata or {}).get(b"zeek_types", b"").decode()
    for name, ztype in missing:
        table = table.append_column(name, pa.nulls(table.num_rows, arrow_column_type(ztype)))
        types += ("\t" if types else "") + ztype
    return table.replace_schema_metadata({"zeek_types": types})


def iter_log(
    path: str | Path,
    chunksize: int = DEFAULT_CHUNK,
    addr_as: str = "string",
    lenient: Lenient | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream one Zeek log as typed DataFrames of at most *chunksize* rows (at least one,
    empty for a log without data).  Strict unless *lenient* is given."""
    pending: list[pa.Table] = []
    rows, out = 0, 0
    for header, table in _tables(path, lenient):
        if pending and table.schema != pending[0].schema:  # the header changed mid-file
            yield from _chunks(pa.concat_tables(pending), header, chunksize, addr_as)
            pending, rows, out = [], 0, out + 1
        pending.append(table)
        rows += table.num_rows
        if rows >= chunksize:
            whole = pa.concat_tables(pending)
            cut = rows - rows % chunksize
            yield from _chunks(whole.slice(0, cut), header, chunksize, addr_as)
            rest = whole.slice(cut)
            pending, rows, out = [rest], rest.num_rows, out + 1
    if pending and (rows or not out):  # the rest; or the one empty frame of a log without data
        yield from _chunks(pa.concat_tables(pending), header, chunksize, addr_as)


def _chunks(
    table: pa.Table, header: LogHeader, chunksize: int, addr_as: str
) -> Iterator[pd.DataFrame]:
    for start in range(0, max(table.num_rows, 1), chunksize):
        yield _frame(table.slice(start, chunksize), header, addr_as)


def _frame(table: pa.Table, header: LogHeader, addr_as: str) -> pd.DataFrame:
    types = (table.schema.metadata or {}).get(b"zeek_types", b"").decode().split("\t")
    if addr_as == "category":
        table = pa.Table.from_arrays(
            [
                col.dictionary_encode() if t in ("addr", "subnet") else col
                for col, t in zip(table.columns, types, strict=True)
            ],
            names=table.column_names,
        )
    df = table.to_pandas(types_mapper=_dtype, split_blocks=True, self_destruct=False)
    df.attrs["zeek"] = header
    return df


def _dtype(typ: pa.DataType) -> Any:
    if pa.types.is_list(typ):
        return pd.ArrowDtype(typ)  # each value reads as a Python list, stored in bulk
    return _PANDAS.get(typ)


def read_log(
    paths: str | Path | Iterable[str | Path],
    chunksize: int = DEFAULT_CHUNK,
    addr_as: str = "string",
    lenient: Lenient | None = None,
) -> pd.DataFrame:
    """One or many Zeek logs (files, rotated sets, directories) as one typed DataFrame."""
    files = log_files([paths] if isinstance(paths, (str, Path)) else paths)
    if not files:
        raise SkypewatchError("no log files among the arguments")
    frames: list[pd.DataFrame] = []
    pending: list[pa.Table] = []
    header, schema, rows = None, None, 0
    for f in files:
        for h, table in _tables(f, lenient):
            header, schema = header or h, schema or table.schema
            if table.schema != schema:
                table = _conform(table, schema, f)
            pending.append(table)
            rows += table.num_rows
            if rows >= chunksize:  # converted a chunk at a time: less memory at once, faster
                frames.append(_frame(pa.concat_tables(pending), header, "string"))
                pending, rows = [], 0
    if lenient is not None:
        lenient.done()
    if header is None or schema is None:
        raise SkypewatchError("no log could be read among the arguments")
    if pending:
        frames.append(_frame(pa.concat_tables(pending), header, "string"))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if addr_as == "category":
        types = (schema.metadata or {}).get(b"zeek_types", b"").decode().split("\t")
        for name, ztype in zip(schema.names, types, strict=False):
            if ztype in ("addr", "subnet"):
                df[name] = df[name].astype("category")
    df.attrs["zeek"] = header
    return df


def _conform(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    """A table of another log (say JSON beside TSV), or of a later part of one whose header
    was redefined, in the first one's columns; LogReadError if a column's type cannot be."""
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            try:
                cols.append(col.cast(field.type))
            except pa.ArrowException:
                was, now = _zeek_type(schema, field.name), _zeek_type(table.schema, field.name)
                raise LogReadError(
                    path,
                    None,
                    f"column {escape(field.name)!r} changes type from {was} to {now} part-way:"
                    " read the parts separately",
                ) from None
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _zeek_type(schema: pa.Schema, name: str) -> str:
    types = (schema.metadata or {}).get(b"zeek_types", b"").decode().split("\t")
    return dict(zip(schema.names, types, strict=False)).get(name, "?")


# -- writing --------------------------------------------------------------------------------


def write_log(df: pd.DataFrame, directory: str | Path, use_json: bool | None = None) -> Path:
    """Write a DataFrame read by read_log back as a Zeek log (same name, types and header).

    Typed values are formatted as Zeek's ASCII writer does, so a DataFrame read from a TSV
    log comes back byte for byte."""
    meta: LogMeta | None = df.attrs.get("zeek")
    if meta is None:
        raise SkypewatchError("this DataFrame has no Zeek metadata (read it with read_log)")
    use_json = meta.json if use_json is None else use_json
    fields = list(zip(meta.fields, meta.types, strict=True))
    name = meta.path or "log"
    Path(directory).mkdir(parents=True, exist_ok=True)
    stamps = _stamps(meta)
    writer = ZeekLogWriter(
        directory,
        name,
        fields,
        use_json,
        open_stamp=stamps[0],
        # a header of other LogAscii options is not reused: values are written in the defaults
        header=None if use_json or meta.dialect != DEFAULT_DIALECT else meta.header or None,
    )
    columns = [df[f] for f in meta.fields]
    for row in zip(*columns, strict=True):
        writer.write([_pyvalue(v, t) for v, t in zip(row, meta.types, strict=True)])
    return writer.close(
        complete=meta.closed,
        close_stamp=stamps[1],
        footer=meta.footer if meta.footer and meta.dialect == DEFAULT_DIALECT else None,
    )


def _stamps(meta: LogMeta) -> tuple[str | None, str | None]:
    def find(lines, key):
        return next((ln.split("\t", 1)[1] for ln in lines if ln.startswith(key + "\t")), None)

    return find(meta.header, "#open"), find(meta.footer, "#close")


def _pyvalue(v: Any, ztype: str) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and v != v:
        return None
    if ztype == "time":
        return v.value / 1e9
    if ztype == "interval":
        return v.value / 1e9
    if ztype.startswith(("set[", "vector[")):
        return list(v)
    return v


__all__ = [
    "CONN_FIELDS",
    "SCHEMAS",
    "Lenient",
    "LogMeta",
    "LogReadError",
    "escape",
    "iter_log",
    "log_files",
    "read_log",
    "write_log",
]
