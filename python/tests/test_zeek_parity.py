"""The Zeek package against its specification, the Python engine.

No Zeek runs here, so these tests hold what can be held without one: the btest baselines
are the Python engine's output, skype.sig's byte patterns accept exactly what the Python
checks accept, the skype.log record has the Python fields and types, every event handler
matches its declaration, every exported name is documented, and the tunables agree.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED

from skypewatch.correlation import notices as correlation_notices
from skypewatch.correlation.hosts import HostCorrelatorOptions
from skypewatch.signatures import sn_handshake, version_check
from skypewatch.signatures.login import L1, L2
from skypewatch.skypelog import SKYPE_FIELDS, SKYPE_OPTIONAL
from skypewatch.synth import messages as m
from skypewatch.verdict.host_context import HostOptions

ZEEK = REPO / "zeek"
SIG = (ZEEK / "skype.sig").read_text()
SCRIPTS = {p.name: p.read_text() for p in ZEEK.glob("*.zeek")}
ALL = "\n".join(SCRIPTS.values())


# -- btest baselines against the Python engine -------------------------------------------

UPDATE = REPO / "testing" / "update_baselines.py"
_spec = importlib.util.spec_from_file_location("update_baselines", UPDATE)
assert _spec and _spec.loader
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)
BASELINE_TESTS = [baselines.test_name(t) for t, _ in baselines.baseline_tests()]


def _check(script: Path, shared: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SKYPEWATCH_SHARED": str(shared)}
    return subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def baseline_check() -> subprocess.CompletedProcess[str]:
    return _check(UPDATE, SHARED)


def test_baseline_check_exit_code_is_its_findings(baseline_check):
    out = baseline_check.stdout + baseline_check.stderr
    lines = baseline_check.stdout.splitlines()
    stale = any(line.startswith("stale ") for line in lines)
    unchecked = any(line.startswith("not checked ") for line in lines)
    expected = baselines.STALE if stale else baselines.UNCHECKED if unchecked else baselines.OK
    assert baseline_check.returncode == expected, out
    assert len(BASELINE_TESTS) > 10


@pytest.mark.parametrize("name", BASELINE_TESTS)
def test_btest_baseline_is_the_python_engines_output(baseline_check, name):
    lines = baseline_check.stdout.splitlines()
    if f"ok {name}" in lines:
        return
    absent = [line for line in lines if line.startswith(f"not checked {name}:")]
    if absent:
        pytest.skip(absent[0])
    pytest.fail(f"{name}: baseline not current (run: make baselines)\n{baseline_check.stdout}")


def test_generated_signature_btests_are_current(baseline_check):
    stale = [
        line
        for line in baseline_check.stdout.splitlines()
        if line.startswith("stale ") and "/tests/signatures/" in line
    ]
    assert not stale, "\n".join(stale)


def test_baseline_check_tells_stale_from_unchecked(tmp_path):
    """The script's exit codes, on a copy of testing/: a real capture absent is 3 (never 0),
    a baseline or signature test out of date is 1 whatever else is absent."""
    copy = tmp_path / "testing"
    (copy / "btest").mkdir(parents=True)
    shutil.copy(UPDATE, copy)
    for part in ("tests", "Baseline", "Scripts", "Traces"):
        shutil.copytree(REPO / "testing" / "btest" / part, copy / "btest" / part)
    script, nowhere = copy / UPDATE.name, tmp_path / "no-shared"
    real = [n for n in BASELINE_TESTS if n.startswith("tests.real.")]
    assert real

    r = _check(script, nowhere)
    assert r.returncode == baselines.UNCHECKED, r.stdout + r.stderr
    for name in real:
        assert any(x.startswith(f"not checked {name}:") for x in r.stdout.splitlines())
    assert "ok tests.traces.nat" in r.stdout.splitlines()

    canon = copy / "btest" / "Baseline" / "tests.traces.nat" / "notice.canon"
    canon.write_text(canon.read_text() + "extra\n")
    r = _check(script, nowhere)
    assert r.returncode == baselines.STALE, r.stdout + r.stderr
    assert f"stale {canon} " in r.stdout
    assert "ok tests.traces.nat" not in r.stdout.splitlines()

    canon.write_text(canon.read_text().removesuffix("extra\n"))
    sig = next((copy / "btest" / "tests" / "signatures").glob("*.zeek"))
    sig.unlink()
    r = _check(script, nowhere)
    assert r.returncode == baselines.STALE, r.stdout + r.stderr
    assert f"stale {sig} " in r.stdout


# -- skype.sig against the Python checks -------------------------------------------------


def sig_pattern(name: str) -> re.Pattern[bytes]:
    block = re.search(r"signature " + re.escape(name) + r" \{(.*?)\n\}", SIG, re.S)
    assert block, name
    payload = re.search(r"payload /(.*)/\s*$", block.group(1), re.M)
    assert payload, name
    # Zeek's signature regexes use a flex subset that Python's re reads the same way.
    return re.compile(payload.group(1).encode(), re.S)


def streams(rng: random.Random):
    """Crafted and random stream beginnings that exercise every pattern's edges."""
    hello = m.sslv2_hello(rng)
    yield from (
        L1,
        L1 + m.login_l3(rng),
        L2,
        L2 + m.login_l4(rng),
        L1 + b"\x16\x03\x01\x00\x10\x01",
        hello,
        hello + m.obfuscated(rng, 20),
        hello + b"\x16\x03\x01\x00\x10",
        hello + b"\x16",
        hello + b"\x16\x04",
        hello + b"\x17\x03\x07",
        hello[:71],
        sn_handshake.FIXED_SERVER_HELLO,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"\x80\x46\x01\x03\x01\x00",
        b"abcdefghijklmnop",
        b"abcdefghijklmno",
        b"hello world\r\nxx\x00\x01",
        m.version_check(rng, "1.2.0.18", 2),
        m.version_check(rng, "3.8.0.154", 0),
        b"GET /ui/0/3.5.0.239/en/getnewestversion HTTP/1.1\r\nHost: ui.skype.com\r\n\r\n",
        b"GET http://ui.skype.com/ui/3/2.6.0.151/en/installed HTTP/1.0\r\n\r\n",
        b"GET /ui/0/3.5.0.239/en/getnewestversion HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET /x HTTP/1.1\r\nUser-Agent: Skype\r\n\r\n",
        b"GET /x HTTP/1.1\r\nUser-Agent: SkypeUriPreview Preview/0.5\r\n\r\n",
        b"GET /x HTTP/1.1\r\n\r\nUser-Agent: Skype\r\n",
    )
    for _ in range(3000):
        yield rng.randbytes(rng.randint(0, 120))
    for _ in range(500):  # mutated Skype beginnings: the edges that matter
        base = bytearray(
            rng.choice(
                [
                    L1 + m.login_l3(rng),
                    hello + m.obfuscated(rng, 9),
                    m.version_check(rng, "2.0.0.1", 3),
                ]
            )
        )
        for _ in range(rng.randint(1, 3)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        yield bytes(base)


@pytest.mark.parametrize(
    "sig, python_check",
    [
        ("skype-tcp-cleartext", sn_handshake.is_known_cleartext),
        ("skype-login-l1", lambda b: b.startswith(L1)),
        ("skype-login-l2", lambda b: b.startswith(L2)),
        (
            "skype-login-l3",
            lambda b: b.startswith(L1 + b"\x16\x03\x01") and len(b) > 10 and b[10] in (0x41, 0x42),
        ),
        ("skype-login-l4", lambda b: b.startswith(L2 + b"\x17\x03\x01")),
        (
            "skype-sslv2-hello",
            lambda b: len(b) >= 72 and b.startswith(sn_handshake.SSLV2_HELLO_PREFIX),
        ),
        (
            "skype-sslv2-junk",
            lambda b: (
                len(b) >= 72
                and b.startswith(sn_handshake.SSLV2_HELLO_PREFIX)
                and sn_handshake.contradicts_tls(b[72:])
            ),
        ),
        ("skype-resp-tls", sn_handshake.looks_tls_record),
        ("skype-fixed-server-hello", lambda b: b.startswith(sn_handshake.FIXED_SERVER_HELLO)),
        ("skype-version-uri", lambda b: version_check.VERSION_URI.match(b) is not None),
        ("skype-version-absolute", lambda b: version_check.ABSOLUTE_URI.match(b) is not None),
        ("skype-version-host", lambda b: version_check.HOST_HEADER.match(b) is not None),
        ("skype-user-agent", lambda b: version_check.SKYPE_AGENT.match(b) is not None),
    ],
)
def test_signature_accepts_what_python_accepts(sig, python_check):
    pattern = sig_pattern(sig)
    rng = random.Random(sig)
    hits = 0
    for s in streams(rng):
        expected = bool(python_check(s))
        assert bool(pattern.match(s)) == expected, (sig, s[:90])
        hits += expected
    assert hits > 0, f"{sig}: no test stream exercises the positive case"


def test_udp_gate_is_the_python_gate():
    from skypewatch.signatures.udp_layout import KNOWN_NIBBLES, KNOWN_TYPES

    gate = re.search(r"const gate_nibbles: set\[count\] = \{(.*?)\};", ALL, re.S)
    known = re.search(r"const known_udp_types: set\[count\] = \{(.*?)\};", ALL, re.S)
    assert gate and known
    assert {int(x, 16) for x in re.findall(r"0x[0-9A-Fa-f]+", gate.group(1))} == KNOWN_NIBBLES
    assert {int(x, 16) for x in re.findall(r"0x[0-9A-Fa-f]+", known.group(1))} == KNOWN_TYPES


# -- declarations ------------------------------------------------------------------------

ZEEK_TYPE = {"conn_id": None, "transport_proto": "enum"}


def test_info_record_is_the_python_skype_log():
    body = re.search(r"type Info: record \{(.*?)\n\t\};", SCRIPTS["main.zeek"], re.S)
    assert body
    fields = []
    for name, ztype in re.findall(r"^\t\t(\w+): ([\w\[\]]+)[^;]*&log", body.group(1), re.M):
        if ztype == "conn_id":
            fields += [
                ("id.orig_h", "addr"),
                ("id.orig_p", "port"),
                ("id.resp_h", "addr"),
                ("id.resp_p", "port"),
            ]
        else:
            fields.append((name, ZEEK_TYPE.get(ztype, ztype)))
    assert fields == SKYPE_FIELDS
    optional = set(re.findall(r"^\t\t(\w+): [^;]*&log[^;]*&optional", body.group(1), re.M))
    assert optional == SKYPE_OPTIONAL


PYTHON_NOTES = {
    v for v in vars(correlation_notices).values() if isinstance(v, str) and v.startswith("Skype::")
}


def test_notice_types_match():
    """Every notice type either engine raises is declared, mapped and raised by both."""
    enum = re.search(r"redef enum Notice::Type \+= \{(.*?)\};", SCRIPTS["notices.zeek"], re.S)
    assert enum
    names = {"Skype::" + n for n in re.findall(r"^\t\t(\w+),", enum.group(1), re.M)}
    # External_Correlation files a note name the Python correlator sends that this
    # script does not know; Python never raises it.
    assert names == PYTHON_NOTES | {"Skype::External_Correlation"}
    assert len(PYTHON_NOTES) >= 4
    # A note the correlator sends over the bridge becomes its own type, not External_...
    handler = re.search(
        r"^event Skype::correlated_notice\(.*?^\t\}", SCRIPTS["notices.zeek"], re.S | re.M
    )
    assert handler
    mapped = re.findall(r'note == "([\w:]+)"\s*\)\s*kind = (\w+);', handler.group(0))
    assert {text for text, _ in mapped} == PYTHON_NOTES
    assert all(text == "Skype::" + kind for text, kind in mapped), mapped
    # Zeek's own correlator raises each one (outside the bridge handler) ...
    own = SCRIPTS["notices.zeek"].replace(handler.group(0), "")
    for note in PYTHON_NOTES:
        name = note.split("::")[1]
        assert re.search(r"(\$note=|note = )" + name + r"\b", own), note
    # ... and a committed trace shows each one, so the btest baselines (Zeek's notice.log
    # against the Python engine's) hold both engines to it without the shared captures.
    shown = set()
    for canon in (REPO / "testing" / "btest" / "Baseline").glob("tests.traces.*/notice.canon"):
        shown |= set(re.findall(r"Skype::\w+", canon.read_text()))
    assert shown >= PYTHON_NOTES, PYTHON_NOTES - shown


DECL = re.compile(r"global (\w+): (event|function)\(([^)]*)\)", re.S)
HANDLER = re.compile(r"^event Skype::(\w+)\(([^)]*)\)", re.M)


def _params(text: str) -> list[tuple[str, str]]:
    out = []
    for part in " ".join(text.split()).split(","):
        if part.strip():
            name, _, ztype = part.partition(":")
            out.append((name.strip(), ztype.strip()))
    return out


def test_every_handler_matches_its_declaration():
    decls = {name: (kind, _params(args)) for name, kind, args in DECL.findall(ALL)}
    handlers = HANDLER.findall(ALL)
    assert len(handlers) > 15
    for name, args in handlers:
        assert name in decls and decls[name][0] == "event", name
        assert _params(args) == decls[name][1], name


def test_every_signature_target_is_declared_with_the_signature_types():
    decls = {name: (kind, _params(args)) for name, kind, args in DECL.findall(ALL)}
    targets = re.findall(r"^\t(event|eval) Skype::(\w+)", SIG, re.M)
    assert len(targets) == 17
    sig_args = [("state", "signature_state"), ("data", "string")]
    for kind, name in targets:
        assert name in decls, name
        assert decls[name][0] == ("event" if kind == "event" else "function"), name
        assert decls[name][1] == sig_args, name
    for _, name in targets:  # only the .sig file reaches them: Zeek must not call them unused
        decl = re.search(r"global " + name + r": [^;]*;", ALL)
        assert decl and "&is_used" in decl.group(0), name
    for _, name in targets:  # declared in an export block: visible to the .sig file
        exported = any(
            re.search(r"global " + name + r":", block)
            for block in re.findall(r"^export \{(.*?)^\}", ALL, re.S | re.M)
        )
        assert exported, name


def test_every_exported_name_is_documented():
    for fname, text in SCRIPTS.items():
        for block in re.findall(r"^export \{(.*?)^\}", text, re.S | re.M):
            lines = block.splitlines()
            for i, line in enumerate(lines):
                decl = re.match(r"\t(global|option|const|type) (\w+)", line)
                if decl:
                    assert lines[i - 1].strip().startswith("##"), f"{fname}: {decl.group(2)}"
        assert text.startswith("##!") or fname == "__load__.zeek", fname


_UNITS = {"usec": 1e-6, "msec": 1e-3, "sec": 1, "min": 60, "hr": 3600, "day": 86400}


def _zeek_value(text: str) -> object:
    """A Zeek option's initial value as Python reads it (intervals in seconds)."""
    text = " ".join(text.split())
    if text in ("T", "F"):
        return text == "T"
    if quoted := re.fullmatch(r'"(.*)"', text):
        return quoted.group(1)
    if interval := re.fullmatch(r"([\d.]+) ?(usec|msec|sec|min|hr|day)s?", text):
        return float(interval.group(1)) * _UNITS[interval.group(2)]
    if text.startswith("{"):
        return {int(x) for x in re.findall(r"\d+", text)}
    return int(text) if text.isdigit() else float(text)


def _zeek_options() -> dict[str, object]:
    found = re.findall(r"^\toption (\w+)(?:: [^=]+)? = (.*?);", ALL, re.S | re.M)
    assert len(found) == len({name for name, _ in found}), "an option declared twice"
    return {name: _zeek_value(value) for name, value in found}


# Zeek options with no Python counterpart, and why.
ZEEK_ONLY = {
    "publish_events": "whether Zeek publishes its events at all; the Python side only subscribes",
    "share_refresh": (
        "how often a cluster node passes on a repeat of a host-context fact (share.zeek); the"
        " Python engine is one process"
    ),
    "notice_tick_lag": (
        "Zeek's live clock: a quiet link moves it on after this much network time; the Python"
        " live bridge's clock follows the wall clock from the last event (live/bridge.py)"
    ),
    "context_settle": (
        "how long a Zeek cluster worker holds a fallback-chain verdict for the other workers'"
        " attempts; one Python process sees every connection itself"
    ),
}
# Python options with no Zeek counterpart, and why.
PYTHON_ONLY = {
    "local_nets": "Zeek reads Site::local_nets, a Zeek setting rather than a package option",
}
CORRELATOR_NAMES = {"settle": "notice_settle"}  # Python field -> Zeek option, where they differ


def test_tunables_agree():
    """Every Zeek option is compared with its Python value or named Zeek-only with a reason,
    and every Python tunable has its Zeek option: a new one on either side fails here."""
    import argparse
    import dataclasses
    import inspect

    from skypewatch.cli import correlate
    from skypewatch.connections.connection import MAX_DATAGRAMS
    from skypewatch.live.bridge import ZeekBridge
    from skypewatch.signatures.udp_probe import EXCLUDED_PORTS
    from skypewatch.verdict.judge import MAX_EVIDENCE

    commands = argparse.ArgumentParser().add_subparsers()
    correlate.add_parser(commands)
    cli_topic = commands.choices["correlate"].get_default("topic")
    python: dict[str, list[object]] = {
        "max_datagrams": [MAX_DATAGRAMS],
        "max_evidence": [MAX_EVIDENCE],
        "excluded_ports": [set(EXCLUDED_PORTS)],
        "topic_prefix": [
            inspect.signature(ZeekBridge).parameters["topic_prefix"].default,
            cli_topic,
        ],
    }
    for options, names in ((HostOptions(), {}), (HostCorrelatorOptions(), CORRELATOR_NAMES)):
        for field in dataclasses.fields(options):
            if field.name in PYTHON_ONLY:
                continue
            zeek_name = names.get(field.name, field.name)
            assert zeek_name not in python, zeek_name
            python[zeek_name] = [getattr(options, field.name)]

    zeek = _zeek_options()
    assert set(zeek) == set(python) | set(ZEEK_ONLY), (
        f"Zeek only: {set(zeek) - set(python) - set(ZEEK_ONLY)};"
        f" Python only: {set(python) - set(zeek)}"
    )
    for name, values in python.items():
        for value in values:
            assert zeek[name] == value, (name, zeek[name], value)
            assert type(zeek[name]) is type(value) or isinstance(value, float), name
    assert len(python) >= 16


def _bodies(text: str):
    """(header, body) of every function, event and hook definition (Whitesmiths braces)."""
    for found in re.finditer(
        r"^(function|event|hook) ([^\n]*(?:\n    [^\n]*)*)\n\t\{\n(.*?)^\t\}", text, re.S | re.M
    ):
        yield found.group(2).split("(")[0], found.group(3)


def test_no_local_is_declared_twice_in_one_body():
    """Zeek locals have function scope: a second ``local x`` in one body is an error."""
    seen_bodies = 0
    for fname, text in SCRIPTS.items():
        for name, body in _bodies(text):
            seen_bodies += 1
            names = re.findall(r"\blocal (\w+)", body)
            dupes = {n for n in names if names.count(n) > 1}
            assert not dupes, f"{fname}: {name} declares {dupes} twice"
    assert seen_bodies > 40


def test_python_event_schema_is_the_zeek_declaration():
    from skypewatch.live import schema

    decls = {name: _params(args) for name, kind, args in DECL.findall(ALL) if kind == "event"}
    for full, types in schema.SIGNATURES.items():
        name = full.split("::")[1]
        assert [t for _, t in decls[name]] == list(types), full
    notice = [t for _, t in decls["correlated_notice"]]
    assert notice == ["time", "string", "addr", "string", "string", "count", "string"]
    assert "&is_used" in re.search(r"global correlated_notice: event\([^)]*\)[^;]*;", ALL).group(0)
