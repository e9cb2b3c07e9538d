"""Target ``ws-codec``: one WebSocket frame from Zeek through the codec, the event schema,
the correlation engine and the live correlator's frame handler.

Contract: ``decode_message`` returns an Ack, Error or Event or raises ``CodecError`` (the
same for the frame as bytes and as text); ``to_input`` turns a known event into an engine
input or raises ``CodecError``; an input it lets through has a time within 1970..2100 and
ports 0-65535, encodes back to a frame that decodes to the same input (times to the
millisecond), and feeds the engine without an exception; every notice encodes.  The live
handler never counts an internal error, and every line it logs is one line of at most a few
hundred characters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math

from skypewatch.correlation.engine import CorrelationEngine
from skypewatch.correlation.events import LATEST, ProbeEvent, TcpEvent, valid_time
from skypewatch.live import codec, schema
from skypewatch.live.bridge import ZeekBridge
from skypewatch.skypelog import SkypeRecord

from . import seeds
from .harness import Target, Violation, Workspace
from .zeek_log import JSON_TOKENS

TOPIC = "zeek/skype/"
DICTIONARY = (
    *JSON_TOKENS,
    b'"@data-type"',
    b'"data"',
    b'"type"',
    b'"topic"',
    b'"data-message"',
    b'"ack"',
    b'"error"',
    b'"count"',
    b'"integer"',
    b'"real"',
    b'"timestamp"',
    b'"timespan"',
    b'"port"',
    b'"address"',
    b'"subnet"',
    b'"vector"',
    b'"set"',
    b'"table"',
    b'"none"',
    b'"boolean"',
    b'"enum-value"',
    b'"string"',
    b'"key"',
    b'"value"',
    b'"443/tcp"',
    b'"99999/udp"',
    b'"0/icmp"',
    b'"2006-08-25T19:32:21.699+23:59"',
    b'"9999-12-31T23:59:59"',
    b'"0001-01-01T00:00:00-01:00"',
    b'"2100-01-01T00:00:00.001"',
    b'"1e9ns"',
    b'"-5min"',
    b'"Skype::detection"',
    b'"Skype::probe_seen"',
    b'"Skype::tcp_session_seen"',
    b"-9223372036854775809",
    b"9223372036854775808",
)


def _check_input(item: SkypeRecord | ProbeEvent | TcpEvent) -> None:
    if not valid_time(item.ts):
        raise Violation("schema let through a time out of range", repr(item.ts))
    ports = (
        (item.orig_p, item.resp_p)
        if isinstance(item, SkypeRecord)
        else (item.client_port, item.peer_port)
    )
    if not all(type(p) is int and 0 <= p <= 65535 for p in ports):
        raise Violation("schema let through a port out of range", repr(ports))
    if isinstance(item, SkypeRecord) and not math.isfinite(item.duration):
        raise Violation("schema let through a duration that is not finite", repr(item.duration))


def _round_trip(item: SkypeRecord | ProbeEvent | TcpEvent) -> None:
    if isinstance(item, SkypeRecord):
        frame = schema.detection_event(TOPIC + "detection", item)
    elif isinstance(item, ProbeEvent):
        frame = schema.probe_event(TOPIC + "probe", item)
    else:
        frame = schema.tcp_event(TOPIC + "tcp", item)
    try:
        again = schema.to_input(codec.decode_message(frame), not_after=LATEST + 1)
    except codec.CodecError as exc:
        raise Violation("an accepted event does not survive encoding", str(exc)[:200]) from None
    if abs(again.ts - item.ts) > 0.0011 or dataclasses.replace(again, ts=item.ts) != item:
        raise Violation("an accepted event changes on the way back", f"{item!r:.200}")


class _Live:
    """One live correlator (never connected) whose frame handler sees every input."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.client = ZeekBridge(
            "ws://127.0.0.1:9", CorrelationEngine(), lambda _n, _d: None, self.lines.append
        )

    def handle(self, raw: bytes) -> None:
        self.lines.clear()
        self.loop.run_until_complete(self.client.handle(raw))
        if self.client.stats.dropped.get("internal-error"):
            raise Violation("live handler hit an internal error", " / ".join(self.lines)[:300])
        for line in self.lines:
            if "\n" in line or len(line) > 600:
                raise Violation(
                    "live handler logged a long or multi-line message", repr(line[:100])
                )


def run(data: bytes, ws: Workspace) -> None:
    try:
        msg = codec.decode_message(data)
    except codec.CodecError:
        msg = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        try:
            same = codec.decode_message(text)
        except codec.CodecError:
            same = None
        if same != msg:
            raise Violation("a frame decodes differently as bytes and as text")
    if isinstance(msg, codec.Event) and msg.name in schema.KNOWN_EVENTS:
        try:
            item = schema.to_input(msg)
        except codec.CodecError:
            item = None
        if item is not None:
            _check_input(item)
            _round_trip(item)
            engine = CorrelationEngine()
            notices = engine.feed(item) + engine.flush()
            for n in notices:
                schema.notice_event(TOPIC + "notice", n)
    live: _Live = ws.remember("live", _Live)  # type: ignore[assignment]
    live.handle(data)


TARGET = Target(
    "ws-codec", run, seeds.ws_frames, deadline=5.0, max_len=64 * 1024, dictionary=DICTIONARY
)
