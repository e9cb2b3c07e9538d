"""The legacy Skype UDP message layout every UDP check shares (docs/signatures.md#message-layouts).

Bytes 0-1 are a session id that a reply echoes; byte 2 is the function: its MSB and low nibble
are the message type, bits 0x70 are random.
"""

from __future__ import annotations

U1_MIN = 18  # U1 is 18 bytes in Skype 1.4, longer in later versions
U2_LEN = 11  # id(2) type(1) public_ip(4) challenge(4)
U3_GROWTH = 5  # U3 = U1 + 5
U4_LENGTHS_1_4 = (18, 51, 53)

TYPE_MASK = 0x8F  # the deterministic part of byte 2
NIBBLE_MASK = 0x0F  # the type without the high bit (set in some NACKs)
PROBE = 0x02  # U1, U3, U4: "type 2"
U2_NIBBLES = (0x07, 0x05)  # the reply that carries the client's public IP
U3_NIBBLE = 0x03
VOICE = 0x0D  # end-to-end voice frames
# Every type the signatures use; a flow whose first datagram has none of them is not inspected.
KNOWN_TYPES = frozenset((0x02, 0x03, 0x05, 0x07, 0x0D, 0x0F))
# The same types by low nibble only: a NACK's high bit may be set.
KNOWN_NIBBLES = frozenset(t & NIBBLE_MASK for t in KNOWN_TYPES)


def worth_inspecting(first: bytes) -> bool:
    """Whether a UDP flow whose first payload datagram is *first* can match any signature.

    Everything else -- DNS, most random-looking traffic -- costs one look and no state, in
    Zeek (no signature's first byte pattern matches) as here.
    """
    return len(first) >= 3 and first[2] & NIBBLE_MASK in KNOWN_NIBBLES


def ptype(p: bytes) -> int:
    """The message type of a datagram of at least three bytes."""
    return p[2] & TYPE_MASK


def is_type2(p: bytes) -> bool:
    """U1-sized and of type 2: a U1, U3 or a U4 reply."""
    return len(p) >= U1_MIN and p[2] & TYPE_MASK == PROBE
