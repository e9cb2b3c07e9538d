"""A streaming pcap writer (Ethernet, microsecond timestamps): constant memory at any size."""

from __future__ import annotations

import struct
from collections.abc import Sequence
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
        self.write_events(((ts, frame),))

    def write_events(
        self, events: Sequence[tuple[float, bytes] | tuple[float, bytes, object]]
    ) -> None:
        """Write time-ordered ``(ts, frame, ...)`` tuples in one call: the synthesizer's path,
        a window of packets at a time."""
        parts: list[bytes] = []
        add = parts.append
        pack = _REC.pack
        size = 0
        for ts, frame, *_ in events:
            usec = round(ts * 1_000_000)
            n = len(frame)
            add(pack(usec // 1_000_000, usec % 1_000_000, n, n))
            add(frame)
            size += n
        self._fh.write(b"".join(parts))
        self.packets += len(events)
        self.bytes += 16 * len(events) + size

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
