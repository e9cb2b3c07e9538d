"""skypewatch: detect legacy peer-to-peer Skype traffic (captures, Zeek logs, notices)."""

__version__ = "0.1.0"
