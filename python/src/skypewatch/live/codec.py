"""Broker's JSON v1 messages, as Zeek's WebSocket API speaks them.

An event is a ``data-message`` whose data is ``[count 1, count 1, [name, [args...],
(metadata)]]``, each part a typed value of :mod:`.values` (re-exported here, so callers need
only this module).  The client's first frame is its topic list; Zeek answers with an ack (or an
error).

Decoding is strict and bounded, because Zeek's WebSocket API has no authentication and
anything on the wire may be hostile: the frame size, the digits of a number and the length of a
name have limits here, the values' own limits are in :mod:`.values`.  Anything else raises
:class:`CodecError`, and nothing else is raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .values import (
    BAD_NUMBER,
    COUNT_MAX,
    INTEGER_MAX,
    INTEGER_MIN,
    MALFORMED,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_STRING,
    TOO_DEEP,
    TOO_LARGE,
    CodecError,
    Port,
    Typed,
    address,
    checked_elements,
    checked_string,
    clip,
    count,
    data_type,
    decode_value,
    encode_value,
    enum,
    integer,
    parse_address,
    parse_timestamp,
    port,
    real,
    show,
    timespan,
    timestamp,
)

__all__ = [
    "BAD_NUMBER",
    "COUNT_MAX",
    "INTEGER_MAX",
    "INTEGER_MIN",
    "MALFORMED",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_FRAME",
    "MAX_NAME",
    "MAX_NUMBER",
    "MAX_STRING",
    "TOO_DEEP",
    "TOO_LARGE",
    "Ack",
    "CodecError",
    "Error",
    "Event",
    "Message",
    "Port",
    "Typed",
    "address",
    "clip",
    "count",
    "data_type",
    "decode_message",
    "decode_value",
    "encode_event",
    "encode_value",
    "enum",
    "handshake",
    "integer",
    "parse_address",
    "parse_json",
    "parse_timestamp",
    "port",
    "real",
    "show",
    "timespan",
    "timestamp",
]

MAX_FRAME = 1 << 20
"""Characters (or bytes) of one frame.  Our largest event is about 2 KB."""
MAX_NAME = 256
"""Characters of an event name, topic or error text."""
MAX_NUMBER = 32
"""Characters of one JSON number literal: 2**64 has 20 digits, a double's repr 24 chars."""


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
    types: tuple[str, ...] = ()
    """The ``@data-type`` of each argument, so a schema can tell a time from a double."""


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


def _parse_int(text: str) -> int:
    # The default would convert up to sys.get_int_max_str_digits() digits (or any number of
    # them, if that is 0), in quadratic time, then fail with ValueError.
    if len(text) > MAX_NUMBER:
        raise CodecError(f"a number of {len(text):,} digits", BAD_NUMBER)
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER:
        raise CodecError(f"a number of {len(text):,} characters", BAD_NUMBER)
    return float(text)  # 1e999 is inf here; decode_value refuses it


def _parse_constant(text: str) -> float:
    raise CodecError(f"{text} is not JSON", BAD_NUMBER)


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
)


def parse_json(raw: str | bytes) -> Any:
    """One frame's JSON, within the frame, number and nesting limits."""
    if len(raw) > MAX_FRAME:
        raise CodecError(f"a frame of {len(raw):,} bytes (limit {MAX_FRAME:,})", TOO_LARGE)
    if not isinstance(raw, str):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return _DECODER.decode(raw)
    except json.JSONDecodeError as exc:
        raise CodecError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise CodecError("JSON nested too deep", TOO_DEEP) from None


def _is_count(obj: Any, n: int) -> bool:
    return data_type(obj) == "count" and type(obj.get("data")) is int and obj["data"] == n


def decode_message(raw: str | bytes) -> Message:
    """One frame from Zeek: an Ack, an Error or an Event; CodecError for anything else."""
    obj = parse_json(raw)
    if type(obj) is not dict:
        raise CodecError(f"frame is not a JSON object: {show(obj)}")
    kind = obj.get("type")
    if kind == "data-message":
        return _event(obj)
    if kind == "ack":
        endpoint, version = obj.get("endpoint"), obj.get("version")
        return Ack(
            checked_string(endpoint, "ack endpoint", MAX_NAME),
            checked_string(version, "ack version", MAX_NAME),
        )
    if kind == "error":
        code, context = obj.get("code", ""), obj.get("context", "")
        return Error(
            code[:MAX_NAME] if type(code) is str else show(code),
            context[:MAX_NAME] if type(context) is str else show(context),
        )
    raise CodecError(f"unknown message type {show(kind)}")


def _event(obj: dict) -> Event:
    topic = checked_string(obj.get("topic"), "topic", MAX_NAME)
    if obj.get("@data-type") != "vector":
        raise CodecError("data-message data is not a vector")
    body = checked_elements(obj.get("data"), "data-message")
    if len(body) != 3 or not _is_count(body[0], 1):
        raise CodecError("data-message is not [format 1, type, content]")
    if not _is_count(body[1], 1):
        raise CodecError(f"data-message of type {show(body[1])}, not an event")
    content = body[2]
    if data_type(content) != "vector":
        raise CodecError("event content is not a vector")
    parts = checked_elements(content.get("data"), "event")
    if len(parts) not in (2, 3):
        raise CodecError("event is not [name, args, (metadata)]")
    if data_type(parts[0]) != "string":
        raise CodecError(f"event name is not a string: {show(parts[0])}")
    name = checked_string(parts[0].get("data"), "event name", MAX_NAME)
    if data_type(parts[1]) != "vector":
        raise CodecError(f"{show(name)}: arguments are not a vector")
    raw_args = checked_elements(parts[1].get("data"), "arguments")
    args = [decode_value(a) for a in raw_args]
    types = tuple(a["@data-type"] for a in raw_args)  # all typed: decode_value checked
    meta: list[Any] = []
    if len(parts) == 3:
        meta = decode_value(parts[2])
        if not isinstance(meta, list):
            raise CodecError(f"{show(name)}: metadata is not a vector")
    return Event(topic, name, args, meta, types)
