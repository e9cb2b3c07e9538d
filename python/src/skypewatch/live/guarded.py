"""The WebSocket connection of a live run, hardened against a peer that will not read or will
not close."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import ClientConnection


class GuardedConnection(ClientConnection):
    """A client connection whose memory and half-closed time a peer cannot stretch.

    websockets answers every ping with a pong (and a close frame with a close frame) straight
    into the transport's write buffer, without flow control: a peer that pings and never reads
    made it grow by ~25 MB/s.  Here, past ``write_buffer_max`` bytes waiting to be sent, the
    connection is aborted (``stalled`` says so).  And after a protocol error (a reserved
    opcode, a frame over ``max_size``) websockets sends its close frame and waits for the
    server to close TCP, which a hostile or broken peer never does (nothing noticed it until
    the next keepalive ping, up to 20 s later): here the connection is aborted at once, and a
    close the peer started gets ``close_timeout`` to finish."""

    write_buffer_max = 1 << 20  # set per run by ZeekBridge (a subclass with its limit)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalled = 0  # bytes waiting when the connection was aborted for it, else 0
        self._close_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        transport = self.transport
        if transport.is_closing():
            return
        waiting = transport.get_write_buffer_size()
        if waiting > self.write_buffer_max:
            self.stalled = waiting
            transport.abort()
        elif self.protocol.close_expected():
            if self.protocol.close_rcvd is None:  # we failed the connection: nothing to wait for
                transport.abort()
            elif self._close_timer is None:
                self._close_timer = self.loop.call_later(self.close_timeout or 0.0, transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        super().connection_lost(exc)


def guarded(write_buffer_max: int) -> type[GuardedConnection]:
    """The connection class for ``connect(create_connection=...)`` with this buffer limit."""
    return type("GuardedConnection", (GuardedConnection,), {"write_buffer_max": write_buffer_max})
