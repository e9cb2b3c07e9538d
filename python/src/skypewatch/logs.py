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
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import SkypewatchError
from .records import NOTICE_FIELDS, SKYPE_FIELDS
from .zeeklog import EMPTY, UNSET, ZeekLogWriter, escape, unescape

CONN_FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
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
    for line in fh:
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
            return LogMeta(logpath, fields, types, header, [], False), line
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
        if meta.json:
            yield from _iter_json(path, fh, first, meta, chunksize, addr_as)
        else:
            yield from _iter_tsv(path, fh, first, meta, chunksize, addr_as)


def _iter_tsv(path, fh, first, meta, chunksize, addr_as):
    footer: list[str] = []
    lineno = len(meta.header)

    def lines():
        nonlocal lineno
        yield first + "\n"
        lineno += 1
        for line in fh:
            lineno += 1
            if line.startswith("#"):
                footer.append(line.rstrip("\n"))
                continue
            yield line

    reader = pd.read_csv(
        _LineStream(lines()),
        sep="\t",
        header=None,
        names=meta.fields,
        dtype=str,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        chunksize=chunksize,
        engine="c",
        on_bad_lines="error",
    )
    try:
        for chunk in reader:
            yield _typed(chunk, meta, addr_as, path)
    except pd.errors.ParserError as exc:
        raise LogReadError(path, None, f"malformed line ({exc})") from None
    except (EOFError, OSError) as exc:
        raise LogReadError(
            path, lineno, f"compressed data ends early or is corrupt ({exc})"
        ) from None
    meta.footer = footer


class _LineStream(io.TextIOBase):
    """A file-like view of an iterator of lines, for pandas' C parser."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._buf = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        parts = [self._buf]
        have = len(self._buf)
        for line in self._lines:
            parts.append(line)
            have += len(line)
            if 0 <= size <= have:
                break
        text = "".join(parts)
        if size < 0 or size >= len(text):
            self._buf = ""
            return text
        self._buf = text[size:]
        return text[:size]


def _iter_json(path, fh, first, meta, chunksize, addr_as):
    rows: list[dict] = []
    lineno = 1
    for line in _prepend(first, fh):
        line = line.strip()
        if not line:
            lineno += 1
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LogReadError(path, lineno, f"not JSON ({exc.msg})") from None
        rows.append({k: (_json_cell(v)) for k, v in obj.items()})
        lineno += 1
        if len(rows) >= chunksize:
            yield _typed(pd.DataFrame(rows, columns=meta.fields), meta, addr_as, path, True)
            rows = []
    if rows:
        yield _typed(pd.DataFrame(rows, columns=meta.fields), meta, addr_as, path, True)


def _prepend(first: str, fh) -> Iterator[str]:
    yield first
    yield from fh


def _json_cell(v: Any) -> Any:
    return v


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
    df: pd.DataFrame, meta: LogMeta, addr_as: str, path: Path | None = None, from_json: bool = False
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
            where = f"line {bad + 1} of the chunk" if bad is not None else "a line"
            raise LogReadError(
                path or Path(meta.path), None, f"column {name!r} ({ztype}): {exc} ({where})"
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
        return col.map(_container, na_action=None)
    if ztype in ("addr", "subnet"):
        s = _strings(col, missing, from_json)
        return s.astype("category") if addr_as == "category" else s
    return _strings(col, missing, from_json)


def _nanoseconds(col: pd.Series, missing: pd.Series, from_json: bool) -> pd.Series:
    """Decimal seconds to integer nanoseconds, exactly (no float on the way for TSV)."""
    if from_json:
        secs = pd.to_numeric(col, errors="raise").astype("float64")
        # round to microseconds as a float, then scale as an integer (exact)
        return (secs * 1e6).round().astype("Int64") * 1000
    if col.empty:
        return pd.Series([], index=col.index, dtype="Int64")
    text = col.where(~missing, "0").astype(str)
    parts = text.str.partition(".")
    whole = parts[0]
    negative = whole.str.startswith("-")
    sec = whole.str.lstrip("-").astype("int64")
    frac = parts[2].str.ljust(9, "0").str.slice(0, 9).astype("int64")
    ns = (sec * 1_000_000_000 + frac).where(~negative, -(sec * 1_000_000_000 + frac))
    return ns.astype("Int64").mask(missing)


def _strings(col: pd.Series, missing: pd.Series, from_json: bool) -> pd.Series:
    if from_json:
        return col.astype("string")
    s = col.where(~missing, None)
    if s.str.contains("\\x", regex=False).any():
        s = s.map(lambda v: unescape(v) if isinstance(v, str) else v)
    s = s.where(s != EMPTY, "")
    return s.astype("string")


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
