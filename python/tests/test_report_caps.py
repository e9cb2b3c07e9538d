"""The report's notice and client tables stop at MAX_TABLE_ROWS and say how many rows they left
out and where to find them all; under the cap nothing is cut and nothing is said.  The notices
are counted per note above the table, over all of them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import skypelog_gen as gen

from skypewatch.analyst import report
from skypewatch.analyst.views import client_rows
from skypewatch.correlation.engine import EngineOptions
from skypewatch.correlation.localnets import LocalNets
from skypewatch.correlation.offline import run_offline
from skypewatch.zeeklog import Lenient


def _sections(html: str) -> dict[str, str]:
    """The HTML under each <h2>, by heading."""
    parts = re.split(r"<h2>(.*?)</h2>", html)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _build(tmp_path: Path, clients: int) -> tuple[str, report.ReportResult]:
    log = gen.write(tmp_path / "logs", gen.LogShape(clients=clients), seed=3)
    out = tmp_path / "r.html"
    result = report.build_report([log], out, lenient=Lenient(report=lambda _m: None))
    return out.read_text(), result


@pytest.mark.parametrize("cap", [5, 10_000])
def test_tables_capped_with_what_was_left_out(tmp_path, monkeypatch, cap):
    monkeypatch.setattr(report, "MAX_TABLE_ROWS", cap)
    html, result = _build(tmp_path, 60)
    assert result.clients > 5 and result.notices > 5  # the cut must bite at cap 5
    sec = _sections(html)
    client_rows = sec["Clients"].count("<tr>") - 1  # less the heading row
    notice_rows = sec["Notices"].count("<tr>") - 1
    assert client_rows == min(cap, result.clients)
    assert notice_rows == min(cap, result.notices)
    more_clients = re.search(r"\+(\d+) more clients not shown", sec["Clients"])
    more_notices = re.search(r"\+(\d+) more notices not shown", sec["Notices"])
    if cap < result.clients:
        assert more_clients and int(more_clients[1]) == result.clients - cap
        assert "query --view clients" in sec["Clients"]
    else:
        assert more_clients is None
    if cap < result.notices:
        assert more_notices and int(more_notices[1]) == result.notices - cap
        assert "skypewatch correlate" in sec["Notices"]  # computed: none was given
    else:
        assert more_notices is None
    # the per-note counts above the table cover every notice, shown or not
    counts = re.search(r"(\d+) notice\(s\) \((.*?)\), computed", sec["Notices"])
    assert counts and int(counts[1]) == result.notices
    per_note = [int(c) for c in re.findall(r"[A-Za-z_:]+ (\d+)", counts[2])]
    assert sum(per_note) == result.notices


def test_busiest_clients_are_the_ones_shown(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "MAX_TABLE_ROWS", 5)
    html, _ = _build(tmp_path, 60)
    shown = re.findall(r"<tr><td>([^<]+)</td><td>[^<]*</td><td>[^<]*</td><td>(\d+)</td>", html)
    assert len(shown) == 5
    df, _, _ = report._read([tmp_path / "logs"], Lenient(report=lambda _m: None))
    table = report._clients(client_rows(df, LocalNets()))
    fifth = sorted(table["connections"].tolist(), reverse=True)[4]
    assert all(int(n) >= fifth for _, n in shown)
    assert [c for c, _ in shown] == table["client"].head(5).tolist()


def test_earliest_notices_shown_whatever_the_file_order(tmp_path, monkeypatch):
    """Two notice.logs given later one first: the capped table holds the earliest notices of
    both, in time order, as its "+N more" line says."""
    log = gen.write(tmp_path / "logs", gen.LogShape(clients=60), seed=3)
    run_offline([str(log)], [], tmp_path / "off", EngineOptions(), report=print)
    lines = (tmp_path / "off" / "notice.log").read_text().splitlines(keepends=True)
    head = [ln for ln in lines if ln.startswith("#") and not ln.startswith("#close")]
    data = [ln for ln in lines if not ln.startswith("#")]
    assert len(data) > 10
    half = len(data) // 2
    (tmp_path / "late.log").write_text("".join(head + data[half:]))
    (tmp_path / "early.log").write_text("".join(head + data[:half]))
    monkeypatch.setattr(report, "MAX_TABLE_ROWS", 5)
    out = tmp_path / "r.html"
    report.build_report(
        [log, tmp_path / "late.log", tmp_path / "early.log"],
        out,
        lenient=Lenient(report=lambda _m: None),
    )
    shown = re.findall(r"<td class=when>([^<]*)</td>", out.read_text())
    times = sorted(float(ln.split("\t")[0]) for ln in data)
    assert shown == [f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S}" for t in times[:5]]
