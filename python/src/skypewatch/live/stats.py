"""What a live run counts -- connections, frames, events, drops by reason, notices -- and the
one line that sums it up for the log."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class LiveStats:
    connections: int = 0
    frames: int = 0
    events: int = 0
    dropped: Counter = field(default_factory=Counter)
    notices_sent: int = 0
    notices_undelivered: int = 0

    def line(self) -> str:
        dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dropped.items())) or "none"
        return (
            f"{self.connections} connection(s), {self.frames:,} frames, {self.events:,} events"
            f" used, dropped: {dropped}; {self.notices_sent} notice(s) sent to Zeek,"
            f" {self.notices_undelivered} kept locally only"
        )
