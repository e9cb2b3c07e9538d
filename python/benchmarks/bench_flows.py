"""Memory of open flows: one million one-packet UDP flows within 30 s, all open at once.

Builds the capture (synth/flood.py: distinct sources, random payloads), then in the same
run reads it with ``skypewatch analyze`` and with bare ``zeek -r`` (Zeek's default scripts,
no package) and prints each one's peak RSS (the child's own rusage, from wait4), the open
connections the tracker held at most and ended early, and the tracker's memory per open
flow (tracemalloc, in this process, over ``--sample`` flows).  Not a test: figures only.

    python python/benchmarks/bench_flows.py [--flows 1000000] [--seconds 30] [--max-open N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "src"))

from skypewatch.detect.tracker import Tracker, TrackerOptions  # noqa: E402
from skypewatch.packets.capture import read_capture  # noqa: E402
from skypewatch.packets.decode import decode  # noqa: E402
from skypewatch.synth.conditions import EPOCH  # noqa: E402
from skypewatch.synth.flood import flood  # noqa: E402
from skypewatch.synth.pcapwriter import PcapWriter  # noqa: E402


def build(path: Path, flows: int, seconds: float) -> None:
    with PcapWriter(path) as w:
        batch: list[tuple[float, bytes]] = []
        for ev in flood("udp", flows, EPOCH, seconds):
            batch.append(ev)
            if len(batch) >= 65536:
                w.write_events(batch)
                batch = []
        w.write_events(batch)


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """(peak RSS in MiB, wall seconds, stdout) of *cmd*: wait4 gives that child's rusage."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} exited {p.returncode}: {err.read().decode()[:400]}")
        text = out.read().decode()
    # ru_maxrss is in KiB on Linux
    return usage.ru_maxrss / 1024, time.perf_counter() - started, text


def per_flow(path: Path, sample: int, options: TrackerOptions) -> float:
    """Bytes the tracker holds per open flow, over the first *sample* flows."""
    tracker = Tracker(lambda rec, now: None, options)
    packets = read_capture(path)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for n, (ts, link, frame) in enumerate(packets, 1):
        pkt = decode(link, frame)
        if pkt is not None:
            tracker.packet(ts, pkt)
        if n >= sample:
            break
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    open_now = tracker.stats.max_open
    return used / max(open_now, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sample", type=int, default=100_000, help="flows for the per-flow figure")
    ap.add_argument(
        "--max-connections",
        dest="max_open",
        type=int,
        default=None,
        help="analyze --max-connections",
    )
    ap.add_argument("--keep", action="store_true", help="keep the capture and the logs")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    try:
        cap = tmp / "flows.pcap"
        t = time.perf_counter()
        build(cap, args.flows, args.seconds)
        size = cap.stat().st_size / 1e6
        print(f"capture: {args.flows:,} one-packet UDP flows in {args.seconds:g} s,"
              f" {size:.0f} MB ({time.perf_counter() - t:.1f} s to build)")  # fmt: skip
        opts = (
            TrackerOptions()
            if args.max_open is None
            else TrackerOptions(max_connections=args.max_open)
        )
        sample = min(args.sample, args.flows)
        print(f"tracker memory per open flow: {per_flow(cap, sample, opts):,.0f} bytes"
              f" (tracemalloc over {sample:,} flows, cap {opts.max_connections:,})")  # fmt: skip
        analyze = [sys.executable, "-m", "skypewatch", "analyze", str(cap), "-o", str(tmp / "sw")]
        if args.max_open is not None:
            analyze += ["--max-connections", str(args.max_open)]
        rss, secs, out = run_measured(analyze, tmp)
        print(f"skypewatch analyze: peak RSS {rss:,.0f} MiB, {secs:.1f} s")
        for line in out.splitlines():
            if "open connections" in line or "state" in line or "warning" in line:
                print(f"  {line.strip()}")
        zeek = shutil.which("zeek")
        if zeek is None:
            print("zeek -r: SKIPPED -- no 'zeek' on PATH")
        else:
            (tmp / "zeek").mkdir()
            rss, secs, _ = run_measured([zeek, "-C", "-r", str(cap)], tmp / "zeek")
            print(f"zeek -r (bare, default scripts): peak RSS {rss:,.0f} MiB, {secs:.1f} s")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
