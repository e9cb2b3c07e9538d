"""Test helpers for the live correlator: good Zeek events, every class of hostile frame, random
frames, fake Zeek WebSocket servers (in the test's event loop, or in a thread for tests
that run ``skypewatch correlate --zeek`` as a subprocess), a raw peer that breaks the WebSocket
protocol itself, and the limit every wait on a condition has."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import os
import random
import signal
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import websockets

from skypewatch.correlation.events import ProbeEvent, TcpEvent
from skypewatch.live import codec, schema
from skypewatch.skypelog import SkypeRecord

TOPIC = "zeek/skype/"


def _test_timeout() -> float:
    text = os.environ.get("SKYPEWATCH_TEST_TIMEOUT", "60")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise RuntimeError(f"SKYPEWATCH_TEST_TIMEOUT={text!r}: expected seconds > 0")
    return value


TEST_TIMEOUT = _test_timeout()
"""The longest a live test waits for a condition before it fails (SKYPEWATCH_TEST_TIMEOUT,
default 60 s; raise it on a loaded machine).  Tests wait for what they need to see, never a
fixed time, so the limit only decides how long a broken build takes to fail."""


def wait_until(what: Callable[[], bool], why: str, timeout: float = TEST_TIMEOUT) -> None:
    """Poll *what* (from a thread other than the one doing the work) until it holds."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s (SKYPEWATCH_TEST_TIMEOUT): {why}")
        time.sleep(0.01)


async def until(what: Callable[[], bool], why: str, timeout: float = TEST_TIMEOUT) -> None:
    """The same, in an event loop: the work goes on while it waits."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s (SKYPEWATCH_TEST_TIMEOUT): {why}")
        await asyncio.sleep(0.01)


ARGS = ("data", 2, "data", 1, "data")  # the path from a frame to its argument list


def startup(client: str, t0: float = 1000.0, tag: str = "") -> list[SkypeRecord]:
    """A Skype start-up as skype.log records: probe (confirmed), super-node TCP, login; one
    Login_Sequence notice for *client* once the engine flushes."""
    base = SkypeRecord(
        ts=t0,
        uid=f"Cprobe{tag}0000000001"[:18],
        orig_h=client,
        orig_p=35990,
        resp_h="81.1.1.1",
        resp_p=4000,
        proto="udp",
        duration=0.3,
        stage="probe",
        signatures=frozenset({"u1_u2_nack", "u3_resend"}),
        client=client,
        peer="81.1.1.1",
        peer_role="super_node",
        client_public_ip="86.1.1.1",
        skype_version=None,
        confidence="confirmed",
        evidence="U3 names the super node",
    )
    return [
        base,
        replace(
            base,
            ts=t0 + 2.5,
            uid=f"Ctcp{tag}000000000002"[:18],
            orig_p=50000,
            proto="tcp",
            stage="sn_handshake",
            signatures=frozenset({"tcp_to_probed_peer"}),
            confidence="likely",
            client_public_ip=None,
        ),
        replace(
            base,
            ts=t0 + 4.0,
            uid=f"Clogin{tag}0000000003"[:18],
            orig_p=50001,
            resp_h="91.1.1.1",
            resp_p=33033,
            proto="tcp",
            stage="login",
            peer="91.1.1.1",
            peer_role="login_server",
            signatures=frozenset({"login_handshake"}),
            client_public_ip=None,
            skype_version="3.8.0.188",
        ),
    ]


def detection(r: SkypeRecord) -> str:
    return schema.detection_event(TOPIC + "detection", r)


def probe(ev: ProbeEvent) -> str:
    return schema.probe_event(TOPIC + "probe", ev)


def tcp(ev: TcpEvent) -> str:
    return schema.tcp_event(TOPIC + "tcp", ev)


GOOD = startup("10.0.0.5")
GOOD_PROBE = ProbeEvent(1001.0, "Cp1", "10.0.0.5", 35990, "81.1.1.1", 4000)
GOOD_TCP = TcpEvent(1002.0, "Ct1", "10.0.0.5", 50000, "81.1.1.1", 4000)


def with_arg(frame: str, i: int, value, keep: bool = True) -> str:
    """*frame* with argument *i* replaced by the typed JSON *value* (or removed)."""
    obj = json.loads(frame)
    args = obj
    for step in ARGS:
        args = args[step]
    if value is None and not keep:
        del args[i]
    else:
        args[i] = value
    return json.dumps(obj)


def raw_arg(frame: str, i: int, data_type: str, literal: str) -> str:
    """*frame* with argument *i* set to ``{"@data-type": data_type, "data": <literal>}``,
    the literal pasted as is (for numbers JSON can write but Python's json cannot)."""
    marker = "__ARG_MARKER__"
    text = with_arg(frame, i, {"@data-type": data_type, "data": marker})
    return text.replace(f'"{marker}"', literal)


def t(data_type: str, data) -> dict:
    return {"@data-type": data_type, "data": data}


class RawText(bytes):
    """Bytes to send in a *text* frame, unchecked: the way to put invalid UTF-8 on the wire."""


async def send(ws, frame: str | bytes) -> None:
    await ws.send(frame, text=True) if isinstance(frame, RawText) else await ws.send(frame)


@dataclass(frozen=True)
class Hostile:
    name: str
    frame: str | bytes
    reason: str  # the drop counter it must land in


def hostile_frames() -> list[Hostile]:
    """One frame per class of damage the issue lists, and the counter each must land in."""
    det = detection(GOOD[0])
    big = codec.MAX_FRAME
    deep = "[" * 100_000 + "]" * 100_000
    nested_obj = '{"a":' * 5000 + "1" + "}" * 5000
    out = [
        # sizes
        Hostile("8 MB event name", codec.encode_event(TOPIC, "x" * (8 << 20), []), "too-large"),
        Hostile("frame over the limit", " " * (big + 1), "too-large"),
        Hostile("long event name", codec.encode_event(TOPIC, "N" * 300_000, []), "too-large"),
        Hostile("long string", with_arg(det, 16, t("string", "e" * 100_000)), "too-large"),
        Hostile("long topic", json.dumps({**json.loads(det), "topic": "t" * 10_000}), "too-large"),
        Hostile(
            "vector of 100,000",
            with_arg(det, 16, t("vector", [t("count", 1)] * 100_000)),
            "too-large",
        ),
        Hostile("set of 1,000", with_arg(det, 9, t("set", [t("string", "s")] * 1000)), "too-large"),
        # depth
        Hostile("JSON 100,000 deep", deep, "too-deep"),
        Hostile("object 5,000 deep", nested_obj, "too-deep"),
        Hostile("vectors 50 deep", with_arg(det, 16, _nested(50)), "too-deep"),
        # numbers
        Hostile("integer of 5,000 digits", raw_arg(det, 0, "count", "9" * 5000), "bad-number"),
        Hostile("integer of 100,000 digits", raw_arg(det, 0, "count", "9" * 100_000), "bad-number"),
        Hostile("count beyond 2**64", raw_arg(det, 0, "count", str(2**64)), "bad-number"),
        Hostile(
            "integer below -2**63", raw_arg(det, 0, "integer", str(-(2**63) - 1)), "bad-number"
        ),
        Hostile("NaN", raw_arg(det, 7, "real", "NaN"), "bad-number"),
        Hostile("Infinity", raw_arg(det, 7, "real", "Infinity"), "bad-number"),
        Hostile("-Infinity", raw_arg(det, 0, "real", "-Infinity"), "bad-number"),
        Hostile("real 1e999", raw_arg(det, 7, "real", "1e999"), "bad-number"),
        Hostile(
            "real of 10,000 digits", raw_arg(det, 7, "real", "1." + "1" * 10_000), "bad-number"
        ),
        Hostile(
            "timestamp zone +24:00",
            with_arg(det, 0, t("timestamp", "2006-08-25T19:32:12.777+24:00")),
            "bad-number",
        ),
        Hostile(
            "timestamp zone -99:99",
            with_arg(det, 0, t("timestamp", "2006-08-25T19:32:12-99:99")),
            "bad-number",
        ),
        Hostile(
            "timestamp month 13",
            with_arg(det, 0, t("timestamp", "2006-13-25T19:32:12")),
            "bad-number",
        ),
        Hostile(
            "timestamp year 1 minus an hour",
            with_arg(det, 0, t("timestamp", "0001-01-01T00:00:00+01:00")),
            "bad-arguments",
        ),
        Hostile("port 65536", with_arg(det, 3, t("port", "65536/udp")), "bad-number"),
        Hostile(
            "port of 5,000 digits", with_arg(det, 3, t("port", "9" * 5000 + "/udp")), "malformed"
        ),
        Hostile(
            "port in Arabic digits", with_arg(det, 3, t("port", "\u0663\u0664/udp")), "malformed"
        ),
        Hostile("port as a number", with_arg(det, 3, t("port", 443)), "malformed"),
        Hostile("port without proto", with_arg(det, 3, t("port", "443")), "malformed"),
        # values that do not fit their type
        Hostile("address as a number", with_arg(det, 2, t("address", 5)), "malformed"),
        Hostile("address 999.1.1.1", with_arg(det, 2, t("address", "999.1.1.1")), "malformed"),
        Hostile("address with a zone", with_arg(det, 2, t("address", "fe80::1%eth0")), "malformed"),
        Hostile("address of 1 MB", with_arg(det, 2, t("address", "1" * 500_000)), "malformed"),
        Hostile("lone surrogate", with_arg(det, 1, t("string", "\ud800")), "malformed"),
        Hostile("boolean as 1", with_arg(det, 7, t("boolean", 1)), "malformed"),
        Hostile("real as true", with_arg(det, 7, t("real", True)), "malformed"),
        Hostile("unknown data type", with_arg(det, 7, t("blob" * 10_000, 1)), "malformed"),
        Hostile(
            "table keyed by a table",
            with_arg(det, 7, t("table", [{"key": t("table", []), "value": t("none", {})}])),
            "malformed",
        ),
        Hostile("not JSON", "this is not json", "malformed"),
        Hostile("not UTF-8", b"\xff\xfe{\x00", "malformed"),
        Hostile("text frame of invalid UTF-8", RawText(b'{"type": "\xff"}'), "malformed"),
        Hostile("random bytes", bytes(range(256)), "malformed"),
        Hostile("JSON array", "[1, 2]", "malformed"),
        Hostile("no topic", '{"type": "data-message"}', "malformed"),
        Hostile("unknown message type", json.dumps({"type": "m" * 100_000}), "malformed"),
        Hostile(
            "format as boolean",
            json.dumps(
                {**json.loads(det), "data": [t("boolean", True), *json.loads(det)["data"][1:]]}
            ),
            "malformed",
        ),
        # arguments of the wrong type or out of range (the schema)
        Hostile("time as a real", with_arg(det, 0, t("real", 1e303)), "bad-arguments"),
        Hostile("time as a count", with_arg(det, 0, t("count", 1000)), "bad-arguments"),
        Hostile(
            "time in year 9999",
            with_arg(det, 0, t("timestamp", "9999-12-31T23:59:59.999")),
            "bad-arguments",
        ),
        Hostile(
            "time before the epoch",
            with_arg(det, 0, t("timestamp", "1969-12-31T23:59:59")),
            "bad-arguments",
        ),
        Hostile("address as a string", with_arg(det, 2, t("string", "not an ip")), "bad-arguments"),
        Hostile(
            "client_public_ip as a list",
            with_arg(det, 13, t("vector", [t("string", "86.1.1.1")])),
            "bad-arguments",
        ),
        Hostile(
            "client_public_ip not an address", with_arg(det, 13, t("string", "x")), "bad-arguments"
        ),
        Hostile("skype_version as a number", with_arg(det, 14, t("count", 388)), "bad-arguments"),
        Hostile("skype_version as a real", with_arg(det, 14, t("real", 3.8)), "bad-arguments"),
        Hostile("duration as a string", with_arg(det, 7, t("string", "0.3")), "bad-arguments"),
        Hostile("negative duration", with_arg(det, 7, t("real", -1.0)), "bad-arguments"),
        Hostile("unknown stage", with_arg(det, 8, t("string", "lunch")), "bad-arguments"),
        Hostile("unknown role", with_arg(det, 12, t("string", "boss")), "bad-arguments"),
        Hostile("unknown confidence", with_arg(det, 15, t("string", "sure")), "bad-arguments"),
        Hostile("transport icmp", with_arg(det, 6, t("string", "icmp")), "bad-arguments"),
        Hostile("tcp port on udp", with_arg(det, 3, t("port", "35990/tcp")), "bad-arguments"),
        Hostile("empty uid", with_arg(det, 1, t("string", "")), "bad-arguments"),
        Hostile("uid of 1,000", with_arg(det, 1, t("string", "C" * 1000)), "bad-arguments"),
        Hostile("one argument missing", with_arg(det, 16, None, keep=False), "bad-arguments"),
        Hostile("probe with tcp ports", _probe_with_tcp_ports(), "bad-arguments"),
        Hostile("none for an address", with_arg(det, 10, t("none", {})), "bad-arguments"),
        # not for us
        Hostile("unknown event", codec.encode_event(TOPIC, "Other::thing", ["x"]), "unknown-event"),
        Hostile(
            "Zeek error",
            json.dumps({"type": "error", "code": "deserialization_failed", "context": "c" * 10**6}),
            "zeek-error",
        ),
        Hostile(
            "second ack",
            json.dumps({"type": "ack", "endpoint": "e", "version": "v"}),
            "unexpected-ack",
        ),
    ]
    return out


def _nested(depth: int) -> dict:
    v: dict = t("count", 1)
    for _ in range(depth):
        v = t("vector", [v])
    return v


def _probe_with_tcp_ports() -> str:
    frame = probe(GOOD_PROBE)
    return with_arg(frame, 3, t("port", "35990/tcp"))


# -- random frames ----------------------------------------------------------------------------

_TYPES = [
    "none",
    "boolean",
    "count",
    "integer",
    "real",
    "timespan",
    "timestamp",
    "string",
    "enum-value",
    "address",
    "subnet",
    "port",
    "vector",
    "set",
    "table",
    "blob",
]


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2**63, 2**64, rng.randrange(-(10**30), 10**30)])
    if kind == 2:
        return rng.choice([0.5, -1e308, 1e-320, rng.uniform(-1e9, 1e9)])
    if kind in (3, 4):
        n = rng.choice([0, 1, 5, 40, 5000])
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x2FFFF)])) for _ in range(n)
        )
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 6:
        return {
            rng.choice(["type", "topic", "data", "@data-type", "x"]): random_json(rng, depth + 1)
            for _ in range(rng.randrange(5))
        }
    return t(rng.choice(_TYPES), random_json(rng, depth + 1))


def random_typed(rng: random.Random):
    """A typed value, sometimes well-formed, of a random type: mostly the wrong one."""
    ty = rng.choice(_TYPES)
    good = {
        "none": {},
        "boolean": True,
        "count": rng.randrange(2**64),
        "integer": rng.randrange(-(2**63), 2**63),
        "real": rng.uniform(-1e6, 1e6),
        "timespan": f"{rng.randrange(10**6)}ms",
        "timestamp": "2006-08-25T19:32:12.777",
        "string": rng.choice(["", "x", "probe", "likely", "super_node", "10.0.0.5"]),
        "enum-value": "Skype::Client_Detected",
        "address": rng.choice(["10.0.0.5", "2001:db8::1"]),
        "subnet": "10.0.0.0/8",
        "port": f"{rng.randrange(65536)}/{rng.choice(['tcp', 'udp', 'icmp', '?'])}",
        "vector": [t("count", 1)],
        "set": [t("string", "a")],
        "table": [{"key": t("string", "k"), "value": t("count", 1)}],
        "blob": 1,
    }[ty]
    return t(ty, good if rng.random() < 0.6 else random_json(rng, 2))


def random_frames(rng: random.Random, n: int) -> list[str | bytes]:
    """Random bytes, random JSON, and good events with arguments of random types."""
    templates = [detection(r) for r in GOOD] + [probe(GOOD_PROBE), tcp(GOOD_TCP)]
    out: list[str | bytes] = []
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        elif kind == 1:
            out.append(json.dumps(random_json(rng)))
        else:
            frame = rng.choice(templates)
            obj = json.loads(frame)
            args = obj["data"][2]["data"][1]["data"]
            for _ in range(rng.randrange(1, 4)):
                what = rng.randrange(10)
                if what < 7 and args:
                    args[rng.randrange(len(args))] = random_typed(rng)
                elif what == 7 and args:
                    del args[rng.randrange(len(args))]
                elif what == 8:
                    args.append(random_typed(rng))
                else:
                    obj["data"][rng.randrange(3)] = random_typed(rng)
            out.append(json.dumps(obj))
    return out


# -- fake Zeek servers --------------------------------------------------------------------------


class FakeZeek:
    """A WebSocket server that behaves like Zeek's: an ack after the topic list, then frames
    from *script* (one list per connection; "<disconnect>" hangs up), then it records what the
    client sends."""

    def __init__(self, script: list[list[str | bytes]], tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.received: list[dict] = []
        self.handshakes: list[list[str]] = []
        self.headers: list[str | None] = []
        self.sent = 0
        self.server = None

    async def handler(self, ws) -> None:
        n = len(self.handshakes)
        self.headers.append(ws.request.headers.get("X-Application-Name"))
        self.handshakes.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "ack", "endpoint": f"fake-{n}", "version": "8.0.10"}))
        frames = self.script[n] if n < len(self.script) else []
        reader = asyncio.ensure_future(self._read(ws))
        for frame in frames:
            if frame == "<disconnect>":
                await ws.close()
                return
            await send(ws, frame)
            self.sent += 1
        await reader

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                self.received.append(json.loads(raw))
        except websockets.exceptions.ConnectionClosed:
            pass

    def notices(self) -> list[codec.Event]:
        return [
            codec.decode_message(json.dumps(m))
            for m in self.received
            if m.get("type") == "data-message"
        ]

    async def __aenter__(self) -> str:
        self.server = await websockets.serve(
            self.handler, "127.0.0.1", 0, max_size=None, compression=None, ssl=self.tls
        )
        port = self.server.sockets[0].getsockname()[1]
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


class InThread:
    """Runs an asyncio server (a FakeZeek or a coroutine factory) in a thread of its own, for
    tests whose correlator is another process."""

    def __init__(self, start: Callable[[], object]) -> None:
        self._start = start  # async () -> (url, cleanup coroutine function)
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.url, self._cleanup = self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> InThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Zeek did not start")
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._cleanup(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self._cancel_the_rest(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @staticmethod
    async def _cancel_the_rest() -> None:
        # No task may be left to be finalized by the garbage collector in another thread.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- a peer that breaks the WebSocket protocol ----------------------------------------------------

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING, CLOSE, TEXT = 0x9, 0x8, 0x1


def ws_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A server frame (unmasked), any opcode and reserved bits, as a broken peer would send."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    if n < 126:
        return head + bytes([n]) + payload
    if n < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", n) + payload
    return head + bytes([127]) + struct.pack("!Q", n) + payload


class RawPeer:
    """A TCP server that does the WebSocket handshake and Zeek's ack by hand, then runs
    ``behave(peer, connection number)`` -- which may write anything, stop reading, never close.
    It records each connection's open and close times and what the client sent."""

    def __init__(self, behave: Callable[[RawPeer, int], Awaitable[None]]) -> None:
        self.behave = behave
        self.opened: list[float] = []
        self.closed: list[float] = []
        self.handshakes: list[list[str]] = []
        self.received: list[tuple[int, int, bytes]] = []  # (connection, opcode, payload)
        self.writers: list[asyncio.StreamWriter] = []
        self.readers: list[asyncio.StreamReader] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = len(self.opened)
        self.opened.append(time.monotonic())
        self.writers.append(writer)
        self.readers.append(reader)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            _, topics = await self.read_frame(n)
            self.handshakes.append(json.loads(topics))
            ack = json.dumps({"type": "ack", "endpoint": f"raw-{n}", "version": "8.0.10"})
            writer.write(ws_frame(TEXT, ack.encode()))
            await writer.drain()
            await self.behave(self, n)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed.append(time.monotonic())
            writer.transport.abort()

    async def read_frame(self, n: int) -> tuple[int, bytes]:
        """One (masked) client frame of connection *n*, recorded."""
        reader = self.readers[n]
        b0, b1 = await reader.readexactly(2)
        size = b1 & 0x7F
        if size == 126:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
        data = await reader.readexactly(size)
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        self.received.append((n, b0 & 0x0F, payload))
        return b0 & 0x0F, payload

    async def read_until_closed(self, n: int) -> None:
        """Read (and record) what the client sends until it closes TCP."""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                await self.read_frame(n)

    def notices(self) -> list[codec.Event]:
        return [
            codec.decode_message(p)
            for _, op, p in self.received
            if op == TEXT and b'"data-message"' in p
        ]

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.transport.abort()
        await self.server.wait_closed()


# -- the CLI as a process ----------------------------------------------------------------------


class LiveProcess:
    """The CLI in a subprocess, its stderr lines collected as they come."""

    def __init__(
        self, url: str, out: Path, python: list[str] | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        args = ["correlate", "--zeek", url, "-o", str(out), *extra]
        self.proc = subprocess.Popen(
            [sys.executable, *(python or ["-m", "skypewatch"]), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, what: Callable[[], bool] | str, timeout: float = TEST_TIMEOUT) -> None:
        test = (lambda: any(what in line for line in self.err)) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while not test():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(
                    f"never got there within {timeout:g}s (SKYPEWATCH_TEST_TIMEOUT);"
                    f" stderr: {self.err[-5:]}"
                )
            time.sleep(0.01)

    def stop(self, sig: str, timeout: float = TEST_TIMEOUT) -> float:
        """Send *sig*; the seconds until the process has exited (killed after *timeout*)."""
        t0 = time.monotonic()
        self.proc.send_signal(getattr(signal, sig))
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        elapsed = time.monotonic() - t0
        for t in self._threads:
            t.join(5)
        return elapsed
