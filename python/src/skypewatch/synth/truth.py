"""Ground truth for synthesized captures: which connections are Skype, which stage, whose.

Written as a TSV next to the capture (``out.pcap`` → ``out.truth.tsv``), one row per
connection, streamed so that a ten-million-packet capture does not hold its truth in memory.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

TRUTH_COLUMNS = ("proto", "orig_h", "orig_p", "resp_h", "resp_p", "skype", "stage", "client")
# A stage that no detector can see: a TCP attempt that never carried a byte of payload and
# that nothing else explains (the SYNs of a probing client's SN-port/443/80 fallback do have
# a stage: the fallback itself is the evidence).
UNOBSERVABLE = "attempt"


@dataclass(frozen=True, slots=True)
class Conn:
    proto: str
    orig: bytes
    orig_p: int
    resp: bytes
    resp_p: int
    stage: str | None = None  # None: not Skype
    client: bytes | None = None

    def row(self) -> str:
        return "\t".join(
            (
                self.proto,
                _a(self.orig),
                str(self.orig_p),
                _a(self.resp),
                str(self.resp_p),
                "T" if self.stage else "F",
                self.stage or "-",
                _a(self.client) if self.client else "-",
            )
        )


Event = tuple[float, bytes, Conn]


def _a(b: bytes) -> str:
    # inet_ntoa is the common case's fast path; ipaddress keeps IPv6's canonical form
    return socket.inet_ntoa(b) if len(b) == 4 else str(ipaddress.ip_address(b))


def truth_path(pcap: str | Path) -> Path:
    p = Path(pcap)
    return p.with_name(p.name.removesuffix(".pcap") + ".truth.tsv")


@dataclass(frozen=True, slots=True)
class TruthRow:
    proto: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    skype: bool
    stage: str | None
    client: str | None

    @property
    def key(self) -> tuple[str, str, int, str, int]:
        return (self.proto, self.orig_h, self.orig_p, self.resp_h, self.resp_p)


def read_truth(path: str | Path) -> list[TruthRow]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if tuple(header) != TRUTH_COLUMNS:
            raise ValueError(f"{path}: not a truth file (header {header})")
        for line in fh:
            proto, oh, op, rh, rp, sk, st, cl = line.rstrip("\n").split("\t")
            rows.append(
                TruthRow(
                    proto,
                    oh,
                    int(op),
                    rh,
                    int(rp),
                    sk == "T",
                    None if st == "-" else st,
                    None if cl == "-" else cl,
                )
            )
    return rows
