"""One log file opened for reading: its header first, then its data as blocks of lines.

Both readers start here, so a file is recognised, and refused, the same way: a file whose
first data line comes before any ``#fields``/``#types`` header and is not JSON is not a Zeek
log; neither is one whose header is not text.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .files import blocks, open_binary
from .format import LogReadError
from .header import KnownLogs, LogHeader
from .problems import Lenient, bad_line

_NEWLINES = re.compile(rb"\n+")
JSON_PROBE_LINES = 100
"""Lines looked at to find a JSON log's first well-formed object (for its schema)."""


Expect = Callable[[LogHeader], Mapping[str, str]]
"""The types a reader needs the header to declare, given the header (see ``LogSource``)."""


class LogSource:
    """Raises ``LogReadError`` from the constructor when the file cannot be read as a log.

    *expect*: a log whose header declares a column with another type than ``expect(header)``
    gives it is refused as a whole, in one line (``ts`` typed ``double`` in a skype.log).
    *known*: the kinds of log the reader knows (default Zeek's conn and notice; see
    ``header.LogKind``)."""

    def __init__(
        self,
        path: str | Path,
        lenient: Lenient | None = None,
        expect: Expect | None = None,
        known: KnownLogs | None = None,
    ) -> None:
        self.path = Path(path)
        self.lenient = lenient
        self.header = LogHeader() if known is None else LogHeader(known=known)
        self._in_header = True  # damage before the first data line: the file is unreadable
        self._fh = open_binary(self.path)
        try:
            self._blocks = blocks(self._fh, self.path, self._problem)
            self._first = self._read_header()
            problem = self.header.mismatch(expect(self.header)) if expect else None
            if problem is not None:
                raise LogReadError(self.path, None, f"{problem}: not a log this can read")
        except BaseException:
            self._fh.close()
            raise

    def _problem(self, lineno: int, problem: str) -> None:
        if self._in_header:
            raise LogReadError(self.path, lineno, problem)
        bad_line(self.lenient, self.path, lineno, problem)

    def _read_header(self) -> tuple[int, bytes] | None:
        h = self.header
        for lineno, block in self._blocks:
            pos = 0
            while pos < len(block):
                if block[pos] == 0x0A:  # a run of empty lines, skipped at once
                    run = _NEWLINES.match(block, pos).end()  # type: ignore[union-attr]
                    pos, lineno = run, lineno + run - pos
                    continue
                end = block.index(b"\n", pos)
                raw = block[pos:end]
                if raw and raw[:1] != b"#":
                    self._start_data(lineno, raw, block[pos:])
                    self._in_header = False
                    return lineno, block[pos:]
                if raw:
                    try:
                        h.meta_line(raw.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise LogReadError(self.path, lineno, "header line is not text") from None
                pos, lineno = end + 1, lineno + 1
        if h.fields and not h.ready:
            raise LogReadError(self.path, None, h.unusable())
        return None

    def _start_data(self, lineno: int, first: bytes, block: bytes) -> None:
        h = self.header
        if first[:1] == b"{" and not h.fields:
            h.use_json(self.path, _first_object(block))
            if not h.fields:
                raise LogReadError(
                    self.path, lineno, f"no JSON object in the first {JSON_PROBE_LINES} lines"
                )
            return
        if not h.ready:
            raise LogReadError(
                self.path,
                lineno,
                h.unusable()
                if h.fields
                else "not a Zeek log: data before a #fields/#types header (and not JSON lines)",
            )

    def data_blocks(self) -> Iterator[tuple[int, bytes]]:
        """(number of the first line, bytes) of the data, from the first data line on."""
        if self._first is None:
            return
        first, self._first = self._first, None
        self.header.data_seen = True
        progress = self.lenient.progress if self.lenient is not None else None
        if progress is None:
            yield first
            yield from self._blocks
            return
        try:
            size = os.fstat(self._fh.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            size = 0
        data = 0
        for block in itertools.chain((first,), self._blocks):
            yield block
            data += len(block[1])
            progress(self.path, self._position(), size, data)

    def _position(self) -> int:
        """Bytes of the file read so far (of the compressed file, for gzip)."""
        try:
            return self._fh.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> LogSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(
    path: str | Path,
    lenient: Lenient | None,
    expect: Expect | None = None,
    known: KnownLogs | None = None,
) -> LogSource | None:
    """The opened log, or (lenient) None after noting why it cannot be read."""
    try:
        src = LogSource(path, lenient, expect, known)
    except LogReadError as err:
        if lenient is None:
            raise
        lenient.file(err)
        return None
    if lenient is not None:
        lenient.files_read += 1
    return src


def _first_object(block: bytes) -> dict[str, Any] | None:
    for raw in block.split(b"\n", JSON_PROBE_LINES)[:JSON_PROBE_LINES]:
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            return obj
    return None
