"""Per-connection Skype signatures, one module per start-up stage.

Every check is a pure function of a :class:`~skypewatch.connection.Connection` (and, for the
cross-connection ones, of facts the caller passes in).  Each returns :class:`Hit` objects; how
hits combine into a connection's verdict lives in :mod:`skypewatch.verdict`.
"""

from .base import CONFIRMED, LIKELY, POSSIBLE, WEAK, Hit, Strength

__all__ = ["CONFIRMED", "LIKELY", "POSSIBLE", "WEAK", "Hit", "Strength"]
