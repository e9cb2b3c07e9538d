"""A progress line on stderr while logs are read, as ``analyze`` draws one for captures.

Drawn only when stderr is a terminal, at most a few times a second, and erased at the end:
a log of millions of lines (or of empty ones) says how far it got instead of going silent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import one_line

INTERVAL = 0.25  # seconds between redraws


class ReadProgress:
    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._next = time.monotonic() + INTERVAL  # short reads draw nothing
        self._drawn = False

    def __call__(self, path: Path, done: int, size: int, data: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + INTERVAL
        where = f"{min(done / size, 1):4.0%}, " if size > 0 else ""
        where += f"{data / 1e6:,.0f} MB of lines"
        name = one_line(path.name)[-40:]
        sys.stderr.write(f"\rreading {name}: {where} ")
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
            self._drawn = False
