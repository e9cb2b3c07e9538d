"""Which files a set of arguments names, and their bytes as blocks of whole lines.

Both readers (per line and bulk) read a file the same way: gzip or not (sniffed once, by its
magic bytes), in blocks that end at a line break, each block with the number of its first line.
Damage at this level -- a missing or unreadable file, a gzip stream that ends early or is
corrupt, a line longer than ``MAX_LINE`` -- is reported through the caller's ``Lenient`` (or
raised as ``LogReadError`` in strict mode), never as a traceback.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .format import LogReadError

BLOCK = 8 << 20
MAX_LINE = 16 << 20
"""Zeek's lines are short; a line past 16 MiB is damage, and is skipped rather than held.  It
is larger than a block, so only a line that spans blocks can reach it: the rule holds
wherever the line lies in the file."""

# Zeek's and logrotate's names: skype.log, skype.2026-11-27-12-00-00.log.gz, skype.log.1.gz.
_LOG_NAME = re.compile(r"[^.].*\.log(?:\.[0-9]+)?(?:\.gz)?")

BOM = b"\xef\xbb\xbf"

OnLine = Callable[[int, str], None]  # (line number, problem): report or raise


def log_files(paths: Iterable[str | Path], stem: str | None = None) -> list[Path]:
    """The files the arguments name.  A directory contributes its Zeek logs (``*.log``,
    rotated ``*.log.gz``, ``*.log.N``; only those starting with *stem* if given), in name
    order; hidden files and sidecars are not logs.  Files are not opened here: a missing one
    is found, and reported, when it is read.

    A file named twice (the same FIFO given twice, a log and the directory holding it, a
    symlink and its target) is read once: a FIFO read a second time would wait forever for a
    writer, and a log read twice would count everything twice."""
    out: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                q
                for q in p.iterdir()
                if _LOG_NAME.fullmatch(q.name)
                and (stem is None or q.name.startswith(stem))
                and q.is_file()
            )
        else:
            found = [p]
        for q in found:
            try:
                st = os.stat(q)
            except OSError:
                out.append(q)  # missing or unreadable: reported when read
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                out.append(q)
    return out


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed if it is gzip; LogReadError if it cannot be opened."""
    try:
        if path.is_dir():
            raise LogReadError(path, None, "is a directory with no Zeek logs in it")
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise LogReadError(path, None, "no such file") from None
    except OSError as exc:
        raise LogReadError(path, None, f"cannot read: {exc.strerror or exc}") from None
    if fh.peek(2)[:2] == b"\x1f\x8b":
        return Gunzip(fh)  # type: ignore[return-value]
    return fh


class Gunzip:
    """A gzip file's members, decompressed as they are read.  A stream cut short or corrupt
    still gives every byte before the damage, then raises on the next read (``GzipFile``
    loses what its failing read had decompressed); output is bounded by each read's size."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self._d = zlib.decompressobj(31)
        self._input = b""
        self._error: Exception | None = None

    def read(self, n: int) -> bytes:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        out = bytearray()
        try:
            while len(out) < n:
                if self._d.eof and not self._next_member():
                    break
                if not self._input:
                    self._input = self.raw.read(1 << 18)
                    if not self._input:
                        raise EOFError("the gzip stream ends early")
                out += self._d.decompress(self._input, n - len(out))
                self._input = self._d.unconsumed_tail
        except (EOFError, zlib.error, OSError) as exc:
            if not out:
                raise
            self._error = exc
        return bytes(out)

    def _next_member(self) -> bool:
        rest = self._d.unused_data or self.raw.read(1 << 18)
        while rest and not rest.strip(b"\0"):  # zeros after the last member are padding
            rest = self.raw.read(1 << 18)
        if not rest:
            return False
        self._d, self._input = zlib.decompressobj(31), rest
        return True

    def fileno(self) -> int:
        return self.raw.fileno()

    def tell(self) -> int:
        """The position in the compressed file."""
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()


def blocks(
    fh: BinaryIO, path: Path, on_line: OnLine, size: int = BLOCK
) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, bytes of whole lines) until the end of the stream.

    A line longer than MAX_LINE is passed to *on_line* and left out (its number is kept, as an
    empty line).  A stream that breaks (truncated or corrupt gzip, an I/O error) ends the
    blocks after *on_line* was told which line it broke in."""
    lineno, rest, skipping, first = 1, b"", False, True
    while True:
        try:
            data = fh.read(size)
        except (EOFError, zlib.error) as exc:
            on_line(lineno, f"compressed data ends early or is corrupt ({exc}); {_read(lineno)}")
            return
        except OSError as exc:
            on_line(lineno, f"cannot read ({exc.strerror or exc}); {_read(lineno)}")
            return
        if not data:
            break
        if first:  # a byte order mark (an editor's, or PowerShell's) is no part of the log
            first = False
            data = data.removeprefix(BOM)
        if skipping or rest:  # the line begun earlier: where does it end, how long is it?
            nl = data.find(b"\n")
            length = len(rest) + (len(data) if nl < 0 else nl)
            if not skipping and length > MAX_LINE:
                on_line(lineno, f"line longer than {MAX_LINE:,} bytes, skipped")
                rest, skipping = b"", True
            if skipping:
                if nl < 0:
                    continue
                data, skipping = data[nl:], False  # its end, left as an empty line
            elif nl < 0:
                rest += data
                continue
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        block = b"".join((rest, memoryview(data)[: cut + 1]))  # one copy of the block's bytes
        rest = data[cut + 1 :]
        yield lineno, block
        lineno += block.count(b"\n")
    if rest and not skipping:
        yield lineno, rest + b"\n"


def _read(lineno: int) -> str:
    return f"the {lineno - 1:,} lines before it were read"
