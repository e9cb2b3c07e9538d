"""``skypewatch.zeeklog`` is a Zeek log library: it knows nothing of skype.log.

skype.log's schema (``skypelog.py``) is built on the library's types and handed to its
readers (``KNOWN_LOGS``); the library imports nothing of the package but the generic error
type and the atomic file writer.  When it reached back for skype.log's schema, the two
imported each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "skypewatch"
ALLOWED = {"errors", "atomic"}  # generic: no knowledge of any log


def outside_imports(source: str, package_depth: int = 1) -> set[str]:
    """The modules of skypewatch outside zeeklog that *source* (a zeeklog module) imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level > package_depth:  # from ..x import y
                found.add((node.module or "").split(".")[0] or "skypewatch")
            elif node.level == 0 and (node.module or "").startswith("skypewatch."):
                top = node.module.split(".")[1]
                if top != "zeeklog":
                    found.add(top)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "skypewatch" and parts[1:2] != ["zeeklog"]:
                    found.add(".".join(parts[1:2]) or "skypewatch")
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in (SRC / "zeeklog").glob("*.py")))
def test_zeeklog_imports_nothing_of_skypewatch_but_generic_helpers(module):
    source = (SRC / "zeeklog" / module).read_text()
    assert outside_imports(source) <= ALLOWED


@pytest.mark.parametrize(
    "source",
    [
        "from ..skypelog import SKYPE_FIELDS",
        "def f():\n    from ..skypelog import SKYPE_FIELDS\n",  # hidden in a function
        "import skypewatch.skypelog",
        "from skypewatch.analyst import logs",
    ],
)
def test_the_check_sees_an_import_of_skype_log(source):
    """The near miss: the check finds the imports it is there to forbid."""
    assert outside_imports(source) - ALLOWED


def test_skypelog_builds_on_zeeklog_and_gives_readers_its_schema():
    from skypewatch.skypelog import KNOWN_LOGS, SKYPE_FIELDS
    from skypewatch.zeeklog.header import ZEEK_LOGS

    assert KNOWN_LOGS["skype"].fields == SKYPE_FIELDS
    assert "skype" not in ZEEK_LOGS and set(ZEEK_LOGS) <= set(KNOWN_LOGS)
