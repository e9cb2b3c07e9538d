"""Target ``pcapng``: the same contract as ``pcap`` (``pcap.py``), on pcapng files: every
block layout the reader knows, both byte orders, options, resolutions, several sections."""

from __future__ import annotations

from . import seeds
from .harness import Target, Workspace
from .pcap import DICTIONARY as PCAP_DICTIONARY
from .pcap import run_capture

DICTIONARY = (
    b"\x0a\x0d\x0d\x0a",
    b"\x4d\x3c\x2b\x1a",
    b"\x1a\x2b\x3c\x4d",
    b"\x01\x00\x00\x00",
    b"\x02\x00\x00\x00",
    b"\x03\x00\x00\x00",
    b"\x06\x00\x00\x00",
    b"\x09\x00\x01\x00",
    b"\x09\x00\x00\x00",
    b"\x09\x00\x01\x00\xff",
    b"\x00\x00\x00\x00",
    b"\x01\x00\x00\x00\x00\x00\x00\x00",
    *PCAP_DICTIONARY[3:],
)


def run(data: bytes, ws: Workspace) -> None:
    run_capture(data, ws, ".pcapng")


TARGET = Target(
    "pcapng", run, seeds.pcapng_seeds, deadline=10.0, max_len=64 * 1024, dictionary=DICTIONARY
)
