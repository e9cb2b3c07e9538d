"""CPU cost of the Zeek package: bare Zeek against Zeek + skypewatch on the same capture.

Two >= 1 M-packet captures are built from the shared real captures (mixcap.py):

* ``sensor``: every benign and modern capture, each round; SkypeIRC.cap and skype.pcap
  join one round in ``--rare-every`` (default 20): legacy Skype as a small part of a
  network's traffic.
* ``skype-heavy``: the analyze benchmark's mix, in which the two Skype captures come every
  round: close to half of all connections are legacy Skype, the package's worst case
  (it inspects, logs and correlates every one of them).

Each capture is read by ``zeek -C -r`` with Zeek's default scripts, and again with the
package loaded; the two alternate, ``--runs`` times each, and the minimum user+system CPU
time of each is compared (times on these machines vary from run to run; the minimum of
alternating runs is what both had when least disturbed).  The figures go to stdout; the
share of connections the package logged says which traffic each ratio is about.

    python python/benchmarks/bench_zeek.py [--packets 1100000] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mixcap import BENIGN_ALL, COMMON, DATA, SKYPE, build  # noqa: E402

PACKAGE = REPO / "zeek"


def cpu_seconds(cmd: list[str], cwd: Path) -> float:
    """User + system CPU time of one run of *cmd* (its threads included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[:300]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if not line.startswith("#"))


def measure(cap: Path, runs: int) -> dict[str, float]:
    zeek = shutil.which("zeek")
    if zeek is None:
        sys.exit("no 'zeek' on PATH")
    bare, pkg = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _ in range(runs):
            bare.append(cpu_seconds([zeek, "-C", "-r", str(cap)], work))
            conns = lines(work / "conn.log")
            pkg.append(cpu_seconds([zeek, "-C", "-r", str(cap), str(PACKAGE)], work))
            skype = lines(work / "skype.log")
            for log in work.glob("*.log"):
                log.unlink()
    return {"bare": min(bare), "pkg": min(pkg), "conns": conns, "skype": skype}


def instructions(cmd: list[str], cwd: Path) -> int:
    out = cwd / "callgrind.out"
    r = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    total = [line for line in r.stderr.splitlines() if "Collected" in line]
    if r.returncode != 0 or not total:
        sys.exit(f"callgrind failed: {r.stderr[-300:]}")
    out.unlink()
    return int(total[-1].split()[-1])


def count_instructions(cap: Path, packets: int) -> tuple[int, int]:
    """Instructions of bare Zeek and Zeek + package on the first *packets* packets of
    *cap*, each less the same run on its first packet alone (start-up)."""
    zeek = shutil.which("zeek") or "zeek"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        head, one = work / "head.pcap", work / "one.pcap"
        data = cap.read_bytes()
        pos, n = 24, 0
        while pos < len(data) and n < packets:
            pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
            n += 1
            if n == 1:
                one.write_bytes(data[:pos])
        head.write_bytes(data[:pos])
        counts = []
        for extra in ([], [str(PACKAGE)]):
            full = instructions([zeek, "-C", "-r", str(head), *extra], work)
            start = instructions([zeek, "-C", "-r", str(one), *extra], work)
            counts.append(full - start)
            for log in work.glob("*.log"):
                log.unlink()
    return counts[0], counts[1]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--packets", type=int, default=1_100_000)
    ap.add_argument("--runs", type=int, default=3, help="alternating runs of each (min)")
    ap.add_argument(
        "--rare-every", type=int, default=100, help="sensor mix: one round in N has Skype"
    )
    ap.add_argument(
        "--instructions",
        type=int,
        metavar="PACKETS",
        default=0,
        help="also count instructions (valgrind callgrind; unaffected by load) on the first"
        " PACKETS packets of each mix, less Zeek's start-up",
    )
    ap.add_argument("--mix", choices=("sensor", "skype-heavy", "both"), default="both")
    ap.add_argument("--keep", action="store_true", help="reuse captures built earlier")
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    mixes = {
        "sensor": (BENIGN_ALL, SKYPE, args.rare_every),
        "skype-heavy": (SKYPE + COMMON, None, 1),
    }
    chosen = list(mixes) if args.mix == "both" else [args.mix]
    version = subprocess.run(["zeek", "--version"], capture_output=True, text=True)
    print(f"zeek: {version.stdout.strip()}")
    print(
        f"{'mix':<13}{'packets':>10}{'conns':>9}{'skype.log':>11}{'bare s':>9}"
        f"{'+pkg s':>9}{'ratio':>8}"
    )
    for name in chosen:
        sources, rare, every = mixes[name]
        cap = DATA / f"zeek-{name}-{args.packets}.pcap"
        if not (args.keep and cap.exists()):
            build(cap, args.packets, sources, rare, every)
        r = measure(cap, args.runs)
        print(
            f"{name:<13}{args.packets:>10,}{r['conns']:>9,}{r['skype']:>11,}"
            f"{r['bare']:>9.2f}{r['pkg']:>9.2f}{r['pkg'] / r['bare']:>7.3f}x",
            flush=True,
        )
        if args.instructions:
            bare_i, pkg_i = count_instructions(cap, args.instructions)
            print(
                f"{'':<13}first {args.instructions:,} packets: {bare_i:,} instructions bare,"
                f" {pkg_i:,} with the package: {pkg_i / bare_i:.3f}x",
                flush=True,
            )
        if not args.keep:
            cap.unlink()
    print(
        f"(min of {args.runs} alternating runs each; CPU = user + system, Zeek's threads"
        " included; load average at the end "
        f"{os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
