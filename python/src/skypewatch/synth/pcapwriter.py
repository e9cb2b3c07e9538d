"""A streaming pcap writer (Ethernet, microsecond timestamps): constant memory at any size."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
_REC = struct.Struct("<IIII")


class PcapWriter:
    def __init__(self, path: str | Path, buffer_size: int = 1 << 20) -> None:
        self.path = Path(path)
        self._fh: BinaryIO = open(self.path, "wb", buffering=buffer_size)  # noqa: SIM115
        self._fh.write(_GLOBAL)
        self.packets = 0
        self.bytes = len(_GLOBAL)

    def write(self, ts: float, frame: bytes) -> None:
        sec = int(ts)
        usec = round((ts - sec) * 1_000_000)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._fh.write(_REC.pack(sec, usec, len(frame), len(frame)))
        self._fh.write(frame)
        self.packets += 1
        self.bytes += 16 + len(frame)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
