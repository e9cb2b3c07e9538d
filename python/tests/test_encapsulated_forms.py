"""The same traffic in every form Zeek decodes gives the same verdicts.

Each capture is re-wrapped (``synth/encapsulate.py``) in PPPoE, MPLS, GRE, GRE with
Ethernet inside, VXLAN, Geneve, GTPv1, AYIYA and IP-in-IP, and cut into fragments in
order, shuffled and overlapping; ``analyze`` must write the same skype.log and notice.log
lines for each form as for the plain capture (canonified as the parity tests do: uids
masked).  The IPv6 forms (IPv6, IPv6 fragments, Teredo) must find the same connections.  A
form that loses fragments on purpose must say so in its count of undecoded frames.  Zeek's
lines for every form are compared in test_engine_parity.py.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, shared_capture

from skypewatch.analyze import analyze
from skypewatch.synth.encapsulate import FORMS, OUTER_DST, OUTER_SRC, rewrap_capture

CANONIFY = REPO / "testing" / "btest" / "Scripts" / "canonify-skype-log"
SYNTHESIZED = REPO / "testing" / "btest" / "Traces" / "skype-open-2.0.pcap"
IPV6 = ["ipv6", "ipv6-frag", "teredo"]  # IPv4 packets as IPv6: other addresses
CHANGED = ["frag-incomplete", "frag-junk-first"]  # lose or replace bytes on purpose
LOSSLESS = [f for f in FORMS if f not in CHANGED and f not in IPV6]


def canonical(log: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(CANONIFY), str(log)], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


TUNNEL_ENDS = {".".join(map(str, OUTER_SRC)), ".".join(map(str, OUTER_DST))}


def _outer(orig: str, resp: str) -> bool:
    return orig in TUNNEL_ENDS and resp in TUNNEL_ENDS


def _inner(lines: list[str]) -> list[str]:
    """A skype.log without lines on a tunnel's own connection: the outer UDP connection is
    analysed too, as in Zeek, and a UDP tunnel of voice (a constant 4-byte header every
    10 ms, as Geneve gives) is a `possible` SkypeOut flow in both engines."""
    return [ln for ln in lines if ln.startswith("#") or not _outer(*ln.split("\t")[2:5:2])]


def _source(name: str) -> Path:
    return SYNTHESIZED if name == "synthesized" else shared_capture("skype", "SkypeIRC.cap")


@pytest.fixture(scope="module")
def plain_logs(tmp_path_factory):
    """The plain capture's logs, analysed once per source for every form's test."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = tmp_path_factory.mktemp(f"plain-{name}")
            analyze([_source(name)], done[name])
        return done[name]

    return get


@pytest.mark.parametrize("form", LOSSLESS)
@pytest.mark.parametrize("name", ["synthesized", "SkypeIRC"])
def test_every_form_gives_the_plain_captures_lines(name, form, tmp_path, plain_logs):
    source = _source(name)
    base = plain_logs(name)
    cap = tmp_path / f"{form}.pcap"
    rewrap_capture(source, cap, form)
    summary = analyze([cap], tmp_path / form)
    skype = _inner(canonical(tmp_path / form / "skype.log"))
    assert len([ln for ln in skype if not ln.startswith("#")]) > 10
    assert skype == canonical(base / "skype.log")
    assert canonical(tmp_path / form / "notice.log") == canonical(base / "notice.log")
    assert not any(why.startswith("fragments") for why in summary.undecoded)


def _flows(log: Path) -> set[tuple[str, ...]]:
    """The connections of a skype.log, NAT64-mapped IPv6 addresses (64:ff9b::/96) back as
    the IPv4 addresses they carry."""

    def v4(addr: str) -> str:
        if addr.startswith("64:ff9b::"):
            return str(ipaddress.IPv4Address(ipaddress.IPv6Address(addr).packed[12:]))
        return addr

    rows = [ln.split("\t") for ln in log.read_text().splitlines() if not ln.startswith("#")]
    return {(v4(r[2]), r[3], v4(r[4]), r[5], r[6]) for r in rows if not _outer(r[2], r[4])}


@pytest.mark.parametrize("form", IPV6)
@pytest.mark.parametrize("name", ["synthesized", "SkypeIRC"])
def test_ipv6_forms_find_the_same_connections(name, form, tmp_path, plain_logs):
    """As IPv6 the verdicts may differ (Skype messages carry IPv4 addresses, the local
    networks are IPv4): the connections found are the same.  Zeek's lines for these forms
    are compared in test_engine_parity.py."""
    source = _source(name)
    cap = tmp_path / f"{form}.pcap"
    rewrap_capture(source, cap, form)
    analyze([cap], tmp_path / form)
    found = _flows(tmp_path / form / "skype.log")
    assert found == _flows(plain_logs(name) / "skype.log")
    assert all(re.match(r"\d+\.\d+\.\d+\.\d+$", f[0]) for f in found)


def test_lost_fragments_are_counted(tmp_path):
    cap = tmp_path / "incomplete.pcap"
    rewrap_capture(SYNTHESIZED, cap, "frag-incomplete")
    summary = analyze([cap], tmp_path / "out")
    lost = summary.undecoded["fragments incomplete"]
    assert lost > 0
    assert summary.packets > lost


def test_the_synth_command_rewraps_a_capture(tmp_path, plain_logs):
    out = tmp_path / "gre.pcap"
    cmd = [sys.executable, "-m", "skypewatch", "synth", "--rewrap", "gre", "--source"]
    r = subprocess.run([*cmd, str(SYNTHESIZED), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    analyze([out], tmp_path / "gre")
    plain = plain_logs("synthesized") / "skype.log"
    assert canonical(tmp_path / "gre" / "skype.log") == canonical(plain)
    bad = subprocess.run(
        [*cmd, str(tmp_path / "missing.pcap"), "-o", str(tmp_path / "x.pcap")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such file" in bad.stderr
    assert not (tmp_path / "x.pcap").exists() and not (tmp_path / "x.pcap.part").exists()
