"""A live WebSocket client of Zeek's cluster API that feeds the correlation engine.

It subscribes to the package's topics, turns every Skype event into an engine input, and
sends the engine's notices back to Zeek as ``Skype::correlated_notice``.  It reconnects with
exponential back-off when Zeek goes away, and says what it is waiting for.

Zeek's WebSocket API has no authentication, so every frame is untrusted: it is either used
or dropped, counted under a reason (``stats.dropped``) and logged, at most ``LOG_BURST``
lines per reason per ``STATS_INTERVAL``, every quotation of it cut short.  A stats line goes
to the log every ``STATS_INTERVAL`` while frames are being dropped, and when it stops.

Only events on the topic Zeek publishes them on (``topic_prefix`` + probe, tcp, detection)
are used, and only events dated at most ``max_future`` seconds ahead of our wall clock: one
forged date must not move the engine's clock (and every pending notice) hours ahead.

A peer cannot make the connection grow or linger (:mod:`.guarded`): past ``WRITE_BUFFER_MAX``
bytes it does not read (pongs to a ping flood, our notices) the connection is closed, and
after a protocol error it is closed at once; either way the client reconnects after the
back-off.  A notice that cannot be sent waits in a bounded outbox (``MAX_OUTBOX``, the
oldest then kept in notice.log only) and goes to Zeek first after the reconnect.

Stopping (``stop`` set, on SIGINT/SIGTERM) takes well under a second in every state: each
phase -- connecting, waiting for the ack, receiving, backing off -- runs as a task that the
stop cancels.  Connected, the engine's pending notices then get ``FLUSH_TIMEOUT`` to reach
Zeek and the close handshake ``CLOSE_TIMEOUT``; a notice that could not be sent is still
handed to ``on_notice`` (notice.log), so none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from ..correlation.engine import CorrelationEngine, Input
from ..skypelog import Notice
from . import codec, schema
from .codec import clip, show
from .stats import LiveStats
from .transport import websocket_url

if TYPE_CHECKING:  # websockets is imported when a connection is made, not with the CLI
    from websockets.asyncio.client import ClientConnection

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0
TICK_INTERVAL = 5.0  # seconds between engine ticks (the clock follows the wall when quiet)
OPEN_TIMEOUT = 10.0  # TCP and WebSocket handshake
ACK_TIMEOUT = 10.0  # Zeek's answer to the subscription
FLUSH_TIMEOUT = 0.25  # on stop: time for the last notices to reach Zeek
CLOSE_TIMEOUT = 0.15  # on stop: time for Zeek to answer our close frame
CANCEL_GRACE = 0.1  # time a cancelled phase gets to clean up
STABLE_CONNECTION = 10.0  # seconds connected after which the back-off starts over
WIRE_MAX = 16 * codec.MAX_FRAME  # beyond this the WebSocket library closes the connection
WIRE_QUEUE = 4  # frames read ahead: at most 4 x WIRE_MAX held before the codec drops them
STATS_INTERVAL = 60.0
LOG_BURST = 5  # drop messages logged per reason per STATS_INTERVAL
MAX_UNKNOWN_NAMES = 64  # unknown event names reported (each once) before going quiet
MAX_FUTURE = 300.0  # default: an event may be this far ahead of our wall clock
WRITE_BUFFER_MAX = 1 << 20  # bytes Zeek has not read (pongs, notices) before we hang up
SEND_TIMEOUT = 10.0  # a notice that waits this long for Zeek to read: we hang up
MAX_OUTBOX = 10_000  # notices waiting for a connection; the oldest go to notice.log only
PING_INTERVAL = 20.0  # websockets' keepalive
PING_TIMEOUT = 20.0
PROTOCOL_ERROR = "protocol-error"  # a frame the WebSocket protocol forbids (we hang up)


class _Stopped(Exception):
    """The stop event ended a phase before it finished."""


class ZeekBridge:
    def __init__(
        self,
        url: str,
        engine: CorrelationEngine,
        on_notice: Callable[[Notice, bool], None],
        log: Callable[[str], None],
        topic_prefix: str = "zeek/skype/",
        max_future: float = MAX_FUTURE,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = websocket_url(url)
        self.engine = engine
        self.on_notice = on_notice
        self.log = log
        self.prefix = topic_prefix
        self.max_future = max_future
        self.tls = tls
        # the topic Zeek publishes each event on (events.zeek), which is what we subscribe to
        self.topic_of = {name: topic_prefix + t for name, t in schema.EVENT_TOPICS.items()}
        self.topics = list(self.topic_of.values())
        self.stats = LiveStats()
        self._outbox: deque[Notice] = deque()  # notices waiting for a connection, oldest first
        self._outbox_full_said = False
        self._ws: Any = None
        self._seen_unknown: set[str] = set()
        self._last_ts: float | None = None
        self._last_wall = 0.0
        self._last_tick = time.monotonic()
        self._logged: Counter = Counter()  # drop messages per reason since the last stats line
        self._last_report = time.monotonic()

    # -- the connection loop ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        stopper = asyncio.ensure_future(stop.wait())
        backoff = INITIAL_BACKOFF
        try:
            while not stop.is_set():
                try:
                    ws = await self._until(stopper, self._connect())
                except _Stopped:
                    break
                except Exception as exc:  # refused, unreachable, timed out, not Zeek, ...
                    self.log(
                        f"waiting for Zeek at {self.url} ({_why(exc)}); retrying in {backoff:.1f}s"
                    )
                    with contextlib.suppress(_Stopped):
                        await self._until(stopper, asyncio.sleep(backoff))
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                connected_at = time.monotonic()
                self._ws = ws
                polite = True
                try:
                    await self._until(stopper, self._receive(ws))
                except _Stopped:
                    polite = await self._flush_to_zeek()
                except Exception as exc:  # ConnectionClosed, mostly
                    self._closed(exc, ws)
                finally:
                    self._ws = None
                    await _close(ws, polite)
                if not stop.is_set():
                    # a Zeek that acks and hangs up at once must not get a reconnect storm
                    if time.monotonic() - connected_at > STABLE_CONNECTION:
                        backoff = INITIAL_BACKOFF
                    self.log(f"reconnecting in {backoff:.1f}s")
                    with contextlib.suppress(_Stopped):
                        await self._until(stopper, asyncio.sleep(backoff))
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            stopper.cancel()
            self._ws = None
            self._hold(self.engine.flush())
            self._keep_locally(self._outbox)
            self._outbox.clear()
            self.log(f"stopped: {self.stats.line()}")

    async def _until(self, stopper: asyncio.Future, phase: Coroutine) -> Any:
        """Run *phase* until it ends (its result or exception) or the stop comes (_Stopped)."""
        task = asyncio.ensure_future(phase)
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=CANCEL_GRACE)
        if not task.done():  # it ignored the cancel: leave it, but retrieve its outcome
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise _Stopped
        if task.cancelled():
            raise _Stopped
        return task.result()

    async def _connect(self) -> Any:
        from websockets.asyncio.client import connect

        from .guarded import guarded

        # Only given when set: ssl=None would turn TLS off for a wss:// URL.
        tls: dict[str, Any] = {"ssl": self.tls} if self.tls is not None else {}
        ws = await connect(
            self.url,
            additional_headers={"X-Application-Name": "skypewatch"},
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            max_size=WIRE_MAX,
            max_queue=WIRE_QUEUE,
            compression=None,  # Zeek does not compress; no inflating of hostile frames
            create_connection=guarded(WRITE_BUFFER_MAX),
            **tls,
        )
        try:
            await ws.send(codec.handshake(self.topics))
            async with asyncio.timeout(ACK_TIMEOUT):
                first = await ws.recv()
            reply = codec.decode_message(first)
            if isinstance(reply, codec.Error):
                raise ConnectionError(
                    f"Zeek refused the subscription: {clip(reply.code)} ({clip(reply.context)})"
                )
            if not isinstance(reply, codec.Ack):
                raise ConnectionError("Zeek did not acknowledge the subscription")
        except BaseException:
            ws.transport.abort()
            raise
        self.stats.connections += 1
        self.log(
            f"connected to Zeek {clip(reply.version, 40)} at {self.url};"
            f" subscribed to {', '.join(self.topics)}"
        )
        return ws

    async def _receive(self, ws: ClientConnection) -> None:
        """Frames until Zeek closes the connection (ConnectionClosed); first the notices that
        waited for a connection."""
        if self._outbox:
            waiting = len(self._outbox)
            await self._deliver(())
            if waiting > len(self._outbox):
                self.log(f"sent {waiting - len(self._outbox)} notice(s) that waited for Zeek")
        while True:
            try:
                async with asyncio.timeout(TICK_INTERVAL):
                    raw = await ws.recv(decode=False)  # UTF-8 is the codec's to check
            except TimeoutError:
                await self._tick()
                continue
            await self.handle(raw)
            if time.monotonic() - self._last_tick >= TICK_INTERVAL:
                await self._tick()

    def _closed(self, exc: Exception, ws: Any) -> None:
        sent = getattr(exc, "sent", None)
        code = getattr(sent, "code", None)
        if getattr(ws, "stalled", 0):
            self.log(
                f"Zeek at {self.url} does not read what we send ({ws.stalled:,} bytes waiting,"
                f" limit {WRITE_BUFFER_MAX:,}: pongs to its pings, notices); closed the connection"
            )
        elif code == 1009:  # websockets refused a frame over WIRE_MAX
            self.stats.frames += 1
            self._drop(codec.TOO_LARGE, f"Zeek sent a frame over {WIRE_MAX:,} bytes")
            self.log(f"closed the connection to Zeek at {self.url} ({_why(exc)})")
        elif code is not None and getattr(exc, "rcvd", None) is None:  # we ended it
            if code in (1002, 1007):  # a frame that breaks the protocol: count it as one
                self.stats.frames += 1
                self.stats.dropped[PROTOCOL_ERROR] += 1
            self.log(f"closed the connection to Zeek at {self.url} ({_why(exc)})")
        else:
            self.log(f"Zeek at {self.url} closed the connection ({_why(exc)})")

    async def _flush_to_zeek(self) -> bool:
        """On stop, while still connected: the pending notices to Zeek, within a deadline.
        Whether Zeek took them all (if not, it will not answer a close frame either)."""
        deadline = time.monotonic() + FLUSH_TIMEOUT
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FLUSH_TIMEOUT):
                await self._deliver(self.engine.flush(), deadline)
        late = len(self._outbox)
        if late:
            self.log(f"{late} notice(s) not sent to Zeek within {FLUSH_TIMEOUT}s of the stop")
        return not late

    # -- frames -----------------------------------------------------------------------------
    async def handle(self, raw: str | bytes) -> None:
        """Use one frame, or count and log why it was dropped.  Nothing escapes from here:
        an exception would end the connection, and the wire must not be able to do that."""
        self.stats.frames += 1
        try:
            item = self._decode(raw)
            notices = self.engine.feed(item) if item is not None else []
        except Exception as exc:  # a bug of ours, not the frame's: keep going, but say so
            self._drop("internal-error", f"internal error on a frame: {_why(exc)}")
            return
        if notices:
            await self._deliver(notices)

    def _decode(self, raw: str | bytes) -> Input | None:
        try:
            msg = codec.decode_message(raw)
        except codec.CodecError as exc:
            self._drop(exc.reason, f"dropped a frame ({exc.reason}): {exc}")
            return None
        if isinstance(msg, codec.Error):
            self._drop("zeek-error", f"Zeek reported an error: {msg.code} ({clip(msg.context)})")
            return None
        if isinstance(msg, codec.Ack):
            self._drop("unexpected-ack", "dropped an unexpected second ack")
            return None
        if msg.name not in schema.KNOWN_EVENTS:
            self._unknown(msg)
            return None
        if msg.topic != self.topic_of[msg.name]:
            self._drop(
                schema.WRONG_TOPIC,
                f"dropped an event ({schema.WRONG_TOPIC}): {show(msg.name)} on {show(msg.topic)},"
                f" which Zeek publishes on {self.topic_of[msg.name]}",
            )
            return None
        try:
            item = schema.to_input(msg, not_after=time.time() + self.max_future)
        except codec.CodecError as exc:
            hint = " (--max-future)" if exc.reason == schema.FUTURE_TIME else ""
            self._drop(exc.reason, f"dropped an event ({exc.reason}): {exc}{hint}")
            return None
        self.stats.events += 1
        self._last_ts = item.ts if self._last_ts is None else max(self._last_ts, item.ts)
        self._last_wall = time.monotonic()
        return item

    def _unknown(self, msg: codec.Event) -> None:
        self.stats.dropped["unknown-event"] += 1
        seen = self._seen_unknown
        if msg.name in seen or len(seen) > MAX_UNKNOWN_NAMES:
            return
        if len(seen) == MAX_UNKNOWN_NAMES:
            seen.add("")  # the marker that says this was logged
            self.log(f"more than {MAX_UNKNOWN_NAMES} unknown event names: the rest are counted")
            return
        seen.add(msg.name)
        self.log(f"ignoring events named {show(msg.name)} on {show(msg.topic)} (not ours)")

    def _drop(self, reason: str, message: str) -> None:
        self.stats.dropped[reason] += 1
        n = self._logged[reason]
        if n < LOG_BURST:
            self.log(clip(message, 300))
        elif n == LOG_BURST:
            self.log(f"more {reason} drops are counted, not logged, until the next stats line")
        self._logged[reason] = n + 1
        self._report()

    def _report(self) -> None:
        """The stats line, at most once per STATS_INTERVAL, when frames were dropped."""
        now = time.monotonic()
        if now - self._last_report < STATS_INTERVAL:
            return
        if self._logged:
            self.log(f"stats: {self.stats.line()}")
            self._logged.clear()
        self._last_report = now

    async def _tick(self) -> None:
        self._last_tick = time.monotonic()
        self._report()
        # Zeek may be quiet: let the engine's clock follow the wall clock from the last event.
        if self._last_ts is None:
            return
        now = self._last_ts + (self._last_tick - self._last_wall)
        await self._deliver(self.engine.tick(now))

    # -- notices ----------------------------------------------------------------------------
    async def _deliver(self, notices: Iterable[Notice], deadline: float = math.inf) -> None:
        """*notices* to the outbox, then the outbox to Zeek, oldest first, each sent one to
        on_notice.  What is not sent -- no connection, a send that failed, past *deadline* (a
        send rarely waits, so a timeout alone would not stop a long list), cancelled -- stays
        in the outbox for the next connection (or notice.log at the stop)."""
        self._hold(notices)
        outbox = self._outbox
        while outbox and self._ws is not None and time.monotonic() < deadline:
            sent = await self._send(outbox[0])
            if sent is False:  # the connection failed: the notice waits for the next one
                break
            self._keep(outbox.popleft(), bool(sent))  # None: it cannot be encoded; local only
            self._outbox_full_said = False

    def _hold(self, notices: Iterable[Notice]) -> None:
        """Into the outbox; beyond MAX_OUTBOX its oldest go to notice.log only."""
        outbox = self._outbox
        outbox.extend(notices)
        if len(outbox) <= MAX_OUTBOX:
            return
        if not self._outbox_full_said:
            self._outbox_full_said = True
            self.log(
                f"more than {MAX_OUTBOX:,} notices waiting for Zeek: the oldest are kept in"
                " notice.log only"
            )
        while len(outbox) > MAX_OUTBOX:
            self._keep(outbox.popleft(), False)

    async def _send(self, n: Notice) -> bool | None:
        """Whether *n* went to Zeek; None when it cannot be encoded (a bug of ours: it stays
        local, and must not block the notices after it)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            frame = schema.notice_event(self.prefix + "notice", n)
        except Exception as exc:
            self.log(f"internal error encoding a notice for Zeek: {_why(exc)}")
            return None
        try:
            async with asyncio.timeout(SEND_TIMEOUT):  # Zeek does not read: hang up
                await ws.send(frame)
        except Exception as exc:
            if self._ws is ws:  # once per connection: the next ones would fail alike
                self._ws = None
                late = isinstance(exc, TimeoutError)
                why = f"not read for {SEND_TIMEOUT:g}s" if late else _why(exc)
                self.log(
                    f"could not send notices to Zeek ({why}); they wait for the next connection"
                )
                with contextlib.suppress(Exception):
                    ws.transport.abort()
            return False
        return True

    def _keep_locally(self, notices: Iterable[Notice]) -> None:
        for n in notices:
            self._keep(n, False)

    def _keep(self, n: Notice, delivered: bool) -> None:
        if delivered:
            self.stats.notices_sent += 1
        else:
            self.stats.notices_undelivered += 1
        self.on_notice(n, delivered)


async def _close(ws: ClientConnection, polite: bool = True) -> None:
    """Close politely if Zeek answers quickly, else just drop the connection."""
    try:
        if polite:
            async with asyncio.timeout(CLOSE_TIMEOUT + 0.05):
                await ws.close()
    except Exception:
        pass
    finally:
        ws.transport.abort()


def _why(exc: BaseException) -> str:
    return clip(str(exc) or type(exc).__name__, 200)
