"""Broker's JSON v1 data model: one typed value ``{"@data-type": T, "data": V}`` each way.

Encoding takes Python values (or :class:`Typed` ones where Python's types are ambiguous);
decoding is strict and bounded, because Zeek's WebSocket API has no authentication and anything
on the wire may be hostile: the nesting depth, the elements of a container, the length of a
string all have limits, numbers must be finite and fit Zeek's 64-bit types, and every value must
have exactly the shape its type says.  Anything else raises :class:`CodecError`, and nothing else
is raised, with a *reason* (one word, for counters) and a message that quotes at most a few dozen
characters of the offending input.  The messages that carry these values are in :mod:`.codec`.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import math
import re
import reprlib
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 6
"""Containers nested inside one event argument (metadata needs 2, our events 0)."""
MAX_ELEMENTS = 256
"""Elements of one vector, set or table (our largest event has 17 arguments)."""
MAX_STRING = 4096
"""Characters of one string (Zeek cuts skype.log evidence at 400 by default)."""

COUNT_MAX = 2**64 - 1
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1

# reasons, for the counters of whoever drops a frame
TOO_LARGE = "too-large"
TOO_DEEP = "too-deep"
BAD_NUMBER = "bad-number"
MALFORMED = "malformed"

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
# [0-9], not \d: \d also matches other scripts' digits, which int() would accept
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|([+-])([0-9]{2}):?([0-9]{2}))?"
)
_TIMESPAN = re.compile(r"(-?[0-9]{1,20}(?:\.[0-9]{1,9})?)(ns|us|ms|s|min|h|d)")
_SPAN_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PORT = re.compile(r"([0-9]{1,5})/(tcp|udp|icmp|\?)")
_MAX_ADDRESS = 64  # the longest IPv6 text form is 45 characters (with a prefix, 49)

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40
_short.maxlevel, _short.maxlist, _short.maxdict = 2, 4, 4


def show(value: Any) -> str:
    """A short, printable quotation of untrusted input for log lines (never its whole size,
    never a control character)."""
    text = _short.repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def clip(text: str, limit: int = 120) -> str:
    """Untrusted text for a log line: at most *limit* characters, control characters escaped."""
    cut = text[:limit]
    if not cut.isprintable():
        cut = cut.encode("unicode_escape", "backslashreplace").decode("ascii")[:limit]
    return cut if len(text) <= limit else f"{cut}... ({len(text):,} characters)"


class CodecError(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong, *reason*
    which class of damage it is (one of the reason constants above, or the schema's)."""

    def __init__(self, message: str, reason: str = MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason


# -- typed values for encoding ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Typed:
    """A value with an explicit Broker type, for the cases Python's types are ambiguous."""

    data_type: str
    data: Any


def count(n: int) -> Typed:
    if not 0 <= n <= COUNT_MAX:
        raise CodecError(f"not a count: {n}", BAD_NUMBER)
    return Typed("count", int(n))


def integer(n: int) -> Typed:
    if not INTEGER_MIN <= n <= INTEGER_MAX:
        raise CodecError(f"not an integer: {n}", BAD_NUMBER)
    return Typed("integer", int(n))


def real(x: float) -> Typed:
    if not math.isfinite(x):
        raise CodecError(f"not a finite real: {x}", BAD_NUMBER)
    return Typed("real", float(x))


def timestamp(epoch: float) -> Typed:
    """Seconds since the epoch, as Zeek writes them (milliseconds, UTC, no zone)."""
    try:
        t = _EPOCH + _dt.timedelta(seconds=epoch)
    except (OverflowError, ValueError):
        raise CodecError(f"not a time: {epoch}", BAD_NUMBER) from None
    return Typed("timestamp", t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}")


def timespan(seconds: float) -> Typed:
    if not math.isfinite(seconds):
        raise CodecError(f"not a finite interval: {seconds}", BAD_NUMBER)
    return Typed("timespan", f"{round(seconds * 1e9)}ns")


def address(a: str) -> Typed:
    return Typed("address", str(ipaddress.ip_address(a)))


def port(number: int, proto: str = "tcp") -> Typed:
    if not 0 <= number <= 65535 or proto not in ("tcp", "udp", "icmp", "?"):
        raise CodecError(f"not a port: {number}/{proto}")
    return Typed("port", f"{number}/{proto}")


def enum(name: str) -> Typed:
    return Typed("enum-value", name)


def encode_value(v: Any) -> dict[str, Any]:
    if isinstance(v, Typed):
        return {"@data-type": v.data_type, "data": v.data}
    if v is None:
        return {"@data-type": "none", "data": {}}
    if isinstance(v, bool):
        return {"@data-type": "boolean", "data": v}
    if isinstance(v, int):
        return encode_value(count(v) if v >= 0 else integer(v))
    if isinstance(v, float):
        return encode_value(real(v))
    if isinstance(v, str):
        return {"@data-type": "string", "data": v}
    if isinstance(v, (list, tuple)):
        return {"@data-type": "vector", "data": [encode_value(x) for x in v]}
    if isinstance(v, (set, frozenset)):
        return {"@data-type": "set", "data": [encode_value(x) for x in sorted(v)]}
    raise CodecError(f"cannot encode {type(v).__name__} without a type")


# -- decoding -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Port:
    number: int
    proto: str


def checked_string(d: Any, what: str, limit: int = MAX_STRING) -> str:
    if type(d) is not str:
        raise CodecError(f"bad {what}: {show(d)}")
    if len(d) > limit:
        raise CodecError(f"{what} of {len(d):,} characters (limit {limit:,})", TOO_LARGE)
    if not d.isascii():
        try:  # lone surrogates ("\ud800") are valid JSON but cannot be written anywhere
            d.encode("utf-8")
        except UnicodeEncodeError:
            raise CodecError(f"{what} is not valid Unicode: {show(d)}") from None
    return d


def parse_address(d: Any) -> str:
    """An address as Zeek's ``addr`` holds it (no IPv6 zone), normalized."""
    if type(d) is not str or len(d) > _MAX_ADDRESS:
        raise CodecError(f"bad address: {show(d)}")
    try:
        ip = ipaddress.ip_address(d)
    except ValueError:
        raise CodecError(f"bad address: {show(d)}") from None
    if getattr(ip, "scope_id", None):  # "fe80::1%eth0": Zeek's addr has no zone
        raise CodecError(f"bad address: {show(d)}")
    return str(ip)


def checked_elements(d: Any, t: str) -> list:
    if type(d) is not list:
        raise CodecError(f"{t} data is not a list: {show(d)}")
    if len(d) > MAX_ELEMENTS:
        raise CodecError(f"{t} of {len(d):,} elements (limit {MAX_ELEMENTS})", TOO_LARGE)
    return d


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise CodecError("table key is a table")
    return key


def data_type(obj: Any) -> str | None:
    """The ``@data-type`` of a typed value, or None if *obj* is not shaped like one."""
    if type(obj) is dict:
        t = obj.get("@data-type")
        if type(t) is str:
            return t
    return None


def decode_value(obj: Any, depth: int = MAX_DEPTH) -> Any:
    """A typed JSON value to Python: count/integer -> int, real -> float (finite),
    timestamp -> epoch seconds (float), timespan -> seconds, address/subnet (normalized),
    enum/string -> str, port -> Port, vector/set -> list, table -> dict, none -> None.
    *depth* is how many containers may still nest inside this value."""
    t = data_type(obj)
    if t is None or "data" not in obj:
        raise CodecError(f"not a typed value: {show(obj)}")
    decode = _DECODERS.get(t)
    if decode is None:
        raise CodecError(f"unknown data type {show(t)}")
    return decode(obj["data"], t, depth)


# One decoder per data type, each given (data, type, depth): the type names the value in
# messages, depth limits the containers.


def _decode_string(d: Any, t: str, depth: int) -> str:
    return checked_string(d, t)


def _decode_address(d: Any, t: str, depth: int) -> str:
    return parse_address(d)


def _decode_int(d: Any, t: str, depth: int) -> int:
    if type(d) is not int:
        raise CodecError(f"bad {t}: {show(d)}")
    lo, hi = (0, COUNT_MAX) if t == "count" else (INTEGER_MIN, INTEGER_MAX)
    if not lo <= d <= hi:
        raise CodecError(f"{t} out of range: {show(d)}", BAD_NUMBER)
    return d


def _decode_port(d: Any, t: str, depth: int) -> Port:
    m = _PORT.fullmatch(d) if type(d) is str else None
    if not m:
        raise CodecError(f"bad port: {show(d)}")
    number = int(m.group(1))
    if number > 65535:
        raise CodecError(f"port out of range: {show(d)}", BAD_NUMBER)
    return Port(number, m.group(2))


def _decode_timestamp(d: Any, t: str, depth: int) -> float:
    return parse_timestamp(d)


def _decode_real(d: Any, t: str, depth: int) -> float:
    if type(d) is float:
        if not math.isfinite(d):
            raise CodecError(f"real is not finite: {d}", BAD_NUMBER)
        return d
    if type(d) is int:
        return float(d)
    raise CodecError(f"bad real: {show(d)}")


def _decode_boolean(d: Any, t: str, depth: int) -> bool:
    if type(d) is not bool:
        raise CodecError(f"boolean data is not true/false: {show(d)}")
    return d


def _decode_none(d: Any, t: str, depth: int) -> None:
    return None


def _decode_container(d: Any, t: str, depth: int) -> list | dict:
    items = checked_elements(d, t)
    if depth <= 0:
        raise CodecError(f"values nested more than {MAX_DEPTH} deep", TOO_DEEP)
    if t != "table":
        return [decode_value(x, depth - 1) for x in items]
    out = {}
    for kv in items:
        if type(kv) is not dict or kv.keys() != {"key", "value"}:
            raise CodecError(f"table entry is not {{key, value}}: {show(kv)}")
        key = _hashable(decode_value(kv["key"], depth - 1))
        out[key] = decode_value(kv["value"], depth - 1)
    return out


def _decode_timespan(d: Any, t: str, depth: int) -> float:
    m = _TIMESPAN.fullmatch(d) if type(d) is str else None
    if not m:
        raise CodecError(f"bad timespan: {show(d)}")
    return float(m.group(1)) * _SPAN_UNITS[m.group(2)]


def _decode_subnet(d: Any, t: str, depth: int) -> str:
    if type(d) is not str or len(d) > _MAX_ADDRESS:
        raise CodecError(f"bad subnet: {show(d)}")
    try:
        return str(ipaddress.ip_network(d, strict=False))
    except ValueError:
        raise CodecError(f"bad subnet: {show(d)}") from None


_DECODERS = {
    "string": _decode_string,
    "enum-value": _decode_string,
    "address": _decode_address,
    "count": _decode_int,
    "integer": _decode_int,
    "port": _decode_port,
    "timestamp": _decode_timestamp,
    "real": _decode_real,
    "boolean": _decode_boolean,
    "none": _decode_none,
    "vector": _decode_container,
    "set": _decode_container,
    "table": _decode_container,
    "timespan": _decode_timespan,
    "subnet": _decode_subnet,
}


def parse_timestamp(text: Any) -> float:
    """ISO 8601 as Broker writes it, to epoch seconds.  Years 1-9999 only (so the result is
    always finite), a zone offset below 24 hours, at most nanoseconds."""
    m = _TIMESTAMP.fullmatch(text) if type(text) is str else None
    if not m:
        raise CodecError(f"bad timestamp: {show(text)}")
    y, mo, d, h, mi, s, frac, zone, sign, zh, zm = m.groups()
    tz = _dt.UTC
    if zone and zone != "Z":
        if int(zh) >= 24 or int(zm) >= 60:
            raise CodecError(f"timestamp zone offset out of range: {show(text)}", BAD_NUMBER)
        offset = _dt.timedelta(hours=int(zh), minutes=int(zm))
        tz = _dt.timezone(offset if sign == "+" else -offset)
    try:
        base = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz)
        seconds = (base - _EPOCH).total_seconds()
    except (ValueError, OverflowError):  # month 13, second 61, year 0, 0001-01-01T00:00+01:00
        raise CodecError(f"bad timestamp: {show(text)}", BAD_NUMBER) from None
    return seconds + (float(frac) if frac else 0.0)
