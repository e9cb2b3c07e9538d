"""Benchmark the live correlator's gate: frames per second through ``codec.decode_message`` and
``schema.to_input`` (JSON, types, bounds, ranges), against ``json.loads`` alone on the same
frames in the same run -- the floor any decoder of these frames pays.  Not a test: it prints
figures.

    python python/benchmarks/bench_codec.py [--frames 200000]

* events: the busy-sensor mix of bench_correlate.py (probes, TCP sessions, skype.log
  detections of 5,000 hosts), as Zeek would publish them;
* hostile: the same number of frames, each a bad one from every class the codec refuses,
  dropped as they would be in a flood.

To compare with an older checkout, run it with PYTHONPATH=<that checkout>/python/src: it only
uses the codec API both have.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from skypewatch.live import codec, schema

TOPIC = "zeek/skype/"


def events(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    clients = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1}" for i in range(5000)]
    peers = [f"81.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1}" for i in range(50_000)]
    ts = 1_600_000_000.0
    out = []
    for i in range(n):
        ts += 0.001
        client, peer = codec.address(rng.choice(clients)), codec.address(rng.choice(peers))
        when = codec.timestamp(ts)
        kind = i % 4
        if kind == 0:
            args = [when, f"P{i}", client, codec.port(35990, "udp"), peer, codec.port(4000, "udp")]
            out.append(codec.encode_event(TOPIC + "probe", schema.PROBE_SEEN, args))
        elif kind == 1:
            args = [when, f"T{i}", client, codec.port(50000), peer, codec.port(4000), True]
            out.append(codec.encode_event(TOPIC + "tcp", schema.TCP_SESSION_SEEN, args))
        else:
            proto = "udp" if kind == 2 else "tcp"
            args = [
                when,
                f"C{i}",
                client,
                codec.port(35990, proto),
                peer,
                codec.port(4000, proto),
                proto,
                codec.real(0.1),
                "probe" if kind == 2 else "login",
                "u1_u2_nack" if kind == 2 else "login_handshake",
                client,
                peer,
                "super_node" if kind == 2 else "login_server",
                "86.1.1.1" if kind == 2 else "",
                "" if kind == 2 else "3.8.0.188",
                "likely" if kind == 2 else "confirmed",
                "bench",
            ]
            out.append(codec.encode_event(TOPIC + "detection", schema.DETECTION, args))
    return out


def hostile(n: int) -> list[str]:
    """Bad frames of every class, cycled: deep, long, huge numbers, wrong types, garbage."""
    good = events(1)[0]
    obj = json.loads(good)
    args = obj["data"][2]["data"][1]["data"]

    def with_arg(i: int, value: dict) -> str:
        saved = args[i]
        args[i] = value
        try:
            return json.dumps(obj)
        finally:
            args[i] = saved

    kinds = [
        "[" * 5000 + "]" * 5000,
        with_arg(0, {"@data-type": "count", "data": 1}).replace(": 1}", ": " + "9" * 4000 + "}", 1),
        with_arg(0, {"@data-type": "real", "data": 1e303}),
        with_arg(0, {"@data-type": "timestamp", "data": "2006-08-25T19:32:12+24:00"}),
        with_arg(2, {"@data-type": "string", "data": "not an address"}),
        with_arg(3, {"@data-type": "port", "data": "99999/udp"}),
        with_arg(1, {"@data-type": "string", "data": "x" * 5000}),
        codec.encode_event(TOPIC, "Other::event", ["x"]),
        "not json at all",
        json.dumps({"type": "data-message", "topic": "t", "data": [1, 2, 3]}),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def through_gate(frames: list[str]) -> tuple[float, int, int]:
    used = refused = 0
    t = time.perf_counter()
    for raw in frames:
        try:
            ev = codec.decode_message(raw)
            if isinstance(ev, codec.Event) and ev.name in schema.KNOWN_EVENTS:
                schema.to_input(ev)
                used += 1
            else:
                refused += 1
        except codec.CodecError:
            refused += 1
    return time.perf_counter() - t, used, refused


def json_only(frames: list[str]) -> float:
    loads = json.loads
    t = time.perf_counter()
    for raw in frames:
        with contextlib.suppress(ValueError, RecursionError):
            loads(raw)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=200_000)
    args = ap.parse_args()
    print(f"skypewatch from {Path(codec.__file__).parents[1]}")
    head = f"{'frames':<9}{'count':>9}{'json.loads/s':>14}{'gate/s':>10}{'gate/json':>11}"
    print(head + "  used/refused")
    for name, frames in (("events", events(args.frames)), ("hostile", hostile(args.frames))):
        ref = min(json_only(frames) for _ in range(3))
        try:
            secs, used, refused = min(through_gate(frames) for _ in range(3))
        except Exception as exc:  # an older codec on hostile frames
            rate = len(frames) / ref
            print(f"{name:<9}{len(frames):>9,}{rate:>14,.0f}  crashed: {type(exc).__name__}")
            continue
        print(
            f"{name:<9}{len(frames):>9,}{len(frames) / ref:>14,.0f}{len(frames) / secs:>10,.0f}"
            f"{secs / ref:>10.2f}x  {used:,}/{refused:,}"
        )


if __name__ == "__main__":
    main()
