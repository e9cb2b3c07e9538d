"""analyze's :class:`~skypewatch.outputs.Outputs` in a process of its own, beside the tracker.

On the Skype-heavy bench mix a third of the tracker's time went to what follows a finished
connection's hits: the verdict (``judge``), skype.log and notice.log, the correlator.  None
of it feeds back into the tracker, so it can run elsewhere.  The tracker hands over each
finished connection, in the order it judges them, a few hundred at a time down a one-way
pipe: a TCP one with its hits (as plain tuples) and whether its client host was confirmed
*when it ended* (the one host-context read of the verdict); a UDP one with its datagrams,
what the host context said of its two endpoints then and both ends' confirmation (its hits
are made here: which end is the client is known only once they are).  Each comes with its
:class:`~skypewatch.verdict.judge.Facts`: pickling a connection would cost as much as
judging it, its facts a tenth.  This child judges them in that order, so the records, the
notices and the logs are the ones the tracker's own process would have made.

The child writes the logs to temporary files of its own and says which as soon as they
exist; at the end it finishes them and hands them over (``writer.FinishedLog``): the run
puts them in place itself, both under one hold of the stop signals, as in one process.
Until then this process removes them if the child cannot.  End-of-file on the pipe (this
process gone) or SIGTERM (this process giving up) aborts the child: its files removed.  A
child that fails or dies raises :class:`~skypewatch.fastpath.bulk.Unsupported` here (the
caller runs the reference engine in one process), except for an ``OSError`` of the logs
(disk full), raised here as the same error: a second run would meet it again.  SIGINT is
ignored in the child (the terminal sends it to both: this process decides).
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import remove
from ..connections.connection import Connection
from ..correlation import HostCorrelatorOptions
from ..detect.hits import udp_hits_from, udp_reads
from ..fastpath.bulk import Unsupported
from ..packets.decode import UDP
from ..processes import reap, stop_signals_held, unblock
from ..signatures.base import Hit
from ..skypelog import Stage, Strength
from ..verdict.host_context import HostContext, HostOptions
from ..verdict.judge import client_is_responder, facts, judge_facts
from .records import Outputs, Produced, put_in_place

_BATCH = 256  # connections per message: a message per connection would cost more than them
_POLL = 0.5  # seconds between checks that the child is still there while waiting for it
_EOF_WAIT = 0.1  # seconds a child that reads gets to see end-of-file and remove its files

Wire = tuple[str, str, str, str, str | None, str | None]


def _wire(h: Hit) -> Wire:
    """A hit as plain values: an enum member pickles as a call to rebuild it, a str not
    (``_value_``: the member's value without ``.value``'s descriptor call)."""
    return (
        h.name,
        h.stage._value_,
        h.strength._value_,
        h.evidence,
        h.client_public_ip,
        h.skype_version,
    )


_STAGES = {s.value: s for s in Stage}  # Stage(value) costs a call through EnumMeta
_STRENGTHS = {s.value: s for s in Strength}


def _hit(w: Wire) -> Hit:
    return Hit(w[0], _STAGES[w[1]], _STRENGTHS[w[2]], w[3], w[4], w[5])


_STOPS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def _unwind(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # as the CLI's handlers do (cli/signals.py): the files go


@dataclass(frozen=True, slots=True)
class Settings:
    """What the child needs to make the run's outputs (picklable: spawn sends it)."""

    outdir: Path
    use_json: bool
    correlator_options: HostCorrelatorOptions | None
    keep_records: bool
    host_options: HostOptions


def _serve(settings: Settings, inbox: Any, outbox: Any, unused: Any) -> None:
    """The child: ("ready", temporary files), then every message of *inbox* in order; at
    ("end", complete) the logs finished and handed over ("finished", (Produced, logs)); on
    any failure, end-of-file or stop, the files removed and ("error", ...) back if it can."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in _STOPS:
        signal.signal(sig, _unwind)
    unblock()  # held by the parent across the fork
    if unused is not None:
        unused.close()  # the parent's end: with it closed here, a parent gone is end-of-file
    # (a stop in the instant before the clean-up began ends it quietly: the run removes
    # the files)
    with contextlib.suppress(KeyboardInterrupt):
        _work(settings, inbox, outbox)


def _work(settings: Settings, inbox: Any, outbox: Any) -> None:
    host_options = settings.host_options
    outputs: Outputs | None = None
    try:
        outputs = Outputs(
            settings.outdir, settings.use_json, settings.correlator_options, settings.keep_records
        )
        outbox.send(("ready", [str(p) for p in outputs.temporary]))
        record = outputs.record
        hit = _hit
        while True:
            msg = inbox.recv()
            if msg[0] == "v":
                for item in msg[1]:
                    if len(item) == 3:  # a TCP connection's hits
                        f, wires, confirmed = item
                        rec = judge_facts(f, [hit(w) for w in wires], confirmed)
                    else:  # a UDP connection's datagrams: its hits are made here
                        f, dgrams, orig_pkts, resp_pkts, reads, orig_conf, resp_conf = item
                        conn = Connection(f.key, f.ts, UDP, f.orig, f.orig_p, f.resp, f.resp_p)
                        conn.datagrams = dgrams
                        conn.orig_pkts = orig_pkts
                        conn.resp_pkts = resp_pkts
                        hits = udp_hits_from(conn, reads, host_options)
                        if not hits:
                            continue
                        confirmed = resp_conf if client_is_responder(hits) else orig_conf
                        rec = judge_facts(f, hits, confirmed)
                    if rec is not None:
                        record(rec)
            elif msg[0] == "drain":
                outputs.draining = True
            elif msg[0] == "end":
                outputs.finish(msg[1])
                produced = outputs.produced_so_far()
                produced.tally.inside = None  # the correlator's method stays here
                # the run puts the logs in place, as one process would: a stop signal it
                # gets now still leaves none (and from here on the files are its own)
                logs = outputs.finished()
                outbox.send(("finished", (produced, logs)))
                outputs = None  # sent: nothing here may remove them now
                return
    except BaseException as exc:
        for sig in _STOPS:  # leaving: a stop now (the run's SIGTERM) must not cut this short
            signal.signal(sig, signal.SIG_IGN)
        if outputs is not None:
            outputs.abort()
        with contextlib.suppress(BaseException):
            if isinstance(exc, OSError) and exc.filename is not None:  # a log's (writer.py)
                outbox.send(("oserror", (exc.errno, exc.strerror, exc.filename)))
            elif not isinstance(exc, (EOFError, KeyboardInterrupt)):
                outbox.send(("error", f"{type(exc).__name__}: {exc}"))


class OutputsProcess:
    """The parent's side: :meth:`hand` is the tracker's ``on_hits``; :meth:`drain` marks the
    end of input, :meth:`end` finishes the run there and returns what it produced;
    :meth:`close` (always) stops a child that did not end, and removes its files."""

    def __init__(self, ctx: Any, settings: Settings) -> None:
        self._buf: list[tuple] = []
        self._temporary: list[Path] = []
        self._ended = False
        self.child: Any = None
        try:
            self._to_child_r, self._to_child = ctx.Pipe(duplex=False)
        except OSError as exc:
            raise Unsupported(f"cannot start the outputs process: {exc.strerror}") from None
        try:
            self._from_child, from_child_w = ctx.Pipe(duplex=False)
        except OSError as exc:
            self._to_child_r.close()
            self._to_child.close()
            raise Unsupported(f"cannot start the outputs process: {exc.strerror}") from None
        try:
            self.child = ctx.Process(
                target=_serve,
                args=(settings, self._to_child_r, from_child_w, self._to_child),
                daemon=True,
                name="skypewatch-outputs",
            )
            with stop_signals_held():
                self.child.start()
        except OSError as exc:
            self.close()
            raise Unsupported(f"cannot start the outputs process: {exc.strerror}") from None
        finally:
            # the child's ends: once it is gone, reading here is end-of-file, writing EPIPE
            self._to_child_r.close()
            from_child_w.close()
        kind, value = self._reply()
        if kind != "ready":
            self.close()
            self._raise(kind, value)
        self._temporary = [Path(p) for p in value]

    # -- during the run ---------------------------------------------------------------------
    def hand(self, conn: Connection, hits: list[Hit], confirmed: bool) -> None:
        """A finished (TCP) connection with hits (``Tracker(on_hits=...)``)."""
        self._add((facts(conn), [_wire(h) for h in hits], confirmed))

    def hand_udp(self, conn: Connection, ctx: HostContext) -> None:
        """A finished UDP connection with datagrams (``Tracker(on_udp_flow=...)``): what
        its hits and verdict read, the host context's part read now, as the tracker would
        have read it here (its client's confirmation for either end: which end is the
        client depends on the hits)."""
        self._add(
            (
                facts(conn),
                conn.datagrams,
                conn.orig_pkts,
                conn.resp_pkts,
                udp_reads(conn, ctx),
                ctx.is_confirmed(conn.orig),
                ctx.is_confirmed(conn.resp),
            )
        )

    def drain(self) -> None:
        """The end of input: what is judged from now on advances no notice's clock."""
        self._flush()
        self._send(("drain",))

    def end(self, complete: bool) -> Produced:
        """The logs finished there and put in place here (complete, or marked unfinished),
        as one process does it; what the run produced."""
        self._flush()
        self._send(("end", complete))
        kind, value = self._reply()
        if kind != "finished":
            self._raise(kind, value)
        produced, logs = value
        put_in_place(produced, logs, complete)
        self._ended = True
        return produced

    def close(self) -> None:
        """The child's exit: after :meth:`end` it leaves by itself; otherwise end-of-file
        stops it if it reads, else SIGTERM unwinds it (busy finishing the logs), and it
        removes its files (``processes.reap``); then, unless the run ended, whatever of its
        files is left is removed here, with stop signals held (the process objects are freed
        here, and a stop there must not leave a file behind)."""
        with stop_signals_held():
            for end in (self._to_child, self._from_child):
                with contextlib.suppress(OSError):
                    end.close()
            child, self.child = self.child, None
            if child is not None:
                # end-of-file stops a child that reads; SIGTERM unwinds one that is busy
                # (finishing the logs)
                reap(child, _EOF_WAIT, _POLL)
            del child
            if not self._ended:
                for p in self._temporary:
                    remove(p)

    # -- plumbing ---------------------------------------------------------------------------
    def _add(self, item: tuple) -> None:
        self._buf.append(item)
        if len(self._buf) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._send(("v", self._buf))
            self._buf = []

    def _send(self, msg: tuple) -> None:
        try:
            self._to_child.send(msg)
        except OSError:  # the child is gone (EPIPE): why, if it said
            kind, value = self._reply(wait=_POLL)
            self._raise(kind, value)

    def _reply(self, wait: float | None = None) -> tuple[str, Any]:
        """The child's next message; ("gone", exit code) if it ended without one."""
        child = self.child
        waited = 0.0
        try:
            while not self._from_child.poll(_POLL):
                waited += _POLL
                if (not child.is_alive() and not self._from_child.poll(0)) or (
                    wait is not None and waited >= wait
                ):
                    raise EOFError
            msg: tuple[str, Any] = self._from_child.recv()
            return msg
        except (EOFError, OSError):
            child.join(timeout=_POLL)
            return ("gone", child.exitcode)

    @staticmethod
    def _raise(kind: str, value: Any) -> None:
        if kind == "oserror":
            errno, strerror, filename = value
            raise OSError(errno, strerror, filename)
        if kind == "error":
            raise Unsupported(f"the outputs process failed: {value}")
        raise Unsupported(f"the outputs process ended (exit code {value})")
