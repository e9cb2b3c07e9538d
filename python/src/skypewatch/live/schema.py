"""The package's event contract (zeek/events.zeek) in Python: Zeek events to the
correlator's inputs, and the correlated notice back to Zeek.

``to_input`` is the gate in front of the correlation engine: an event gets through only if
every argument has the Broker type Zeek's declaration gives it (a ``real`` is not a ``time``,
a ``string`` not an ``addr``) and a value the engine can use -- a time within
``EARLIEST``..*not_after*, ports of the connection's transport, a known stage, role and
confidence, a public IP that is empty or an address, a uid of Zeek's size.  Anything else is
a CodecError with reason ``bad-arguments``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..correlation.events import EARLIEST, LATEST, ProbeEvent, TcpEvent, valid_time
from ..skypelog import (
    CONFIDENCE_RANK,
    PEER_ROLES,
    SKYPE_FIELDS,
    SKYPE_NAMES,
    SKYPE_OPTIONAL,
    STAGES,
    Notice,
    SkypeRecord,
)
from . import codec
from .codec import CodecError, Port, show

PROBE_SEEN = "Skype::probe_seen"
TCP_SESSION_SEEN = "Skype::tcp_session_seen"
DETECTION = "Skype::detection"
CORRELATED_NOTICE = "Skype::correlated_notice"
KNOWN_EVENTS = (PROBE_SEEN, TCP_SESSION_SEEN, DETECTION)
# the topic (after Skype::topic_prefix) Zeek publishes each on (events.zeek)
EVENT_TOPICS = {PROBE_SEEN: "probe", TCP_SESSION_SEEN: "tcp", DETECTION: "detection"}
BAD_ARGUMENTS = "bad-arguments"
FUTURE_TIME = "future-time"
WRONG_TOPIC = "wrong-topic"

MAX_UID = 64  # Zeek's uids have 18 characters
MAX_VERSION = 64  # a Skype version is "3.8.0.188"; longer ones are cut, not refused

# How Skype::detection passes the skype.log columns whose log type is no event type; an
# optional column travels as a string, empty when unset (events have no optional arguments).
_EVENT_TYPES = {"enum": "string", "interval": "double", "set[string]": "string"}
# name -> argument types, in order (events.zeek, udp_probe.zeek, sn_handshake.zeek)
SIGNATURES: dict[str, tuple[str, ...]] = {
    PROBE_SEEN: ("time", "string", "addr", "port", "addr", "port"),
    TCP_SESSION_SEEN: ("time", "string", "addr", "port", "addr", "port", "bool"),
    DETECTION: tuple(
        "string" if name in SKYPE_OPTIONAL else _EVENT_TYPES.get(t, t) for name, t in SKYPE_FIELDS
    ),
}
_ENCODE: dict[str, Callable[[Any], codec.Typed]] = {
    "time": codec.timestamp,
    "addr": codec.address,
    "interval": codec.real,
}
# Zeek's type -> the Broker data type it travels as
_BROKER = {
    "time": "timestamp",
    "double": "real",
    "string": "string",
    "addr": "address",
    "port": "port",
    "bool": "boolean",
    "count": "count",
}
_WIRE = {name: tuple(_BROKER[t] for t in types) for name, types in SIGNATURES.items()}


def _refuse(ev: codec.Event, problem: str) -> CodecError:
    return CodecError(f"{show(ev.name)} {problem}", BAD_ARGUMENTS)


def _check(ev: codec.Event, not_after: float) -> list:
    wire = _WIRE[ev.name]
    if ev.types != wire:
        if len(ev.types) != len(wire):
            raise _refuse(ev, f"has {len(ev.types)} arguments, expected {len(wire)}")
        i = next(i for i, (a, b) in enumerate(zip(ev.types, wire, strict=True)) if a != b)
        ztype = SIGNATURES[ev.name][i]
        raise _refuse(
            ev, f"argument {i + 1} should be {ztype}, is {ev.types[i]} {show(ev.args[i])}"
        )
    args = ev.args
    if not valid_time(args[0], not_after):
        if valid_time(args[0]):  # plausible in itself, but ahead of the live clock
            raise CodecError(
                f"{show(ev.name)} dated {args[0] - not_after:,.0f}s beyond the latest"
                f" plausible time {not_after:.0f}",
                FUTURE_TIME,
            )
        raise _refuse(ev, f"time {args[0]} is outside {EARLIEST:.0f}..{not_after:.0f}")
    if not 0 < len(args[1]) <= MAX_UID:
        raise _refuse(ev, f"uid of {len(args[1])} characters")
    return args


def _ports(ev: codec.Event, proto: str, *ports: Port) -> None:
    for p in ports:
        if p.proto != proto:
            raise _refuse(ev, f"port {p.number}/{p.proto} on a {proto} connection")


def to_input(ev: codec.Event, not_after: float = LATEST) -> SkypeRecord | ProbeEvent | TcpEvent:
    """A decoded Zeek event as a correlator input; CodecError if it does not fit.
    *not_after* is the latest plausible time (live: the wall clock plus some skew)."""
    if ev.name == PROBE_SEEN:
        ts, uid, client, cport, peer, pport = _check(ev, not_after)
        _ports(ev, "udp", cport, pport)
        return ProbeEvent(ts, uid, client, cport.number, peer, pport.number)
    if ev.name == TCP_SESSION_SEEN:
        ts, uid, client, cport, peer, pport, _probed = _check(ev, not_after)
        _ports(ev, "tcp", cport, pport)
        return TcpEvent(ts, uid, client, cport.number, peer, pport.number)
    if ev.name == DETECTION:
        row = dict(zip(SKYPE_NAMES, _check(ev, not_after), strict=True))
        proto, op, rp = row["proto"], row["id.orig_p"], row["id.resp_p"]
        duration, stage, role = row["duration"], row["stage"], row["peer_role"]
        conf, public, version = row["confidence"], row["client_public_ip"], row["skype_version"]
        if proto not in ("tcp", "udp"):
            raise _refuse(ev, f"with transport {show(proto)}")
        _ports(ev, proto, op, rp)
        if duration < 0.0:  # finite: the codec refuses NaN and infinities
            raise _refuse(ev, f"with duration {duration}")
        if stage not in STAGES:
            raise _refuse(ev, f"with unknown stage {show(stage)}")
        if role not in PEER_ROLES:
            raise _refuse(ev, f"with unknown peer role {show(role)}")
        if conf not in CONFIDENCE_RANK:
            raise _refuse(ev, f"with unknown confidence {show(conf)}")
        if public:
            try:
                public = codec.parse_address(public)
            except CodecError:
                raise _refuse(ev, f"with client_public_ip {show(public)}") from None
        return SkypeRecord(
            ts=row["ts"],
            uid=row["uid"],
            orig_h=row["id.orig_h"],
            orig_p=op.number,
            resp_h=row["id.resp_h"],
            resp_p=rp.number,
            proto=proto,
            duration=duration,
            stage=stage,
            signatures=frozenset(s for s in row["signatures"].split(",") if s),
            client=row["client"],
            peer=row["peer"],
            peer_role=role,
            client_public_ip=public or None,
            skype_version=version[:MAX_VERSION] or None,
            confidence=conf,
            evidence=row["evidence"],
            answered=row["answered"],
        )
    raise CodecError(f"unknown event {show(ev.name)}", "unknown-event")


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
            _detection_arg(name, ztype, v, r.proto)
            for (name, ztype), v in zip(SKYPE_FIELDS, r.values(), strict=True)
        ],
    )


def _detection_arg(name: str, ztype: str, value: Any, proto: str) -> Any:
    """One skype.log column as Skype::detection carries it."""
    if name in SKYPE_OPTIONAL:
        return value or ""
    if ztype == "set[string]":
        return ",".join(sorted(value))
    if ztype == "port":
        return codec.port(value, proto)
    encode = _ENCODE.get(ztype)
    return encode(value) if encode else value


def probe_event(topic: str, ev: ProbeEvent) -> str:
    """Skype::probe_seen as Zeek publishes it (for tests and replay tools)."""
    return codec.encode_event(topic, PROBE_SEEN, _client_to_peer(ev, "udp"))


def tcp_event(topic: str, ev: TcpEvent, probed: bool = True) -> str:
    """Skype::tcp_session_seen as Zeek publishes it (for tests and replay tools)."""
    return codec.encode_event(topic, TCP_SESSION_SEEN, [*_client_to_peer(ev, "tcp"), probed])


def _client_to_peer(ev: ProbeEvent | TcpEvent, proto: str) -> list:
    return [
        codec.timestamp(ev.ts),
        ev.uid,
        codec.address(ev.client),
        codec.port(ev.client_port, proto),
        codec.address(ev.peer),
        codec.port(ev.peer_port, proto),
    ]
