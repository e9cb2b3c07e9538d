"""The analyst views as they were computed before they were vectorised: a Python loop over a
pandas groupby per chunk (skypewatch.analyst.query at commit ececb54, and report.py's client
table).  Test-only: test_analyst_views_reference.py holds the vectorised code to it, and
benchmarks/bench_analyst.py measures both.  Trimmed to what the views compute (no reading,
no filters, no rendering); kept as it was, quirks included (one crash aside, marked) -- do
not "fix" it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from skypewatch.skypelog import CONFIDENCE_RANK, STAGES, Confidence, PeerRole, Stage


class _Agg:
    """Per-key first/last seen, counts and distinct values, merged chunk by chunk."""

    def __init__(self) -> None:
        self.rows: dict[Any, dict[str, Any]] = {}

    def add(self, key, ts_min, ts_max, n, **sets) -> dict:
        r = self.rows.get(key)
        if r is None:
            r = self.rows[key] = {"first_seen": ts_min, "last_seen": ts_max, "connections": 0}
        r["first_seen"] = min(r["first_seen"], ts_min)
        r["last_seen"] = max(r["last_seen"], ts_max)
        r["connections"] += int(n)
        for name, values in sets.items():
            r.setdefault(name, set()).update(v for v in values if isinstance(v, str) and v)
        return r


def query_view(
    chunks: Iterable[pd.DataFrame], view: str, local_nets: Iterable[str]
) -> pd.DataFrame:
    """run_query's aggregation over already-filtered chunks (every view but "lines")."""
    is_local = _local_test(local_nets)
    agg = _Agg()
    best: dict[str, int] = {}
    for df in chunks:
        if df.empty:
            continue
        if view == "clients":
            _add_clients(agg, best, df)
        elif view == "super-nodes":
            sn = df[df["peer_role"] == PeerRole.SUPER_NODE]
            for peer, g in sn.groupby("peer", sort=False):
                agg.add(peer, g["ts"].min(), g["ts"].max(), len(g), clients=g["client"])
        elif view == "local-super-nodes":
            _add_local_super_nodes(agg, df, is_local)
        elif view == "public-ips":
            known = df[df["client_public_ip"].notna()]
            for (client, public), g in known.groupby(["client", "client_public_ip"], sort=False):
                agg.add((client, public), g["ts"].min(), g["ts"].max(), len(g))
    return _finish(view, agg, best)


def _local_test(local_nets: Iterable[str]) -> Callable[[object], bool]:
    local = [ipaddress.ip_network(n) for n in local_nets]

    def is_local(a) -> bool:
        try:
            ip = ipaddress.ip_address(a)
        except (ValueError, TypeError):
            return False
        return any(ip in n for n in local)

    return is_local


def _add_clients(agg: _Agg, best: dict[str, int], df: pd.DataFrame) -> None:
    for client, g in df.groupby("client", sort=False):
        r = agg.add(
            client,
            g["ts"].min(),
            g["ts"].max(),
            len(g),
            stages=g["stage"],
            login_servers=g.loc[g["peer_role"] == PeerRole.LOGIN_SERVER, "peer"],
            public_ips=g["client_public_ip"],
            versions=g["skype_version"],
        )
        r.setdefault("super_nodes", set()).update(
            g.loc[g["peer_role"] == PeerRole.SUPER_NODE, "peer"].dropna()
        )
        answered = g["answered"].fillna(True).astype(bool).any() if "answered" in g else True
        r["answered"] = r.get("answered", False) or bool(answered)
        if not answered:
            r.setdefault("tcp_ports", set()).update(
                str(int(p)) for p in g.loc[g["proto"] == "tcp", "id.resp_p"].dropna()
            )
        rank = g["confidence"].map(CONFIDENCE_RANK).max()
        # the one change: `if rank == rank` raised TypeError when every confidence of a
        # client was unset (max() gives pd.NA there); the vectorised code lists no confidence
        if pd.notna(rank):
            best[client] = max(best.get(client, 0), int(rank))


def _add_local_super_nodes(agg: _Agg, df: pd.DataFrame, is_local: Callable) -> None:
    probe = df[(df["peer_role"] == PeerRole.SUPER_NODE) & (df["stage"] == Stage.PROBE)]
    inbound = df[(df["peer_role"] == PeerRole.PEER) & (df["id.orig_h"] == df["peer"])]
    pairs = pd.concat(
        [
            pd.DataFrame({"node": probe["peer"], "outside": probe["client"], "ts": probe["ts"]}),
            pd.DataFrame(
                {"node": inbound["client"], "outside": inbound["peer"], "ts": inbound["ts"]}
            ),
        ]
    )
    pairs = pairs[
        pairs["node"].map(is_local).astype(bool) & ~pairs["outside"].map(is_local).astype(bool)
    ]
    for node, g in pairs.groupby("node", sort=False):
        agg.add(node, g["ts"].min(), g["ts"].max(), len(g), outside_clients=g["outside"])


def _finish(view: str, agg: _Agg, best: dict[str, int]) -> pd.DataFrame:
    rows = []
    names = {v: k for k, v in CONFIDENCE_RANK.items()}
    for key, r in agg.rows.items():
        row: dict[str, Any] = {}
        if view == "public-ips":
            row["client"], row["public_ip"] = key
        else:
            row[
                "node"
                if view == "local-super-nodes"
                else PeerRole.SUPER_NODE
                if view == "super-nodes"
                else "client"
            ] = key
        row.update(
            first_seen=r["first_seen"], last_seen=r["last_seen"], connections=r["connections"]
        )
        if view == "clients":
            row["stages"] = ",".join(s for s in STAGES if s in r.get("stages", ()))
            row["super_nodes"] = len(r.get("super_nodes", ()))
            row["login_servers"] = ",".join(sorted(r.get("login_servers", ())))
            row["public_ips"] = ",".join(sorted(r.get("public_ips", ())))
            row["versions"] = ",".join(sorted(r.get("versions", ())))
            row["confidence"] = names.get(best.get(key, -1), "")
            row["status"] = "answered" if r.get("answered", True) else "blocked"
            row["tcp_ports_tried"] = (
                ",".join(sorted(r.get("tcp_ports", ()), key=int))
                if row["status"] == "blocked"
                else ""
            )
        elif view == "super-nodes":
            row["clients"] = len(r.get("clients", ()))
        elif view == "local-super-nodes":
            row["outside_clients"] = len(r.get("outside_clients", ()))
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {
        "clients": ["connections"],
        "super-nodes": ["clients", "connections"],
        "local-super-nodes": ["outside_clients"],
        "public-ips": ["first_seen"],
    }[view]
    ascending = view == "public-ips"
    return out.sort_values(order, ascending=ascending, kind="stable").reset_index(drop=True)


# -- report.py's table of clients -------------------------------------------------------------


def report_clients(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for client, g in df.groupby("client"):
        rows.append(
            {
                "client": client,
                "first seen": f"{g['ts'].min():%Y-%m-%d %H:%M:%S}",
                "last seen": f"{g['ts'].max():%Y-%m-%d %H:%M:%S}",
                "connections": len(g),
                "stages": ", ".join(s for s in STAGES if (g["stage"] == s).any()),
                "super nodes": g.loc[g["peer_role"] == PeerRole.SUPER_NODE, "peer"].nunique(),
                "public IP": ", ".join(sorted(g["client_public_ip"].dropna().unique())),
                "version": ", ".join(sorted(g["skype_version"].dropna().unique())),
                "status": _status(g),
                "best": Confidence.CONFIRMED
                if (g["confidence"] == Confidence.CONFIRMED).any()
                else Confidence.LIKELY
                if (g["confidence"] == Confidence.LIKELY).any()
                else Confidence.POSSIBLE,
            }
        )
    return pd.DataFrame(rows).sort_values("connections", ascending=False)


def _status(g: pd.DataFrame) -> str:
    if "answered" not in g or g["answered"].isna().all():
        return "answered"
    return "answered" if g["answered"].fillna(True).astype(bool).any() else "blocked"


# -- report.py's notices: computed row by row, and their table with a .loc per uid -------------

MAX_EVIDENCE_ROWS = 12


def report_computed_notices(df: pd.DataFrame) -> pd.DataFrame:
    from skypewatch.correlation.engine import CorrelationEngine
    from skypewatch.correlation.sources import record_from_row

    engine = CorrelationEngine()
    out = []
    for row in df.sort_values("ts", kind="stable").to_dict("records"):
        try:
            rec = record_from_row({k: _plain(v) for k, v in row.items()})
        except (KeyError, ValueError, TypeError):
            continue
        out += engine.record(rec)
    out += engine.flush()
    return pd.DataFrame(
        [
            {
                "ts": pd.Timestamp(n.ts, unit="s", tz="UTC"),
                "note": n.note,
                "msg": n.msg,
                "sub": n.sub,
                "src": n.src,
                "n": n.n,
            }
            for n in out
        ]
    )


def _plain(v):
    if isinstance(v, pd.Timestamp):
        return v.value / 1e9
    if isinstance(v, pd.Timedelta):
        return v.value / 1e9
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v


def report_notice_table(notices: pd.DataFrame, df: pd.DataFrame) -> str:
    import html

    if notices.empty:
        return "<p>No host's evidence adds up to a notice.</p>"
    by_uid = df.set_index("uid")
    rows = []
    for n in notices.itertuples(index=False):
        sub = _text(getattr(n, "sub", None))
        uids = (
            [u.split("(")[0] for u in sub.split("uids=")[-1].split(",")] if "uids=" in sub else []
        )
        evidence = []
        for uid in uids[:MAX_EVIDENCE_ROWS]:
            if uid in by_uid.index:
                r = by_uid.loc[uid]
                r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
                evidence.append(
                    f"<li><code>{html.escape(uid)}</code> {html.escape(str(r['stage']))} "
                    f"{html.escape(str(r['peer']))} ({html.escape(str(r['confidence']))}): "
                    f"{html.escape(str(r['evidence']))}</li>"
                )
        more = len(uids) - len(evidence)
        if more > 0:
            evidence.append(f"<li class=muted>… {more} more</li>")
        ts = getattr(n, "ts", None)
        rows.append(
            f"<tr><td class=when>{html.escape(f'{ts:%Y-%m-%d %H:%M:%S}' if pd.notna(ts) else '')}"
            "</td>"
            f"<td class=note>{html.escape(_text(n.note))}</td>"
            f"<td>{html.escape(_text(n.msg))}<br><span class=muted>{html.escape(sub)}</span>"
            f"<ul>{''.join(evidence)}</ul></td></tr>"
        )
    return (
        "<table><tr><th>time</th><th>note</th><th>finding and evidence</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _text(v: object) -> str:
    return "" if v is None or v is pd.NA or v is pd.NaT else str(v)
