"""Output files that appear whole or not at all.

Every file a command writes goes to a temporary file of its own beside the final name
(``tempfile.mkstemp``: a name no other run shares) and is renamed over the final name only
when it is complete, so that:

- two runs writing the same file each leave a whole one (the last to finish wins), never a
  mix of the two or a file with two ``#close`` lines;
- a run that fails or is stopped (an error, Ctrl-C, SIGTERM, SIGHUP: see ``cli.signals``)
  leaves the previous file as it was and no temporary file behind.

``-`` as a file name means stdout, and a device or pipe (``/dev/stdout``, a FIFO) is written
directly: there is nothing to replace.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

STDOUT = "-"


def temp_beside(final: Path) -> tuple[int, Path]:
    """A new, uniquely named hidden file in *final*'s directory: (open descriptor, path).

    Its mode is what ``open()`` would have given (0666 less the umask), not mkstemp's 0600:
    the renamed log is read by other users and tools as any log is."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666 & ~_umask())
    return fd, Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def replacing(final: str | Path, binary: bool = False) -> Iterator[IO]:
    """An open file whose content replaces *final* when the block ends without an error (or
    goes to stdout when *final* is ``-``); on any error or interruption the temporary file
    is removed and *final* is left as it was."""
    if str(final) == STDOUT:
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    final = Path(final)
    if final.exists() and not final.is_file():  # a device or pipe: renaming would replace it
        with open(final, "wb" if binary else "w", encoding=None if binary else "utf-8") as out:
            yield out
        return
    fd, tmp = temp_beside(final)
    try:
        if binary:
            fh: IO = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    except BaseException:
        os.close(fd)
        remove(tmp)
        raise
    try:
        with fh:
            yield fh
        os.replace(tmp, final)
    except OSError as exc:
        remove(tmp)
        if exc.filename is None:  # a failed write names no file: name the output
            raise OSError(exc.errno, exc.strerror or str(exc), str(final)) from None
        raise
    except BaseException:
        remove(tmp)
        raise


def write_text(final: str | Path, text: str) -> None:
    with replacing(final) as fh:
        fh.write(text)


def write_bytes(final: str | Path, data: bytes) -> None:
    with replacing(final, binary=True) as fh:
        fh.write(data)
