"""The network conditions of the seed study, and the named scenarios built from them.

Ehlert and Petgang observed Skype behind a modified NAT and firewall: an open network, a
client behind NAT, UDP blocked, TCP above 1024 blocked, a restricted login server, automatic
login on restart, and a local super node relaying for outside clients.
"""

from __future__ import annotations

from dataclasses import dataclass

EPOCH = 1156519200.0  # 2006-08-25, the day SkypeIRC.cap was captured


@dataclass(frozen=True, slots=True)
class Conditions:
    version: str = "1.4"  # "1.4": U1 18 B, U4 18/51/53 B; "2.0": sizes vary
    nat: bool = False  # client behind NAT: U2 names the NAT's public address
    udp_blocked: bool = False  # probes leave, no answer returns
    tcp_high_blocked: bool = False  # UDP and TCP above 1024 blocked: 80/443 fallback
    login_restricted: bool = False  # the login server's own port is blocked: 443 fallback
    restart: bool = False  # a second start-up later: automatic login, public IP known
    call: bool = True  # a voice call after login (needs UDP)
    firewall_all: bool = False  # nothing from outside comes back, not even the version check
    known_nodes: bool = False  # after login, opaque TCP to the proven nodes on other ports


SCENARIOS: dict[str, tuple[str, Conditions]] = {
    "open-1.4": ("open network, Skype 1.4 message sizes", Conditions()),
    "open-2.0": ("open network, Skype 2.0 (U1 and U4 sizes vary)", Conditions(version="2.0")),
    "nat": ("client behind NAT; U2 carries the NAT address", Conditions(nat=True)),
    "udp-blocked": (
        "UDP blocked: unanswered probes, then TCP",
        Conditions(udp_blocked=True, call=False),
    ),
    "tcp-high-blocked": (
        "UDP and TCP above 1024 blocked: raw 80 and TLS look-alike 443",
        Conditions(udp_blocked=True, tcp_high_blocked=True, call=False),
    ),
    "login-restricted": (
        "login server port blocked: login over 443",
        Conditions(login_restricted=True),
    ),
    "autologin": ("automatic login again on restart", Conditions(restart=True)),
    "local-supernode": ("a local host relays for outside clients", Conditions()),
    "all-blocked": (
        "a firewall drops every packet to the outside: probes, then SN port, 443, 80",
        Conditions(version="2.0", udp_blocked=True, firewall_all=True, call=False),
    ),
    "known-nodes": (
        "open start-up, then opaque TCP to the proven login server and super node",
        Conditions(known_nodes=True, call=False),
    ),
}
