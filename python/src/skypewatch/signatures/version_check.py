"""The HTTP version check to ui.skype.com at every start (docs/signatures.md#http_version_check)."""

from __future__ import annotations

import re

from ..connections.connection import Connection
from ..skypelog import Stage, Strength
from .base import Hit

STAGE = Stage.VERSION_CHECK
# The same expressions as the Zeek package's skype-version-* signatures, anchored at the
# start of the client's stream.
VERSION_URI = re.compile(
    rb"^(?:GET|HEAD|POST) (?:http://ui\.skype\.com)?/ui/([0-9]+)/([0-9][0-9.]*)/"
    rb"[A-Za-z][A-Za-z][^/\r\n]*/(getlatestversion\?ver=([0-9.]+)|getnewestversion|installed)"
)
ABSOLUTE_URI = re.compile(rb"^(?:GET|HEAD|POST) http://ui\.skype\.com/")
HOST_HEADER = re.compile(rb"^[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*[Hh][Oo][Ss][Tt]:[ \t]*ui\.skype\.com")
SKYPE_AGENT = re.compile(
    rb"^[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*[Uu][Ss][Ee][Rr]-[Aa][Gg][Ee][Nn][Tt]:[ \t]*Skype[^U]"
)
PLATFORMS = {b"0": "Windows", b"2": "Linux", b"3": "Mac"}


def version_hits(conn: Connection) -> list[Hit]:
    o = conn.orig_stream
    hits: list[Hit] = []
    u = VERSION_URI.match(o)
    if u and (ABSOLUTE_URI.match(o) or HOST_HEADER.match(o)):
        version = (u.group(4) or u.group(2)).decode()
        platform = PLATFORMS.get(u.group(1), f"platform {u.group(1).decode()}")
        kind = u.group(3).split(b"?")[0].decode()
        hits.append(
            Hit(
                "http_version_check",
                STAGE,
                Strength.LIKELY,
                f"{kind} request to ui.skype.com: Skype {version} for {platform}",
                skype_version=version,
            )
        )
    # (the expression needs "Skype" verbatim: a search for it is cheaper than the match's
    # walk over the headers, on every TCP stream judged)
    if b"Skype" in o and SKYPE_AGENT.match(o):
        hits.append(
            Hit("skype_user_agent", STAGE, Strength.POSSIBLE, "HTTP User-Agent starts with 'Skype'")
        )
    return hits
