"""The live correlator against a peer that abuses the WebSocket connection itself, not just
the frames' content: a ping flood it never reads the answers to, frames the protocol forbids
on a connection it then never closes, events on topics they do not belong to, dates far in
the future, a wss:// server signed by a private CA.  Each test waits on a condition (limit
SKYPEWATCH_TEST_TIMEOUT), and each fails against the correlator as it was before its fix."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from zeek_wire import (
    CLOSE,
    GOOD,
    PING,
    TEXT,
    TOPIC,
    FakeZeek,
    RawPeer,
    detection,
    startup,
    until,
    ws_frame,
)

from skypewatch.correlation.engine import CorrelationEngine
from skypewatch.live import bridge, codec, schema
from skypewatch.live.bridge import ZeekBridge
from skypewatch.live.transport import tls_context
from skypewatch.skypelog import Notice


class Run:
    """One ZeekBridge in the test's event loop: its notices (with whether each reached Zeek)
    and its log lines."""

    def __init__(self, url: str, **kwargs) -> None:
        self.notices: list[tuple[Notice, bool]] = []
        self.log: list[str] = []
        self.engine = CorrelationEngine()
        self.client = ZeekBridge(
            url, self.engine, lambda n, sent: self.notices.append((n, sent)), self.log.append,
            **kwargs,
        )  # fmt: skip
        self.stop = asyncio.Event()
        self.task = asyncio.ensure_future(self.client.run(self.stop))

    async def until(self, what: Callable[[Run], bool], why: str) -> None:
        await until(lambda: what(self) or self.task.done(), why)
        assert not self.task.done(), f"the client ended: {self.log[-3:]}"

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)

    def said(self, text: str) -> list[str]:
        return [m for m in self.log if text in m]


def run_against(peer: RawPeer | FakeZeek, what: Callable[[Run], bool], why: str, **kwargs) -> Run:
    """A client against *peer* until *what* holds of it, then stopped as a user stops it."""

    async def go() -> Run:
        async with peer as url:
            run = Run(url, **kwargs)
            await run.until(what, why)
            await run.finish()
            return run

    return asyncio.run(go())


# -- 1. a peer that pings and never reads the pongs -------------------------------------------


def test_a_ping_flood_that_is_never_read_costs_a_reconnect_not_memory(monkeypatch):
    """The peer stops reading and floods pings.  Each pong waits in our write buffer; past
    WRITE_BUFFER_MAX the client hangs up with one line, and reconnects.  (Before: the buffer
    grew by ~25 MB/s for as long as the peer went on; here the peer gives up after 256 MiB so
    that a broken build fails on the timeout, not on memory.)"""
    limit = 256 << 10
    monkeypatch.setattr(bridge, "WRITE_BUFFER_MAX", limit)
    flood = {"bytes": 0}
    ping = ws_frame(PING, b"p" * 125)

    async def behave(peer: RawPeer, n: int) -> None:
        if n > 0:  # the second connection is a quiet, well-behaved Zeek
            await peer.read_until_closed(n)
            return
        writer = peer.writers[n]
        writer.transport.pause_reading()  # never read again
        while flood["bytes"] < 256 << 20:
            writer.write(ping * 64)
            flood["bytes"] += len(ping) * 64
            await writer.drain()  # ConnectionError once the client hangs up
        await asyncio.sleep(3600)

    run = run_against(
        RawPeer(behave), lambda r: r.client.stats.connections >= 2, "a second connection"
    )
    said = run.said("does not read what we send")
    assert len(said) == 1, run.log
    assert f"limit {limit:,}" in said[0]
    waiting = int(said[0].split("(")[1].split(" bytes")[0].replace(",", ""))
    assert limit < waiting <= limit + (256 << 10) + 2 * 127  # at most one read's pongs more
    assert flood["bytes"] > limit, "the flood did exceed the limit"


def test_a_peer_that_never_reads_our_notices_costs_a_reconnect(monkeypatch):
    """The peer stops reading; our notices fill the socket and then the write buffer, and a
    send waits.  After SEND_TIMEOUT the client hangs up (one line); the notices not yet
    handed to the socket go to Zeek on the next connection, in order, each once."""
    monkeypatch.setattr(bridge, "SEND_TIMEOUT", 0.5)
    notices = [
        Notice(1.0, "n", "m" * 4000, "s", f"10.{i >> 8}.0.{i & 255}", 1) for i in range(4000)
    ]

    async def behave(peer: RawPeer, n: int) -> None:
        if n == 0:  # reads nothing until the client has given up on it
            peer.writers[n].transport.pause_reading()
            await until(lambda: len(peer.opened) > 1, "a second connection")
            return
        await peer.read_until_closed(n)

    peer = RawPeer(behave)

    async def go() -> Run:
        async with peer as url:
            run = Run(url)
            await run.until(lambda r: r.client.stats.connections == 1, "connected")
            await run.client._deliver(notices)
            await run.until(lambda r: len(r.notices) == len(notices), "every notice sent")
            later = len(notices) - run.client.stats.notices_sent
            await run.finish()
            await until(lambda: len(peer.closed) == 2, "the second connection read to its end")
            return run, later

    run, later = asyncio.run(go())
    assert later == 0 and run.client.stats.connections == 2
    assert run.said("could not send notices to Zeek (not read for 0.5s)")
    assert [n.src for n, _ in run.notices] == [n.src for n in notices], "each once, in order"
    second = [
        codec.decode_message(p).args[2]
        for c, op, p in peer.received
        if c == 1 and op == TEXT and b"data-message" in p
    ]
    assert second == [n.src for n in notices[-len(second) :]], "the rest, on the reconnect"
    assert len(second) < len(notices), "the socket did fill"


# -- 2. protocol errors: close at once, reconnect, lose no notice -------------------------------

BAD_FRAMES = {
    "reserved opcode": ws_frame(0x3, b"x"),
    "reserved bit": ws_frame(TEXT, b"{}", rsv=4),
    "fragmented ping": ws_frame(PING, b"x", fin=False),
    "frame over the wire limit": b"\x82\x7f" + (bridge.WIRE_MAX + 1).to_bytes(8, "big"),
}


@pytest.mark.parametrize("bad", list(BAD_FRAMES))
def test_a_protocol_error_closes_at_once_and_reconnects(monkeypatch, bad):
    """After a frame the protocol forbids, the peer keeps the connection open and silent.
    The client sends its close frame and hangs up without waiting for the peer (keepalive
    off: before, only its next ping, up to 20 s later, ended the half-closed connection),
    reconnects after the first back-off, and the start-up split across the two connections
    still gives its notice, sent to Zeek."""
    monkeypatch.setattr(bridge, "PING_INTERVAL", None)

    async def behave(peer: RawPeer, n: int) -> None:
        writer = peer.writers[n]
        if n == 0:
            writer.write(ws_frame(TEXT, detection(GOOD[0]).encode()) + BAD_FRAMES[bad])
        else:
            for r in GOOD[1:]:
                writer.write(ws_frame(TEXT, detection(r).encode()))
        await writer.drain()
        await peer.read_until_closed(n)  # never closes on its side: only the client does

    peer = RawPeer(behave)

    async def go() -> Run:
        async with peer as url:
            run = Run(url)
            await run.until(
                lambda r: r.client.stats.connections >= 2 and r.client.stats.events >= 3,
                "a second connection and all three events",
            )
            await run.finish()
            await until(lambda: len(peer.closed) >= 2, "both connections closed by the client")
            return run

    run = asyncio.run(go())
    st = run.client.stats
    assert st.connections == 2 and st.events == 3
    reason = "too-large" if "limit" in bad else bridge.PROTOCOL_ERROR
    assert st.dropped == {reason: 1}, st.dropped
    closes = [p for c, op, p in peer.received if c == 0 and op == CLOSE]
    code = int.from_bytes(closes[0][:2], "big")
    assert code == (1009 if "limit" in bad else 1002)
    assert run.said("closed the connection to Zeek at")
    assert [ev.args[2] for ev in peer.notices()] == ["10.0.0.5"]
    assert run.notices[0][1], "sent to Zeek"


def test_a_close_the_peer_starts_but_never_finishes_costs_close_timeout(monkeypatch):
    """The peer sends a close frame and then keeps TCP open.  The client answers it and
    hangs up after close_timeout (before: it waited for the peer, or the next keepalive)."""
    monkeypatch.setattr(bridge, "PING_INTERVAL", None)

    async def behave(peer: RawPeer, n: int) -> None:
        writer = peer.writers[n]
        writer.write(ws_frame(CLOSE, (1001).to_bytes(2, "big") + b"going away"))
        await writer.drain()
        await peer.read_until_closed(n)

    peer = RawPeer(behave)

    run = run_against(peer, lambda r: r.client.stats.connections >= 2, "a second connection")
    assert not run.client.stats.dropped
    answer = [p for c, op, p in peer.received if c == 0 and op == CLOSE]
    assert int.from_bytes(answer[0][:2], "big") == 1001, "the close was answered"
    assert run.said("Zeek at ws://127.0.0.1") and run.said("closed the connection (received 1001")


def test_notices_that_cannot_be_sent_wait_for_the_next_connection():
    """A send fails (the connection broke): the notices wait in the outbox, oldest first, and
    go to Zeek first thing after the reconnect -- before, they went to notice.log only."""

    class Gone:
        async def send(self, frame: str) -> None:
            raise ConnectionResetError("reset by peer")

    notices = [Notice(1.0, "n", "m", "s", f"10.0.0.{i}", 1) for i in range(50)]

    async def go() -> tuple[Run, FakeZeek]:
        fake = FakeZeek([[]])
        async with fake as url:
            run = Run(url)
            run.client._ws = Gone()  # before the run connects: a connection that broke
            await run.client._deliver(notices)
            assert run.notices == [] and len(run.client._outbox) == 50
            await run.until(lambda r: len(r.notices) == 50, "the waiting notices sent")
            await until(lambda: len(fake.notices()) == 50, "Zeek received them")
            await run.finish()
            return run, fake

    run, fake = asyncio.run(go())
    assert [(n.src, sent) for n, sent in run.notices] == [(n.src, True) for n in notices]
    assert [ev.args[2] for ev in fake.notices()] == [n.src for n in notices]
    assert run.said("they wait for the next connection") == [
        "could not send notices to Zeek (reset by peer); they wait for the next connection"
    ]
    assert run.said("sent 50 notice(s) that waited for Zeek")
    assert run.client.stats.notices_sent == 50 and run.client.stats.notices_undelivered == 0


def test_a_notice_that_cannot_be_encoded_does_not_block_the_others():
    """A bug of ours (here: a notice whose src is no address) keeps that one notice local;
    the ones after it still go to Zeek, in order."""
    notices = [Notice(1.0, "n", "m", "s", src, 1) for src in ("10.0.0.1", "bad", "10.0.0.2")]

    async def go() -> tuple[Run, FakeZeek]:
        fake = FakeZeek([[]])
        async with fake as url:
            run = Run(url)
            await run.until(lambda r: r.client.stats.connections == 1, "connected")
            await run.client._deliver(notices)
            await until(lambda: len(fake.notices()) == 2, "Zeek received the good ones")
            await run.finish()
            return run, fake

    run, fake = asyncio.run(go())
    assert [(n.src, sent) for n, sent in run.notices] == [
        ("10.0.0.1", True),
        ("bad", False),
        ("10.0.0.2", True),
    ]
    assert [ev.args[2] for ev in fake.notices()] == ["10.0.0.1", "10.0.0.2"]
    assert len(run.said("internal error encoding a notice for Zeek")) == 1


def test_the_outbox_is_bounded_and_says_what_it_drops(monkeypatch):
    """Zeek away for long: beyond MAX_OUTBOX the oldest notices go to notice.log only (said
    once); at the stop, what still waits goes there too.  Nothing is lost locally."""
    monkeypatch.setattr(bridge, "MAX_OUTBOX", 3)
    kept: list[tuple[str, bool]] = []
    log: list[str] = []
    client = ZeekBridge(
        "ws://127.0.0.1:9", CorrelationEngine(), lambda n, s: kept.append((n.src, s)), log.append
    )
    notices = [Notice(1.0, "n", "m", "s", f"10.0.0.{i}", 1) for i in range(5)]
    asyncio.run(client._deliver(notices[:4]))
    asyncio.run(client._deliver(notices[4:]))
    assert kept == [("10.0.0.0", False), ("10.0.0.1", False)]
    assert [n.src for n in client._outbox] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert sum("more than 3 notices waiting for Zeek" in m for m in log) == 1

    async def stop_at_once() -> None:
        stop = asyncio.Event()
        stop.set()
        await client.run(stop)

    asyncio.run(stop_at_once())
    assert [src for src, _ in kept] == [f"10.0.0.{i}" for i in range(5)]
    assert client.stats.notices_undelivered == 5


# -- 3. the topic ---------------------------------------------------------------------------------


def test_events_count_only_on_the_topic_zeek_publishes_them_on():
    """Our own output topic, another event's topic, a stranger's topic and a longer topic
    under ours: all dropped as wrong-topic.  Acted upon, the stray detections (a start-up of
    another client) would give a second notice."""
    other = startup("10.0.0.77")
    stray = [
        schema.detection_event(TOPIC + "notice", other[0]),  # our own output topic
        schema.detection_event(TOPIC + "probe", other[1]),  # another event's topic
        schema.detection_event("somebody/else", other[2]),
        schema.detection_event(TOPIC + "detection/x", other[0]),
    ]
    fake = FakeZeek([[*stray, *(detection(r) for r in GOOD)]])

    run = run_against(fake, lambda r: r.client.stats.frames >= 7, "every frame")
    st = run.client.stats
    assert st.events == 3 and st.dropped == {"wrong-topic": 4}
    assert [n.src for n, _ in run.notices] == ["10.0.0.5"]
    said = run.said("dropped an event (wrong-topic)")
    assert len(said) == 4 and "on 'zeek/skype/notice'" in said[0], said
    assert said[0].endswith("which Zeek publishes on zeek/skype/detection")


def test_a_custom_prefix_moves_every_topic():
    fake = FakeZeek([[schema.detection_event("site/skype/detection", r) for r in GOOD]])

    run = run_against(
        fake, lambda r: r.client.stats.frames >= 3, "every frame", topic_prefix="site/skype/"
    )
    assert run.client.stats.events == 3 and not run.client.stats.dropped
    assert fake.handshakes[0] == ["site/skype/probe", "site/skype/tcp", "site/skype/detection"]
    assert fake.notices()[0].topic == "site/skype/notice"


# -- 4. clock jumps from the future -----------------------------------------------------------


@pytest.mark.parametrize("ahead", [23 * 3600.0, 3600.0, 301.0])
def test_an_event_from_the_future_does_not_move_the_clock(ahead):
    """A start-up now, its notice pending (two minutes of settle), then one event dated
    *ahead* seconds from now.  Taken, it would move the engine's clock that far and raise the
    notice at once; it is dropped as future-time (said in the log, counted), the notice
    waits for the stop, and an event 60 s ahead (within --max-future 300) is still used."""
    now = time.time()
    recs = startup("10.0.0.5", now - 10)
    forged = replace(startup("10.0.0.66", now + ahead)[0], uid="Cforged00000000001")
    close = replace(startup("10.0.0.67", now + 60)[0], uid="Cclose000000000001")
    fake = FakeZeek([[*(detection(r) for r in recs), detection(forged), detection(close)]])

    async def go() -> tuple[Run, list]:
        async with fake as url:
            run = Run(url, max_future=300.0)
            await run.until(lambda r: r.client.stats.frames >= 5, "every frame")
            before_stop = list(run.notices)
            clock = run.engine.core.now
            await run.finish()
            return run, before_stop, clock

    run, before_stop, clock = asyncio.run(go())
    st = run.client.stats
    assert st.dropped == {"future-time": 1} and st.events == 4
    assert before_stop == [], "no notice raised by a jump of the clock"
    assert clock <= time.time() + 300
    said = run.said("dropped an event (future-time)")
    assert len(said) == 1 and said[0].endswith("(--max-future)"), said
    assert "10.0.0.5" in {n.src for n, _ in run.notices}


def test_max_future_reaches_the_bridge_from_the_command_line(tmp_path, monkeypatch):
    """--max-future S is the limit the live client uses (and is refused when not finite)."""
    from skypewatch.cli import main
    from skypewatch.live import run as live_run

    seen = {}

    def fake_run_live(url, prefix, out, opts, use_json, *, tls, max_future):
        seen.update(url=url, tls=tls, max_future=max_future)
        return ZeekBridge(url, CorrelationEngine(), print, print), CorrelationEngine()

    monkeypatch.setattr(live_run, "run_live", fake_run_live)
    assert main(["correlate", "--zeek", "ws://h:1", "--max-future", "42", "-o", str(tmp_path)]) == 0
    assert seen == {"url": "ws://h:1", "tls": None, "max_future": 42.0}
    assert main(["correlate", "--zeek", "ws://h:1", "--max-future", "inf"]) == 2


# -- 5. wss:// with a private CA ----------------------------------------------------------------


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a private CA")
    d = tmp_path_factory.mktemp("ca")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=skypewatch test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip
    return d / "ca.pem", d / "server.pem", d / "server.key"


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_wss_with_a_private_ca_file(private_ca, monkeypatch):
    """With the CA file the client connects and works; without it (and without the
    undocumented SSL_CERT_FILE) it says why it cannot, and keeps waiting."""
    ca, cert, key = private_ca
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async def go(with_ca: bool) -> Run:
        fake = FakeZeek([[detection(r) for r in GOOD]], tls=_server_tls(cert, key))
        async with fake as url:
            assert url.startswith("wss://")
            run = Run(url, tls=tls_context(url, ca) if with_ca else None)
            if with_ca:
                await run.until(lambda r: r.client.stats.events >= 3, "the events over TLS")
            else:
                await run.until(lambda r: bool(r.said("waiting for Zeek")), "a failed attempt")
            await run.finish()
            run.fake = fake  # type: ignore[attr-defined]
            return run

    good = asyncio.run(go(True))
    assert good.client.stats.connections == 1
    assert [ev.args[2] for ev in good.fake.notices()] == ["10.0.0.5"]  # type: ignore[attr-defined]
    bad = asyncio.run(go(False))
    assert bad.client.stats.connections == 0
    assert "certificate verify failed" in bad.said("waiting for Zeek")[0]


@pytest.mark.parametrize(
    "args, error",
    [
        (["--zeek", "ws://127.0.0.1:1", "--ca-file", "{ca}"], "--ca-file: a CA file is for wss://"),
        (["--zeek", "wss://127.0.0.1:1", "--ca-file", "{missing}"], "--ca-file: cannot use"),
        (["--zeek", "wss://127.0.0.1:1", "--ca-file", "{notpem}"], "--ca-file: cannot use"),
        (["x.log", "--ca-file", "{ca}"], "--ca-file: goes with --zeek"),
    ],
)
def test_ca_file_mistakes_are_one_line_exit_2(private_ca, tmp_path, capsys, args, error):
    from skypewatch.cli import main

    notpem = tmp_path / "notpem.txt"
    notpem.write_text("not a certificate\n")
    names = {"ca": str(private_ca[0]), "missing": str(tmp_path / "nope.pem"), "notpem": notpem}
    argv = ["correlate", *(a.format(**names) for a in args), "-o", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert error in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists(), "refused before any output"


def test_help_documents_ca_file_and_max_future(capsys):
    from skypewatch.cli import main

    assert main(["correlate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--ca-file PEM" in text and "private CA" in text
    assert "--max-future S" in text and "ahead of the wall clock are dropped" in text
