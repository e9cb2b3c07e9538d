"""Benchmark hostile empty lines: a small gzip of many MiB of newlines through the readers.

    python python/benchmarks/bench_empty_lines.py [--mib 64] [--repeat 1] [--old REV]

Builds ``skype.log.gz`` files (TSV and JSON lines) holding a few real skype.log lines with
--mib MiB of empty lines among them (64 MiB of newlines gzip to about 67 KB), then times
``skypewatch correlate`` and ``skypewatch query`` over each, as separate processes, and
prints seconds and microseconds per line.  --old REV (say ``034fbd1``, before the empty-line
fast path) runs the same commands with that revision's ``python/src`` (extracted with git
archive) under the same load.  Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRACE = REPO / "testing" / "btest" / "Traces" / "skype-nat.pcap"


def build(work: Path, mib: int) -> dict[str, Path]:
    out = {}
    for fmt in ("tsv", "json"):
        logs = work / fmt
        argv = ["analyze", str(TRACE), "-o", str(logs), "-q"] + (
            ["--json"] if fmt == "json" else []
        )
        subprocess.run([sys.executable, "-m", "skypewatch", *argv], check=True, env=_env(None))
        lines = (logs / "skype.log").read_bytes().splitlines(keepends=True)
        head = [ln for ln in lines if ln.startswith(b"#") and not ln.startswith(b"#close")]
        data = [ln for ln in lines if not ln.startswith(b"#")]
        path = work / f"{fmt}.skype.log.gz"
        with gzip.open(path, "wb", compresslevel=9) as fh:
            fh.writelines(head + data[:2])
            for _ in range(mib):
                fh.write(b"\n" * (1 << 20))
            fh.writelines(data[2:])
        out[fmt] = path
    return out


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src or REPO / "python" / "src")
    return env


def timed(argv: list[str], src: Path | None, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "skypewatch", *argv],
            env=_env(src),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--old", metavar="REV", help="also time this git revision's python/src")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        logs = build(work, args.mib)
        trees: list[tuple[str, Path | None]] = [("this tree", None)]
        if args.old:
            old = work / "old"
            old.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.old, "python/src"],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            trees.append((args.old, old / "python" / "src"))
        lines = args.mib << 20
        print(f"{args.mib} MiB of empty lines ({lines:,} lines), gzip of"
              f" {logs['tsv'].stat().st_size:,} bytes")  # fmt: skip
        for fmt, path in logs.items():
            for command in (
                ["correlate", str(path), "-o", str(work / "out")],
                ["query", str(path)],
            ):
                for name, src in trees:
                    s = timed(command, src, args.repeat)
                    print(f"  {fmt:4s} {command[0]:9s} {name:>10s}: {s:7.2f} s"
                          f"  {s / lines * 1e6:6.3f} µs/line")  # fmt: skip


if __name__ == "__main__":
    main()
