"""The allocator settings of ``yololab eval-mot``: freed pages are reused, not faulted in again (glibc Linux)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.quick

GLIBC = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "")

PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from yololab.cli.allocator import keep_freed_memory
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rng = np.random.default_rng(0)
sizes = (rng.integers(32, 2048, 400) * 1024).tolist()  # 256 KiB .. 16 MiB
before = faults()
live = []
for n in sizes:  # an evaluation's temporaries: arrays of many sizes, a few alive at a time
    live.append(np.ones(n // 8))
    if len(live) > 3:
        live.pop(int(rng.integers(0, len(live))))
print(faults() - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_arrays_are_reused_not_faulted_in_again():
    default, tuned = _faults("default"), _faults("tuned")
    pages = (16 << 20) // os.sysconf("SC_PAGE_SIZE")
    # Default glibc unmaps or trims freed arrays: new ones are faulted in again page by page.
    assert default > 4 * pages
    # Kept on the heap, the same pages serve the later arrays (measured: 2,568 faults against 22,686).
    assert tuned * 4 < default


def test_library_use_leaves_the_allocator_alone():
    code = "import sys, yololab.metrics.mot.batch; print('yololab.cli.allocator' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # evaluate_benchmark used as a library leaves the process alone
