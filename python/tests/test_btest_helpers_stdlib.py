"""The btest suite scripts its captures with parts of skypewatch (synth, packets), and it runs
where no .venv exists: `zkg install` tests the package in a fresh clone, with python3 and
the repository's ``python/src`` (testing/btest/Scripts/python-src).  Those parts must import
with the standard library alone; when a flood btest reached for the .venv, zkg's run failed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BTEST = REPO / "testing" / "btest"

# Every skypewatch module a btest or its scripts imports, read off the suite itself, so a
# new import is covered the day it is written.
_IMPORT = re.compile(r"\b(?:from|import)\s+(skypewatch(?:\.\w+)+)")


def btest_imports() -> list[str]:
    found: set[str] = set()
    for path in [*BTEST.glob("Scripts/*"), *BTEST.rglob("tests/**/*.zeek")]:
        if path.is_file():
            found.update(_IMPORT.findall(path.read_text(errors="replace")))
    return sorted(found)


def third_party_after_import(module: str) -> list[str] | None:
    """Top-level modules outside the standard library loaded by importing *module* with no
    site-packages on the path (``-S``, as a bare python3 has), or None when it cannot be
    imported there at all."""
    code = (
        "import sys\n"
        f"import {module}\n"
        "seen = {m.split('.')[0] for m in sys.modules} - {'skypewatch', '__main__'}\n"
        "print(' '.join(sorted(seen - set(sys.stdlib_module_names))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={"PYTHONPATH": str(REPO / "python" / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    return out.stdout.split() if out.returncode == 0 else None


def test_the_suite_imports_skypewatch_somewhere():
    assert "skypewatch.synth.flood" in btest_imports()


@pytest.mark.parametrize("module", btest_imports())
def test_btest_helper_module_needs_only_the_standard_library(module):
    assert third_party_after_import(module) == []


def test_the_check_sees_a_third_party_import():
    """The near miss: a module that needs pandas cannot be imported there."""
    assert third_party_after_import("skypewatch.analyst.logs") is None
