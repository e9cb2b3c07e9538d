"""Starting a helper process safely: which start method, and stop signals held across it
(or across any short step that a stop must not cut in two: putting two logs in place).

Used by the bulk engine's reader process (fastpath/pipeline.py) and analyze's outputs
(outputs/).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = {
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
}


def context() -> Any:
    """fork where it is safe and cheap (Linux, no other thread whose locks the child could
    inherit held), else spawn."""
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("spawn")


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """A stop signal that lands between the fork and the moment this process knows its
    child's pid would leave the child unreaped: held across the start, delivered after
    (and unblocked in the child once its own handlers are set: :func:`unblock`)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unblock() -> None:
    """In the child: the stop signals :func:`stop_signals_held` held across the fork."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def reap(child: Any, grace: float, wait: float) -> None:
    """The end of a helper process started here (*child*: a ``multiprocessing`` Process):
    *grace* seconds to leave by itself, then SIGTERM and *wait* seconds, then SIGKILL (a
    stopped process keeps SIGTERM pending); joined and closed.  Stop signals wait meanwhile:
    the process object's finalizers run here, where a signal's exception would be lost
    (Python ignores exceptions in finalizers); the caller frees the object under the same
    hold."""
    with stop_signals_held():
        if child.pid is None:  # never started
            return
        if grace > 0:
            child.join(timeout=grace)
        if child.is_alive():
            child.terminate()
            child.join(timeout=wait)
        if child.is_alive():
            child.kill()
            child.join()
        child.close()
