"""The C allocator's settings for a short command that allocates and frees large numpy arrays over and over.

glibc's ``malloc`` returns freed memory to the kernel early (the top of the heap above 128 KiB; arrays above its
mmap threshold are unmapped when freed), so the next array of the same size is faulted in again page by page.
``yololab eval-mot`` builds and drops thousands of such arrays per sequence, in every worker process it forks: with
the defaults, MOT17-train costs about 75,000 page faults and 0.2 s of system time; with the settings below, 26,000
and 0.1 s (``benchmarks/mot_eval.py``; docs/mot.md). The peak RSS does not grow (freed memory is reused, not
added to). Commands that run for minutes (training) keep the defaults.
"""

from __future__ import annotations

import os

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20))
"""Arrays up to 32 MiB (glibc's largest threshold) on the heap; freed memory kept up to 1 GiB; the heap grown by
64 MiB at a time (pages count in the RSS only once touched)."""


def keep_freed_memory() -> bool:
    """Tell glibc's ``malloc`` (``mallopt``) to keep freed memory for reuse; whether it could (glibc only)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError, AttributeError):
        return False  # not glibc (musl, macOS, Windows)
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return all(libc.mallopt(option, value) == 1 for option, value in _SETTINGS)
    except (OSError, AttributeError):
        return False
