"""``skypewatch correlate LOG...``: the correlation engine fed from skype.log and conn.log files."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SkypewatchError
from ..skypelog import NOTICE_FIELDS, Notice, SkypeRecord
from ..zeeklog import Lenient, ZeekLogWriter
from .engine import CorrelationEngine, EngineOptions
from .events import TcpEvent
from .sources import SourceStats, conn_sessions, expand, first_ts, in_time_order, skype_records


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
    progress: Callable[[Path, int, int, int], None] | None = None,
) -> tuple[OfflineResult, CorrelationEngine]:
    result = OfflineResult()

    def problem(msg: str) -> None:
        result.problems += 1
        report(msg)

    # bad lines reported; one error if no file is readable; *progress* told after each block
    lenient = Lenient(report=problem, progress=progress)
    skype_files, conn_files = expand(logs, "skype"), expand(conn_logs, "conn")
    if not skype_files and not conn_files:
        raise SkypewatchError("no skype.log or conn.log files among the arguments")
    skype_files.sort(key=first_ts)
    conn_files.sort(key=first_ts)
    stats = result.sources
    streams: list[Iterator[SkypeRecord | TcpEvent]] = [
        itertools.chain.from_iterable(skype_records(f, lenient, stats) for f in skype_files),
        itertools.chain.from_iterable(conn_sessions(f, lenient, stats) for f in conn_files),
    ]
    if not conn_files:  # no TCP session will come to join a probe to
        options = dataclasses.replace(options, join_tcp=False)
    engine = CorrelationEngine(options)
    outdir.mkdir(parents=True, exist_ok=True)
    with ZeekLogWriter(outdir, "notice", NOTICE_FIELDS, use_json) as writer:
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
