"""``skypewatch correlate --zeek``: the correlation engine fed live from Zeek's WebSocket API,
its notices sent back to Zeek and written to notice.log."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from ..correlation.engine import CorrelationEngine, EngineOptions
from ..skypelog import NOTICE_FIELDS, Notice
from ..zeeklog import ZeekLogWriter
from .bridge import MAX_FUTURE, ZeekBridge
from .transport import PromptLoop, websocket_url

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_live(
    url: str,
    topic_prefix: str,
    outdir: Path,
    options: EngineOptions,
    use_json: bool = False,
    log: Callable[[str], None] = lambda m: print(f"skypewatch: {m}", file=sys.stderr, flush=True),
    stop: asyncio.Event | None = None,
    tls: ssl.SSLContext | None = None,
    max_future: float = MAX_FUTURE,
) -> tuple[ZeekBridge, CorrelationEngine]:
    """Run until SIGINT/SIGTERM (or *stop*); returns the client with its statistics.  Either
    signal is the normal way to end it: the client stops within a second whatever it is
    doing, the pending notices are written (and sent to Zeek if it is connected).
    *tls* (transport.tls_context) is for a wss:// URL with a private CA."""
    websocket_url(url)  # ValueError before anything is created
    # A signal before the event loop takes them over must not kill the process either.
    early: list[int] = []
    previous = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread
            previous[sig] = signal.signal(sig, lambda signum, _frame: early.append(signum))
    try:
        args = (url, topic_prefix, outdir, options, use_json, log, stop, early, previous)
        return _live(*args, tls, max_future)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _live(
    url: str,
    topic_prefix: str,
    outdir: Path,
    options: EngineOptions,
    use_json: bool,
    log: Callable[[str], None],
    stop: asyncio.Event | None,
    early: list[int],
    previous: dict,
    tls: ssl.SSLContext | None,
    max_future: float,
) -> tuple[ZeekBridge, CorrelationEngine]:
    outdir.mkdir(parents=True, exist_ok=True)
    engine = CorrelationEngine(options)
    writer = ZeekLogWriter(outdir, "notice", NOTICE_FIELDS, use_json, streaming=True)

    def on_notice(n: Notice, delivered: bool) -> None:
        writer.write(n.values())
        where = "sent to Zeek" if delivered else "not delivered to Zeek, kept in notice.log"
        print(f"{n.note}: {n.msg} [{where}]", flush=True)

    client = ZeekBridge(url, engine, on_notice, log, topic_prefix, max_future, tls)

    async def main() -> None:
        done = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, done.set)
        if early:
            done.set()
        log(f"waiting for Zeek at {client.url} ...")
        await client.run(done)

    try:
        with asyncio.Runner(loop_factory=PromptLoop) as runner:
            runner.run(main())
    finally:
        # The closed loop gave the signals back to their defaults; a late one must not cut
        # notice.log short.
        for sig in previous:
            signal.signal(sig, lambda signum, _frame: None)
        writer.close()
    return client, engine
