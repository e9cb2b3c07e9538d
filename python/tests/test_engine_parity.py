"""One verdict, two engines: Zeek with the package and ``skypewatch analyze`` on the same bytes.

Runs only where ``zeek`` is on PATH (each test says so when it skips).  Every shared capture
and every committed synthesized trace goes through both engines; their skype.log and
notice.log, canonified by the one script the btests use (uids masked, set elements and rows
sorted, durations to the millisecond), must be equal line for line.  A difference is printed
as a unified diff of the two canonified logs.
"""

from __future__ import annotations

import difflib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PCAPS, REPO, shared_capture

from skypewatch.analyze import analyze
from skypewatch.synth.encapsulate import FORMS, rewrap_capture
from skypewatch.synth.messages import sslv2_hello

ZEEK = shutil.which("zeek")
PACKAGE = REPO / "zeek"
TRACES = REPO / "testing" / "btest" / "Traces"
CANONIFY = REPO / "testing" / "btest" / "Scripts" / "canonify-skype-log"

pytestmark = pytest.mark.skipif(ZEEK is None, reason="no 'zeek' on PATH: engine parity not run")


def _captures() -> list[Path]:
    found = sorted(TRACES.glob("*.pcap"))
    if PCAPS.is_dir():
        found += sorted(p for p in PCAPS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))
    return found


def _id(path: Path) -> str:
    return path.name if path.parent == TRACES else str(path.relative_to(PCAPS))


def canonify(log: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(CANONIFY), str(log)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


def run_zeek(capture: Path, out: Path) -> None:
    out.mkdir(parents=True)
    env = dict(os.environ, ZEEKPATH=_zeekpath())
    r = subprocess.run(
        [ZEEK, "-C", "-r", str(capture), str(PACKAGE)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    reporter = out / "reporter.log"
    assert not reporter.exists(), reporter.read_text()
    assert r.stderr.strip() == "", r.stderr


def _zeekpath() -> str:
    return subprocess.run(
        ["zeek-config", "--zeekpath"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _diff(name: str, python: list[str], zeek: list[str]) -> str:
    return "\n".join(
        difflib.unified_diff(python, zeek, f"python/{name}", f"zeek/{name}", lineterm="")
    )


@pytest.mark.parametrize("capture", _captures(), ids=_id)
def test_both_engines_write_the_same_lines(capture: Path, tmp_path: Path):
    run_zeek(capture, tmp_path / "zeek")
    analyze([capture], tmp_path / "python")
    for name in ("skype.log", "notice.log"):
        python = canonify(tmp_path / "python" / name)
        zeek = canonify(tmp_path / "zeek" / name)
        assert python == zeek, _diff(name, python, zeek)


# A TCP connection whose SYN was never seen (here: lost with a fragment) and whose SYN-ACK
# came first: Zeek flips it, and then its `tcp-state originator` signatures do not fire on
# the originator's data, where the Python engine's checks do (SkypeIRC's version check on
# 192.168.1.2:4542; the same when only that SYN is cut from the plain capture).  A gap in
# the TCP stage, not in decoding: strict, so that this fails once the engines agree.
_SYNLESS = pytest.mark.xfail(
    strict=True, reason="Zeek's originator signatures miss a flipped SYN-less connection"
)


def _forms() -> list:
    out = []
    for source in ("skype-open-2.0.pcap", "SkypeIRC.cap"):
        for form in FORMS:
            marks = [_SYNLESS] if (source, form) == ("SkypeIRC.cap", "frag-incomplete") else []
            out.append(pytest.param(source, form, marks=marks, id=f"{source}-{form}"))
    return out


@pytest.mark.parametrize(("source", "form"), _forms())
def test_both_engines_write_the_same_lines_on_every_encapsulated_form(
    source: str, form: str, tmp_path: Path
):
    """The same captures re-wrapped (PPPoE, MPLS, GRE, VXLAN, Geneve, GTPv1, AYIYA,
    Teredo, IP-in-IP, as IPv6) or cut into fragments (in order, shuffled, overlapping, junk
    first, some lost, IPv6): Zeek decodes them all by default, and the Python engine must find the
    same lines in each."""
    original = shared_capture("skype", source) if source == "SkypeIRC.cap" else TRACES / source
    capture = tmp_path / f"{form}.pcap"
    rewrap_capture(original, capture, form)
    test_both_engines_write_the_same_lines(capture, tmp_path)


# Skype's SSLv2-format hello followed by bytes no TLS record begins with, and a server
# stream that begins like a TLS record (then the junk is not Skype's: no fake_tls_junk).
_HELLO = sslv2_hello(random.Random(7)) + b"\x42" + bytes(range(40))
_TLS = b"\x16\x03\x01\x00\x05" + bytes(5)


@pytest.mark.parametrize(
    ("order", "fake"),
    [
        ("client-first", False),
        # the server speaks first: Zeek sees its TLS-like bytes before the hello exists
        ("server-first", False),
        ("opaque-server", True),
    ],
)
def test_both_engines_read_the_server_stream_whichever_side_spoke_first(
    order: str, fake: bool, tmp_path: Path
):
    """skype-resp-tls only fires after the hello (requires-reverse-signature), so the
    order of the two streams must not change what the engines conclude."""
    exchange = {
        "client-first": [(True, _HELLO), (False, _TLS)],
        "server-first": [(False, _TLS), (True, _HELLO)],
        "opaque-server": [(True, _HELLO), (False, b"\x99" * 10)],
    }[order]
    from test_blocked_near_misses import Capture

    cap = Capture()
    cap.tcp(0.0, "10.1.1.1", 40_000, "203.0.113.9", 443, exchange)
    capture = tmp_path / "hello.pcap"
    cap.write(capture)
    test_both_engines_write_the_same_lines(capture, tmp_path)
    lines = [x for x in canonify(tmp_path / "python" / "skype.log") if not x.startswith("#")]
    assert len(lines) == 1
    assert ("fake_tls_junk" in lines[0]) is fake
    assert "sslv2_hello" in lines[0]


def test_shared_captures_are_part_of_the_run():
    if not PCAPS.is_dir():
        pytest.skip(f"{PCAPS} is absent: only the synthesized traces were compared")
    assert any(PCAPS.rglob("*.cap")), "SkypeIRC.cap missing from the shared captures"


# Ports Zeek 9.0's analyzers add to likely_server_ports (MSSQL, MySQL, SMTPS, PXE, 4754):
# the Python engine orients connections as 8.0 LTS does, so under 9.0 a connection whose
# first seen packet comes from one of these ports is named the other way round.
ZEEK_9_0_EXTRA = {(1434, "tcp"), (3306, "tcp"), (465, "tcp"), (4011, "udp"), (4754, "udp")}


def test_python_orients_connections_with_zeeks_likely_server_ports():
    from skypewatch.connections.zeekports import LIKELY_SERVER_TCP, LIKELY_SERVER_UDP

    script = "event zeek_init() &priority=-100 { for ( p in likely_server_ports ) print p; }"
    out = subprocess.run([ZEEK, "-e", script], capture_output=True, text=True, check=True)
    zeeks = set()
    for line in out.stdout.split():
        number, proto = line.split("/")
        zeeks.add((int(number), proto))
    ours = {(p, "tcp") for p in LIKELY_SERVER_TCP} | {(p, "udp") for p in LIKELY_SERVER_UDP}
    version = subprocess.run([ZEEK, "--version"], capture_output=True, text=True).stdout
    if " 8.0." in version:
        assert zeeks == ours
    elif " 9.0." in version:
        assert zeeks == ours | ZEEK_9_0_EXTRA
    else:
        pytest.skip(f"no recorded likely_server_ports for {version.strip()}")
