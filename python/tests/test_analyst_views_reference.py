"""The vectorised analyst views (skypewatch.analyst.views, report's client table) give what the
per-client loops they replaced gave (tests/analyst_reference.py, a copy of that code): on the
skype.log `skypewatch analyze` writes for the shared captures and synthesized scenarios, and
on generated logs with many clients, dropped columns, unset cells and ties in sort order.

The reference knows nothing of inside and outside for these views, so the new code runs with
no local networks there (every line counts); with local networks, it equals the reference run
on the lines `client_rows` keeps -- and that rule is checked on its own, row by row."""

from __future__ import annotations

from pathlib import Path

import analyst_reference as ref
import pandas as pd
import pytest
import skypelog_gen as gen
from conftest import shared_capture

from skypewatch.analyst.query import Filter, run_query, skype_chunks
from skypewatch.analyst.report import _clients as report_clients
from skypewatch.analyst.report import _computed_notices as computed_notices
from skypewatch.analyst.report import _notice_table as notice_table
from skypewatch.analyst.report import _read as report_read
from skypewatch.analyst.views import client_rows, per_host_view
from skypewatch.analyze import analyze
from skypewatch.correlation.localnets import DEFAULT_LOCAL_NETS, LocalNets
from skypewatch.synth.scenarios import SCENARIOS, SynthOptions, synthesize
from skypewatch.zeeklog import Lenient

VIEWS = ("clients", "super-nodes", "local-super-nodes", "public-ips")
NO_NETS: tuple[str, ...] = ()


def _same(new: pd.DataFrame, old: pd.DataFrame, what: str) -> None:
    assert list(new.columns) == list(old.columns), what
    assert len(new) == len(old), what
    for col in old.columns:
        a = [None if pd.isna(v) else v for v in new[col].tolist()]
        b = [None if pd.isna(v) else v for v in old[col].tolist()]
        assert a == b, f"{what}: column {col!r} differs"


def _check_all(chunks: list[pd.DataFrame], what: str) -> None:
    for view in VIEWS:
        nets = DEFAULT_LOCAL_NETS if view == "local-super-nodes" else NO_NETS
        _same(
            per_host_view(chunks, view, nets), ref.query_view(chunks, view, nets), f"{what} {view}"
        )
        # with the default networks: the reference over the lines that count
        local = LocalNets(DEFAULT_LOCAL_NETS)
        kept = chunks if view == "local-super-nodes" else [client_rows(c, local) for c in chunks]
        _same(
            per_host_view(chunks, view, DEFAULT_LOCAL_NETS),
            ref.query_view(kept, view, DEFAULT_LOCAL_NETS),
            f"{what} {view} (local nets)",
        )


def _check_report(log: Path, what: str) -> None:
    df, _, _ = report_read([log], Lenient(report=lambda _m: None))
    if df.empty:
        return
    _same(
        report_clients(df).reset_index(drop=True),
        ref.report_clients(df).reset_index(drop=True),
        f"{what} report clients",
    )
    notices = computed_notices(df, DEFAULT_LOCAL_NETS)
    _same(notices, ref.report_computed_notices(df), f"{what} report notices")
    assert notice_table(notices, df) == ref.report_notice_table(notices, df), what


# -- the shared captures and synthesized scenarios -------------------------------------------


@pytest.fixture(scope="module")
def capture_logs(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name in ("SkypeIRC.cap", "skype.pcap"):
        d = tmp_path_factory.mktemp(name.replace(".", "-"))
        analyze([shared_capture("skype", name)], d)
        out[name] = d / "skype.log"
    return out


@pytest.mark.parametrize("name", ["SkypeIRC.cap", "skype.pcap"])
def test_shared_captures(capture_logs, name):
    log = capture_logs[name]
    chunks = list(skype_chunks([log]))
    assert sum(map(len, chunks)) > 0
    _check_all(chunks, name)
    _check_all(list(skype_chunks([log], chunksize=7)), f"{name} in chunks of 7")
    _check_report(log, name)


@pytest.fixture(scope="module")
def synth_logs(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("synth")
    logs = []
    for name in sorted(SCENARIOS):
        d = base / name
        d.mkdir()
        cap = d / "c.pcap"
        synthesize(name, cap, SynthOptions(clients=3, seed=5, background=20))
        analyze([cap], d)
        logs.append(d / "skype.log")
    return logs


def test_synth_scenarios(synth_logs):
    rows = 0
    for log in synth_logs:
        chunks = list(skype_chunks([log]))
        rows += sum(map(len, chunks))
        _check_all(chunks, log.parent.name)
        _check_report(log, log.parent.name)
    assert rows > 0


# -- generated logs ------------------------------------------------------------------------


SHAPES = {
    "plain": gen.LogShape(clients=150, peers=200),
    "unset": gen.LogShape(clients=120, peers=200, unset=0.3, odd_values=True),
    "dropped": gen.LogShape(
        clients=120, peers=200, drop=("client_public_ip", "skype_version", "answered"), unset=0.1
    ),
    "one-line-each": gen.LogShape(clients=150, peers=120, max_lines=1),  # ties everywhere
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("seed", [1, 2])
def test_generated_logs(tmp_path, shape, seed):
    log = gen.write(tmp_path, SHAPES[shape], seed)
    whole = list(skype_chunks([log]))
    _check_all(whole, f"{shape}/{seed}")
    if seed == 1:  # merged across chunks as in one
        _check_all(list(skype_chunks([log], chunksize=300)), f"{shape}/{seed} in chunks")
    _check_report(log, f"{shape}/{seed}")
    # the generated logs do hold ties and both kinds of host
    clients = run_query([log], "clients", Filter(), NO_NETS)
    assert clients["connections"].duplicated().sum() > len(clients) // 2
    local = LocalNets(DEFAULT_LOCAL_NETS)
    assert 0 < local.mask(clients["client"]).sum() < len(clients)


def test_unset_times_in_one_chunk(tmp_path):
    """Unset ts cells (the reader lets `-` through as NaT): min and max skip them."""
    log = gen.write(tmp_path, gen.LogShape(clients=120, peers=200, unset=0.3, unset_ts=True), 3)
    chunks = list(skype_chunks([log]))
    assert chunks[0]["ts"].isna().any()
    _check_all(chunks, "unset ts")


def test_client_rows_rule_line_by_line(tmp_path):
    """A line is left out of the client views exactly when its client is outside and its
    peer inside (checked against ipaddress, one line at a time)."""
    import ipaddress

    log = gen.write(tmp_path, gen.LogShape(clients=300), 4)
    df = pd.concat(skype_chunks([log]), ignore_index=True)
    nets = [ipaddress.ip_network(n) for n in DEFAULT_LOCAL_NETS]

    def inside(a: object) -> bool:
        return isinstance(a, str) and any(ipaddress.ip_address(a) in n for n in nets)

    kept = client_rows(df, LocalNets(DEFAULT_LOCAL_NETS))
    expect = [inside(c) or not inside(p) for c, p in zip(df["client"], df["peer"], strict=True)]
    assert kept.index.tolist() == [i for i, k in enumerate(expect) if k]
    assert 0 < len(kept) < len(df)


@pytest.mark.parametrize("shape", ["unset", "dropped"])
def test_report_records_in_bulk_are_the_per_line_records(tmp_path, shape):
    """The report's notices come from records built column by column: the same records, in the
    same order, as record_from_row makes of each line it takes (the per-line path)."""
    from skypewatch.analyst.report import skype_records
    from skypewatch.correlation.sources import record_from_row

    log = gen.write(tmp_path, SHAPES[shape], 7)
    df = pd.concat(skype_chunks([log]), ignore_index=True)
    expect = []
    for row in df.sort_values("ts", kind="stable").to_dict("records"):
        plain = {k: _plain(v) for k, v in row.items()}
        try:
            expect.append(record_from_row(plain))
        except (KeyError, ValueError, TypeError):
            continue
    got = list(skype_records(df))
    assert got == expect
    assert 0 < len(got) <= len(df)


def _plain(v: object) -> object:
    """A cell as the per-line reader gives it (report.py's former _plain)."""
    if isinstance(v, pd.Timestamp | pd.Timedelta):
        return v.value / 1e9
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and v != v:
        return None
    return v


def test_client_filter_matches_ipaddress(tmp_path):
    """--client keeps the lines whose client ipaddress puts in one of the networks."""
    import ipaddress

    from skypewatch.analyst.query import parse_network

    log = gen.write(tmp_path, gen.LogShape(clients=300, unset=0.1), 8)
    df = pd.concat(skype_chunks([log]), ignore_index=True)
    nets = [
        parse_network("10.0.0.0/9"),
        parse_network("86.0.0.0/8"),
        parse_network("2001:db8::/32"),
    ]
    kept = Filter(networks=nets).apply(df)

    def match(a: object) -> bool:
        return isinstance(a, str) and any(ipaddress.ip_address(a) in n for n in nets)

    assert kept.index.tolist() == [i for i, c in enumerate(df["client"]) if match(c)]
    assert 0 < len(kept) < len(df)
