"""The bulk engine on two cores: reading and decoding in one process, the tracker in this one.

The bulk engine's work splits in two at a clean seam: :func:`engine.batches` (read the
chunk, decode every frame, decide which UDP connections are skipped) needs nothing of the
tracker, and :class:`engine.Applier` (every tracked packet through the tracker, in capture
order) needs nothing else.  Here the first runs in a child process and hands its batches
over a bounded queue; this process applies them in the order they come, so the tracker
sees exactly what it sees in one process and the logs are the same, by construction.

What travels is numpy arrays and the full decoder's few packets: the chunk's bytes are not
sent but read again here from the file (``os.pread``, from the page cache), which costs a
copy where pickling them would cost two.  The decoder lives in the child; what it could
not decode comes back at the end.

Gains are bounded by the slower side (the tracker: about two thirds of the work on the
benchmark mixes), so a third worker would have nothing to do: see the README's Performance
section for what two cores give.  The child is a daemon that ignores SIGINT (the terminal
sends it to both: this process decides) and leaves when its parent is gone; any failure
of it, or a capture that changed while read, is :class:`Unsupported`, and the caller starts
over with the reference engine as for any other capture the bulk engine does not take.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..detect.tracker import Tracker
from ..packets.decode import Decoder
from .bulk import Unsupported
from .engine import Applier, FastStats, batches

DEPTH = 4  # batches in flight: a few chunks' arrays (a few MB each) ahead of the tracker
_POLL = 0.5  # seconds between checks that the other side is still there

Progress = Callable[[int, int], None]


def _produce(path: str, udp_timeout: float, limit: int, out: Any, parent: int) -> None:
    """The child: every batch onto *out*, then ("done", undecoded counts), or ("error",
    why).  Sends give up when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # a forked child has the CLI's unwinding handlers
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)

    def send(item: object) -> None:
        while True:
            try:
                out.put(item, timeout=_POLL)
                return
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(0)

    decoder = Decoder()
    try:
        for b in batches(path, decoder, udp_timeout, limit):
            b.buf = None
            send(("batch", b))
        decoder.finish()
        send(("done", dict(decoder.undecoded)))
    except Unsupported as exc:
        send(("error", str(exc)))
    except Exception as exc:  # any failure: the reference engine runs
        send(("error", f"bulk reader process failed: {type(exc).__name__}: {exc}"))
    out.close()
    out.join_thread()


def _context() -> Any:
    """fork where it is safe and cheap (Linux, no other thread whose locks the child could
    inherit held), else spawn."""
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("spawn")


def feed(
    path: str | Path,
    tracker: Tracker,
    decoder: Decoder,
    progress: Progress | None = None,
    total_bytes: int = 0,
) -> FastStats:
    """:func:`engine.feed` with the reading and decoding in a child process: the same
    packets into *tracker*, the undecoded counts into *decoder*; or :class:`Unsupported`."""
    ctx = _context()
    out = ctx.Queue(maxsize=DEPTH)
    opts = tracker.options
    child = ctx.Process(
        target=_produce,
        args=(str(path), opts.udp_timeout, opts.max_connections, out, os.getpid()),
        daemon=True,
        name="skypewatch-reader",
    )
    applier = Applier(tracker)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise Unsupported(f"cannot open the capture again: {exc.strerror}") from None
    try:
        child.start()
        while True:
            try:
                kind, value = out.get(timeout=_POLL)
            except queue.Empty:
                if not child.is_alive():
                    raise Unsupported(
                        f"the bulk reader process ended (exit code {child.exitcode})"
                    ) from None
                continue
            if kind == "error":
                raise Unsupported(value)
            if kind == "done":
                decoder.undecoded.update(Counter(value))
                break
            buf = os.pread(fd, value.size, value.file_offset)
            if len(buf) != value.size:
                raise Unsupported("the capture changed while it was read")
            applier.apply(value, buf)
            if progress is not None:
                progress(value.file_bytes, total_bytes)
    finally:
        os.close(fd)
        if child.is_alive():
            child.terminate()
        if child.pid is not None:
            child.join()
        out.close()
        out.cancel_join_thread()
    return applier.stats
