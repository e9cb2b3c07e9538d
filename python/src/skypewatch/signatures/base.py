"""What a signature reports."""

from __future__ import annotations

from typing import NamedTuple

from ..skypelog import Stage, Strength


class Hit(NamedTuple):
    """One signature's finding on one connection.  Immutable; a tuple because every judged
    connection makes a few (a frozen dataclass costs three times as much to make)."""

    name: str
    stage: Stage
    strength: Strength
    evidence: str
    client_public_ip: str | None = None
    skype_version: str | None = None
