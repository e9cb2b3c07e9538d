"""Property tests: random and mutated input never breaks the engine, output always parses."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skypewatch.analyze import analyze
from skypewatch.detect.tracker import Tracker
from skypewatch.packets.decode import decode
from skypewatch.synth.frames import addr_bytes, tcp_frame, udp_frame
from skypewatch.synth.pcapwriter import PcapWriter
from skypewatch.zeeklog import read_log

A, B = addr_bytes("10.0.0.5"), addr_bytes("81.2.3.4")


@given(st.integers(0, 300), st.binary(max_size=200))
def test_decode_never_raises_on_garbage(link_choice, frame):
    link = (0, 1, 101, 113, 276)[link_choice % 5]
    decode(link, frame)


@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.binary(max_size=120), st.floats(0, 0.5)),
        max_size=40,
    )
)
def test_tracker_never_raises_on_random_payloads(packets):
    records = []
    t = Tracker(lambda r, now: records.append(r))
    ts = 1000.0
    seq = {True: 1, False: 9}
    for udp, from_a, payload, gap in packets:
        ts += gap
        if udp:
            f = (
                udp_frame(A, 35990, B, 4000, payload)
                if from_a
                else udp_frame(B, 4000, A, 35990, payload)
            )
        else:
            f = (
                tcp_frame(A, 5000, B, 443, seq[True], 0, 0x18, payload)
                if from_a
                else tcp_frame(B, 443, A, 5000, seq[False], 0, 0x18, payload)
            )
            seq[from_a] += len(payload)
        t.packet(ts, decode(1, f))
    t.finish_all()
    for r in records:
        assert r.confidence in ("possible", "likely", "confirmed")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 30)):
        op = rng.random()
        if op < 0.6 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.8 and b:
            del b[rng.randrange(len(b))]
        else:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
    return bytes(b)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 2**32), st.booleans())
def test_mutated_skype_capture_analyses_and_logs_parse_back(tmp_path_factory, seed, use_json):
    from skypewatch.synth.scenarios import SynthOptions, stream

    tmp = tmp_path_factory.mktemp("mut")
    rng = random.Random(seed)
    path = tmp / "m.pcap"
    with PcapWriter(path) as w:
        for ts, frame in stream("open-1.4", SynthOptions(clients=1, seed=seed % 5 + 1)):
            w.write(ts, _mutate(rng, frame) if rng.random() < 0.3 else frame)
    out = tmp / "out"
    try:
        analyze([path], out, use_json=use_json)
    except Exception as exc:  # only a user-facing error is acceptable, never a crash
        from skypewatch.errors import SkypewatchError

        assert isinstance(exc, SkypewatchError), exc
        return
    _, rows = read_log(out / "skype.log")
    read_log(out / "notice.log")  # must parse too
    for r in rows:
        assert r["confidence"] in ("possible", "likely", "confirmed")
        assert isinstance(r["signatures"], list) and r["signatures"]


@given(st.text(max_size=60))
def test_log_strings_round_trip(text):
    from skypewatch.zeeklog import format_value, parse_value

    assert parse_value("string", format_value("string", text)) == text
    items = sorted({text, "a,b", "-"})
    assert sorted(parse_value("set[string]", format_value("set[string]", items))) == items


@given(st.binary(max_size=3000))
def test_fast_checksum_equals_rfc1071_word_sum(data):
    from skypewatch.synth.frames import checksum, checksum_reference

    assert checksum(data) == checksum_reference(data)
