"""analyze's malloc thresholds (cli/mallocpolicy.py): set where glibc is, never over the
user's own malloc settings, and asked for by the CLI.  Each check runs in a child process,
whose malloc it may change."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from skypewatch.cli import analyze as cli_analyze
from skypewatch.cli import main

ASK = "from skypewatch.cli.mallocpolicy import keep_large_blocks; print(keep_large_blocks())"

# How much of a 6 MiB block malloc serves by mmap (mallinfo2's hblkhd), with the policy
# asked for first (argv[1] == "1") or not
MAPPED = """
import ctypes, sys
from skypewatch.cli.mallocpolicy import keep_large_blocks
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
info = ctypes.CDLL(None).mallinfo2
info.restype = Info
if sys.argv[1] == "1":
    keep_large_blocks()
before = info().hblkhd
block = bytes(6 << 20)
print(info().hblkhd - before)
"""


def _run(*argv: str, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    env.update(extra)
    done = subprocess.run(
        [sys.executable, "-c", *argv], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _ask(**extra: str) -> str:
    return _run(ASK, **extra)


GLIBC = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="glibc's mallopt and mallinfo2 only"
)


@GLIBC
def test_set_where_glibc_is():
    assert _ask() == "True"


@GLIBC
def test_a_large_block_comes_from_the_heap_not_a_fresh_mapping():
    # the check of the check: without the policy, glibc maps a block this large afresh
    assert int(_run(MAPPED, "0")) >= 6 << 20
    assert int(_run(MAPPED, "1")) == 0


@pytest.mark.parametrize(
    "tuned",
    [{"MALLOC_ARENA_MAX": "2"}, {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"}],
)
def test_the_users_own_malloc_settings_win(tuned):
    assert _ask(**tuned) == "False"


def test_analyze_asks_for_it(tmp_path, monkeypatch, startup_pcap):
    asked = []
    monkeypatch.setattr(cli_analyze, "keep_large_blocks", lambda: asked.append(True))
    assert main(["analyze", str(startup_pcap), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert asked == [True]
