"""User-facing errors: each one renders as a single line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


def one_line(text: str) -> str:
    """*text* as one printable line: line breaks and other control characters escaped (a file
    name may hold a newline; a message quoting it must still be one line)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SkypewatchError(Exception):
    """An error caused by the user's input, reported without a traceback (exit code 2).
    Its text is always one line, whatever file names or values it quotes."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class CaptureError(SkypewatchError):
    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CaptureTruncated(CaptureError):
    """The capture cannot be read past ``byte_offset``: it ends inside a record, or (with
    *damaged*) its structure is broken there.  Everything before ``packet_index`` was readable.
    """

    def __init__(
        self,
        path: str | Path,
        packet_index: int,
        byte_offset: int,
        why: str,
        *,
        damaged: bool = False,
    ) -> None:
        self.packet_index = packet_index
        self.byte_offset = byte_offset
        self.damaged = damaged
        kind = "damaged" if damaged else "truncated"
        super().__init__(
            path,
            f"{kind} capture: {why} at packet {packet_index + 1} (byte offset {byte_offset});"
            f" the {packet_index} packets before it were analysed",
        )
