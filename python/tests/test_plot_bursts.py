"""The report's plots stay readable for any time span: activity is split into bursts at gaps
much longer than the bursts, one axis per burst (at most MAX_PANELS, said in the title), and
each axis's x-range covers its own burst only."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from conftest import shared_capture

from skypewatch.analyst.plots import MAX_PANELS, bursts, fanout_figure, timeline_figure
from skypewatch.analyst.report import _read, build_report
from skypewatch.analyze import analyze
from skypewatch.zeeklog import Lenient


def _xranges(fig) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    out = []
    for ax in fig.axes:
        if not ax.get_xlabel() and not ax.collections and not ax.lines:
            continue
        lo, hi = ax.get_xlim()
        out.append(
            (
                pd.Timestamp(mdates.num2date(lo)).tz_convert(None),
                pd.Timestamp(mdates.num2date(hi)).tz_convert(None),
            )
        )
    return out


def _check(fig, groups: list[pd.Series]) -> None:
    """One axis per group of times, in order; each axis holds all of its group's times and
    none of another group's, and spans little more than its group."""
    ranges = _xranges(fig)
    assert len(ranges) == len(groups)
    for (lo, hi), g in zip(ranges, groups, strict=True):
        first, last = g.min(), g.max()
        assert lo <= first and last <= hi
        assert (hi - lo) <= max((last - first) * 1.2, pd.Timedelta(seconds=10))
        for other in groups:
            if other is not g:
                assert not ((other >= lo) & (other <= hi)).any()
    plt.close(fig)


@pytest.fixture(scope="module")
def years(tmp_path_factory):
    """skype.log of a 2006 capture and of a 2015 one, read together."""
    base = tmp_path_factory.mktemp("years")
    for name in ("SkypeIRC.cap", "skype.pcap"):
        analyze([shared_capture("skype", name)], base / name)
    df, _, _ = _read([base / "SkypeIRC.cap", base / "skype.pcap"], Lenient())
    return base, df


def test_logs_spanning_years_draw_one_axis_per_capture(years, tmp_path):
    base, df = years
    naive = df["ts"].dt.tz_convert(None)
    groups = [naive[naive.dt.year == y] for y in sorted(naive.dt.year.unique())]
    assert [g.dt.year.iloc[0] for g in groups] == [2006, 2015]
    b = bursts(df["ts"])
    assert len(b.spans) == 2 and b.found == 2
    top = df["client"].value_counts().index[:30]
    shown = naive[df["client"].isin(top)]
    _check(timeline_figure(df), [g[g.index.isin(shown.index)] for g in groups])
    sn = df["peer_role"] == "super_node"
    fan = naive[sn & df["client"].isin(df.loc[sn, "client"].value_counts().index[:8])]
    _check(fanout_figure(df), [g[g.index.isin(fan.index)] for g in groups])
    r = build_report([base / "SkypeIRC.cap", base / "skype.pcap"], tmp_path / "r.html")
    assert r.html.read_text().count("data:image/png;base64,") == 3


def test_one_capture_is_one_axis(years):
    """The control: one capture's few minutes are one burst, one axis."""
    _, df = years
    one = df[df["ts"].dt.year == 2006]
    assert len(bursts(one["ts"]).spans) == 1
    naive = one["ts"].dt.tz_convert(None)
    _check(timeline_figure(one), [naive])


def test_more_bursts_than_panels_are_capped_and_said(years):
    _, df = years
    one = df[df["ts"].dt.year == 2006]
    parts = []
    for i in range(MAX_PANELS + 4):  # the 2006 activity again every 400 days
        p = one.copy()
        p["ts"] = p["ts"] + pd.Timedelta(days=400 * i)
        parts.append(p)
    many = pd.concat(parts, ignore_index=True)
    b = bursts(many["ts"])
    assert b.found == MAX_PANELS + 4 and len(b.spans) == MAX_PANELS
    fig = timeline_figure(many)
    assert len(_xranges(fig)) == MAX_PANELS
    assert f"{MAX_PANELS + 4} bursts" in fig._suptitle.get_text()
    assert f"{MAX_PANELS} panels" in fig._suptitle.get_text()
    plt.close(fig)


def test_even_activity_is_not_split():
    """Connections every minute for a day: no gap stands out, one axis."""
    ts = pd.Series(pd.date_range("2026-01-01", periods=1440, freq="min", tz="UTC"))
    assert len(bursts(ts).spans) == 1
