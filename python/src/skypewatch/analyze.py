"""``skypewatch analyze``: captures in, skype.log + notice.log + a summary out."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from . import processes
from .bounded import BoundStats
from .correlation import HostCorrelatorOptions
from .correlation.notices import for_reading
from .detect.tracker import Tracker, TrackerOptions
from .errors import CaptureError, CaptureTruncated
from .outputs import MAX_SUMMARY_HOSTS, Outputs, Tally
from .outputs import SHOWN_NOTICES as SHOWN_NOTICES  # (tests and callers read it here)
from .outputs.process import OutputsProcess, Settings
from .packets.capture import MAX_CAPLEN, OpenStream, check_readable, is_pipe, read_capture
from .packets.decode import SUPPORTED_LINK_TYPES, Decoder, decode_plain
from .skypelog import STAGES, Notice, PeerRole, SkypeRecord

bulk_engine: ModuleType | None
bulk_pipeline: ModuleType | None
try:  # the bulk engine needs numpy; without it every capture takes the reference path
    from .fastpath import engine as _bulk
    from .fastpath import pipeline as _pipeline
    from .fastpath.bulk import CHUNK_BYTES, REFUSED, Unsupported, stream_header
    from .fastpath.engine import TABLE_COULD_FILL
except ImportError:  # pragma: no cover - numpy is a dependency
    bulk_engine = bulk_pipeline = None
    REFUSED = TABLE_COULD_FILL = ""
    CHUNK_BYTES = 0

    class Unsupported(Exception):  # type: ignore[no-redef]
        pass

    def stream_header(stream: OpenStream) -> None:  # type: ignore[misc]
        return None
else:
    bulk_engine = _bulk
    bulk_pipeline = _pipeline


ENGINES = ("auto", "bulk", "reference")
# below this a second process costs more to start than it saves (fork ~10 ms, spawn ~0.5 s)
PIPELINE_MIN_BYTES = 64 << 20
# a bulk attempt on a capture this large may hold enough to matter when the reference
# engine starts; below it, a full collection costs more than it frees (it walks the whole
# heap: in a long-lived process such as the fuzz suite, ~40 ms per fallback, growing)
COLLECT_MIN_BYTES = 8 << 20
# What a stream's bulk reading keeps of it for the reference to read again: more than it
# can have read when it gives up (before its first packet: a few reads of a chunk, one
# record of any size); past that it never gives up (one process, a pcap), and from its
# first chunk of packets on it keeps nothing (fastpath.bulk.chunks)
STREAM_KEEP = 3 * CHUNK_BYTES + MAX_CAPLEN
SHOWN_CLIENTS = 50  # lines of the summary's client list; the rest are "+N more"


@dataclass(slots=True)
class Summary:
    captures: int = 0
    packets: int = 0
    connections: int = 0
    seconds: float = 0.0
    records: list[SkypeRecord] = field(default_factory=list)  # only with keep_records
    tally: Tally = field(default_factory=Tally)
    notices: list[Notice] = field(default_factory=list)  # every notice: only with keep_records
    notice_count: int = 0
    shown_notices: list[Notice] = field(default_factory=list)  # the first SHOWN_NOTICES
    truncated: CaptureTruncated | None = None
    skype_log: Path | None = None
    notice_log: Path | None = None
    host_state: BoundStats = field(default_factory=BoundStats)
    """What the full host tables (host context, correlator) gave up."""
    conn_state: BoundStats = field(default_factory=BoundStats)
    """What the full open-connection table gave up."""
    untracked_packets: int = 0
    early_notices: int = 0
    max_open: int = 0
    undecoded: Counter = field(default_factory=Counter)  # frames that gave no packet, by reason
    max_connections: int = 0
    engine: str = ""
    """Which engine analysed the capture (``bulk (...)``, ``reference (why)``)."""


Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def analyze(
    captures: Sequence[str | Path],
    outdir: str | Path,
    use_json: bool = False,
    tracker_options: TrackerOptions | None = None,
    correlator_options: HostCorrelatorOptions | None = None,
    progress: Progress | None = None,
    keep_records: bool = False,
    engine: str | None = None,
    workers: int = 1,
) -> Summary:
    """Analyse the captures as one stream (like ``zeek -r a -r b``) and write the logs.

    Raises :class:`CaptureError` for unusable input, leaving no log behind.  A truncated capture
    is analysed up to where it breaks; the logs are then written without their ``#close`` line
    and the :class:`CaptureTruncated` is returned in ``Summary.truncated`` for the caller.
    """
    outdir = _prepare(outdir, captures)
    started = time.perf_counter()
    engine = engine or os.environ.get("SKYPEWATCH_ENGINE", "auto") or "auto"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    why = _bulk_refused(captures) if engine != "reference" else "asked for"
    stream = None
    if why == REFUSED and len(captures) == 1 and is_pipe(captures[0]):
        # A pipe or FIFO is read once: opened here, its header read, and the bulk engine
        # takes it in one process if it is a pcap it reads; else the reference reads it
        # from its first byte again (OpenStream keeps what was read).
        stream = OpenStream.open(captures[0], STREAM_KEEP)
    processes = workers if stream is None else 1  # (a second process would open it again)

    def run(bulk: bool, processes: int = processes) -> Summary:
        return _run(
            captures,
            outdir,
            use_json,
            tracker_options,
            correlator_options,
            progress,
            keep_records,
            bulk=bulk,
            workers=processes,
            stream=stream,
        )

    attempts = [processes, 1] if processes > 1 else [processes]
    summary: Summary | None = None
    try:
        if stream is not None and stream_header(stream) is not None:
            why = None
        while why is None and attempts:
            try:
                summary = run(bulk=True, processes=attempts.pop(0))
            except Unsupported as exc:
                why = str(exc)
            else:
                break
            # what the attempt held (its traceback is gone now; cycles too, which the
            # entry points leave to a rarer collection) goes before the next run builds
            # its own
            if _size(captures[0]) >= COLLECT_MIN_BYTES:
                gc.collect()
            if why == TABLE_COULD_FILL and attempts:
                why = None  # one process takes a table that could fill over (fastpath/engine.py)
        if summary is None:
            summary = run(bulk=False)
            summary.engine = f"reference ({why})"
    finally:
        if stream is not None:
            stream.close()
    summary.seconds = time.perf_counter() - started
    if stream is not None and workers > 1 and summary.engine.endswith(")"):
        summary.engine = summary.engine[:-1] + "; in one process: a stream)"
    return summary


def auto_workers(captures: Sequence[str | Path]) -> int:
    """Cores for ``--workers auto``: 2 (the bulk engine's reading and decoding, and the
    outputs, beside its tracker: fastpath/pipeline.py, outputs/process.py) for captures of
    at least ``PIPELINE_MIN_BYTES`` together when this process may run on two CPUs or more;
    else 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    return 2 if sum(_size(c) for c in captures) >= PIPELINE_MIN_BYTES else 1


def _bulk_refused(captures: Sequence[str | Path]) -> str | None:
    """Why the bulk engine cannot take these captures, or None if it can try."""
    if bulk_engine is None:
        return "numpy is not installed"
    for capture in captures:
        if bulk_engine.supported(capture) is None:
            return REFUSED if len(captures) == 1 else f"{capture}: {REFUSED}"
    return None


def _run(
    captures: Sequence[str | Path],
    outdir: Path,
    use_json: bool,
    tracker_options: TrackerOptions | None,
    correlator_options: HostCorrelatorOptions | None,
    progress: Progress | None,
    keep_records: bool,
    bulk: bool,
    workers: int = 1,
    stream: OpenStream | None = None,
) -> Summary:
    """One analysis; with *bulk*, through the bulk engine, which raises Unsupported (no log
    left behind) for a capture it cannot take.  *stream*: the one capture, opened."""
    summary = Summary(captures=len(captures))
    # the verdicts, logs and correlation in a process of their own beside the tracker
    # (outputs/process.py) on the bulk path with two workers; the reference path reads
    # streams, where a failing helper could not start over
    apart = bulk and workers >= 2
    outputs: Outputs | None = None
    helper: OutputsProcess | None = None
    if apart:
        helper = OutputsProcess(
            processes.context(),
            Settings(
                outdir,
                use_json,
                correlator_options,
                keep_records,
                (tracker_options or TrackerOptions()).host,
            ),
        )
    try:
        if helper is None:
            outputs = Outputs(outdir, use_json, correlator_options, keep_records)
            tracker = Tracker(outputs.record, tracker_options)
        else:
            tracker = Tracker(
                _no_record, tracker_options, on_hits=helper.hand, on_udp_flow=helper.hand_udp
            )
        decoder = Decoder()
        try:
            if bulk:
                assert bulk_engine is not None and bulk_pipeline is not None
                total = sum(_size(c) for c in captures)
                feed = bulk_engine.feed if workers < 2 else bulk_pipeline.feed
                sources = captures if stream is None else [stream]
                fast = feed(sources, tracker, decoder, progress, total)
                if fast.frames == 0:
                    raise bulk_engine.Unsupported("no packets")
                tracker.stats.packets += fast.frames
                if fast.cut is not None:  # as the reference reader says it (_feed_all)
                    cut = fast.cut
                    summary.truncated = CaptureTruncated(
                        captures[cut.capture],
                        cut.packet_index,
                        cut.byte_offset,
                        cut.why,
                        damaged=cut.damaged,
                    )
                on = (
                    ""
                    if workers < 2
                    else ", reading and decoding in a second process, verdicts and logs in a third"
                )
                if fast.exact_from is not None:  # (the table could fill: see engine.py)
                    on += (
                        f"; from packet {fast.exact_from + 1:,} on every connection tracked"
                        f" ({fast.adopted:,} taken over): the open-connection table could fill"
                    )
                summary.engine = (
                    f"bulk ({fast.skipped_packets:,} packets of {fast.skipped_connections:,}"
                    f" UDP connections that cannot match counted in bulk{on})"
                )
            else:
                summary.truncated = _feed_all(captures, tracker, decoder, progress, stream)
            decoder.finish()
            complete = summary.truncated is None
            if helper is None:
                assert outputs is not None
                outputs.draining = True
                tracker.finish_all()
                outputs.finish(complete)
            else:
                helper.drain()
                tracker.finish_all()
        except BaseException:
            if outputs is not None:
                outputs.abort()
            raise
        if helper is not None:
            produced = helper.end(complete)
        else:
            assert outputs is not None
            produced = outputs.commit(complete)
    finally:
        if helper is not None:
            helper.close()
    tracker.stats.records = produced.records
    summary.tally = produced.tally
    summary.notice_count = produced.notice_count
    summary.shown_notices = produced.shown_notices
    if keep_records:
        summary.records = produced.kept_records
        summary.notices = produced.kept_notices
    summary.skype_log = produced.skype_log
    summary.notice_log = produced.notice_log
    summary.packets = tracker.stats.packets
    summary.connections = tracker.stats.connections
    summary.host_state.add(tracker.ctx.bounds)
    summary.host_state.add(produced.correlator.bounds)
    summary.conn_state = tracker.stats.bounds
    summary.untracked_packets = tracker.stats.untracked_packets
    summary.early_notices = produced.correlator.early
    summary.max_open = tracker.stats.max_open
    summary.undecoded = decoder.undecoded
    summary.max_connections = tracker.options.max_connections
    return summary


def _no_record(_rec: SkypeRecord, _now: float) -> None:
    """The tracker's on_record when its verdicts are made elsewhere (it is never called)."""
    raise AssertionError("records are made in the outputs process")


def _prepare(outdir: str | Path, captures: Sequence[str | Path]) -> Path:
    """The output directory, created; every capture checked before any work is done
    (missing, unreadable, a directory), so that a bad one leaves no log behind."""
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(outdir, f"cannot create output directory: {exc.strerror}") from None
    for c in captures:
        check_readable(c)
    return outdir


def _feed_all(
    captures: Sequence[str | Path],
    tracker: Tracker,
    decoder: Decoder,
    progress: Progress | None,
    stream: OpenStream | None = None,
) -> CaptureTruncated | None:
    """Every capture into *tracker*, in order, as one stream; a truncated one ends the input
    there (returned), a capture without a packet is an error.  *stream*: the one capture,
    opened (read from its first byte again)."""
    total = sum(_size(c) for c in captures)
    done_before = 0
    for path in captures:
        n_before = tracker.stats.packets
        truncated = None
        try:
            _feed(path, tracker, decoder, progress, done_before, total, stream)
        except CaptureTruncated as exc:
            truncated = exc
        if tracker.stats.packets == n_before and truncated is None:
            raise CaptureError(path, "capture holds no packets")
        done_before += _size(path)
        if truncated is not None:
            return truncated
    return None


def _size(path: str | Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _feed(
    path: str | Path,
    tracker: Tracker,
    decoder: Decoder,
    progress: Progress | None,
    done_before: int,
    total: int,
    stream: OpenStream | None = None,
) -> None:
    packet = tracker.packet
    stats = tracker.stats
    full = decoder.frame
    checked_link = -1
    supported = True
    unsupported: set[int] = set()
    n = 0
    n_unsupported = 0  # counted off the hot path: a supported frame costs no extra step
    nbytes = 0
    try:
        for ts, link_type, frame in read_capture(path, stream):
            n += 1
            if link_type != checked_link:
                checked_link = link_type
                supported = link_type in SUPPORTED_LINK_TYPES
            if not supported:
                # a pcapng interface of a link type not read costs its own packets only
                decoder.unsupported(link_type)
                unsupported.add(link_type)
                n_unsupported += 1
            else:
                pkt = decode_plain(link_type, frame)
                if pkt is not None:
                    packet(ts, pkt)
                else:
                    for pkt in full(ts, link_type, frame):
                        packet(ts, pkt)
            if progress is not None:
                nbytes += len(frame) + 16
                if not n & 0xFFFF:
                    progress(done_before + nbytes, total)
    finally:
        stats.packets += n
    if unsupported and n_unsupported == n:
        known = ", ".join(f"{k} {v}" for k, v in sorted(SUPPORTED_LINK_TYPES.items()))
        types = ", ".join(str(t) for t in sorted(unsupported))
        raise CaptureError(path, f"unsupported link type {types} (supported: {known})")


def format_summary(s: Summary) -> str:
    lines = [
        f"analysed {s.packets:,} packets, {s.connections:,} connections from {s.captures}"
        f" capture(s) in {s.seconds:.1f} s ({s.packets / max(s.seconds, 1e-9):,.0f} packets/s)"
    ]
    t = s.tally
    lines.append(
        f"skype.log: {sum(t.by_confidence.values())} connections"
        f" (confirmed {t.by_confidence['confirmed']}, likely {t.by_confidence['likely']},"
        f" possible {t.by_confidence['possible']})"
    )
    lines.append("  by stage: " + ", ".join(f"{st} {t.by_stage[st]}" for st in STAGES))
    if t.clients:
        lines.append(f"clients ({_count(len(t.clients), t.overflow > 0)}):")
        shown = sorted(t.clients.items())
        for addr, (public, versions) in shown[:SHOWN_CLIENTS]:
            extra = []
            if public:
                extra.append("public IP " + ", ".join(sorted(public)))
            if versions:
                extra.append("Skype " + ", ".join(sorted(versions)))
            lines.append(f"  {addr}" + (f" ({'; '.join(extra)})" if extra else ""))
        if len(shown) > SHOWN_CLIENTS:
            more = _count(len(shown) - SHOWN_CLIENTS, t.overflow > 0)
            lines.append(f"  +{more} more (see skype.log)")
    else:
        lines.append("clients: none with confirmed or likely evidence")
    for role, label in (
        (PeerRole.SUPER_NODE, "super nodes"),
        (PeerRole.LOGIN_SERVER, "login servers"),
    ):
        peers = sorted(t.peers[role])
        if peers:
            capped = len(peers) >= MAX_SUMMARY_HOSTS  # the set stopped growing there
            listed = ", ".join(peers[:8])
            if len(peers) > 8:
                listed += f", +{_count(len(peers) - 8, capped)} more"
            lines.append(f"{label} ({_count(len(peers), capped)}): {listed}")
    lines.append(f"notice.log: {s.notice_count} notice(s)")
    for n in s.shown_notices:
        # notice.log's capped counts are ASCII ">=N" (Zeek's and our writers agree on it);
        # the summary writes them "≥N", as its own capped figures
        lines.append(f"  {n.note}: {for_reading(n.msg)}")
    if s.notice_count > len(s.shown_notices):
        lines.append(f"  +{s.notice_count - len(s.shown_notices)} more (see notice.log)")
    if s.undecoded:
        lines.append(format_undecoded(s.undecoded))
    lines.extend(state_lines(s))
    lines.append(f"logs: {s.skype_log}, {s.notice_log}")
    return "\n".join(lines)


def _count(n: int, capped: bool) -> str:
    """A figure for the summary: "≥N" when a bounded table stopped counting at N."""
    return f"≥{n:,}" if capped else f"{n:,}"


def format_undecoded(undecoded: Counter) -> str:
    """One line, as Zeek's weird.log would list them: frames that gave no TCP or UDP
    packet, most frequent reason first."""
    # most first, a tie by name: the same line however the counts were gathered (the bulk
    # engine counts a chunk's reasons at once)
    ordered = sorted(undecoded.items(), key=lambda item: (-item[1], item[0]))
    parts = ", ".join(f"{why} {n:,}" for why, n in ordered)
    return f"not decoded: {sum(undecoded.values()):,} frame(s) ({parts})"


def state_lines(s: Summary) -> list[str]:
    """What full tables cost, if anything: noise displaced is a count; evidence lost, notices
    raised early and packets left unanalysed are warnings that name what went."""
    out = []
    h, c = s.host_state, s.conn_state
    if h.evicted or h.refused:
        out.append(
            f"host tables full: {h.evicted:,} entries of weak evidence displaced,"
            f" {h.refused:,} not stored (evidence kept first)"
        )
    if c.evicted or c.refused or c.lost:
        out.append(
            f"open connections: at most {s.max_open:,} (bound {s.max_connections:,},"
            f" --max-connections); {c.evicted + c.lost:,} ended early to make room"
        )
    lost = BoundStats()
    lost.add(h)
    lost.add(c)
    if lost.lost:
        more = lost.lost - len(lost.named)
        names = ", ".join(lost.named) + (f", +{more} more" if more > 0 else "")
        out.append(f"warning: evidence dropped by full tables: {lost.lost:,} ({names})")
    if s.untracked_packets:
        out.append(
            f"warning: {s.untracked_packets:,} packets not analysed: the connection table was"
            f" full of connections with evidence ({c.refused:,} connections not tracked)"
        )
    if s.early_notices:
        out.append(
            f"warning: {s.early_notices:,} notice(s) raised before their settle time: their"
            " hosts had to leave a full table"
        )
    return out


class TerminalProgress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(1.0, done / total)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = time.monotonic() - self.started
        eta = elapsed / frac - elapsed if frac > 0 else 0
        sys.stderr.write(f"\r[{bar}] {frac * 100:5.1f}%  eta {eta:5.0f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
