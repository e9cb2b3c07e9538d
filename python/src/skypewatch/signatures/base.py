"""What a signature reports."""

from __future__ import annotations

from dataclasses import dataclass

from ..skypelog import Stage, Strength


@dataclass(frozen=True, slots=True)
class Hit:
    name: str
    stage: Stage
    strength: Strength
    evidence: str
    client_public_ip: str | None = None
    skype_version: str | None = None
