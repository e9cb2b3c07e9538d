"""The report's plots: skype.log rows in, one PNG (bytes) per plot out, drawn with matplotlib
(imported when a plot is drawn, not when this module loads)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..skypelog import STAGES, Confidence, PeerRole, Stage

STAGE_COLORS = {
    Stage.PROBE: "#4C72B0",
    Stage.SN_HANDSHAKE: "#DD8452",
    "login": "#C44E52",
    "version_check": "#8172B3",
    "media": "#55A868",
}
CONF_COLORS = {
    Confidence.CONFIRMED: "#2b6cb0",
    Confidence.LIKELY: "#90cdf4",
    Confidence.POSSIBLE: "#e2e8f0",
}
MAX_TIMELINE_CLIENTS = 30
MAX_PANELS = 6  # bursts of activity drawn side by side at most (the closest merge beyond)
MAX_BURSTS = 64  # largest gaps considered when looking for bursts
BURST_GAP_FACTOR = 20.0  # a gap splits when this many times longer than the longest burst
MIN_BURST = 60.0  # seconds: a burst counts as at least this long when comparing gaps


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class Bursts:
    """Spans of activity, one axis each: [(first, last)] in time order, and how many bursts
    the activity really has (more than the panels when the cap merged the closest ones)."""

    spans: list[tuple[pd.Timestamp, pd.Timestamp]]
    found: int

    @property
    def note(self) -> str:
        if self.found > len(self.spans):
            return (
                f" ({self.found} bursts of activity, drawn in {len(self.spans)} panels:"
                " the closest ones share a panel)"
            )
        return (
            f" ({len(self.spans)} bursts of activity, one panel each)"
            if len(self.spans) > 1
            else ""
        )


def bursts(ts: pd.Series, max_panels: int = MAX_PANELS) -> Bursts:
    """Split the times *ts* at gaps much longer than the bursts they separate: the largest
    gaps, as many as keep every chosen gap ``BURST_GAP_FACTOR`` times longer than the longest
    burst (and than ``MIN_BURST``); at most *max_panels* bursts, the closest merged beyond.
    One burst when the activity is spread evenly (then one axis reads well)."""
    s = ts.dropna()
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert(None)  # naive UTC, as the axes draw it
    t = s.sort_values().to_numpy(dtype="datetime64[ns]")
    if len(t) == 0:
        return Bursts([], 0)
    gaps = np.diff(t).astype(np.int64) / 1e9
    order = np.argsort(gaps, kind="stable")[::-1][:MAX_BURSTS]  # largest gaps first
    best = 0
    for k in range(1, len(order) + 1):
        cuts = np.sort(order[:k])
        starts = np.r_[0, cuts + 1]
        ends = np.r_[cuts, len(t) - 1]
        longest = ((t[ends] - t[starts]).astype(np.int64) / 1e9).max()
        if gaps[order[k - 1]] > BURST_GAP_FACTOR * max(longest, MIN_BURST):
            best = k
    found = best + 1
    cuts = np.sort(order[: min(best, max_panels - 1)])
    starts = np.r_[0, cuts + 1]
    ends = np.r_[cuts, len(t) - 1]
    spans = [(pd.Timestamp(t[a]), pd.Timestamp(t[b])) for a, b in zip(starts, ends, strict=True)]
    return Bursts(spans, found)


def _panels(n: int, height: float):
    """A figure of *n* axes side by side sharing the y axis (one per burst)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, n, figsize=(10, height), sharey=True, squeeze=False, gridspec_kw={"wspace": 0.08}
    )
    return fig, list(axes[0])


def _limit(ax, span: tuple[pd.Timestamp, pd.Timestamp]) -> None:
    """The axis shows its burst only, with a margin of 5 % (at least a second)."""
    first, last = span
    pad = max((last - first) * 0.05, pd.Timedelta(seconds=1))
    ax.set_xlim(first - pad, last + pad)
    # the ticks show times of day: the date (the year, for logs spanning years) goes above
    when = f"{first:%Y-%m-%d}" + ("" if first.date() == last.date() else f" to {last:%Y-%m-%d}")
    ax.set_title(when, fontsize=9)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _in(ts: pd.Series, span: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
    return (ts >= span[0]) & (ts <= span[1])


def timeline_figure(df: pd.DataFrame):
    """Each client's connections over time, one dot per connection coloured by stage (the
    busiest clients only), one axis per burst of activity (bursts)."""
    counts = df["client"].value_counts()
    clients = list(counts.index[:MAX_TIMELINE_CLIENTS])[::-1]
    sub = df[df["client"].isin(clients)]
    b = bursts(sub["ts"])
    fig, axes = _panels(max(len(b.spans), 1), 0.45 * len(clients) + 1.6)
    y = {c: i for i, c in enumerate(clients)}
    naive = sub["ts"].dt.tz_convert(None)
    for ax, span in zip(axes, b.spans, strict=True):
        here = sub[_in(naive, span).to_numpy(bool)]
        for stage in STAGES:
            s = here[here["stage"] == stage]
            if len(s):
                ax.scatter(
                    s["ts"].dt.tz_convert(None),
                    s["client"].map(y),
                    s=28,
                    alpha=0.8,
                    color=STAGE_COLORS[stage],
                    label=stage,
                    edgecolors="none",
                )
        _limit(ax, span)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(clients)), clients)
    fig.supxlabel("time (UTC)", y=-0.06)
    fig.suptitle("Start-up stages per client over time" + b.note)
    handles = [
        plt_handle(STAGE_COLORS[st], f"{st} ({int((sub['stage'] == st).sum())})")
        for st in STAGES
        if (sub["stage"] == st).any()
    ]
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def plt_handle(color: str, label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], marker="o", linestyle="", color=color, label=label)


def timeline(df: pd.DataFrame) -> bytes:
    return _png(timeline_figure(df))


def fanout_figure(df: pd.DataFrame):
    """Distinct super nodes each of the busiest clients reached, over time (counted over the
    whole log), one axis per burst of activity; None without any super node."""
    sn = df[df["peer_role"] == PeerRole.SUPER_NODE].sort_values("ts")
    if sn.empty:
        return None
    b = bursts(sn["ts"])
    fig, axes = _panels(len(b.spans), 3.6)
    colors = [f"C{i}" for i in range(10)]  # one colour per client in every panel
    for n, client in enumerate(sn["client"].value_counts().index[:8]):
        g = sn[sn["client"] == client]
        distinct = (~g["peer"].duplicated()).cumsum()
        naive = g["ts"].dt.tz_convert(None)
        label: str | None = client  # in the legend once, from the first panel it is in
        for ax, span in zip(axes, b.spans, strict=True):
            here = _in(naive, span).to_numpy(bool)
            if here.any():
                ax.step(naive[here], distinct[here], where="post", color=colors[n], label=label)
                label = None
    for ax, span in zip(axes, b.spans, strict=True):
        _limit(ax, span)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("distinct super nodes")
    fig.supxlabel("time (UTC)", y=-0.06)
    fig.suptitle("Super-node fan-out: distinct super nodes each client reached" + b.note)
    fig.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(0.9, 0.9))
    return fig


def fanout(df: pd.DataFrame) -> bytes | None:
    fig = fanout_figure(df)
    return None if fig is None else _png(fig)


def top_talkers(df: pd.DataFrame) -> bytes:
    """Clients by connections (by confidence) beside super nodes by distinct clients."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    per = df.groupby(["client", "confidence"]).size().unstack(fill_value=0)
    per = per.loc[per.sum(axis=1).sort_values(ascending=True).index[-10:]]
    bottom = None
    for conf in (Confidence.CONFIRMED, Confidence.LIKELY, Confidence.POSSIBLE):
        if conf in per:
            left.barh(
                per.index,
                per[conf],
                left=bottom,
                color=CONF_COLORS[conf],
                label=conf,
                edgecolor="#4a5568",
                linewidth=0.4,
            )
            bottom = per[conf] if bottom is None else bottom + per[conf]
    left.set_title("Clients by Skype connections")
    left.legend(frameon=False, fontsize=8)
    sn = df[df["peer_role"] == PeerRole.SUPER_NODE].groupby("peer")["client"].nunique()
    sn = sn.sort_values().iloc[-10:]
    right.barh(sn.index, sn.values, color="#4C72B0")
    right.set_title("Super nodes by distinct clients")
    fig.tight_layout()
    return _png(fig)
