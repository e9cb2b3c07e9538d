"""Benchmark reading skype.log into pandas: rows per second for TSV and JSON, against zat's
LogToDataFrame, a plain pandas.read_csv with the right options, and the reader of an older
revision of this repository -- all in the same run.  Not a test: it prints figures.

    python python/benchmarks/bench_logs.py [--lines 5000000] [--repeat 3] [--keep]
                                           [--old REV | --old none]

The logs are built by repeating the skype.log lines `skypewatch analyze` writes for the
shared captures (or a synthesized capture) with fresh uids.  skypewatch is measured
streaming (iter_log, chunks of 200,000 rows, constant memory) and all at once (read_log).
Each figure is the best of --repeat runs (this machine's load varies).

zat: if it is not importable, it is installed into python/benchmarks/data/pydeps with
`pip install --no-deps zat` (its LogToDataFrame needs only pandas, which the analyst extra
brings; --no-deps keeps scikit-learn and friends out).  --old REV (default: 7694c1e, the
reader before the one-reader rewrite) loads skypewatch/logs.py from that git revision next
to today's package, so old and new are timed under the same load.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "src"))

import pandas as pd  # noqa: E402

from skypewatch.analyst.logs import iter_log, read_log  # noqa: E402
from skypewatch.analyze import analyze  # noqa: E402
from skypewatch.skypelog import SKYPE_FIELDS  # noqa: E402
from skypewatch.zeeklog import ZeekLogWriter  # noqa: E402

SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared")) / "pcaps" / "skype"
DATA = Path(__file__).resolve().parent / "data"
PYDEPS = DATA / "pydeps"
OLD_DEFAULT = "7694c1e"


def zat_reader():
    """zat's LogToDataFrame, installed beside the benchmark data if need be (None if not)."""
    sys.path.insert(0, str(PYDEPS))
    try:
        from zat.log_to_dataframe import LogToDataFrame
    except ImportError:
        print(f"installing zat into {PYDEPS} (pip install --no-deps zat) ...", flush=True)
        r = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", PYDEPS, "zat"],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            print(f"zat could not be installed, not measured: {r.stderr.strip()[-300:]}")
            return None
        importlib.invalidate_caches()
        from zat.log_to_dataframe import LogToDataFrame
    return LogToDataFrame


def old_reader(rev: str):
    """skypewatch/logs.py as of git revision *rev*, loaded as a module of today's package (its
    relative imports resolve to today's modules), or None if git cannot show it."""
    r = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:python/src/skypewatch/logs.py"],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        print(f"no logs.py at revision {rev!r} ({r.stderr.strip()}): old reader not measured")
        return None
    name = "skypewatch._logs_at_" + "".join(c for c in rev if c.isalnum())
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "skypewatch"
    sys.modules[name] = module
    # Modules that have moved since: the old names resolve to today's.
    import skypewatch.skypelog

    sys.modules.setdefault("skypewatch.records", skypewatch.skypelog)
    exec(compile(r.stdout, f"{rev}:logs.py", "exec"), module.__dict__)
    return module


def source_lines(tmp: Path) -> tuple[list[str], list[dict]]:
    caps = [p for p in (SHARED / "SkypeIRC.cap", SHARED / "skype.pcap") if p.exists()]
    if not caps:
        from skypewatch.synth.scenarios import SynthOptions, synthesize

        caps = [synthesize("open-1.4", tmp / "s.pcap", SynthOptions(clients=20)).pcap]
    analyze(caps, tmp / "tsv")
    analyze(caps, tmp / "json", use_json=True)
    tsv = [
        ln for ln in (tmp / "tsv" / "skype.log").read_text().splitlines() if not ln.startswith("#")
    ]
    js = [json.loads(ln) for ln in (tmp / "json" / "skype.log").read_text().splitlines()]
    return tsv, js


def build(lines: int, tmp: Path) -> tuple[Path, Path]:
    tsv_rows, json_rows = source_lines(tmp)
    DATA.mkdir(exist_ok=True)
    tsv_path, json_dir = DATA / "skype.log", DATA / "json"
    json_dir.mkdir(exist_ok=True)
    w = ZeekLogWriter(DATA, "skype", SKYPE_FIELDS)
    w.close()  # header and footer only; the body is written below, fast
    header = [ln for ln in tsv_path.read_text().splitlines() if ln.startswith("#")]
    with open(tsv_path, "w") as out:
        out.write("\n".join(header[:-1]) + "\n")
        for i, row in zip(range(lines), itertools.cycle(tsv_rows), strict=False):
            cells = row.split("\t")
            cells[1] = f"C{i:017d}"
            out.write("\t".join(cells) + "\n")
        out.write(header[-1] + "\n")
    with open(json_dir / "skype.log", "w") as out:
        for i, obj in zip(range(lines), itertools.cycle(json_rows), strict=False):
            obj = dict(obj, uid=f"C{i:017d}")
            out.write(json.dumps(obj, separators=(",", ":")) + "\n")
    return tsv_path, json_dir / "skype.log"


def timed(label: str, fn, repeat: int) -> tuple[str, float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        rows = fn()
        best = min(best, time.perf_counter() - t)
    print(f"  {label}: {rows / best:,.0f} rows/s", flush=True)
    return label, best, rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per reader; the best counts")
    ap.add_argument("--keep", action="store_true", help="reuse logs built earlier, keep them")
    ap.add_argument("--old", default=OLD_DEFAULT, metavar="REV", help="'none' to skip")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep and (DATA / "skype.log").exists():
            tsv, js = DATA / "skype.log", DATA / "json" / "skype.log"
        else:
            t = time.perf_counter()
            tsv, js = build(args.lines, Path(tmp))
            print(
                f"built {args.lines:,}-line logs in {time.perf_counter() - t:.0f} s:"
                f" TSV {tsv.stat().st_size / 1e9:.2f} GB, JSON {js.stat().st_size / 1e9:.2f} GB"
            )
    fields = [f for f, _ in SKYPE_FIELDS]
    zat = zat_reader()
    old = old_reader(args.old) if args.old != "none" else None
    n = args.repeat
    results = [
        timed("skypewatch TSV, streaming", lambda: sum(len(c) for c in iter_log(tsv)), n),
        timed("skypewatch TSV, read_log", lambda: len(read_log(tsv)), n),
        timed("skypewatch JSON, streaming", lambda: sum(len(c) for c in iter_log(js)), n),
    ]
    if old is not None:
        results += [
            timed(f"{args.old} TSV, streaming", lambda: sum(len(c) for c in old.iter_log(tsv)), n),
            timed(f"{args.old} JSON, streaming", lambda: sum(len(c) for c in old.iter_log(js)), n),
        ]
    results.append(
        timed(
            "pandas.read_csv (untyped)",
            lambda: len(
                pd.read_csv(
                    tsv,
                    sep="\t",
                    comment=None,
                    skiprows=8,
                    header=None,
                    names=fields,
                    na_values=["-"],
                    keep_default_na=False,
                    quoting=csv.QUOTE_NONE,
                    on_bad_lines="skip",
                    low_memory=False,
                )
            ),
            n,
        )
    )
    if zat is not None:
        results.append(
            timed("zat LogToDataFrame", lambda: len(zat().create_dataframe(str(tsv))), n)
        )
    print(f"\n{'reader':<32}{'seconds':>9}{'rows/s':>12}   (best of {n})")
    rate = {}
    for label, secs, rows in results:
        rate[label] = rows / secs
        print(f"{label:<32}{secs:>9.1f}{rate[label]:>12,.0f}")
    new_tsv, new_json = rate["skypewatch TSV, streaming"], rate["skypewatch JSON, streaming"]
    if zat is not None:
        print(f"\nskypewatch TSV streaming / zat: {new_tsv / rate['zat LogToDataFrame']:.2f}x")
    if old is not None:
        for kind, new in (("TSV", new_tsv), ("JSON", new_json)):
            was = rate[f"{args.old} {kind}, streaming"]
            print(f"{kind} streaming, new / {args.old}: {new / was:.2f}x")
    if not args.keep:
        tsv.unlink()
        js.unlink()


if __name__ == "__main__":
    main()
