"""What the host correlator remembers per host: a client's session and a local super-node
candidate, each bounded (a flood of peers cannot grow them without limit)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..skypelog import SkypeRecord

MAX_UIDS = 20
MAX_KEPT = 4096  # distinct peers remembered per client session (the notice lists ten)


@dataclass(slots=True)
class ClientSession:
    first_ts: float
    last_ts: float
    stages: set[str] = field(default_factory=set)
    likely_stages: set[str] = field(default_factory=set)
    confirmed: bool = False
    super_nodes: dict[str, None] = field(default_factory=dict)
    login_servers: dict[str, None] = field(default_factory=dict)
    public_ips: dict[str, None] = field(default_factory=dict)
    versions: dict[str, None] = field(default_factory=dict)
    uids: list[str] = field(default_factory=list)
    n: int = 0
    best: SkypeRecord | None = None
    best_rank: int = -1
    best_ts: float = 0.0
    notified: bool = False
    queued_due: float = -1.0  # the due time already in the heap
    reportable: bool = False  # a local client, or one seen talking to outside peers
    answered: bool = False  # some connection of the session got an answer
    probed: dict[str, None] = field(default_factory=dict)  # peers of its UDP probes
    tcp_ports: dict[int, None] = field(default_factory=dict)  # ports it tried over TCP

    @property
    def qualified(self) -> bool:
        """Confirmed, or likely from two stages; of a start-up nothing answered (it was
        blocked), likely evidence from one stage is enough."""
        if not self.reportable:
            return False
        if self.answered:
            return self.confirmed or len(self.likely_stages) >= 2
        return bool(self.likely_stages)


@dataclass(slots=True)
class NodeCandidate:
    first_ts: float
    last_ts: float
    clients: dict[str, None] = field(default_factory=dict)
    uids: list[str] = field(default_factory=list)
    notified: bool = False
    queued_due: float = -1.0

    def qualified(self, min_clients: int) -> bool:
        return len(self.clients) >= min_clients


def note(items: dict[str, None], key: str) -> None:
    if key not in items and len(items) < MAX_KEPT:
        items[key] = None
