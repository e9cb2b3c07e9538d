"""For analysts, after the fact: Zeek logs into pandas, ``skypewatch query`` and ``report``."""
