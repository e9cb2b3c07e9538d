"""Broker's JSON v1 data model, as Zeek's WebSocket API speaks it.

Every value travels as ``{"@data-type": T, "data": V}`` with strict types: a ``count`` is not
an ``integer``, ports are ``"443/tcp"``, timestamps ``"2006-08-25T19:32:21.699"`` (UTC, no zone).
An event is a ``data-message`` whose data is ``[count 1, count 1, [name, [args...],
(metadata)]]``.  The client's first frame is its topic list; Zeek answers with an ack (or an
error).  Decoding is strict and raises :class:`CodecError` with the reason, so the caller can
log exactly why it dropped a message.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_TIMESPAN = re.compile(r"^(-?\d+(?:\.\d+)?)(ns|us|ms|s|min|h|d)$")
_SPAN_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


class CodecError(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong."""


# -- typed values for encoding ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Typed:
    """A value with an explicit Broker type, for the cases Python's types are ambiguous."""

    data_type: str
    data: Any


def count(n: int) -> Typed:
    if n < 0:
        raise CodecError(f"count must not be negative: {n}")
    return Typed("count", int(n))


def integer(n: int) -> Typed:
    return Typed("integer", int(n))


def real(x: float) -> Typed:
    return Typed("real", float(x))


def timestamp(epoch: float) -> Typed:
    """Seconds since the epoch, as Zeek writes them (milliseconds, UTC, no zone)."""
    t = _EPOCH + _dt.timedelta(seconds=epoch)
    return Typed("timestamp", t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}")


def timespan(seconds: float) -> Typed:
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
        return {"@data-type": "count" if v >= 0 else "integer", "data": v}
    if isinstance(v, float):
        return {"@data-type": "real", "data": v}
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


def decode_value(obj: Any) -> Any:
    """A typed JSON value to Python: count/integer -> int, real -> float, timestamp -> epoch
    seconds (float), timespan -> seconds, address/subnet/enum/string -> str, port -> Port,
    vector/set -> list, table -> dict, none -> None."""
    if not isinstance(obj, dict) or "@data-type" not in obj or "data" not in obj:
        raise CodecError(f"not a typed value: {str(obj)[:80]}")
    t, d = obj["@data-type"], obj["data"]
    if t == "none":
        return None
    if t == "boolean":
        if not isinstance(d, bool):
            raise CodecError("boolean data is not true/false")
        return d
    if t in ("count", "integer"):
        if not isinstance(d, int) or isinstance(d, bool) or (t == "count" and d < 0):
            raise CodecError(f"bad {t}: {d!r}")
        return d
    if t == "real":
        if not isinstance(d, (int, float)) or isinstance(d, bool):
            raise CodecError(f"bad real: {d!r}")
        return float(d)
    if t == "string" or t == "enum-value":
        if not isinstance(d, str):
            raise CodecError(f"bad {t}: {d!r}")
        return d
    if t == "address":
        try:
            return str(ipaddress.ip_address(d))
        except (ValueError, TypeError):
            raise CodecError(f"bad address: {d!r}") from None
    if t == "subnet":
        try:
            return str(ipaddress.ip_network(d, strict=False))
        except (ValueError, TypeError):
            raise CodecError(f"bad subnet: {d!r}") from None
    if t == "port":
        m = re.fullmatch(r"(\d+)/(tcp|udp|icmp|\?)", d) if isinstance(d, str) else None
        if not m or int(m.group(1)) > 65535:
            raise CodecError(f"bad port: {d!r}")
        return Port(int(m.group(1)), m.group(2))
    if t == "timestamp":
        return parse_timestamp(d)
    if t == "timespan":
        m = _TIMESPAN.match(d) if isinstance(d, str) else None
        if not m:
            raise CodecError(f"bad timespan: {d!r}")
        return float(m.group(1)) * _SPAN_UNITS[m.group(2)]
    if t in ("vector", "set"):
        if not isinstance(d, list):
            raise CodecError(f"{t} data is not a list")
        return [decode_value(x) for x in d]
    if t == "table":
        if not isinstance(d, list):
            raise CodecError("table data is not a list")
        out = {}
        for kv in d:
            if not isinstance(kv, dict) or set(kv) != {"key", "value"}:
                raise CodecError("table entry is not {key, value}")
            key = decode_value(kv["key"])
            out[tuple(key) if isinstance(key, list) else key] = decode_value(kv["value"])
        return out
    raise CodecError(f"unknown data type {t!r}")


def parse_timestamp(text: Any) -> float:
    if not isinstance(text, str):
        raise CodecError(f"bad timestamp: {text!r}")
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", text)
    if not m:
        raise CodecError(f"bad timestamp: {text!r}")
    try:
        base = _dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise CodecError(f"bad timestamp: {text!r}") from None
    zone = m.group(3)
    tz = _dt.UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    seconds = (base.replace(tzinfo=tz) - _EPOCH).total_seconds()
    return seconds + (float(m.group(2)) if m.group(2) else 0.0)


# -- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    endpoint: str
    version: str


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    context: str


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    name: str
    args: list[Any]
    metadata: list[Any] = field(default_factory=list)


Message = Ack | Error | Event


def handshake(topics: list[str]) -> str:
    """The client's first frame: the topic prefixes it subscribes to."""
    if not all(isinstance(t, str) and t for t in topics):
        raise CodecError("topics must be non-empty strings")
    return json.dumps(list(topics))


def encode_event(topic: str, name: str, args: list[Any]) -> str:
    return json.dumps(
        {
            "type": "data-message",
            "topic": topic,
            "@data-type": "vector",
            "data": [
                {"@data-type": "count", "data": 1},
                {"@data-type": "count", "data": 1},
                {
                    "@data-type": "vector",
                    "data": [
                        {"@data-type": "string", "data": name},
                        {"@data-type": "vector", "data": [encode_value(a) for a in args]},
                    ],
                },
            ],
        },
        separators=(",", ":"),
    )


def decode_message(raw: str | bytes) -> Message:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CodecError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CodecError("frame is not a JSON object")
    kind = obj.get("type")
    if kind == "ack":
        if not isinstance(obj.get("endpoint"), str) or not isinstance(obj.get("version"), str):
            raise CodecError("ack without endpoint or version")
        return Ack(obj["endpoint"], obj["version"])
    if kind == "error":
        return Error(str(obj.get("code", "")), str(obj.get("context", "")))
    if kind != "data-message":
        raise CodecError(f"unknown message type {kind!r}")
    topic = obj.get("topic")
    if not isinstance(topic, str):
        raise CodecError("data-message without a topic")
    if obj.get("@data-type") != "vector":
        raise CodecError("data-message data is not a vector")
    body = decode_value({"@data-type": "vector", "data": obj.get("data")})
    if len(body) != 3 or body[0] != 1:
        raise CodecError("data-message is not [format 1, type, content]")
    if body[1] != 1:
        raise CodecError(f"data-message of type {body[1]}, not an event")
    content = body[2]
    if not isinstance(content, list) or len(content) not in (2, 3):
        raise CodecError("event is not [name, args, (metadata)]")
    name, args = content[0], content[1]
    if not isinstance(name, str) or not isinstance(args, list):
        raise CodecError("event name is not a string or its args not a vector")
    meta = content[2] if len(content) == 3 else []
    return Event(topic, name, args, meta if isinstance(meta, list) else [])
