"""Zeek logs, read and written: the one place that knows their format.

Reading (TSV with its header, or JSON lines; plain or gzip; single files, rotated sets,
directories via ``log_files``) comes in two speeds over one definition of a good line:

- ``iter_rows``/``read_log`` (``rows.py``): line by line, each a dict of typed Python values;
  what the correlator uses.
- ``skypewatch.zeeklog.bulk`` (needs pyarrow): whole blocks through Arrow's CSV and JSON
  parsers, checked column by column with the same rules; any block it cannot vouch for goes
  through the per-line reader.  ``skypewatch.analyst.logs`` builds pandas on it.

Every field is checked against its declared type (``values.py``).  Strict mode (the default)
raises ``LogReadError`` (file and line) at the first problem; lenient mode (pass a
``Lenient``) reports and counts each bad line and goes on.

Writing: ``ZeekLogWriter`` (``writer.py``).
"""

from __future__ import annotations

from .files import log_files
from .format import (
    EMPTY,
    SEPARATOR,
    SET_SEPARATOR,
    UNSET,
    Field,
    LogReadError,
    escape,
    unescape,
)
from .header import CONN_FIELDS, INCOMPLETE, LogHeader
from .problems import Lenient
from .rows import iter_rows, read_log
from .values import parse_value
from .writer import ZeekLogWriter, format_value, json_value

__all__ = [
    "CONN_FIELDS",
    "EMPTY",
    "INCOMPLETE",
    "SEPARATOR",
    "SET_SEPARATOR",
    "UNSET",
    "Field",
    "Lenient",
    "LogHeader",
    "LogReadError",
    "ZeekLogWriter",
    "escape",
    "format_value",
    "iter_rows",
    "json_value",
    "log_files",
    "parse_value",
    "read_log",
    "unescape",
]
