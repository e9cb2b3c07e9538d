"""The synthesizer: deterministic bytes, truthful ground truth, committed traces reproducible."""

from __future__ import annotations

import hashlib

import pytest
from conftest import REPO

from skypewatch.analyze import analyze
from skypewatch.cli import main
from skypewatch.cli.synth import TRACE_SET, trace_name
from skypewatch.synth.scenarios import SCENARIOS, SynthOptions, synthesize
from skypewatch.synth.truth import UNOBSERVABLE, read_truth


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    opts = SynthOptions(clients=2, seed=7, background=50)
    a = synthesize("nat", tmp_path / "a.pcap", opts)
    b = synthesize("nat", tmp_path / "b.pcap", opts)
    c = synthesize("nat", tmp_path / "c.pcap", SynthOptions(clients=2, seed=8, background=50))
    assert _digest(a.pcap) == _digest(b.pcap) != _digest(c.pcap)
    assert _digest(a.truth) == _digest(b.truth)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_analyze_finds_exactly_the_truth(tmp_path, scenario):
    """Every Skype connection found, at its stage; nothing in the background flagged."""
    r = synthesize(
        scenario,
        tmp_path / "s.pcap",
        SynthOptions(clients=3, seed=11, background=150, duration=150),
    )
    truth = {t.key: t for t in read_truth(r.truth)}
    summary = analyze([r.pcap], tmp_path / "out", keep_records=True)
    got = {(x.proto, x.orig_h, x.orig_p, x.resp_h, x.resp_p): x for x in summary.records}
    observable = {k: t for k, t in truth.items() if t.skype and t.stage != UNOBSERVABLE}
    assert observable, "the scenario produced Skype traffic"
    missed = sorted(set(observable) - set(got))
    flagged = sorted(k for k in got if k not in truth or not truth[k].skype)
    assert missed == [] and flagged == []
    for k, t in observable.items():
        assert got[k].stage == t.stage, (k, got[k].signatures)
        assert got[k].client == t.client
    background = [t for t in truth.values() if not t.skype]
    assert len(background) > 100, "the background mix is really there"
    kinds = {n.note for n in summary.notices}
    if scenario == "local-supernode":
        # the relay is reported as such, and -- being a Skype node itself -- as a client
        node = {t.resp_h for t in observable.values() if t.proto == "udp"}
        assert kinds == {"Skype::Local_Super_Node", "Skype::Client_Detected"}
        assert {n.src for n in summary.notices} == node and len(node) == 1
    elif scenario == "all-blocked":
        _assert_blocked(observable, got, summary.notices)
    else:
        clients = {t.client for t in observable.values()}
        assert {n.src for n in summary.notices} == clients
        assert kinds == {"Skype::Login_Sequence"}


def _assert_blocked(observable, got, notices) -> None:
    """Nothing answered: every probe and fallback SYN at likely or better, and one
    Blocked_Startup per client naming how many super nodes it probed and the ports it tried."""
    assert all(got[k].confidence in ("likely", "confirmed") for k in observable)
    assert not any(got[k].answered for k in observable)
    clients = sorted({t.client for t in observable.values()})
    assert sorted(n.src for n in notices) == clients
    assert {n.note for n in notices} == {"Skype::Blocked_Startup"}
    for n in notices:
        mine = [t for t in observable.values() if t.client == n.src]
        probed = {t.resp_h for t in mine if t.proto == "udp"}
        ports = ",".join(str(p) for p in sorted({t.resp_p for t in mine if t.proto == "tcp"}))
        assert len(probed) >= 12 and {80, 443} <= {t.resp_p for t in mine if t.proto == "tcp"}
        assert f"probed {len(probed)} super nodes over UDP" in n.msg, n.msg
        assert f"tried TCP ports {ports};" in n.msg, n.msg
        first = min(got[(t.proto, t.orig_h, t.orig_p, t.resp_h, t.resp_p)].ts for t in mine)
        assert f"first={first:.6f}" in n.sub and "last=" in n.sub


def test_committed_traces_are_reproducible(tmp_path):
    assert main(["synth", "--all", "-o", str(tmp_path)]) == 0
    committed = REPO / "testing" / "btest" / "Traces"
    for scenario, clients, bg in TRACE_SET:
        name = trace_name(scenario, clients, bg)
        assert _digest(tmp_path / name) == _digest(committed / name), f"{name}: run make traces"


def test_synth_cli_errors(capsys, tmp_path):
    assert main(["synth", "nope", "-o", str(tmp_path / "x.pcap")]) == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err
    assert main(["synth", "nat", "-o", str(tmp_path / "missing" / "x.pcap")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["synth", "nat", "-o", str(tmp_path / "x.pcap"), "--clients", "0"]) == 2


def _logged(outdir):
    from skypewatch.zeeklog import read_log

    _, rows = read_log(outdir / "skype.log")
    _, notices = read_log(outdir / "notice.log")
    return {
        (r["proto"], r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"]): r
        for r in rows
    }, notices


def test_all_blocked_trace_through_the_cli(tmp_path, capsys):
    """What a new user sees on the committed all-blocked trace: every probe and every
    fallback SYN logged at likely, unanswered, and one notice that says what was tried."""
    trace = REPO / "testing" / "btest" / "Traces" / "skype-all-blocked.pcap"
    assert main(["analyze", str(trace), "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    rows, notices = _logged(tmp_path)
    truth = read_truth(trace.with_name("skype-all-blocked.truth.tsv"))
    observable = {t.key: t for t in truth if t.skype and t.stage != UNOBSERVABLE}
    assert set(rows) == set(observable)
    assert {r["confidence"] for r in rows.values()} == {"likely"}
    assert not any(r["answered"] for r in rows.values())
    chain = {k for k, t in observable.items() if t.proto == "tcp"}
    assert all("tcp_fallback_chain" in rows[k]["signatures"] for k in chain)
    udp = {k for k, t in observable.items() if t.proto == "udp"}
    assert all("probe_id_sequence" in rows[k]["signatures"] for k in udp)
    ports = ",".join(str(p) for p in sorted({k[4] for k in chain}))
    [n] = notices
    assert n["note"] == "Skype::Blocked_Startup"
    assert f"probed {len(udp)} super nodes over UDP, tried TCP ports {ports};" in n["msg"]


def test_known_nodes_trace_names_the_known_node_rules(tmp_path):
    """After the login, opaque TCP to the login server's ip:port is tcp_to_known_node, to
    its port 12350 and to the U2-proven super node's unprobed port tcp_to_known_host."""
    trace = REPO / "testing" / "btest" / "Traces" / "skype-known-nodes.pcap"
    truth = read_truth(trace.with_name("skype-known-nodes.truth.tsv"))
    summary = analyze([trace], tmp_path, keep_records=True)
    got = {(r.proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p): r for r in summary.records}
    probed = {(t.resp_h, t.resp_p) for t in truth if t.proto == "udp"}
    login = [t for t in truth if t.stage == "login"]
    first_login, *later = login
    assert got[first_login.key].signatures == {"login_handshake", "login_records"}
    assert [(t.resp_p, got[t.key].stage, set(got[t.key].signatures)) for t in later] == [
        (33033, "login", {"tcp_to_known_node"}),
        (12350, "login", {"tcp_to_known_host"}),
    ]
    sn_hosts = {h for h, _ in probed}
    unprobed = [
        t
        for t in truth
        if t.proto == "tcp" and t.resp_h in sn_hosts and (t.resp_h, t.resp_p) not in probed
    ]
    assert [(got[t.key].stage, set(got[t.key].signatures)) for t in unprobed] == [
        ("sn_handshake", {"tcp_to_known_host"})
    ]
