"""What a log says about itself: the TSV header, or for JSON (which has none) a schema.

TSV logs declare their fields and types (``#fields``, ``#types``); ``#close`` marks a log
that was finished.  JSON logs take their types from the schemas of the logs this project
knows (skype, notice, conn), recognised by file name or by their fields; any other JSON log
is typed from its first line.  A JSON log is unfinished when an ``.incomplete`` sidecar file
lies beside it (written by ``ZeekLogWriter`` when a run stops early).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .format import SEPARATOR, Field, shorten

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


def schemas() -> dict[str, list[Field]]:
    # Imported here: records imports this package (for Field) at its own import time.
    from ..skypelog import NOTICE_FIELDS, SKYPE_FIELDS

    return {"skype": SKYPE_FIELDS, "notice": NOTICE_FIELDS, "conn": CONN_FIELDS}


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

    @property
    def ready(self) -> bool:
        """Can data lines be read: columns named, typed, each name once?"""
        f = self.fields
        return bool(f) and len(f) == len(self.types) and len(set(f)) == len(f)

    def unusable(self) -> str:
        """Why data lines cannot be read under this header (when not ``ready``)."""
        if not self.fields:
            return "data before a #fields/#types header"
        if len(self.fields) != len(self.types):
            return "#types and #fields differ in length"
        twice = next(n for n in self.fields if self.fields.count(n) > 1)
        return f"#fields names the column {shorten(twice)} twice"

    def meta_line(self, line: str) -> None:
        """One ``#`` line: before the data it is header, after it footer (``#fields`` and
        ``#types`` anywhere redefine the columns, as in logs concatenated with cat)."""
        key, _, value = line.partition(SEPARATOR)
        if key == "#fields":
            self.fields = value.split(SEPARATOR)
        elif key == "#types":
            self.types = value.split(SEPARATOR)
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
        known = schemas()
        keys = list(first or ())
        kind = _kind(log, first or {}, known)
        if kind is not None:
            self.path = kind
            self.fields = [n for n, _ in known[kind]]
            self.types = [t for _, t in known[kind]]
            return
        self.path = log.name.split(".")[0]
        self.fields = [k for k in keys if k != "_path"]
        self.types = [_json_type(k, (first or {})[k]) for k in self.fields]


def _kind(log: Path, first: dict[str, Any], known: dict[str, list[Field]]) -> str | None:
    for name in (first.get("_path"), log.name.split(".")[0]):
        if isinstance(name, str) and name in known:
            return name
    if "stage" in first and "peer_role" in first:
        return "skype"
    if "note" in first:
        return "notice"
    if "conn_state" in first:
        return "conn"
    return None


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
