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
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
SRC = HERE / "src"
sys.path.insert(0, str(HERE / "tests"))
from zeek_wire import RawPeer  # noqa: E402  (the live tests' hand-made Zeek peer)

PING = b"\x89\x7d" + b"p" * 125  # an unmasked ping frame with a 125-byte payload


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
    sent = [0]
    first = asyncio.get_running_loop().create_future()

    async def flood(peer: RawPeer, n: int) -> None:
        if not first.done():
            first.set_result(None)
            await asyncio.sleep(1.0)  # the baseline is measured now
        writer = peer.writers[n]
        writer.transport.pause_reading()
        while True:
            writer.write(PING * 64)
            sent[0] += 64
            await writer.drain()

    peer = RawPeer(flood)
    with tempfile.TemporaryDirectory() as out:
        async with peer as url:
            c = Correlator(url, Path(out))
            await asyncio.wait_for(first, 30)
            await asyncio.sleep(0.5)
            base, _ = rss(c.proc.pid)
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                await asyncio.sleep(0.1)
            _, hwm = rss(c.proc.pid)
            last = await asyncio.to_thread(c.stop)
    print(f"ping flood, {seconds:g} s, pongs never read:")
    print(f"  resident memory before the flood  {base / 1024:8.1f} MiB")
    print(f"  peak resident memory (VmHWM)      {hwm / 1024:8.1f} MiB")
    print(f"  growth                            {(hwm - base) / 1024:8.1f} MiB")
    mib = sent[0] * len(PING) / 2**20
    print(f"  pings sent to it                  {sent[0]:>10,} ({mib:,.0f} MiB)")
    print(f"  connections                       {len(peer.opened):>10}")
    print(f"  its last line: {last[:200]}")


async def protocol_errors(count: int) -> None:
    errors: list[float] = []

    async def reserved_opcode_then_silence(peer: RawPeer, n: int) -> None:
        await asyncio.sleep(0.2)
        errors.append(time.monotonic())
        peer.writers[n].write(b"\x83\x01x")  # opcode 3: reserved
        await peer.writers[n].drain()
        while await peer.readers[n].read(65536):  # silent, never closes: only the client may
            pass

    peer = RawPeer(reserved_opcode_then_silence)
    with tempfile.TemporaryDirectory() as out:
        async with peer as url:
            c = Correlator(url, Path(out))
            deadline = time.monotonic() + 60 * count
            while len(peer.opened) <= count and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(c.stop)
    delays = [b - a for a, b in zip(errors, peer.opened[1:], strict=False)]
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

        async def idle(peer: RawPeer, n: int, connected: asyncio.Future = connected) -> None:
            connected.set_result(None)
            await peer.read_until_closed(n)

        with tempfile.TemporaryDirectory() as out:
            async with RawPeer(idle) as url:
                c = Correlator(url, Path(out))
                await asyncio.wait_for(connected, 30)
                await asyncio.sleep(0.5)  # connected and idle
                t0 = time.monotonic()
                c.proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(c.proc.wait, 30)
                times.append(time.monotonic() - t0)
                c.stop()
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
