"""Benchmark the analyst tools on a skype.log with many distinct clients (a capture with spoofed
sources makes such a log): seconds for `query --view clients`, `query --view super-nodes` and
`report`, each end to end (reading the log included), and the same work done by the
per-client loops they replaced (tests/analyst_reference.py) on a smaller log in the same run,
with the ratio.  Not a test: it prints figures.

    python python/benchmarks/bench_analyst.py [--clients 100000] [--reference-clients 2000]
                                              [--repeat 1] [--keep DIR]

The log comes from tests/skypelog_gen.py: 1-4 lines per client (probes to a pool of 5,000 super
nodes, handshakes, logins, version checks, calls), 70 % of clients inside.  The reference is
timed on --reference-clients clients only: it costs about 2.5 ms per client, so 100,000 would
take minutes; its figure for the full log is extrapolated linearly (it is linear: one groupby
group per client).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "src"))
sys.path.insert(0, str(REPO / "python" / "tests"))

import analyst_reference as ref  # noqa: E402
import skypelog_gen as gen  # noqa: E402

from skypewatch.analyst import report  # noqa: E402
from skypewatch.analyst.query import Filter, run_query, skype_chunks  # noqa: E402
from skypewatch.correlation.engine import EngineOptions  # noqa: E402
from skypewatch.correlation.localnets import DEFAULT_LOCAL_NETS  # noqa: E402
from skypewatch.correlation.offline import run_offline  # noqa: E402
from skypewatch.zeeklog import Lenient  # noqa: E402


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def quiet() -> Lenient:
    return Lenient(report=lambda _m: None)


def new_query(log: Path, view: str) -> None:
    run_query([log], view, Filter(), DEFAULT_LOCAL_NETS, quiet())


def old_query(log: Path, view: str) -> None:
    ref.query_view(skype_chunks([log], lenient=quiet()), view, DEFAULT_LOCAL_NETS)


def new_report(log: Path, out: Path) -> None:
    report.build_report([log], out, lenient=quiet())


def new_report_dir(log: Path, out: Path) -> None:
    """``report DIR`` after analyze or correlate: skype.log and notice.log."""
    report.build_report([log.parent], out, lenient=quiet())


def with_notice_log(log: Path) -> None:
    """notice.log beside *log*, as `skypewatch correlate` writes it."""
    run_offline([str(log)], [], log.parent, EngineOptions(), report=lambda _m: None)


def old_report(log: Path, out: Path) -> None:
    """The report with the reference client table, notices and notice table in place of
    today's (the plots and the rest are today's)."""
    saved = report._clients, report._computed_notices, report._notice_table
    report._clients = ref.report_clients  # type: ignore[assignment]
    report._computed_notices = lambda df, _nets: ref.report_computed_notices(df)  # type: ignore[assignment]
    report._notice_table = ref.report_notice_table  # type: ignore[assignment]
    try:
        report.build_report([log], out, lenient=quiet())
    finally:
        report._clients, report._computed_notices, report._notice_table = saved  # type: ignore[assignment]


def _both(new: Callable[..., None], old: Callable[..., None], **kw: object) -> tuple:
    return partial(new, **kw), partial(old, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=100_000)
    ap.add_argument("--reference-clients", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    ap.add_argument("--keep", type=Path, help="build the logs in this directory and keep them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        big = gen.write(base / "big", gen.LogShape(clients=args.clients), seed=1)
        small = gen.write(base / "small", gen.LogShape(clients=args.reference_clients), seed=1)
        lines = sum(1 for ln in big.open() if not ln.startswith("#"))
        print(f"skype.log: {args.clients:,} distinct clients, {lines:,} lines ({big})")
        n, m = args.clients, args.reference_clients
        html = base / "r.html"
        rows: list[tuple[str, Callable[[Path], None], Callable[[Path], None]]] = [
            ("query --view clients", *_both(new_query, old_query, view="clients")),
            ("query --view super-nodes", *_both(new_query, old_query, view="super-nodes")),
            ("report (notices computed)", *_both(new_report, old_report, out=html)),
        ]
        print(
            f"{'':26}{'new, ' + format(n, ',') + ' clients':>22}"
            f"{'new, ' + format(m, ','):>14}{'reference, ' + format(m, ','):>20}"
            f"{'ratio':>8}{'reference at ' + format(n, ',') + ' (est.)':>28}"
        )
        for name, new, old in rows:
            t_big = best_of(args.repeat, lambda new=new: new(big))
            t_new = best_of(args.repeat, lambda new=new: new(small))
            t_old = best_of(args.repeat, lambda old=old: old(small))
            print(
                f"{name:26}{t_big:>20.2f} s{t_new:>12.2f} s{t_old:>18.2f} s"
                f"{t_old / max(t_new, 1e-9):>7.0f}x{t_old * n / m:>26.0f} s",
                flush=True,
            )
        with_notice_log(big)
        t_dir = best_of(args.repeat, lambda: new_report_dir(big, html))
        print(f"{'report DIR (notice.log given)':26}{t_dir:>20.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
