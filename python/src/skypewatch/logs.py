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
``set[..]``, ``vector[..]``  Python lists; ``(empty)`` is ``[]``
=========================  =================================================================

``-`` (unset) is always missing -- ``NA``/``NaT``/``None`` -- never 0, False or "".  TSV logs
carry their types in the ``#types`` header; JSON logs (which have none) take them from the
schemas below for skype, notice and conn logs, or are left as pandas reads them.

``read_log`` returns one DataFrame; ``iter_log`` streams chunks, so a log larger than memory
can be filtered.  ``write_log`` writes a DataFrame back in Zeek's format; a DataFrame read
from a TSV log is written back byte for byte (header lines included).
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import SkypewatchError
from .records import CONN_KEY_FIELDS, NOTICE_FIELDS, SKYPE_FIELDS
from .zeeklog import EMPTY, UNSET, ZeekLogWriter, escape, unescape

CONN_FIELDS = [
    *CONN_KEY_FIELDS,
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
]
SCHEMAS = {"skype": SKYPE_FIELDS, "notice": NOTICE_FIELDS, "conn": CONN_FIELDS}
DEFAULT_CHUNK = 200_000


class LogReadError(SkypewatchError):
    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(slots=True)
class LogMeta:
    """What a log says about itself; kept in ``DataFrame.attrs['zeek']`` for write_log."""

    path: str
    fields: list[str]
    types: list[str]
    header: list[str]  # the TSV header lines, verbatim (empty for JSON)
    footer: list[str]
    json: bool
    skip: int = 0  # raw lines before the first data line


# -- reading ------------------------------------------------------------------------------


def log_files(paths: Iterable[str | Path], stem: str | None = None) -> list[Path]:
    """Files named by the arguments; a directory contributes its ``*.log`` / ``*.log.gz``
    files (only ``stem*`` ones if *stem* is given)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(
                q
                for q in p.iterdir()
                if (
                    q.name.endswith((".log", ".log.gz"))
                    and (stem is None or q.name.startswith(stem))
                )
            )
        elif p.exists():
            out.append(p)
        else:
            raise LogReadError(p, None, "no such file")
    return out


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape", newline="\n")
    return open(path, encoding="utf-8", errors="surrogateescape", newline="\n")


def _meta(path: Path, fh) -> tuple[LogMeta, str | None]:
    """Read the header; return the metadata and the first data line (or None)."""
    header: list[str] = []
    fields: list[str] = []
    types: list[str] = []
    logpath = ""
    raw = 0
    for line in fh:
        raw += 1
        line = line.rstrip("\n")
        if not line:
            continue
        if line.startswith("{"):
            try:
                keys = list(json.loads(line))
            except json.JSONDecodeError as exc:
                raise LogReadError(path, len(header) + 1, f"not JSON ({exc.msg})") from None
            kind = _guess_kind(path, keys)
            schema = SCHEMAS.get(kind, [])
            fields = [f for f, _ in schema] or keys
            types = [t for _, t in schema] or ["string"] * len(keys)
            return LogMeta(kind or path.name, fields, types, [], [], True), line
        if not line.startswith("#"):
            if not fields:
                raise LogReadError(path, len(header) + 1, "data before a #fields/#types header")
            return LogMeta(logpath, fields, types, header, [], False, raw - 1), line
        header.append(line)
        key, _, value = line.partition("\t")
        if key == "#fields":
            fields = value.split("\t")
        elif key == "#types":
            types = value.split("\t")
        elif key == "#path":
            logpath = value
    if fields and len(types) != len(fields):
        raise LogReadError(path, len(header), "#types and #fields differ in length")
    return LogMeta(logpath, fields, types, header, [], False), None


def _guess_kind(path: Path, keys: list[str]) -> str | None:
    name = path.name.split(".")[0]
    if name in SCHEMAS:
        return name
    if "stage" in keys and "peer_role" in keys:
        return "skype"
    if "note" in keys:
        return "notice"
    if "conn_state" in keys:
        return "conn"
    return None


def iter_log(
    path: str | Path, chunksize: int = DEFAULT_CHUNK, addr_as: str = "string"
) -> Iterator[pd.DataFrame]:
    """Stream one Zeek log as typed DataFrames of at most *chunksize* rows."""
    path = Path(path)
    if not path.exists():
        raise LogReadError(path, None, "no such file")
    with _open(path) as fh:
        meta, first = _meta(path, fh)
        if first is None:
            yield _typed(pd.DataFrame(columns=meta.fields, dtype=object), meta, addr_as)
            return
        json_log = meta.json
    if json_log:
        yield from _iter_json(path, meta, chunksize, addr_as)
        return
    yield from _iter_tsv(path, meta.skip, meta, chunksize, addr_as)


def _iter_tsv(path, skip, meta, chunksize, addr_as):
    """pandas' C parser straight on the file; footer lines (``#close``) are dropped from the
    last chunk and kept in the metadata."""
    footer: list[str] = []
    reader = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=meta.fields,
        dtype=str,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        chunksize=chunksize,
        engine="c",
        on_bad_lines="error",
        skiprows=skip,
        compression="gzip" if _is_gzip(path) else None,
        skip_blank_lines=True,
    )
    done = 0
    try:
        for chunk in reader:
            first = chunk.iloc[:, 0]
            tail = first.str.startswith("#")
            if tail.any():
                footer += [
                    "\t".join(v for v in row if isinstance(v, str) and v)
                    for row in chunk[tail].itertuples(index=False)
                ]
                chunk = chunk[~tail]
            if len(chunk):
                yield _typed(chunk, meta, addr_as, path, offset=skip + done)
            done += len(chunk)
    except pd.errors.ParserError as exc:
        raise LogReadError(path, None, f"malformed line ({exc})") from None
    except (EOFError, OSError, zlib.error) as exc:
        raise LogReadError(
            path, skip + done + 1, f"compressed data ends early or is corrupt ({exc})"
        ) from None
    meta.footer = footer


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _iter_json(path, meta, chunksize, addr_as):
    """pandas' JSON-lines reader in chunks; on a bad line, find and name it."""
    reader = pd.read_json(
        path,
        lines=True,
        chunksize=chunksize,
        dtype=False,
        compression="gzip" if _is_gzip(path) else None,
    )
    done = 0
    try:
        for chunk in reader:
            chunk = chunk.reindex(columns=meta.fields)
            yield _typed(chunk, meta, addr_as, path, True, offset=done)
            done += len(chunk)
    except ValueError as exc:
        line, problem = _first_bad_json(path)
        raise LogReadError(path, line, problem or f"not JSON ({exc})") from None
    except (EOFError, OSError, zlib.error) as exc:
        raise LogReadError(
            path, done + 1, f"compressed data ends early or is corrupt ({exc})"
        ) from None


def _first_bad_json(path: Path) -> tuple[int | None, str | None]:
    with _open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                return lineno, f"not JSON ({exc.msg})"
            if not isinstance(obj, dict):
                return lineno, "JSON line is not an object"
    return None, None


def read_log(
    paths: str | Path | Iterable[str | Path],
    chunksize: int = DEFAULT_CHUNK,
    addr_as: str = "string",
) -> pd.DataFrame:
    """One or many Zeek logs (files, rotated sets, directories) as one typed DataFrame."""
    files = log_files([paths] if isinstance(paths, (str, Path)) else paths)
    frames = []
    meta = None
    for f in files:
        for chunk in iter_log(f, chunksize, addr_as):
            frames.append(chunk)
            meta = meta or chunk.attrs.get("zeek")
    if not frames:
        raise SkypewatchError("no log files among the arguments")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df.attrs["zeek"] = meta
    return df


# -- types ----------------------------------------------------------------------------------

_INT_DTYPES = {"count": "UInt64", "int": "Int64", "port": "UInt16"}


def _typed(
    df: pd.DataFrame,
    meta: LogMeta,
    addr_as: str,
    path: Path | None = None,
    from_json: bool = False,
    offset: int = 0,
) -> pd.DataFrame:
    out = {}
    for name, ztype in zip(meta.fields, meta.types, strict=True):
        if name not in df.columns:
            out[name] = pd.Series([pd.NA] * len(df), dtype=object)
            col = out[name]
        else:
            col = df[name]
        try:
            out[name] = _convert(col, ztype, addr_as, from_json)
        except (ValueError, TypeError) as exc:
            bad = _first_bad(col, ztype, from_json)
            line = offset + bad + 1 if bad is not None else None
            raise LogReadError(
                path or Path(meta.path), line, f"column {name!r} ({ztype}): {exc}"
            ) from None
    typed = pd.DataFrame(out, index=df.index)
    typed.attrs["zeek"] = meta
    return typed


def _first_bad(col, ztype, from_json):
    for i, v in enumerate(col):
        try:
            _convert(pd.Series([v], dtype=object), ztype, "string", from_json)
        except (ValueError, TypeError):
            return i
    return None


def _unset(col: pd.Series, from_json: bool) -> pd.Series:
    if from_json:
        return col.isna()
    return col == UNSET


def _convert(col: pd.Series, ztype: str, addr_as: str, from_json: bool) -> pd.Series:
    missing = _unset(col, from_json)
    if ztype == "time":
        if from_json and col.map(lambda v: isinstance(v, str)).any():
            return pd.to_datetime(col, utc=True, format="ISO8601")
        return pd.to_datetime(_nanoseconds(col, missing, from_json), unit="ns", utc=True)
    if ztype == "interval":
        return pd.to_timedelta(_nanoseconds(col, missing, from_json), unit="ns")
    if ztype in _INT_DTYPES:
        return pd.to_numeric(col.where(~missing), errors="raise").astype(_INT_DTYPES[ztype])
    if ztype == "double":
        return pd.to_numeric(col.where(~missing), errors="raise").astype("Float64")
    if ztype == "bool":
        if from_json:
            return col.astype("boolean")
        bad = ~(missing | col.isin(["T", "F"]))
        if bad.any():
            raise ValueError(f"not a bool: {col[bad].iloc[0]!r}")
        return col.map({"T": True, "F": False}).astype("boolean")
    if ztype.startswith(("set[", "vector[")):
        if from_json:
            return col.map(lambda v: list(v) if isinstance(v, list) else None)
        return _containers(col, missing)
    if ztype in ("addr", "subnet"):
        s = _strings(col, missing, from_json)
        return s.astype("category") if addr_as == "category" else s
    return _strings(col, missing, from_json)


def _nanoseconds(col: pd.Series, missing: pd.Series, from_json: bool) -> pd.Series:
    """Decimal seconds to integer nanoseconds, exact to the microsecond (Zeek writes six
    decimals; at today's epoch that is ~1.8e15 microseconds, well inside a double's exact
    integers, so rounding the parsed value recovers them exactly)."""
    if col.empty:
        return pd.Series([], index=col.index, dtype="Int64")
    secs = pd.to_numeric(col if from_json else col.where(~missing), errors="raise")
    return (secs.astype("float64") * 1e6).round().astype("Int64") * 1000


def _strings(col: pd.Series, missing: pd.Series, from_json: bool) -> pd.Series:
    if from_json:
        return col.astype("string")
    s = col.where(~missing, None)
    if s.str.contains("\\x", regex=False).any():
        s = s.map(lambda v: unescape(v) if isinstance(v, str) else v)
    s = s.where(s != EMPTY, "")
    return s.astype("string")


def _containers(col: pd.Series, missing: pd.Series) -> pd.Series:
    """TSV container cells to lists, splitting in bulk; only cells with escapes go one by one."""
    text = col.astype(object)
    out = col.astype("string[pyarrow]").str.split(",")  # Arrow splits in bulk, to lists
    escaped = text.str.contains("\\x", regex=False).fillna(False).astype(bool)
    if escaped.any():
        out[escaped] = text[escaped].map(_container)
    out[text == EMPTY] = pd.Series(
        [[] for _ in range(int((text == EMPTY).sum()))],
        index=text.index[text == EMPTY],
        dtype=object,
    )
    out[missing] = None
    return out


def _container(v: Any) -> Any:
    if v == UNSET:
        return None
    if v == EMPTY:
        return []
    return [unescape(x) for x in v.split(",")]


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
        header=None if use_json else meta.header or None,
    )
    columns = [df[f] for f in meta.fields]
    for row in zip(*columns, strict=True):
        writer.write([_pyvalue(v, t) for v, t in zip(row, meta.types, strict=True)])
    return writer.close(
        complete=bool(meta.footer) or not meta.header,
        close_stamp=stamps[1],
        footer=meta.footer or None,
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
    "LogMeta",
    "LogReadError",
    "escape",
    "iter_log",
    "log_files",
    "read_log",
    "write_log",
]
