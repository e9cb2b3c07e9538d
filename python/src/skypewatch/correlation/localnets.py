"""Which addresses are inside the protected network: the Python side of Zeek's
``Site::local_nets``.

Zeek 8 starts ``Site::local_nets`` empty and, because ``Site::private_address_space_is_local``
is ``T`` by default, copies ``Site::private_address_space`` into it at ``zeek_init``
(base/utils/site.zeek).  ``DEFAULT_LOCAL_NETS`` is that list, as Zeek 8.0 writes it, so that the
Python tools with no ``--local-nets`` call the same hosts inside as the package under a Zeek with
no ``redef`` of its own.  It includes the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32): Zeek counts them as private, and so does skypewatch.

``--local-nets`` *replaces* this list (a Zeek ``redef Site::local_nets`` keeps the private
space as well, unless ``Site::private_address_space_is_local`` is ``F``: give ``private`` among
the networks for the same effect).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and pandas come with the analyst extra; the correlator needs neither
    import numpy as np

# Zeek 8.0's Site::private_address_space (scripts/base/utils/site.zeek), in its order.
# tests/test_localnets.py holds it to the installed Zeek's site.zeek when Zeek is there.
ZEEK_PRIVATE_ADDRESS_SPACE: tuple[str, ...] = (
    "0.0.0.0/8",
    "2002::/24",
    "10.0.0.0/8",
    "2002:a00::/24",
    "100.64.0.0/10",
    "2002:6440::/26",
    "127.0.0.0/8",
    "2002:7f00::/24",
    "169.254.0.0/16",
    "2002:a9fe::/32",
    "172.16.0.0/12",
    "2002:ac10::/28",
    "192.0.0.0/24",
    "2002:c000::/40",
    "192.0.2.0/24",
    "2002:c000:200::/40",
    "192.168.0.0/16",
    "2002:c0a8::/32",
    "198.18.0.0/15",
    "2002:c612::/31",
    "198.51.100.0/24",
    "2002:c633:6400::/40",
    "203.0.113.0/24",
    "2002:cb00:7100::/40",
    "224.0.0.0/24",
    "2002:e000::/40",
    "239.0.0.0/8",
    "2002:ef00::/24",
    "240.0.0.0/4",
    "2002:f000::/20",
    "255.255.255.255/32",
    "2002:ffff:ffff::/48",
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:2::/48",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
)

DEFAULT_LOCAL_NETS: tuple[str, ...] = ZEEK_PRIVATE_ADDRESS_SPACE
"""Inside unless told otherwise: Zeek 8's default ``Site::local_nets``."""

PRIVATE = "private"
"""A word ``--local-nets`` takes for the whole of ``DEFAULT_LOCAL_NETS``."""


def expand(nets: Iterable[str]) -> tuple[str, ...]:
    """*nets* with the word ``private`` replaced by Zeek's private address space."""
    out: list[str] = []
    for n in nets:
        out.extend(ZEEK_PRIVATE_ADDRESS_SPACE if n.strip().lower() == PRIVATE else (n,))
    return tuple(out)


class LocalNets:
    """Membership in a set of networks, by address text, fast enough for every row of a big
    log: per address family, the network numbers of each prefix length in a set (a lookup per
    distinct prefix length), and a bounded cache of answers."""

    __slots__ = ("_cache", "_inside_octets", "_outside_octets", "_v4", "_v6", "networks")

    def __init__(self, nets: Iterable[str] = DEFAULT_LOCAL_NETS) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in expand(nets))
        self._v4: dict[int, set[int]] = {}
        self._v6: dict[int, set[int]] = {}
        for n in self.networks:
            table, width = (self._v4, 32) if n.version == 4 else (self._v6, 128)
            bits = n.prefixlen
            table.setdefault(bits, set()).add(int(n.network_address) >> (width - bits))
        self._cache: dict[str, bool] = {}
        # IPv4 first octets (as canonical text) that no network reaches, and those a network
        # of /8 or wider covers whole: most addresses are answered without the per-prefix
        # look-ups (text that is no address is outside whichever way it is answered)
        reach: set[int] = set()
        whole: set[int] = set()
        for n in self.networks:
            if n.version == 4:
                first = int(n.network_address) >> 24
                octets = range(first, first + (1 << max(0, 8 - n.prefixlen)))
                reach.update(octets)
                if n.prefixlen <= 8:
                    whole.update(octets)
        self._outside_octets = frozenset(str(o) for o in range(256) if o not in reach)
        self._inside_octets = frozenset(str(o) for o in whole)

    def __contains__(self, addr: object) -> bool:
        """Whether *addr* (address text; anything else is not inside) is in the networks."""
        if not isinstance(addr, str):
            return False
        known = self._cache.get(addr)
        if known is not None:
            return known
        local = self._lookup(addr)
        if len(self._cache) >= 65536:  # bounded: a flood of addresses just parses again
            self._cache.clear()
        self._cache[addr] = local
        return local

    def _lookup(self, addr: str) -> bool:
        if ":" in addr:
            try:
                n = int.from_bytes(socket.inet_pton(socket.AF_INET6, addr.split("%")[0]), "big")
            except OSError:
                return False
            v4 = ipaddress.IPv6Address(n).ipv4_mapped  # Zeek keeps ::ffff:a.b.c.d as IPv4
            if v4 is None:
                return any(n >> (128 - bits) in nets for bits, nets in self._v6.items())
            n = int(v4)
        else:
            head = addr.partition(".")[0]
            if head in self._outside_octets:
                return False
            try:
                packed = socket.inet_pton(socket.AF_INET, addr)
            except OSError:
                return False
            if head in self._inside_octets:
                return True
            n = int.from_bytes(packed, "big")
        return any(n >> (32 - bits) in nets for bits, nets in self._v4.items())

    def mask(self, values: object) -> np.ndarray:
        """A boolean array: which of *values* (a column of address text, missing cells
        allowed) are inside.  Each distinct address is looked up once."""
        import numpy as np
        import pandas as pd

        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        inside = np.fromiter((u in self for u in uniques), dtype=bool, count=len(uniques))
        out = np.zeros(len(codes), dtype=bool)
        known = codes >= 0
        out[known] = inside[codes[known]]
        return out
