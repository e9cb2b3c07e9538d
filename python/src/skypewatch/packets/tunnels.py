"""Tunnel headers Zeek 8.0 decodes by default: where the inner packet starts, or why not.

Each parser takes the tunnel's bytes (a GRE packet, or a UDP payload) and returns an
``Inner`` -- ``(ETHERNET or IP, offset of the inner frame)`` -- or a string saying why nothing
is forwarded (Zeek's weird or analyzer violation for the same case), or None when the
tunnel carries no packet and that is normal (an AYIYA control message, a GTP signalling
message).  The rules follow Zeek's packet analyzers (src/packet_analysis/protocol/*): the
same header checks, the same inner link types, the same refusals.  Pure functions: the
decoder owns depth limits, counting and the inner decode.
"""

from __future__ import annotations

import re
import struct

ETHERNET = 1
IP = 2  # raw IP: version from the first nibble, as Zeek's IP analyzer reads it
Inner = tuple[int, int]
Result = Inner | str | None

_u16 = struct.Struct("!H").unpack_from

GRE_IN_UDP_PORT = 4754  # PacketAnalyzer::GRE::gre_ports
VXLAN_PORT = 4789
GENEVE_PORT = 6081
TEREDO_PORT = 3544
AYIYA_PORT = 5072
GTPV1_PORTS = (2152, 2123)
# protocols in a GRE or Geneve header that carry an Ethernet frame
TRANSPARENT_ETHERNET = 0x6558
ERSPAN_2 = 0x88BE  # ERSPAN type I, or II with a sequence number
ERSPAN_3 = 0x22EB


def gre(data: bytes) -> Result:
    """GRE (RFC 2784/2890) version 0 with IP, transparent Ethernet or ERSPAN I/II/III
    inside, and version 1 (PPTP) with IP inside (GRE.cc)."""
    n = len(data)
    if n < 4:
        return "truncated GRE"
    flags, proto = struct.unpack_from("!HH", data)
    version = flags & 0x7
    hdr = 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
    hdr += 4 if flags & 0x0080 else 0
    kind, skip = IP, 0
    if version == 0:
        if proto == TRANSPARENT_ETHERNET:
            if n <= hdr + 14:
                return "truncated GRE"
            kind = ETHERNET
        elif proto == ERSPAN_2:
            if n <= hdr + 14:
                return "truncated GRE"
            kind = ETHERNET
            skip = 8 if flags & 0x1000 else 0
        elif proto == ERSPAN_3:
            if n <= hdr + 14 + 12:
                return "truncated GRE"
            kind, skip = ETHERNET, 12
            if data[hdr + 11] & 0x01:  # the optional platform-specific subheader
                if n <= hdr + 12 + 8 + 14:
                    return "truncated GRE"
                skip += 8
        elif (
            ((proto & 0x8200) == 0x8200 and not proto & 0x0F)
            or ((proto & 0x8300) == 0x8300 and not proto & 0x0F and proto <= 0x8370)
            or proto == 0x9000
        ):
            return "802.11 in GRE (Aruba)"  # Zeek hands it to its 802.11 analyzer
    elif version == 1:
        if proto != 0x880B:
            return "GRE version 1 without PPTP"
        skip = 4  # the PPP header of PPTP
    else:
        return "unknown GRE version"
    if flags & 0x4000:
        return "GRE routing"
    if flags & 0x0078:
        return "unknown GRE flags"
    if n < hdr + skip + (14 if kind == ETHERNET else 0):
        return "truncated GRE"
    if version == 1:
        ppp = _u16(data, hdr + 2)[0]
        if ppp not in (0x0021, 0x0057):
            return "non-IP in PPTP"
        inner = data[hdr + skip :]
        if not _exact_ip(inner, 4 if ppp == 0x0021 else 6):
            return "bad IP in PPTP"
    return kind, hdr + skip


def vxlan(data: bytes) -> Result:
    if len(data) < 8:
        return "truncated VXLAN"
    if not data[0] & 0x08:
        return "VXLAN I flag not set"
    if len(data) == 8:
        return "empty VXLAN"
    return ETHERNET, 8


def geneve(data: bytes) -> Result:
    n = len(data)
    if n < 8:
        return "truncated Geneve"
    if data[0] >> 6:
        return "unknown Geneve version"
    hdr = 8 + (data[0] & 0x3F) * 4
    if n < hdr:
        return "truncated Geneve"
    if n == hdr:
        return "empty Geneve"
    proto = _u16(data, 2)[0]
    if proto == TRANSPARENT_ETHERNET:
        return ETHERNET, hdr
    if proto in (0x0800, 0x86DD):
        return IP, hdr
    if proto == 0x0806:
        return "ARP in Geneve"
    return "unknown protocol in Geneve"


def ayiya(data: bytes) -> Result:
    n = len(data)
    if n < 8:
        return "truncated AYIYA"
    hdr = 8 + (1 << (data[0] >> 4)) + (data[1] >> 4) * 4
    if n < hdr:
        return "truncated AYIYA"
    if data[2] & 0x0F != 1:  # not "forward": a control message
        return None
    if n == hdr:
        return "empty AYIYA"
    if data[3] not in (4, 41):
        return "unknown protocol in AYIYA"
    return IP, hdr


def looks_like_ayiya(data: bytes) -> bool:
    """Zeek's AYIYA protocol detection, tried on UDP datagrams on any port."""
    return len(data) >= 3 and data[1] == 0x52 and data[2] == 0x11


# Zeek's Teredo detection pattern (from the old dpd_teredo signature): an IPv6 header whose
# source or destination is in 2001:0::/32, then at least its fixed length.
_TEREDO_RE = re.compile(
    rb"[\x60-\x6f].{7}\x20\x01\x00\x00.{28}|[\x60-\x6f].{23}\x20\x01\x00\x00.{12}", re.S
)


def looks_like_teredo(data: bytes) -> bool:
    """Zeek's Teredo protocol detection (TeredoAnalyzer::DetectProtocol), tried on UDP
    datagrams on any port."""
    n = len(data)
    if n < 40 or (data[0] >> 4 != 6 and (data[0] != 0 or data[1] not in (0, 1))):
        return False
    if _TEREDO_RE.fullmatch(data):  # Zeek matches the pattern against the whole datagram
        return True
    pos = 0
    if data[1] == 1:  # an authentication header, then an origin indication
        skip = 13 + data[2] + data[3]
        if n < skip:
            return False
        pos = skip
        if n - pos < 40:
            return False
        if _u16(data, pos)[0] != 0:
            return False
    elif data[1] != 0:
        return False
    if n - pos < 8 + 40:
        return False
    return data[pos + 8] >> 4 == 6


def teredo(data: bytes) -> Result:
    """Teredo (RFC 4380): optional authentication and origin indication, then IPv6."""
    pos, origin, auth = 0, False, False
    n = len(data)
    while True:
        if n - pos < 2:
            return "truncated Teredo"
        tag = _u16(data, pos)[0]
        if tag == 0:
            if origin or n - pos < 8:
                return "bad Teredo"
            origin, pos = True, pos + 8
        elif tag == 1:
            if origin or auth or n - pos < 4:
                return "bad Teredo"
            total = 4 + data[pos + 2] + data[pos + 3] + 8 + 1
            if n - pos < total:
                return "bad Teredo"
            auth, pos = True, pos + total
        elif tag >> 12 == 6:
            break
        else:
            return "bad Teredo"
    if n - pos < 40:
        return "bad Teredo"
    plen = _u16(data, pos + 4)[0]
    have = n - pos - 40
    if have < plen:
        return "bad Teredo"
    if have > plen and not (plen == 0 and data[pos + 6] == 59):  # only a bubble may
        return "bad Teredo"
    return IP, pos


def gtpv1(data: bytes) -> Result:
    """GTPv1-U G-PDUs (message type 255); signalling messages carry no packet."""
    n = len(data)
    if n < 8:
        return "truncated GTPv1"
    flags = data[0]
    if flags >> 5 != 1:
        return "bad GTPv1"
    if data[1] != 255:
        return None
    pos = 8
    if flags & 0x07:
        pos = 12
        if n < pos:
            return "truncated GTPv1"
    if flags & 0x04:  # extension headers until one says no more follow
        while True:
            if n < pos + 1:
                return "truncated GTPv1"
            size = data[pos] * 4
            if size < 2 or n < pos + size:
                return "truncated GTPv1"
            pos += size
            if data[pos - 1] == 0:
                break
    inner = data[pos:]
    if len(inner) < 20:
        return "truncated GTPv1"
    version = inner[0] >> 4
    if version not in (4, 6) or not _exact_ip(inner, version):
        return "bad IP in GTPv1"
    return IP, pos


def _exact_ip(inner: bytes, version: int) -> bool:
    """Whether ``inner`` is one whole IP packet of this version (Zeek's ParsePacket OK)."""
    if version == 6:
        return len(inner) >= 40 and inner[0] >> 4 == 6 and 40 + _u16(inner, 4)[0] == len(inner)
    return len(inner) >= 20 and inner[0] >> 4 == 4 and _u16(inner, 2)[0] == len(inner)
