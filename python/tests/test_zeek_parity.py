"""The Zeek package against its specification, the Python engine.

No Zeek runs here, so these tests hold what can be held without one: the btest baselines
are the Python engine's output, skype.sig's byte patterns accept exactly what the Python
checks accept, the skype.log record has the Python fields and types, every event handler
matches its declaration, every exported name is documented, and the tunables agree.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
from conftest import REPO

from skypewatch.correlation.hosts import HostCorrelatorOptions
from skypewatch.correlation.notices import CLIENT_DETECTED, LOCAL_SUPER_NODE, LOGIN_SEQUENCE
from skypewatch.signatures import sn_handshake, version_check
from skypewatch.signatures.login import L1, L2
from skypewatch.skypelog import SKYPE_FIELDS, SKYPE_OPTIONAL
from skypewatch.synth import messages as m
from skypewatch.verdict.host_context import HostOptions

ZEEK = REPO / "zeek"
SIG = (ZEEK / "skype.sig").read_text()
SCRIPTS = {p.name: p.read_text() for p in ZEEK.glob("*.zeek")}
ALL = "\n".join(SCRIPTS.values())


def test_btest_baselines_are_the_python_engines_output():
    r = subprocess.run(
        [sys.executable, str(REPO / "testing" / "update_baselines.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


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


def test_notice_types_match():
    enum = re.search(r"redef enum Notice::Type \+= \{(.*?)\};", SCRIPTS["notices.zeek"], re.S)
    assert enum
    names = {"Skype::" + n for n in re.findall(r"^\t\t(\w+),", enum.group(1), re.M)}
    assert {CLIENT_DETECTED, LOGIN_SEQUENCE, LOCAL_SUPER_NODE} <= names


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


def _option(name: str) -> str:
    found = re.search(r"option " + name + r"(?:: [\w ]+)? = ([^;]+);", ALL)
    assert found, name
    return found.group(1).strip()


def test_tunables_agree():
    h, c = HostOptions(), HostCorrelatorOptions()
    seconds = {"sec": 1, "min": 60, "hr": 3600}

    def secs(text: str) -> float:
        num, unit = re.fullmatch(r"([\d.]+)\s*(sec|min|hr)s?", text).groups()
        return float(num) * seconds[unit]

    assert secs(_option("probe_tcp_window")) == h.probe_tcp_window
    assert secs(_option("fanout_window")) == h.fanout_window
    assert int(_option("fanout_min_peers")) == h.fanout_min_peers
    assert float(_option("fanout_min_share")) == h.fanout_min_share
    assert secs(_option("endpoint_idle")) == h.endpoint_idle
    assert int(_option("max_entries")) == h.max_entries
    assert secs(_option("notice_settle")) == c.settle
    assert secs(_option("session_gap")) == c.session_gap
    assert int(_option("sn_min_clients")) == c.sn_min_clients
    assert int(_option("max_hosts")) == c.max_hosts
    from skypewatch.connections.connection import MAX_DATAGRAMS
    from skypewatch.signatures.udp_probe import EXCLUDED_PORTS
    from skypewatch.verdict.judge import MAX_EVIDENCE

    assert int(_option("max_datagrams")) == MAX_DATAGRAMS
    assert int(_option("max_evidence")) == MAX_EVIDENCE
    ports = re.search(r"option excluded_ports: set\[count\] = \{(.*?)\};", ALL, re.S)
    assert ports and {int(x) for x in re.findall(r"\d+", ports.group(1))} == EXCLUDED_PORTS


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
