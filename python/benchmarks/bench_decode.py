"""Decoding cost per form: the plain capture against each encapsulation and fragmentation.

Reads one capture (default: the shared SkypeIRC.cap) into memory, re-wraps it in every form
of ``synth/encapsulate.py``, and times the decoding loop ``analyze`` runs (the fast path, then
the decoder for what it declines) on each: best of N runs of CPU time, so that other load on
the machine counts as little as it can.  Prints microseconds per frame, the share of frames
the fast path took, and packets out.  Not a test: it prints figures.

    python python/benchmarks/bench_decode.py [CAPTURE] [--repeat 5] [--copies 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "python" / "src"))
from skypewatch.packets.capture import read_capture  # noqa: E402
from skypewatch.packets.decode import Decoder, decode_plain  # noqa: E402
from skypewatch.synth.encapsulate import FORMS, rewrap_capture  # noqa: E402

SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared")) / "pcaps"


def measure(frames: list, repeat: int) -> tuple[float, float, int]:
    """(best CPU seconds, share of frames on the fast path, packets out)."""
    best, fast, out = float("inf"), 0, 0
    for _ in range(repeat):
        decoder = Decoder()
        full = decoder.frame
        fast = out = 0
        start = time.process_time()
        for ts, link, frame in frames:
            pkt = decode_plain(link, frame)
            if pkt is not None:
                fast += 1
                out += 1
            else:
                out += len(full(ts, link, frame))
        decoder.finish()
        best = min(best, time.process_time() - start)
    return best, fast / max(len(frames), 1), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", default=str(SHARED / "skype" / "SkypeIRC.cap"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--copies", type=int, default=20, help="times the frames are repeated")
    args = ap.parse_args()
    print(f"{'form':16} {'us/frame':>9} {'fast path':>10} {'frames':>8} {'packets':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for form in ("plain", *FORMS):
            path = Path(args.capture)
            if form != "plain":
                path = Path(tmp) / f"{form}.pcap"
                rewrap_capture(args.capture, path, form)
            frames = list(read_capture(path)) * args.copies
            seconds, share, packets = measure(frames, args.repeat)
            print(
                f"{form:16} {seconds / len(frames) * 1e6:9.2f} {share:10.1%} {len(frames):8}"
                f" {packets:8}"
            )


if __name__ == "__main__":
    main()
