"""``skypewatch report``: one self-contained HTML report about the Skype in some logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..atomic import STDOUT
from ..zeeklog import Lenient, log_files
from .analyst import require_analyst_extra
from .args import local_nets_option, nonempty
from .exits import EXIT_CODES, EXIT_OK
from .paths import output_dir, output_file
from .progress import ReadProgress


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
        help="the report file, replaced only when complete; - is stdout (default: %(default)s)",
    )
    rp.add_argument(
        "--png", type=nonempty, metavar="DIR", help="also write the plots as PNG files here"
    )
    rp.add_argument("--title", default="Legacy Skype on the network", help="report title")
    local_nets_option(rp, "an outside host that only reached inside ones is no client")
    rp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = log_files(args.logs)  # DIR/skype.log is an input of `report DIR`
    output_file(args.output, "-o", make_parent=True, atomic=True, stdout_ok=True, inputs=inputs)
    if args.png:  # the plot files report.py writes there
        output_dir(args.png, "--png", ("timeline.png", "fanout.png", "top-talkers.png"), inputs)
    require_analyst_extra()
    from ..analyst.report import build_report

    # a title of bytes that are not UTF-8 (argv holds them as surrogates) shown as U+FFFD
    title = args.title.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    bar = ReadProgress()
    try:
        out = args.output
        if out != STDOUT and Path(out) == Path(STDOUT):  # ./- is a file named "-", not stdout
            out = str(Path(out).absolute())
        nets = {"local_nets": args.local_nets} if args.local_nets else {}
        r = build_report(args.logs, out, args.png, title, Lenient(progress=bar), **nets)
    finally:
        bar.close()
    # with the report on stdout (-o -), what was written is said on stderr
    say = sys.stderr if args.output == STDOUT else sys.stdout
    if r.rows == 0:
        print(f"{r.html}: no Skype detections in these logs (the report says so)", file=say)
    else:
        print(
            f"{r.html}: {r.clients} client(s), {r.rows} Skype connections,"
            f" {r.notices} notice(s)" + (f"; plots in {args.png}" if args.png else ""),
            file=say,
        )
    return EXIT_OK
