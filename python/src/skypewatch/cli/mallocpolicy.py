"""How ``analyze`` asks glibc's malloc to keep the large blocks it frees.

The bulk engine reads a capture 4 MiB at a time and works on numpy columns of tens of
thousands of rows: every chunk allocates and frees blocks of 100 KiB to 4 MiB.  glibc
serves blocks that large with a fresh ``mmap`` and gives them back on ``free`` (its dynamic
threshold rises only as far as the largest block freed, and the heap above the trim
threshold goes back to the kernel too), so each chunk's memory is faulted in page by page
again.  Measured here on the 1.1 M-packet sensor mix (``--workers 1``): 70,000-87,000 page
faults and 0.26-0.40 s of system time, against about 13,000 and 0.12-0.24 s with the
thresholds below (sensor mix, af8cf98 against this with the close model's change too,
alternating runs: 4.60 -> 3.89 s wall, min of 5); peak memory 64-69 MiB with or without
(it moves from run to run), 54 -> 58 MiB with ``--workers 2``; the 10^6-flow flood of
``bench_flows.py`` peaks at 403-410 MiB against 398-414 MiB without.  On the Skype-heavy
mix the times are the same within this machine's noise.  A mmap threshold of 32 MiB saves
no more faults; a trim threshold of 4 MiB loses most of the gain (117,000-129,000 faults).

Process-wide and not undone: the CLI sets it for the run it is (a forked worker inherits
it); the library does not.  Left alone where the user tuned malloc already (``MALLOC_*``
or ``GLIBC_TUNABLES`` in the environment) and where there is no glibc ``mallopt`` (macOS;
musl's is a no-op).
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 8 << 20  # above a chunk (4 MiB and the record that did not fit) and its columns
TRIM_THRESHOLD = 16 << 20  # what the heap keeps unused at its top; more gained nothing


def keep_large_blocks() -> bool:
    """Raise malloc's mmap and trim thresholds; True if it was done."""
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's own symbols: its C library
    except (OSError, AttributeError, TypeError):  # (TypeError: Windows wants a name)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # (glibc's mallopt answers 1 even to a parameter it does not know: the test looks at
    # what it did, tests/test_mallocpolicy.py)
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
