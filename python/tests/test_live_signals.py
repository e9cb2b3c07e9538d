"""``skypewatch correlate --zeek`` as a real process: SIGTERM and SIGINT end it with exit 0
within a second in every state -- connected and idle, connecting to a peer that accepted TCP
but never answers the WebSocket handshake, looking up a name the resolver never answers, in
back-off after a refused connection, in the middle of a frame, during a flood -- and the
pending notices are written, and sent to Zeek when it is connected."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets
from zeek_wire import GOOD, FakeZeek, InThread, detection, hostile_frames, send, startup

from skypewatch.zeeklog import read_log

SIGNALS = ["SIGTERM", "SIGINT"]
LIMIT = 1.0  # seconds from the signal to the exit: the promise in the README


class LiveProcess:
    """The CLI in a subprocess, its stderr lines collected as they come."""

    def __init__(self, url: str, out: Path, python: list[str] | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        args = ["correlate", "--zeek", url, "-o", str(out)]
        self.proc = subprocess.Popen(
            [sys.executable, *(python or ["-m", "skypewatch"]), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, what: Callable[[], bool] | str, timeout: float = 20.0) -> None:
        test = (lambda: any(what in line for line in self.err)) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while not test():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"never got there; stderr: {self.err[-5:]}")
            time.sleep(0.02)

    def stop(self, sig: str) -> float:
        """Send *sig*; the seconds until the process has exited."""
        t0 = time.monotonic()
        self.proc.send_signal(getattr(signal, sig))
        try:
            self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        elapsed = time.monotonic() - t0
        for t in self._threads:
            t.join(5)
        return elapsed


def _check_exit(c: LiveProcess, elapsed: float, out: Path) -> None:
    assert c.proc.returncode == 0, c.err[-5:]
    assert elapsed < LIMIT, f"took {elapsed:.2f}s to stop"
    assert c.err[-1].startswith("skypewatch: stopped: "), c.err[-3:]
    assert not any("Traceback" in line for line in c.err)
    assert (out / "notice.log").read_text().rstrip().splitlines()[-1].startswith("#close")


@pytest.mark.parametrize("sig", SIGNALS)
def test_connected_and_idle(tmp_path, sig):
    """The start-up's notice is pending (it waits for two minutes of quiet): the stop sends it
    to Zeek before closing, and writes it to notice.log."""
    fake = FakeZeek([[detection(r) for r in GOOD]])

    async def start():
        url = await fake.__aenter__()
        return url, lambda: fake.__aexit__(None, None, None)

    with InThread(start) as server:
        # by name: the lookup runs in a thread of the correlator's own (see the next test)
        c = LiveProcess(server.url.replace("127.0.0.1", "localhost"), tmp_path)
        c.wait_for("connected to Zeek")
        c.wait_for(lambda: fake.sent == len(GOOD))
        time.sleep(0.3)  # let it take the frames in
        elapsed = c.stop(sig)
        time.sleep(0.1)
        received = fake.notices()
    _check_exit(c, elapsed, tmp_path)
    assert [ev.args[2] for ev in received] == ["10.0.0.5"]
    assert received[0].name == "Skype::correlated_notice"
    _, rows = read_log(tmp_path / "notice.log")
    assert [r["src"] for r in rows] == ["10.0.0.5"]
    assert any(line.endswith("[sent to Zeek]") for line in c.out)
    assert "3 events used" in c.err[-1]


@pytest.mark.parametrize("sig", SIGNALS)
def test_connecting_to_a_silent_peer(tmp_path, sig):
    """TCP accepted, the WebSocket handshake never answered (was 8.4 s)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        c = LiveProcess(f"ws://127.0.0.1:{port}", tmp_path)
        c.wait_for(lambda: bool(accepted))
        time.sleep(0.3)
        elapsed = c.stop(sig)
    finally:
        listener.close()
        for s in accepted:
            s.close()
    _check_exit(c, elapsed, tmp_path)
    assert "0 connection(s)" in c.err[-1]


@pytest.mark.parametrize("sig", SIGNALS)
def test_resolving_a_name_that_never_answers(tmp_path, sig):
    """asyncio looks names up in its default executor, whose thread the exit waits for."""
    hang = (
        "import socket, sys, time\n"
        "real = socket.getaddrinfo\n"
        "def lookup(host, *a, **k):\n"
        "    if host == 'zeek.example':\n"
        "        time.sleep(60)\n"
        "    return real(host, *a, **k)\n"
        "socket.getaddrinfo = lookup\n"
        "from skypewatch.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    c = LiveProcess("ws://zeek.example:27759", tmp_path, python=["-c", hang])
    c.wait_for("waiting for Zeek at ws://zeek.example:27759")
    time.sleep(0.3)
    elapsed = c.stop(sig)
    _check_exit(c, elapsed, tmp_path)


@pytest.mark.parametrize("sig", SIGNALS)
def test_in_backoff_after_a_refused_connection(tmp_path, sig):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens there
    c = LiveProcess(f"ws://127.0.0.1:{port}", tmp_path)
    c.wait_for("retrying in 1.0s")  # the second wait: surely sleeping now
    elapsed = c.stop(sig)
    _check_exit(c, elapsed, tmp_path)
    assert any("Connect call failed" in line or "refused" in line for line in c.err)


@pytest.mark.parametrize("sig", SIGNALS)
def test_in_the_middle_of_a_frame(tmp_path, sig):
    """Zeek sent the header of a 4 KB text frame and 10 bytes of it, then nothing."""
    connected = threading.Event()

    async def handler(ws) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "ack", "endpoint": "e", "version": "8.0.10"}))
        ws.transport.write(b"\x81\x7e\x10\x00" + b'{"type": "')
        connected.set()
        await asyncio.sleep(3600)

    async def start():
        server = await websockets.serve(handler, "127.0.0.1", 0)

        async def cleanup():
            server.close(close_connections=False)
            for conn in list(server.connections):
                conn.transport.abort()

        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", cleanup

    with InThread(start) as server:
        c = LiveProcess(server.url, tmp_path)
        c.wait_for(lambda: connected.is_set() and any("connected" in e for e in c.err))
        time.sleep(0.3)
        elapsed = c.stop(sig)
    _check_exit(c, elapsed, tmp_path)


@pytest.mark.parametrize("sig", SIGNALS)
def test_during_a_flood(tmp_path, sig):
    """Zeek sends as fast as it can: hostile frames mixed with the start-ups of ever new
    clients.  The stop comes through, the stats line counts the drops, notices reached Zeek."""
    cheap = [h.frame for h in hostile_frames() if len(h.frame) < 20_000]
    sent = [0]
    received: list[dict] = []

    async def handler(ws) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "ack", "endpoint": "e", "version": "8.0.10"}))

        async def read() -> None:
            async for raw in ws:
                received.append(json.loads(raw))

        reader = asyncio.ensure_future(read())
        try:
            i = 0
            while True:
                i += 1
                for r in startup(f"10.1.{i >> 8 & 255}.{i & 255}", 1000.0 + 10 * i, str(i)):
                    await ws.send(detection(r))
                for frame in cheap:
                    await send(ws, frame)
                sent[0] += 3 + len(cheap)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            reader.cancel()

    async def start():
        server = await websockets.serve(handler, "127.0.0.1", 0, compression=None)

        async def cleanup():
            server.close()
            await server.wait_closed()

        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", cleanup

    with InThread(start) as server:
        c = LiveProcess(server.url, tmp_path)
        # Wait on what the correlator has done, not on what the server queued: under load
        # the sender runs far ahead of the reader.
        c.wait_for(
            lambda: (
                sent[0] > 5000
                and sum(m.get("type") == "data-message" for m in list(received)) >= 40
            ),
            timeout=120,
        )
        elapsed = c.stop(sig)
        time.sleep(0.1)
    _check_exit(c, elapsed, tmp_path)
    stats = c.err[-1]
    dropped = dict(
        (k, int(v.replace(",", ""))) for k, v in re.findall(r"([a-z-]+) ([\d,]+)", stats)
    )
    for reason in ("too-deep", "bad-number", "malformed", "bad-arguments", "unknown-event"):
        assert dropped.get(reason, 0) > 0, stats
    assert "internal-error" not in stats
    notices = [m for m in received if m.get("type") == "data-message"]
    assert notices, "notices for the flood's clients reached Zeek"
    assert int(re.search(r"([\d,]+) events used", stats).group(1).replace(",", "")) > 100


@pytest.mark.parametrize("sig", SIGNALS)
def test_when_zeek_stops_reading(tmp_path, sig):
    """Thousands of notices pending at the stop, and a Zeek that takes none of them after the
    first few kilobytes: the stop still comes within the second, and every notice is in
    notice.log -- sent or not."""
    clients = 5000
    frames = [
        detection(r)
        for i in range(clients)
        for r in startup(f"10.2.{i >> 8}.{i & 255}", 1000.0 + i / 1000, str(i))
    ]
    frames.append("not json")  # the mark: once it is dropped, every event was taken in

    async def handler(ws) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "ack", "endpoint": "e", "version": "8.0.10"}))
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()  # and never read again (max_queue=1: nor does the library)

    async def start():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind(("127.0.0.1", 0))
        server = await websockets.serve(handler, sock=sock, max_queue=1)

        async def cleanup():
            for conn in list(server.connections):  # not reading, it would not see the end
                conn.transport.abort()
            server.close()
            await server.wait_closed()

        return f"ws://127.0.0.1:{sock.getsockname()[1]}", cleanup

    with InThread(start) as server:
        c = LiveProcess(server.url, tmp_path)
        c.wait_for("dropped a frame (malformed): not JSON", timeout=60)
        elapsed = c.stop(sig)
    _check_exit(c, elapsed, tmp_path)
    sent, kept = map(
        int, re.search(r"(\d+) notice\(s\) sent to Zeek, (\d+) kept", c.err[-1]).groups()
    )
    assert kept > 0 and sent + kept == clients, c.err[-1]
    _, rows = read_log(tmp_path / "notice.log")
    assert len({r["src"] for r in rows}) == clients
    assert sum(line.endswith("kept in notice.log]") for line in c.out) == kept
