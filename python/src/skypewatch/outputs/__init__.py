"""What ``analyze`` makes of its records: the logs, the notices and the summary's tally.

``records`` holds them in the analysing process; ``process`` runs the same in a process of
its own beside the tracker (``--workers 2``), from the verdicts' inputs.
"""

from .records import MAX_SUMMARY_HOSTS, SHOWN_NOTICES, Outputs, Produced, Tally

__all__ = ["MAX_SUMMARY_HOSTS", "SHOWN_NOTICES", "Outputs", "Produced", "Tally"]
