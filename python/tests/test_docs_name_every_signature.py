"""Every signature the Python engine can report is in the README's signature table and has a
section in docs/signatures.md (the reference the code cites), neither names one that the
engine no longer has, and every docs/signatures.md#anchor the code cites exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "python" / "src" / "skypewatch"


def engine_signatures() -> set[str]:
    """The names in every ``Hit("name", ...)`` of the package."""
    names = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Hit"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def readme_table() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text[text.index("| signature | stage | base |") :].split("\n\n", 1)[0]
    return {n for row in table.splitlines()[2:] for n in re.findall(r"`(\w+)`", row.split("|")[1])}


def reference_sections() -> set[str]:
    text = (REPO / "docs" / "signatures.md").read_text()
    return {
        n
        for heading in re.findall(r"^### (.+)$", text, re.M)
        for n in re.findall(r"[a-z0-9]+(?:_[a-z0-9]+)+|[a-z]+\d\w*", heading)
    }


def test_the_engine_reports_many_signatures():
    names = engine_signatures()
    assert {"u2_public_ip", "probe_id_sequence", "tcp_fallback_chain", "login_handshake"} <= names


def test_readme_table_is_the_engines_signatures():
    assert readme_table() == engine_signatures()


def test_every_signature_has_a_reference_section():
    missing = engine_signatures() - reference_sections()
    assert not missing, f"no section in docs/signatures.md: {sorted(missing)}"


def test_every_anchor_the_code_cites_exists():
    text = (REPO / "docs" / "signatures.md").read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, re.M)
    }
    cited = {
        (path.relative_to(REPO), a)
        for tree in (SRC, REPO / "zeek")
        for path in tree.rglob("*")
        if path.suffix in (".py", ".zeek")
        for a in re.findall(r"docs/signatures\.md#([\w-]+)", path.read_text())
    }
    assert len(cited) > 20
    assert not {c for c in cited if c[1] not in anchors}
