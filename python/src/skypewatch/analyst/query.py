"""``skypewatch query``: the questions incident responders ask of skype.log.

Views (``--view``):
  clients            which hosts ran Skype: first and last seen, connections, stages, super
                     nodes reached, login servers, public IPs, versions, best confidence,
                     and status: "blocked" when no connection got an answer (with the TCP
                     ports it tried), else "answered"
  lines              the matching skype.log lines themselves
  super-nodes        the super nodes clients reached: how many clients, when
  local-super-nodes  hosts inside the network that served outside clients (relays)
  public-ips         the public addresses U2 replies revealed, per client

Logs are read in chunks and aggregated as they stream by, so logs larger than memory can
be queried; only the (small) aggregates are held.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..atomic import replacing, write_text
from ..correlation.hosts import DEFAULT_LOCAL_NETS
from ..errors import SkypewatchError
from ..skypelog import CONFIDENCE_RANK, STAGES, PeerRole, Stage
from ..zeeklog import Lenient
from .csvcells import csv_text
from .logs import iter_log, log_files

VIEWS = ("clients", "lines", "super-nodes", "local-super-nodes", "public-ips")
FORMATS = ("table", "csv", "json", "parquet")


@dataclass(slots=True)
class Filter:
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    stages: set[str] = field(default_factory=set)
    min_confidence: str | None = None

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        keep = pd.Series(True, index=df.index)
        if self.since is not None:
            keep &= df["ts"] >= self.since
        if self.until is not None:
            keep &= df["ts"] <= self.until
        if self.stages:
            keep &= df["stage"].isin(self.stages)
        if self.min_confidence:
            ranks = df["confidence"].map(CONFIDENCE_RANK)
            keep &= ranks >= CONFIDENCE_RANK[self.min_confidence]
        if self.networks:
            keep &= df["client"].map(self._match).astype(bool)
        return df[keep.fillna(False).astype(bool)]

    def _match(self, addr) -> bool:
        if not isinstance(addr, str):
            return False
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


def parse_time(text: str) -> pd.Timestamp:
    """ISO 8601 (UTC unless it says otherwise) or seconds since the epoch."""
    try:
        return pd.Timestamp(float(text), unit="s", tz="UTC")
    except ValueError:
        pass
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise SkypewatchError(f"not a time: {text!r} (use ISO 8601 or epoch seconds)") from None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def parse_network(text: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise SkypewatchError(f"--client: {text!r} is not an address or network") from None


def skype_chunks(
    paths: Iterable[str | Path], chunksize: int = 200_000, lenient: Lenient | None = None
):
    """Typed chunks of the skype.log files among *paths*, read leniently: bad lines are
    reported (on stderr unless *lenient* says otherwise) and skipped; if no file at all can
    be read, one LogReadError says why."""
    lenient = lenient if lenient is not None else Lenient()
    files = log_files(paths)
    if not files:
        raise SkypewatchError("no log files among the arguments")
    for f in files:
        for chunk in iter_log(f, chunksize, lenient=lenient):
            if chunk.attrs["zeek"].kind != "skype":  # by #path, or else by its columns
                break  # not a skype.log (a notice.log given alongside, say): skip the file
            yield chunk
    lenient.done()


class _Agg:
    """Per-key first/last seen, counts and distinct values, merged chunk by chunk."""

    def __init__(self) -> None:
        # keyed by a host, or by (client, public ip) in the public-ips view
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


def run_query(
    paths: Iterable[str | Path],
    view: str,
    flt: Filter,
    local_nets: Iterable[str] = DEFAULT_LOCAL_NETS,
    lenient: Lenient | None = None,
) -> pd.DataFrame:
    if view not in VIEWS:
        raise SkypewatchError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
    is_local = _local_test(local_nets)
    lines: list[pd.DataFrame] = []
    agg = _Agg()
    best: dict[str, int] = {}
    for chunk in skype_chunks(paths, lenient=lenient):
        df = flt.apply(chunk)
        if df.empty:
            continue
        if view == "lines":
            lines.append(df)
        elif view == "clients":
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
    if view == "lines":
        return pd.concat(lines, ignore_index=True) if lines else pd.DataFrame()
    return _finish(view, agg, best)


def _local_test(local_nets: Iterable[str]) -> Callable[[object], bool]:
    """Whether an address (any cell: not an address is not local) is inside *local_nets*."""
    local = [ipaddress.ip_network(n) for n in local_nets]

    def is_local(a) -> bool:
        try:
            ip = ipaddress.ip_address(a)
        except (ValueError, TypeError):
            return False
        return any(ip in n for n in local)

    return is_local


def _add_clients(agg: _Agg, best: dict[str, int], df: pd.DataFrame) -> None:
    """One chunk into the clients view; *best* keeps each client's highest confidence rank."""
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
        # no answer to any connection: a start-up a firewall stopped (a log from
        # before the answered column counts as answered)
        answered = g["answered"].fillna(True).astype(bool).any() if "answered" in g else True
        r["answered"] = r.get("answered", False) or bool(answered)
        if not answered:
            r.setdefault("tcp_ports", set()).update(
                str(int(p)) for p in g.loc[g["proto"] == "tcp", "id.resp_p"].dropna()
            )
        rank = g["confidence"].map(CONFIDENCE_RANK).max()  # NaN: no known confidence
        if rank == rank:
            best[client] = max(best.get(client, 0), int(rank))


def _add_local_super_nodes(agg: _Agg, df: pd.DataFrame, is_local: Callable) -> None:
    """One chunk into the local-super-nodes view: inside hosts that outside clients probed
    as a super node, or connected to as a peer."""
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
    # as bool: an empty column maps to strings, and strings do not combine with &
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


def render(df: pd.DataFrame, fmt: str, output: str | None) -> str | None:
    """The result as text (table/csv/json), or written to *output* (required for parquet)."""
    if fmt not in FORMATS:
        raise SkypewatchError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    df = _python_lists(df)
    if fmt == "parquet":
        if not output:
            raise SkypewatchError("--format parquet writes a file: give -o FILE")
        flat = df.copy()
        flat.attrs = {}  # the log's header is no part of the answer (nor JSON, as parquet wants)
        for col in flat.columns:
            if flat[col].dtype == object:  # set[port], vector[interval]: not only strings
                flat[col] = flat[col].map(
                    lambda v: ",".join(map(str, v)) if isinstance(v, list) else v
                )
        with replacing(output, binary=True) as fh:
            flat.to_parquet(fh, index=False)
        return None
    if df.empty:
        text = "" if fmt != "table" else "(no matching Skype detections)\n"
    elif fmt == "table":
        text = df.to_string(index=False) + "\n"
    elif fmt == "csv":
        text = csv_text(df)
    else:
        text = df.to_json(orient="records", date_format="iso", date_unit="us", lines=True)
    if output:
        write_text(output, text)
        return None
    return text


def _python_lists(df: pd.DataFrame) -> pd.DataFrame:
    """Set columns (Arrow lists, see skypewatch.analyst.logs) as Python lists, so that every format
    prints them as lists."""
    lists = [
        c
        for c in df.columns
        if isinstance(df[c].dtype, pd.ArrowDtype) and pa.types.is_list(df[c].dtype.pyarrow_dtype)
    ]
    if not lists:
        return df
    out = df.copy()
    for c in lists:
        out[c] = pd.Series(df[c].tolist(), index=df.index, dtype=object)
    return out
