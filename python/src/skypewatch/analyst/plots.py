"""The report's plots: skype.log rows in, one PNG (bytes) per plot out, drawn with matplotlib
(imported when a plot is drawn, not when this module loads)."""

from __future__ import annotations

import io

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


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def timeline(df: pd.DataFrame) -> bytes:
    """Each client's connections over time, one dot per connection coloured by stage (the
    busiest clients only)."""
    import matplotlib.pyplot as plt

    counts = df["client"].value_counts()
    clients = list(counts.index[:MAX_TIMELINE_CLIENTS])[::-1]
    sub = df[df["client"].isin(clients)]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(clients) + 1.6))
    y = {c: i for i, c in enumerate(clients)}
    for stage in STAGES:
        s = sub[sub["stage"] == stage]
        if len(s):
            ax.scatter(
                s["ts"].dt.tz_convert(None),
                s["client"].map(y),
                s=28,
                alpha=0.8,
                color=STAGE_COLORS[stage],
                label=f"{stage} ({len(s)})",
                edgecolors="none",
            )
    ax.set_yticks(range(len(clients)), clients)
    ax.set_xlabel("time (UTC)")
    ax.set_title("Start-up stages per client over time")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


def fanout(df: pd.DataFrame) -> bytes | None:
    """Distinct super nodes each of the busiest clients reached, over time; None without any."""
    import matplotlib.pyplot as plt

    sn = df[df["peer_role"] == PeerRole.SUPER_NODE].sort_values("ts")
    if sn.empty:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for client in sn["client"].value_counts().index[:8]:
        g = sn[sn["client"] == client]
        distinct = (~g["peer"].duplicated()).cumsum()
        ax.step(g["ts"].dt.tz_convert(None), distinct, where="post", label=client)
    ax.set_ylabel("distinct super nodes")
    ax.set_xlabel("time (UTC)")
    ax.set_title("Super-node fan-out: distinct super nodes each client reached")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


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
