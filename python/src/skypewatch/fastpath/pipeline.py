"""The bulk engine on two cores: reading and decoding in one process, the tracker in this one.

The bulk engine's work splits in two at a clean seam: :func:`engine.batches` (read the
chunk, decode every frame, decide which UDP connections are skipped) needs nothing of the
tracker, and :class:`engine.Applier` (every tracked packet through the tracker, in capture
order) needs nothing else.  Here the first runs in a child process and sends its batches
down a one-way pipe; this process applies them in the order they come, so the tracker sees
exactly what it sees in one process and the logs are the same, by construction.

The chunk's bytes do not travel down the pipe.  Where the child is forked (Linux), it copies
them into one of a few buffers of shared memory made before the fork, and this process
applies them from there: it reads the very bytes the child decoded, whatever happens to the
file meanwhile, and pays neither a second read nor a check for it.  A semaphore counts the
free buffers: the child takes one before it fills it and this process gives it back once
the batch is applied, so a buffer is never filled again while its batch is in use.  A
chunk too large for a buffer (a pcapng's large blocks), or a child that is spawned (no
shared memory made before the fork), leaves the bytes out: this process reads them again
from its own descriptor of the capture (``os.pread``, from the page cache: a fifth of what
a pipe costs), and it is the same file by construction -- the child refuses a path that no
longer names the file this process opened (device and inode), and such a batch carries
the CRC-32 of the bytes the child decoded, checked here: a capture renamed, swapped or
rewritten while it is read cannot mix two files' bytes, it falls back.  The pipe's own
buffer is the flow control: the child works on the next batch while this process applies
one.

Failures end in :class:`Unsupported`, and the caller starts over with the reference engine
as for any other capture the bulk engine does not take: a child that cannot start (no file
descriptor, no process left), that fails (its exception's text comes back), or that dies
(this process holds no write end of the pipe, so a dead child is end-of-file, even in the
middle of a batch).  The child is a daemon that ignores SIGINT (the terminal sends it to
both: this process decides); if this process dies, the child's next send fails on the
closed pipe and it leaves.  The decoder lives in the child; what it could not decode comes
back at the end.

Gains are bounded by the slower side (the tracker); analyze takes the verdicts, the logs and
the correlation off it too, into a third process (outputs/process.py), which shares the
second core with this reader.  See the README's Performance section for what two cores give.
"""

from __future__ import annotations

import mmap
import os
import signal
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..detect.tracker import Tracker
from ..packets.decode import Decoder
from ..processes import context as _context
from ..processes import reap, stop_signals_held, unblock
from .bulk import CHUNK_BYTES, Unsupported
from .engine import Applier, EndedInRecord, FastStats, batches

_POLL = 0.5  # seconds between checks that the child is still there
# Shared buffers for the chunks' bytes: enough for the child to fill one while this process
# applies another and a third waits in the pipe; each holds a pcap chunk and the record
# carried into it (at most a read and a record: bulk.chunks).
_SLOTS = 3
_SLOT_BYTES = 2 * CHUNK_BYTES

Progress = Callable[[int, int], None]


def _produce(
    paths: list[str],
    identities: list[tuple[int, int]],
    udp_timeout: float,
    limit: int,
    out: Any,
    unused: Any,
    slots: list[mmap.mmap] | None = None,
    free: Any = None,
) -> None:
    """The child: every batch down *out*, its bytes in one of the shared *slots* (once
    *free* lets it have one), else left out with their CRC-32 in ``buf_crc``; then ("done",
    (undecoded counts, where the input ended inside a record or None)) or ("error", why).
    A send to a parent that is gone fails, and a wait for a slot sees it gone: it leaves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # a forked child has the CLI's unwinding handlers
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    unblock()  # held by the parent across the fork
    if unused is not None:
        unused.close()  # the parent's end: with it closed here, a dead parent is EPIPE
    parent = os.getppid()
    decoder = Decoder()
    filled = 0  # batches sent in slots
    try:
        try:
            cut = None
            try:
                for b in batches(paths, decoder, udp_timeout, limit, identities=identities):
                    buf = b.buf
                    assert buf is not None
                    b.buf = None
                    if slots is not None and len(buf) <= _SLOT_BYTES:
                        while not free.acquire(timeout=_POLL):
                            if os.getppid() != parent:
                                os._exit(0)  # the parent is gone
                        # the parent released the batch that used it last (batches are
                        # applied, and their slots given back, in the order they are sent)
                        b.slot = filled % len(slots)
                        slots[b.slot][: len(buf)] = buf
                        filled += 1
                    else:
                        b.buf_crc = zlib.crc32(buf)
                    del buf
                    out.send(("batch", b))
            except EndedInRecord as end:
                cut = end.cut
            decoder.finish()
            out.send(("done", (dict(decoder.undecoded), cut)))
        except (BrokenPipeError, ConnectionResetError):
            os._exit(0)  # the parent is gone
        except Unsupported as exc:
            out.send(("error", str(exc)))
        except Exception as exc:  # any failure: the reference engine runs
            out.send(("error", f"bulk reader process failed: {type(exc).__name__}: {exc}"))
    except OSError:
        os._exit(0)
    out.close()


def feed(
    paths: Sequence[str | Path],
    tracker: Tracker,
    decoder: Decoder,
    progress: Progress | None = None,
    total_bytes: int = 0,
) -> FastStats:
    """:func:`engine.feed` with the reading and decoding in a child process: the same
    packets into *tracker*, the undecoded counts into *decoder*; or :class:`Unsupported`."""
    ctx = _context()
    opts = tracker.options
    applier = Applier(tracker)
    child = None
    fds: list[int] = []
    slots: list[mmap.mmap] | None = None
    free = None
    try:
        for path in paths:
            try:
                fds.append(os.open(path, os.O_RDONLY))
            except OSError as exc:
                raise Unsupported(f"cannot open the capture again: {exc.strerror}") from None
        identities = [(st.st_dev, st.st_ino) for st in map(os.fstat, fds)]
        try:
            inbox, out = ctx.Pipe(duplex=False)
        except OSError as exc:
            raise Unsupported(f"cannot start the bulk reader process: {exc.strerror}") from None
        slots, free = _shared_slots(ctx)
        try:
            try:
                child = ctx.Process(
                    target=_produce,
                    args=(
                        [str(p) for p in paths],
                        identities,
                        opts.udp_timeout,
                        opts.max_connections,
                        out,
                        inbox,
                        slots,
                        free,
                    ),
                    daemon=True,
                    name="skypewatch-reader",
                )
                with stop_signals_held():
                    child.start()
            except OSError as exc:
                raise Unsupported(f"cannot start the bulk reader process: {exc.strerror}") from None
            finally:
                out.close()  # the child's end: once it is gone, reading here is end-of-file
            _receive(inbox, fds, slots, free, child, applier, decoder, progress, total_bytes)
        finally:
            inbox.close()
    finally:
        for fd in fds:
            os.close(fd)
        for slot in slots or ():
            slot.close()
        with stop_signals_held():  # its object is freed here too (processes.reap)
            if child is not None:
                reap(child, 0.0, _POLL)  # (the reader has nothing to clean up: SIGTERM at once)
            del child
    return applier.stats


def _shared_slots(ctx: Any) -> tuple[list[mmap.mmap] | None, Any]:
    """The shared buffers and their semaphore, for a forked child; (None, None) where the
    child is spawned or they cannot be had (then the bytes are read again: pread)."""
    if ctx.get_start_method() != "fork":
        return None, None
    slots: list[mmap.mmap] = []
    try:
        for _ in range(_SLOTS):
            slots.append(mmap.mmap(-1, _SLOT_BYTES))
        return slots, ctx.Semaphore(_SLOTS)
    except OSError:
        for slot in slots:
            slot.close()
        return None, None


def _receive(
    inbox: Any,
    fds: list[int],
    slots: list[mmap.mmap] | None,
    free: Any,
    child: Any,
    applier: Applier,
    decoder: Decoder,
    progress: Progress | None,
    total_bytes: int,
) -> None:
    while True:
        try:
            while not inbox.poll(_POLL):
                if not child.is_alive() and not inbox.poll(0):
                    raise EOFError
            kind, value = inbox.recv()
        except (EOFError, OSError):
            child.join(timeout=5)
            raise Unsupported(
                f"the bulk reader process ended (exit code {child.exitcode})"
            ) from None
        if kind == "error":
            raise Unsupported(value)
        if kind == "done":
            undecoded, applier.stats.cut = value
            decoder.undecoded.update(Counter(undecoded))
            return
        if value.slot >= 0:
            assert slots is not None
            applier.apply(value, slots[value.slot])
            free.release()  # (nothing of the slot is kept: apply copies what it keeps)
        else:
            try:
                buf = os.pread(fds[value.capture], value.size, value.file_offset)
            except OSError as exc:
                raise Unsupported(f"cannot read the capture again: {exc.strerror}") from None
            if len(buf) != value.size or zlib.crc32(buf) != value.buf_crc:
                raise Unsupported("the capture changed while it was read")
            applier.apply(value, buf)
        if progress is not None:
            progress(value.bytes_before + value.file_bytes, total_bytes)
