"""Benchmark `skypewatch analyze` against ndpiReader and tshark on a >= 1 M packet capture.

The capture is built by repeating the shared real captures (Skype and benign) with every
IPv4 address shifted per repetition, so the engine sees ever new connections, as on a real
sensor.  Prints packets per second and peak memory (max RSS of the child process) for each
tool, the ratios, and skypewatch's peak memory at twice the size, which shows whether memory
stays flat as finished connections pile up.  Not a test: it prints figures.

    python python/benchmarks/bench_analyze.py [--packets 1100000] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mixcap import COMMON, DATA, SKYPE  # noqa: E402
from mixcap import build as build_mix  # noqa: E402

sys.path.insert(0, str(REPO / "python" / "src"))
from skypewatch.packets.capture import read_capture  # noqa: E402
from skypewatch.synth.scenarios import SynthOptions, synthesize  # noqa: E402

SOURCES = SKYPE + COMMON


def build(path: Path, packets: int) -> int:
    """The sources over and over, addresses shifted each round."""
    return build_mix(path, packets, SOURCES)


def count(path: Path) -> int:
    return sum(1 for _ in read_capture(path))


def measure_one(cmd: list[str], out_dir: Path) -> tuple[float, int]:
    """Run ``cmd`` in a fresh interpreter that reports only its own child's peak RSS."""
    probe = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
        "e=time.perf_counter()-t;"
        "print(r.returncode,e,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.stderr.write(r.stderr.decode()[:300])"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, *cmd], capture_output=True, text=True, cwd=out_dir
    )
    code, elapsed, rss = r.stdout.split()
    if code != "0":
        sys.exit(f"{cmd[0]} exited {code}: {r.stderr}")
    return float(elapsed), int(rss)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--packets", type=int, default=1_100_000)
    ap.add_argument("--keep", action="store_true", help="reuse an existing capture")
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    cap = DATA / f"bench-{args.packets}.pcap"
    cap2 = DATA / f"bench-{2 * args.packets}.pcap"
    sizes = {}
    for path, n in ((cap, args.packets), (cap2, 2 * args.packets)):
        if args.keep and path.exists():
            sizes[path] = count(path)
        else:
            t = time.perf_counter()
            sizes[path] = build(path, n)
            print(
                f"built {path.name}: {n:,} packets, {path.stat().st_size / 1e6:.0f} MB"
                f" in {time.perf_counter() - t:.1f} s"
            )
    sw = shutil.which("skypewatch", path=str(REPO / ".venv" / "bin")) or "skypewatch"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        # a synthesized capture too: Skype start-ups in 16,000 packets/s of background
        syn = synthesize(
            "open-2.0",
            tmpd / "synth.pcap",
            SynthOptions(clients=50, duration=args.packets / 16000, background=16000),
        )
        sizes[syn.pcap] = syn.packets
        results["skypewatch (synthesized)"] = measure_one(
            [sw, "analyze", str(syn.pcap), "-o", tmp, "-q"], tmpd
        )
        if shutil.which("ndpiReader"):
            results["ndpiReader (synthesized)"] = measure_one(
                ["ndpiReader", "-i", str(syn.pcap), "-q"], tmpd
            )
        results["skypewatch"] = measure_one([sw, "analyze", str(cap), "-o", tmp, "-q"], tmpd)
        results["skypewatch (2x packets)"] = measure_one(
            [sw, "analyze", str(cap2), "-o", tmp, "-q"], tmpd
        )
        if shutil.which("ndpiReader"):
            results["ndpiReader"] = measure_one(["ndpiReader", "-i", str(cap), "-q"], tmpd)
        if shutil.which("tshark"):
            results["tshark -z conv,udp"] = measure_one(
                ["tshark", "-q", "-z", "conv,udp", "-r", str(cap)], tmpd
            )
    print(f"\n{'tool':<26}{'seconds':>9}{'packets/s':>13}{'peak RSS MiB':>14}")
    for name, (secs, rss) in results.items():
        n = sizes[cap2] if "2x" in name else sizes[syn.pcap] if "synth" in name else sizes[cap]
        print(f"{name:<26}{secs:>9.2f}{n / secs:>13,.0f}{rss / 1024:>14.0f}")
    sw_t = results["skypewatch"][0]
    for other in ("ndpiReader", "tshark -z conv,udp"):
        if other in results:
            print(f"skypewatch / {other}: {sw_t / results[other][0]:.2f}x the time")
    if "ndpiReader (synthesized)" in results:
        ratio = results["skypewatch (synthesized)"][0] / results["ndpiReader (synthesized)"][0]
        print(f"on the synthesized capture: {ratio:.2f}x ndpiReader's time")
    m1, m2 = results["skypewatch"][1], results["skypewatch (2x packets)"][1]
    print(f"skypewatch peak memory at 2x the packets: {m2 / m1:.2f}x")
    if not args.keep:
        cap.unlink()
        cap2.unlink()


if __name__ == "__main__":
    main()
