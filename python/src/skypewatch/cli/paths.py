"""Output paths checked before any work: a mistake costs one line, not a run's results.

Writability is tested by creating (and removing) a file where the output will go, not with
``os.access``: root passes every permission check, yet cannot create files under ``/proc``,
on a read-only mount, or below a regular file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..atomic import STDOUT
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


def _not_an_input(outputs: list[Path], option: str, inputs: Iterable[Path]) -> None:
    """Refuse an output that is one of the files read (compared as files, not as names:
    ``DIR/skype.log`` is an input of ``report DIR``, a symlink is the file it names)."""
    read = set()
    for i in inputs:
        with contextlib.suppress(OSError):
            st = os.stat(i)
            read.add((st.st_dev, st.st_ino))
    for out in outputs:
        try:
            st = os.stat(out)
        except OSError:
            continue  # not there yet: it is nobody's input
        if (st.st_dev, st.st_ino) in read:
            raise SkypewatchError(f"{option} {out}: is also an input; name another file")


def output_dir(
    path: str | Path, option: str, files: Iterable[str] = (), inputs: Iterable[Path] = ()
) -> Path:
    """Create directory *path* if missing and make sure *files* can be written into it.
    *inputs*: the files the command reads (directories already expanded to them), which none
    of *files* may be."""
    if str(path) == STDOUT:
        raise SkypewatchError(
            f"{option} -: this command writes logs into a directory, not to stdout"
            " (for a directory named '-', write ./-)"
        )
    p = Path(path)
    files = list(files)
    _not_an_input([p / name for name in files], option, inputs)
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
    inputs: Iterable[Path] = (),
    stdout_ok: bool = False,
) -> Path:
    """Check that file *path* can be written (created or replaced).

    *make_parent*: create a missing parent directory (else it must exist).  *atomic*: the
    command writes a temporary file beside *path* and renames it, so the directory must be
    writable even when *path* exists.  *inputs*: the files the command reads (directories
    expanded to the files read in them, ``log_files``), which the output must not be.  An
    existing device or pipe (``/dev/stdout``) only needs to be writable itself.  *stdout_ok*:
    ``-`` means stdout (returned as ``Path("-")``, unchecked), and an existing device or pipe
    is written directly rather than replaced (as ``skypewatch.atomic`` does)."""
    if str(path) == STDOUT:
        if not stdout_ok:
            raise SkypewatchError(f"{option} -: this command writes a file; name one")
        return Path(STDOUT)
    p = Path(path)
    _not_an_input([p], option, inputs)
    try:
        if p.is_dir():
            raise SkypewatchError(f"{option} {p}: is a directory; name a file")
        parent = p.parent
        if make_parent:
            parent.mkdir(parents=True, exist_ok=True)
        elif not parent.exists():
            raise SkypewatchError(f"{option} {p}: directory {parent} does not exist")
        if not parent.is_dir():
            raise SkypewatchError(f"{option} {p}: {parent} is not a directory")
        exists = p.exists()
        if atomic and exists and not p.is_file():
            if not stdout_ok:
                # renaming over a device or pipe would replace it, not write to it
                raise SkypewatchError(f"{option} {p}: not a regular file")
            atomic = False  # skypewatch.atomic writes a device or pipe directly
        if exists and not os.access(p, os.W_OK):
            raise SkypewatchError(f"{option} {p}: cannot write there: permission denied")
    except OSError as exc:
        raise SkypewatchError(f"{option} {p}: cannot write there: {_why(exc)}") from None
    if atomic or not exists:
        _probe(parent, option, p)
    return p
