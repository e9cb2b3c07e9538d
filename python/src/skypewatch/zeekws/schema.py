"""The package's event contract (zeek/events.zeek) in Python: Zeek events to the
correlator's inputs, and the correlated notice back to Zeek."""

from __future__ import annotations

from ..correlate.events import ProbeEvent, TcpEvent
from ..records import CONFIDENCE_RANK, STAGES, Notice, SkypeRecord
from . import codec
from .codec import CodecError, Port

PROBE_SEEN = "Skype::probe_seen"
TCP_SESSION_SEEN = "Skype::tcp_session_seen"
DETECTION = "Skype::detection"
CORRELATED_NOTICE = "Skype::correlated_notice"
KNOWN_EVENTS = (PROBE_SEEN, TCP_SESSION_SEEN, DETECTION)

# name -> argument types, in order (events.zeek, udp_probe.zeek, sn_handshake.zeek)
SIGNATURES: dict[str, tuple[str, ...]] = {
    PROBE_SEEN: ("time", "string", "addr", "port", "addr", "port"),
    TCP_SESSION_SEEN: ("time", "string", "addr", "port", "addr", "port", "bool"),
    DETECTION: (
        "time",
        "string",
        "addr",
        "port",
        "addr",
        "port",
        "string",
        "double",
        "string",
        "string",
        "addr",
        "addr",
        "string",
        "string",
        "string",
        "string",
        "string",
    ),
}
_PY = {"time": float, "double": float, "string": str, "addr": str, "port": Port, "bool": bool}


def _check(ev: codec.Event) -> list:
    types = SIGNATURES[ev.name]
    if len(ev.args) != len(types):
        raise CodecError(f"{ev.name} has {len(ev.args)} arguments, expected {len(types)}")
    for i, (value, ztype) in enumerate(zip(ev.args, types, strict=True)):
        if not isinstance(value, _PY[ztype]) or (ztype == "double" and isinstance(value, bool)):
            raise CodecError(f"{ev.name} argument {i + 1} is not a {ztype}: {value!r}")
    return ev.args


def to_input(ev: codec.Event) -> SkypeRecord | ProbeEvent | TcpEvent:
    """A decoded Zeek event as a correlator input; CodecError if it does not fit."""
    if ev.name == PROBE_SEEN:
        ts, uid, client, cport, peer, pport = _check(ev)
        return ProbeEvent(ts, uid, client, cport.number, peer, pport.number)
    if ev.name == TCP_SESSION_SEEN:
        ts, uid, client, cport, peer, pport, _probed = _check(ev)
        return TcpEvent(ts, uid, client, cport.number, peer, pport.number)
    if ev.name == DETECTION:
        (
            ts,
            uid,
            oh,
            op,
            rh,
            rp,
            proto,
            duration,
            stage,
            sigs,
            client,
            peer,
            role,
            public,
            version,
            conf,
            evidence,
        ) = _check(ev)
        if stage not in STAGES:
            raise CodecError(f"detection with unknown stage {stage!r}")
        if conf not in CONFIDENCE_RANK:
            raise CodecError(f"detection with unknown confidence {conf!r}")
        return SkypeRecord(
            ts=ts,
            uid=uid,
            orig_h=oh,
            orig_p=op.number,
            resp_h=rh,
            resp_p=rp.number,
            proto=proto,
            duration=duration,
            stage=stage,
            signatures=frozenset(s for s in sigs.split(",") if s),
            client=client,
            peer=peer,
            peer_role=role,
            client_public_ip=public or None,
            skype_version=version or None,
            confidence=conf,
            evidence=evidence,
        )
    raise CodecError(f"unknown event {ev.name!r}")


def notice_event(topic: str, n: Notice) -> str:
    """Skype::correlated_notice(ts, note, client, msg, sub, n, uid) for Zeek."""
    return codec.encode_event(
        topic,
        CORRELATED_NOTICE,
        [
            codec.timestamp(n.ts),
            n.note,
            codec.address(n.src),
            "[skypewatch] " + n.msg,
            n.sub,
            codec.count(n.n),
            n.uid or "",
        ],
    )


def detection_event(topic: str, r: SkypeRecord) -> str:
    """Skype::detection as Zeek publishes it (for tests and replay tools)."""
    return codec.encode_event(
        topic,
        DETECTION,
        [
            codec.timestamp(r.ts),
            r.uid,
            codec.address(r.orig_h),
            codec.port(r.orig_p, r.proto),
            codec.address(r.resp_h),
            codec.port(r.resp_p, r.proto),
            r.proto,
            codec.real(r.duration),
            r.stage,
            ",".join(sorted(r.signatures)),
            codec.address(r.client),
            codec.address(r.peer),
            r.peer_role,
            r.client_public_ip or "",
            r.skype_version or "",
            r.confidence,
            r.evidence,
        ],
    )
