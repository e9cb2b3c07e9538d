"""The acceptance criteria of issue 2 on the real captures in ../shared/pcaps."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PCAPS, shared_capture

from skypewatch.analyze import analyze
from skypewatch.zeeklog import read_log


def _run(tmp_path, capture):
    s = analyze([capture], tmp_path)
    _, rows = read_log(tmp_path / "skype.log")
    _, notices = read_log(tmp_path / "notice.log")
    return s, rows, notices


def test_skypeirc(tmp_path):
    _s, rows, notices = _run(tmp_path, shared_capture("skype", "SkypeIRC.cap"))
    client = ("192.168.1.2", 35990)
    udp = {
        (r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"])
        for r in rows
        if r["proto"] == "udp"
        and (client in ((r["id.orig_h"], r["id.orig_p"]), (r["id.resp_h"], r["id.resp_p"])))
    }
    assert len(udp) == 80, "every UDP flow of the client's Skype port"
    logins = {(r["id.resp_h"], r["id.resp_p"]) for r in rows if r["stage"] == "login"}
    assert len([r for r in rows if r["stage"] == "login"]) == 4
    assert logins == {("212.72.49.142", 12350), ("195.215.8.141", 33033), ("212.72.49.141", 33033)}
    versions = [r for r in rows if r["stage"] == "version_check"]
    assert versions and {r["skype_version"] for r in versions} == {"1.2.0.18"}
    assert "86.128.245.115" in {r["client_public_ip"] for r in rows}
    # not Skype: Kazaa (1214), IRC (6667), traceroute (33435+), Messenger spam (1026/7),
    # SMB/RPC scans, DNS
    for r in rows:
        ports = {r["id.orig_p"], r["id.resp_p"]}
        assert not ports & {1214, 6667, 53, 1026, 1027, 135, 139, 445}, r
        assert not (r["proto"] == "udp" and 33434 <= r["id.resp_p"] <= 33534), r
    assert [n["src"] for n in notices] == ["192.168.1.2"]
    assert "login" in notices[0]["msg"] and "probe" in notices[0]["msg"]
    assert "86.128.245.115" in notices[0]["sub"]


def test_skype_pcap_2015(tmp_path):
    _s, rows, notices = _run(tmp_path, shared_capture("skype", "skype.pcap"))
    udp = [r for r in rows if r["proto"] == "udp" and r["id.orig_p"] == 13021]
    assert len(udp) >= 0.9 * 144
    hellos = [r for r in rows if "sslv2_hello" in r["signatures"]]
    assert len(hellos) >= 0.9 * 26
    login_tuples = {
        (r["id.orig_p"], r["id.resp_h"], r["id.resp_p"]) for r in rows if r["stage"] == "login"
    }
    # every connection that opens with 16 03 01 00 00 (found by byte search below)
    assert login_tuples == _l1_connections(shared_capture("skype", "skype.pcap"))
    assert [n["src"] for n in notices] == ["192.168.1.34"]


def _l1_connections(path: Path) -> set[tuple[int, str, int]]:
    from skypewatch.packets.capture import read_capture
    from skypewatch.packets.decode import TCP, decode
    from skypewatch.verdict.judge import addr_str

    found = set()
    for _, link, frame in read_capture(path):
        p = decode(link, frame)
        if p and p[0] == TCP and p[7] == b"\x16\x03\x01\x00\x00":
            found.add((p[2], addr_str(p[3]), p[4]))
    assert len(found) >= 4
    return found


NEGATIVES = sorted(
    p
    for d in ("benign", "modern")
    if (PCAPS / d).is_dir()
    for p in (PCAPS / d).iterdir()
    if p.suffix in (".pcap", ".pcapng")
)


@pytest.mark.parametrize("capture", NEGATIVES or [None], ids=lambda p: p.name if p else "absent")
def test_negatives_have_no_confident_line_and_no_notice(tmp_path, capture):
    if capture is None:
        shared_capture("benign")
    _s, rows, notices = _run(tmp_path, capture)
    assert [r for r in rows if r["confidence"] in ("confirmed", "likely")] == []
    assert notices == []
