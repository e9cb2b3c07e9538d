"""Zeek's log format, the parts both directions share: separators, escaping, types, the error.

Values follow Zeek's ASCII writer: ``-`` for unset, ``(empty)`` for an empty string or
container, ``,`` between set elements, non-printable bytes and separators as ``\\xNN``, and a
string that *is* ``-`` escaped as ``\\x2d`` so it cannot be mistaken for unset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SkypewatchError

Field = tuple[str, str]  # (name, Zeek type)

SEPARATOR = "\t"
SET_SEPARATOR = ","
EMPTY = "(empty)"
UNSET = "-"
_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("\\"), ord("\t")}
_UNESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")

CONTAINERS = ("set[", "vector[")


@dataclass(frozen=True, slots=True)
class Dialect:
    """The ``LogAscii`` options a TSV log declares in its header (``#separator``,
    ``#set_separator``, ``#empty_field``, ``#unset_field``): Zeek's defaults unless it says
    otherwise (``redef LogAscii::separator = "|"`` and friends)."""

    separator: str = SEPARATOR
    set_separator: str = SET_SEPARATOR
    empty: str = EMPTY
    unset: str = UNSET

    def problem(self) -> str | None:
        """Why values cannot be told apart under these options (None when they can)."""
        if not self.separator or "\n" in self.separator or "\r" in self.separator:
            return f"#separator {shorten(self.separator)} cannot separate columns"
        if not self.set_separator or self.set_separator == self.separator:
            return f"#set_separator {shorten(self.set_separator)} cannot separate set elements"
        if not self.unset or not self.empty or self.unset == self.empty:
            return "#unset_field and #empty_field must differ and not be empty"
        return None


DEFAULT_DIALECT = Dialect()


class LogReadError(SkypewatchError):
    """The one error of the log reader: a file (and, when known, a line) and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = Path(path), line, problem
        super().__init__(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")


def is_container(ztype: str) -> bool:
    return ztype.startswith(CONTAINERS) and ztype.endswith("]")


def inner_type(ztype: str) -> str:
    """``set[addr]`` -> ``addr``."""
    return ztype[ztype.index("[") + 1 : -1]


def shorten(v: object, limit: int = 40) -> str:
    """A value quoted in a message, cut so that a hostile line cannot flood the terminal."""
    if isinstance(v, (list, dict)):
        return f"a JSON {'array' if isinstance(v, list) else 'object'}"
    if isinstance(v, int) and v.bit_length() > 128:  # repr() refuses ints past 4,300 digits
        return f"an integer of {v.bit_length()} bits"
    text = repr(v)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def escape(s: str, in_set: bool = False) -> str:
    """Zeek's escaping, made exactly reversible: every byte of the UTF-8 encoding outside
    printable ASCII, and the separators and backslash, become ``\\xNN``."""
    if not s:
        return "" if in_set else EMPTY
    if s in (UNSET, EMPTY):
        return f"\\x{ord(s[0]):02x}" + s[1:]
    if (
        s.isascii()
        and s.isprintable()
        and "\\" not in s
        and "\t" not in s
        and (not in_set or "," not in s)
    ):
        return s
    out = []
    for byte in s.encode("utf-8", "surrogateescape"):
        if byte in _PLAIN and not (in_set and byte == 0x2C):
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def unescape(s: str) -> str:
    if "\\x" not in s:
        return s
    raw = bytearray()
    pos = 0
    for m in _UNESCAPE.finditer(s):
        raw += s[pos : m.start()].encode("utf-8", "surrogateescape")
        raw.append(int(m.group(1), 16))
        pos = m.end()
    raw += s[pos:].encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")
