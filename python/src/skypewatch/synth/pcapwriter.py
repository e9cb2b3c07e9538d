"""A streaming pcap writer (Ethernet, microsecond timestamps): constant memory at any size."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
_REC = struct.Struct("<IIII")


class PcapWriter:
    BATCH = 256  # records joined per write call

    def __init__(self, path: str | Path, buffer_size: int = 1 << 20) -> None:
        self.path = Path(path)
        self._fh: BinaryIO = open(self.path, "wb", buffering=buffer_size)  # noqa: SIM115
        self._fh.write(_GLOBAL)
        self._pending: list[bytes] = []
        self.packets = 0
        self.bytes = len(_GLOBAL)

    def write(self, ts: float, frame: bytes) -> None:
        usec = round(ts * 1_000_000)
        n = len(frame)
        pending = self._pending
        pending.append(_REC.pack(usec // 1_000_000, usec % 1_000_000, n, n))
        pending.append(frame)
        self.packets += 1
        self.bytes += 16 + n
        if len(pending) >= 2 * self.BATCH:
            self._fh.write(b"".join(pending))
            pending.clear()

    def write_events(self, events: list[tuple[float, bytes, object]]) -> None:
        """Write time-ordered ``(ts, frame, ...)`` tuples in one call: the synthesizer's path."""
        parts: list[bytes] = self._pending  # anything write() left comes first
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
        parts.clear()
        self.packets += len(events)
        self.bytes += 16 * len(events) + size

    def close(self) -> None:
        if self._pending:
            self._fh.write(b"".join(self._pending))
            self._pending.clear()
        self._fh.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
