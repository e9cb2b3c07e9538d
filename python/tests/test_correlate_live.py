"""Live mode against a real WebSocket peer in the test that speaks Zeek's protocol: the
handshake and ack, events, malformed and out-of-order frames, unknown event names, a
disconnect mid-stream; and the same events offline give the same notices."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from zeek_wire import (
    TOPIC,
    FakeZeek,
    LiveProcess,
    detection,
    hostile_frames,
    random_frames,
    startup,
    until,
)

from skypewatch.correlation.engine import CorrelationEngine
from skypewatch.correlation.offline import run_offline
from skypewatch.live import codec
from skypewatch.live.bridge import MAX_UNKNOWN_NAMES, ZeekBridge
from skypewatch.skypelog import NOTICE_FIELDS, SKYPE_FIELDS, SkypeRecord
from skypewatch.zeeklog import ZeekLogWriter, read_log


def records(client: str = "10.0.0.5") -> list[SkypeRecord]:
    """A start-up: probe (confirmed), super-node TCP, login."""
    return startup(client)


async def drive(url: str, done, why: str = "the condition"):
    """Run a client against *url* until ``done(client, notices)``, then stop it (limit:
    SKYPEWATCH_TEST_TIMEOUT)."""
    engine = CorrelationEngine()
    notices, log = [], []
    client = ZeekBridge(url, engine, lambda n, sent: notices.append((n, sent)), log.append)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        await until(lambda: done(client, notices) or task.done(), why)
        assert not task.done(), log[-3:]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return client, notices, log


def test_live_mode_survives_garbage_disconnects_and_unknown_events():
    recs = records()
    bad_args = json.loads(detection(recs[0]))
    bad_args["data"][2]["data"][1]["data"][2] = {"@data-type": "count", "data": 5}
    unknown = codec.encode_event(TOPIC + "detection", "Other::thing", ["x"])
    script = [
        [
            "this is not json",
            json.dumps(bad_args),
            unknown,
            unknown,
            json.dumps({"type": "error", "code": "deserialization_failed", "context": "x"}),
            detection(recs[1]),  # out of order: arrives before the probe it follows
            "<disconnect>",  # Zeek restarts mid-stream
        ],
        [detection(recs[0]), detection(recs[2])],
    ]
    fake = FakeZeek(script)

    async def go():
        async with fake as url:
            client, notices, log = await drive(
                url, lambda c, n: c.stats.events >= 3 and c.stats.connections >= 2
            )
            await until(lambda: len(fake.received) >= 1, "the notice reached the fake Zeek")
            return client, notices, log

    client, notices, log = asyncio.run(go())
    assert client.stats.connections == 2, "reconnected after the disconnect"
    assert client.stats.events == 3
    assert client.stats.dropped == {
        "malformed": 1,
        "bad-arguments": 1,
        "unknown-event": 2,
        "zeek-error": 1,
    }
    assert any("dropped a frame (malformed): not JSON" in m for m in log)
    assert any("argument 3 should be addr" in m for m in log)
    assert sum("Other::thing" in m for m in log) == 1, "unknown names are reported once"
    assert any("closed the connection" in m or "waiting for Zeek" in m for m in log)
    assert fake.handshakes[0] == [TOPIC + "probe", TOPIC + "tcp", TOPIC + "detection"]
    assert fake.headers[0] == "skypewatch"
    # the stop flushed the engine: one notice for the client, sent back to Zeek
    assert [n.src for n, _ in notices] == ["10.0.0.5"]
    assert notices[0][0].note == "Skype::Login_Sequence" and notices[0][1]
    sent = [m for m in fake.received if m.get("type") == "data-message"]
    assert len(sent) == 1 and sent[0]["topic"] == TOPIC + "notice"
    ev = codec.decode_message(json.dumps(sent[0]))
    assert ev.name == "Skype::correlated_notice" and ev.args[2] == "10.0.0.5"
    assert ev.args[5] == 3 and "stages probe, sn_handshake, login" in ev.args[3]


def test_waits_for_zeek_with_backoff_and_says_so():
    async def go():
        # nothing listens on this port: the client keeps waiting and retrying
        engine = CorrelationEngine()
        log: list[str] = []
        client = ZeekBridge("ws://127.0.0.1:9", engine, lambda n, s: None, log.append)
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await until(lambda: sum("retrying in" in m for m in log) >= 2, "two attempts")
        stop.set()
        await asyncio.wait_for(task, 5)
        return log

    log = asyncio.run(go())
    waits = [
        m for m in log if m.startswith("waiting for Zeek at ws://127.0.0.1:9/v1/messages/json")
    ]
    assert len(waits) >= 2
    assert "retrying in 0.5s" in waits[0] and "retrying in 1.0s" in waits[1]


def test_live_and_offline_give_the_same_notices(tmp_path: Path):
    rng = random.Random(3)
    recs: list[SkypeRecord] = []
    for i in range(6):  # six clients, some with full start-ups, some weaker
        client = f"10.0.1.{i}"
        for r in records(client)[: 1 + i % 3]:
            recs.append(replace(r, ts=r.ts + i * 400 + rng.random(), uid=r.uid[:-2] + f"{i:02d}"))
    recs.sort(key=lambda r: r.ts)
    with ZeekLogWriter(tmp_path, "skype", SKYPE_FIELDS) as w:
        for r in recs:
            w.write(r.values())
    offline, _ = run_offline([str(tmp_path / "skype.log")], [], tmp_path / "off", engine_options())

    async def go():
        async with FakeZeek([[detection(r) for r in recs]]) as url:
            _, notices, _ = await drive(url, lambda c, n: c.stats.events == len(recs))
            return [n for n, _ in notices]

    live = asyncio.run(go())
    assert len(offline.notices) >= 4
    assert [n.values() for n in live] == [n.values() for n in offline.notices]
    _, rows = read_log(tmp_path / "off" / "notice.log")
    assert len(rows) == len(offline.notices)
    assert [f for f, _ in NOTICE_FIELDS] == list(rows[0])


def engine_options():
    from skypewatch.correlation.engine import EngineOptions

    return EngineOptions()


@pytest.mark.parametrize("bad", ["http://x:1", "ws://", "nonsense"])
def test_cli_refuses_bad_urls(bad, capsys):
    from skypewatch.cli import main

    assert main(["correlate", "--zeek", bad]) == 2
    assert "not a WebSocket URL" in capsys.readouterr().err


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_cli_exits_0_on_signal_after_flushing(tmp_path, sig):
    c = LiveProcess("ws://127.0.0.1:9", tmp_path)
    c.wait_for("waiting for Zeek at ws://127.0.0.1:9/v1/messages/json")
    c.stop(sig)
    assert c.proc.returncode == 0, c.err
    assert any(line.startswith("live: 0 connection(s) to Zeek") for line in c.out), c.out
    assert (tmp_path / "notice.log").read_text().rstrip().splitlines()[-1].startswith("#close")


# -- a hostile Zeek -----------------------------------------------------------------------------


def _interleave(rng: random.Random, good: list, bad: list) -> list:
    """*bad* frames with the *good* ones spread among them, the good ones in their order."""
    slots = sorted(rng.sample(range(len(good) + len(bad)), len(good)))
    out, g, b = [], iter(good), iter(bad)
    for i in range(len(good) + len(bad)):
        out.append(next(g) if slots and i == slots[0] else next(b))
        if slots and i == slots[0]:
            slots.pop(0)
    return out


def test_no_frame_stops_the_live_correlator():
    """A fake Zeek sends every class of hostile frame, then random bytes, random JSON and good
    events with arguments of random types, all mixed with good events.  The correlator keeps
    running, drops and counts each bad frame under its reason, logs short lines, and still
    sends Zeek a notice for every client of the good events."""
    rng = random.Random(11)
    hostile = hostile_frames()
    names = [codec.encode_event(TOPIC, f"Other::n{i}", []) for i in range(3 * MAX_UNKNOWN_NAMES)]
    good1 = [r for i in range(4) for r in startup(f"10.0.1.{i}", 1000.0 + 10 * i, str(i))]
    good2 = [r for i in range(4) for r in startup(f"10.0.2.{i}", 2000.0 + 10 * i, str(i))]
    first = _interleave(rng, [detection(r) for r in good1], [h.frame for h in hostile] + names)
    second = _interleave(rng, [detection(r) for r in good2], random_frames(rng, 400))
    fake = FakeZeek([[*first, "<disconnect>"], second])
    total = len(first) + len(second)

    async def go():
        async with fake as url:
            client, notices, log = await drive(url, lambda c, n: c.stats.frames >= total)
            return client, notices, log

    client, notices, log = asyncio.run(go())
    st = client.stats
    assert st.connections == 2 and st.frames == total
    assert "internal-error" not in st.dropped, [m for m in log if "internal error" in m]
    assert st.events + sum(st.dropped.values()) == total, "every frame used or dropped, once"
    assert st.events >= len(good1) + len(good2)
    expected = Counter(h.reason for h in hostile) + Counter({"unknown-event": len(names)})
    for reason, n in expected.items():
        assert st.dropped[reason] >= n, reason
    # every client of the good events was noticed, and the notice went back to Zeek
    clients = {f"10.0.{c}.{i}" for c in (1, 2) for i in range(4)}
    assert clients <= {n.src for n, sent in notices if sent}
    assert clients <= {ev.args[2] for ev in fake.notices()}
    # the log stays readable: short lines, a bounded number per reason, unknown names bounded
    assert max(len(m) for m in log) <= 400
    assert sum("ignoring events named" in m for m in log) <= MAX_UNKNOWN_NAMES
    assert len(client._seen_unknown) <= MAX_UNKNOWN_NAMES + 1
    assert log[-1].startswith("stopped: 2 connection(s)") and "too-large" in log[-1]


def test_rate_limited_drop_log_and_periodic_stats(monkeypatch):
    from skypewatch.live import bridge

    monkeypatch.setattr(bridge, "STATS_INTERVAL", 0.5)
    frames = ["not json"] * 50 + ['{"type": "x"}'] * 3
    fake = FakeZeek([frames])

    async def go():
        async with fake as url:
            c, _, log = await drive(url, lambda c, n: c.stats.frames >= len(frames))
            # the next drop after the interval brings the stats line
            await until(
                lambda: time.monotonic() - c._last_report > bridge.STATS_INTERVAL,
                "the stats interval",
            )
            await c.handle("still not json")
            return c, log

    c, log = asyncio.run(go())
    assert c.stats.dropped == {"malformed": 54}
    said = [m for m in log if m.startswith("dropped a frame (malformed)")]
    assert len(said) == bridge.LOG_BURST
    assert sum("more malformed drops are counted" in m for m in log) == 1
    assert any(m.startswith("stats: 1 connection(s), 54 frames") for m in log), log


def test_a_frame_over_the_wire_limit_costs_a_reconnect_not_the_process():
    from skypewatch.live.bridge import WIRE_MAX

    recs = records()
    fake = FakeZeek(
        [[detection(recs[0]), "x" * (WIRE_MAX + 1), detection(recs[1])], [detection(recs[2])]]
    )

    async def go():
        async with fake as url:
            return await drive(url, lambda c, n: c.stats.connections >= 2 and c.stats.events >= 2)

    client, notices, log = asyncio.run(go())
    assert client.stats.dropped["too-large"] == 1
    assert any("over 16,777,216 bytes" in m for m in log)
    assert client.stats.events == 2  # the frame after the big one was lost with the connection
    assert [n.src for n, sent in notices if sent] == ["10.0.0.5"]


@pytest.mark.parametrize("bad", ["ws://h:99999", "ws://h:0", "ws://h:x", "ws://:1", "tcp://h:1"])
def test_the_client_refuses_urls_it_cannot_use(bad):
    """The CLI checks --zeek first; the client does not rely on it."""
    from skypewatch.live.transport import websocket_url

    with pytest.raises(ValueError, match="not a WebSocket URL"):
        websocket_url(bad)
    assert websocket_url("ws://[::1]:27759") == "ws://[::1]:27759/v1/messages/json"
