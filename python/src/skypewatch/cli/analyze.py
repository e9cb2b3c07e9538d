"""``skypewatch analyze``: captures in, skype.log and notice.log out, a summary on stdout."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import SkypewatchError
from .args import (
    MAX_FANOUT_PEERS,
    SETTLE_HELP,
    local_nets_option,
    output_option,
    whole,
    window_option,
)
from .exits import EXIT_INPUT, EXIT_OK
from .gcpolicy import fewer_collections
from .mallocpolicy import keep_large_blocks
from .paths import output_dir

MAX_CONNECTIONS = 100_000_000
ENGINES = ("auto", "bulk", "reference")  # analyze.ENGINES, without importing numpy for --help
WORKERS = ("auto", "1", "2")

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
  zcat day3.pcap.gz | skypewatch analyze -      (standard input; a FIFO works too)
  zeek-cut client stage confidence < skypewatch-out/skype.log | sort | uniq -c

exit codes: 0 done; 2 bad input (missing, not a capture, truncated or damaged,
unsupported link type, empty, an option out of range, an output that cannot be
written) -- a truncated or damaged capture is analysed up to where it breaks and
its logs lack the closing '#close' line; 1 the disk filled up (or another write
error) mid-run: no log is left behind.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser(
        "analyze",
        help="analyse captures into skype.log and notice.log",
        description="Analyse pcap/pcapng captures (Ethernet, raw IP, Linux cooked, PPP; IPv4/IPv6"
        " and fragments; VLAN, MPLS, PPPoE and the tunnels Zeek decodes) as one stream and"
        " write skype.log and notice.log.",
        epilog=ANALYZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument(
        "captures",
        nargs="+",
        metavar="CAPTURE",
        help="pcap or pcapng file(s); - for standard input (a pipe), or a FIFO",
    )
    output_option(a, "skypewatch-out", "directory for the logs, created if missing")
    a.add_argument("--quiet", "-q", action="store_true", help="no summary on stdout")
    window_option(a, "--udp-timeout", 60.0, "UDP inactivity timeout in seconds, as Zeek's")
    window_option(
        a,
        "--probe-window",
        60.0,
        "seconds after a UDP probe in which TCP to the same peer counts as its follow-up",
    )
    a.add_argument(
        "--fanout-peers",
        type=whole(2, MAX_FANOUT_PEERS),
        default=5,
        metavar="N",
        help="distinct hosts one UDP port must probe to count as fan-out (default: %(default)s)",
    )
    window_option(a, "--settle", 120.0, SETTLE_HELP)
    a.add_argument(
        "--max-connections",
        type=whole(1000, MAX_CONNECTIONS),
        default=None,
        metavar="N",
        help="open connections tracked at most; beyond it the least recent one with nothing"
        " of value ends early (~1.1 KB each; default: 200000)",
    )
    a.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="auto (default; or $SKYPEWATCH_ENGINE): the bulk engine where it applies --"
        " regular-file pcap or pcapng (Ethernet, Linux cooked, raw IP, loopback) -- else the"
        " reference; bulk: the same, but say so when it did not run; reference: every packet"
        " through the full connection model (the specification the bulk engine is tested"
        " against; same logs, slower)",
    )
    a.add_argument(
        "--workers",
        choices=WORKERS,
        default="auto",
        help="cores for the bulk engine: 2 reads and decodes the capture in a second"
        " process, and judges connections, writes the logs and correlates in a third, while"
        " this one tracks connections (same logs; see the README's Performance section for"
        " what it gains); 1 keeps to one core; auto (default): 2 for captures of 64 MiB or"
        " more when two CPUs are available, else 1",
    )
    local_nets_option(a, "an outside host that only reached inside ones is no client")
    a.set_defaults(func=run)


STDIN = "-"  # as tcpdump's and zeek's -r - (a file named "-" is ./-)


def _stdin() -> Path:
    """The capture piped in, for ``-``; a terminal there is a mistake, not a capture."""
    if sys.stdin is None or sys.stdin.isatty():
        raise SkypewatchError(
            "-: standard input is a terminal; pipe a capture in"
            " (zcat day.pcap.gz | skypewatch analyze -)"
        )
    return Path("/dev/stdin")


def _each_once(captures: list[Path]) -> None:
    """A capture named twice is refused: read as one stream its packets would count twice,
    and a FIFO named twice would wait forever for a second writer."""
    seen: dict[tuple[int, int], Path] = {}
    for c in captures:
        try:
            st = os.stat(c)
        except OSError:
            continue  # missing or unreadable: reported by the capture reader
        first = seen.setdefault((st.st_dev, st.st_ino), c)
        if first is not c:
            raise SkypewatchError(f"{c}: the same capture as {first}; name each once")


def run(args: argparse.Namespace) -> int:
    from ..analyze import TerminalProgress, analyze, auto_workers, format_summary
    from ..correlation import HostCorrelatorOptions
    from ..detect.tracker import TrackerOptions
    from ..verdict.host_context import HostOptions

    captures = [_stdin() if c == STDIN else Path(c) for c in args.captures]
    _each_once(captures)
    output_dir(args.output, "-o", ["skype.log", "notice.log"], captures)
    nets = args.local_nets
    corr = HostCorrelatorOptions(settle=args.settle, **({"local_nets": nets} if nets else {}))
    topts = TrackerOptions(
        udp_timeout=args.udp_timeout,
        **({"max_connections": args.max_connections} if args.max_connections else {}),
        host=HostOptions(probe_tcp_window=args.probe_window, fanout_min_peers=args.fanout_peers),
    )
    engine = args.engine or os.environ.get("SKYPEWATCH_ENGINE") or "auto"
    if engine not in ENGINES:
        raise SkypewatchError(
            f"SKYPEWATCH_ENGINE={engine!r}: not an engine (one of {', '.join(ENGINES)})"
        )
    workers = auto_workers(captures) if args.workers == "auto" else int(args.workers)
    bar = TerminalProgress()
    keep_large_blocks()
    try:
        with fewer_collections():
            summary = analyze(
                captures,
                args.output,
                args.json,
                topts,
                corr,
                progress=bar,
                engine=engine,
                workers=workers,
            )
    finally:
        bar.close()
    if not args.quiet:
        print(format_summary(summary))
    if engine == "bulk" and not summary.engine.startswith("bulk"):
        print(f"skypewatch: the bulk engine did not run: {summary.engine}", file=sys.stderr)
    elif args.workers == "2" and "second process" not in summary.engine:
        # asked for by name: say why one core did the work (a stream, a failed helper)
        print(f"skypewatch: --workers 2 not used: {summary.engine}", file=sys.stderr)
    if summary.truncated is not None:
        print(f"skypewatch: {summary.truncated}", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK
