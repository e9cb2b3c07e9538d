"""A run's records into skype.log, notice.log (through the host correlator) and the
summary's tally.

One :class:`Outputs` per run.  It lives in the analysing process, or in a process of its
own (process.py) that gets the verdicts' inputs instead of records; either way it sees the
same records in the same order, so the logs are the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..correlation import HostCorrelator, HostCorrelatorOptions
from ..correlation.hosts import HostCorrelatorStats
from ..processes import stop_signals_held
from ..skypelog import NOTICE_FIELDS, SKYPE_FIELDS, Confidence, Notice, PeerRole, SkypeRecord
from ..zeeklog import ZeekLogWriter
from ..zeeklog.writer import FinishedLog

MAX_SUMMARY_HOSTS = 10_000  # clients and peers kept for the summary; beyond that, counted
SHOWN_NOTICES = 50  # lines of the summary's notice list; the rest are "+N more"


@dataclass(slots=True)
class Tally:
    """What the summary says about the records, in bounded memory."""

    by_confidence: Counter = field(default_factory=Counter)
    by_stage: Counter = field(default_factory=Counter)
    clients: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)
    peers: dict[str, set[str]] = field(
        default_factory=lambda: {PeerRole.SUPER_NODE: set(), PeerRole.LOGIN_SERVER: set()}
    )
    overflow: int = 0
    inside: Callable[[str], bool] | None = None
    """Which hosts are inside (the correlator's --local-nets): a line of an outside client
    reaching an inside peer is about the inside host, and names no client (views.py)."""

    def add(self, r: SkypeRecord) -> None:
        self.by_confidence[r.confidence] += 1
        self.by_stage[r.stage] += 1
        if r.confidence == Confidence.POSSIBLE:
            return
        inside = self.inside
        if inside is not None and not inside(r.client) and inside(r.peer):
            return
        info = self.clients.get(r.client)
        if info is None:
            if len(self.clients) >= MAX_SUMMARY_HOSTS:
                self.overflow += 1
                return
            info = self.clients[r.client] = (set(), set())
        if r.client_public_ip and len(info[0]) < 8:
            info[0].add(r.client_public_ip)
        if r.skype_version and len(info[1]) < 8:
            info[1].add(r.skype_version)
        peers = self.peers.get(r.peer_role)
        if peers is not None and len(peers) < MAX_SUMMARY_HOSTS:
            peers.add(r.peer)


@dataclass(slots=True)
class Produced:
    """What a run's outputs hold at the end, for the summary (picklable: it comes back
    from the outputs process)."""

    tally: Tally
    records: int = 0
    notice_count: int = 0
    shown_notices: list[Notice] = field(default_factory=list)  # the first SHOWN_NOTICES
    kept_records: list[SkypeRecord] = field(default_factory=list)  # only with keep_records
    kept_notices: list[Notice] = field(default_factory=list)  # likewise
    correlator: HostCorrelatorStats = field(default_factory=HostCorrelatorStats)
    skype_log: Path | None = None
    notice_log: Path | None = None


class Outputs:
    """The two logs of a run (written to temporary files, put in place by :meth:`commit`),
    the correlator that turns records into notices, and the tally."""

    def __init__(
        self,
        outdir: Path,
        use_json: bool,
        correlator_options: HostCorrelatorOptions | None,
        keep_records: bool,
    ) -> None:
        self.correlator = HostCorrelator(correlator_options)
        self.produced = Produced(Tally(inside=self.correlator.is_local))
        self.keep_records = keep_records
        self.draining = False
        """The end of input: no notice is due until every record is in."""
        self.skype_w = ZeekLogWriter(outdir, "skype", SKYPE_FIELDS, use_json)
        try:
            self.notice_w = ZeekLogWriter(outdir, "notice", NOTICE_FIELDS, use_json)
        except BaseException:
            self.skype_w.abort()
            raise

    @property
    def temporary(self) -> list[Path]:
        """The files this run writes before they are put in place."""
        return [self.skype_w.tmp, self.notice_w.tmp]

    def record(self, rec: SkypeRecord, _now: float = 0.0) -> None:
        """One skype.log line (a tracker's ``on_record``)."""
        p = self.produced
        self.skype_w.write(rec.values())
        p.records += 1
        p.tally.add(rec)
        if self.keep_records:
            p.kept_records.append(rec)
        self._notices(self.correlator.observe(rec, advance=not self.draining))

    def _notices(self, notices: list[Notice]) -> None:
        p = self.produced
        for n in notices:
            self.notice_w.write(n.values())
            p.notice_count += 1
            if len(p.shown_notices) < SHOWN_NOTICES:
                p.shown_notices.append(n)
            if self.keep_records:
                p.kept_notices.append(n)

    def finish(self, complete: bool) -> None:
        """The notices still waiting, then both logs finished (not yet in place: a full disk
        at the end leaves neither).  Either failing aborts both."""
        try:
            self._notices(self.correlator.flush())
            self.skype_w.finish(complete)
            self.notice_w.finish(complete)
        except BaseException:
            self.abort()
            raise

    def commit(self, complete: bool) -> Produced:
        """Both logs in place; what the run produced."""
        return put_in_place(self.produced_so_far(), self.finished(), complete)

    def produced_so_far(self) -> Produced:
        """What the run produced, but for the logs' places (they are not in place yet)."""
        self.produced.correlator = self.correlator.stats
        return self.produced

    def finished(self) -> list[FinishedLog]:
        """skype.log and notice.log once :meth:`finish` ed: another process can put them in
        place (outputs/process.py: the run decides, there, whether they go in place)."""
        return [self.skype_w.finished(), self.notice_w.finished()]

    def abort(self) -> None:
        """No log of this run left behind (its temporary files removed)."""
        self.skype_w.abort()
        self.notice_w.abort()


def put_in_place(produced: Produced, logs: list[FinishedLog], complete: bool) -> Produced:
    """skype.log, then notice.log, in place (:meth:`Outputs.finish` ed); a failure removes
    the temporary file of the one that failed and names it (writer.py).  A stop signal
    waits for both renames: it never leaves the new skype.log beside the old notice.log."""
    skype, notice = logs
    with stop_signals_held():
        produced.skype_log = skype.commit(complete)
        produced.notice_log = notice.commit(complete)
    return produced
