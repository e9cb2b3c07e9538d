"""Target ``tsv-log``: Zeek TSV logs (the tools' skype.log and notice.log, plain and gzip)
through every reader; the contract is in ``zeek_log.py``."""

from __future__ import annotations

from functools import partial

from . import seeds
from .harness import Target, Workspace
from .zeek_log import TSV_TOKENS, run_log


def run(data: bytes, ws: Workspace) -> None:
    run_log(data, ws, "input.log")


TARGET = Target(
    "tsv-log", run, partial(seeds.log_seeds, form="tsv"), deadline=10.0, dictionary=TSV_TOKENS
)
