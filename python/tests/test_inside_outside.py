"""Inside and outside (--local-nets, Zeek's Site::local_nets): a line of an outside client that
reached an inside peer is evidence about the inside host, not an outside client.  Clients,
super nodes and local super nodes mean the same in analyze's summary, query, report, correlate
and notice.log.  Expected figures are derived from skype.log read as plain text and from
ipaddress, never from the code under test."""

from __future__ import annotations

import ipaddress
import re

import pytest
from conftest import shared_capture
from skypelog_gen import plain_lines

from skypewatch.analyst.query import Filter, run_query
from skypewatch.analyst.report import build_report
from skypewatch.analyze import analyze, format_summary
from skypewatch.cli import main
from skypewatch.correlation import HostCorrelatorOptions
from skypewatch.correlation.localnets import DEFAULT_LOCAL_NETS

NETS = [ipaddress.ip_network(n) for n in DEFAULT_LOCAL_NETS]


def inside(a: str, nets=NETS) -> bool:
    return a != "-" and any(ipaddress.ip_address(a) in n for n in nets)


@pytest.fixture(scope="module")
def irc(tmp_path_factory):
    out = tmp_path_factory.mktemp("irc")
    summary = analyze([shared_capture("skype", "SkypeIRC.cap")], out)
    return out, summary


def _expected(lines: list[dict[str, str]], nets=NETS) -> tuple[set, set, set]:
    """(clients, super nodes reached by them, outside hosts left out) by the rule."""
    own = [ln for ln in lines if inside(ln["client"], nets) or not inside(ln["peer"], nets)]
    clients = {ln["client"] for ln in own}
    nodes = {ln["peer"] for ln in own if ln["peer_role"] == "super_node"}
    left_out = {ln["client"] for ln in lines} - clients
    return clients, nodes, left_out


def test_skypeirc_counts_its_one_local_client(irc):
    out, summary = irc
    lines = plain_lines(out / "skype.log")
    clients, nodes, left_out = _expected(lines)
    local = {c for c in clients if inside(c)}
    # the data: one inside host ran Skype; outside hosts probed it (its own UDP port)
    assert len(local) == 1 and clients == local
    (host,) = local
    assert left_out and all(not inside(c) for c in left_out)
    assert host not in nodes  # it was probed by outsiders, but is no super node of a client
    assert any(ln["client"] in left_out and ln["peer"] == host for ln in lines)

    text = format_summary(summary)
    assert f"clients ({len(clients)}):" in text
    assert all(c not in text.split("super nodes")[0] for c in left_out)
    assert f"super nodes ({len(nodes)}):" in text

    q = run_query([out / "skype.log"], "clients", Filter())
    assert set(q["client"]) == clients
    sn = run_query([out / "skype.log"], "super-nodes", Filter())
    assert set(sn["super_node"]) == nodes
    relays = run_query([out / "skype.log"], "local-super-nodes", Filter())
    assert relays["node"].tolist() == [host]
    assert relays["outside_clients"].iloc[0] == len(
        {ln["client"] for ln in lines if ln["peer"] == host and not inside(ln["client"])}
    )

    r = build_report([out], out / "r.html")
    assert r.clients == len(clients)
    html = r.html.read_text()
    kpi = re.search(r"<b>(\d+)</b>super nodes", html)
    assert kpi and int(kpi.group(1)) == len(nodes)

    notices = [ln for ln in plain_lines(out / "notice.log")]
    assert {n["src"] for n in notices} <= clients | {host}


def test_local_nets_option_moves_the_line(irc, tmp_path, capsys):
    """With only 10.0.0.0/8 inside, the Skype host is outside too: every line names its client
    (nothing is an outside host reaching an inside one), and there is no local super node."""
    out, _ = irc
    nets = [ipaddress.ip_network("10.0.0.0/8")]
    lines = plain_lines(out / "skype.log")
    clients, nodes, left_out = _expected(lines, nets)
    assert not left_out and len(clients) > 1
    s = analyze(
        [shared_capture("skype", "SkypeIRC.cap")],
        tmp_path / "a",
        correlator_options=HostCorrelatorOptions(local_nets=("10.0.0.0/8",)),
    )
    strong = {ln["client"] for ln in lines if ln["confidence"] != "possible"}
    assert f"clients ({len(strong)}):" in format_summary(s)
    log = str(out / "skype.log")
    for view, column, expect in (
        ("clients", "client", clients),
        ("super-nodes", "super_node", nodes),
    ):
        assert (
            main(["query", log, "--view", view, "--format", "csv", "--local-nets", "10.0.0.0/8"])
            == 0
        )
        got = capsys.readouterr().out.splitlines()
        header = got[0].split(",")
        assert {row.split(",")[header.index(column)] for row in got[1:]} == expect
    assert main(["query", log, "--view", "local-super-nodes", "--local-nets", "10.0.0.0/8"]) == 0
    assert "no matching" in capsys.readouterr().out
    html = tmp_path / "r.html"
    assert main(["report", log, "-o", str(html), "--local-nets", "10.0.0.0/8"]) == 0
    assert f"{len(clients)} client(s)" in capsys.readouterr().out
    # 'private' keeps the default and adds to it: the same as no option
    assert main(["query", log, "--format", "csv", "--local-nets", "private,198.18.0.0/15"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(_expected(lines)[0])


@pytest.mark.parametrize("cmd", ["analyze", "query", "report", "correlate"])
def test_bad_local_nets_is_one_line_exit_2(cmd, tmp_path, capsys):
    log = tmp_path / "skype.log"
    log.write_text("")
    assert main([cmd, str(log), "--local-nets", "10.0.0.0/33"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "10.0.0.0/33" in err[0] and "Traceback" not in err[0]


def test_synth_and_unit_addresses_are_consistent():
    """Synthesized captures draw inside hosts from 10/8 and outside ones from space routed in
    2006, never from the documentation ranges Zeek counts as private: their notices do not
    change with the default."""
    import random

    from skypewatch.synth.addresses import Addresses

    a = Addresses(random.Random(3))
    outside = [ipaddress.ip_address(a.public()) for _ in range(2000)]
    assert not any(inside(str(ip)) for ip in outside)
