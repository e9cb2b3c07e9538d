"""Differential check of the Zeek package: a reference revision's zeek/ against this tree's.

Speed work on the scripts and skype.sig must not change what they write.  This runs both
packages, with the same Zeek and the same random seeds, on every input that exercises them
and requires byte-identical skype.log and notice.log (the ``#open``/``#close`` lines aside):

* every capture under $SKYPEWATCH_SHARED/pcaps (skype/, benign/, modern/);
* every ``skypewatch synth`` scenario, as ``make traces`` writes them, and again with five
  clients in benign background (another seed);
* SkypeIRC.cap, skype.pcap and one synthesized start-up in every ``synth --rewrap`` form
  (tunnels, fragments and their overlaps, IPv6);
* the btest robustness damage: the synthesized start-ups with payload bytes flipped;
* the benchmark mixes (mixcap.py: sensor, Skype-heavy, dense UDP), ``--mix-packets`` each,
  where host context spans thousands of connections.

The reference is ``git archive REF zeek`` of this repository (default: main's revision
named below, the package before the speed work), unpacked into a temporary directory.
Zeek's own logs are compared too where the package writes to them (weird.log lines of the
package's weirds, reporter.log).

    python testing/zeek_differential.py [--ref REF] [--mix-packets N] [--only SUBSTRING]

Prints one line per input (lines in each log, ``same`` or ``DIFFERS``) and exits 1 if any
differs, 2 on a usage error or a missing tool.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared")) / "pcaps"
SCRIPTS = HERE / "btest" / "Scripts"
# main before the speed work on the package (issue 18).
DEFAULT_REF = "4681579"
LOGS = ("skype.log", "notice.log")
REWRAP_FORMS = [
    *("pppoe", "mpls", "gre", "gre-eth", "vxlan", "ipip", "frag", "frag-reorder"),
    *("frag-overlap", "frag-junk-first", "frag-incomplete", "ipv6", "ipv6-frag"),
    *("geneve", "gtpv1", "ayiya", "teredo"),
]
SCENARIOS = [
    *(
        "open-1.4",
        "open-2.0",
        "nat",
        "udp-blocked",
        "tcp-high-blocked",
        "login-restricted",
    ),
    *("autologin", "local-supernode", "all-blocked", "known-nodes"),
]


@dataclass(frozen=True)
class Outcome:
    name: str
    lines: dict[str, int]
    diffs: list[str]


def logs_of(work: Path) -> dict[str, list[str]]:
    """The compared logs of one run, without the lines that carry the wall clock."""
    out = {}
    for name in LOGS:
        path = work / name
        text = (
            path.read_text(errors="surrogateescape").splitlines()
            if path.exists()
            else []
        )
        out[name] = [x for x in text if not x.startswith(("#open", "#close"))]
    weird = work / "weird.log"
    if weird.exists():
        out["weird.log (Skype)"] = [
            x
            for x in weird.read_text(errors="surrogateescape").splitlines()
            if "Skype" in x
        ]
    reporter = work / "reporter.log"
    if reporter.exists():
        out["reporter.log"] = [
            x
            for x in reporter.read_text(errors="surrogateescape").splitlines()
            if x[:1] != "#"
        ]
    return out


def run_zeek(
    capture: Path, package: Path, work: Path, seeds: Path
) -> dict[str, list[str]]:
    work.mkdir(parents=True)
    r = subprocess.run(
        ["zeek", "-C", "--load-seeds", str(seeds), "-r", str(capture), str(package)],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    logs = logs_of(work)
    logs["exit status and stderr"] = [str(r.returncode), *r.stderr.splitlines()]
    shutil.rmtree(work)
    return logs


def compare(
    name: str, capture: Path, old: Path, new: Path, tmp: Path, seeds: Path
) -> Outcome:
    a = run_zeek(capture, old, tmp / "old", seeds)
    b = run_zeek(capture, new, tmp / "new", seeds)
    diffs = []
    for log in sorted(set(a) | set(b)):
        x, y = a.get(log, []), b.get(log, [])
        if x != y:
            diff = difflib.unified_diff(
                x, y, f"ref/{log}", f"new/{log}", lineterm="", n=0
            )
            diffs.append("\n".join(list(diff)[:40]))
    lines = {log: sum(1 for x in a.get(log, []) if x[:1] != "#") for log in LOGS}
    return Outcome(name, lines, diffs)


def synth(args: list[str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "skypewatch", "synth", *args],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "python" / "src")},
    )


def inputs(data: Path, mix_packets: int) -> list[tuple[str, Path]]:
    """(name, capture) of every input, generated ones written under *data*."""
    out: list[tuple[str, Path]] = []
    for path in sorted(SHARED.glob("*/*")):
        if path.suffix in (".pcap", ".cap", ".pcapng"):
            out.append((f"shared/{path.parent.name}/{path.name}", path))
    traces = data / "synth"
    synth(["--all", "-o", str(traces)])
    for path in sorted(traces.glob("*.pcap")):
        out.append((f"synth/{path.name}", path))
    for i, scenario in enumerate(SCENARIOS):
        path = data / f"bg-{scenario}.pcap"
        synth([scenario, "-o", str(path), "--clients", "5", "--background", "200"])
        synth_seed = ["--seed", str(1000 + i)]
        seeded = data / f"bg-{scenario}-s.pcap"
        synth(
            [
                scenario,
                "-o",
                str(seeded),
                "--clients",
                "3",
                "--background",
                "50",
                *synth_seed,
            ]
        )
        out += [(f"synth-bg/{path.name}", path), (f"synth-bg/{seeded.name}", seeded)]
    sources = [SHARED / "skype" / "SkypeIRC.cap", SHARED / "skype" / "skype.pcap"]
    sources = [s for s in sources if s.exists()] + [
        traces / "skype-open-1.4-background.pcap"
    ]
    for form in REWRAP_FORMS:
        for source in sources:
            path = data / f"{source.stem}-{form}.pcap"
            synth(["--rewrap", form, "--source", str(source), "-o", str(path)])
            out.append((f"rewrap/{path.name}", path))
    for i, trace in enumerate(sorted(traces.glob("*.pcap"))):
        for seed, rate in ((i, "0.003"), (100 + i, "0.05")):
            path = data / f"{trace.stem}-flipped-{seed}.pcap"
            subprocess.run(
                [
                    sys.executable,
                    str(SCRIPTS / "flip-payload-bytes"),
                    str(trace),
                    str(path),
                ]
                + [str(seed), rate],
                check=True,
                capture_output=True,
            )
            out.append((f"flipped/{path.name}", path))
    if mix_packets:
        sys.path.insert(0, str(REPO / "python" / "benchmarks"))
        import mixcap

        mixes = {
            "sensor": (mixcap.BENIGN_ALL, mixcap.SKYPE, 20),
            "skype-heavy": (mixcap.SKYPE + mixcap.COMMON, None, 1),
            "dense-udp": (mixcap.DENSE_UDP, mixcap.SKYPE, 20),
        }
        for name, (plain, rare, every) in mixes.items():
            path = data / f"mix-{name}.pcap"
            mixcap.build(path, mix_packets, plain, rare, every)
            out.append((f"mix/{name}-{mix_packets}", path))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--ref", default=DEFAULT_REF, help="git revision of the reference zeek/"
    )
    ap.add_argument(
        "--mix-packets",
        type=int,
        default=300_000,
        help="packets of each benchmark mix (0: none)",
    )
    ap.add_argument("--only", default="", help="only inputs whose name contains this")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("zeek") is None:
        print("zeek_differential: no 'zeek' on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="zeek-diff-") as tmp_name:
        tmp = Path(tmp_name)
        archive = tmp / "ref.tar"
        r = subprocess.run(
            ["git", "-C", str(REPO), "archive", "-o", str(archive), args.ref, "zeek"],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            print(
                f"zeek_differential: git archive {args.ref}: {r.stderr.strip()}",
                file=sys.stderr,
            )
            return 2
        with tarfile.open(archive) as tar:
            tar.extractall(tmp / "ref", filter="data")
        old, new = tmp / "ref" / "zeek", REPO / "zeek"
        seeds = tmp / "seeds"
        subprocess.run(
            ["zeek", "--save-seeds", str(seeds), "-e", ""], cwd=tmp, check=True
        )
        todo = [
            (n, p) for n, p in inputs(tmp / "data", args.mix_packets) if args.only in n
        ]
        print(f"reference: {args.ref} (git archive), new: {new}; {len(todo)} inputs")
        failed = 0
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, args.jobs)
        ) as pool:
            futures = [
                pool.submit(compare, name, path, old, new, tmp / "runs" / str(i), seeds)
                for i, (name, path) in enumerate(todo)
            ]
            for future in futures:
                o = future.result()
                counts = ", ".join(f"{log} {n}" for log, n in o.lines.items())
                print(
                    f"{'same' if not o.diffs else 'DIFFERS':8} {o.name:58} {counts}",
                    flush=True,
                )
                for d in o.diffs:
                    print(d)
                failed += bool(o.diffs)
        print(f"{len(todo) - failed} of {len(todo)} inputs: identical logs")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
