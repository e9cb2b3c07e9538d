"""Benchmark the live correlator against a hostile WebSocket peer: peak memory under a ping
flood whose pongs are never read, and the time from a protocol error to the next connection.
Not a test: it prints figures.

    python python/benchmarks/bench_live_flood.py [--seconds 30] [--errors 3] [--stops 3]

* ping flood: the peer acks the subscription, stops reading and sends 125-byte pings as fast
  as the correlator takes them, for --seconds, again on every reconnect.  Printed: the
  correlator's resident memory before the flood and its peak (VmHWM) at the end, the
  connections it made and the pings it was sent.
* protocol error: the peer sends a frame with a reserved opcode and then keeps the connection
  open and silent; printed: the seconds from that frame to the correlator's next connection
  (--errors times).  The first back-off is 0.5 s.
* stop: connected to a quiet peer, SIGTERM; printed: the seconds from the signal to the exit
  (--stops times; the README promises under a second).

The correlator runs as ``python -m skypewatch correlate --zeek`` in a subprocess; to measure
an older checkout, run it with PYTHONPATH=<that checkout>/python/src.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING = b"\x89\x7d" + b"p" * 125  # an unmasked ping frame with a 125-byte payload


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The WebSocket upgrade and Zeek's ack, by hand (the client's topic frame is skipped)."""
    request = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    _, b1 = await reader.readexactly(2)
    size = b1 & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    await reader.readexactly(4 + size)  # mask and the topic list
    ack = json.dumps({"type": "ack", "endpoint": "bench", "version": "8.0.10"}).encode()
    writer.write(bytes([0x81, len(ack)]) + ack)
    await writer.drain()


def rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of *pid* in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


class Correlator:
    def __init__(self, url: str, out: Path) -> None:
        env = dict(os.environ)
        env.setdefault("PYTHONPATH", str(SRC))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skypewatch", "correlate", "--zeek", url, "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.strip().splitlines()[-1] if err.strip() else ""


async def ping_flood(seconds: float) -> None:
    connections, sent = [], [0]
    first = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(time.monotonic())
        try:
            await handshake(reader, writer)
            if not first.done():
                first.set_result(None)
                await asyncio.sleep(1.0)  # the baseline is measured now
            writer.transport.pause_reading()
            while True:
                writer.write(PING * 64)
                sent[0] += 64
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        c = Correlator(f"ws://127.0.0.1:{port}", Path(out))
        await asyncio.wait_for(first, 30)
        await asyncio.sleep(0.5)
        base, _ = rss(c.proc.pid)
        t0 = time.monotonic()
        peak_seen = base
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.1)
            now, _ = rss(c.proc.pid)
            peak_seen = max(peak_seen, now)
        _, hwm = rss(c.proc.pid)
        server.close()
        last = await asyncio.to_thread(c.stop)
    print(f"ping flood, {seconds:g} s, pongs never read:")
    print(f"  resident memory before the flood  {base / 1024:8.1f} MiB")
    print(f"  peak resident memory (VmHWM)      {hwm / 1024:8.1f} MiB")
    print(f"  growth                            {(hwm - base) / 1024:8.1f} MiB")
    mib = sent[0] * len(PING) / 2**20
    print(f"  pings sent to it                  {sent[0]:>10,} ({mib:,.0f} MiB)")
    print(f"  connections                       {len(connections):>10}")
    print(f"  its last line: {last[:200]}")


async def protocol_errors(count: int) -> None:
    opened: list[float] = []
    errors: list[float] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(time.monotonic())
        try:
            await handshake(reader, writer)
            await asyncio.sleep(0.2)
            errors.append(time.monotonic())
            writer.write(b"\x83\x01x")  # opcode 3: reserved
            await writer.drain()
            while await reader.read(65536):  # silent, never closes: only the client may
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        c = Correlator(f"ws://127.0.0.1:{port}", Path(out))
        deadline = time.monotonic() + 60 * count
        while len(opened) <= count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        server.close()
        await asyncio.to_thread(c.stop)
    delays = [b - a for a, b in zip(errors, opened[1:], strict=False)]
    print(f"protocol error (reserved opcode), then a silent open connection, {count} times:")
    if delays:
        print(
            f"  seconds to the next connection: {', '.join(f'{d:.2f}' for d in delays)}"
            f" (median {statistics.median(delays):.2f}; the back-off doubles from 0.5 s)"
        )
    if len(delays) < count:
        print(f"  only {len(delays)} reconnect(s) within {60 * count} s")


async def stops(count: int) -> None:
    times: list[float] = []
    for _ in range(count):
        connected = asyncio.get_running_loop().create_future()

        async def serve(
            reader: asyncio.StreamReader,
            writer: asyncio.StreamWriter,
            connected: asyncio.Future = connected,
        ) -> None:
            try:
                await handshake(reader, writer)
                connected.set_result(None)
                while await reader.read(65536):
                    pass
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with tempfile.TemporaryDirectory() as out:
            c = Correlator(f"ws://127.0.0.1:{port}", Path(out))
            await asyncio.wait_for(connected, 30)
            await asyncio.sleep(0.5)  # connected and idle
            t0 = time.monotonic()
            c.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(c.proc.wait, 30)
            times.append(time.monotonic() - t0)
            c.stop()
        server.close()
    print(f"stop (SIGTERM) while connected and idle, {count} times:")
    print(f"  seconds to the exit: {', '.join(f'{t:.2f}' for t in times)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="length of the ping flood")
    p.add_argument("--errors", type=int, default=3, help="protocol errors to time")
    p.add_argument("--stops", type=int, default=3, help="stops to time")
    args = p.parse_args()
    if args.seconds > 0:
        asyncio.run(ping_flood(args.seconds))
    if args.errors:
        asyncio.run(protocol_errors(args.errors))
    if args.stops:
        asyncio.run(stops(args.stops))


if __name__ == "__main__":
    main()
