"""Benchmark `skypewatch synth` at scale: packets written per second and peak memory.

Writes a capture of the requested size (default 10 million packets: Skype start-ups mixed with
benign background at a fixed packet rate) and prints the rate and the peak RSS, and the same
for a run at the same traffic rate but a tenth the duration: memory depends on how many
conversations overlap (the rate), and should not grow with the capture's length.  Not a test.

    python python/benchmarks/bench_synth.py [--packets 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import resource, sys, time
sys.path.insert(0, {src!r})
from skypewatch.cli.gcpolicy import fewer_collections
from skypewatch.synth.scenarios import SynthOptions, synthesize
t = time.perf_counter()
with fewer_collections():  # as the CLI runs it
    r = synthesize({scenario!r}, {out!r}, SynthOptions(clients={clients}, seed=1,
                   duration={duration}, background={rate}))
e = time.perf_counter() - t
print(r.packets, e, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.skype_connections)
"""


RATE = 16_000.0  # background packets per second of capture time


def run(out: Path, packets: int) -> tuple[int, float, int, int]:
    duration = packets / RATE
    clients = max(1, packets // 20000)
    code = CHILD.format(
        src=str(REPO / "python" / "src"),
        scenario="open-2.0",
        out=str(out),
        clients=clients,
        duration=duration,
        rate=RATE,
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, secs, rss, skype = r.stdout.split()
    return int(n), float(secs), int(rss), int(skype)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--packets", type=int, default=10_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the big capture in /tmp")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = run(Path(tmp) / "small.pcap", args.packets // 10)
        out = Path(tmp if not args.keep else "/tmp") / "synth-bench.pcap"
        big = run(out, args.packets)
        size = out.stat().st_size
    print(f"{'run':<12}{'packets':>12}{'seconds':>9}{'packets/s':>12}{'peak RSS MiB':>14}")
    for name, (n, secs, rss, _) in (("1/10 size", small), ("full size", big)):
        print(f"{name:<12}{n:>12,}{secs:>9.1f}{n / secs:>12,.0f}{rss / 1024:>14.0f}")
    print(f"full capture: {size / 1e9:.2f} GB, {big[3]:,} Skype connections")
    print(f"peak memory at 10x the packets: {big[2] / small[2]:.2f}x")


if __name__ == "__main__":
    main()
