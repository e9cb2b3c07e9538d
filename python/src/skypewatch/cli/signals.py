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
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

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


@contextlib.contextmanager
def stop_signals_unwind() -> Iterator[None]:
    """The block unwinds on SIGTERM or SIGHUP as on Ctrl-C.  A handler's exception raised
    while Python runs a finalizer (``__del__``, a weakref callback) is printed and dropped
    by Python: such a stop is kept here, not printed, and raised when the block ends."""
    received: list[int] = []

    def _raise(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        raise Terminated(signum)

    previous = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            previous[sig] = signal.signal(sig, _raise)
    hook = sys.unraisablehook

    def unraisable(u: Any) -> None:
        if not isinstance(u.exc_value, Terminated):
            hook(u)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:  # reached only when the block ended without raising: the stop was lost
        raise Terminated(received[-1])
