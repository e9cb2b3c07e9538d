"""The network plumbing of a live run, apart from the protocol: which URL to connect to, the
TLS context for ``wss://``, and an event loop whose name lookups cannot hold up the exit."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .values import clip


def websocket_url(url: str) -> str:
    """ws://host:port -> ws://host:port/v1/messages/json (the JSON v1 endpoint)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # "ws://host:99999", "ws://host:x"
        port = -1
    if parts.scheme not in ("ws", "wss") or not parts.hostname or port == -1 or port == 0:
        raise ValueError(f"not a WebSocket URL: {clip(url)} (expected ws://HOST:PORT)")
    path = parts.path if parts.path not in ("", "/") else "/v1/messages/json"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class PromptLoop(asyncio.SelectorEventLoop):
    """The event loop for a live run: its name lookups run in daemon threads.  asyncio's own
    run in its default executor, which is joined when the loop closes, so a resolver that
    hangs would hold up the exit (for 30 s and more) after the stop."""

    async def getaddrinfo(  # the same call as the loop's, answered from a thread
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> Any:
        done = self.create_future()

        def settle(result: Any, failed: bool) -> None:
            if not done.done():
                (done.set_exception if failed else done.set_result)(result)

        def lookup() -> None:
            result: object  # the addresses, or the exception to raise in the loop
            try:
                result, failed = socket.getaddrinfo(host, port, family, type, proto, flags), False
            except Exception as exc:
                result, failed = exc, True
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self.call_soon_threadsafe(settle, result, failed)

        threading.Thread(target=lookup, name="skypewatch-resolver", daemon=True).start()
        return await done


def tls_context(url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context for *url*: None for ``ws://`` (and ``wss://`` with the system's CAs),
    else one that trusts the certificates in *ca_file* (PEM) as well as the system's.
    ValueError, in one line, for a file that cannot be used or a ``ws://`` URL."""
    if ca_file is None:
        return None
    if urlsplit(url).scheme != "wss":
        raise ValueError(f"a CA file is for wss:// URLs, not {clip(url)}")
    try:
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ValueError(f"cannot use {clip(str(ca_file))} as a CA file: {why}") from None
    return ctx
