"""``skypewatch correlate``: the engine fed from skype.log files, or live from Zeek."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SkypewatchError
from ..gcpolicy import fewer_collections
from ..records import NOTICE_FIELDS, Notice
from ..zeeklog import Lenient, ZeekLogWriter
from .engine import CorrelationEngine, EngineOptions
from .sources import SourceStats, conn_sessions, expand, first_ts, in_time_order, skype_records

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(slots=True)
class OfflineResult:
    notices: list[Notice] = field(default_factory=list)
    problems: int = 0
    sources: SourceStats = field(default_factory=SourceStats)
    notice_log: Path | None = None


def run_offline(
    logs: list[str],
    conn_logs: list[str],
    outdir: Path,
    options: EngineOptions,
    use_json: bool = False,
    reorder_window: float = 3600.0,
    report: Callable[[str], None] = lambda m: print(f"skypewatch: {m}", file=sys.stderr),
) -> tuple[OfflineResult, CorrelationEngine]:
    result = OfflineResult()

    def problem(msg: str) -> None:
        result.problems += 1
        report(msg)

    lenient = Lenient(report=problem)  # bad lines reported; one error if no file is readable
    skype_files, conn_files = expand(logs, "skype"), expand(conn_logs, "conn")
    if not skype_files and not conn_files:
        raise SkypewatchError("no skype.log or conn.log files among the arguments")
    skype_files.sort(key=first_ts)
    conn_files.sort(key=first_ts)
    stats = result.sources
    streams = [
        itertools.chain.from_iterable(skype_records(f, lenient, stats) for f in skype_files),
        itertools.chain.from_iterable(conn_sessions(f, lenient, stats) for f in conn_files),
    ]
    engine = CorrelationEngine(options)
    outdir.mkdir(parents=True, exist_ok=True)
    with fewer_collections(), ZeekLogWriter(outdir, "notice", NOTICE_FIELDS, use_json) as writer:
        for item in in_time_order(streams, reorder_window):
            for n in engine.feed(item):
                writer.write(n.values())
                result.notices.append(n)
        lenient.done()
        for n in engine.flush():
            writer.write(n.values())
            result.notices.append(n)
    result.notice_log = writer.final
    return result, engine


def run_live(
    url: str,
    topic_prefix: str,
    outdir: Path,
    options: EngineOptions,
    use_json: bool = False,
    log: Callable[[str], None] = lambda m: print(f"skypewatch: {m}", file=sys.stderr, flush=True),
    stop: asyncio.Event | None = None,
):
    """Run until SIGINT/SIGTERM (or *stop*); returns the client with its statistics.  Either
    signal is the normal way to end it: the client stops within a second whatever it is
    doing, the pending notices are written (and sent to Zeek if it is connected)."""
    # A signal before the event loop takes them over must not kill the process either.
    early: list[int] = []
    previous = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread
            previous[sig] = signal.signal(sig, lambda signum, _frame: early.append(signum))
    try:
        return _live(url, topic_prefix, outdir, options, use_json, log, stop, early, previous)
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
):
    from ..zeekws.client import LiveCorrelator, PromptLoop, websocket_url

    websocket_url(url)  # ValueError before anything is created
    outdir.mkdir(parents=True, exist_ok=True)
    engine = CorrelationEngine(options)
    writer = ZeekLogWriter(outdir, "notice", NOTICE_FIELDS, use_json, streaming=True)

    def on_notice(n: Notice, delivered: bool) -> None:
        writer.write(n.values())
        where = "sent to Zeek" if delivered else "not delivered to Zeek, kept in notice.log"
        print(f"{n.note}: {n.msg} [{where}]", flush=True)

    client = LiveCorrelator(url, engine, on_notice, log, topic_prefix)

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
