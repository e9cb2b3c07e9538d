"""``skypewatch correlate``: per-host notices from skype.log files, or live from Zeek."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SkypewatchError
from ..zeeklog import log_files
from .args import (
    MAX_REORDER,
    SETTLE_HELP,
    local_nets_option,
    nonempty,
    output_option,
    websocket,
    window_option,
)
from .exits import EXIT_INPUT, EXIT_OK
from .gcpolicy import fewer_collections
from .paths import output_dir
from .progress import ReadProgress

SHOWN_NOTICES = 50  # notices listed on stdout; notice.log has them all


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "correlate",
        help="correlate Skype evidence per host into notices (skype.log files, or live Zeek)",
        description="Join UDP probes with the TCP super-node and login sessions that follow,"
        " per client host, and raise notices.  Offline over skype.log files (Zeek TSV or JSON,"
        " gzip, rotated sets, directories; optionally conn.log), or live from Zeek's WebSocket"
        " API, sending the notices back to Zeek.",
        epilog="examples:\n"
        "  skypewatch correlate /var/zeek/logs/2026-11-27/ -o out\n"
        "  skypewatch correlate skype.*.log.gz --conn conn.*.log.gz\n"
        "  skypewatch correlate --zeek ws://127.0.0.1:27759\n"
        "  skypewatch correlate --zeek wss://zeek.example:27759 --ca-file site-ca.pem\n\n"
        "Zeek side (live): @load skypewatch and, standalone, @load skypewatch/websocket.\n"
        "exit codes: 0 done (bad lines are reported on stderr with file and line, the rest\n"
        "is still read); 1 notice.log could not be written (disk full, I/O error); 2 nothing\n"
        "could be read, or bad usage.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("logs", nargs="*", metavar="LOG", help="skype.log files or directories")
    r.add_argument(
        "--conn",
        action="append",
        default=[],
        metavar="CONN_LOG",
        help="conn.log file or directory: TCP sessions to join with probes (repeatable)",
    )
    r.add_argument(
        "--zeek",
        type=websocket,
        metavar="ws://HOST:PORT",
        help="run live against Zeek's WebSocket API instead of reading logs",
    )
    r.add_argument(
        "--topic",
        type=nonempty,
        default="zeek/skype/",
        metavar="PREFIX",
        help="topic prefix of the package's events (default: %(default)s)",
    )
    r.add_argument(
        "--ca-file",
        type=nonempty,
        metavar="PEM",
        help="live, wss://: also trust the CA certificates in this PEM file (a private CA)",
    )
    window_option(
        r,
        "--max-future",
        300.0,
        "live: events dated more than this many seconds ahead of the wall clock are dropped"
        " (counted as future-time), so a forged date cannot move the clock ahead",
    )
    output_option(r, "skypewatch-out", "directory for notice.log")
    window_option(
        r, "--probe-window", 60.0, "seconds after a probe in which TCP to the peer is its follow-up"
    )
    window_option(r, "--settle", 120.0, SETTLE_HELP)
    window_option(
        r,
        "--reorder-window",
        3600.0,
        "offline: seconds of records held to put them in time order",
        high=MAX_REORDER,
    )
    local_nets_option(r, "an outside host that only reached inside ones is no client")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from ..bounded import BoundStats
    from ..correlation import HostCorrelatorOptions
    from ..correlation.engine import EngineOptions
    from ..correlation.offline import run_offline
    from ..live.run import run_live

    if bool(args.logs or args.conn) == bool(args.zeek):
        raise SkypewatchError("give either LOG files (offline) or --zeek ws://HOST:PORT (live)")
    if args.ca_file and not args.zeek:
        raise SkypewatchError("--ca-file: goes with --zeek wss://HOST:PORT")
    tls = None
    if args.zeek:
        from ..live.transport import tls_context

        try:  # before any output is made
            tls = tls_context(args.zeek, Path(args.ca_file) if args.ca_file else None)
        except ValueError as exc:
            raise SkypewatchError(f"--ca-file: {exc}") from None
    nets = args.local_nets
    corr = HostCorrelatorOptions(settle=args.settle, **({"local_nets": nets} if nets else {}))
    opts = EngineOptions(probe_window=args.probe_window, correlator=corr)
    inputs = log_files(args.logs, "skype") + log_files(args.conn, "conn")  # as offline reads
    out = output_dir(args.output, "-o", ["notice.log"], inputs)
    if args.zeek:
        client, engine = run_live(
            args.zeek, args.topic, out, opts, args.json, tls=tls, max_future=args.max_future
        )
        s = client.stats
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items())) or "none"
        print(
            f"live: {s.connections} connection(s) to Zeek, {s.events} events used,"
            f" dropped: {dropped}; {engine.stats.notices} notice(s),"
            f" {s.notices_sent} sent to Zeek, {s.notices_undelivered} kept locally only"
        )
        return EXIT_OK
    bar = ReadProgress()
    try:
        with fewer_collections():
            result, engine = run_offline(
                args.logs, args.conn, out, opts, args.json, args.reorder_window, progress=bar
            )
    finally:
        bar.close()
    src, st = result.sources, engine.stats
    print(
        f"read {src.files} file(s), {src.lines:,} lines ({src.bad_lines} bad):"
        f" {src.records:,} skype.log records, {src.tcp_sessions:,} TCP sessions;"
        f" {st.joined} probe-to-TCP joins"
    )
    print(f"notice.log: {len(result.notices)} notice(s) in {result.notice_log}")
    for n in result.notices[:SHOWN_NOTICES]:  # capped as analyze's summary is
        print(f"  {n.note}: {n.msg}")
    if len(result.notices) > SHOWN_NOTICES:
        print(f"  +{len(result.notices) - SHOWN_NOTICES:,} more (see {result.notice_log})")
    lost = BoundStats()
    lost.add(engine.stats.bounds)
    lost.add(engine.core.stats.bounds)
    if lost.lost:
        print(f"warning: evidence dropped by full tables: {lost.lost:,} ({', '.join(lost.named)})")
    if src.records + src.tcp_sessions == 0:
        print("skypewatch: nothing could be read from the given logs", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK
