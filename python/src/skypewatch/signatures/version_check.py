"""The HTTP version check to ui.skype.com at every start (signatures.md §2.6, SKH-HTTP)."""

from __future__ import annotations

import re

from ..connection import Connection
from .base import LIKELY, POSSIBLE, Hit

STAGE = "version_check"
SKYPE_HOST = b"ui.skype.com"
_REQUEST = re.compile(rb"^(GET|HEAD|POST) (\S+) HTTP/1\.[01]\r?\n")
_URI = re.compile(
    rb"^(?:https?://ui\.skype\.com)?/ui/(\d+)/([0-9][0-9.]*)/([A-Za-z]{2}[^/]*)/"
    rb"(getlatestversion\?ver=([0-9.]+)|getnewestversion|installed)"
)
_HEADER = re.compile(rb"\r?\n([A-Za-z-]+):[ \t]*([^\r\n]*)")
PLATFORMS = {b"0": "Windows", b"2": "Linux", b"3": "Mac"}


def version_hits(conn: Connection) -> list[Hit]:
    o = conn.orig_stream
    m = _REQUEST.match(o)
    if not m:
        return []
    headers = {k.lower(): v for k, v in _HEADER.findall(o[: o.find(b"\r\n\r\n") + 2 or None])}
    host = headers.get(b"host", b"").split(b":")[0].strip().lower()
    uri = m.group(2)
    hits: list[Hit] = []
    u = _URI.match(uri)
    if u and (host == SKYPE_HOST or uri.startswith(b"http://ui.skype.com")):
        version = (u.group(5) or u.group(2)).decode()
        platform = PLATFORMS.get(u.group(1), f"platform {u.group(1).decode()}")
        kind = u.group(4).split(b"?")[0].decode()
        hits.append(
            Hit(
                "http_version_check",
                STAGE,
                LIKELY,
                f"{kind} request to ui.skype.com: Skype {version} for {platform}",
                skype_version=version,
            )
        )
    agent = headers.get(b"user-agent", b"")
    if agent.startswith(b"Skype") and not agent.startswith(b"SkypeUriPreview"):
        hits.append(Hit("skype_user_agent", STAGE, POSSIBLE, "HTTP User-Agent starts with 'Skype'"))
    return hits
