"""Output paths checked before any work: a mistake costs one line, not a run's results.

Writability is tested by creating (and removing) a file where the output will go, not with
``os.access``: root passes every permission check, yet cannot create files under ``/proc``,
on a read-only mount, or below a regular file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import SkypewatchError


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _probe(directory: Path, option: str, shown: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".skypewatch-", suffix=".probe", dir=directory)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise SkypewatchError(f"{option} {shown}: cannot write there: {_why(exc)}") from None


def output_dir(path: str | Path, option: str, files: Iterable[str] = ()) -> Path:
    """Create directory *path* if missing and make sure *files* can be written into it."""
    p = Path(path)
    try:
        if p.exists() and not p.is_dir():
            raise SkypewatchError(f"{option} {p}: is a file, not a directory")
        p.mkdir(parents=True, exist_ok=True)
        for name in files:
            if (p / name).is_dir():
                raise SkypewatchError(f"{option} {p}: {name} in it is a directory")
    except OSError as exc:
        raise SkypewatchError(f"{option} {p}: cannot create directory: {_why(exc)}") from None
    _probe(p, option, p)
    return p


def output_file(
    path: str | Path,
    option: str,
    *,
    make_parent: bool = False,
    atomic: bool = False,
    inputs: Iterable[str | Path] = (),
) -> Path:
    """Check that file *path* can be written (created or replaced).

    *make_parent*: create a missing parent directory (else it must exist).  *atomic*: the
    command writes a temporary file beside *path* and renames it, so the directory must be
    writable even when *path* exists.  *inputs*: files the command reads, which the output
    must not overwrite.  An existing device or pipe (``/dev/stdout``) only needs to be
    writable itself."""
    p = Path(path)
    try:
        if p.is_dir():
            raise SkypewatchError(f"{option} {p}: is a directory; name a file")
        for i in inputs:
            if p.exists() and Path(i).exists() and p.samefile(i):
                raise SkypewatchError(f"{option} {p}: is also an input; name another file")
        parent = p.parent
        if make_parent:
            parent.mkdir(parents=True, exist_ok=True)
        elif not parent.exists():
            raise SkypewatchError(f"{option} {p}: directory {parent} does not exist")
        if not parent.is_dir():
            raise SkypewatchError(f"{option} {p}: {parent} is not a directory")
        exists = p.exists()
        if atomic and exists and not p.is_file():
            # renaming over a device or pipe would replace it, not write to it
            raise SkypewatchError(f"{option} {p}: not a regular file")
        if exists and not os.access(p, os.W_OK):
            raise SkypewatchError(f"{option} {p}: cannot write there: permission denied")
    except OSError as exc:
        raise SkypewatchError(f"{option} {p}: cannot write there: {_why(exc)}") from None
    if atomic or not exists:
        _probe(parent, option, p)
    return p
