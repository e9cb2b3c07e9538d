"""Imports go one way, as the layout promises: packets -> connections -> signatures -> verdict
-> the detector that drives them -> correlation -> outputs.  Every import between the
package's folders (and top-level modules) is read off the sources, including imports hidden
in functions, and must point to a lower layer.  When connections/ held the tracker, it and
signatures/ and verdict/ imported each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "skypewatch"

# Bottom to top.  Units on one line are peers and must not import each other.
LAYERS: list[set[str]] = [
    # generic helpers, know no log or packet
    {"__init__", "errors", "atomic", "bounded", "processes"},
    {"zeeklog"},  # Zeek's log format: knows nothing of skype.log
    {"skypelog"},  # skype.log's and notice.log's schema
    {"packets"},
    {"connections"},
    {"signatures"},
    {"verdict"},
    {"detect"},
    {"fastpath"},  # the bulk engine: drives the detector over whole chunks of a capture
    {"correlation"},
    {"outputs"},  # records -> logs, notices, the summary's tally (in this process or another)
    {"analyze", "live", "synth"},
    {"analyst"},
    {"cli"},
    {"__main__"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit_of(rel: Path) -> str:
    """The folder (or top-level module) a source file belongs to."""
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_units(source: str, rel: Path) -> set[str]:
    """The package's folders and top-level modules that a module at *rel* imports."""
    package = list(rel.parent.parts)  # the module's package, relative to skypewatch/
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                if node.level - 1 > len(package):
                    continue  # beyond the package: not ours
                module = base + (node.module.split(".") if node.module else [])
                # `from .. import x`: x is a unit (or the package's __init__) itself
                names = [module] if module else [[a.name] for a in node.names]
            elif node.module and node.module.split(".")[0] == "skypewatch":
                names = [node.module.split(".")[1:] or [a.name for a in node.names][:1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1:] for a in node.names if a.name.startswith("skypewatch")]
        for parts in names:
            top = parts[0] if parts else "__init__"
            found.add(top if top in RANK else "__init__")
    return found


def sources() -> list[Path]:
    return sorted(p.relative_to(SRC) for p in SRC.rglob("*.py"))


def test_every_unit_has_a_layer():
    assert {unit_of(r) for r in sources()} <= set(RANK)


@pytest.mark.parametrize("rel", sources(), ids=str)
def test_imports_point_down(rel):
    unit = unit_of(rel)
    upward = {
        other
        for other in imported_units((SRC / rel).read_text(), rel)
        if other != unit and RANK[other] >= RANK[unit]
    }
    assert not upward, f"{rel} ({unit}) imports {sorted(upward)}, not below it"


@pytest.mark.parametrize(
    ("source", "rel", "expected"),
    [
        ("from ..signatures.base import Hit", "connections/connection.py", {"signatures"}),
        ("def f():\n    from ..detect import tracker\n", "verdict/judge.py", {"detect"}),
        ("from ...skypelog import Stage", "packets/sub/x.py", {"skypelog"}),
        ("import skypewatch.analyst.logs", "correlation/engine.py", {"analyst"}),
        ("from skypewatch import zeeklog", "skypelog.py", {"zeeklog"}),
        ("from . import decode", "packets/capture.py", {"packets"}),
        ("from .. import __version__", "cli/main.py", {"__init__"}),
    ],
)
def test_the_check_reads_every_import_form(source, rel, expected):
    """The near misses: each import form resolves to the unit it names."""
    assert imported_units(source, Path(rel)) == expected


def test_the_check_flags_an_upward_import():
    rel = Path("connections/connection.py")
    found = imported_units("from ..verdict.judge import judge\n", rel)
    assert any(RANK[u] > RANK[unit_of(rel)] for u in found)
