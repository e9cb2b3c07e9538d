"""A live WebSocket client of Zeek's cluster API that feeds the correlation engine.

It subscribes to the package's topics, turns every Skype event into an engine input, and
sends the engine's notices back to Zeek as ``Skype::correlated_notice``.  It reconnects with
exponential back-off when Zeek goes away, and says what it is waiting for.  Every frame it
receives is either used or logged with the reason it was dropped; nothing is queued, so
nothing accepted can be lost.  ``stop`` (set on SIGINT/SIGTERM) ends it after the engine's
pending notices are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from ..correlate.engine import CorrelationEngine
from ..records import Notice
from . import codec, schema

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0
TICK_INTERVAL = 5.0  # seconds between engine ticks when Zeek is quiet


@dataclass(slots=True)
class LiveStats:
    connections: int = 0
    frames: int = 0
    events: int = 0
    dropped: Counter = field(default_factory=Counter)
    notices_sent: int = 0
    notices_undelivered: int = 0


def websocket_url(url: str) -> str:
    """ws://host:port -> ws://host:port/v1/messages/json (the JSON v1 endpoint)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r} (expected ws://HOST:PORT)")
    path = parts.path if parts.path not in ("", "/") else "/v1/messages/json"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class LiveCorrelator:
    def __init__(
        self,
        url: str,
        engine: CorrelationEngine,
        on_notice: Callable[[Notice, bool], None],
        log: Callable[[str], None],
        topic_prefix: str = "zeek/skype/",
    ) -> None:
        self.url = websocket_url(url)
        self.engine = engine
        self.on_notice = on_notice
        self.log = log
        self.prefix = topic_prefix
        self.topics = [topic_prefix + t for t in ("probe", "tcp", "detection")]
        self.stats = LiveStats()
        self._ws = None
        self._seen_unknown: set[str] = set()
        self._last_ts: float | None = None
        self._last_wall = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        import websockets

        backoff = INITIAL_BACKOFF
        while not stop.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={"X-Application-Name": "skypewatch"},
                    open_timeout=10,
                    max_size=2**24,
                ) as ws:
                    await ws.send(codec.handshake(self.topics))
                    first = await asyncio.wait_for(ws.recv(), timeout=10)
                    reply = codec.decode_message(first)
                    if isinstance(reply, codec.Error):
                        raise ConnectionError(
                            f"Zeek refused the subscription: {reply.code} ({reply.context})"
                        )
                    if not isinstance(reply, codec.Ack):
                        raise ConnectionError("Zeek did not acknowledge the subscription")
                    self.stats.connections += 1
                    self.log(
                        f"connected to Zeek {reply.version} at {self.url};"
                        f" subscribed to {', '.join(self.topics)}"
                    )
                    backoff = INITIAL_BACKOFF
                    self._ws = ws
                    try:
                        await self._receive(ws, stop)
                    finally:
                        self._ws = None
                if not stop.is_set():
                    self.log(f"Zeek at {self.url} closed the connection")
            except (
                OSError,
                TimeoutError,
                ConnectionError,
                codec.CodecError,
                websockets.exceptions.WebSocketException,
            ) as exc:
                if stop.is_set():
                    break
                reason = str(exc) or type(exc).__name__
                self.log(f"waiting for Zeek at {self.url} ({reason}); retrying in {backoff:.1f}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        for n in self.engine.flush():
            await self._deliver(n)

    async def _receive(self, ws, stop: asyncio.Event) -> None:
        import websockets

        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                recv = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait(
                    {recv, stopper}, timeout=TICK_INTERVAL, return_when=asyncio.FIRST_COMPLETED
                )
                if recv not in done:
                    recv.cancel()
                    with contextlib.suppress(
                        asyncio.CancelledError, websockets.exceptions.ConnectionClosed
                    ):
                        await recv
                    if stopper in done:
                        # flush while still connected, so the last notices reach Zeek
                        for n in self.engine.flush():
                            await self._deliver(n)
                        return
                    await self._tick()
                    continue
                raw = recv.result()  # ConnectionClosed propagates to the reconnect loop
                await self.handle(raw)
        finally:
            stopper.cancel()

    async def handle(self, raw: str | bytes) -> None:
        """Use one frame, or log why it was dropped."""
        self.stats.frames += 1
        try:
            msg = codec.decode_message(raw)
        except codec.CodecError as exc:
            self._drop("malformed", f"dropped a malformed frame: {exc}")
            return
        if isinstance(msg, codec.Error):
            self._drop("zeek-error", f"Zeek reported an error: {msg.code} ({msg.context})")
            return
        if isinstance(msg, codec.Ack):
            self._drop("unexpected-ack", "dropped an unexpected second ack")
            return
        if msg.name not in schema.KNOWN_EVENTS:
            self.stats.dropped["unknown-event"] += 1
            if msg.name not in self._seen_unknown:
                self._seen_unknown.add(msg.name)
                self.log(f"ignoring events named {msg.name!r} on {msg.topic} (not ours)")
            return
        try:
            item = schema.to_input(msg)
        except codec.CodecError as exc:
            self._drop("bad-arguments", f"dropped {msg.name}: {exc}")
            return
        self.stats.events += 1
        self._last_ts = max(self._last_ts or item.ts, item.ts)
        self._last_wall = time.monotonic()
        for n in self.engine.feed(item):
            await self._deliver(n)

    async def _tick(self) -> None:
        # Zeek is quiet: let the engine's clock follow the wall clock from the last event.
        if self._last_ts is None:
            return
        now = self._last_ts + (time.monotonic() - self._last_wall)
        for n in self.engine.tick(now):
            await self._deliver(n)

    async def _deliver(self, n: Notice) -> None:
        delivered = False
        ws = self._ws
        if ws is not None:
            try:
                await ws.send(schema.notice_event(self.prefix + "notice", n))
                delivered = True
                self.stats.notices_sent += 1
            except Exception as exc:
                self.log(f"could not send a notice to Zeek ({exc}); it is kept locally")
        if not delivered:
            self.stats.notices_undelivered += 1
        self.on_notice(n, delivered)

    def _drop(self, reason: str, message: str) -> None:
        self.stats.dropped[reason] += 1
        self.log(message)
