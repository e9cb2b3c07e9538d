"""Target ``pcap``: the capture reader, header decoding and a whole ``analyze`` run.

Contract: ``read_capture`` yields finite timestamps and frames no longer than ``MAX_CAPLEN``
and raises nothing but ``CaptureError`` (``CaptureTruncated`` after the readable records);
``decode`` returns ``None`` or a packet with ports 0-65535, and raises only
``UnsupportedLinkType``; ``analyze`` returns a summary or raises ``SkypewatchError``, and the
logs it writes read back through the project's own reader, strictly.
"""

from __future__ import annotations

import math

from skypewatch.analyze import analyze
from skypewatch.errors import CaptureError, SkypewatchError
from skypewatch.packets.capture import MAX_CAPLEN, MAX_SECONDS, read_capture
from skypewatch.packets.decode import SUPPORTED_LINK_TYPES, TCP, UDP, decode
from skypewatch.zeeklog import read_log

from . import seeds
from .harness import Target, Violation, Workspace

DICTIONARY = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\x08\x00\x45\x00",
    b"\x86\xdd\x60\x00",
    b"\x81\x00",
    b"\x88\xa8",
    b"\x11",
    b"\x06",
    b"\x2c",
    b"\x00\x71",
    b"\x01\x14",
)


def check_frames(path, name: str) -> None:
    """Read every frame, decode it, check what came out; CaptureError is the allowed end."""
    try:
        for ts, link, frame in read_capture(path):
            if not (isinstance(ts, float) and math.isfinite(ts) and 0 <= ts < MAX_SECONDS + 1):
                raise Violation(f"{name}: frame time out of range", repr(ts))
            if not isinstance(frame, bytes) or len(frame) > MAX_CAPLEN:
                raise Violation(f"{name}: frame longer than MAX_CAPLEN", str(len(frame)))
            if link not in SUPPORTED_LINK_TYPES:
                continue  # analyze refuses it by name; decode would raise UnsupportedLinkType
            pkt = decode(link, frame)
            if pkt is None:
                continue
            proto, _src, sport, _dst, dport, _flags, _seq, payload, _ack, wire = pkt
            if proto not in (TCP, UDP) or not (0 <= sport <= 65535 and 0 <= dport <= 65535):
                raise Violation("decode: packet fields out of range", repr(pkt[:5]))
            if wire < 0 or not isinstance(payload, bytes):
                raise Violation("decode: payload length negative", repr(wire))
    except CaptureError:
        pass


def run_capture(data: bytes, ws: Workspace, suffix: str) -> None:
    path = ws.path("input" + suffix)
    path.write_bytes(data)
    check_frames(path, "read_capture")
    out = ws.path("out")
    try:  # TSV or JSON logs, as the input's length falls
        summary = analyze([path], out, use_json=bool(len(data) & 1))
    except SkypewatchError:
        return
    for log in (summary.skype_log, summary.notice_log):
        if log is None:
            raise Violation("analyze: a log was not written")
        try:
            read_log(log)
        except SkypewatchError as exc:
            raise Violation("analyze wrote a log its reader refuses", str(exc)[:200]) from None


def run(data: bytes, ws: Workspace) -> None:
    run_capture(data, ws, ".pcap")


TARGET = Target(
    "pcap", run, seeds.pcap_seeds, deadline=10.0, max_len=64 * 1024, dictionary=DICTIONARY
)
