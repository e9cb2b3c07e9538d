"""Benchmark `skypewatch analyze` against ndpiReader and tshark on >= 1 M packet captures.

Two mixes, built by repeating the shared real captures with every IPv4 address shifted per
repetition, so the engine sees ever new connections, as on a real sensor (mixcap.py):
``skype-heavy`` (the Skype captures every round among five benign ones) and ``sensor`` (every
benign and modern capture, the Skype ones one round in 100).  On each, `analyze` runs with
its default engine (bulk where it applies) on one core (``--workers 1``, the targets' terms)
and on two (``--workers 2``: reading and decoding in a second process), and with ``--engine
reference``, and ndpiReader runs in the same loop, so that the ratios hold on a loaded
machine; the load average is printed.  Also: peak memory (max RSS of the largest process),
skypewatch's peak memory at twice the packets (flat as finished connections pile up?), a
synthesized capture and tshark.  ``--containers``: the sensor mix again as other captures
hold it (every frame VLAN-tagged, Linux cooked frames, pcapng, every IPv4 packet as IPv6,
every IP packet in PPPoE or behind MPLS labels, every frame in VXLAN or GRE, times stamped
slightly out of order), each against the plain pcap and against the reference engine (what
such a capture took before the bulk engine took it);
``--containers-only``: that alone.
Without ndpiReader on PATH the comparison is skipped, and said so.  Not a test: it prints
figures.

    python python/benchmarks/bench_analyze.py [--packets 1100000] [--keep] [--rounds 1]
                                              [--containers | --containers-only]
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mixcap import BENIGN_ALL, COMMON, DATA, SKYPE  # noqa: E402
from mixcap import build as build_mix  # noqa: E402

sys.path.insert(0, str(REPO / "python" / "src"))
sys.path.insert(0, str(REPO / "python"))
from fuzz.containers import pcap_bytes, pcapng_bytes, relinked, tagged  # noqa: E402
from skypewatch.packets.capture import read_capture  # noqa: E402
from skypewatch.synth.encapsulate import Encapsulator  # noqa: E402
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
    ap.add_argument("--keep", action="store_true", help="reuse existing captures")
    ap.add_argument(
        "--rounds", type=int, default=1, help="runs of each tool, interleaved (min is kept)"
    )
    ap.add_argument(
        "--containers",
        action="store_true",
        help="also the sensor mix VLAN-tagged, as Linux cooked frames, as pcapng and as IPv6",
    )
    ap.add_argument("--containers-only", action="store_true", help="only those")
    args = ap.parse_args()
    # the package's bytecode written first, as an installed package has it: where it is
    # missing or stale (PYTHONDONTWRITEBYTECODE=1, a fresh clone) every run would compile
    # the sources again (~0.1 s a run, the same for a 10-packet capture)
    compileall.compile_dir(str(REPO / "python" / "src" / "skypewatch"), quiet=1)
    DATA.mkdir(exist_ok=True)
    mixes = {
        "skype-heavy": (DATA / f"bench-heavy-{args.packets}.pcap", SOURCES, None, 1),
        "sensor": (DATA / f"bench-sensor-{args.packets}.pcap", BENIGN_ALL, SKYPE, 100),
    }
    if args.containers_only:
        path, src, rare, every = mixes["sensor"]
        if not (args.keep and path.exists()):
            build_mix(path, args.packets, src, rare, every)
        containers(path, _skypewatch(), args)
        if not args.keep:
            path.unlink(missing_ok=True)
        return
    cap2 = DATA / f"bench-heavy-{2 * args.packets}.pcap"
    sizes: dict[Path, int] = {}
    for path, n, (src, rare, every) in [
        (p, args.packets, (s_, r, e)) for p, s_, r, e in mixes.values()
    ] + [(cap2, 2 * args.packets, (SOURCES, None, 1))]:
        if args.keep and path.exists():
            sizes[path] = count(path)
        else:
            t = time.perf_counter()
            sizes[path] = build_mix(path, n, src, rare, every)
            print(
                f"built {path.name}: {n:,} packets, {path.stat().st_size / 1e6:.0f} MB"
                f" in {time.perf_counter() - t:.1f} s"
            )
    sw = _skypewatch()
    ndpi = shutil.which("ndpiReader")
    if ndpi is None:
        print("ndpiReader is not on PATH: no comparison with it (apt-get install libndpi-bin)")
    results: dict[str, tuple[float, int, int]] = {}  # name -> (seconds, peak RSS KiB, packets)
    spread: dict[str, float] = {}  # name -> slowest run / fastest
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        # a synthesized capture too: Skype start-ups in 16,000 packets/s of background
        syn = synthesize(
            "open-2.0",
            tmpd / "synth.pcap",
            SynthOptions(clients=50, duration=args.packets / 16000, background=16000),
        )
        jobs: list[tuple[str, list[str], int]] = []  # (name, command, packets)

        def analyze(cap: Path, *opts: str) -> list[str]:
            return [sw, "analyze", *opts, str(cap), "-o", tmp, "-q"]

        for mix, (cap, *_rest) in mixes.items():
            n = sizes[cap]
            # one core (the targets' terms) and two (fastpath/pipeline.py)
            for w in ("1", "2"):
                jobs.append((f"{mix}: skypewatch --workers {w}", analyze(cap, "--workers", w), n))
            if ndpi:
                jobs.append((f"{mix}: ndpiReader", [ndpi, "-i", str(cap), "-q"], n))
            jobs.append(
                (f"{mix}: skypewatch --engine reference", analyze(cap, "--engine", "reference"), n)
            )
        # the sensor mix from a pipe (zcat day.pcap.gz | skypewatch analyze /dev/stdin): the
        # bulk engine in one process, with cat's copying beside it
        sensor = mixes["sensor"][0]
        piped = f"cat {shlex.quote(str(sensor))} | {shlex.quote(sw)} analyze /dev/stdin -o"
        jobs.append(
            (
                "sensor: cat | skypewatch /dev/stdin",
                ["sh", "-c", f"{piped} {shlex.quote(tmp)} -q"],
                sizes[sensor],
            )
        )
        jobs.append(
            (
                "skype-heavy 2x packets: skypewatch --workers 2",
                analyze(cap2, "--workers", "2"),
                sizes[cap2],
            )
        )
        jobs.append(
            (
                "synthesized: skypewatch --workers 1",
                analyze(syn.pcap, "--workers", "1"),
                syn.packets,
            )
        )
        if ndpi:
            jobs.append(("synthesized: ndpiReader", [ndpi, "-i", str(syn.pcap), "-q"], syn.packets))
        if shutil.which("tshark"):
            heavy = mixes["skype-heavy"][0]
            tshark = ["tshark", "-q", "-z", "conv,udp", "-r", str(heavy)]
            jobs.append(("skype-heavy: tshark -z conv,udp", tshark, sizes[heavy]))
        # Every round runs every tool once, in this order, so that a slow stretch of the
        # machine hits the tools of a mix alike (a tool's rounds run back to back would
        # put all of its runs in one stretch); the fastest run of each is kept.
        runs: dict[str, list[tuple[float, int]]] = {name: [] for name, _, _ in jobs}
        for r in range(args.rounds):
            if args.rounds > 1:
                print(f"round {r + 1} of {args.rounds}", file=sys.stderr)
            for name, cmd, _n in jobs:
                runs[name].append(measure_one(cmd, tmpd))
        for name, _cmd, n in jobs:
            secs = [x[0] for x in runs[name]]
            results[name] = (min(secs), max(x[1] for x in runs[name]), n)
            spread[name] = max(secs) / min(secs)
    load_after = os.getloadavg()
    # peak RSS: of the largest process (with --workers 2, the tracker's)
    print(
        f"\n{'run':<45}{'seconds':>9}{'packets/s':>13}{'peak RSS MiB':>14}{'slowest/fastest':>17}"
    )
    for name, (secs, rss, n) in results.items():
        print(f"{name:<45}{secs:>9.2f}{n / secs:>13,.0f}{rss / 1024:>14.0f}{spread[name]:>16.2f}x")
    targets = {"skype-heavy": 1.5, "sensor": 1.0, "synthesized": None}
    for mix, target in targets.items():
        for w in ("1", "2"):
            run = results.get(f"{mix}: skypewatch --workers {w}")
            if run is None:
                continue
            sw_t = run[0]
            if f"{mix}: ndpiReader" in results:
                ratio = sw_t / results[f"{mix}: ndpiReader"][0]
                goal = f" (target <= {target}x on one core)" if target and w == "1" else ""
                print(f"{mix}: skypewatch --workers {w} takes {ratio:.2f}x ndpiReader's time{goal}")
            ref = results.get(f"{mix}: skypewatch --engine reference")
            if ref:
                print(
                    f"{mix}: the bulk engine (--workers {w}) is {ref[0] / sw_t:.2f}x as fast as"
                    " the reference"
                )
        one = results.get(f"{mix}: skypewatch --workers 1")
        two = results.get(f"{mix}: skypewatch --workers 2")
        if one and two:
            print(f"{mix}: --workers 2 is {one[0] / two[0]:.2f}x as fast as --workers 1")
    piped_run = results.get("sensor: cat | skypewatch /dev/stdin")
    if piped_run:
        print(
            "sensor: from a pipe (bulk, one process) it takes"
            f" {piped_run[0] / results['sensor: skypewatch --workers 1'][0]:.2f}x the file's"
            " time (--workers 1)"
        )
    if "skype-heavy: tshark -z conv,udp" in results:
        t = results["skype-heavy: tshark -z conv,udp"][0]
        heavy = results["skype-heavy: skypewatch --workers 1"][0]
        print(f"skype-heavy: skypewatch --workers 1 takes {heavy / t:.2f}x tshark's time")
    m1 = results["skype-heavy: skypewatch --workers 2"][1]
    m2 = results["skype-heavy 2x packets: skypewatch --workers 2"][1]
    print(f"skypewatch peak memory at 2x the packets: {m2 / m1:.2f}x")
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in load_after)
        + f"; {os.cpu_count()} cores"
    )
    if args.containers:
        containers(mixes["sensor"][0], sw, args)
    if not args.keep:
        for path in sizes:
            if path.parent == DATA:
                path.unlink(missing_ok=True)


def _skypewatch() -> str:
    return shutil.which("skypewatch", path=str(REPO / ".venv" / "bin")) or "skypewatch"


def _jittered(records: list[tuple[float, bytes]], rng: random.Random) -> list:
    out = []
    for t, f in records:
        if rng.random() < 0.02:
            t -= rng.randint(1, 200) / 1e6
        out.append((t, f))
    return out


def containers(plain: Path, sw: str, args: argparse.Namespace) -> None:
    """The sensor mix in other containers: bulk (one core) and reference on each, against
    the plain pcap's bulk run, alternating."""
    records = [(ts, frame) for ts, _link, frame in read_capture(plain)]
    as_ipv6 = Encapsulator("ipv6")  # every IPv4 packet as IPv6 (payloads unchanged)
    # every IP packet in a PPPoE session, or behind two MPLS labels (access and carrier links)
    # every frame in VXLAN (a cloud's traffic mirror) or GRE (a remote SPAN), every IP packet
    # in GTP-U with a PDU session container (a 5G core's N3 interface)
    access = {
        form: Encapsulator(form) for form in ("pppoe", "mpls", "vxlan", "gre-eth", "gtpv1-ext")
    }
    forms = {
        "VLAN-tagged": lambda: pcap_bytes([(t, tagged(f, [(0x8100, 7)])) for t, f in records]),
        "Linux cooked": lambda: pcap_bytes(
            [(t, g) for t, f in records if (g := relinked(f, 113)) is not None], 113
        ),
        "pcapng": lambda: pcapng_bytes(records, random.Random(0), varied=False),
        "IPv6": lambda: pcap_bytes([(t, g) for t, f in records for g in as_ipv6.frames(1, f)]),
        "PPPoE": lambda: pcap_bytes(
            [(t, g) for t, f in records for g in access["pppoe"].frames(1, f)]
        ),
        "MPLS": lambda: pcap_bytes(
            [(t, g) for t, f in records for g in access["mpls"].frames(1, f)]
        ),
        "VXLAN": lambda: pcap_bytes(
            [(t, g) for t, f in records for g in access["vxlan"].frames(1, f)]
        ),
        "GRE": lambda: pcap_bytes(
            [(t, g) for t, f in records for g in access["gre-eth"].frames(1, f)]
        ),
        "GTP-U": lambda: pcap_bytes(
            [(t, g) for t, f in records for g in access["gtpv1-ext"].frames(1, f)]
        ),
        # stamped slightly out of order, as a multi-queue NIC does: 2 % of the packets up
        # to 200 us early
        "jittered": lambda: pcap_bytes(_jittered(records, random.Random(0))),
    }
    paths = {}
    for name, make in forms.items():
        path = DATA / f"bench-sensor-{args.packets}-{name.split()[0].lower()}.cap"
        if not (args.keep and path.exists()):
            path.write_bytes(make())
        paths[name] = path
    records.clear()  # (the frames, ~600 MB, are not needed for the runs)
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        for _ in range(args.rounds):
            for name, path in [("plain pcap", plain), *paths.items()]:
                for engine in ("bulk", "reference") if name != "plain pcap" else ("bulk",):
                    cmd = [sw, "analyze", "--workers", "1", "--engine", engine, str(path)]
                    secs, _rss = measure_one([*cmd, "-o", tmp, "-q"], tmpd)
                    key = f"{name} {engine}"
                    times[key] = min(times.get(key, secs), secs)
    base = times["plain pcap bulk"]
    print(f"\nsensor mix, one core: the plain pcap {base:.2f} s")
    for name in paths:
        b, r = times[f"{name} bulk"], times[f"{name} reference"]
        print(
            f"  {name:<13} bulk {b:.2f} s ({b / base:.2f}x the plain pcap),"
            f" reference {r:.2f} s ({r / b:.2f}x the bulk engine's time)"
        )
    if not args.keep:
        for path in paths.values():
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
