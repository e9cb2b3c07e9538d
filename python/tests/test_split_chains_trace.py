"""The cluster btest cluster/split-chains replays a committed capture made by
testing/btest/Scripts/craft-split-chains; the script must still make exactly that capture,
and the capture must still put the chain attempts where the test says (six chains across
both workers of a two-worker split, two on one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from skypewatch.analyze import analyze

REPO = Path(__file__).resolve().parents[2]
BTEST = REPO / "testing" / "btest"
TRACE = BTEST / "Traces" / "skype-split-chains.pcap"


def craft(out: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(BTEST / "Scripts" / "craft-split-chains"), str(out)],
        env={"PYTHONPATH": str(REPO / "python" / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_committed_split_chains_trace_is_reproducible(tmp_path):
    out = tmp_path / "chains.pcap"
    placement = craft(out)
    assert out.read_bytes() == TRACE.read_bytes(), "run testing/btest/Scripts/craft-split-chains"
    workers = [{a.split("@")[1] for a in line.split("\t")[1].split()} for line in placement]
    assert [len(w) for w in workers] == [2, 2, 2, 2, 2, 2, 1, 1]


def test_split_chains_trace_is_all_fallback_chains(tmp_path):
    """The specification engine sees every attempt of the eight chains as one (24 lines)."""
    analyze([TRACE], tmp_path)
    lines = [
        line
        for line in (tmp_path / "skype.log").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert len(lines) == 24
    assert all("tcp_fallback_chain" in line for line in lines)
