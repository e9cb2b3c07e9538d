"""Broker JSON v1 codec against recorded, spec-conformant frames, both directions."""

from __future__ import annotations

import json

import pytest

from skypewatch.records import SkypeRecord
from skypewatch.zeekws import codec, schema

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
        ('{"type": "data-message"}', "without a topic"),
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
            "bad count",
        ),
        (
            '{"type": "data-message", "topic": "t", "@data-type": "vector", "data": ['
            '{"@data-type": "blob", "data": 1}]}',
            "unknown data type",
        ),
    ],
)
def test_malformed_frames_say_why(raw, why):
    with pytest.raises(codec.CodecError, match=why):
        codec.decode_message(raw)


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
    bad = codec.Event(ev.topic, ev.name, [*ev.args[:2], 35990, *ev.args[3:]])
    with pytest.raises(codec.CodecError, match="argument 3 is not a addr"):
        schema.to_input(bad)
    with pytest.raises(codec.CodecError, match="has 16 arguments"):
        schema.to_input(codec.Event(ev.topic, ev.name, ev.args[:-1]))
    wrong_stage = [*ev.args[:8], "lunch", *ev.args[9:]]
    with pytest.raises(codec.CodecError, match="unknown stage"):
        schema.to_input(codec.Event(ev.topic, ev.name, wrong_stage))


def test_notice_event_matches_the_zeek_declaration():
    from skypewatch.records import Notice

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
