"""Live mode against a real WebSocket peer in the test that speaks Zeek's protocol: the
handshake and ack, events, malformed and out-of-order frames, unknown event names, a
disconnect mid-stream; and the same events offline give the same notices."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import websockets

from skypewatch.correlate.engine import CorrelationEngine
from skypewatch.correlate.run import run_offline
from skypewatch.records import NOTICE_FIELDS, SKYPE_FIELDS, SkypeRecord
from skypewatch.zeeklog import ZeekLogWriter, read_log
from skypewatch.zeekws import codec, schema
from skypewatch.zeekws.client import LiveCorrelator

TOPIC = "zeek/skype/"


def records(client: str = "10.0.0.5") -> list[SkypeRecord]:
    """A start-up: probe (confirmed), super-node TCP, login."""
    base = SkypeRecord(
        ts=1000.0,
        uid="Cprobe00000000001",
        orig_h=client,
        orig_p=35990,
        resp_h="81.1.1.1",
        resp_p=4000,
        proto="udp",
        duration=0.3,
        stage="probe",
        signatures=frozenset({"u1_u2_nack", "u3_resend"}),
        client=client,
        peer="81.1.1.1",
        peer_role="super_node",
        client_public_ip="86.1.1.1",
        skype_version=None,
        confidence="confirmed",
        evidence="U3 names the super node",
    )
    return [
        base,
        replace(
            base,
            ts=1002.5,
            uid="Ctcp0000000000002",
            orig_p=50000,
            resp_p=4000,
            proto="tcp",
            stage="sn_handshake",
            signatures=frozenset({"tcp_to_probed_peer"}),
            confidence="likely",
            client_public_ip=None,
        ),
        replace(
            base,
            ts=1004.0,
            uid="Clogin00000000003",
            orig_p=50001,
            resp_h="91.1.1.1",
            resp_p=33033,
            proto="tcp",
            stage="login",
            peer="91.1.1.1",
            peer_role="login_server",
            signatures=frozenset({"login_handshake"}),
            client_public_ip=None,
        ),
    ]


class FakeZeek:
    """A WebSocket server that behaves like Zeek's: ack after the topic list, then frames."""

    def __init__(self, script: list[list[str]]) -> None:
        self.script = script  # frames to send, one list per client connection
        self.received: list[dict] = []
        self.handshakes: list[list[str]] = []
        self.headers: list[str | None] = []
        self.server = None

    async def handler(self, ws) -> None:
        n = len(self.handshakes)
        self.headers.append(ws.request.headers.get("X-Application-Name"))
        self.handshakes.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "ack", "endpoint": f"fake-{n}", "version": "8.0.10"}))
        frames = self.script[n] if n < len(self.script) else []
        for frame in frames:
            if frame == "<disconnect>":
                await ws.close()
                return
            await ws.send(frame)
        try:
            async for raw in ws:
                self.received.append(json.loads(raw))
        except websockets.exceptions.ConnectionClosed:
            pass

    async def __aenter__(self) -> str:
        self.server = await websockets.serve(self.handler, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


async def drive(url: str, until, timeout: float = 10.0):
    engine = CorrelationEngine()
    notices, log = [], []
    client = LiveCorrelator(url, engine, lambda n, sent: notices.append((n, sent)), log.append)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not until(client, notices):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return client, notices, log


def detection(r: SkypeRecord) -> str:
    return schema.detection_event(TOPIC + "detection", r)


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
            await asyncio.sleep(0.1)
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
    assert any("dropped a malformed frame" in m for m in log)
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
        client = LiveCorrelator("ws://127.0.0.1:9", engine, lambda n, s: None, log.append)
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await asyncio.sleep(1.8)
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
    from skypewatch.correlate.engine import EngineOptions

    return EngineOptions()


@pytest.mark.parametrize("bad", ["http://x:1", "ws://", "nonsense"])
def test_cli_refuses_bad_urls(bad, capsys):
    from skypewatch.cli import main

    assert main(["correlate", "--zeek", bad]) == 2
    assert "not a WebSocket URL" in capsys.readouterr().err


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_cli_exits_0_on_signal_after_flushing(tmp_path, sig):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skypewatch",
            "correlate",
            "--zeek",
            "ws://127.0.0.1:9",
            "-o",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "waiting for Zeek at ws://127.0.0.1:9/v1/messages/json" in err
    assert "live: 0 connection(s) to Zeek" in out
    assert (tmp_path / "notice.log").read_text().rstrip().splitlines()[-1].startswith("#close")
