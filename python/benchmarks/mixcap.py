"""Large benchmark captures built from the shared real captures.

Each round writes every frame of the chosen captures, merged by their time from the
capture's start, with every IPv4 address shifted per round so that each round brings new
hosts and connections, as a sensor sees them.  Optional *rare* captures join only every
*rare_every*-th round: that sets how much of the traffic they are.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = Path(os.environ.get("SKYPEWATCH_SHARED", REPO.parent / "shared")) / "pcaps"
DATA = HERE / "data"

sys.path.insert(0, str(REPO / "python" / "src"))
from skypewatch.packets.capture import read_capture  # noqa: E402
from skypewatch.synth.frames import checksum  # noqa: E402

SKYPE = ["skype/SkypeIRC.cap", "skype/skype.pcap"]
COMMON = [
    "benign/bittorrent.pcap",
    "benign/quic.pcap",
    "benign/443-firefox.pcap",
    "benign/zoom.pcap",
    "benign/openvpn.pcap",
]
BENIGN_ALL = [
    "benign/443-chrome.pcap",
    "benign/443-firefox.pcap",
    "benign/bittorrent.pcap",
    "benign/bittorrent_utp.pcap",
    "benign/dns-tunnel-iodine.pcap",
    "benign/dns.pcap",
    "benign/dtls.pcap",
    "benign/edonkey.pcap",
    "benign/gquic.pcap",
    "benign/http.pcapng",
    "benign/irc.pcap",
    "benign/openvpn.pcap",
    "benign/quic.pcap",
    "benign/rtp.pcapng",
    "benign/sip.pcap",
    "benign/stun.pcap",
    "benign/stun_classic.pcap",
    "benign/teredo.pcap",
    "benign/wireguard.pcap",
    "benign/zoom.pcap",
    "modern/skype-conference-call.pcap",
]
# A sensor dense in short, mostly UDP connections (name resolution, QUIC and DTLS set-ups,
# Teredo, STUN: about 98,000 connections per million packets, four in five UDP): the
# densest captures several times a round, each copy on its own addresses ("NAME*COPIES").
DENSE_UDP = [
    "benign/dns.pcap*40",
    "benign/gquic.pcap*40",
    "benign/teredo.pcap*10",
    "benign/dtls.pcap*5",
    "benign/stun_classic.pcap*5",
    "benign/wireguard.pcap*2",
    "benign/http.pcapng*5",
    "benign/443-chrome.pcap*10",
    "benign/sip.pcap",
    "benign/stun.pcap",
    "benign/rtp.pcapng",
    "benign/bittorrent_utp.pcap",
    "benign/bittorrent.pcap",
    "benign/zoom.pcap",
    "benign/quic.pcap",
]


def frames(sources: list[str]) -> list[tuple[float, bytes]]:
    """Ethernet frames of *sources*, each timed from its capture's start, merged.

    A source named ``NAME*K`` comes K times, copy k with k added to the second byte of
    every IPv4 address (hosts no round's shift of the low 16 bits can reach)."""
    out = []
    for entry in sources:
        rel, _, copies = entry.partition("*")
        path = SHARED / rel
        if not path.exists():
            continue
        # some samples splice sessions recorded years apart: cap every gap at 10 s
        t, prev = 0.0, None
        for ts, link, f in read_capture(path):
            if link != 1:
                continue
            if prev is not None:
                t += min(max(ts - prev, 0.0), 10.0)
            prev = ts
            out.extend((t, _copy(f, k)) for k in range(int(copies or 1)))
    return sorted(out, key=lambda x: x[0])


def _copy(frame: bytes, k: int) -> bytes:
    """*frame* with k added to the second byte of its IP addresses (k = 0: unchanged)."""
    ip, ethertype = 14, frame[12:14]
    while ethertype == b"\x81\x00" and len(frame) >= ip + 4:  # VLAN and QinQ tags
        ethertype, ip = frame[ip + 2 : ip + 4], ip + 4
    if ethertype == b"\x88\x64" and frame[ip + 6 : ip + 8] == b"\x00\x21":  # PPPoE, IPv4
        ethertype, ip = b"\x08\x00", ip + 8
    if k == 0 or ethertype not in (b"\x08\x00", b"\x86\xdd") or len(frame) < ip + 40:
        return frame
    f = bytearray(frame)
    v4 = ethertype == b"\x08\x00"
    for off in (13, 17) if v4 else (9, 25):  # second byte of the source and destination
        f[ip + off] = (f[ip + off] + k) & 0xFF
    if v4:
        ihl = (f[ip] & 0x0F) * 4
        f[ip + 10 : ip + 12] = b"\0\0"
        f[ip + 10 : ip + 12] = checksum(bytes(f[ip : ip + ihl])).to_bytes(2, "big")
    return bytes(f)


def _shifted(frame: bytes, shift: int) -> bytes:
    if frame[12:14] != b"\x08\x00" or len(frame) < 34:
        return frame
    f = bytearray(frame)
    for off in (28, 32):  # IPv4 src, dst: add the shift to the low 16 bits
        low = (f[off] << 8 | f[off + 1]) + shift
        f[off], f[off + 1] = (low >> 8) & 0xFF, low & 0xFF
    ihl = (f[14] & 0x0F) * 4
    f[24:26] = b"\0\0"
    f[24:26] = checksum(bytes(f[14 : 14 + ihl])).to_bytes(2, "big")
    return bytes(f)


def build(
    path: Path,
    packets: int,
    sources: list[str],
    rare: list[str] | None = None,
    rare_every: int = 1,
) -> int:
    """Write ``packets`` frames: *sources* every round, *rare* every *rare_every* rounds."""
    plain = frames(sources)
    with_rare = sorted(plain + frames(rare), key=lambda x: x[0]) if rare else plain
    if not plain and not with_rare:
        sys.exit(f"no source captures under {SHARED}")
    written = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        rnd, start = 0, 1_600_000_000.0
        while written < packets:
            base = with_rare if rnd % rare_every == 0 else plain
            shift = (rnd * 7919) & 0xFFFF
            for rel_ts, frame in base:
                if written >= packets:
                    break
                ts = start + rel_ts
                frame = _shifted(frame, shift)
                fh.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame), len(frame)))
                fh.write(frame)
                written += 1
            start += (base[-1][0] if base else 0.0) + 1.0
            rnd += 1
    tmp.replace(path)  # a half-built file never passes for a finished one
    return written
