"""What a signature reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Strength = Literal["confirmed", "likely", "possible", "weak"]
CONFIRMED: Strength = "confirmed"
LIKELY: Strength = "likely"
POSSIBLE: Strength = "possible"
# Weak evidence never makes a log line on its own: it only counts next to host evidence.
WEAK: Strength = "weak"

STRENGTH_RANK = {WEAK: 0, POSSIBLE: 1, LIKELY: 2, CONFIRMED: 3}


@dataclass(frozen=True, slots=True)
class Hit:
    name: str
    stage: str
    strength: Strength
    evidence: str
    client_public_ip: str | None = None
    skype_version: str | None = None
