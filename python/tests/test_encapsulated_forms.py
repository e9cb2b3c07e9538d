"""The same traffic in every form Zeek decodes gives the same verdicts.

Each capture is re-wrapped (``synth/encapsulate.py``) in PPPoE, MPLS, GRE, GRE with
Ethernet inside, VXLAN and IP-in-IP, and cut into fragments in order, shuffled and
overlapping; ``analyze`` must write the same skype.log and notice.log lines for each form as
for the plain capture (canonified as the parity tests do: uids masked).  A form that loses
fragments on purpose must say so in its count of undecoded frames.  Zeek's lines for the
same forms are compared in test_engine_parity.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, shared_capture

from skypewatch.analyze import analyze
from skypewatch.synth.encapsulate import FORMS, rewrap_capture

CANONIFY = REPO / "testing" / "btest" / "Scripts" / "canonify-skype-log"
SYNTHESIZED = REPO / "testing" / "btest" / "Traces" / "skype-open-2.0.pcap"
LOSSLESS = [f for f in FORMS if f != "frag-incomplete"]


def canonical(log: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(CANONIFY), str(log)], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def _source(name: str) -> Path:
    return SYNTHESIZED if name == "synthesized" else shared_capture("skype", "SkypeIRC.cap")


@pytest.mark.parametrize("form", LOSSLESS)
@pytest.mark.parametrize("name", ["synthesized", "SkypeIRC"])
def test_every_form_gives_the_plain_captures_lines(name, form, tmp_path):
    source = _source(name)
    base = tmp_path / "plain"
    analyze([source], base)
    cap = tmp_path / f"{form}.pcap"
    rewrap_capture(source, cap, form)
    summary = analyze([cap], tmp_path / form)
    skype = canonical(tmp_path / form / "skype.log")
    assert len([ln for ln in skype if not ln.startswith("#")]) > 10
    assert skype == canonical(base / "skype.log")
    assert canonical(tmp_path / form / "notice.log") == canonical(base / "notice.log")
    assert not any(why.startswith("fragments") for why in summary.undecoded)


def test_lost_fragments_are_counted(tmp_path):
    cap = tmp_path / "incomplete.pcap"
    rewrap_capture(SYNTHESIZED, cap, "frag-incomplete")
    summary = analyze([cap], tmp_path / "out")
    lost = summary.undecoded["fragments incomplete"]
    assert lost > 0
    assert summary.packets > lost
