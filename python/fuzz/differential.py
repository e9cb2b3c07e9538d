"""Differential test of the bulk engine (``skypewatch.fastpath``) against the reference path.

``capture(seed, path)`` writes a capture that mixes Skype start-ups (a random ``synth``
scenario, with its background) with UDP flows built to hit the bulk engine's edges, on the
same hosts as the start-ups: gaps just under, at and just over the UDP timeout; connections
that open with an empty datagram, a non-Skype one or a Skype-shaped one; datagrams of the
same flow that only the full decoder takes (VLAN-tagged, or Teredo-looking: a payload that
opens with 0x00 or 0x6_); a burst of one-packet flows; packets written later than their
time (the clock is the latest time so far).  ``compare(path)`` analyses it with
both engines and returns what differs: skype.log and notice.log (without ``#open`` and
``#close``), the summary's text and figures, and whether the bulk engine ran at all.

The test suite runs a few seeds (tests/test_bulk_engine.py); ``python -m fuzz.differential
--seeds N`` runs many (``make fuzz`` runs it too).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from skypewatch.analyze import Summary, analyze, format_summary
from skypewatch.detect.tracker import TrackerOptions
from skypewatch.errors import SkypewatchError
from skypewatch.fastpath import bulk as bulk_reader
from skypewatch.synth.conditions import SCENARIOS
from skypewatch.synth.frames import udp_frame
from skypewatch.synth.messages import u1
from skypewatch.synth.pcapwriter import PcapWriter
from skypewatch.synth.scenarios import SynthOptions, stream

from .containers import write_parts, write_varied

GAPS = (0.2, 1.0, 59.0, 59.999999, 60.0, 60.000001, 61.0, 120.0, 301.0)


def _hosts(frames: list[tuple[float, bytes]]) -> list[bytes]:
    seen: dict[bytes, None] = {}
    for _, f in frames[:5000]:
        if len(f) >= 34 and f[12:14] == b"\x08\x00":
            seen[f[26:30]] = None
            seen[f[30:34]] = None
    return list(seen) or [bytes([10, 0, 0, 1])]


def _payload(rng: random.Random, kind: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "skype":
        return u1(rng, rng.getrandbits(16))
    if kind == "short":
        return rng.randbytes(rng.randint(1, 2))
    if kind == "teredo":  # decode_plain leaves it to the full decoder
        return bytes([rng.choice((0x00, 0x60, 0x65))]) + rng.randbytes(rng.randint(40, 80))
    if kind == "teredo-icmp":  # a Teredo client's ping or bubble, maybe with an origin
        nxt = rng.choice((58, 59, 6))
        body = b"" if nxt == 59 else rng.randbytes(rng.choice((8, 20)))
        ipv6 = struct.pack("!IHBB", 0x60000000, len(body), nxt, 64) + rng.randbytes(32) + body
        return (b"\x00\x00" + rng.randbytes(6) if rng.random() < 0.3 else b"") + ipv6
    # not Skype-shaped: byte 2's low nibble outside the known types
    p = bytearray(rng.randbytes(rng.randint(3, 60)))
    p[2] = (p[2] & 0xF0) | rng.choice((0x0, 0x1, 0x4, 0x6, 0x8, 0x9, 0xA, 0xB, 0xC, 0xE))
    return bytes(p)


def _no_packet(rng: random.Random, hosts: list[bytes]) -> bytes:
    """A frame of which the Decoder makes no packet, only a reason it counts (ARP, another
    ethertype, ICMP, ICMPv6, IGMP with its router alert option, ESP): it moves no clock."""
    macs = rng.randbytes(12)
    kind = rng.randrange(6)
    if kind == 0:
        return macs + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + rng.randbytes(20)
    if kind == 1:
        return macs + b"\x88\xcc" + rng.randbytes(rng.randint(0, 60))
    if kind == 2:  # ICMPv6
        body = rng.randbytes(rng.choice((8, 32)))
        return (
            macs
            + b"\x86\xdd"
            + struct.pack("!IHBB", 0x60000000, len(body), 58, 64)
            + (rng.randbytes(32) + body)
        )
    body = rng.randbytes(rng.choice((8, 40)))
    proto, opts = rng.choice(((1, b""), (2, b"\x94\x04\x00\x00"), (50, b"")))
    ip = struct.pack("!BBHHHB", 0x45 + len(opts) // 4, 0, 20 + len(opts) + len(body), 0, 0, 1)
    ip += bytes([proto]) + b"\0\0" + rng.choice(hosts) + rng.choice(hosts) + opts
    return macs + b"\x08\x00" + ip + body


def _vlan(frame: bytes) -> bytes:
    return frame[:12] + b"\x81\x00\x00\x07" + frame[12:]


@dataclass(frozen=True, slots=True)
class Generated:
    packets: int
    late: bool  # some packets are written after later-timed ones
    container: str = "pcap, link type 1"
    parts: tuple[Path, ...] = ()  # the captures it was cut into (several: analysed as one)


def capture(seed: int, path: Path, varied: bool = False) -> Generated:
    """Write the capture of *seed* to *path*: an Ethernet pcap, or with *varied* the same
    frames in a container the seed picks (containers.write_varied: pcapng, other link
    types, VLAN-tagged throughout, in PPPoE, MPLS or a tunnel), and for one seed in
    five cut into two or three captures (path.0, path.1...: ``Generated.parts``), each in a
    container of its own."""
    rng = random.Random(f"differential:{seed}")
    scenario = rng.choice(sorted(SCENARIOS))
    opts = SynthOptions(
        clients=rng.randint(1, 3),
        seed=seed,
        duration=rng.choice((60.0, 200.0, 400.0)),
        background=rng.choice((0.0, 20.0, 200.0)),
    )
    frames = list(stream(scenario, opts))
    t0 = frames[0][0] if frames else 1_600_000_000.0
    span = (frames[-1][0] - t0) if frames else 100.0
    hosts = _hosts(frames)
    kinds = ("empty", "skype", "other", "other", "other", "short", "teredo", "teredo-icmp")
    for _ in range(rng.randint(5, 60)):
        a = rng.choice(hosts) if rng.random() < 0.7 else rng.randbytes(4)
        b = rng.choice(hosts) if rng.random() < 0.5 else rng.randbytes(4)
        ap = rng.choice((53, 443, 3478, 3544, 33033, rng.randint(1024, 65535)))
        bp = rng.choice((53, 443, 3478, 3544, 33033, rng.randint(1024, 65535)))
        t = t0 + rng.uniform(-30.0, span)
        for _ in range(rng.randint(1, 12)):
            fwd = rng.random() < 0.6
            s, sp, d, dp = (a, ap, b, bp) if fwd else (b, bp, a, ap)
            f = udp_frame(s, sp, d, dp, _payload(rng, rng.choice(kinds)))
            if rng.random() < 0.1:
                f = _vlan(f)
            frames.append((t, f))
            t += rng.choice(GAPS) if rng.random() < 0.4 else rng.uniform(0.0, 5.0)
    if rng.random() < 0.3:  # a burst of one-packet flows
        t = t0 + rng.uniform(0.0, span)
        for i in range(rng.randint(100, 2000)):
            s = bytes([172, 16, i >> 8 & 0xFF, i & 0xFF])
            frames.append(
                (
                    t + i * 0.001,
                    udp_frame(s, 40000 + i % 1000, hosts[0], 53, _payload(rng, "other")),
                )
            )
    extra = random.Random(f"no-packet:{seed}")  # (the seeds' other frames as they were)
    if extra.random() < 0.5:
        for _ in range(extra.randint(1, 60)):
            f = _no_packet(extra, hosts)
            frames.append(
                (t0 + extra.uniform(-30.0, span + 200.0), _vlan(f) if extra.random() < 0.1 else f)
            )
    frames.sort(key=lambda e: e[0])  # stable: ties keep their order
    late = rng.random() < 0.3
    if late:  # late packets: written where they are, timed up to 2 min earlier, TCP ones,
        # UDP ones of Skype-typed flows and any others (most of them in flows that cannot
        # match, whose connections the bulk engine times itself)
        tcp = [k for k, (_, f) in enumerate(frames) if len(f) > 23 and f[23] == 6]
        typed = [
            k
            for k, (_, f) in enumerate(frames)
            if len(f) > 44 and f[23] == 17 and f[12:14] == b"\x08\x00" and f[44] & 0x0F == 2
        ]
        for _ in range(rng.randint(1, 40)):
            x = rng.random()
            if tcp and x < 0.3:
                k = rng.choice(tcp)
            elif typed and x < 0.5:
                k = rng.choice(typed)
            else:
                k = rng.randrange(len(frames))
            t, f = frames[k]
            back = rng.choice((0.000001, 0.001, 1.0, 30.0, 59.9, 60.0, 61.0, 120.0))
            frames[k] = (t - back, f)
    if varied:
        pick = random.Random(f"container:{seed}")
        if pick.random() < 0.2 and len(frames) > 3:
            parts, kind, reordered, n = write_parts(path, frames, pick, 1 + pick.choice((1, 2)))
            return Generated(n, late or reordered, kind, tuple(parts))
        kind, reordered, n = write_varied(path, frames, pick)
        return Generated(n, late or reordered, kind, (path,))
    with PcapWriter(path) as w:
        w.write_events(frames)
        return Generated(w.packets, late)


def log_body(path: Path | None) -> list[str]:
    """A log's lines but its ``#`` ones (``#open``/``#close`` differ from run to run)."""
    assert path is not None
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def compare(
    path: Path | list[Path],
    work: Path,
    require_bulk: bool = True,
    engines: list[str] | None = None,
    workers: int = 1,
    tracker_options: TrackerOptions | None = None,
    use_json: bool = False,
    piped: random.Random | None = None,
) -> list[str]:
    """What differs between the two engines on *path* (several: one stream) (empty:
    nothing).  With *require_bulk*, the bulk engine must have run.  *engines* gets which
    one ran.
    *workers*: the bulk engine's processes (2: fastpath/pipeline.py); *tracker_options*:
    both engines' (a small ``max_connections``: a table that fills); *use_json*: both
    write JSON logs; *piped*: the bulk engine reads the one capture from a FIFO, written
    in pieces this picks (its path is the file's in what is compared)."""
    paths = path if isinstance(path, list) else [path]
    opts = tracker_options

    def run(engine: str, out: Path, processes: int = 1) -> Summary:
        if engine == "reference" or piped is None or len(paths) != 1:
            return analyze(
                paths,
                out,
                use_json=use_json,
                engine=engine,
                workers=processes,
                tracker_options=opts,
            )
        fifo = work / "piped"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        writer = write_in_pieces(fifo, paths[0].read_bytes(), piped)
        try:
            s = analyze(
                [fifo],
                out,
                use_json=use_json,
                engine=engine,
                workers=processes,
                tracker_options=opts,
            )
        finally:
            writer.join(timeout=60)  # (it ends once the run closed the FIFO)
        if writer.is_alive():
            raise RuntimeError("the FIFO's writer is still waiting: the run never read it")
        return s

    def said(text: object) -> str:  # (the FIFO's name is the file's in what is compared)
        out = str(text)
        return out if piped is None else out.replace(str(work / "piped"), str(paths[0]))

    try:
        ref = run("reference", work / "reference")
    except SkypewatchError as exc:  # not a capture at all: the bulk engine must say the same
        try:
            run("bulk", work / "bulk", workers)
        except SkypewatchError as other:
            if (type(other), said(other)) == (type(exc), str(exc)):
                return []
            return [f"the engines fail differently: {exc!r} and {other!r}"]
        return [f"the reference fails ({exc!r}), the bulk engine does not"]
    bulk = run("bulk", work / "bulk", workers)
    if engines is not None:
        engines.append(bulk.engine)
    problems = []
    if require_bulk and not bulk.engine.startswith("bulk"):
        problems.append(f"the bulk engine did not run: {bulk.engine}")
    for name in ("skype_log", "notice_log"):
        if log_body(getattr(ref, name)) != log_body(getattr(bulk, name)):
            problems.append(f"{name} differs")
    if str(ref.truncated) != said(bulk.truncated):  # (None when whole)
        problems.append(f"the input's end differs: {ref.truncated} / {bulk.truncated}")
    if (ref.packets, ref.connections, ref.notice_count, dict(ref.undecoded)) != (
        bulk.packets,
        bulk.connections,
        bulk.notice_count,
        dict(bulk.undecoded),
    ):
        problems.append(
            f"summary figures differ: reference {ref.packets} packets, {ref.connections}"
            f" connections, {ref.notice_count} notices; bulk {bulk.packets}, {bulk.connections},"
            f" {bulk.notice_count}"
        )
    # the summary's text, but for its first line (the time taken) and its last (the paths)
    if format_summary(ref).splitlines()[1:-1] != said(format_summary(bulk)).splitlines()[1:-1]:
        problems.append("summary text differs")
    return problems


def write_in_pieces(fifo: Path, data: bytes, rng: random.Random | None) -> threading.Thread:
    """A writer of *data* into *fifo*: at once, or with *rng* in pieces of a byte to 64 KiB
    with a pause before one in fifty, as a live writer's (started; join it)."""

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb", buffering=0) as fh:
            if rng is None:
                fh.write(data)
                return
            at = 0
            while at < len(data):
                n = rng.choice((1, 7, 16, 100, 1500, 9000, 65536))
                fh.write(data[at : at + n])
                at += n
                if rng.random() < 0.02:
                    time.sleep(0.002)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def damage(path: Path, rng: random.Random) -> str:
    """One to three random damages to the capture at *path*, in place: bytes flipped in its
    first blocks or anywhere, a 32-bit word set to a length-like value, a cut; what was
    done, in a few words."""
    data = bytearray(path.read_bytes())
    done = []
    for _ in range(rng.randint(1, 3)):
        if len(data) < 8:
            break
        kind = rng.choice(("flip-head", "flip", "word", "cut"))
        at = rng.randrange(min(len(data), 400)) if kind == "flip-head" else rng.randrange(len(data))
        if kind.startswith("flip"):
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "word":
            at -= at % 4
            word = rng.choice(
                (0, 4, 8, 12, 16, 28, 32, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32))
            )
            data[at : at + 4] = word.to_bytes(4, rng.choice(("little", "big")))
        else:
            del data[at:]
        done.append(f"{kind} at {at}")
    path.write_bytes(bytes(data))
    return ", ".join(done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=200, help="how many seeds")
    ap.add_argument("--first", type=int, default=0, help="first seed")
    ap.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: no)")
    ap.add_argument(
        "--workers", type=int, choices=(1, 2), default=1, help="the bulk engine's processes"
    )
    ap.add_argument(
        "--piped",
        action="store_true",
        help="the bulk engine reads each single-file capture from a FIFO written in pieces"
        " (the bulk engine takes a pcap stream in one process, the reference anything else)",
    )
    ap.add_argument(
        "--damage",
        action="store_true",
        help="damage each capture at random first: both engines must then agree on what"
        " they read and on how they fail (the bulk engine may leave it to the reference)",
    )
    args = ap.parse_args()
    started = time.monotonic()
    failed = 0
    done = 0
    packets = 0
    in_bulk = 0
    kinds = dict.fromkeys(
        (
            "pcapng",
            "another link type",
            "tagged throughout",
            "in PPPoE, MPLS or a tunnel",
            "with IPv6 flows",
            "cut in parts",
            "with a table that filled",
        ),
        0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in range(args.first, args.first + args.seeds):
            if args.seconds and time.monotonic() - started > args.seconds:
                break
            cap = work / "capture"
            gen = capture(seed, cap, varied=True)
            packets += gen.packets
            engines: list[str] = []
            what = gen.container
            if args.damage:
                what += "; " + damage(gen.parts[0], random.Random(f"damage:{seed}"))
            # one seed in five with a table of 60-400 connections read in small chunks: the
            # bulk engine hands its skipped connections to the tracker mid-capture (with
            # --workers 2 it gives up: the reference path)
            tight = random.Random(f"tight:{seed}")
            opts = None
            if tight.random() < 0.2:
                opts = TrackerOptions(max_connections=tight.choice((60, 150, 400)))
                chunk_bytes = bulk_reader.CHUNK_BYTES
                bulk_reader.CHUNK_BYTES = tight.choice((1500, 4000, 20000))
                what += f"; {opts.max_connections} open connections at most"
            try:
                piped = random.Random(f"piped:{seed}") if args.piped else None
                problems = compare(
                    list(gen.parts),
                    work,
                    require_bulk=not args.damage
                    and not args.piped
                    and (opts is None or args.workers == 1),
                    engines=engines,
                    workers=args.workers,
                    tracker_options=opts,
                    piped=piped,
                )
            finally:
                if opts is not None:
                    bulk_reader.CHUNK_BYTES = chunk_bytes
            kinds["with a table that filled"] += bool(engines) and "taken over" in engines[0]
            done += 1
            kinds["pcapng"] += gen.container.startswith("pcapng")
            kinds["another link type"] += not gen.container.split(", ")[1].endswith(" 1")
            kinds["tagged throughout"] += ", tagged" in gen.container
            kinds["in PPPoE, MPLS or a tunnel"] += any(
                form in gen.container
                for form in ("pppoe", "mpls", "vxlan", "geneve", "gtpv1", "gre-eth", "ipip")
            )
            kinds["with IPv6 flows"] += "IPv6" in gen.container
            kinds["cut in parts"] += len(gen.parts) > 1
            in_bulk += bool(engines) and engines[0].startswith("bulk")
            if problems:
                failed += 1
                print(f"seed {seed} ({what}): " + "; ".join(problems), flush=True)
    print(
        f"differential: {done} seeds ({packets:,} packets), {failed} with a difference,"
        f" {in_bulk} analysed by the bulk engine,"
        f" {time.monotonic() - started:.0f} s; " + ", ".join(f"{v} {k}" for k, v in kinds.items())
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
