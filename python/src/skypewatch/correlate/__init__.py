"""Correlation of per-connection Skype evidence into host-level notices."""

from .core import Correlator, CorrelatorOptions

__all__ = ["Correlator", "CorrelatorOptions"]
