"""The bulk decoder (fastpath/bulk.decode_chunk) against the reference Decoder, frame by frame.

A frame decode_chunk marks plain must be one the Decoder turns into exactly that packet and
nothing else (no undecoded reason, no tunnel inside); a frame it leaves goes to the Decoder
anyway, so leaving one is never wrong, only slower.  The frames: a synthesized start-up's
TCP and UDP, behind no, one, two and three VLAN tags of every kind, in every link type the
bulk reader takes, then cut short and with header bytes flipped at random, and random bytes.
"""

from __future__ import annotations

import random
import struct

import pytest
from conftest import BULK_LINK_TYPES

from fuzz.containers import relinked
from skypewatch.fastpath import bulk
from skypewatch.packets.capture import read_capture
from skypewatch.packets.decode import VLAN_TAGS, Decoder, Packet


def _pcap(frames: list[bytes], link_type: int = 1) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1_600_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


def _tagged(frame: bytes, tags: list[int], rng: random.Random) -> bytes:
    inner = b"".join(struct.pack("!HH", t, rng.randrange(4096)) for t in tags)
    return frame[:12] + inner + frame[12:]


def _row(d: bulk.Decoded, buf: bytes, i: int) -> Packet:
    return (
        int(d.proto[i]),
        int(d.src[i]).to_bytes(4, "big"),
        int(d.sport[i]),
        int(d.dst[i]).to_bytes(4, "big"),
        int(d.dport[i]),
        int(d.flags[i]),
        int(d.seq[i]),
        buf[int(d.pay_start[i]) : int(d.pay_end[i])],
        int(d.ack[i]),
        int(d.wire[i]),
    )


def _frames(source, rng: random.Random, link_type: int) -> tuple[list[bytes], list[bool]]:
    """Frames, and for each whether it is a whole TCP/UDP frame behind at most two tags
    (one decode_chunk must take: else the test could pass with nothing taken)."""
    base = [f for _ts, _link, f in read_capture(source)]
    base = rng.sample(base, min(len(base), 400))
    frames: list[bytes] = []
    expect: list[bool] = []
    for f in base:
        plain = len(f) >= 54 and f[12:14] == b"\x08\x00" and f[14] == 0x45 and f[23] in (6, 17)
        for depth in range(4):
            tagged = relinked(
                _tagged(f, [rng.choice(VLAN_TAGS) for _ in range(depth)], rng), link_type
            )
            if tagged is None:
                continue
            frames.append(tagged)
            # (a UDP datagram that a tunnel analyzer might claim is the Decoder's)
            expect.append(plain and depth <= 2 and f[23] == 6)
            cut = tagged[: rng.randrange(len(tagged) + 1)]
            frames.append(cut)
            expect.append(False)
            flipped = bytearray(tagged)
            for _ in range(rng.randrange(1, 4)):
                flipped[rng.randrange(min(len(flipped), 70))] = rng.randrange(256)
            frames.append(bytes(flipped))
            expect.append(False)
    for _ in range(200):
        frames.append(rng.randbytes(rng.randrange(120)))
        expect.append(False)
    return frames, expect


@pytest.mark.parametrize("link_type", BULK_LINK_TYPES)
@pytest.mark.parametrize(("seed", "chunk_bytes"), [(0, 200), (1, 5000), (2, 1 << 22)])
def test_a_plain_frame_is_what_the_decoder_makes_of_it(
    tmp_path, monkeypatch, startup_pcap, seed, chunk_bytes, link_type
):
    rng = random.Random(seed)
    frames, expect = _frames(startup_pcap, rng, link_type)
    path = tmp_path / "f.pcap"
    path.write_bytes(_pcap(frames, link_type))
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk_bytes)
    k = 0
    taken = 0
    missed = 0
    for c in bulk.chunks(path):
        d = bulk.decode_chunk(c)
        for i in range(c.data.size):
            frame = frames[k]
            k += 1
            if not d.plain[i]:
                # only a frame that begins within the chunk's last bytes may be left
                missed += expect[k - 1]
                continue
            taken += 1
            dec = Decoder()
            assert dec.frame(0.0, link_type, frame) == [_row(d, c.buf, i)], frame.hex()
            assert not dec.undecoded
    assert k == len(frames)
    wanted = sum(expect)
    assert taken >= wanted - missed and wanted > 10
    # a chunk leaves at most its last frame to the Decoder
    assert missed <= (len(_pcap(frames, link_type)) // chunk_bytes + 1)


def test_a_frame_at_the_end_of_the_bytes_is_left_to_the_decoder(tmp_path):
    """The last frame of a chunk may begin too near the end for decode_chunk's reads: it is
    not decoded from bytes read elsewhere.  Here those would say IPv4 (the first record's
    length field reads 08 00 where a frame's type would be) and the last frame is an ARP
    frame whose body looks like an IPv4 TCP header."""
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    first = bytes(60)
    ip = bytes.fromhex("4500002800010000400600000a0000010a000002")
    tcp = ip + bytes(12) + b"\x50\x10" + bytes(6)  # data offset 20, ACK
    arp = bytes(12) + b"\x08\x06" + tcp
    data = head + struct.pack("<IIII", 1, 0, len(first), 8) + first
    data += struct.pack("<IIII", 2, 0, len(arp), len(arp)) + arp
    path = tmp_path / "arp.pcap"
    path.write_bytes(data)
    (c,) = bulk.chunks(path)
    assert c.buf[12:14] == b"\x08\x00"
    d = bulk.decode_chunk(c)
    assert d.plain.tolist() == [False, False]
    assert Decoder().frame(0.0, 1, arp) == []
