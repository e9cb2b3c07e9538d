"""Target ``conn-log``: the correlator's conn.log join (``skypewatch correlate --conn``), TSV
and JSON, plain and gzip, beside a good skype.log of the same traces.

Contract: ``run_offline`` returns (bad lines reported, one short line each) or raises
``SkypewatchError``; every TCP session it takes from conn.log has a time within 1970..2100,
ports 0-65535 and addresses; every notice it raises can be sent to Zeek (encodes) and its
notice.log reads back strictly.
"""

from __future__ import annotations

import ipaddress

from skypewatch.correlation.engine import EngineOptions
from skypewatch.correlation.events import valid_time
from skypewatch.correlation.offline import run_offline
from skypewatch.correlation.sources import SourceStats, conn_sessions
from skypewatch.errors import SkypewatchError
from skypewatch.live import schema
from skypewatch.zeeklog import Lenient, LogReadError, read_log

from . import seeds
from .harness import Target, Violation, Workspace
from .zeek_log import JSON_TOKENS, TSV_TOKENS


def _one_line(msg: str) -> None:
    if "\n" in msg or len(msg) > 2000:
        raise Violation("a reported problem is not one short line", repr(msg[:120]))


def run(data: bytes, ws: Workspace) -> None:
    skype_log = seeds.skype_probe_log(ws)
    conn = ws.fresh_dir("conn") / "conn.log"
    conn.write_bytes(data)

    lenient = Lenient(report=_one_line)
    try:
        for ev in conn_sessions(conn, lenient, SourceStats()):
            if not valid_time(ev.ts):
                raise Violation("conn.log session with a time out of range", repr(ev.ts))
            if not (0 <= ev.client_port <= 65535 and 0 <= ev.peer_port <= 65535):
                raise Violation("conn.log session with a port out of range", repr(ev))
            ipaddress.ip_address(ev.client)
            ipaddress.ip_address(ev.peer)
    except LogReadError:
        pass

    out = ws.fresh_dir("conn-out")
    try:
        result, _engine = run_offline(
            [str(skype_log)], [str(conn)], out, EngineOptions(), report=_one_line
        )
    except SkypewatchError:
        return
    for n in result.notices:
        schema.notice_event("zeek/skype/notice", n)  # a CodecError here is a finding
    if result.notice_log is not None:
        try:
            read_log(result.notice_log)
        except SkypewatchError as exc:
            raise Violation(
                "correlate wrote a notice.log its reader refuses", str(exc)[:200]
            ) from None


TARGET = Target(
    "conn-log",
    run,
    seeds.conn_seeds,
    deadline=10.0,
    dictionary=tuple(dict.fromkeys(TSV_TOKENS + JSON_TOKENS)),
)
