"""Writing Zeek logs: the ASCII (TSV) writer's layout, or JSON lines.

A log is written to a hidden temporary file of its own (``skypewatch.atomic``) and only
renamed into place when closed, so an interrupted run never leaves a log that looks finished,
and two runs into one directory each leave a whole log.  A log closed as unfinished
(``close(complete=False)``, e.g. after a truncated capture) lacks its ``#close`` line in TSV,
as Zeek leaves a log when it stops abnormally.  JSON lines have no place for such a mark
(every line is a record, and tools such as jq or a SIEM's Zeek parser take each one as data),
so an unfinished JSON log gets a sidecar file beside it, ``<name>.log.incomplete``, saying
why; a finished one removes any stale sidecar.  The readers report a JSON log with a sidecar
as not closed, as they do a TSV log without ``#close``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..atomic import remove, temp_beside, write_text
from .format import EMPTY, SEPARATOR, SET_SEPARATOR, UNSET, Field, escape
from .header import INCOMPLETE


def format_value(ztype: str, value: Any) -> str:
    if value is None:
        return UNSET
    if ztype in ("time", "interval", "double"):
        return f"{value:.6f}"
    if ztype in ("count", "int", "port"):
        return str(int(value))
    if ztype == "bool":
        return "T" if value else "F"
    if ztype.startswith(("set[", "vector[")):
        return _container_text(value)
    return escape(str(value))


def _container_text(value: Any) -> str:
    """A set or vector, each item escaped for a set; Python sets sorted (deterministic
    output), lists in the order they have.  When the items are all plain str, escape()'s
    test is made once on them joined (no separator inside one, no unset or empty
    look-alike among them): most sets (signature names) need nothing."""
    items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if not items:
        return EMPTY
    if set(map(type, items)) == _STR_ONLY:
        joined = SET_SEPARATOR.join(items)
        if (
            joined.isascii()
            and joined.isprintable()
            and "\\" not in joined
            and joined.count(SET_SEPARATOR) == len(items) - 1
            and UNSET not in items
            and EMPTY not in items
        ):
            return joined
    return SET_SEPARATOR.join(escape(str(v), in_set=True) for v in items)


def _formatter(ztype: str) -> Callable[[Any], str]:
    """A one-argument formatter for values of ``ztype`` (the writer's per-column fast path)."""
    if ztype in ("time", "interval", "double"):
        return lambda v: UNSET if v is None else "%.6f" % v  # noqa: UP031 - fastest here
    if ztype in ("count", "int", "port"):
        return lambda v: UNSET if v is None else str(int(v))
    if ztype in ("string", "addr", "enum"):
        return _text
    if ztype == "bool":
        return _flag
    if ztype in _TEXT_CONTAINERS:
        return _texts
    return lambda v: format_value(ztype, v)


_TEXT_CONTAINERS = frozenset(
    f"{kind}[{t}]" for kind in ("set", "vector") for t in ("string", "addr", "enum")
)
_STR_ONLY = {str}


def _flag(v: Any) -> str:
    return UNSET if v is None else ("T" if v else "F")


def _texts(v: Any) -> str:
    """A set or vector of strings, without format_value's chain of type tests."""
    return UNSET if v is None else _container_text(v)


def _text(v: Any) -> str:
    """A string column: escape()'s test for a value that needs nothing, without its call
    (most values: addresses, names, uids)."""
    if v is None:
        return UNSET
    s = v if v.__class__ is str else str(v)
    if s.isascii() and s.isprintable() and "\\" not in s and s and s != UNSET and s != EMPTY:
        return s
    return escape(s)


def json_value(ztype: str, value: Any) -> Any:
    if ztype.startswith("set["):
        return sorted(value)
    if ztype.startswith("vector["):
        return list(value)
    if ztype in ("count", "int", "port"):
        return int(value)
    if ztype == "bool":
        return bool(value)
    return value


class ZeekLogWriter:
    """Writes one Zeek log.  Use as a context manager; ``close(complete=False)`` marks the
    log as unfinished (no ``#close`` line), as Zeek leaves a log when it stops abnormally."""

    def __init__(
        self,
        directory: str | Path,
        path: str,
        fields: Sequence[Field],
        use_json: bool = False,
        streaming: bool = False,
        open_stamp: str | None = None,
        header: list[str] | None = None,
    ) -> None:
        """*streaming*: write to the final name and flush every line, as Zeek does on a live
        sensor (for a long-running process); otherwise the log appears when it is closed."""
        self.fields = list(fields)
        self.use_json = use_json
        self.streaming = streaming
        self.final = Path(directory) / f"{path}.log"
        self.lines = 0
        self._formatters = [_formatter(t) for _, t in self.fields]
        if streaming:
            self.tmp = self.final
            self._fh: TextIO = open(self.tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        else:  # a name of this run's own: two runs into one directory never share it
            fd, self.tmp = temp_beside(self.final)
            try:
                self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
            except BaseException:
                os.close(fd)
                remove(self.tmp)
                raise
        if header is not None and not use_json:
            self._fh.write("".join(line + "\n" for line in header))
        elif not use_json:
            names = [n for n, _ in self.fields]
            types = [t for _, t in self.fields]
            self._fh.write(
                "#separator \\x09\n"
                f"#set_separator{SEPARATOR}{SET_SEPARATOR}\n"
                f"#empty_field{SEPARATOR}{EMPTY}\n"
                f"#unset_field{SEPARATOR}{UNSET}\n"
                f"#path{SEPARATOR}{path}\n"
                f"#open{SEPARATOR}{open_stamp or _stamp()}\n"
                f"#fields{SEPARATOR}{SEPARATOR.join(names)}\n"
                f"#types{SEPARATOR}{SEPARATOR.join(types)}\n"
            )

    def write(self, values: Sequence[Any]) -> None:
        try:
            if self.use_json:
                obj = {
                    name: json_value(ztype, v)
                    for (name, ztype), v in zip(self.fields, values, strict=True)
                    if v is not None
                }
                self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            else:
                if len(values) != len(self._formatters):
                    raise ValueError(f"{len(values)} values for {len(self._formatters)} fields")
                # (the lengths were compared just above: zip need not check them again)
                self._fh.write(
                    SEPARATOR.join([f(v) for f, v in zip(self._formatters, values)])  # noqa: B905
                    + "\n"
                )
            self.lines += 1
            if self.streaming:
                self._fh.flush()
        except OSError as exc:  # the disk is full, an I/O error: say which log
            raise _named(exc, self.final) from None

    def close(
        self,
        complete: bool = True,
        close_stamp: str | None = None,
        footer: list[str] | None = None,
        why: str = "the run stopped before the end of its input",
    ) -> Path:
        """Finish the log; *complete* False marks it unfinished (see the module's text).  If it
        cannot be finished (disk full), the temporary file is removed and OSError names the log."""
        self.finish(complete, close_stamp, footer)
        return self.commit(complete, why)

    def finish(
        self, complete: bool = True, close_stamp: str | None = None, footer: list[str] | None = None
    ) -> None:
        """Write the footer and close the file, not yet in place: a run writing several logs
        finishes them all before it renames any, so that a full disk at the end leaves none
        (and no temporary file).  OSError (naming the log) after removing the temporary file."""
        try:
            if footer is not None and not self.use_json:
                self._fh.write("".join(line + "\n" for line in footer))
            elif not self.use_json and complete:
                self._fh.write(f"#close{SEPARATOR}{close_stamp or _stamp()}\n")
            self._fh.close()
        except OSError as exc:
            self.abort()
            raise _named(exc, self.final) from None

    def commit(
        self, complete: bool = True, why: str = "the run stopped before the end of its input"
    ) -> Path:
        """Put a finished log in place (its sidecar too, for JSON)."""
        try:
            return self.finished().commit(complete, why)
        except OSError:
            self.abort()
            raise

    def finished(self) -> FinishedLog:
        """This log, once :meth:`finish` ed, as a handle that another process can put in
        place (analyze's outputs process writes logs that the run commits)."""
        return FinishedLog(self.tmp, self.final, self.use_json, self.streaming, self.lines)

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # what was buffered cannot be written: it goes
            self._fh.close()
        if not self.streaming:
            remove(self.tmp)

    def __enter__(self) -> ZeekLogWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True, slots=True)
class FinishedLog:
    """A finished log's temporary file and where it goes (:meth:`ZeekLogWriter.finished`)."""

    tmp: Path
    final: Path
    use_json: bool
    streaming: bool
    lines: int

    def commit(
        self, complete: bool = True, why: str = "the run stopped before the end of its input"
    ) -> Path:
        """Put it in place (its sidecar too, for JSON); OSError names the log, and the
        temporary file is removed then."""
        try:
            if not self.streaming:
                os.replace(self.tmp, self.final)
            if self.use_json:
                self._mark(complete, why)
        except OSError as exc:
            if not self.streaming:
                remove(self.tmp)
            raise _named(exc, self.final) from None
        return self.final

    def _mark(self, complete: bool, why: str) -> None:
        sidecar = self.final.with_name(self.final.name + INCOMPLETE)
        if complete:
            sidecar.unlink(missing_ok=True)
            return
        note = {"log": self.final.name, "complete": False, "lines": self.lines, "why": why}
        write_text(sidecar, json.dumps(note) + "\n")  # whole or not at all, as the log


def _named(exc: OSError, log: Path) -> OSError:
    """*exc* naming the log it happened to (a failed write names no file)."""
    if exc.filename is not None:
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(log))


def _stamp() -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
