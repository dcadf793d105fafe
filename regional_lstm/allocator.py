"""glibc malloc settings under which an LSTM on a CPU reuses its memory instead of re-faulting it.

Each forward/backward pass of torch's CPU LSTM (oneDNN) allocates work space of ~90-370 MB
(lookback 365, hidden 64, 64-256 windows) and frees it at the end. Blocks that large are above
glibc's mmap threshold (at most 32 MB), so every step maps fresh pages, the kernel zeroes them on
first touch and unmaps them on free: measured on this project's 2-core machines, ~45% of a
training step's CPU time was page faults, and with the settings below training ran ~2x faster
(benchmarks/cpu_step.py, with and without). Freed memory then stays with the process for the
next step: its RSS is its peak, which it reaches in the first step anyway.

Ray Train workers run the step in a thread of their own, and a thread's arena maps its large
blocks whatever the limits, hence one arena. The settings are read when a process starts, so
they reach Ray's workers as environment variables of the job (`distributed.cluster`); a process
already running (the CLI's) applies the main-arena part with ``mallopt``.
"""

from __future__ import annotations

import ctypes
import sys

NEVER_TRIM = 2**40  # bytes of free memory at the top of the heap before glibc returns it
ENVIRONMENT = {
    "MALLOC_ARENA_MAX": "1",  # every thread allocates from the main heap
    "MALLOC_MMAP_MAX_": "0",  # no block is mapped on its own: large ones come from the heap
    "MALLOC_TRIM_THRESHOLD_": str(NEVER_TRIM),  # and freed ones stay there for the next step
}
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Apply the main-arena settings to this running process; False where libc is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's own libc, no library search
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt takes an int: the largest trim threshold it accepts is 2**31 - 1 bytes.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
