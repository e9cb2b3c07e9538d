"""Clients whose start-up nothing answered: the correlator's notice, query's clients view and
the HTML report call them blocked, and say what they tried."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from skypewatch.analyst.query import Filter, run_query
from skypewatch.analyst.report import build_report
from skypewatch.correlation.hosts import HostCorrelator
from skypewatch.correlation.notices import BLOCKED_STARTUP, CLIENT_DETECTED
from skypewatch.skypelog import SKYPE_FIELDS, SkypeRecord
from skypewatch.zeeklog import ZeekLogWriter

BLOCKED = "10.1.1.1"
ANSWERED = "10.2.2.2"


def _rec(client: str, i: int, peer: str, port: int, proto: str, stage: str, answered: bool):
    return SkypeRecord(
        ts=1_156_519_200.0 + i,
        uid=f"C{client.replace('.', '')}{i:08d}",
        orig_h=client,
        orig_p=33333 if proto == "udp" else 40000 + i,
        resp_h=peer,
        resp_p=port,
        proto=proto,
        duration=0.0,
        stage=stage,
        signatures=frozenset({"probe_id_sequence" if proto == "udp" else "tcp_fallback_chain"}),
        client=client,
        peer=peer,
        peer_role="super_node",
        client_public_ip=None,
        skype_version=None,
        confidence="likely",
        evidence="",
        answered=answered,
    )


def records() -> list[SkypeRecord]:
    out = []
    for client, answered in ((BLOCKED, False), (ANSWERED, True)):
        for i in range(10):
            out.append(_rec(client, i, f"198.51.100.{i + 1}", 20000 + i, "udp", "probe", False))
        for i, port in enumerate((20000, 443, 80)):
            # the answered client's 443 attempt got an answer
            out.append(
                _rec(
                    client,
                    20 + i,
                    "198.51.100.1",
                    port,
                    "tcp",
                    "sn_handshake",
                    answered and port == 443,
                )
            )
    return out


def write(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with ZeekLogWriter(path, "skype", SKYPE_FIELDS, False) as w:
        for r in records():
            w.write(r.values())
    return path / "skype.log"


def test_a_session_nothing_answered_is_a_blocked_start_up():
    c = HostCorrelator()
    notices = []
    for r in records():
        notices += c.observe(r)
    notices += c.flush()
    by_client = {n.src: n for n in notices}
    blocked = by_client[BLOCKED]
    assert blocked.note == BLOCKED_STARTUP
    assert "nothing answered" in blocked.msg
    assert "probed 10 super nodes over UDP" in blocked.msg
    assert "tried TCP ports 80,443,20000" in blocked.msg
    assert "first=1156519200.000000 last=1156519222.000000" in blocked.sub
    assert by_client[ANSWERED].note == CLIENT_DETECTED  # likely probe + sn_handshake


def test_one_likely_stage_is_enough_only_when_nothing_answered():
    probes_only = [r for r in records() if r.proto == "udp"]
    c = HostCorrelator()
    notices = [n for r in probes_only for n in c.observe(r)] + c.flush()
    assert sorted(n.src for n in notices) == [BLOCKED, ANSWERED]
    assert {n.note for n in notices} == {BLOCKED_STARTUP}
    answered = [replace(r, answered=True) for r in probes_only]
    c = HostCorrelator()
    assert [n for r in answered for n in c.observe(r)] + c.flush() == []


def test_query_and_report_show_blocked_clients(tmp_path):
    log = write(tmp_path / "logs")
    df = run_query([log], "clients", Filter()).set_index("client")
    assert df.loc[BLOCKED, "status"] == "blocked"
    assert df.loc[BLOCKED, "tcp_ports_tried"] == "80,443,20000"
    assert df.loc[ANSWERED, "status"] == "answered"
    assert df.loc[ANSWERED, "tcp_ports_tried"] == ""
    html = build_report([log], tmp_path / "report.html").html.read_text()
    row = html[html.index(f">{BLOCKED}<") :]
    assert "blocked" in row[: row.index("</tr>")]
