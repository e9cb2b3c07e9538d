"""The ``skypewatch`` command line: the parser of every subcommand, and ``main``.

Exit codes: 0 success; 1 the run could not finish because an output could not be written
after the checks passed (disk full, an I/O error: one line on stderr; what was written is
incomplete, and logs that were being written are removed); 2 bad input or usage (one line on
stderr, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO, cast

from .. import __version__
from ..errors import SkypewatchError, one_line
from . import analyze, correlate, query, report, synth
from .args import OneLineParser
from .exits import EXIT_CODES, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK
from .signals import Terminated, stop_signals_unwind

SUBCOMMANDS = (analyze, correlate, query, report, synth)

DESCRIPTION = """\
Detect legacy peer-to-peer Skype (1.x-7.x) in packet captures and Zeek logs.

Skype's start-up has three stages, each with its own signature: a UDP probe to
super nodes (U1-U4), a TCP handshake with a super node (random port, then 80 and
443 with a TLS look-alike), and a TCP login (16 03 01 00 00).  skypewatch finds
each stage per connection, then correlates them per host into notices.
"""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="skypewatch",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"skypewatch {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # started with stdout or stderr closed (``>&-``), Python has None for them
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process's lifetime
    if sys.stdout is None:
        sys.stdout = cast(TextIO, _ClosedStdout())
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (already reported in one line), --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    except OSError as exc:  # --help or --version to a closed stdout
        print(f"skypewatch: stdout: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    _tolerant(sys.stdout)
    _tolerant(sys.stderr)
    stdout, sys.stdout = sys.stdout, _NamedStdout(sys.stdout)
    try:
        with stop_signals_unwind():
            code = args.func(args)
            sys.stdout.flush()  # here, where a full disk is one line and exit 1, not at exit
        return code
    except SkypewatchError as exc:
        print(f"skypewatch: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except Terminated as exc:
        print(f"skypewatch: stopped by {exc.name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("skypewatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # the checks passed, then writing failed: disk full, I/O error
        print(f"skypewatch: {_write_failure(exc, args)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        sys.stdout = stdout


def _tolerant(stream: Any) -> None:
    """Text that cannot be encoded (a file name of non-UTF-8 bytes, held as surrogates) is
    written as backslash escapes, whatever the locale or PYTHONIOENCODING says: after the
    work is done, printing its summary must not fail."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        stream.reconfigure(errors="backslashreplace")


def _write_failure(exc: OSError, args: argparse.Namespace) -> str:
    what = exc.filename or getattr(args, "output", None)  # a failed write names no file
    why = exc.strerror or str(exc) or type(exc).__name__
    if what == "stdout":  # files written before it are whole; what stdout was to get is not
        return one_line(f"stdout: {why}; what was to be printed there is lost")
    return one_line(
        (f"{what}: " if what else "") + f"{why}; the run could not finish, its output is incomplete"
    )


class _NamedStdout:
    """stdout whose write errors say "stdout" (a failed write names no file)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _stdout_error(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _stdout_error(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _ClosedStdout:
    """stdout when the process was started without one: writing to it fails as writing to
    a closed descriptor does (one line, exit 1), and a run that writes nothing there (-q)
    is not failed by it."""

    def write(self, _text: str) -> int:
        raise OSError(errno.EBADF, "closed when skypewatch started")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("stdout is closed")


def _stdout_error(exc: OSError) -> OSError:
    if not isinstance(exc, BrokenPipeError):
        # nothing more can reach stdout: keep the flush at exit from failing again
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return OSError(exc.errno, exc.strerror or str(exc), "stdout")


if __name__ == "__main__":
    sys.exit(main())
