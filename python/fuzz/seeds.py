"""Seed material, gathered when a fuzzing process starts (nothing here is committed).

- captures: the committed synthesized traces (testing/btest/Traces) and, where present, the
  shared real captures (../shared/pcaps, read-only), each cut to its first few records so an
  input costs milliseconds;
- pcapng: the same frames rewritten as pcapng in every block layout the reader knows
  (enhanced, simple and obsolete packet blocks; microsecond, nanosecond and binary
  resolutions; both byte orders; options; two sections), plus the shared pcapng files;
- logs: what the tools write -- ``skypewatch analyze`` run on the traces (TSV and JSON),
  cut to their first lines, plain and gzip -- and conn.log: synthesized from those runs'
  TCP connections with the project's log writer, and, for long runs where Zeek is on PATH,
  Zeek's own conn.log of the same traces.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

from .harness import Workspace

RECORDS = 24  # packets kept of each capture
LOG_LINES = 30  # data lines kept of each log
SEED_TRACES = (
    "skype-nat.pcap",
    "skype-open-2.0.pcap",
    "skype-local-supernode.pcap",
    "skype-login-restricted.pcap",
)
SHARED_FOR_LOGS = ("skype/SkypeIRC.cap", "skype/skype_udp.pcap")


def _pcap_head(data: bytes, records: int = RECORDS) -> bytes:
    """The file header and the first *records* records of a pcap file (as they were)."""
    if len(data) < 24:
        return data
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos = 24
    for _ in range(records):
        if pos + 16 > len(data):
            break
        incl = struct.unpack_from(endian + "I", data, pos + 8)[0]
        pos += 16 + incl
    return data[: min(pos, len(data))]


def _pcapng_head(data: bytes, blocks: int = RECORDS + 4) -> bytes:
    """The first *blocks* blocks of a pcapng file (as they were)."""
    if len(data) < 12:
        return data
    endian = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos = 0
    for _ in range(blocks):
        if pos + 8 > len(data):
            break
        blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
        if blen < 12:
            break
        pos += blen
    return data[: min(pos, len(data))]


def _capture_files(ws: Workspace) -> list[Path]:
    files = sorted(ws.traces.glob("*.pcap"))
    if ws.shared is not None:
        files += sorted(
            p
            for p in ws.shared.rglob("*")
            if p.suffix in (".pcap", ".cap", ".pcapng") and p.is_file()
        )
    return files


def pcap_seeds(ws: Workspace) -> list[bytes]:
    out = []
    for p in _capture_files(ws):
        data = p.read_bytes()
        if data[:4] != b"\x0a\x0d\x0d\x0a":
            out.append(_pcap_head(data))
    return out


def shared_pcapng_seeds(ws: Workspace) -> list[bytes]:
    return [
        _pcapng_head(p.read_bytes())
        for p in _capture_files(ws)
        if p.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    ]


def frames_of(data: bytes) -> tuple[int, list[tuple[float, bytes]]]:
    """(link type, [(ts, frame)]) of a pcap seed, read by the project's reader."""
    from skypewatch.errors import CaptureError
    from skypewatch.packets.capture import read_capture

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"skypewatch-seed-{os.getpid()}.pcap"
    path.write_bytes(data)
    frames: list[tuple[float, bytes]] = []
    links = [1]
    try:
        for ts, link, frame in read_capture(path):
            frames.append((ts, frame))
            links[-1:] = [link]
    except CaptureError:
        pass
    finally:
        path.unlink(missing_ok=True)
    return links[0], frames


# -- pcapng -------------------------------------------------------------------------------


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_file(
    link: int,
    frames: list[tuple[float, bytes]],
    *,
    e: str = "<",
    tsresol: int | None = None,
    kind: str = "epb",
    sections: int = 1,
) -> bytes:
    """A pcapng file holding *frames*: *kind* epb, spb or pb blocks; *tsresol* the if_tsresol
    byte (None: absent, microseconds)."""
    tick = 1e-6
    if tsresol is not None:
        tick = 2.0 ** -(tsresol & 0x7F) if tsresol & 0x80 else 10.0 ** -(tsresol & 0x7F)
    out = []
    per = max(len(frames) // sections, 1)
    for s in range(sections):
        shb_opts = _option(e, 2, b"fuzz seed") + _option(e, 0, b"")
        out.append(_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts))
        opts = _option(e, 2, b"eth0")
        if tsresol is not None:
            opts += _option(e, 9, bytes([tsresol]))
        opts += _option(e, 0, b"")
        out.append(_block(e, 1, struct.pack(e + "HHI", link, 0, 65535) + opts))
        for ts, frame in frames[s * per : (s + 1) * per]:
            ticks = int(ts / tick)
            hi, lo = ticks >> 32, ticks & 0xFFFFFFFF
            if kind == "spb":
                out.append(_block(e, 3, struct.pack(e + "I", len(frame)) + frame))
            elif kind == "pb":
                body = struct.pack(e + "HHIIII", 0, 0, hi, lo, len(frame), len(frame)) + frame
                out.append(_block(e, 2, body))
            else:
                body = struct.pack(e + "IIIII", 0, hi, lo, len(frame), len(frame)) + frame
                body += b"\0" * (-len(frame) % 4) + _option(e, 1, b"ok") + _option(e, 0, b"")
                out.append(_block(e, 6, body))
    return b"".join(out)


def pcapng_seeds(ws: Workspace) -> list[bytes]:
    out = shared_pcapng_seeds(ws)
    variants = [
        {"e": "<"},
        {"e": ">", "tsresol": 9},
        {"tsresol": 0x80 | 20},
        {"kind": "spb"},
        {"kind": "pb", "e": ">"},
        {"sections": 2, "tsresol": 3},
    ]
    pcaps = pcap_seeds(ws)
    for i, v in enumerate(variants):
        link, frames = frames_of(pcaps[i % len(pcaps)])
        if frames:
            out.append(pcapng_file(link, frames[:12], **v))  # type: ignore[arg-type]
    return out


# -- logs ---------------------------------------------------------------------------------


def analyzed_logs(ws: Workspace) -> Path:
    """``skypewatch analyze`` over the seed traces, TSV and JSON: <root>/logs/<trace>-<form>/."""

    def make() -> Path:
        from skypewatch.cli import main

        base = ws.path("logs")
        base.mkdir(exist_ok=True)
        inputs = [ws.traces / t for t in SEED_TRACES]
        if ws.shared is not None:
            inputs += [ws.shared / s for s in SHARED_FOR_LOGS if (ws.shared / s).exists()]
        for capture in inputs:
            for form in ("tsv", "json"):
                out = base / f"{capture.stem}-{form}"
                argv = ["analyze", str(capture), "-o", str(out), "--quiet"]
                with contextlib.redirect_stderr(io.StringIO()):
                    main([*argv, "--json"] if form == "json" else argv)
        return base

    return ws.remember("analyzed", make)  # type: ignore[return-value]


def _head_lines(data: bytes, lines: int = LOG_LINES) -> bytes:
    """Header lines, the first *lines* data lines, and the footer (``#close``)."""
    all_lines = data.splitlines(keepends=True)
    head = [ln for ln in all_lines if ln.startswith(b"#") and not ln.startswith(b"#close")]
    body = [ln for ln in all_lines if not ln.startswith(b"#")][:lines]
    tail = [ln for ln in all_lines if ln.startswith(b"#close")]
    return b"".join(head + body + tail)


def log_seeds(
    ws: Workspace, form: str, names: tuple[str, ...] = ("skype", "notice")
) -> list[bytes]:
    base = analyzed_logs(ws)
    out = []
    for d in sorted(base.glob(f"*-{form}")):
        for name in names:
            p = d / f"{name}.log"
            if p.exists() and p.stat().st_size:
                out.append(_head_lines(p.read_bytes()))
    out += [gzip.compress(s, mtime=0) for s in out[:2]]
    return out


def conn_rows(ws: Workspace) -> list[dict]:
    """conn.log rows for every TCP and UDP connection the seed runs reported, plus each
    probe's peer on 80 and 443 (the correlator's fallback join)."""
    from skypewatch.zeeklog import read_log

    rows = []
    for p in sorted(analyzed_logs(ws).glob("*-tsv/skype.log")):
        _, records = read_log(p)
        for i, r in enumerate(records[:LOG_LINES]):
            row = {
                "ts": r["ts"] + 0.5,
                "uid": f"Cfz{i:015d}",
                "id.orig_h": r["id.orig_h"],
                "id.orig_p": 50000 + i,
                "id.resp_h": r["id.resp_h"],
                "id.resp_p": r["id.resp_p"] if r["proto"] == "tcp" else (80, 443)[i % 2],
                "proto": "tcp",
                "service": None if i % 3 else "ssl",
                "duration": r["duration"],
                "orig_bytes": 100 + i,
                "resp_bytes": 0 if i % 4 == 0 else 500,
                "conn_state": "SF",
                "local_orig": True,
                "local_resp": False,
                "missed_bytes": 0,
                "history": "ShADadFf",
                "orig_pkts": 5,
                "orig_ip_bytes": 300,
                "resp_pkts": 4,
                "resp_ip_bytes": 700,
                "tunnel_parents": [],
                "ip_proto": 6,
            }
            rows.append(row)
    return rows


def conn_seeds(ws: Workspace) -> list[bytes]:
    from skypewatch.zeeklog import CONN_FIELDS, ZeekLogWriter

    def make() -> list[bytes]:
        rows = conn_rows(ws)
        out = []
        for use_json in (False, True):
            d = ws.fresh_dir(f"conn-seed-{use_json}")
            with ZeekLogWriter(d, "conn", CONN_FIELDS, use_json) as w:
                for row in rows[: LOG_LINES * 2]:
                    w.write([row[n] for n, _ in CONN_FIELDS])
            out.append((d / "conn.log").read_bytes())
        if ws.use_zeek:
            out += zeek_conn_logs(ws)
        out += [gzip.compress(s, mtime=0) for s in out[:2]]
        return out

    return ws.remember("conn-seeds", make)  # type: ignore[return-value]


def zeek_conn_logs(ws: Workspace) -> list[bytes]:
    """Zeek's own conn.log (TSV and JSON) of the seed traces, when ``zeek`` is on PATH."""
    zeek = shutil.which("zeek")
    if zeek is None:
        return []
    out = []
    for trace in SEED_TRACES[:2]:
        for extra in ([], ["LogAscii::use_json=T"]):
            d = ws.fresh_dir("zeek-run")
            try:
                subprocess.run(
                    [zeek, "-C", "-r", str(ws.traces / trace), *extra],
                    cwd=d,
                    timeout=120,
                    check=True,
                    capture_output=True,
                )
            except (OSError, subprocess.SubprocessError):
                continue
            if (d / "conn.log").exists():
                out.append(_head_lines((d / "conn.log").read_bytes()))
    return out


def skype_probe_log(ws: Workspace) -> Path:
    """One skype.log holding the seed runs' records, the partner of a fuzzed conn.log."""

    def make() -> Path:
        parts = [
            _head_lines(p.read_bytes()) for p in sorted(analyzed_logs(ws).glob("*-json/skype.log"))
        ]
        d = ws.path("join")
        d.mkdir(exist_ok=True)
        path = d / "skype.log"
        path.write_bytes(b"".join(parts))
        return path

    return ws.remember("skype-probe-log", make)  # type: ignore[return-value]


def ws_frames(ws: Workspace) -> list[bytes]:
    """Zeek WebSocket frames: the seed runs' records as Skype::detection events, their
    probes and TCP sessions as probe_seen / tcp_session_seen, an ack, an error, and events
    with metadata and containers."""
    from skypewatch.correlation.events import ProbeEvent, TcpEvent
    from skypewatch.live import codec, schema
    from skypewatch.skypelog import SkypeRecord
    from skypewatch.zeeklog import read_log

    topic = "zeek/skype/"
    frames = [
        json.dumps({"type": "ack", "endpoint": "fe2c1f0e-aaaa", "version": "8.0.10"}),
        json.dumps({"type": "error", "code": "deserialization_failed", "context": "x"}),
    ]
    for p in sorted(analyzed_logs(ws).glob("*-tsv/skype.log"))[:3]:
        _, rows = read_log(p)
        for row in rows[:6]:
            rec = SkypeRecord.from_row(row)
            frames.append(schema.detection_event(topic + "detection", rec))
            args = (rec.ts, rec.uid, rec.client, rec.orig_p, rec.peer, rec.resp_p)
            if rec.proto == "udp":
                frames.append(schema.probe_event(topic + "probe", ProbeEvent(*args)))
            else:
                frames.append(schema.tcp_event(topic + "tcp", TcpEvent(*args)))
    meta = {
        "@data-type": "vector",
        "data": [
            {
                "@data-type": "vector",
                "data": [
                    {"@data-type": "count", "data": 1},
                    codec.encode_value(codec.timestamp(1e9)),
                ],
            }
        ],
    }
    obj = json.loads(frames[-1])
    obj["data"][2]["data"].append(meta)
    frames.append(json.dumps(obj))
    table = {
        "@data-type": "table",
        "data": [{"key": codec.encode_value("k"), "value": codec.encode_value([1.5, -2, None])}],
    }
    other = json.loads(codec.encode_event(topic + "x", "Other::event", []))
    other["data"][2]["data"][1]["data"] = [table]
    frames.append(json.dumps(other))
    out = [f.encode("utf-8") for f in frames]
    return out + [f for f in _wire_frames() if len(f) <= 64 * 1024]


def _wire_frames() -> list[bytes]:
    """The live correlator tests' hostile frames (every class of damage issue 11 lists) and
    random ones (tests/zeek_wire.py)."""
    import importlib
    import random
    import sys

    tests = str(Path(__file__).resolve().parents[1] / "tests")
    sys.path.insert(0, tests)
    try:
        wire = importlib.import_module("zeek_wire")
    except ImportError:  # tests/ not beside fuzz/ (an installed copy): the seeds above do
        return []
    finally:
        sys.path.remove(tests)
    frames = [h.frame for h in wire.hostile_frames()] + wire.random_frames(random.Random(11), 40)
    return [f.encode("utf-8") if isinstance(f, str) else bytes(f) for f in frames]
