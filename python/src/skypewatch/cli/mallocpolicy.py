"""How ``analyze`` asks glibc's malloc to keep the large blocks it frees.

The bulk engine reads a capture 4 MiB at a time and works on numpy columns of tens of
thousands of rows: every chunk allocates and frees blocks of 100 KiB to 4 MiB.  glibc
serves blocks that large with a fresh ``mmap`` and gives them back on ``free`` (its dynamic
threshold rises only as far as the largest block freed, and the heap above the trim
threshold goes back to the kernel too), so each chunk's memory is faulted in page by page
again.  Measured here on the 1.1 M-packet sensor mix (``--workers 1``): 70,000-87,000 page
faults and 0.26-0.36 s of system time, against 13,000-14,000 and 0.12-0.19 s with the
thresholds below (and as few with 64/128 MiB ones, which gave 3.57 -> 3.18 s wall, min of 8
alternating runs), the same peak memory (63-68 MiB).  The price is the blocks the heap keeps
for the next chunk: peak RSS 57 -> 60 MiB with ``--workers 2``, and 398 -> 416 MiB (+4 %) on
the 10^6-flow flood of ``bench_flows.py``.

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
MMAP_THRESHOLD = 32 << 20  # above any chunk or column the engine allocates; glibc's most (64-bit)
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
