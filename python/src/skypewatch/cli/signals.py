"""SIGTERM and SIGHUP stop a run as Ctrl-C does: the same clean-up, nothing half-written.

systemd, ``timeout``, ``docker stop`` and a closed terminal send SIGTERM or SIGHUP, whose
default action kills the process on the spot, leaving temporary files behind.  Here they
raise :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread instead, so every
``finally`` and every ``except BaseException`` clean-up runs, exactly as for SIGINT, and
the command exits with 128 + the signal's number, as a shell reports a process it killed.
(``correlate --zeek`` sets its own handlers while it runs: there SIGTERM is the normal end.)
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Terminated(KeyboardInterrupt):
    """A stop signal, unwinding the run as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def stop_signals_unwind() -> Iterator[None]:
    previous = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            previous[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
