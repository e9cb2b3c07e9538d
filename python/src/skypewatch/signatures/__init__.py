"""Per-connection Skype signatures, one module per start-up stage.

Every check is a pure function of a
:class:`~skypewatch.connections.connection.Connection` (and, for the cross-connection ones, of
facts the caller passes in).  Each returns :class:`Hit` objects; how
hits combine into a connection's verdict lives in :mod:`skypewatch.verdict.judge`.
"""

from ..skypelog import Strength
from .base import Hit

__all__ = ["Hit", "Strength"]
