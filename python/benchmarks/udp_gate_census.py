"""What a byte-class gate on UDP would save the Zeek package, counted before it is built.

The package's ``skype-udp`` signature matches every UDP datagram with payload and its eval
(``Skype::udp_datagram``) decides on a connection's first one: one eval per direction of
every UDP flow, Skype or not.  A signature whose pattern only takes datagrams whose type
byte could begin a Skype message (``signatures.udp_layout.worth_inspecting``) would call
no eval for a flow that never carries such a datagram.  This counts, on a capture (by
default the dense-UDP mix of bench_zeek.py, built if missing), the UDP flows (5-tuples over
the whole capture, no timeouts) by kind and the evals each design makes.

    python python/benchmarks/udp_gate_census.py [--packets 1100000] [CAPTURE]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mixcap import DATA, DENSE_UDP, SKYPE, build  # noqa: E402

from skypewatch.packets.capture import read_capture  # noqa: E402
from skypewatch.packets.decode import UDP, Decoder  # noqa: E402
from skypewatch.signatures.udp_layout import worth_inspecting  # noqa: E402


@dataclass(slots=True)
class Flow:
    orig: tuple[bytes, int]
    opens_gated: bool  # its first datagram (empty or not) passes the gate
    with_payload: set[int] = field(default_factory=set)  # directions: 0 orig, 1 resp
    gated: set[int] = field(default_factory=set)


def census(path: Path) -> tuple[Counter[str], int, int]:
    """Flows by kind; evals of the catch-all signature and of a gate."""
    decoder = Decoder()
    flows: dict[tuple, Flow] = {}
    for ts, link, data in read_capture(path):
        for p in decoder.frame(ts, link, data):
            if p[0] != UDP:
                continue
            a, b = (p[1], p[2]), (p[3], p[4])
            key = (a, b) if a <= b else (b, a)
            payload = p[7]
            gate = bool(payload) and worth_inspecting(payload)
            flow = flows.get(key)
            if flow is None:
                flow = flows[key] = Flow(a, gate)
            side = 0 if a == flow.orig else 1
            if payload:
                flow.with_payload.add(side)
            if gate:
                flow.gated.add(side)
    kinds: Counter[str] = Counter()
    for flow in flows.values():
        if flow.opens_gated:
            kinds["first datagram gate-typed"] += 1
        elif flow.gated:
            kinds["first not, a later one gate-typed"] += 1
        else:
            kinds["never gate-typed"] += 1
    now = sum(len(f.with_payload) for f in flows.values())
    gated = sum(len(f.gated) for f in flows.values())
    return kinds, now, gated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", nargs="?", type=Path, help="default: the dense-UDP mix")
    ap.add_argument("--packets", type=int, default=1_100_000, help="size of the built mix")
    args = ap.parse_args()
    path = args.capture
    if path is None:
        DATA.mkdir(exist_ok=True)
        path = DATA / f"zeek-dense-udp-{args.packets}.pcap"
        if not path.exists():
            build(path, args.packets, DENSE_UDP, SKYPE, 100)
    kinds, now, gated = census(path)
    print(f"{path.name}: {sum(kinds.values()):,} UDP flows")
    for kind, n in kinds.most_common():
        print(f"  {kind}: {n:,}")
    print(f"evals: catch-all {now:,} (per direction with payload), gate {gated:,}", end="")
    print(f" ({gated / now:.2f}x)")


if __name__ == "__main__":
    main()
