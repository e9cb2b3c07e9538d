"""``skypewatch query``: the questions incident responders ask of skype.log."""

from __future__ import annotations

import argparse
import sys

from ..errors import SkypewatchError
from ..skypelog import CONFIDENCES, STAGES
from ..zeeklog import Lenient, log_files
from .analyst import require_analyst_extra
from .args import local_nets_option, network, nonempty, timestamp
from .exits import EXIT_CODES, EXIT_OK
from .paths import output_file
from .progress import ReadProgress

EPILOG = (
    "views:\n"
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
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "query",
        help="ask skype.log who ran Skype, when, through which super nodes",
        description="Answer the questions responders ask of skype.log files (TSV or JSON,"
        " gzip, rotated sets, directories), streaming, so logs larger than memory work.",
        epilog=EPILOG + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("logs", nargs="+", metavar="LOG", help="skype.log files or directories")
    q.add_argument(
        "--view",
        default="clients",
        metavar="VIEW",
        help="what to answer (default: %(default)s; see below)",
    )
    _filter_options(q)
    q.add_argument(
        "--format",
        default="table",
        metavar="F",
        help="table, csv, json or parquet (default: %(default)s)",
    )
    q.add_argument(
        "-o",
        "--output",
        type=nonempty,
        metavar="FILE",
        help="write to FILE, replaced only when complete; - is stdout (parquet needs -o)",
    )
    local_nets_option(q, "an outside host that only reached inside ones is no client")
    q.set_defaults(func=run)


def _filter_options(parser: argparse.ArgumentParser) -> None:
    """Which skype.log lines count: clients, time range, stages, confidence."""
    parser.add_argument(
        "--client",
        type=network,
        action="append",
        default=[],
        metavar="ADDR|CIDR",
        help="only these clients (repeatable)",
    )
    parser.add_argument(
        "--since",
        type=timestamp,
        metavar="T",
        help="from this time (ISO 8601: 2006-08-25, 20060825, 20060825T120000Z; or epoch seconds)",
    )
    parser.add_argument("--until", type=timestamp, metavar="T", help="up to this time")
    parser.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="S",
        help="only these stages (repeatable): " + ", ".join(STAGES),
    )
    parser.add_argument(
        "--min-confidence",
        choices=CONFIDENCES,
        help="drop lines below this confidence",
    )


def run(args: argparse.Namespace) -> int:
    require_analyst_extra()
    from ..analyst.query import (
        DEFAULT_LOCAL_NETS,
        VIEWS,
        Filter,
        parse_network,
        parse_time,
        render,
        run_query,
    )

    if args.view not in VIEWS:
        raise SkypewatchError(f"unknown view {args.view!r}; choose from {', '.join(VIEWS)}")
    check_output(args)
    flt = Filter(
        networks=[parse_network(c) for c in args.client],
        since=parse_time(args.since) if args.since else None,
        until=parse_time(args.until) if args.until else None,
        stages=set(args.stage),
        min_confidence=args.min_confidence,
    )
    if flt.since is not None and flt.until is not None and flt.since > flt.until:
        raise SkypewatchError(f"--since {args.since} is later than --until {args.until}")
    bar = ReadProgress()
    try:
        df = run_query(
            args.logs,
            args.view,
            flt,
            args.local_nets or DEFAULT_LOCAL_NETS,
            Lenient(progress=bar),
        )
    finally:
        bar.close()
    text = render(df, args.format, args.output)
    if text is not None:
        sys.stdout.write(text)
    return EXIT_OK


def check_output(args: argparse.Namespace) -> None:
    """What render() would refuse after reading every log, refused before reading any."""
    from ..analyst.query import FORMATS

    if args.format not in FORMATS:
        raise SkypewatchError(f"unknown format {args.format!r}; choose from {', '.join(FORMATS)}")
    for stage in args.stage:
        if stage not in STAGES:
            raise SkypewatchError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    if args.format == "parquet" and not args.output:
        raise SkypewatchError("--format parquet writes a file: give -o FILE")
    if args.output:  # written whole or not at all (skypewatch.atomic); "-" is stdout
        output_file(args.output, "-o", atomic=True, stdout_ok=True, inputs=log_files(args.logs))
