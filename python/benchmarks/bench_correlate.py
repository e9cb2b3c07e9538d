"""Benchmark the correlation engine: events per second on one core, and what a flood of
spoofed probes does to its memory and speed.  Not a test: it prints figures.

    python python/benchmarks/bench_correlate.py [--events 1000000] [--flood 1000000]

* synthesized: the skype.log records `skypewatch analyze` writes for a synthesized capture
  of 3,000 Skype start-ups (the realistic shape, but few events);
* mixed: skype.log records (probes, TCP, logins) and probe / TCP-session events of 5,000
  Skype hosts talking to 50,000 super nodes, as a busy sensor would publish them;
* new-hosts: the same mix, but every event from a host never seen before (worst case: each
  record builds a new client session);
* flood: probes from one, then two million random spoofed source addresses, each to a
  random peer: past the engine's bound on remembered probes, memory must stay flat.
Peak memory is the process's max RSS after each phase, each run in a fresh process.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from skypewatch.correlation.engine import CorrelationEngine
from skypewatch.correlation.events import ProbeEvent, TcpEvent
from skypewatch.skypelog import SkypeRecord


def mixed(n: int, seed: int = 1, hosts: int | None = 5000):
    rng = random.Random(seed)
    clients = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1}" for i in range(hosts or 1)]
    peers = [f"81.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1}" for i in range(50_000)]
    base = SkypeRecord(
        ts=0.0,
        uid="",
        orig_h="",
        orig_p=35990,
        resp_h="",
        resp_p=4000,
        proto="udp",
        duration=0.1,
        stage="probe",
        signatures=frozenset({"u1_u2_nack"}),
        client="",
        peer="",
        peer_role="super_node",
        client_public_ip=None,
        skype_version=None,
        confidence="likely",
        evidence="bench",
    )
    ts = 1_600_000_000.0
    for i in range(n):
        ts += 0.001
        if hosts:
            client, peer = rng.choice(clients), rng.choice(peers)
        else:  # a new host every time
            client = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            peer = f"81.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        kind = i % 4
        if kind == 0:
            yield ProbeEvent(ts, f"P{i}", client, 35990, peer, 4000)
        elif kind == 1:
            yield TcpEvent(ts, f"T{i}", client, 50000, peer, 4000)
        elif kind == 2:
            yield replace(
                base, ts=ts, uid=f"C{i}", orig_h=client, client=client, resp_h=peer, peer=peer
            )
        else:
            yield replace(
                base,
                ts=ts,
                uid=f"C{i}",
                orig_h=client,
                client=client,
                resp_h=peer,
                peer=peer,
                proto="tcp",
                stage="login",
                peer_role="login_server",
                confidence="confirmed",
                signatures=frozenset({"login_handshake"}),
            )


def flood(n: int, seed: int = 2):
    rng = random.Random(seed)
    ts = 1_600_000_000.0
    for i in range(n):
        ts += 0.0001
        src = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        dst = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        yield ProbeEvent(ts, f"F{i}", src, rng.randrange(1024, 65535), dst, 4000)


def synthesized(clients: int) -> list:
    """skype.log records from analysing a synthesized capture of *clients* start-ups."""
    import tempfile

    from skypewatch.analyze import analyze
    from skypewatch.synth.scenarios import SynthOptions, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        cap = synthesize(
            "open-2.0", Path(tmp) / "s.pcap", SynthOptions(clients=clients, duration=3600.0)
        ).pcap
        records = analyze([cap], Path(tmp) / "out", keep_records=True).records
    return sorted(records, key=lambda r: r.ts)


def run(phase: str, n: int) -> None:
    if phase == "synthesized":
        items = synthesized(n)
    elif phase == "mixed":
        items = list(mixed(n))
    elif phase == "new-hosts":
        items = list(mixed(n, hosts=None))
    else:
        items = list(flood(n))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine = CorrelationEngine()
    t = time.perf_counter()
    for item in items:
        engine.feed(item)
    engine.flush()
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{phase} {len(items)} {secs} {before} {peak} {engine.stats.notices}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--flood", type=int, default=1_000_000)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        run(args.phase, args.n)
        return
    rows = []
    phases = (
        ("synthesized", 3000),
        ("mixed", args.events),
        ("new-hosts", args.events // 4),
        ("flood", args.flood),
        ("flood", 2 * args.flood),
    )
    for phase, n in phases:
        out = subprocess.run(
            [sys.executable, __file__, "--phase", phase, "--n", str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        rows.append((out[0], int(out[1]), float(out[2]), int(out[3]), int(out[4]), int(out[5])))
    print(
        f"{'phase':<8}{'events':>11}{'seconds':>9}{'events/s':>11}{'state MiB':>11}{'notices':>9}"
    )
    for phase, n, secs, before, peak, notices in rows:
        print(
            f"{phase:<8}{n:>11,}{secs:>9.2f}{n / secs:>11,.0f}{(peak - before) / 1024:>11.0f}"
            f"{notices:>9}"
        )
    small, big = rows[3], rows[4]
    print(
        f"flood at 2x the probes: {big[2] / small[2] * small[1] / big[1]:.2f}x the time per"
        f" event, {(big[4] - big[3]) / max(1, small[4] - small[3]):.2f}x the state memory"
    )
    print(f"flood vs mixed time per event: {(big[2] / big[1]) / (rows[1][2] / rows[1][1]):.2f}x")


if __name__ == "__main__":
    main()
