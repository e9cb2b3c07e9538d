"""Broker JSON v1 codec against recorded, spec-conformant frames, both directions; every class
of hostile frame refused with its reason; and properties: any input is used or refused with a
CodecError, and nothing ill-typed reaches the engine."""

from __future__ import annotations

import ipaddress
import json
import math
import random
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zeek_wire import (
    _TYPES,
    GOOD,
    GOOD_PROBE,
    GOOD_TCP,
    detection,
    hostile_frames,
    probe,
    random_frames,
    raw_arg,
    tcp,
    with_arg,
)

from skypewatch.correlation.events import LATEST
from skypewatch.live import codec, schema
from skypewatch.skypelog import CONFIDENCES, PEER_ROLES, STAGES, SkypeRecord

# Recorded verbatim from Zeek's btest baseline cluster.websocket.metadata (client output):
# an event with a network-timestamp metadata vector, as Zeek 8/9 sends it.
ZEEK_PONG = (
    '{"type": "data-message", "topic": "/test/pongs/", "@data-type": "vector", "data": ['
    '{"@data-type": "count", "data": 1}, {"@data-type": "count", "data": 1}, {"@data-type":'
    ' "vector", "data": [{"@data-type": "string", "data": "pong"}, {"@data-type": "vector",'
    ' "data": [{"@data-type": "string", "data": "fourty-two fourty-two"}, {"@data-type":'
    ' "count", "data": 84}]}, {"@data-type": "vector", "data": [{"@data-type": "vector",'
    ' "data": [{"@data-type": "count", "data": 1}, {"@data-type": "timestamp", "data":'
    ' "1970-01-01T01:18:31.000"}]}]}]}]}'
)
# From Zeek's doc/advanced/devel/websocket-api.rst: event hello(count 3) on zeek.test.
DOC_HELLO = (
    '{"type":"data-message","topic":"zeek.test","@data-type":"vector","data":['
    '{"@data-type":"count","data":1},{"@data-type":"count","data":1},'
    '{"@data-type":"vector","data":[{"@data-type":"string","data":"hello"},'
    '{"@data-type":"vector","data":[{"@data-type":"count","data":3}]},'
    '{"@data-type":"vector","data":[]}]}]}'
)
ACK = (
    '{"type":"ack","endpoint":"d955d990-ad8a-5ed4-8bc5-bee252d4a2e6-websocket-0",'
    '"version":"8.0.0-dev.684"}'
)
ERRORS = [  # Zeek btest cluster.websocket.bad-event-args
    '{"type": "error", "code": "deserialization_failed",'
    ' "context": "failed to decode JSON object"}',
    '{"type": "error", "code": "deserialization_failed", "context": "failed to create Zeek event"}',
]


def test_decodes_zeeks_own_frames():
    pong = codec.decode_message(ZEEK_PONG)
    assert isinstance(pong, codec.Event)
    assert (pong.topic, pong.name, pong.args) == (
        "/test/pongs/",
        "pong",
        ["fourty-two fourty-two", 84],
    )
    assert pong.metadata == [[1, 4711.0]]  # 01:18:31 = 4711 s after the epoch
    hello = codec.decode_message(DOC_HELLO)
    assert (hello.name, hello.args, hello.metadata) == ("hello", [3], [])
    ack = codec.decode_message(ACK)
    assert ack == codec.Ack("d955d990-ad8a-5ed4-8bc5-bee252d4a2e6-websocket-0", "8.0.0-dev.684")
    for raw in ERRORS:
        err = codec.decode_message(raw)
        assert isinstance(err, codec.Error) and err.code == "deserialization_failed"


def test_encodes_the_documented_event_exactly():
    doc = json.loads(DOC_HELLO)
    ours = json.loads(codec.encode_event("zeek.test", "hello", [codec.count(3)]))
    # the same frame, but without the (optional, empty) metadata vector
    doc["data"][2]["data"] = doc["data"][2]["data"][:2]
    assert ours == doc
    assert codec.handshake(["zeek/skype/detection"]) == '["zeek/skype/detection"]'


@pytest.mark.parametrize(
    "value, expected",
    [
        (codec.count(7), {"@data-type": "count", "data": 7}),
        (codec.integer(-7), {"@data-type": "integer", "data": -7}),
        (codec.real(0.5), {"@data-type": "real", "data": 0.5}),
        (codec.address("2001:DB8::1"), {"@data-type": "address", "data": "2001:db8::1"}),
        (codec.port(35990, "udp"), {"@data-type": "port", "data": "35990/udp"}),
        (codec.timestamp(4711.0), {"@data-type": "timestamp", "data": "1970-01-01T01:18:31.000"}),
        (
            codec.timestamp(1156534332.777647),
            {"@data-type": "timestamp", "data": "2006-08-25T19:32:12.777"},
        ),
        (codec.timespan(1.5), {"@data-type": "timespan", "data": "1500000000ns"}),
        (
            codec.enum("Skype::Client_Detected"),
            {"@data-type": "enum-value", "data": "Skype::Client_Detected"},
        ),
        (None, {"@data-type": "none", "data": {}}),
        (True, {"@data-type": "boolean", "data": True}),
        ("x", {"@data-type": "string", "data": "x"}),
    ],
)
def test_typed_values(value, expected):
    assert codec.encode_value(value) == expected


def test_decode_value_kinds():
    d = codec.decode_value
    assert d({"@data-type": "timestamp", "data": "1970-01-01T01:42:42"}) == 6162.0
    assert d({"@data-type": "timestamp", "data": "2006-08-25T19:32:12.777647Z"}) == pytest.approx(
        1156534332.777647
    )
    assert d({"@data-type": "timespan", "data": "1500ms"}) == 1.5
    assert d({"@data-type": "port", "data": "443/tcp"}) == codec.Port(443, "tcp")
    assert d({"@data-type": "set", "data": [{"@data-type": "string", "data": "a"}]}) == ["a"]
    assert d(
        {
            "@data-type": "table",
            "data": [
                {
                    "key": {"@data-type": "string", "data": "k"},
                    "value": {"@data-type": "count", "data": 1},
                }
            ],
        }
    ) == {"k": 1}


@pytest.mark.parametrize(
    "raw, why",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "data-message"}', "bad topic"),
        ('{"type": "mystery"}', "unknown message type"),
        (
            '{"type": "data-message", "topic": "t", "@data-type": "vector", "data": ['
            '{"@data-type": "count", "data": 1}, {"@data-type": "count", "data": 2},'
            ' {"@data-type": "vector", "data": []}]}',
            "not an event",
        ),
        (
            '{"type": "data-message", "topic": "t", "@data-type": "vector", "data": ['
            '{"@data-type": "count", "data": -1}]}',
            "not .format 1",
        ),
    ],
)
def test_malformed_frames_say_why(raw, why):
    with pytest.raises(codec.CodecError, match=why):
        codec.decode_message(raw)


@pytest.mark.parametrize(
    "value, why",
    [
        ({"@data-type": "count", "data": -1}, "count out of range"),
        ({"@data-type": "blob", "data": 1}, "unknown data type"),
        ({"@data-type": "count", "data": 1.0}, "bad count"),
        ({"@data-type": "integer", "data": True}, "bad integer"),
        ({"@data-type": "timespan", "data": "1e999s"}, "bad timespan"),
        ({"@data-type": "subnet", "data": "10.0.0.0/33"}, "bad subnet"),
        ({"@data-type": "string"}, "not a typed value"),
    ],
)
def test_values_of_the_wrong_shape_say_why(value, why):
    with pytest.raises(codec.CodecError, match=why):
        codec.decode_value(value)


@pytest.mark.parametrize("h", hostile_frames(), ids=lambda h: h.name)
def test_every_class_of_hostile_frame_lands_in_its_counter(h):
    """Each class of damage is refused with a CodecError naming its reason, and the message
    that will be logged is short and printable however large or strange the input."""
    try:
        msg = codec.decode_message(h.frame)
        if isinstance(msg, codec.Error):
            got, text = "zeek-error", msg.context
        elif isinstance(msg, codec.Ack):
            got, text = "unexpected-ack", msg.version
        else:
            schema.to_input(msg)
            pytest.fail(f"{h.name}: accepted")
    except codec.CodecError as exc:
        got, text = exc.reason, str(exc)
        assert len(text) <= 160 and text.isprintable(), text
    assert got == h.reason
    assert len(text) <= codec.MAX_NAME


def test_number_limits_do_not_depend_on_pythons_int_limit():
    frame = raw_arg(detection(GOOD[0]), 0, "count", "7" * 200_000)
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # no limit: a naive parser would spend seconds here
    try:
        t0 = time.perf_counter()
        with pytest.raises(codec.CodecError) as exc:
            codec.decode_message(frame)
        assert exc.value.reason == "bad-number"
        assert time.perf_counter() - t0 < 1.0
    finally:
        sys.set_int_max_str_digits(old)


def test_timestamps():
    p = codec.parse_timestamp
    assert p("1970-01-01T01:00:00+01:00") == 0.0
    assert p("1970-01-01T00:00:00-23:59") == 23 * 3600 + 59 * 60
    assert p("2006-08-25T19:32:12.123456789Z") == pytest.approx(1156534332.123456789)
    for bad in ("1970-01-01T00:00:00+24:00", "1970-01-01T00:00:00+00:60", "2006-02-30T00:00:00"):
        with pytest.raises(codec.CodecError) as exc:
            p(bad)
        assert exc.value.reason == "bad-number"
    for bad in ("1970-01-01", "1970-01-01T00:00:00.", "1970-01-01T00:00:00.1234567890", 5):
        with pytest.raises(codec.CodecError, match="bad timestamp"):
            p(bad)


def test_encoding_refuses_what_zeek_would_refuse():
    for make, value in (
        (codec.real, math.nan),
        (codec.real, math.inf),
        (codec.timestamp, math.inf),
        (codec.timestamp, 1e303),
        (codec.timespan, math.nan),
        (codec.count, 2**64),
        (codec.count, -1),
        (codec.integer, 2**63),
    ):
        with pytest.raises(codec.CodecError):
            make(value)
    with pytest.raises(codec.CodecError):
        codec.encode_value(math.nan)


def test_log_quotations_are_short_and_printable():
    assert codec.clip("x" * 10_000).endswith("... (10,000 characters)")
    assert len(codec.clip("x" * 10_000)) < 160
    assert codec.clip("a\x1b[31mred\nline") == "a\\x1b[31mred\\nline"
    assert codec.clip("\ud800") == "\\ud800"
    assert len(codec.show([["x" * 10_000] * 100] * 100)) < 120


def _record(**kw) -> SkypeRecord:
    base = dict(
        ts=1156534332.777,
        uid="CabcDEF123456789",
        orig_h="192.168.1.2",
        orig_p=35990,
        resp_h="165.124.253.241",
        resp_p=15294,
        proto="udp",
        duration=0.25,
        stage="probe",
        signatures=frozenset({"u1_u2_nack", "u3_resend"}),
        client="192.168.1.2",
        peer="165.124.253.241",
        peer_role="super_node",
        client_public_ip="86.128.245.115",
        skype_version=None,
        confidence="confirmed",
        evidence="U3 23B = U1 + 5",
    )
    base.update(kw)
    return SkypeRecord(**base)


def test_detection_round_trip_through_the_contract():
    rec = _record()
    ev = codec.decode_message(schema.detection_event("zeek/skype/detection", rec))
    assert schema.to_input(ev) == rec


def test_detection_with_wrong_types_is_refused():
    ev = codec.decode_message(schema.detection_event("zeek/skype/detection", _record()))
    bad = codec.decode_message(with_arg(detection(GOOD[0]), 2, {"@data-type": "count", "data": 5}))
    with pytest.raises(codec.CodecError, match="argument 3 should be addr, is count 5"):
        schema.to_input(bad)
    with pytest.raises(codec.CodecError, match="has 17 arguments, expected 18"):
        schema.to_input(codec.Event(ev.topic, ev.name, ev.args[:-1], [], ev.types[:-1]))
    wrong_stage = [*ev.args[:8], "lunch", *ev.args[9:]]
    with pytest.raises(codec.CodecError, match="unknown stage") as exc:
        schema.to_input(codec.Event(ev.topic, ev.name, wrong_stage, [], ev.types))
    assert exc.value.reason == "bad-arguments"
    # the Python values alone do not make an event: a real is not a time
    with pytest.raises(codec.CodecError, match="argument 1 should be time"):
        schema.to_input(codec.Event(ev.topic, ev.name, ev.args, [], ("real", *ev.types[1:])))


def test_detection_values_are_normalized_and_bounded():
    rec = _record(client_public_ip="2001:DB8:0::1", skype_version="3." * 1000)
    frame = with_arg(
        detection(rec), 13, {"@data-type": "string", "data": "2001:DB8:0::1"}
    )  # Zeek's cat() of an addr is already normal; any spelling is accepted
    got = schema.to_input(codec.decode_message(frame))
    assert got.client_public_ip == "2001:db8::1"
    assert got.skype_version == ("3." * 1000)[: schema.MAX_VERSION]
    assert got.skype_version and len(got.skype_version) == schema.MAX_VERSION


def test_times_after_the_given_bound_are_refused():
    ev = codec.decode_message(detection(GOOD[0]))
    assert schema.to_input(ev, not_after=GOOD[0].ts).ts == GOOD[0].ts
    with pytest.raises(codec.CodecError, match="1s beyond the latest plausible time") as exc:
        schema.to_input(ev, not_after=GOOD[0].ts - 1)
    assert exc.value.reason == schema.FUTURE_TIME  # its own counter: the live clock's guard


def test_probe_and_tcp_events_round_trip():
    assert schema.to_input(codec.decode_message(probe(GOOD_PROBE))) == GOOD_PROBE
    assert schema.to_input(codec.decode_message(tcp(GOOD_TCP))) == GOOD_TCP


# -- properties: nothing but CodecError, and nothing ill-typed gets through -----------------


def _decode_or_refuse(raw):
    try:
        msg = codec.decode_message(raw)
    except codec.CodecError as exc:
        assert exc.reason in REASONS
        return None
    if isinstance(msg, codec.Event) and msg.name in schema.KNOWN_EVENTS:
        try:
            item = schema.to_input(msg)
        except codec.CodecError as exc:
            assert exc.reason in REASONS
            return None
        _assert_well_typed(item)
        return item
    return msg


def _assert_well_typed(item):
    assert type(item.ts) is float and 0 <= item.ts <= LATEST
    assert isinstance(item.uid, str) and 0 < len(item.uid) <= schema.MAX_UID
    if isinstance(item, SkypeRecord):
        addrs = [item.orig_h, item.resp_h, item.client, item.peer]
        ports = [item.orig_p, item.resp_p]
        assert item.stage in STAGES and item.peer_role in PEER_ROLES
        assert item.confidence in CONFIDENCES and item.proto in ("tcp", "udp")
        assert math.isfinite(item.duration) and item.duration >= 0
        if item.client_public_ip is not None:
            addrs.append(item.client_public_ip)
        assert item.skype_version is None or isinstance(item.skype_version, str)
        assert all(isinstance(s, str) for s in item.signatures)
    else:
        addrs = [item.client, item.peer]
        ports = [item.client_port, item.peer_port]
    for a in addrs:
        assert str(ipaddress.ip_address(a)) == a
    for p in ports:
        assert type(p) is int and 0 <= p <= 65535


REASONS = {"too-large", "too-deep", "bad-number", "malformed", "bad-arguments"}
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_text_or_bytes_is_used_or_refused(raw):
    _decode_or_refuse(raw)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_is_used_or_refused(obj):
    _decode_or_refuse(json.dumps(obj))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
def test_good_events_with_random_arguments_are_used_or_refused(seed):
    for frame in random_frames(random.Random(seed), 3):
        _decode_or_refuse(frame)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([detection(r) for r in GOOD] + [probe(GOOD_PROBE), tcp(GOOD_TCP)]),
    st.data(),
)
def test_any_typed_argument_anywhere_is_used_or_refused(frame, data):
    obj = json.loads(frame)
    n = len(obj["data"][2]["data"][1]["data"])
    i = data.draw(st.integers(0, n - 1))
    ty = data.draw(st.sampled_from(_TYPES))
    value = data.draw(_json)
    _decode_or_refuse(with_arg(frame, i, {"@data-type": ty, "data": value}))


def test_notice_event_matches_the_zeek_declaration():
    from skypewatch.skypelog import Notice

    n = Notice(
        ts=4711.25, note="Skype::Client_Detected", msg="m", sub="s", src="10.0.0.5", n=3, uid="C1"
    )
    frame = json.loads(schema.notice_event("zeek/skype/notice", n))
    args = frame["data"][2]["data"][1]["data"]
    assert [a["@data-type"] for a in args] == [
        "timestamp",
        "string",
        "address",
        "string",
        "string",
        "count",
        "string",
    ]
    assert args[0]["data"] == "1970-01-01T01:18:31.250"
    assert frame["topic"] == "zeek/skype/notice"
