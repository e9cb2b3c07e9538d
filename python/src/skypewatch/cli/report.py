"""``skypewatch report``: one self-contained HTML report about the Skype in some logs."""

from __future__ import annotations

import argparse

from .analyst import require_analyst_extra
from .args import nonempty
from .exits import EXIT_CODES, EXIT_OK
from .paths import output_dir, output_file


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    rp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    output_file(args.output, "-o", make_parent=True, inputs=args.logs)
    if args.png:  # the plot files report.py writes there
        output_dir(args.png, "--png", ("timeline.png", "fanout.png", "top-talkers.png"))
    require_analyst_extra()
    from ..analyst.report import build_report

    r = build_report(args.logs, args.output, args.png, args.title)
    if r.rows == 0:
        print(f"{r.html}: no Skype detections in these logs (the report says so)")
    else:
        print(
            f"{r.html}: {r.clients} client(s), {r.rows} Skype connections,"
            f" {r.notices} notice(s)" + (f"; plots in {args.png}" if args.png else "")
        )
    return EXIT_OK
