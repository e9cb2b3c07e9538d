"""The ``skypewatch`` command line.

Exit codes: 0 success; 1 the run worked but found something the caller asked to fail on
(none yet); 2 bad input or usage (one line on stderr, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import SkypewatchError

EXIT_OK = 0
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Detect legacy peer-to-peer Skype (1.x-7.x) in packet captures and Zeek logs.

Skype's start-up has three stages, each with its own signature: a UDP probe to
super nodes (U1-U4), a TCP handshake with a super node (random port, then 80 and
443 with a TLS look-alike), and a TCP login (16 03 01 00 00).  skypewatch finds
each stage per connection, then correlates them per host into notices.
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

exit codes: 0 done; 2 bad input (missing, not a capture, truncated, unsupported
link type, empty) -- a truncated capture is analysed up to where it breaks and its
logs lack the closing '#close' line.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="skypewatch",
        description=DESCRIPTION,
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
        default="skypewatch-out",
        metavar="DIR",
        help="directory for the logs (created if missing; default: %(default)s)",
    )
    a.add_argument("--json", action="store_true", help="write JSON lines instead of Zeek TSV")
    a.add_argument("--quiet", "-q", action="store_true", help="no summary on stdout")
    a.add_argument(
        "--udp-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="UDP inactivity timeout in seconds, as Zeek's (default: %(default)s)",
    )
    a.add_argument(
        "--probe-window",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds after a UDP probe in which TCP to the same peer counts as its"
        " follow-up (default: %(default)s)",
    )
    a.add_argument(
        "--fanout-peers",
        type=int,
        default=5,
        metavar="N",
        help="distinct hosts one UDP port must probe to count as fan-out (default: %(default)s)",
    )
    a.add_argument(
        "--settle",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds a qualifying client's notice waits for more stages (default: %(default)s)",
    )
    a.add_argument(
        "--local-nets",
        default=None,
        metavar="CIDR[,CIDR...]",
        help="networks counted as inside, for super-node notices"
        " (default: RFC 1918, 100.64/10, fc00::/7, fe80::/10)",
    )
    a.set_defaults(func=_cmd_analyze)
    return p


def _cmd_analyze(args: argparse.Namespace) -> int:
    import ipaddress

    from .analyze import TerminalProgress, analyze, format_summary
    from .correlate import CorrelatorOptions
    from .hostctx import HostOptions
    from .tracker import TrackerOptions

    for name in ("udp_timeout", "probe_window", "settle"):
        if getattr(args, name) <= 0:
            raise SkypewatchError(f"--{name.replace('_', '-')} must be a positive number")
    if args.fanout_peers < 2:
        raise SkypewatchError("--fanout-peers must be at least 2")
    corr = CorrelatorOptions(settle=args.settle)
    if args.local_nets:
        nets = tuple(n.strip() for n in args.local_nets.split(",") if n.strip())
        for n in nets:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise SkypewatchError(f"--local-nets: {n!r} is not a network") from None
        corr = CorrelatorOptions(settle=args.settle, local_nets=nets)
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
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SkypewatchError as exc:
        print(f"skypewatch: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("skypewatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
