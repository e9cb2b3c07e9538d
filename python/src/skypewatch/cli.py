"""The ``skypewatch`` command line.

Exit codes: 0 success; 1 the run could not finish because an output could not be written
after the checks passed (disk full, an I/O error: one line on stderr; what was written is
incomplete, and logs that were being written are removed); 2 bad input or usage (one line on
stderr, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import __version__
from .cliargs import (
    OneLineParser,
    network,
    networks,
    nonempty,
    real,
    seconds,
    timestamp,
    websocket,
    whole,
)
from .errors import SkypewatchError, one_line
from .outpaths import output_dir, output_file

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

# Upper bounds of the numeric options: far beyond any sensible setting, well inside what the
# engine's clocks and tables can mean.
DAY = 86_400.0
MAX_WINDOW = DAY  # timeouts, probe window, notice settle time
MAX_REORDER = 7 * DAY
MAX_FANOUT_PEERS = 1_000
MAX_SEED = 2**64 - 1

DESCRIPTION = """\
Detect legacy peer-to-peer Skype (1.x-7.x) in packet captures and Zeek logs.

Skype's start-up has three stages, each with its own signature: a UDP probe to
super nodes (U1-U4), a TCP handshake with a super node (random port, then 80 and
443 with a TLS look-alike), and a TCP login (16 03 01 00 00).  skypewatch finds
each stage per connection, then correlates them per host into notices.
"""

EXIT_CODES = """\
exit codes (every command):
  0    done
  1    the run could not finish: an output could not be written after the checks
       passed (disk full, an I/O error); one line on stderr says which and why, and
       what was written is incomplete (logs being written are removed)
  2    bad input or usage: one line on stderr saying what is wrong
  130  interrupted (Ctrl-C)
"""

ANALYZE_EPILOG = """\
output (in DIR, default ./skypewatch-out):
  skype.log   one line per connection in which a Skype signature fired, in Zeek's
              TSV format (or JSON lines with --json): stage, signatures, client,
              peer and its role, the public IP leaked by the U2 reply, confidence
              (confirmed / likely / possible) and the evidence in words.
  notice.log  one notice per Skype client host whose evidence adds up.

examples:
  skypewatch analyze SkypeIRC.cap
  skypewatch analyze day1.pcap day2.pcapng -o /tmp/sw --json
  zeek-cut client stage confidence < skypewatch-out/skype.log | sort | uniq -c

exit codes: 0 done; 2 bad input (missing, not a capture, truncated or damaged,
unsupported link type, empty, an option out of range, an output that cannot be
written) -- a truncated or damaged capture is analysed up to where it breaks and
its logs lack the closing '#close' line; 1 the disk filled up (or another write
error) mid-run: no log is left behind.
"""


def _local_nets_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--local-nets", type=networks, default=None, metavar="CIDR[,CIDR...]", help=help_text
    )


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="skypewatch",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"skypewatch {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    a = sub.add_parser(
        "analyze",
        help="analyse captures into skype.log and notice.log",
        description="Analyse pcap/pcapng captures (Ethernet, raw IP, Linux cooked; IPv4/IPv6;"
        " VLAN) as one stream and write skype.log and notice.log.",
        epilog=ANALYZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap or pcapng file(s)")
    a.add_argument(
        "-o",
        "--output",
        type=nonempty,
        default="skypewatch-out",
        metavar="DIR",
        help="directory for the logs (created if missing; default: %(default)s)",
    )
    a.add_argument("--json", action="store_true", help="write JSON lines instead of Zeek TSV")
    a.add_argument("--quiet", "-q", action="store_true", help="no summary on stdout")
    a.add_argument(
        "--udp-timeout",
        type=seconds(MAX_WINDOW),
        default=60.0,
        metavar="S",
        help="UDP inactivity timeout in seconds, as Zeek's (default: %(default)s)",
    )
    a.add_argument(
        "--probe-window",
        type=seconds(MAX_WINDOW),
        default=60.0,
        metavar="S",
        help="seconds after a UDP probe in which TCP to the same peer counts as its"
        " follow-up (default: %(default)s)",
    )
    a.add_argument(
        "--fanout-peers",
        type=whole(2, MAX_FANOUT_PEERS),
        default=5,
        metavar="N",
        help="distinct hosts one UDP port must probe to count as fan-out (default: %(default)s)",
    )
    a.add_argument(
        "--settle",
        type=seconds(MAX_WINDOW),
        default=120.0,
        metavar="S",
        help="seconds a qualifying client's notice waits for more stages (default: %(default)s)",
    )
    _local_nets_option(
        a,
        "networks counted as inside, for super-node notices"
        " (default: private and unrouted address space)",
    )
    a.set_defaults(func=_cmd_analyze)

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
        "  skypewatch correlate --zeek ws://127.0.0.1:27759\n\n"
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
        "-o",
        "--output",
        type=nonempty,
        default="skypewatch-out",
        metavar="DIR",
        help="directory for notice.log (default: %(default)s)",
    )
    r.add_argument("--json", action="store_true", help="write JSON lines instead of Zeek TSV")
    r.add_argument(
        "--probe-window",
        type=seconds(MAX_WINDOW),
        default=60.0,
        metavar="S",
        help="seconds after a probe in which TCP to the peer is its follow-up"
        " (default: %(default)s)",
    )
    r.add_argument(
        "--settle",
        type=seconds(MAX_WINDOW),
        default=120.0,
        metavar="S",
        help="seconds a qualifying client's notice waits for more stages (default: %(default)s)",
    )
    r.add_argument(
        "--reorder-window",
        type=seconds(MAX_REORDER),
        default=3600.0,
        metavar="S",
        help="offline: seconds of records held to put them in time order (default: %(default)s)",
    )
    _local_nets_option(r, "networks counted as inside (default: private address space)")
    r.set_defaults(func=_cmd_correlate)

    q = sub.add_parser(
        "query",
        help="ask skype.log who ran Skype, when, through which super nodes",
        description="Answer the questions responders ask of skype.log files (TSV or JSON,"
        " gzip, rotated sets, directories), streaming, so logs larger than memory work.",
        epilog="views:\n"
        "  clients            hosts that ran Skype: when, stages, super nodes, public IPs,\n"
        "                     and status: blocked (nothing answered, TCP ports tried)\n"
        "  lines              the matching skype.log lines\n"
        "  super-nodes        super nodes reached, by how many clients\n"
        "  local-super-nodes  local hosts that served outside clients (relays)\n"
        "  public-ips         public addresses leaked by U2 replies, per client\n\n"
        "examples:\n"
        "  skypewatch query logs/ --client 10.1.0.0/16 --since 2026-11-01\n"
        "  skypewatch query skype.log --view super-nodes --format csv\n"
        "  skypewatch query skype.*.log.gz --view lines --stage login --min-confidence likely\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("logs", nargs="+", metavar="LOG", help="skype.log files or directories")
    q.add_argument(
        "--view",
        default="clients",
        metavar="VIEW",
        help="what to answer (default: %(default)s; see below)",
    )
    q.add_argument(
        "--client",
        type=network,
        action="append",
        default=[],
        metavar="ADDR|CIDR",
        help="only these clients (repeatable)",
    )
    q.add_argument(
        "--since", type=timestamp, metavar="T", help="from this time (ISO 8601 or epoch seconds)"
    )
    q.add_argument("--until", type=timestamp, metavar="T", help="up to this time")
    q.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="S",
        help="only these stages (repeatable): "
        + ", ".join(("probe", "sn_handshake", "login", "version_check", "media")),
    )
    q.add_argument(
        "--min-confidence",
        choices=("possible", "likely", "confirmed"),
        help="drop lines below this confidence",
    )
    q.add_argument(
        "--format",
        default="table",
        metavar="F",
        help="table, csv, json or parquet (default: %(default)s)",
    )
    q.add_argument(
        "-o", "--output", type=nonempty, metavar="FILE", help="write to FILE (parquet needs it)"
    )
    _local_nets_option(q, "inside networks, for local-super-nodes (default: private space)")
    q.set_defaults(func=_cmd_query)

    rp = sub.add_parser(
        "report",
        help="one self-contained HTML report (timeline, fan-out, top talkers, notices)",
        description="Write one HTML file, readable offline, about the Skype in skype.log (and"
        " notice.log, if given; otherwise the correlator computes the notices).",
        epilog="example:\n  skypewatch report skypewatch-out/ -o report.html --png plots/\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument("logs", nargs="+", metavar="LOG", help="skype.log / notice.log / dirs")
    rp.add_argument(
        "-o",
        "--output",
        type=nonempty,
        default="skype-report.html",
        metavar="HTML",
        help="the report file (default: %(default)s)",
    )
    rp.add_argument(
        "--png", type=nonempty, metavar="DIR", help="also write the plots as PNG files here"
    )
    rp.add_argument("--title", default="Legacy Skype on the network", help="report title")
    rp.set_defaults(func=_cmd_report)

    from .synth.scenarios import MAX_BACKGROUND, MAX_CLIENTS, MAX_DURATION, describe

    y = sub.add_parser(
        "synth",
        help="synthesize legacy Skype start-ups as a pcap with ground truth",
        description="Write a deterministic pcap (same seed, same bytes) of Skype start-ups built"
        " from the published message layouts, and OUT.truth.tsv beside it saying which"
        " connections are Skype, at which stage, for which client.",
        epilog="scenarios:\n" + describe() + "\n\nexamples:\n"
        "  skypewatch synth nat -o nat.pcap --clients 5 --background 200\n"
        "  skypewatch synth open-1.4 -o big.pcap --clients 2000 --duration 3600"
        " --background 3000\n  skypewatch synth --all -o traces/\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    y.add_argument("scenario", nargs="?", metavar="SCENARIO", help="one of the scenarios below")
    y.add_argument(
        "--all",
        action="store_true",
        help="every scenario, small, into directory OUT (as the btest traces are made)",
    )
    y.add_argument(
        "-o",
        "--output",
        type=nonempty,
        required=True,
        metavar="OUT",
        help="pcap file to write (a directory with --all)",
    )
    y.add_argument(
        "--clients",
        type=whole(1, MAX_CLIENTS),
        default=1,
        metavar="N",
        help=f"Skype clients starting up, 1-{MAX_CLIENTS:,} (default: %(default)s)",
    )
    y.add_argument(
        "--seed",
        type=whole(0, MAX_SEED),
        default=1,
        metavar="S",
        help="random seed, 0 to 2^64-1 (default: 1)",
    )
    y.add_argument(
        "--duration",
        type=real(10.0, MAX_DURATION),
        default=120.0,
        metavar="T",
        help=f"seconds the capture spans, 10-{MAX_DURATION:,.0f} (default: %(default)s)",
    )
    y.add_argument(
        "--background",
        type=real(0.0, MAX_BACKGROUND),
        default=0.0,
        metavar="RATE",
        help="benign background (DNS, TLS, QUIC, uTP, DHT, RTP), in packets per"
        f" second, up to {MAX_BACKGROUND:,.0f} (default: none)",
    )
    y.set_defaults(func=_cmd_synth)
    return p


# The committed btest traces: scenario, clients, background rate.  `make traces` rebuilds them
# and CI checks that the rebuild is byte-identical.
TRACE_SET = (
    ("open-1.4", 1, 0.0),
    ("open-2.0", 1, 0.0),
    ("nat", 1, 0.0),
    ("udp-blocked", 1, 0.0),
    ("tcp-high-blocked", 1, 0.0),
    ("login-restricted", 1, 0.0),
    ("autologin", 1, 0.0),
    ("local-supernode", 6, 0.0),
    ("open-1.4", 2, 30.0),
    ("all-blocked", 1, 0.0),
    ("known-nodes", 1, 0.0),
)


def trace_name(scenario: str, clients: int, background: float) -> str:
    return f"skype-{scenario}" + ("-background" if background else "") + ".pcap"


def _cmd_synth(args: argparse.Namespace) -> int:

    from .synth.scenarios import SCENARIOS, SynthOptions, synthesize
    from .synth.truth import truth_path

    if args.all:
        names = [trace_name(*t) for t in TRACE_SET]
        out = output_dir(args.output, "-o", names + [truth_path(n).name for n in names])
        for scenario, clients, bg in TRACE_SET:
            r = synthesize(
                scenario,
                out / trace_name(scenario, clients, bg),
                SynthOptions(clients=clients, seed=args.seed, background=bg),
            )
            print(f"{r.pcap}: {r.packets} packets, {r.skype_connections} Skype connections")
        return EXIT_OK
    if args.scenario is None:
        raise SkypewatchError("name a scenario (see skypewatch synth --help) or use --all")
    if args.scenario not in SCENARIOS:
        raise SkypewatchError(
            f"unknown scenario {args.scenario!r}; choose from {', '.join(SCENARIOS)}"
        )
    out = output_file(args.output, "-o", atomic=True)
    output_file(truth_path(out), "-o (its truth file)", atomic=True)
    opts = SynthOptions(args.clients, args.seed, args.duration, args.background)
    tty = sys.stderr.isatty()

    def progress(packets: int) -> None:
        if tty:
            sys.stderr.write(f"\r{packets:,} packets written")
            sys.stderr.flush()

    r = synthesize(args.scenario, out, opts, progress)
    if tty:
        sys.stderr.write("\r" + " " * 40 + "\r")
    print(
        f"{r.pcap}: {r.packets:,} packets, {r.connections:,} connections"
        f" ({r.skype_connections:,} Skype); truth in {r.truth}"
    )
    return EXIT_OK


def _cmd_correlate(args: argparse.Namespace) -> int:

    from .correlate import CorrelatorOptions
    from .correlate.engine import EngineOptions
    from .correlate.run import run_live, run_offline

    if bool(args.logs or args.conn) == bool(args.zeek):
        raise SkypewatchError("give either LOG files (offline) or --zeek ws://HOST:PORT (live)")
    nets = args.local_nets
    corr = CorrelatorOptions(settle=args.settle, **({"local_nets": nets} if nets else {}))
    opts = EngineOptions(probe_window=args.probe_window, correlator=corr)
    out = output_dir(args.output, "-o", ["notice.log"])
    if args.zeek:
        client, engine = run_live(args.zeek, args.topic, out, opts, args.json)
        s = client.stats
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items())) or "none"
        print(
            f"live: {s.connections} connection(s) to Zeek, {s.events} events used,"
            f" dropped: {dropped}; {engine.stats.notices} notice(s),"
            f" {s.notices_sent} sent to Zeek, {s.notices_undelivered} kept locally only"
        )
        return EXIT_OK
    result, engine = run_offline(args.logs, args.conn, out, opts, args.json, args.reorder_window)
    src, st = result.sources, engine.stats
    print(
        f"read {src.files} file(s), {src.lines:,} lines ({src.bad_lines} bad):"
        f" {src.records:,} skype.log records, {src.tcp_sessions:,} TCP sessions;"
        f" {st.joined} probe-to-TCP joins"
    )
    print(f"notice.log: {len(result.notices)} notice(s) in {result.notice_log}")
    for n in result.notices:
        print(f"  {n.note}: {n.msg}")
    if src.records + src.tcp_sessions == 0:
        print("skypewatch: nothing could be read from the given logs", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def _analyst():
    try:
        import matplotlib
        import pandas  # noqa: F401
    except ImportError:
        raise SkypewatchError(
            "this command needs pandas and matplotlib: pip install 'skypewatch[analyst]'"
        ) from None
    import matplotlib

    matplotlib.use("Agg")


def _cmd_query(args: argparse.Namespace) -> int:
    _analyst()
    from .query import PRIVATE, VIEWS, Filter, parse_network, parse_time, render, run_query

    if args.view not in VIEWS:
        raise SkypewatchError(f"unknown view {args.view!r}; choose from {', '.join(VIEWS)}")
    _check_query_output(args)
    flt = Filter(
        networks=[parse_network(c) for c in args.client],
        since=parse_time(args.since) if args.since else None,
        until=parse_time(args.until) if args.until else None,
        stages=set(args.stage),
        min_confidence=args.min_confidence,
    )
    if flt.since is not None and flt.until is not None and flt.since > flt.until:
        raise SkypewatchError(f"--since {args.since} is later than --until {args.until}")
    df = run_query(args.logs, args.view, flt, args.local_nets or PRIVATE)
    text = render(df, args.format, args.output)
    if text is not None:
        sys.stdout.write(text)
    return EXIT_OK


def _check_query_output(args: argparse.Namespace) -> None:
    """What render() would refuse after reading every log, refused before reading any."""
    from .query import FORMATS
    from .records import STAGES

    if args.format not in FORMATS:
        raise SkypewatchError(f"unknown format {args.format!r}; choose from {', '.join(FORMATS)}")
    for stage in args.stage:
        if stage not in STAGES:
            raise SkypewatchError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    if args.format == "parquet" and not args.output:
        raise SkypewatchError("--format parquet writes a file: give -o FILE")
    if args.output:
        output_file(args.output, "-o", inputs=args.logs)


def _cmd_report(args: argparse.Namespace) -> int:
    output_file(args.output, "-o", make_parent=True, inputs=args.logs)
    if args.png:  # the plot files report.py writes there
        output_dir(args.png, "--png", ("timeline.png", "fanout.png", "top-talkers.png"))
    _analyst()
    from .report import build_report

    r = build_report(args.logs, args.output, args.png, args.title)
    if r.rows == 0:
        print(f"{r.html}: no Skype detections in these logs (the report says so)")
    else:
        print(
            f"{r.html}: {r.clients} client(s), {r.rows} Skype connections,"
            f" {r.notices} notice(s)" + (f"; plots in {args.png}" if args.png else "")
        )
    return EXIT_OK


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analyze import TerminalProgress, analyze, format_summary
    from .correlate import CorrelatorOptions
    from .hostctx import HostOptions
    from .tracker import TrackerOptions

    output_dir(args.output, "-o", ["skype.log", "notice.log"])
    nets = args.local_nets
    corr = CorrelatorOptions(settle=args.settle, **({"local_nets": nets} if nets else {}))
    topts = TrackerOptions(
        udp_timeout=args.udp_timeout,
        host=HostOptions(probe_tcp_window=args.probe_window, fanout_min_peers=args.fanout_peers),
    )
    bar = TerminalProgress()
    try:
        summary = analyze(args.captures, args.output, args.json, topts, corr, progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        print(format_summary(summary))
    if summary.truncated is not None:
        print(f"skypewatch: {summary.truncated}", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (already reported in one line), --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    stdout, sys.stdout = sys.stdout, _NamedStdout(sys.stdout)  # type: ignore[assignment]
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a full disk is one line and exit 1, not at exit
        return code
    except SkypewatchError as exc:
        print(f"skypewatch: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("skypewatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # the checks passed, then writing failed: disk full, I/O error
        print(f"skypewatch: {_write_failure(exc, args)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        sys.stdout = stdout


def _write_failure(exc: OSError, args: argparse.Namespace) -> str:
    what = exc.filename or getattr(args, "output", None)  # a failed write names no file
    why = exc.strerror or str(exc) or type(exc).__name__
    return one_line(
        (f"{what}: " if what else "") + f"{why}; the run could not finish, its output is incomplete"
    )


class _NamedStdout:
    """stdout whose write errors say "stdout" (a failed write names no file)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _stdout_error(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _stdout_error(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _stdout_error(exc: OSError) -> OSError:
    if not isinstance(exc, BrokenPipeError):
        # nothing more can reach stdout: keep the flush at exit from failing again
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return OSError(exc.errno, exc.strerror or str(exc), "stdout")


if __name__ == "__main__":
    sys.exit(main())
