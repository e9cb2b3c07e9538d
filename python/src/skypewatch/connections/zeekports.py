"""Which end of a connection Zeek calls the originator when it did not see the start.

Zeek orients a new connection by its first packet, except when that packet cannot have
opened it: a UDP datagram or a TCP segment without a bare SYN coming *from* a port in
``likely_server_ports`` (the ports Zeek's analyzers register for) towards one that is not.
Then it flips the roles (``UDPAnalyzer::WantConnection``, ``TCPAnalyzer::WantConnection``).
skype.log names the same originator as conn.log, so the Python engine flips the same way.

The sets are Zeek 8.0.10's defaults (``zeek -e 'for (p in likely_server_ports) print p;'``);
tests/test_engine_parity.py compares them with the Zeek on PATH.
"""

from __future__ import annotations

from ..packets.decode import TCP

LIKELY_SERVER_TCP = frozenset(
    {
        21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 443, 445, 502, 563, 585, 587, 614,
        631, 636, 989, 990, 992, 993, 995, 1080, 1883, 2811, 3128, 3389, 5222, 5223, 5269,
        6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
    }
)  # fmt: skip
LIKELY_SERVER_UDP = frozenset(
    {
        53, 67, 88, 123, 137, 161, 162, 443, 514, 1812, 2123, 2152, 3389, 3544, 4789, 5060,
        5072, 5353, 5355, 6081, 20000,
    }
)  # fmt: skip
_SYN, _ACK = 0x02, 0x10


def zeek_flips(proto: int, flags: int, sport: int, dport: int) -> bool:
    """True if Zeek makes the *receiver* of this first packet the connection's originator."""
    if proto != TCP:
        return sport in LIKELY_SERVER_UDP and dport not in LIKELY_SERVER_UDP
    if flags & _SYN:
        # A bare SYN opened it.  A SYN-ACK's receiver becomes the originator as soon as an
        # ACK or data follows (TCP_Endpoint::CheckHistory); only a stealth scan's SYN-ACK,
        # answered by a RST, keeps its sender, and such a connection carries no payload.
        return bool(flags & _ACK)
    if sport not in LIKELY_SERVER_TCP:
        return False
    if dport in LIKELY_SERVER_TCP:
        return not flags & _SYN and sport < dport
    return True
