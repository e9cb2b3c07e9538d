"""correlation/localnets.py: the default inside networks are Zeek's Site::private_address_space
(what Zeek 8 puts in Site::local_nets), and membership agrees with ipaddress."""

from __future__ import annotations

import ipaddress
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from skypewatch.correlation.localnets import (
    DEFAULT_LOCAL_NETS,
    ZEEK_PRIVATE_ADDRESS_SPACE,
    LocalNets,
    expand,
)


def _site_zeek() -> Path:
    cfg = shutil.which("zeek-config")
    if cfg is None:
        pytest.skip("zeek-config not on PATH: the list was not compared with Zeek's site.zeek")
    out = subprocess.run([cfg, "--script_dir"], capture_output=True, text=True, check=False)
    path = Path(out.stdout.strip()) / "base" / "utils" / "site.zeek"
    if not path.exists():
        pytest.skip(f"{path} is absent: the list was not compared with Zeek's site.zeek")
    return path


def _private_space(text: str) -> list[str]:
    """The subnets of ``option private_address_space: set[subnet] = { ... };``."""
    body = text.split("option private_address_space", 1)[1].split("};", 1)[0]
    body = "\n".join(line.split("#", 1)[0] for line in body.splitlines())  # comments out
    return [
        m.replace("[", "").replace("]", "") for m in re.findall(r"[\[\]0-9a-fA-F.:]+/\d+", body)
    ]


def test_default_is_zeeks_private_address_space():
    text = _site_zeek().read_text()
    assert "const private_address_space_is_local = T" in text  # so local_nets gets the list
    theirs = _private_space(text)
    assert len(theirs) > 20
    assert {str(ipaddress.ip_network(n)) for n in theirs} == {
        str(ipaddress.ip_network(n)) for n in ZEEK_PRIVATE_ADDRESS_SPACE
    }
    assert set(DEFAULT_LOCAL_NETS) == set(ZEEK_PRIVATE_ADDRESS_SPACE)


def test_the_parser_reads_zeeks_syntax():
    """The check above rests on this parser: it must read bracketed IPv6 and skip comments."""
    text = (
        "option private_address_space: set[subnet] = {\n"
        "  # 10.0.0.0/8 as a 6to4 address, see :rfc:`1918`\n"
        "  10.0.0.0/8,\n  [2002:a00::]/24,\n  [::1]/128,\n};\noption local_nets: set[subnet] = {};"
    )
    assert _private_space(text) == ["10.0.0.0/8", "2002:a00::/24", "::1/128"]


def test_membership_agrees_with_ipaddress():
    rng = random.Random(9)
    local = LocalNets()
    nets = [ipaddress.ip_network(n) for n in DEFAULT_LOCAL_NETS]
    samples = [
        "192.168.1.2", "86.128.245.115", "198.51.100.7", "203.0.113.9", "100.64.0.1",
        "100.128.0.1", "2001:db8::1", "2002:a00::1", "2003::1", "fe80::1", "::1", "::",
        "224.0.0.251", "224.0.1.1", "255.255.255.255", "0.1.2.3",
    ]  # fmt: skip
    for _ in range(3000):
        samples.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        samples.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
        samples.append(str(ipaddress.IPv6Address((0x2002 << 112) | rng.getrandbits(112))))
    for a in samples:
        ip = ipaddress.ip_address(a)
        assert (a in local) == any(ip in n for n in nets), a
    mask = local.mask(samples)
    assert mask.tolist() == [a in local for a in samples]
    assert 0 < mask.sum() < len(samples)


@pytest.mark.parametrize(
    "spec",
    [
        ["0.0.0.0/0"],
        ["10.0.0.0/7", "172.16.0.0/12"],  # /7: two whole first octets
        ["96.0.0.0/3", "200.0.0.0/9"],  # wider than /8; part of one octet
        ["8.0.0.0/8", "8.8.8.0/24", "::/0"],
        ["1.2.3.4/32"],
    ],
)
def test_first_octet_shortcuts_agree_with_ipaddress(spec):
    """Whole first octets inside, octets no network reaches, and the rest looked up per
    prefix: the same answers as ipaddress, for every first octet and for text that is no
    address but starts like one."""
    rng = random.Random(len(spec))
    local = LocalNets(spec)
    nets = [ipaddress.ip_network(n) for n in spec]
    for first in range(256):
        for _ in range(8):
            a = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
            ip = ipaddress.ip_address(a)
            assert (a in local) == any(ip in n for n in nets), (spec, a)
        for bad in (f"{first}.1.2", f"{first}.1.2.256", f"{first}.x.1.1", f"0{first}.1.1.1"):
            assert bad not in local, (spec, bad)
    assert ("8.8.8.8" in local) == ("8.0.0.0/8" in spec or "0.0.0.0/0" in spec)


def test_not_an_address_is_not_inside():
    local = LocalNets()
    for v in (None, "", "not-an-ip", "10.0.0.300", 7, float("nan")):
        assert v not in local
    assert LocalNets(["10.0.0.0/8"]).mask([None, "10.1.1.1", "x"]).tolist() == [False, True, False]


def test_ipv4_mapped_is_ipv4():
    """Zeek keeps ::ffff:a.b.c.d as the IPv4 address a.b.c.d: 10.0.0.0/8 holds it."""
    local = LocalNets(["10.0.0.0/8"])
    assert "::ffff:10.1.2.3" in local and "::ffff:11.1.2.3" not in local


def test_private_keyword_and_replacement():
    assert expand(["private", "1.2.3.0/24"]) == (*ZEEK_PRIVATE_ADDRESS_SPACE, "1.2.3.0/24")
    only = LocalNets(["1.2.3.0/24"])
    assert "1.2.3.4" in only and "192.168.1.2" not in only  # --local-nets replaces the default
    both = LocalNets(["private", "1.2.3.0/24"])
    assert "1.2.3.4" in both and "192.168.1.2" in both
