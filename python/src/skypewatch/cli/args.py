"""Argument types for the command line: every value is checked where argparse reads it.

Each type refuses what would make a command crash, hang or run without end (``nan``, ``inf``,
numbers beyond what the option can mean, thousands of digits, empty text) with an
``argparse.ArgumentTypeError``; :class:`OneLineParser` turns that into one line on stderr and
exit code 2, before any work starts.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn
from urllib.parse import urlsplit

from ..correlation.localnets import DEFAULT_LOCAL_NETS, PRIVATE
from ..errors import one_line

# Times beyond this are no capture's (pandas' nanosecond clock ends in 2262).
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_MAX_TEXT = 200  # how much of a refused value an error message repeats
_INTEGER = re.compile(r"([+-]?)([0-9]+)")

# Upper bounds of the numeric options: far beyond any sensible setting, well inside what the
# engine's clocks and tables can mean.
DAY = 86_400.0
MAX_WINDOW = DAY  # timeouts, probe window, notice settle time
MAX_REORDER = 7 * DAY
MAX_FANOUT_PEERS = 1_000
MAX_SEED = 2**64 - 1


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "...")


def _num(value: float) -> str:
    return f"{int(value):,}" if value.is_integer() else f"{value:g}"


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line (the usage synopsis is one ``--help`` away), exit code 2."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes arguments as given ("unrecognized arguments: a<newline>b")
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def real(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with *low_open*)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {_shown(text)}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {_shown(text)}")
        if value < low or value > high or (low_open and value == low):
            lower = f"greater than {_num(low)}" if low_open else f"at least {_num(low)}"
            raise argparse.ArgumentTypeError(
                f"must be {lower} and at most {_num(high)}, not {_shown(text)}"
            )
        return value

    parse.__name__ = "number"
    return parse


def seconds(high: float) -> Callable[[str], float]:
    """A positive, finite number of seconds up to *high*."""
    return real(0.0, high, low_open=True)


def whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number in ``[low, high]``, written in decimal digits."""

    def parse(text: str) -> int:
        match = _INTEGER.fullmatch(text.strip())
        if match is None:
            raise argparse.ArgumentTypeError(f"not a whole number: {_shown(text)}")
        sign, digits = match.groups()
        digits = digits.lstrip("0") or "0"
        # thousands of digits: refused by their count, before int() spends time on them
        if len(digits) > len(str(max(abs(low), abs(high)))):
            raise argparse.ArgumentTypeError(
                f"must be between {low:,} and {high:,}, not a {len(digits)}-digit number"
            )
        value = int(sign + digits)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, not {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def network(text: str) -> str:
    """An address or CIDR network (host bits allowed); returned as given."""
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address or network: {_shown(text)}") from None
    return text.strip()


def networks(text: str) -> tuple[str, ...]:
    """``CIDR[,CIDR...]``: at least one network, each valid; host bits allowed and cleared
    (``192.168.1.2/24`` is ``192.168.1.0/24``), so what reads them may be strict.  The word
    ``private`` stands for Zeek's Site::private_address_space (correlation/localnets.py)."""
    nets = tuple(n.strip() for n in text.split(",") if n.strip())
    if not nets:
        raise argparse.ArgumentTypeError("give at least one network (CIDR[,CIDR...])")
    out: list[str] = []
    for n in nets:
        if n.lower() == PRIVATE:
            out.extend(DEFAULT_LOCAL_NETS)
            continue
        try:
            out.append(str(ipaddress.ip_network(n, strict=False)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(n)} is not a network") from None
    return tuple(out)


# ISO 8601's basic format: 20060825, 20060825T1200, 20060825T120000.5Z, ...+0200.  All digits
# as the date is, it is a date, not 20 million epoch seconds.
_ISO_BASIC = re.compile(
    r"[0-9]{8}(?:T[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[.,][0-9]+)?)?)?(?:Z|[+-][0-9]{2}(?:[0-9]{2})?)?)?"
)


def timestamp(text: str) -> str:
    """ISO 8601 (UTC unless it names an offset; extended or basic format) or epoch seconds,
    between 1970 and 2200.

    Returned as given, or for the basic format in the extended one (``2006-08-25T00:00:00``):
    the query parses it again at full precision, and would take eight digits for seconds."""
    s = text.strip()
    if _ISO_BASIC.fullmatch(s):
        try:
            basic = datetime.fromisoformat(s.replace(",", "."))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a date: {_shown(text)}") from None
        if not 1970 <= basic.year < _LATEST.year:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not between 1970 and 2200")
        return basic.isoformat()
    try:
        epoch: float | None = float(s)
    except ValueError:
        epoch = None
    if epoch is not None:
        if not math.isfinite(epoch) or not 0 <= epoch < _LATEST.timestamp():
            raise argparse.ArgumentTypeError(
                f"epoch seconds must be finite and between 0 and {_LATEST.timestamp():.0f},"
                f" not {_shown(text)}"
            )
        return s
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {_shown(text)} (use ISO 8601 or epoch seconds)"
        ) from None
    # compare the wall-clock fields before any conversion: year 1 minus an offset overflows
    if not 1970 <= t.year < _LATEST.year:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not between 1970 and 2200")
    return s


def websocket(text: str) -> str:
    """``ws://HOST:PORT`` or ``wss://...``, port 1-65535 when given."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: {exc}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"not a WebSocket URL: {_shown(text)} (expected ws://HOST:PORT)"
        )
    if port == 0:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: port must be 1-65535")
    return text.strip()


LOCAL_NETS_HELP = (
    "the default is Zeek 8's Site::local_nets, its private address space (RFC 1918, shared,"
    " loopback, link-local, documentation, benchmarking, multicast and reserved blocks, IPv4 and"
    " IPv6); the networks given replace it, and 'private' stands for it"
    " ('private,192.0.0.0/8' adds to it). Mirrors Zeek's Site::local_nets"
)


def local_nets_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--local-nets``: which hosts are inside; *what* says what it decides here."""
    parser.add_argument(
        "--local-nets",
        type=networks,
        default=None,
        metavar="CIDR[,CIDR...]",
        help=f"networks inside the site ({what}); {LOCAL_NETS_HELP}",
    )


SETTLE_HELP = "seconds a qualifying client's notice waits for more stages"


def window_option(
    parser: argparse.ArgumentParser,
    flag: str,
    default: float,
    help_text: str,
    high: float = MAX_WINDOW,
) -> None:
    """A duration in seconds, finite and at most *high*."""
    parser.add_argument(
        flag,
        type=seconds(high),
        default=default,
        metavar="S",
        help=help_text + " (default: %(default)s)",
    )


def output_option(parser: argparse.ArgumentParser, default: str, help_text: str) -> None:
    """``-o DIR``: where the logs go (checked before any work by paths.output_dir)."""
    parser.add_argument(
        "-o",
        "--output",
        type=nonempty,
        default=default,
        metavar="DIR",
        help=help_text + " (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="write JSON lines instead of Zeek TSV")
