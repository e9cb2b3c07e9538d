"""What a valid value of each Zeek type is, in TSV cells and in JSON, and its Python form.

One definition serves both readers: the per-line reader calls the parsers below, and the bulk
reader (``bulk.py``) runs the same regular expressions over whole Arrow columns (RE2 and
Python's ``re`` accept both spellings), then the same range checks.  Anything that is not a
well-formed value of its declared type is refused: non-finite or absurd times, ports outside
0-65535, integers with more digits than their type holds, addresses that are not addresses,
JSON values of the wrong kind (a list where a string belongs, a number for a version).

Python forms (the "canonical" values): ``time``/``interval``/``double`` float seconds,
``count``/``int``/``port`` int, ``bool`` bool, string-like types str (escapes undone),
containers lists of their element's form, unset ``None``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .format import DEFAULT_DIALECT, Dialect, inner_type, is_container, shorten, unescape

EARLIEST = 0.0
"""No Zeek network time is before the epoch."""
LATEST = 4_102_444_800.0
"""2100-01-01 (as the live correlator's schema): beyond any capture, and exact in a double to
the microsecond, so times read back exactly."""
MAX_COUNT = 2**64 - 1
INT_RANGE = (-(2**63), 2**63 - 1)
MAX_PORT = 65535

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9a-fA-F]{1,4}"
IPV6 = (
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}"
    rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
    rf"|::(?:ffff(?::0{{1,4}})?:)?{IPV4}|(?:{_H}:){{1,4}}:{IPV4}|(?:{_H}:){{6}}{IPV4})"
)
ADDR = rf"(?:{IPV4}|{IPV6})"
SUBNET = rf"(?:{IPV4}/(?:3[0-2]|[12]?[0-9])|{IPV6}/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))"

# Cell syntax per type (TSV).  Numbers are plain decimals as Zeek writes them: no exponent
# (so no 1e999), no inf/nan, no digit strings longer than the type can hold.
PATTERNS: dict[str, str] = {
    "time": r"[0-9]{1,10}(?:\.[0-9]{1,9})?",
    "interval": r"-?[0-9]{1,10}(?:\.[0-9]{1,9})?",
    "double": r"-?[0-9]{1,20}(?:\.[0-9]{1,17})?(?:[eE][-+]?[0-9]{1,3})?",
    "count": r"[0-9]{1,20}",
    "int": r"-?[0-9]{1,19}",
    "port": r"[0-9]{1,5}",
    "bool": r"[TF]",
    "addr": ADDR,
    "subnet": SUBNET,
}
_COMPILED = {t: re.compile(p) for t, p in PATTERNS.items()}
LIMITS: dict[str, tuple[float, float]] = {
    "time": (EARLIEST, LATEST),
    "double": (-sys.float_info.max, sys.float_info.max),  # finite: no inf, no NaN
    "interval": (-LATEST, LATEST),
    "count": (0, MAX_COUNT),
    "int": INT_RANGE,
    "port": (0, MAX_PORT),
}
KIND = {
    "time": "time",
    "interval": "interval",
    "double": "number",
    "count": "count",
    "int": "integer",
    "port": "port",
    "bool": "bool (T or F)",
    "addr": "address",
    "subnet": "subnet",
}


def describe(ztype: str) -> str:
    return KIND.get(ztype, ztype)


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _in_range(ztype: str, v: float) -> bool:
    lo, hi = LIMITS.get(ztype, (-math.inf, math.inf))
    return lo <= v <= hi


# -- TSV -----------------------------------------------------------------------------------


def tsv_parser(ztype: str, dialect: Dialect = DEFAULT_DIALECT) -> Callable[[str], Any]:
    """A function from one TSV cell of *ztype* to its Python form; ValueError if malformed.
    *dialect*: the log's unset and empty markers and set separator."""
    unset, empty, set_separator = dialect.unset, dialect.empty, dialect.set_separator
    if is_container(ztype):
        element = _tsv_scalar(inner_type(ztype), True, unset, empty)

        def container(raw: str) -> Any:
            if raw == unset:
                return None
            if raw == empty:
                return []
            return [element(x) for x in raw.split(set_separator)]

        return container
    return _tsv_scalar(ztype, False, unset, empty)


def _tsv_scalar(ztype: str, in_container: bool, unset: str, empty: str) -> Callable[[str], Any]:
    pattern = _COMPILED.get(ztype)
    if pattern is None:  # string-like: anything, escapes undone
        if in_container:
            return unescape

        def text(raw: str) -> Any:
            if raw == unset:
                return None
            return "" if raw == empty else unescape(raw)

        return text
    convert: Callable[[str], Any] = (
        float
        if ztype in ("time", "interval", "double")
        else int
        if ztype in ("count", "int", "port")
        else (lambda s: s == "T")
        if ztype == "bool"
        else str
    )
    match = pattern.fullmatch

    def scalar(raw: str) -> Any:
        if raw == unset and not in_container:
            return None
        if match(raw) is None:
            raise ValueError(f"not {_a(describe(ztype))}: {shorten(raw)}")
        v = convert(raw)
        if ztype in LIMITS and not _in_range(ztype, v):
            raise ValueError(f"{describe(ztype)} out of range: {shorten(raw)}")
        return v

    return scalar


def parse_value(ztype: str, raw: str) -> Any:
    """One ASCII-writer cell to its Python form (None for unset); ValueError if malformed."""
    return tsv_parser(ztype)(raw)


# -- JSON ----------------------------------------------------------------------------------


def json_checker(ztype: str) -> Callable[[Any], Any]:
    """A function from one parsed JSON value of *ztype* to its Python form; ValueError if the
    value is of the wrong kind or out of range.  ``None`` (JSON null) is unset."""
    if is_container(ztype):
        element = _json_scalar(inner_type(ztype))

        def container(v: Any) -> Any:
            if v is None:
                return None
            if not isinstance(v, list):
                raise ValueError(f"not a list: {shorten(v)}")
            return [element(x) for x in v]

        return container
    scalar = _json_scalar(ztype)
    return lambda v: None if v is None else scalar(v)


def _json_scalar(ztype: str) -> Callable[[Any], Any]:
    if ztype in ("time", "interval", "double"):

        def number(v: Any) -> float:
            if ztype == "time" and isinstance(v, str):
                v = _iso_time(v)
            if type(v) not in (int, float):  # bool is an int subclass: refused here
                raise ValueError(f"not {_a(describe(ztype))}: {shorten(v)}")
            f = float(v)
            if not _in_range(ztype, f):  # NaN fails too
                raise ValueError(f"{describe(ztype)} out of range: {shorten(v)}")
            return f

        return number
    if ztype in ("count", "int", "port"):

        def integer(v: Any) -> int:
            if type(v) is not int or not _in_range(ztype, v):
                raise ValueError(f"not {_a(describe(ztype))}: {shorten(v)}")
            return v

        return integer
    if ztype == "bool":

        def boolean(v: Any) -> bool:
            if type(v) is not bool:
                raise ValueError(f"not a bool: {shorten(v)}")
            return v

        return boolean
    pattern = _COMPILED.get(ztype)

    def string(v: Any) -> str:
        if type(v) is not str:
            raise ValueError(f"not {_a(describe(ztype)) if pattern else 'a string'}: {shorten(v)}")
        if pattern is not None and pattern.fullmatch(v) is None:
            raise ValueError(f"not {_a(describe(ztype))}: {shorten(v)}")
        if not v.isascii():
            v.encode("utf-8")  # a lone surrogate (\ud800) is no text: UnicodeError
        return v

    return string  # unknown types read as text, as Zeek's own tools do


def _iso_time(text: str) -> float:
    """Zeek's ``json_timestamps=JSON::TS_ISO8601``: 2026-11-27T12:00:00.123456Z."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {shorten(text)}") from None
    if t.tzinfo is None:  # as Arrow's parser reads it: UTC
        t = t.replace(tzinfo=UTC)
    return t.timestamp()
