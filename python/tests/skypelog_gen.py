"""Generated skype.log files for the analyst views: many distinct clients, inside and outside
hosts, optional columns dropped, unset values, and many ties in the views' sort orders (most
clients have one to four lines).  Used by test_analyst_views_reference.py and by
benchmarks/bench_analyst.py."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from skypewatch.skypelog import SKYPE_FIELDS
from skypewatch.zeeklog import ZeekLogWriter

STAGES = ["probe", "probe", "probe", "sn_handshake", "login", "version_check", "media"]
ROLES = {
    "probe": "super_node",
    "sn_handshake": "super_node",
    "login": "login_server",
    "version_check": "update_server",
    "media": "peer",
}


@dataclass(frozen=True, slots=True)
class LogShape:
    clients: int = 1000
    max_lines: int = 4  # lines per client, 1..max_lines
    unset: float = 0.0  # chance that an optional-ish cell is unset ("-")
    unset_ts: bool = False  # whether ts itself may be unset
    drop: tuple[str, ...] = ()  # columns left out, as a log filter's $exclude would
    odd_values: bool = False  # empty versions, unknown confidences and roles
    peers: int = 5000  # distinct super nodes to draw from
    start: float = 1_156_530_000.0  # 2006-08-25


def _addr(rng: random.Random, inside: bool) -> str:
    if inside:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    first = rng.choice((24, 62, 81, 86, 212))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def rows(shape: LogShape, seed: int = 1) -> list[list[object]]:
    rng = random.Random(seed)
    nodes = [_addr(rng, rng.random() < 0.05) for _ in range(shape.peers)]
    logins = ["212.72.49.141", "212.72.49.142", "195.215.8.141"]
    out: list[list[object]] = []
    seen: set[str] = set()
    for i in range(shape.clients):
        client = _addr(rng, rng.random() < 0.7)
        while client in seen:
            client = _addr(rng, rng.random() < 0.7)
        seen.add(client)
        public = _addr(rng, False) if rng.random() < 0.5 else None
        version = rng.choice(("1.2.0.18", "1.4.0.84", "2.0.0.63"))
        t = shape.start + rng.random() * 86_400
        answered = rng.random() < 0.8
        for j in range(rng.randint(1, shape.max_lines)):
            stage = rng.choice(STAGES)
            role = ROLES[stage]
            peer = rng.choice(logins) if role == "login_server" else rng.choice(nodes)
            inbound = stage == "media" and rng.random() < 0.5
            orig, resp = (peer, client) if inbound else (client, peer)
            conf = rng.choice(("possible", "likely", "confirmed"))
            if shape.odd_values and rng.random() < 0.05:
                conf = rng.choice(("", "bogus"))
            if shape.odd_values and rng.random() < 0.05:
                role = rng.choice(("", "relay"))
            ver = version if stage == "version_check" or rng.random() < 0.2 else None
            if shape.odd_values and ver and rng.random() < 0.1:
                ver = ""
            row: list[object] = [
                t + j * rng.choice((0.0, 0.5, 3.0)),
                f"C{i:x}g{j}",
                orig,
                rng.randrange(1024, 65536),
                resp,
                rng.choice((443, 80, 33033, 40001)) if stage != "probe" else 40001,
                "udp" if stage == "probe" else "tcp",
                0.25,
                stage,
                [f"sig_{stage}"],
                client,
                peer,
                role,
                public if rng.random() < 0.6 else None,
                ver,
                conf,
                f"evidence {j}",
                answered if rng.random() < 0.9 else (not answered),
            ]
            if shape.unset:
                for k in (13, 14, 15, 17, 12, 6, 5):  # optional columns, and a few others
                    if rng.random() < shape.unset:
                        row[k] = None
                if shape.unset_ts and rng.random() < shape.unset:
                    row[0] = None
            out.append(row)
    return out


def write(directory: Path, shape: LogShape, seed: int = 1, use_json: bool = False) -> Path:
    """A skype.log of *shape* in *directory*."""
    fields = [(n, t) for n, t in SKYPE_FIELDS if n not in shape.drop]
    keep = [i for i, (n, _) in enumerate(SKYPE_FIELDS) if n not in shape.drop]
    directory.mkdir(parents=True, exist_ok=True)
    w = ZeekLogWriter(directory, "skype", fields, use_json)
    for r in rows(shape, seed):
        w.write([r[i] for i in keep])
    return w.close()


def plain_lines(path: Path) -> list[dict[str, str]]:
    """A default-format TSV log's lines as text per column, read without the package's reader
    (an independent reading for counts the tests derive from the log)."""
    fields: list[str] = []
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields\t"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            out.append(dict(zip(fields, line.split("\t"), strict=True)))
    return out
