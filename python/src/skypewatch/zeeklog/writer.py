"""Zeek's log formats: the ASCII (TSV) writer's layout and JSON lines, both ways.

Values follow the ASCII writer: ``-`` for unset, ``(empty)`` for an empty string or container,
``,`` between set elements, non-printable bytes and separators as ``\\xNN``, and a string that
*is* ``-`` escaped as ``\\x2d`` so it cannot be mistaken for unset.  A log is written to a
hidden temporary file and only renamed into place when closed, so an interrupted run never
leaves a log that looks finished.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .errors import SkypewatchError

Field = tuple[str, str]  # (name, Zeek type)

SEPARATOR = "\t"
SET_SEPARATOR = ","
EMPTY = "(empty)"
UNSET = "-"
_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("\\"), ord("\t")}
_UNESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


class LogFormatError(SkypewatchError):
    def __init__(self, path: str | Path, line: int, problem: str) -> None:
        self.path, self.line, self.problem = Path(path), line, problem
        super().__init__(f"{path}:{line}: {problem}")


def escape(s: str, in_set: bool = False) -> str:
    """Zeek's escaping, made exactly reversible: every byte of the UTF-8 encoding outside
    printable ASCII, and the separators and backslash, become ``\\xNN``."""
    if not s:
        return "" if in_set else EMPTY
    if s in (UNSET, EMPTY):
        return f"\\x{ord(s[0]):02x}" + s[1:]
    if (
        s.isascii()
        and s.isprintable()
        and "\\" not in s
        and "\t" not in s
        and (not in_set or "," not in s)
    ):
        return s
    out = []
    for byte in s.encode("utf-8", "surrogateescape"):
        if byte in _PLAIN and not (in_set and byte == 0x2C):
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def unescape(s: str) -> str:
    if "\\x" not in s:
        return s
    raw = bytearray()
    pos = 0
    for m in _UNESCAPE.finditer(s):
        raw += s[pos : m.start()].encode("utf-8", "surrogateescape")
        raw.append(int(m.group(1), 16))
        pos = m.end()
    raw += s[pos:].encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")


def format_value(ztype: str, value: Any) -> str:
    if value is None:
        return UNSET
    if ztype in ("time", "interval", "double"):
        return f"{value:.6f}"
    if ztype in ("count", "int", "port"):
        return str(int(value))
    if ztype == "bool":
        return "T" if value else "F"
    if ztype.startswith(("set[", "vector[")):
        # Python sets are sorted (deterministic output); lists keep the order they have.
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        if not items:
            return EMPTY
        return SET_SEPARATOR.join(escape(str(v), in_set=True) for v in items)
    return escape(str(value))


def _formatter(ztype: str):
    """A one-argument formatter for values of ``ztype`` (the writer's per-column fast path)."""
    if ztype in ("time", "interval", "double"):
        return lambda v: UNSET if v is None else "%.6f" % v  # noqa: UP031 - fastest here
    if ztype in ("count", "int", "port"):
        return lambda v: UNSET if v is None else str(int(v))
    if ztype in ("string", "addr", "enum"):
        return lambda v: UNSET if v is None else escape(str(v))
    return lambda v: format_value(ztype, v)


def json_value(ztype: str, value: Any) -> Any:
    if ztype.startswith("set["):
        return sorted(value)
    if ztype.startswith("vector["):
        return list(value)
    if ztype in ("count", "int", "port"):
        return int(value)
    if ztype == "bool":
        return bool(value)
    return value


class ZeekLogWriter:
    """Writes one Zeek log.  Use as a context manager; ``close(complete=False)`` marks the
    log as unfinished (no ``#close`` line), as Zeek leaves a log when it stops abnormally."""

    def __init__(
        self,
        directory: str | Path,
        path: str,
        fields: Sequence[Field],
        use_json: bool = False,
        streaming: bool = False,
        open_stamp: str | None = None,
        header: list[str] | None = None,
    ) -> None:
        """*streaming*: write to the final name and flush every line, as Zeek does on a live
        sensor (for a long-running process); otherwise the log appears when it is closed."""
        self.fields = list(fields)
        self.use_json = use_json
        self.streaming = streaming
        self.final = Path(directory) / f"{path}.log"
        self.tmp = self.final if streaming else Path(directory) / f".{path}.log.tmp"
        self.lines = 0
        self._formatters = [_formatter(t) for _, t in self.fields]
        self._fh: TextIO = open(self.tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        if header is not None and not use_json:
            self._fh.write("".join(line + "\n" for line in header))
        elif not use_json:
            names = [n for n, _ in self.fields]
            types = [t for _, t in self.fields]
            self._fh.write(
                "#separator \\x09\n"
                f"#set_separator{SEPARATOR}{SET_SEPARATOR}\n"
                f"#empty_field{SEPARATOR}{EMPTY}\n"
                f"#unset_field{SEPARATOR}{UNSET}\n"
                f"#path{SEPARATOR}{path}\n"
                f"#open{SEPARATOR}{open_stamp or _stamp()}\n"
                f"#fields{SEPARATOR}{SEPARATOR.join(names)}\n"
                f"#types{SEPARATOR}{SEPARATOR.join(types)}\n"
            )

    def write(self, values: Sequence[Any]) -> None:
        if self.use_json:
            obj = {
                name: json_value(ztype, v)
                for (name, ztype), v in zip(self.fields, values, strict=True)
                if v is not None
            }
            self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        else:
            if len(values) != len(self._formatters):
                raise ValueError(f"{len(values)} values for {len(self._formatters)} fields")
            self._fh.write(
                SEPARATOR.join([f(v) for f, v in zip(self._formatters, values, strict=True)]) + "\n"
            )
        self.lines += 1
        if self.streaming:
            self._fh.flush()

    def close(
        self,
        complete: bool = True,
        close_stamp: str | None = None,
        footer: list[str] | None = None,
    ) -> Path:
        if footer is not None and not self.use_json:
            self._fh.write("".join(line + "\n" for line in footer))
        elif not self.use_json and complete:
            self._fh.write(f"#close{SEPARATOR}{close_stamp or _stamp()}\n")
        self._fh.close()
        if not self.streaming:
            os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        self._fh.close()
        if not self.streaming:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ZeekLogWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _stamp() -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())


# -- reading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class LogHeader:
    path: str | None
    fields: list[str]
    types: list[str]
    closed: bool


def parse_value(ztype: str, raw: str) -> Any:
    """One ASCII-writer cell to a Python value (None for unset)."""
    if raw == UNSET:
        return None
    if ztype.startswith(("set[", "vector[")):
        if raw == EMPTY:
            return []
        inner = ztype[ztype.index("[") + 1 : -1]
        return [_element(inner, x) for x in raw.split(SET_SEPARATOR)]
    if ztype in ("time", "interval", "double"):
        return float(raw)
    if ztype in ("count", "int", "port"):
        return int(raw)
    if ztype == "bool":
        if raw not in ("T", "F"):
            raise ValueError(f"not a bool: {raw!r}")
        return raw == "T"
    if raw == EMPTY:
        return ""
    return unescape(raw)


def _element(ztype: str, raw: str) -> Any:
    """A container element: never unset, never the empty-container marker."""
    if ztype in ("string", "addr", "enum", "subnet"):
        return unescape(raw)
    return parse_value(ztype, raw)


def open_text(path: str | Path) -> TextIO:
    path = Path(path)
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, encoding="utf-8", errors="replace", newline="\n")


def read_log(path: str | Path) -> tuple[LogHeader, list[dict[str, Any]]]:
    """Read a whole Zeek log (TSV with header, or JSON lines); strict: raises on a bad line."""
    header = LogHeader(None, [], [], False)
    rows = list(iter_log(path, header))
    return header, rows


def iter_log(path: str | Path, header: LogHeader | None = None) -> Iterator[dict[str, Any]]:
    header = header if header is not None else LogHeader(None, [], [], False)
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LogFormatError(path, lineno, f"bad JSON: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise LogFormatError(path, lineno, "JSON line is not an object")
                yield obj
                continue
            if line.startswith("#"):
                key, _, value = line.partition(SEPARATOR)
                if key == "#fields":
                    header.fields = value.split(SEPARATOR)
                elif key == "#types":
                    header.types = value.split(SEPARATOR)
                elif key == "#path":
                    header.path = value
                elif key == "#close":
                    header.closed = True
                continue
            if not header.fields or len(header.types) != len(header.fields):
                raise LogFormatError(path, lineno, "data line before a #fields/#types header")
            cells = line.split(SEPARATOR)
            if len(cells) != len(header.fields):
                raise LogFormatError(
                    path, lineno, f"{len(cells)} columns where the header has {len(header.fields)}"
                )
            try:
                yield {
                    name: parse_value(t, c)
                    for name, t, c in zip(header.fields, header.types, cells, strict=True)
                }
            except ValueError as exc:
                raise LogFormatError(path, lineno, str(exc)) from None
