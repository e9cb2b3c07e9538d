"""Benchmark reading skype.log into pandas: rows per second for TSV and JSON, against zat's
LogToDataFrame and a plain pandas.read_csv with the right options.  Not a test.

    python python/benchmarks/bench_logs.py [--lines 5000000] [--keep]

The logs are built by repeating the skype.log lines `skypewatch analyze` writes for the
shared captures (or a synthesized capture) with fresh uids.  skypewatch is measured
streaming (iter_log, chunks of 200,000 rows, constant memory) and all at once (read_log).
zat is measured only if it is installed (`pip install zat`).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "src"))

import pandas as pd  # noqa: E402

from skypewatch.analyze import analyze  # noqa: E402
from skypewatch.logs import iter_log, read_log  # noqa: E402
from skypewatch.records import SKYPE_FIELDS  # noqa: E402
from skypewatch.zeeklog import ZeekLogWriter  # noqa: E402

SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared")) / "pcaps" / "skype"
DATA = Path(__file__).resolve().parent / "data"


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


def timed(label: str, fn) -> tuple[str, float, int]:
    t = time.perf_counter()
    rows = fn()
    return label, time.perf_counter() - t, rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--keep", action="store_true", help="reuse logs built earlier")
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
    results = [
        timed("skypewatch TSV, streaming", lambda: sum(len(c) for c in iter_log(tsv))),
        timed("skypewatch JSON, streaming", lambda: sum(len(c) for c in iter_log(js))),
        timed("skypewatch TSV, read_log", lambda: len(read_log(tsv))),
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
                    skipfooter=0,
                    on_bad_lines="skip",
                    low_memory=False,
                )
            ),
        ),
    ]
    try:
        from zat.log_to_dataframe import LogToDataFrame

        results.append(
            timed("zat LogToDataFrame", lambda: len(LogToDataFrame().create_dataframe(str(tsv))))
        )
    except ImportError:
        print("zat is not installed (pip install zat): not measured")
    print(f"\n{'reader':<30}{'seconds':>9}{'rows/s':>12}")
    for label, secs, rows in results:
        print(f"{label:<30}{secs:>9.1f}{rows / secs:>12,.0f}")
    if not args.keep:
        tsv.unlink()
        js.unlink()


if __name__ == "__main__":
    main()
