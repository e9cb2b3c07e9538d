"""The per-host views of skype.log (clients, super nodes, local super nodes, public IPs), in
bulk: per chunk, pandas' grouped reductions and de-duplicated (host, value) pairs; at the end,
one join per listed column.  No Python code runs per host but the final string joins, so a log
with 100,000 distinct clients (a capture with spoofed sources makes one) takes seconds, not
minutes (benchmarks/bench_analyst.py; tests/analyst_reference.py is the loop this replaced,
and test_analyst_views_reference.py holds the two to the same answers).

Inside and outside (``skypewatch.correlation.localnets``): a skype.log line whose client is
outside and whose peer is inside is an outside host reaching a local one -- evidence about the
local host (a local super node), not an outside client.  ``client_rows`` leaves such lines out
of the clients, super-nodes and public-ips views, as the correlator leaves such hosts out of
notice.log, so that "client" means the same in summary, query, report and notice.log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..correlation.localnets import LocalNets
from ..skypelog import CONFIDENCE_RANK, STAGES, PeerRole, Stage

PER_HOST_VIEWS = ("clients", "super-nodes", "local-super-nodes", "public-ips")
_RANK_NAMES = {v: k for k, v in CONFIDENCE_RANK.items()}


def client_rows(df: pd.DataFrame, local: LocalNets) -> pd.DataFrame:
    """The lines that are evidence about their client: all but an outside client reaching an
    inside peer (the correlator's rule for a reportable client, hosts.py)."""
    if df.empty or not local.networks:
        return df
    keep = local.mask(df["client"]) | ~local.mask(df["peer"])
    return df if keep.all() else df[keep]


def _texts(s: pd.Series) -> pd.Series:
    """The cells that count as a listed value: text, not empty (what the loop kept)."""
    s = s.dropna()
    return s[(s != "").to_numpy(bool)] if len(s) else s


class _Pairs:
    """Distinct (key, value) pairs gathered over chunks, in order of first sight."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def add(self, keys: pd.Series, values: pd.Series) -> None:
        if len(values):
            pairs = pd.DataFrame(
                {"k": keys.loc[values.index].astype(object), "v": values.astype(object)}
            )
            pairs = pairs[pairs["k"].notna()].drop_duplicates()
            self.frames.append(pairs)
            if len(self.frames) > 8:  # keep memory at the distinct pairs, not the chunks
                self.frames = [self.all()]

    def all(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame({"k": pd.Series(dtype=object), "v": pd.Series(dtype=object)})
        if len(self.frames) == 1:
            return self.frames[0]
        return pd.concat(self.frames, ignore_index=True).drop_duplicates()

    def counts(self, keys: pd.Index) -> np.ndarray:
        """Distinct values per key of *keys*."""
        pairs = self.all()
        codes = keys.get_indexer(pairs["k"])
        codes = codes[codes >= 0]
        return np.bincount(codes, minlength=len(keys)).astype(np.int64)

    def joined(self, keys: pd.Index, sep: str = ",", numeric: bool = False) -> list[str]:
        """Per key of *keys*, its distinct values sorted (as text, or as numbers) and joined."""
        pairs = self.all()
        out = [""] * len(keys)
        if pairs.empty:
            return out
        codes = keys.get_indexer(pairs["k"])
        values = pairs["v"].to_numpy(dtype=object)
        ok = codes >= 0
        codes, values = codes[ok], values[ok]
        if numeric:
            order = np.lexsort((values.astype(np.int64), codes))
            values = values.astype(np.int64).astype(str).astype(object)
        else:
            # sorted as Python sorts text (code points); a stable sort by code after it
            by_value = np.argsort(values, kind="stable")
            order = by_value[np.argsort(codes[by_value], kind="stable")]
        codes, values = codes[order], values[order].tolist()
        bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(codes)]
        for s, e in zip(starts, ends, strict=True):
            out[codes[s]] = sep.join(values[s:e])
        return out


class _Spans:
    """Per key: first and last seen, connections; merged chunk by chunk in order of first
    sight (the order the views break ties in)."""

    __slots__ = ("frame",)

    def __init__(self) -> None:
        self.frame: pd.DataFrame | None = None

    def add(self, keys: Any, ts: pd.Series) -> None:
        part = (
            pd.DataFrame({"ts": ts})
            .groupby(keys, sort=False, dropna=True)["ts"]
            .agg(first_seen="min", last_seen="max", connections="size")
        )
        if self.frame is None:
            self.frame = part
        else:
            both = pd.concat([self.frame, part])
            self.frame = both.groupby(level=list(range(both.index.nlevels)), sort=False).agg(
                first_seen=("first_seen", "min"),
                last_seen=("last_seen", "max"),
                connections=("connections", "sum"),
            )

    def result(self) -> pd.DataFrame:
        return self.frame if self.frame is not None else pd.DataFrame()


class ViewBuilder:
    """One per-host view, fed chunk by chunk (already filtered), its table at the end."""

    def __init__(self, view: str, local: LocalNets) -> None:
        if view not in PER_HOST_VIEWS:
            raise ValueError(f"not a per-host view: {view!r}")
        self.view = view
        self.local = local
        self.spans = _Spans()
        self.sets: dict[str, _Pairs] = {}
        self.answered = _Pairs()  # (client, bool): any line answered or unset -> True
        self.ranks = _Pairs()  # (client, best rank in the chunk)

    def _set(self, name: str) -> _Pairs:
        return self.sets.setdefault(name, _Pairs())

    def add(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        view = self.view
        if view == "clients":
            self._add_clients(client_rows(df, self.local))
        elif view == "super-nodes":
            df = client_rows(df, self.local)
            sn = df[(df["peer_role"] == PeerRole.SUPER_NODE).fillna(False).to_numpy(bool)]
            if len(sn):
                self.spans.add(sn["peer"].to_numpy(object), sn["ts"])
                self._set("clients").add(sn["peer"], _texts(sn["client"]))
        elif view == "local-super-nodes":
            self._add_local_super_nodes(df)
        else:
            df = client_rows(df, self.local)
            known = df[df["client_public_ip"].notna().to_numpy(bool)]
            if len(known):
                keys = [
                    known["client"].to_numpy(object),
                    known["client_public_ip"].to_numpy(object),
                ]
                self.spans.add(keys, known["ts"])

    def _add_clients(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        client = df["client"]
        self.spans.add(client.to_numpy(object), df["ts"])
        role = df["peer_role"]
        self._set("stages").add(client, _texts(df["stage"]))
        login = (role == PeerRole.LOGIN_SERVER).fillna(False).to_numpy(bool)
        self._set("login_servers").add(client, _texts(df["peer"][login]))
        self._set("public_ips").add(client, _texts(df["client_public_ip"]))
        self._set("versions").add(client, _texts(df["skype_version"]))
        sn = (role == PeerRole.SUPER_NODE).fillna(False).to_numpy(bool)
        self._set("super_nodes").add(client, df["peer"][sn].dropna())
        # unset counts as answered: a log from before the answered column
        answered = df["answered"].astype("boolean").fillna(True).astype(bool)
        self.answered.add(client, answered[answered])
        tcp = (df["proto"] == "tcp").fillna(False).to_numpy(bool)
        self._set("tcp_ports").add(client, df["id.resp_p"][tcp].dropna().astype(np.int64))
        ranks = df["confidence"].astype(object).map(CONFIDENCE_RANK).dropna()
        if len(ranks):
            best = ranks.groupby(client.loc[ranks.index].to_numpy(object), sort=False).max()
            self.ranks.add(pd.Series(best.index, index=best.index), best.astype(np.int64))

    def _add_local_super_nodes(self, df: pd.DataFrame) -> None:
        """Inside hosts that outside clients probed as a super node, or connected to as a
        peer."""
        role, stage = df["peer_role"], df["stage"]
        probe = ((role == PeerRole.SUPER_NODE) & (stage == Stage.PROBE)).fillna(False)
        inbound = ((role == PeerRole.PEER) & (df["id.orig_h"] == df["peer"])).fillna(False)
        probe, inbound = probe.to_numpy(bool), inbound.to_numpy(bool)
        node = np.concatenate(
            [df["peer"].to_numpy(object)[probe], df["client"].to_numpy(object)[inbound]]
        )
        outside = np.concatenate(
            [df["client"].to_numpy(object)[probe], df["peer"].to_numpy(object)[inbound]]
        )
        ts = pd.concat([df["ts"][probe], df["ts"][inbound]], ignore_index=True)
        keep = self.local.mask(node) & ~self.local.mask(outside)
        if keep.any():
            node_s = pd.Series(node[keep])
            self.spans.add(node_s.to_numpy(object), ts[keep].reset_index(drop=True))
            self._set("outside_clients").add(node_s, _texts(pd.Series(outside[keep])))

    def result(self) -> pd.DataFrame:
        spans = self.spans.result()
        if spans.empty:
            return pd.DataFrame()
        keys = spans.index
        view = self.view
        out = pd.DataFrame(index=range(len(spans)))
        if view == "public-ips":
            out["client"] = keys.get_level_values(0).to_numpy(object)
            out["public_ip"] = keys.get_level_values(1).to_numpy(object)
        else:
            name = {"local-super-nodes": "node", "super-nodes": "super_node"}.get(view, "client")
            out[name] = keys.to_numpy(object)
        out["first_seen"] = spans["first_seen"].array
        out["last_seen"] = spans["last_seen"].array
        out["connections"] = spans["connections"].to_numpy(np.int64)
        if view == "clients":
            self._client_columns(out, keys)
        elif view == "super-nodes":
            out["clients"] = self._set("clients").counts(keys)
        elif view == "local-super-nodes":
            out["outside_clients"] = self._set("outside_clients").counts(keys)
        order = {
            "clients": ["connections"],
            "super-nodes": ["clients", "connections"],
            "local-super-nodes": ["outside_clients"],
            "public-ips": ["first_seen"],
        }[view]
        ascending = view == "public-ips"
        return out.sort_values(order, ascending=ascending, kind="stable").reset_index(drop=True)

    def _client_columns(self, out: pd.DataFrame, keys: pd.Index) -> None:
        stages = self._set("stages").all()
        codes = keys.get_indexer(stages["k"])
        names = []
        for st in STAGES:
            has = np.zeros(len(keys), dtype=bool)
            has[codes[(stages["v"] == st).to_numpy(bool) & (codes >= 0)]] = True
            names.append(np.where(has, st.value + ",", ""))
        out["stages"] = np.char.rstrip(_concat(names), ",").astype(object)
        out["super_nodes"] = self._set("super_nodes").counts(keys)
        out["login_servers"] = self._set("login_servers").joined(keys)
        out["public_ips"] = self._set("public_ips").joined(keys)
        out["versions"] = self._set("versions").joined(keys)
        ranks = self.ranks.all()
        best = np.full(len(keys), -1, dtype=np.int64)
        if len(ranks):
            codes = keys.get_indexer(ranks["k"])
            ok = codes >= 0
            np.maximum.at(best, codes[ok], ranks["v"].to_numpy(np.int64)[ok])
        out["confidence"] = [_RANK_NAMES.get(int(b), "") for b in best]
        answered = np.zeros(len(keys), dtype=bool)
        ans = self.answered.all()
        if len(ans):
            codes = keys.get_indexer(ans["k"])
            answered[codes[codes >= 0]] = True
        out["status"] = np.where(answered, "answered", "blocked").astype(object)
        ports = self._set("tcp_ports").joined(keys, numeric=True)
        out["tcp_ports_tried"] = [p if not a else "" for p, a in zip(ports, answered, strict=True)]


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = out + p.astype(object)
    return out.astype(str)


def per_host_view(
    chunks: Iterable[pd.DataFrame], view: str, local_nets: Iterable[str]
) -> pd.DataFrame:
    """*view* over *chunks* (skype.log frames, already filtered)."""
    builder = ViewBuilder(view, LocalNets(local_nets))
    for df in chunks:
        builder.add(df)
    return builder.result()


def distinct_joined(keys: pd.Index, owners: pd.Series, values: pd.Series, sep: str) -> list[str]:
    """Per key of *keys*: the distinct *values* (non-missing) of the rows that *owners* gives
    to it, sorted and joined with *sep*."""
    pairs = _Pairs()
    pairs.add(owners, values.dropna())
    return pairs.joined(keys, sep)
