"""Legacy Skype messages built from the published layouts (docs/signatures.md#message-layouts).

Obfuscated bodies are random bytes from the caller's ``random.Random``: on the wire RC4 output
is indistinguishable from that, and a seeded generator keeps every capture reproducible.
"""

from __future__ import annotations

import random

from ..signatures.login import L1, L2
from ..signatures.sn_handshake import FIXED_SERVER_HELLO, SSLV2_HELLO_PREFIX, is_known_cleartext


def _rand(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "big") if n > 0 else b""


def type_byte(rng: random.Random, t: int) -> int:
    """``p[2]``: the type in the low nibble, bits 0x70 random
    (docs/signatures.md#message-layouts)."""
    return (rng.randrange(8) << 4) | t


def u1(rng: random.Random, ident: int, size: int = 18) -> bytes:
    """Type-0x02 probe: ID(2) type IV(4) CRC(4) body; 18 bytes in Skype 1.4."""
    return ident.to_bytes(2, "big") + bytes([type_byte(rng, 0x02)]) + _rand(rng, size - 3)


def u1_resent(rng: random.Random, u1_msg: bytes) -> bytes:
    """An unanswered U1 sent again: same ID, type and CRC, new IV, body re-encrypted."""
    return u1_msg[:3] + _rand(rng, 4) + u1_msg[7:11] + _rand(rng, len(u1_msg) - 11)


def u2(rng: random.Random, u1_msg: bytes, public_ip: bytes, challenge: bytes) -> bytes:
    """11-byte NACK: echoed ID, type 0x?7, the client's public IPv4, a challenge."""
    return u1_msg[:2] + bytes([type_byte(rng, 0x07)]) + public_ip + challenge


def u3(rng: random.Random, u1_msg: bytes, challenge: bytes, sn_ip: bytes) -> bytes:
    """Resend, U1 + 5 bytes: ID, type 0x?3, 0x01, challenge, SN IPv4, U1's CRC, body."""
    return (
        u1_msg[:2]
        + bytes([type_byte(rng, 0x03), 0x01])
        + challenge
        + sn_ip
        + u1_msg[7:11]
        + _rand(rng, len(u1_msg) - 11)
    )


def u4(rng: random.Random, size: int = 51) -> bytes:
    """Type-0x02 answer from the super node (18, 51 or 53 bytes in 1.4); its own ID."""
    return _rand(rng, 2) + bytes([type_byte(rng, 0x02)]) + _rand(rng, size - 3)


def voice_frame(rng: random.Random, size: int = 40) -> bytes:
    return _rand(rng, 2) + bytes([type_byte(rng, 0x0D)]) + _rand(rng, size - 3)


def keepalive(rng: random.Random) -> bytes:
    return _rand(rng, 2) + bytes([type_byte(rng, 0x0D)])


def login_l3(rng: random.Random, size: int = 260) -> bytes:
    """L3: a TLS-looking handshake record whose body is a Skype object list (0x41/0x42),
    coalesced with a 17 03 01 record, as seen in 2015 captures."""
    body = bytes([0x41]) + _rand(rng, size - 1)
    extra = _rand(rng, 20)
    return (
        b"\x16\x03\x01"
        + len(body).to_bytes(2, "big")
        + body
        + b"\x17\x03\x01"
        + len(extra).to_bytes(2, "big")
        + extra
    )


def login_l4(rng: random.Random, size: int = 16) -> bytes:
    body = _rand(rng, size)
    return b"\x17\x03\x01" + len(body).to_bytes(2, "big") + body


def login_record(rng: random.Random, size: int) -> bytes:
    return login_l4(rng, size)


def sslv2_hello(rng: random.Random) -> bytes:
    return SSLV2_HELLO_PREFIX + _rand(rng, 16)


def obfuscated(rng: random.Random, size: int) -> bytes:
    """RC4 from byte 0: a 4-byte seed then ciphertext -- random on the wire."""
    return _rand(rng, size)


def opaque(rng: random.Random, size: int) -> bytes:
    """Obfuscated bytes drawn again until no cleartext check (a TLS record, HTTP, SSH,
    text) could take them for anything else: whatever the seed, a connection meant to be
    opaque from byte 0 is."""
    while True:
        b = obfuscated(rng, size)
        if not is_known_cleartext(b):
            return b


def version_check(rng: random.Random, version: str, platform: int = 0) -> bytes:
    uhash = _rand(rng, 16).hex()
    return (
        f"GET /ui/{platform}/{version}/en/getlatestversion?ver={version}&uhash={uhash} HTTP/1.1\r\n"
        "User-Agent: Skype\r\nHost: ui.skype.com\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()


def version_reply(version: str) -> bytes:
    body = version.encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


__all__ = [
    "FIXED_SERVER_HELLO",
    "L1",
    "L2",
    "keepalive",
    "login_l3",
    "login_l4",
    "login_record",
    "obfuscated",
    "opaque",
    "sslv2_hello",
    "u1",
    "u1_resent",
    "u2",
    "u3",
    "u4",
    "version_check",
    "version_reply",
    "voice_frame",
]
