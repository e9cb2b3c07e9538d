"""``skypewatch synth``: legacy Skype start-ups as a pcap with ground truth."""

from __future__ import annotations

import argparse
import sys

from ..errors import SkypewatchError
from .args import MAX_SEED, nonempty, real, whole
from .exits import EXIT_CODES, EXIT_OK
from .gcpolicy import fewer_collections
from .paths import output_dir, output_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..synth.scenarios import MAX_BACKGROUND, MAX_CLIENTS, MAX_DURATION, describe

    y = sub.add_parser(
        "synth",
        help="synthesize legacy Skype start-ups as a pcap with ground truth",
        description="Write a deterministic pcap (same seed, same bytes) of Skype start-ups built"
        " from the published message layouts, and OUT.truth.tsv beside it saying which"
        " connections are Skype, at which stage, for which client.",
        epilog="scenarios:\n" + describe() + "\n\nexamples:\n"
        "  skypewatch synth nat -o nat.pcap --clients 5 --background 200\n"
        "  skypewatch synth open-1.4 -o big.pcap --clients 2000 --duration 3600"
        " --background 3000\n  skypewatch synth --all -o traces/\n"
        "  skypewatch synth --rewrap vxlan --source in.pcap -o in-vxlan.pcap\n\n" + EXIT_CODES,
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
    from ..synth.encapsulate import FORMS

    y.add_argument(
        "--rewrap",
        choices=FORMS,
        metavar="FORM",
        help="instead of a scenario: write capture SOURCE re-wrapped in FORM ("
        + ", ".join(FORMS)
        + "), to test decoding",
    )
    y.add_argument("--source", type=nonempty, metavar="SOURCE", help="the capture --rewrap reads")
    y.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:

    from ..synth.scenarios import SCENARIOS, SynthOptions, synthesize
    from ..synth.truth import truth_path

    if args.rewrap or args.source:
        return _rewrap(args)
    if args.all:
        names = [trace_name(*t) for t in TRACE_SET]
        out = output_dir(args.output, "-o", names + [truth_path(n).name for n in names])
        for scenario, clients, bg in TRACE_SET:  # small: the default collector is fine
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

    with fewer_collections():
        r = synthesize(args.scenario, out, opts, progress)
    if tty:
        sys.stderr.write("\r" + " " * 40 + "\r")
    print(
        f"{r.pcap}: {r.packets:,} packets, {r.connections:,} connections"
        f" ({r.skype_connections:,} Skype); truth in {r.truth}"
    )
    return EXIT_OK


def _rewrap(args: argparse.Namespace) -> int:
    """``--rewrap FORM --source CAPTURE``: the capture in another form, written whole or
    not at all."""
    from ..packets.capture import check_readable
    from ..synth.encapsulate import rewrap_capture

    if not (args.rewrap and args.source):
        raise SkypewatchError("--rewrap FORM and --source CAPTURE go together")
    if args.scenario is not None or args.all:
        raise SkypewatchError("--rewrap takes no scenario and no --all")
    check_readable(args.source)
    out = output_file(args.output, "-o", atomic=True, inputs=[args.source])
    part = out.with_name(out.name + ".part")
    try:
        frames = rewrap_capture(args.source, part, args.rewrap)
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    print(f"{out}: {frames:,} frames, {args.source} as {args.rewrap}")
    return EXIT_OK
