"""Exit codes, the same for every subcommand, and the text ``--help`` shows about them."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


EXIT_CODES = """\
exit codes (every command):
  0    done
  1    the run could not finish: an output could not be written after the checks
       passed (disk full, an I/O error); one line on stderr says which and why, and
       what was written is incomplete (logs being written are removed)
  2    bad input or usage: one line on stderr saying what is wrong
  130  interrupted (Ctrl-C); 143 and 129 stopped by SIGTERM and SIGHUP, with the
       same clean-up: no temporary file left, earlier output untouched
"""
