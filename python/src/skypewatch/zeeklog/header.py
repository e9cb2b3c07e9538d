"""What a log says about itself: the TSV header, or for JSON (which has none) a schema.

TSV logs declare their fields and types (``#fields``, ``#types``); ``#close`` marks a log
that was finished.  JSON logs take their types from the schemas of the logs the reader knows
(``LogKind``: Zeek's conn and notice here, more from the caller, such as skype.log),
recognised by ``_path``, file name or their fields; any other JSON log is typed from its
first line.  A JSON log is unfinished when an ``.incomplete`` sidecar file
lies beside it (written by ``ZeekLogWriter`` when a run stops early).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .format import DEFAULT_DIALECT, Dialect, Field, shorten, unescape

INCOMPLETE = ".incomplete"
"""The sidecar marking a JSON log unfinished: ``skype.log`` -> ``skype.log.incomplete``."""

# The columns Zeek's connection logs (conn, notice, skype, ...) begin with: time, uid, conn_id.
CONN_KEY_FIELDS: list[Field] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
]

CONN_FIELDS: list[Field] = [
    *CONN_KEY_FIELDS,
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
]


# Zeek's notice.log (base/frameworks/notice/main.zeek, Notice::Info), the columns Zeek 8
# writes without the geo-location ones of remote_location.
NOTICE_FIELDS: list[Field] = [
    *CONN_KEY_FIELDS,
    ("fuid", "string"),
    ("file_mime_type", "string"),
    ("file_desc", "string"),
    ("proto", "enum"),
    ("note", "enum"),
    ("msg", "string"),
    ("sub", "string"),
    ("src", "addr"),
    ("dst", "addr"),
    ("p", "port"),
    ("n", "count"),
    ("peer_descr", "string"),
    ("actions", "set[enum]"),
    ("email_dest", "set[string]"),
    ("suppress_for", "interval"),
]


@dataclass(frozen=True, slots=True)
class LogKind:
    """A log a reader knows: its columns and types, and the columns only it has.

    A log is of a kind by its ``#path`` (or JSON ``_path``), or failing that, when it has at
    least SHAPE_MIN of that kind's own columns -- a notice.log is not any log with a ``note``
    column, and a log that ``$exclude``d a few columns is still recognised.  JSON logs of a
    known kind are typed by its fields (JSON carries no types)."""

    fields: list[Field]
    own: frozenset[str]


SHAPE_MIN = 3
KnownLogs = Mapping[str, LogKind]
ZEEK_LOGS: KnownLogs = {
    "notice": LogKind(
        NOTICE_FIELDS,
        frozenset(
            ("note", "msg", "sub", "src", "dst", "n", "peer_descr", "actions", "suppress_for")
        ),
    ),
    "conn": LogKind(
        CONN_FIELDS,
        frozenset(("conn_state", "history", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts")),
    ),
}
"""Zeek's own logs this package knows; a reader of other logs passes its own kinds too
(``skypewatch.skypelog.KNOWN_LOGS`` adds skype.log)."""


@dataclass(slots=True)
class LogHeader:
    path: str = ""
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # TSV header lines, verbatim
    footer: list[str] = field(default_factory=list)  # TSV '#' lines after the data
    json: bool = False
    closed: bool = False
    data_seen: bool = False
    dialect: Dialect = DEFAULT_DIALECT
    known: KnownLogs = field(default_factory=lambda: ZEEK_LOGS)

    @property
    def kind(self) -> str | None:
        """Which known log this is (see ``LogKind``), by its path or else its columns."""
        return log_kind(self.path, self.fields, self.known)

    @property
    def ready(self) -> bool:
        """Can data lines be read: columns named, typed, each name once?"""
        f = self.fields
        return (
            bool(f)
            and len(f) == len(self.types)
            and len(set(f)) == len(f)
            and (self.json or self.dialect.problem() is None)
        )

    def unusable(self) -> str:
        """Why data lines cannot be read under this header (when not ``ready``)."""
        if (bad := self.dialect.problem()) is not None:
            return bad
        if not self.fields:
            return "data before a #fields/#types header"
        if len(self.fields) != len(self.types):
            return "#types and #fields differ in length"
        twice = next(n for n in self.fields if self.fields.count(n) > 1)
        return f"#fields names the column {shorten(twice)} twice"

    def mismatch(self, expect: Mapping[str, str]) -> str | None:
        """The first column declared with another type than *expect* gives it, if any."""
        return next(
            (
                f"column {shorten(n)} is declared {shorten(t)}, not {expect[n]}"
                for n, t in zip(self.fields, self.types, strict=False)
                if n in expect and t != expect[n]
            ),
            None,
        )

    def meta_line(self, line: str) -> None:
        """One ``#`` line: before the data it is header, after it footer (``#fields`` and
        ``#types`` anywhere redefine the columns, as in logs concatenated with cat).

        ``#separator`` comes first and is followed by a space (its value escaped, ``\\x09``);
        the other lines are split by the separator it declares."""
        d = self.dialect
        if line.startswith("#separator "):
            self.dialect = replace(d, separator=unescape(line[len("#separator ") :]))
            (self.footer if self.data_seen else self.header).append(line)
            return
        key, _, value = line.partition(d.separator)
        if key == "#fields":
            self.fields = value.split(d.separator)
        elif key == "#types":
            self.types = value.split(d.separator)
        elif key in _DIALECT_KEYS:
            self.dialect = replace(d, **{_DIALECT_KEYS[key]: unescape(value)})
        elif key == "#path":
            self.path = value
        elif key == "#close":
            self.closed = True
        (self.footer if self.data_seen else self.header).append(line)

    def use_json(self, log: Path, first: dict[str, Any] | None) -> None:
        """Type a JSON log: by a known schema (file name, ``_path``, or its fields) or from
        its first line's values."""
        self.json = True
        self.closed = not log.with_name(log.name + INCOMPLETE).exists()
        known = self.known
        keys = list(first or ())
        path = (first or {}).get("_path")
        kind = log_kind(path if isinstance(path, str) else "", keys, known)
        if kind is None and (stem := log.name.split(".")[0]) in known:
            kind = stem
        if kind is not None:
            self.path = kind
            self.fields = [n for n, _ in known[kind].fields]
            self.types = [t for _, t in known[kind].fields]
            return
        self.path = log.name.split(".")[0]
        self.fields = [k for k in keys if k != "_path"]
        self.types = [_json_type(k, (first or {})[k]) for k in self.fields]


_DIALECT_KEYS = {
    "#set_separator": "set_separator",
    "#empty_field": "empty",
    "#unset_field": "unset",
}


def log_kind(path: str, fields: list[str], known: KnownLogs = ZEEK_LOGS) -> str | None:
    """The known log a header describes: its path if that is a known one, else the kind whose
    own columns it has at least SHAPE_MIN of (a log filter's other path, a JSON log without
    ``_path``)."""
    if path in known:
        return path
    if not known:
        return None
    names = set(fields)
    best = max(known, key=lambda k: len(known[k].own & names))
    return best if len(known[best].own & names) >= SHAPE_MIN else None


def expected_types(header: LogHeader) -> dict[str, str]:
    """The Zeek types the columns of a known log must be declared with (empty if unknown):
    a log that calls its ``ts`` a double or a string is not one a reader can use."""
    kind = header.kind
    if kind is None:
        return {}
    return dict(header.known[kind].fields)


def _json_type(name: str, value: Any) -> str:
    if name == "ts":
        return "time"
    if type(value) is bool:
        return "bool"
    if type(value) is int:
        return "int"
    if type(value) is float:
        return "double"
    if isinstance(value, list):
        return "vector[string]"
    return "string"
