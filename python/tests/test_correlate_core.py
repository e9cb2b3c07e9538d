"""The correlation core on hand-made records: qualification, settling, sessions, relays."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from records import rec

from skypewatch.correlation import HostCorrelator, HostCorrelatorOptions
from skypewatch.correlation.engine import CorrelationEngine, EngineOptions
from skypewatch.correlation.events import EARLIEST, LATEST, ProbeEvent, TcpEvent
from skypewatch.skypelog import CONFIDENCES, PEER_ROLES, STAGES, SkypeRecord


def test_one_likely_stage_is_not_enough():
    c = HostCorrelator()
    assert c.observe(rec()) == []
    assert c.observe(rec(ts=1001, uid="C2", resp_h="81.1.1.2", peer="81.1.1.2")) == []
    assert c.flush() == []


def test_two_likely_stages_qualify_and_wait_to_settle():
    c = HostCorrelator(HostCorrelatorOptions(settle=60))
    c.observe(rec())
    assert (
        c.observe(
            rec(
                ts=1005,
                uid="C2",
                proto="tcp",
                stage="login",
                peer="91.1.1.1",
                resp_h="91.1.1.1",
                peer_role="login_server",
            )
        )
        == []
    )
    # evidence arriving inside the settle time joins the same notice
    assert c.observe(rec(ts=1030, uid="C3", proto="tcp", stage="sn_handshake")) == []
    out = c.advance(1091)
    assert len(out) == 1
    n = out[0]
    assert n.note == "Skype::Login_Sequence" and n.src == "10.0.0.5" and n.n == 3
    assert "probe, sn_handshake, login" in n.msg
    assert "public_ip=86.1.1.1" in n.sub and "login_servers=91.1.1.1" in n.sub
    assert set(n.uids) == {"C1", "C2", "C3"}
    assert c.flush() == []


def test_confirmed_alone_qualifies_once_per_session():
    c = HostCorrelator(HostCorrelatorOptions(settle=10, session_gap=100))
    c.observe(rec(confidence="confirmed"))
    assert [n.note for n in c.advance(1011)] == ["Skype::Client_Detected"]
    c.observe(rec(ts=1050, uid="C2", confidence="confirmed"))
    assert c.advance(1070) == []  # same session: suppressed
    c.observe(rec(ts=1300, uid="C3", confidence="confirmed"))  # after the session gap
    assert len(c.flush()) == 1


def test_outside_client_of_local_hosts_is_folded_into_the_relay_notice():
    c = HostCorrelator(HostCorrelatorOptions(sn_min_clients=3))
    out = []
    for i in range(3):
        outside = f"81.0.0.{i}"
        out += c.observe(
            rec(
                ts=1000 + i,
                uid=f"C{i}",
                orig_h=outside,
                client=outside,
                resp_h="10.9.9.9",
                peer="10.9.9.9",
                confidence="confirmed",
            )
        )
    out += c.flush()
    assert [n.note for n in out] == ["Skype::Local_Super_Node"]
    assert out[0].src == "10.9.9.9" and out[0].n == 3


def test_bounded_memory_under_spoofed_flood():
    c = HostCorrelator(HostCorrelatorOptions(max_hosts=1000))
    for i in range(20000):
        addr = f"{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}.7"
        c.observe(rec(ts=1000 + i * 0.001, uid=f"C{i}", client=addr, orig_h=addr))
    assert len(c.clients) <= 1000
    assert c.stats.evicted >= 19000


# -- the contract with the edges: any input the schema lets through, the engine takes ----------

_ADDRS = st.sampled_from(
    ["10.0.0.5", "10.0.0.6", "81.1.1.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::1"]
)
_TIMES = st.one_of(
    st.sampled_from([EARLIEST, LATEST, 1000.0, 1000.0005, 4711.25]),
    st.floats(EARLIEST, LATEST, allow_nan=False, allow_infinity=False),
)
_PORTS = st.integers(0, 65535)
_RECORDS = st.builds(
    SkypeRecord,
    ts=_TIMES,
    uid=st.text(min_size=1, max_size=64),
    orig_h=_ADDRS,
    orig_p=_PORTS,
    resp_h=_ADDRS,
    resp_p=_PORTS,
    proto=st.sampled_from(["tcp", "udp"]),
    duration=st.floats(0, 1e9),
    stage=st.sampled_from(STAGES),
    signatures=st.frozensets(st.text(max_size=10), max_size=3),
    client=_ADDRS,
    peer=_ADDRS,
    peer_role=st.sampled_from(PEER_ROLES),
    client_public_ip=st.none() | _ADDRS,
    skype_version=st.none() | st.text(min_size=1, max_size=64),
    confidence=st.sampled_from(CONFIDENCES),
    evidence=st.text(max_size=50),
)
_EVENTS = st.one_of(
    _RECORDS,
    st.builds(ProbeEvent, _TIMES, st.text(min_size=1, max_size=8), _ADDRS, _PORTS, _ADDRS, _PORTS),
    st.builds(TcpEvent, _TIMES, st.text(min_size=1, max_size=8), _ADDRS, _PORTS, _ADDRS, _PORTS),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_EVENTS, st.booleans()), max_size=40))
def test_the_engine_takes_any_well_typed_input(items):
    """Times anywhere in EARLIEST..LATEST, in any order, extreme ports, IPv6, odd strings:
    no exception, and every notice has a finite time and a source the input named."""
    engine = CorrelationEngine(
        EngineOptions(correlator=HostCorrelatorOptions(settle=5, sn_min_clients=2))
    )
    seen = set()
    out = []
    for item, tick in items:
        out += engine.feed(item)
        seen |= {item.client, getattr(item, "peer", item.client)}
        if tick:
            out += engine.tick(item.ts + 10)
    out += engine.flush()
    for n in out:
        assert math.isfinite(n.ts) and EARLIEST <= n.ts <= LATEST
        assert n.src in seen
