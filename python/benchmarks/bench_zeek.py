"""CPU cost of the Zeek package: bare Zeek against Zeek + skypewatch on the same capture.

Three >= 1 M-packet captures are built from the shared real captures (mixcap.py):

* ``sensor``: every benign and modern capture, each round; SkypeIRC.cap and skype.pcap
  join one round in ``--rare-every`` (default 100): legacy Skype as a small part of a
  network's traffic.
* ``dense-udp``: a sensor three times denser in connections, most of them short UDP ones
  (DNS, QUIC and DTLS set-ups, Teredo, STUN: mixcap.DENSE_UDP, about 97,000 connections
  per million packets), Skype again one round in ``--rare-every``.
* ``skype-heavy``: the analyze benchmark's mix, in which the two Skype captures come every
  round: close to half of all connections are legacy Skype, the package's worst case
  (it inspects, logs and correlates every one of them).

With ``--cluster`` the Skype-heavy capture is also split per connection between two
workers of a cluster (a manager and two workers on loopback, reading as fast as they can,
zeek_cluster_bench.zeek), once bare and once with the package: the CPU time of all three
nodes, and the cluster events the package's nodes published, by handler, in total and per
second of the run.

Each capture is read by ``zeek -C -r`` with Zeek's default scripts, and again with the
package loaded; the two alternate, ``--runs`` times each, and the minimum user+system CPU
time of each is compared (times on these machines vary from run to run; the minimum of
alternating runs is what both had when least disturbed).  The figures go to stdout; the
share of connections the package logged says which traffic each ratio is about.

    python python/benchmarks/bench_zeek.py [--packets 1100000] [--runs 3] [--keep]
        [--mix sensor|dense-udp|skype-heavy|all] [--cluster] [--instructions N] [--ref DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mixcap import BENIGN_ALL, COMMON, DATA, DENSE_UDP, SKYPE, build  # noqa: E402

PACKAGE = REPO / "zeek"
CLUSTER_SCRIPT = HERE / "zeek_cluster_bench.zeek"
SPLIT = REPO / "testing" / "btest" / "Scripts" / "split-by-flow"


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


def udp_lines(path: Path) -> int:
    """conn.log lines of UDP connections."""
    if not path.exists():
        return 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if "\tudp\t" in line and not line.startswith("#"))


def measure(cap: Path, runs: int, package: Path, ref: Path | None) -> dict[str, float]:
    """Min CPU of bare Zeek, with *package* and (if given) with *ref*, runs alternating."""
    zeek = shutil.which("zeek")
    if zeek is None:
        sys.exit("no 'zeek' on PATH")
    bare, pkg, ref_pkg = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _ in range(runs):
            bare.append(cpu_seconds([zeek, "-C", "-r", str(cap)], work))
            conns = lines(work / "conn.log")
            udp = udp_lines(work / "conn.log")
            pkg.append(cpu_seconds([zeek, "-C", "-r", str(cap), str(package)], work))
            skype = lines(work / "skype.log")
            if ref is not None:
                ref_pkg.append(cpu_seconds([zeek, "-C", "-r", str(cap), str(ref)], work))
            for log in work.glob("*.log"):
                log.unlink()
    return {
        "bare": min(bare),
        "pkg": min(pkg),
        "ref": min(ref_pkg) if ref_pkg else 0.0,
        "conns": conns,
        "udp": udp,
        "skype": skype,
    }


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


def count_instructions(cap: Path, packets: int, package: Path) -> tuple[int, int]:
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
        for extra in ([], [str(package)]):
            full = instructions([zeek, "-C", "-r", str(head), *extra], work)
            start = instructions([zeek, "-C", "-r", str(one), *extra], work)
            counts.append(full - start)
            for log in work.glob("*.log"):
                log.unlink()
    return counts[0], counts[1]


@dataclass(frozen=True)
class ClusterRun:
    cpu: dict[str, float]  # node -> user + system seconds
    wall: float
    published: Counter[str]  # handler -> events published, all nodes
    received: Counter[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cluster(parts: list[Path], work: Path, package: Path | None) -> ClusterRun:
    """A manager and one worker per part, on loopback; CPU per node and the events."""
    zeek = shutil.which("zeek") or "zeek"
    nodes = ["manager"] + [f"worker-{i + 1}" for i in range(len(parts))]
    ports = {node: free_port() for node in nodes}
    layout = ["redef Cluster::manager_is_logger = T;", "redef Cluster::nodes = {"]
    for node in nodes:
        kind = "MANAGER" if node == "manager" else "WORKER"
        extra = "" if node == "manager" else ', $manager="manager"'
        layout.append(
            f'\t["{node}"] = [$node_type=Cluster::{kind}, $ip=127.0.0.1,'
            f" $p={ports[node]}/tcp{extra}],"
        )
    layout.append("};")
    procs: dict[int, str] = {}
    start = time.monotonic()
    for node in nodes:
        d = work / node
        d.mkdir(parents=True)
        (d / "cluster-layout.zeek").write_text("\n".join(layout) + "\n")
        cmd = [zeek]
        if node != "manager":
            cmd += ["-C", "-r", str(parts[int(node.split("-")[1]) - 1])]
        cmd += [str(package)] if package else []
        cmd += [str(CLUSTER_SCRIPT)]
        env = {**os.environ, "CLUSTER_NODE": node}
        p = subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs[p.pid] = node
    cpu: dict[str, float] = {}
    while procs:
        pid, status, usage = os.wait4(-1, 0)
        node = procs.pop(pid, None)
        if node is None:
            continue
        if status != 0:
            sys.exit(f"cluster node {node} exited with status {status}")
        cpu[node] = usage.ru_utime + usage.ru_stime
    wall = time.monotonic() - start
    published: Counter[str] = Counter()
    received: Counter[str] = Counter()
    for node in nodes:
        for line in (work / node / "cluster-events.tsv").read_text().splitlines():
            _, way, handler, _, value = line.split(" ")
            (published if way == "out" else received)[handler] += int(float(value))
    return ClusterRun(cpu, wall, published, received)


def measure_cluster(cap: Path, package: Path, workers: int = 2) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [sys.executable, str(SPLIT), str(cap), str(workers), str(work / "part")],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO / "python" / "src")},
        )
        parts = [work / f"part-{i + 1}.pcap" for i in range(workers)]
        bare = run_cluster(parts, work / "bare", None)
        pkg = run_cluster(parts, work / "pkg", package)
    bare_cpu, pkg_cpu = sum(bare.cpu.values()), sum(pkg.cpu.values())
    print(
        f"cluster, {workers} workers + manager, skype-heavy: CPU bare {bare_cpu:.2f} s,"
        f" with the package {pkg_cpu:.2f} s ({pkg_cpu / bare_cpu:.3f}x); per node with the"
        " package: " + ", ".join(f"{n} {c:.2f} s" for n, c in pkg.cpu.items())
    )
    own = {h: n for h, n in pkg.published.items() if h.startswith("Skype::")}
    total = sum(own.values())
    print(
        f"  package events published: {total:,} in {pkg.wall:.1f} s of run"
        f" ({total / pkg.wall:,.0f}/s); by handler: "
        + ", ".join(f"{h} {n:,}" for h, n in sorted(own.items(), key=lambda x: -x[1]))
    )
    got = sum(n for h, n in pkg.received.items() if h.startswith("Skype::"))
    print(
        f"  package events received (all nodes): {got:,};"
        f" all cluster events published: bare {sum(bare.published.values()):,},"
        f" with the package {sum(pkg.published.values()):,}",
        flush=True,
    )


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
    ap.add_argument("--mix", choices=("sensor", "dense-udp", "skype-heavy", "all"), default="all")
    ap.add_argument(
        "--cluster",
        action="store_true",
        help="also run the Skype-heavy capture on a two-worker cluster: CPU and cluster events",
    )
    ap.add_argument("--keep", action="store_true", help="reuse captures built earlier")
    ap.add_argument(
        "--package",
        type=Path,
        default=PACKAGE,
        help="the package directory to measure (default: this repository's zeek/)",
    )
    ap.add_argument(
        "--ref",
        type=Path,
        help="also measure this package directory (an earlier revision's zeek/, e.g. from"
        " git archive), alternating with the others: before and after in one run",
    )
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    mixes = {
        "sensor": (BENIGN_ALL, SKYPE, args.rare_every),
        "dense-udp": (DENSE_UDP, SKYPE, args.rare_every),
        "skype-heavy": (SKYPE + COMMON, None, 1),
    }
    chosen = list(mixes) if args.mix == "all" else [args.mix]
    if args.cluster and "skype-heavy" not in chosen:
        chosen.append("skype-heavy")
    version = subprocess.run(["zeek", "--version"], capture_output=True, text=True)
    ref = f"; reference package (+ref): {args.ref}" if args.ref else ""
    print(f"zeek: {version.stdout.strip()}; package: {args.package}{ref}")
    print(
        f"{'mix':<13}{'packets':>10}{'conns':>9}{'udp':>8}{'skype.log':>11}{'bare s':>9}"
        f"{'+pkg s':>9}{'ratio':>8}" + (f"{'+ref s':>9}{'ratio':>8}" if args.ref else "")
    )
    for name in chosen:
        sources, rare, every = mixes[name]
        cap = DATA / f"zeek-{name}-{args.packets}.pcap"
        if not (args.keep and cap.exists()):
            build(cap, args.packets, sources, rare, every)
        r = measure(cap, args.runs, args.package, args.ref)
        ref = f"{r['ref']:>9.2f}{r['ref'] / r['bare']:>7.3f}x" if args.ref else ""
        print(
            f"{name:<13}{args.packets:>10,}{r['conns']:>9,}{r['udp']:>8,}{r['skype']:>11,}"
            f"{r['bare']:>9.2f}{r['pkg']:>9.2f}{r['pkg'] / r['bare']:>7.3f}x{ref}",
            flush=True,
        )
        if args.cluster and name == "skype-heavy":
            measure_cluster(cap, args.package)
            if args.ref:
                print(f"  the same with {args.ref}:")
                measure_cluster(cap, args.ref)
        if args.instructions:
            bare_i, pkg_i = count_instructions(cap, args.instructions, args.package)
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
        f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
