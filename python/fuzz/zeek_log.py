"""The contract of the Zeek log reader, shared by the ``tsv-log``, ``json-log`` targets, and of
the correlator reading the file as a skype.log.

For any file: strict reading returns typed rows or raises ``LogReadError``; lenient reading
returns the good rows (reporting the rest) and raises ``LogReadError`` only when the file
cannot be read at all; every value returned has its declared type and range (finite times
within 1970..2100, ports 0-65535, counts within 64 bits, addresses that are addresses); the
bulk reader (Arrow) keeps exactly the lines the per-line reader keeps, and so does the pandas
reader ``skypewatch.analyst.logs``, which query and report use.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Any

from skypewatch.skypelog import KNOWN_LOGS
from skypewatch.zeeklog import Lenient, LogReadError, read_log
from skypewatch.zeeklog.format import inner_type, is_container
from skypewatch.zeeklog.values import INT_RANGE, LATEST, MAX_COUNT

from .harness import Violation, Workspace

JSON_TOKENS = (
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"false",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"1e308",
    b"-0",
    b"0.5",
    b"9" * 400,
    b"[[[[[[[[[[[[[[[[",
    b'"\\ud800"',
    b'"\\u0000"',
    b"4102444801",
    b"65536",
    b"-1",
    b"18446744073709551616",
    b'"1.2.3.4"',
    b'"::ffff:1.2.3.4"',
    b'["a","b"]',
    b'{"a":1}',
    b'"2006-08-25T19:32:21.699Z"',
    b'"2006-08-25T19:32:21+24:00"',
    b'"ts"',
    b'"uid"',
    b'"id.orig_p"',
    b'"client_public_ip"',
    b'"skype_version"',
    b'"stage"',
    b'"signatures"',
    b'"_path"',
    b'"conn_state"',
    b"\xff",
    b"\r\n",
    b"\n",
)
TSV_TOKENS = (
    b"\t",
    b"-",
    b"(empty)",
    b"\\x09",
    b"\\x2d",
    b"\\xff",
    b"\\x",
    b"nan",
    b"inf",
    b"-inf",
    b"1e999",
    b"1e303",
    b"99999",
    b"65536",
    b"-1",
    b"9" * 30,
    b"18446744073709551616",
    b"1700000000.123456",
    b"T",
    b"F",
    b"::1",
    b"1.2.3.4",
    b"256.1.1.1",
    b"fe80::1%eth0",
    b"10.0.0.0/33",
    b"#fields",
    b"#types",
    b"#separator \\x09",
    b"#close\t2026-01-01-00-00-00",
    b"#set_separator\t,",
    b",",
    b"\xff\xfe",
    b"\x00",
    b"\r",
    b"\n",
    b"time",
    b"port",
    b"set[string]",
    b"vector[addr]",
    b"set[",
    b"addr",
    b"count",
    b"int",
    b"interval",
    b"double",
    b"bool",
    b"subnet",
)


def check_value(ztype: str, v: Any) -> bool:
    if v is None:
        return True
    if is_container(ztype):
        return isinstance(v, list) and all(
            x is not None and check_value(inner_type(ztype), x) for x in v
        )
    if ztype == "time":
        return type(v) is float and 0.0 <= v <= LATEST
    if ztype in ("interval", "double"):
        return type(v) is float and math.isfinite(v)
    if ztype == "count":
        return type(v) is int and 0 <= v <= MAX_COUNT
    if ztype == "int":
        return type(v) is int and INT_RANGE[0] <= v <= INT_RANGE[1]
    if ztype == "port":
        return type(v) is int and 0 <= v <= 65535
    if ztype == "bool":
        return type(v) is bool
    if ztype in ("addr", "subnet"):
        try:
            (ipaddress.ip_address if ztype == "addr" else ipaddress.ip_network)(v)
        except (ValueError, TypeError):
            return False
        return True
    return isinstance(v, str)


def _redefined(header) -> bool:
    """Did ``#fields``/``#types`` lines among the data change the columns part-way?"""
    return any(line.startswith(("#fields", "#types")) for line in header.footer)


def _plain(v: Any) -> bool:
    if isinstance(v, list):
        return all(_plain(x) for x in v)
    if isinstance(v, float):
        return math.isfinite(v)
    return v is None or isinstance(v, (str, int, bool))


def _check_rows(header, rows: list[dict]) -> None:
    """Every value of its declared type; where the header changed part-way (each row was read
    under the header of its own part) at least a plain, finite value."""
    typed = header.ready and not _redefined(header)
    types = dict(zip(header.fields, header.types, strict=True)) if typed else {}
    for row in rows:
        for name, v in row.items():
            ok = check_value(types.get(name, "string"), v) if typed else _plain(v)
            if not ok:
                raise Violation(
                    "reader returned a value outside its declared type",
                    f"{name} {types.get(name)}: {v!r:.80}",
                )


def _lenient(messages: list[str]) -> Lenient:
    def report(msg: str) -> None:
        if "\n" in msg or len(msg) > 2000:
            raise Violation("a reported problem is not one short line", repr(msg[:120]))
        messages.append(msg)

    return Lenient(report=report)


def run_log(data: bytes, ws: Workspace, name: str) -> None:
    path: Path = ws.fresh_dir("log") / name
    path.write_bytes(data)
    try:
        strict_header, strict_rows = read_log(path, known=KNOWN_LOGS)
    except LogReadError:
        strict_rows = None
    else:
        _check_rows(strict_header, strict_rows)

    messages: list[str] = []
    lenient = _lenient(messages)
    try:
        header, rows = read_log(path, lenient, KNOWN_LOGS)
        lenient.done()
    except LogReadError:
        return
    _check_rows(header, rows)
    if strict_rows is not None and (lenient.bad_lines or len(rows) != len(strict_rows)):
        raise Violation("strict reading accepted a file that lenient reading found bad lines in")

    from skypewatch.analyst.logs import read_log as read_frame
    from skypewatch.zeeklog.bulk import iter_tables
    from skypewatch.zeeklog.header import expected_types

    bulk = _lenient([])
    try:
        n_bulk = sum(t.num_rows for _, t in iter_tables(path, bulk, known=KNOWN_LOGS))
        bulk.done()
    except LogReadError as exc:
        raise Violation(
            "bulk reader refused a file the per-line reader read", str(exc)[:200]
        ) from None
    if n_bulk != len(rows) or bulk.bad_lines != lenient.bad_lines:
        raise Violation(
            "bulk and per-line readers disagree",
            f"rows {n_bulk} vs {len(rows)}, bad lines {bulk.bad_lines} vs {lenient.bad_lines}",
        )
    frame_lenient = _lenient([])
    try:
        df = read_frame(path, lenient=frame_lenient)
    except LogReadError as exc:
        if _redefined(header):  # a column whose type changes part-way has no one dtype
            return
        if header.mismatch(expected_types(header)) is not None:
            return  # a skype/notice/conn log typing a known column otherwise: refused on purpose
        raise Violation(
            "pandas reader refused a file the per-line reader read", str(exc)[:200]
        ) from None
    if len(df) != len(rows):
        raise Violation("pandas reader and per-line reader disagree", f"{len(df)} vs {len(rows)}")
    _correlate(path, ws)


def _correlate(path: Path, ws: Workspace) -> None:
    """The file as ``skypewatch correlate`` reads a skype.log: its good lines into the engine;
    every notice must encode for Zeek."""
    from skypewatch.correlation.engine import EngineOptions
    from skypewatch.correlation.offline import run_offline
    from skypewatch.errors import SkypewatchError
    from skypewatch.live import schema

    def one_line(msg: str) -> None:
        if "\n" in msg or len(msg) > 2000:
            raise Violation("a reported problem is not one short line", repr(msg[:120]))

    try:
        result, _ = run_offline([str(path)], [], ws.fresh_dir("correlate"), EngineOptions(),
                                report=one_line)  # fmt: skip
    except SkypewatchError:
        return
    for n in result.notices:
        schema.notice_event("zeek/skype/notice", n)
