"""``skypewatch report``: one self-contained HTML file about the Skype found in some logs.

Per-client timeline of stages, super-node fan-out over time, top talkers, a table of clients,
and the notices with the evidence behind each (from notice.log when given, else computed by
the correlator from skype.log).  Plots are PNGs drawn with matplotlib and embedded as data
URIs, so the file opens anywhere without a network; ``--png DIR`` also writes them alone.
With no detections the report says so plainly and draws nothing.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import STDOUT, write_bytes, write_text
from ..correlation.engine import CorrelationEngine, EngineOptions
from ..correlation.hosts import HostCorrelatorOptions
from ..correlation.localnets import DEFAULT_LOCAL_NETS, LocalNets
from ..correlation.notices import for_reading
from ..correlation.sources import SKYPE_REQUIRED
from ..errors import SkypewatchError
from ..skypelog import CONFIDENCES, PEER_ROLES, STAGES, Confidence, PeerRole, SkypeRecord
from ..zeeklog import Lenient
from .logs import iter_log, log_files
from .plots import fanout, timeline, top_talkers
from .views import client_rows, distinct_joined

MAX_EVIDENCE_ROWS = 12
MAX_TABLE_ROWS = 2_000
"""Rows of the notice and client tables: a page a browser still scrolls (100,000 clients made
a 58 MB file); what is left out is counted, and named where to find it whole."""


@dataclass(slots=True)
class ReportResult:
    html: Path
    rows: int = 0
    clients: int = 0
    notices: int = 0
    pngs: list[Path] = field(default_factory=list)


def _read(paths, lenient: Lenient) -> tuple[pd.DataFrame, pd.DataFrame | None, int]:
    """skype.log and notice.log chunks among *paths*, read leniently (bad lines reported and
    skipped; one LogReadError if no file can be read at all)."""
    skype, notices, files = [], [], 0
    names = log_files(paths)
    if not names:
        raise SkypewatchError("no log files among the arguments")
    for f in names:
        files += 1
        for chunk in iter_log(f, lenient=lenient):
            kind = chunk.attrs["zeek"].kind  # by #path, or else by its columns
            if kind == "skype":
                skype.append(chunk)
            elif kind == "notice":
                notices.append(chunk)
    lenient.done()
    sk = pd.concat(skype, ignore_index=True) if skype else pd.DataFrame()
    nt = pd.concat(notices, ignore_index=True) if notices else None
    if not sk.empty:
        usable = sk["ts"].notna() & sk["client"].notna() & sk["stage"].notna()
        if not usable.all():
            lenient.report(
                f"{int((~usable).sum())} skype.log line(s) without ts, client or stage"
                " left out of the report"
            )
            sk = sk[usable].reset_index(drop=True)
    return sk, nt, files


def _computed_notices(df: pd.DataFrame, local_nets: tuple[str, ...]) -> pd.DataFrame:
    """What the correlator (with *local_nets* inside) says of *df*'s lines, fed in time order."""
    engine = CorrelationEngine(
        EngineOptions(join_tcp=False, correlator=HostCorrelatorOptions(local_nets=local_nets))
    )
    out = []
    for rec in skype_records(df):
        out += engine.record(rec)
    out += engine.flush()
    if not out:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([n.ts for n in out], unit="s", utc=True),
            "note": [n.note for n in out],
            "msg": [n.msg for n in out],
            "sub": [n.sub for n in out],
            "src": [n.src for n in out],
            "n": [n.n for n in out],
        }
    )


def skype_records(df: pd.DataFrame) -> Iterator[SkypeRecord]:
    """*df*'s lines as the correlator's records, in time order (stable), converted column by
    column: the records ``record_from_row`` makes of the lines it takes, and no record for a
    line it refuses (a required cell unset; an unknown stage, role or confidence)."""
    usable = np.ones(len(df), dtype=bool)
    for name in SKYPE_REQUIRED:
        usable &= df[name].notna().to_numpy(bool)
    for name, allowed in (
        ("confidence", CONFIDENCES),
        ("stage", STAGES),
        ("peer_role", PEER_ROLES),
    ):
        usable &= df[name].isin([str(a) for a in allowed]).fillna(False).to_numpy(bool)
    d = df[usable].sort_values("ts", kind="stable")

    def cells(name: str, default: object = None) -> list:
        """The column's cells, a falsy one (unset, empty) as *default*."""
        col = d[name]
        if isinstance(col.dtype, pd.StringDtype):  # unset is None here, and "" is falsy
            return [v or default for v in col.to_numpy(object, na_value=None).tolist()]
        return [default if _unset(v) else v for v in col.astype(object).tolist()]

    def seconds(s: pd.Series) -> list:
        secs = (s.array.as_unit("ns").asi8 / 1e9).astype(object)
        secs[s.isna().to_numpy(bool)] = 0.0
        return secs.tolist()

    sets: dict[tuple, frozenset[str]] = {}  # a log has few distinct signature sets

    def sig_set(v: object) -> frozenset[str]:
        if v is None:
            return frozenset()
        key: tuple[object, ...] = tuple(v)  # type: ignore[arg-type]
        got = sets.get(key)
        if got is None:
            got = sets[key] = frozenset(map(str, key))
        return got

    sigs = [sig_set(v) for v in cells("signatures")]
    answered = d["answered"].astype("boolean").fillna(True).astype(bool).tolist()
    columns = (
        seconds(d["ts"]),
        [str(v) for v in d["uid"].tolist()],
        [str(v) for v in d["id.orig_h"].tolist()],
        d["id.orig_p"].astype("int64").tolist(),
        [str(v) for v in d["id.resp_h"].tolist()],
        d["id.resp_p"].astype("int64").tolist(),
        [str(v) for v in cells("proto", "udp")],
        seconds(d["duration"]),
        [str(v) for v in d["stage"].tolist()],
        sigs,
        [str(v) for v in d["client"].tolist()],
        [str(v) for v in d["peer"].tolist()],
        [str(v) for v in d["peer_role"].tolist()],
        cells("client_public_ip"),
        cells("skype_version"),
        d["confidence"].astype(object).tolist(),
        [str(v) for v in cells("evidence", "")],
        answered,
    )
    for values in zip(*columns, strict=True):
        yield SkypeRecord(*values)


def _unset(v: object) -> bool:
    """Missing (None, NA, NaN) or empty text: what ``row.get(name) or default`` replaces."""
    return (
        v is None
        or v is pd.NA
        or (isinstance(v, float) and v != v)
        or (isinstance(v, str) and not v)
    )


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#1a202c;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #e2e8f0}
.kpis{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.kpi{background:#f7fafc;border:1px solid #e2e8f0;border-radius:6px;padding:.6em 1em}
.kpi b{display:block;font-size:1.5em}table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{border-bottom:1px solid #edf2f7;padding:.35em .5em;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f7fafc}.note{font-weight:600;overflow-wrap:normal;white-space:nowrap}
.when{white-space:nowrap;overflow-wrap:normal}.muted{color:#718096}
img{max-width:100%}.empty{font-size:1.2em;padding:2em;background:#f7fafc;border-radius:6px}
code{font-size:.9em}
"""


def build_report(
    paths,
    out: str | Path,
    png_dir: str | Path | None = None,
    title: str = "Legacy Skype on the network",
    lenient: Lenient | None = None,
    local_nets: tuple[str, ...] = DEFAULT_LOCAL_NETS,
) -> ReportResult:
    """Read *paths* leniently (bad lines reported on stderr unless *lenient* says otherwise)
    and write the report.  *local_nets* are inside (views.py): an outside host that only
    reached inside ones is no client here, as in notice.log and ``query``."""
    out = Path(out)
    df, notices, files = _read(paths, lenient if lenient is not None else Lenient())
    result = ReportResult(html=out, rows=len(df))
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=muted>{files} log file(s) read; generated by skypewatch</p>",
    ]
    if df.empty:
        parts.append("<p class=empty>No Skype detections in these logs: nothing to plot.</p>")
        _write(out, title, parts)
        return result
    if notices is None:
        notices = _computed_notices(df, local_nets)
        notice_source = "computed by the correlator from skype.log"
    else:
        notice_source = "from notice.log"
    if "ts" in notices.columns:  # several notice.logs, or settle order: the table reads by time
        notices = notices.sort_values("ts", kind="stable", na_position="last")
        notices = notices.reset_index(drop=True)
    own = client_rows(df, LocalNets(local_nets)).reset_index(drop=True)
    clients = _clients(own)
    result.clients = len(clients)
    result.notices = len(notices)
    parts += _summary(df, own, clients, notices)
    parts += _plot_sections(own, png_dir, result.pngs)
    parts.append("<h2>Notices</h2>")
    parts.append(
        f"<p class=muted>{len(notices)} notice(s){_by_note(notices)}, "
        f"{html.escape(notice_source)}.</p>"
    )
    parts.append(_notice_table(notices.head(MAX_TABLE_ROWS), df))
    parts += _left_out(
        len(notices),
        "notices",
        "the earliest are shown; notice.log has them all"
        + ("" if notice_source == "from notice.log" else " (skypewatch correlate LOG -o DIR)"),
    )
    parts.append("<h2>Clients</h2>")
    parts.append(_table(clients.head(MAX_TABLE_ROWS)))
    parts += _left_out(
        len(clients),
        "clients",
        "the busiest are shown; skypewatch query --view clients LOG lists every one",
    )
    _write(out, title, parts)
    return result


def _summary(
    df: pd.DataFrame, own: pd.DataFrame, clients: pd.DataFrame, notices: pd.DataFrame
) -> list[str]:
    """The key figures and the time span the logs cover; clients and the servers they
    reached from *own*, the lines about their clients (views.client_rows)."""
    span = f"{df['ts'].min():%Y-%m-%d %H:%M:%S} to {df['ts'].max():%Y-%m-%d %H:%M:%S} UTC"
    kpis = [
        ("clients", len(clients)),
        ("Skype connections", len(df)),
        (Confidence.CONFIRMED, int((df["confidence"] == Confidence.CONFIRMED).sum())),
        ("super nodes", own.loc[own["peer_role"] == PeerRole.SUPER_NODE, "peer"].nunique()),
        ("login servers", own.loc[own["peer_role"] == PeerRole.LOGIN_SERVER, "peer"].nunique()),
        ("notices", len(notices)),
    ]
    return [
        "<div class=kpis>"
        + "".join(f"<div class=kpi><b>{v}</b>{html.escape(k)}</div>" for k, v in kpis)
        + "</div>",
        f"<p class=muted>{html.escape(span)}</p>",
    ]


def _plot_sections(df: pd.DataFrame, png_dir: str | Path | None, pngs: list[Path]) -> list[str]:
    """Each plot under its heading, embedded as a data URI (and written to *png_dir*, its
    path added to *pngs*, when given)."""
    plots = (
        []
        if df.empty  # only outside hosts reaching inside ones: no client to draw
        else [
            ("timeline", "Timeline of start-up stages", timeline(df)),
            ("fanout", "Super-node fan-out", fanout(df)),
            ("top-talkers", "Top talkers", top_talkers(df)),
        ]
    )
    if png_dir is not None:
        Path(png_dir).mkdir(parents=True, exist_ok=True)
    parts = []
    for name, heading, png in plots:
        if png is None:
            continue
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(
            f'<img alt="{html.escape(heading)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}">'
        )
        if png_dir is not None:
            p = Path(png_dir) / f"{name}.png"
            write_bytes(p, png)
            pngs.append(p)
    return parts


def _clients(df: pd.DataFrame) -> pd.DataFrame:
    """One row per client (every line has one: see _read), busiest first; computed in bulk
    (views.py), the same table as a loop over the clients gave."""
    client = df["client"]
    spans = df.groupby(client, sort=True)["ts"].agg(["min", "max", "size"])
    keys = spans.index
    out = pd.DataFrame(index=range(len(keys)))
    out["client"] = keys.to_numpy(object)
    out["first seen"] = spans["min"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(object)
    out["last seen"] = spans["max"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(object)
    out["connections"] = spans["size"].to_numpy(np.int64)
    stage = df["stage"]
    has = [_any_per(keys, client, stage == s) for s in STAGES]
    out["stages"] = [
        ", ".join(s for s, h in zip(STAGES, row, strict=True) if h)
        for row in zip(*has, strict=True)
    ]
    sn = (df["peer_role"] == PeerRole.SUPER_NODE).fillna(False).to_numpy(bool)
    out["super nodes"] = (
        df["peer"][sn].groupby(client[sn]).nunique().reindex(keys, fill_value=0).to_numpy(np.int64)
    )
    out["public IP"] = distinct_joined(keys, client, df["client_public_ip"], ", ")
    out["version"] = distinct_joined(keys, client, df["skype_version"], ", ")
    # "blocked" when nothing any of the client's connections reached answered (logs written
    # before the answered column count as answered)
    answered = _any_per(keys, client, df["answered"].astype("boolean").fillna(True))
    out["status"] = np.where(answered, "answered", "blocked").astype(object)
    conf = df["confidence"]
    out["best"] = np.where(
        _any_per(keys, client, conf == Confidence.CONFIRMED),
        Confidence.CONFIRMED.value,
        np.where(
            _any_per(keys, client, conf == Confidence.LIKELY),
            Confidence.LIKELY.value,
            Confidence.POSSIBLE.value,
        ),
    ).astype(object)
    return out.sort_values("connections", ascending=False)


def _any_per(keys: pd.Index, owners: pd.Series, flags: pd.Series) -> np.ndarray:
    """Per key of *keys*: whether any of its rows' *flags* is true (missing is not)."""
    hit = flags.fillna(False).to_numpy(bool)
    out = np.zeros(len(keys), dtype=bool)
    codes = keys.get_indexer(owners[hit])
    out[codes[codes >= 0]] = True
    return out


def _by_note(notices: pd.DataFrame) -> str:
    """ " (Note_A 3, Note_B 1)": the count of each note, most frequent first."""
    if notices.empty or "note" not in notices.columns:
        return ""
    counts = notices["note"].map(_text).value_counts(sort=True)
    return " (" + ", ".join(f"{html.escape(k)} {v}" for k, v in counts.items()) + ")"


def _left_out(total: int, what: str, how: str) -> list[str]:
    """The line under a table cut at MAX_TABLE_ROWS; nothing when nothing was cut."""
    if total <= MAX_TABLE_ROWS:
        return []
    return [
        f"<p class=muted>+{total - MAX_TABLE_ROWS} more {what} not shown: {html.escape(how)}.</p>"
    ]


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _notice_table(notices: pd.DataFrame, df: pd.DataFrame) -> str:
    if notices.empty:
        return "<p>No host's evidence adds up to a notice.</p>"
    # the first line of each uid, as text per column (a dict: one lookup per uid named)
    first = df.drop_duplicates("uid")
    by_uid = {
        u: (stage, peer, conf, ev)
        for u, stage, peer, conf, ev in zip(
            first["uid"].to_numpy(object),
            first["stage"].to_numpy(object),
            first["peer"].to_numpy(object),
            first["confidence"].to_numpy(object),
            first["evidence"].to_numpy(object),
            strict=True,
        )
    }
    rows = []
    for n in notices.itertuples(index=False):
        sub = _text(getattr(n, "sub", None))
        uids = (
            [u.split("(")[0] for u in sub.split("uids=")[-1].split(",")] if "uids=" in sub else []
        )
        evidence = []
        for uid in uids[:MAX_EVIDENCE_ROWS]:
            r = by_uid.get(uid)
            if r is not None:
                stage, peer, conf, ev = (html.escape(str(v)) for v in r)
                evidence.append(
                    f"<li><code>{html.escape(uid)}</code> {stage} {peer} ({conf}): {ev}</li>"
                )
        more = len(uids) - len(evidence)
        if more > 0:
            evidence.append(f"<li class=muted>… {more} more</li>")
        ts = getattr(n, "ts", None)
        rows.append(
            f"<tr><td class=when>{html.escape(f'{ts:%Y-%m-%d %H:%M:%S}' if pd.notna(ts) else '')}"
            "</td>"
            f"<td class=note>{html.escape(_text(n.note))}</td>"
            f"<td>{html.escape(for_reading(_text(n.msg)))}<br>"
            f"<span class=muted>{html.escape(for_reading(sub))}</span>"
            f"<ul>{''.join(evidence)}</ul></td></tr>"
        )
    return (
        "<table><tr><th>time</th><th>note</th><th>finding and evidence</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _text(v: object) -> str:
    """A cell as text: an unset one (a notice.log that excluded the column) is empty."""
    return "" if v is None or v is pd.NA or v is pd.NaT else str(v)


def _write(out: Path, title: str, parts: list[str]) -> None:
    if str(out) != STDOUT:
        out.parent.mkdir(parents=True, exist_ok=True)
    write_text(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n",
    )
