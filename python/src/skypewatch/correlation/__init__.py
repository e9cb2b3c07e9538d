"""Correlation of per-connection Skype evidence into host-level notices."""

from .hosts import HostCorrelator, HostCorrelatorOptions

__all__ = ["HostCorrelator", "HostCorrelatorOptions"]
