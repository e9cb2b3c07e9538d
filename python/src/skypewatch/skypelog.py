"""The rows of skype.log and notice.log, with their Zeek field names and types.

The Zeek package's ``Skype::Info`` record declares the same fields with the same types in the
same order; ``tests/test_zeek_parity.py`` holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from typing import Any

from .zeeklog import Field
from .zeeklog.header import CONN_KEY_FIELDS, ZEEK_LOGS, KnownLogs, LogKind
from .zeeklog.header import NOTICE_FIELDS as NOTICE_FIELDS  # Zeek's notice.log, written here


class Stage(StrEnum):
    """skype.log's ``stage``: which part of Skype's life the connection is (the seed study's
    three start-up stages, then the version check and calls; docs/signatures.md#the-start-up)."""

    PROBE = "probe"
    SN_HANDSHAKE = "sn_handshake"
    LOGIN = "login"
    VERSION_CHECK = "version_check"
    MEDIA = "media"

    @property
    def precedence(self) -> int:
        """A connection with hits of several stages is logged at the one of highest
        precedence: the latest in a start-up."""
        return _STAGE_PRECEDENCE[self]


_STAGE_PRECEDENCE = {
    st: i
    for i, st in enumerate(
        (Stage.PROBE, Stage.MEDIA, Stage.VERSION_CHECK, Stage.SN_HANDSHAKE, Stage.LOGIN)
    )
}


class PeerRole(StrEnum):
    """skype.log's ``peer_role``: what the other end of the client's connection is."""

    SUPER_NODE = "super_node"
    LOGIN_SERVER = "login_server"
    PEER = "peer"
    UPDATE_SERVER = "update_server"


# The one ranking of evidence: a signature hit's strength, and a log line's confidence.
_RANK = {"weak": 0, "possible": 1, "likely": 2, "confirmed": 3}


class Strength(StrEnum):
    """How much one signature hit proves (docs/signatures.md#strengths-and-confidence).  Weak
    hits never make a log line on their own: they count only next to host evidence."""

    WEAK = "weak"
    POSSIBLE = "possible"
    LIKELY = "likely"
    CONFIRMED = "confirmed"

    @property
    def rank(self) -> int:
        return _RANK[self]


class Confidence(StrEnum):
    """skype.log's ``confidence``: the strongest solid hit's strength, one level higher when
    the client is confirmed by another connection."""

    POSSIBLE = "possible"
    LIKELY = "likely"
    CONFIRMED = "confirmed"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def raised(self) -> Confidence:
        return _RAISED[self]


_RAISED = {
    Confidence.POSSIBLE: Confidence.LIKELY,
    Confidence.LIKELY: Confidence.CONFIRMED,
    Confidence.CONFIRMED: Confidence.CONFIRMED,
}
STAGES: tuple[Stage, ...] = tuple(Stage)
PEER_ROLES: tuple[PeerRole, ...] = tuple(PeerRole)
CONFIDENCES: tuple[Confidence, ...] = tuple(Confidence)
CONFIDENCE_RANK = {c.value: c.rank for c in Confidence}  # plain keys, for pandas' Series.map

SKYPE_FIELDS: list[Field] = [
    *CONN_KEY_FIELDS,
    ("proto", "enum"),
    ("duration", "interval"),
    ("stage", "string"),
    ("signatures", "set[string]"),
    ("client", "addr"),
    ("peer", "addr"),
    ("peer_role", "string"),
    ("client_public_ip", "addr"),
    ("skype_version", "string"),
    ("confidence", "string"),
    ("evidence", "string"),
    ("answered", "bool"),
]


SKYPE_NAMES = tuple(name for name, _ in SKYPE_FIELDS)
# Columns Skype::Info declares &optional: empty in the log when unknown.
SKYPE_OPTIONAL = frozenset(("client_public_ip", "skype_version"))


@dataclass(frozen=True, slots=True)
class SkypeRecord:
    """One skype.log line; its attributes are the columns, ``id.`` dropped."""

    ts: float
    uid: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    proto: str
    duration: float
    stage: str
    signatures: frozenset[str]
    client: str
    peer: str
    peer_role: str
    client_public_ip: str | None
    skype_version: str | None
    confidence: str
    evidence: str
    answered: bool = True
    """The responder sent payload.  A start-up of which nothing was answered was blocked."""

    def values(self) -> list[Any]:
        """The record's skype.log columns, in SKYPE_FIELDS order."""
        return list(_SKYPE_VALUES(self))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SkypeRecord:
        """From a parsed skype.log row (TSV or JSON); raises KeyError/ValueError if malformed."""
        sigs = row.get("signatures") or []
        conf = row["confidence"]
        if conf not in CONFIDENCE_RANK:
            raise ValueError(f"unknown confidence {conf!r}")
        return cls(
            ts=float(row["ts"]),
            uid=str(row["uid"]),
            orig_h=str(row["id.orig_h"]),
            orig_p=int(row["id.orig_p"]),
            resp_h=str(row["id.resp_h"]),
            resp_p=int(row["id.resp_p"]),
            proto=str(row.get("proto") or "udp"),
            duration=float(row.get("duration") or 0.0),
            stage=str(row["stage"]),
            signatures=frozenset(str(s) for s in sigs),
            client=str(row["client"]),
            peer=str(row["peer"]),
            peer_role=str(row["peer_role"]),
            client_public_ip=row.get("client_public_ip") or None,
            skype_version=row.get("skype_version") or None,
            confidence=conf,
            evidence=str(row.get("evidence") or ""),
            # logs written before the column existed: count them as answered
            answered=row.get("answered") is not False,
        )


_SKYPE_VALUES = attrgetter(*(name.removeprefix("id.") for name in SKYPE_NAMES))


SKYPE_LOG = LogKind(
    SKYPE_FIELDS,
    frozenset(
        ("stage", "signatures", "client", "peer", "peer_role", "client_public_ip", "confidence")
    ),
)
KNOWN_LOGS: KnownLogs = {**ZEEK_LOGS, "skype": SKYPE_LOG}
"""The logs skypewatch's readers know: Zeek's conn.log and notice.log, and skype.log."""


@dataclass(frozen=True, slots=True)
class Notice:
    ts: float
    note: str
    msg: str
    sub: str
    src: str
    n: int
    uid: str | None = None
    conn: tuple[str, int, str, int, str] | None = None  # orig_h, orig_p, resp_h, resp_p, proto
    suppress_for: float = 3600.0
    uids: tuple[str, ...] = field(default=())

    def values(self) -> list[Any]:
        c = self.conn
        return [
            self.ts,
            self.uid,
            c[0] if c else None,
            c[1] if c else None,
            c[2] if c else None,
            c[3] if c else None,
            None,
            None,
            None,
            c[4] if c else None,
            self.note,
            self.msg,
            self.sub,
            self.src,
            c[2] if c else None,  # as Zeek's Notice::apply_policy: a conn_id fills dst and p
            c[3] if c else None,
            self.n,
            None,
            ["Notice::ACTION_LOG"],
            [],
            self.suppress_for,
        ]
