"""What the host correlator's notices say: their names, and one builder per kind of notice
over a client session or a super-node candidate (each marks its host as noticed)."""

from __future__ import annotations

from ..skypelog import STAGES, Confidence, Notice, Stage
from .sessions import MAX_KEPT, ClientSession, NodeCandidate

MAX_LISTED = 10  # addresses named in a notice before "+N more"

CLIENT_DETECTED = "Skype::Client_Detected"
LOGIN_SEQUENCE = "Skype::Login_Sequence"
LOCAL_SUPER_NODE = "Skype::Local_Super_Node"
BLOCKED_STARTUP = "Skype::Blocked_Startup"


def node_notice(node: str, c: NodeCandidate, suppress_for: float) -> Notice:
    c.notified = True
    return Notice(
        ts=c.last_ts,
        note=LOCAL_SUPER_NODE,
        msg=f"{node} relays legacy Skype: probed by {capped(len(c.clients))} outside clients",
        sub="clients=" + _listing(c.clients) + " uids=" + ",".join(c.uids),
        src=node,
        n=len(c.clients),
        uid=c.uids[0],
        uids=tuple(c.uids),
        suppress_for=suppress_for,
    )


def client_notice(addr: str, s: ClientSession, suppress_for: float) -> Notice:
    if not s.answered:
        return _blocked_notice(addr, s, suppress_for)
    s.notified = True
    stages = [st for st in STAGES if st in s.stages]
    note = (
        LOGIN_SEQUENCE
        if Stage.LOGIN in s.likely_stages and s.likely_stages & {Stage.PROBE, Stage.SN_HANDSHAKE}
        else CLIENT_DETECTED
    )
    level = Confidence.CONFIRMED if s.confirmed else Confidence.LIKELY
    parts = []
    if s.public_ips:
        parts.append("public_ip=" + _listing(s.public_ips))
    if s.super_nodes:
        parts.append("super_nodes=" + _listing(s.super_nodes))
    if s.login_servers:
        parts.append("login_servers=" + _listing(s.login_servers))
    if s.versions:
        parts.append("version=" + _listing(s.versions))
    msg = f"{addr} runs legacy Skype ({level}): stages {', '.join(stages)}"
    return _session_notice(addr, s, note, msg, parts, suppress_for)


def _blocked_notice(addr: str, s: ClientSession, suppress_for: float) -> Notice:
    """A start-up that a firewall stopped: what the client tried, and that nothing
    answered."""
    s.notified = True
    ports = ",".join(str(p) for p in sorted(s.tcp_ports)) or "none"
    parts = [f"first={s.first_ts:.6f}", f"last={s.last_ts:.6f}"]
    if s.probed:
        parts.append("super_nodes=" + _listing(s.probed))
    parts.append(f"tcp_ports={ports}")
    msg = (
        f"{addr} tried to start legacy Skype and nothing answered: probed"
        f" {capped(len(s.probed))} super nodes over UDP, tried TCP ports {ports}"
    )
    return _session_notice(addr, s, BLOCKED_STARTUP, msg, parts, suppress_for)


def _session_notice(
    addr: str, s: ClientSession, note: str, msg: str, parts: list[str], suppress_for: float
) -> Notice:
    """The notice about client *addr*'s session, on its strongest connection."""
    best = s.best
    assert best is not None
    parts.append(_uids(s))
    return Notice(
        ts=s.last_ts,
        note=note,
        msg=f"{msg}; {s.n} connections",
        sub=" ".join(parts),
        src=addr,
        n=s.n,
        uid=best.uid,
        conn=(best.orig_h, best.orig_p, best.resp_h, best.resp_p, best.proto),
        uids=tuple(s.uids),
        suppress_for=suppress_for,
    )


def _uids(s: ClientSession) -> str:
    more = f"(+{s.n - len(s.uids)})" if s.n > len(s.uids) else ""
    return "uids=" + ",".join(s.uids) + more


def capped(n: int) -> str:
    """The size of a per-host set, which stops growing at MAX_KEPT: ">=N" once it reached
    the cap (more were seen than kept), else the count.  ASCII, so that notice.log reads the
    same from Zeek (notices.zeek's capped) and from here; analyze's summary shows it as "≥"."""
    return f">={n}" if n >= MAX_KEPT else str(n)


def for_reading(text: str) -> str:
    """A notice's text for people (the summary, the report): capped counts as "≥N"."""
    return text.replace(" >=", " ≥").replace("(+>=", "(+≥")


def _listing(items: dict[str, None]) -> str:
    # Sorted, not in arrival order: records arrive as connections end, and Zeek ends them
    # in its own order (notices.zeek lists the same way).
    names = sorted(items)
    extra = len(names) - MAX_LISTED
    more = f"(+>={extra})" if len(names) >= MAX_KEPT else f"(+{extra})"
    return ",".join(names[:MAX_LISTED]) + (more if extra > 0 else "")
