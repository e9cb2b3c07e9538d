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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..atomic import replacing, write_text
from ..correlation.localnets import DEFAULT_LOCAL_NETS, LocalNets
from ..errors import SkypewatchError
from ..skypelog import CONFIDENCE_RANK
from ..zeeklog import Lenient
from .csvcells import csv_text
from .logs import iter_log, log_files
from .views import ViewBuilder

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
        if self.networks:  # each distinct client looked up once (localnets.py)
            keep &= LocalNets([str(n) for n in self.networks]).mask(df["client"])
        return df[keep.fillna(False).astype(bool)]


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


def run_query(
    paths: Iterable[str | Path],
    view: str,
    flt: Filter,
    local_nets: Iterable[str] = DEFAULT_LOCAL_NETS,
    lenient: Lenient | None = None,
) -> pd.DataFrame:
    """*view* of the skype.log lines among *paths* that *flt* keeps; *local_nets* says which
    hosts are inside (skypewatch.correlation.localnets; views.py for what that changes)."""
    if view not in VIEWS:
        raise SkypewatchError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
    lines: list[pd.DataFrame] = []
    builder = None if view == "lines" else ViewBuilder(view, LocalNets(local_nets))
    for chunk in skype_chunks(paths, lenient=lenient):
        df = flt.apply(chunk)
        if df.empty:
            continue
        if builder is None:
            lines.append(df)
        else:
            builder.add(df)
    if builder is None:
        return pd.concat(lines, ignore_index=True) if lines else pd.DataFrame()
    return builder.result()


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
