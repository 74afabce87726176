"""The server's allocator tuning (controlplane.server.allocator)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import resource
from controlplane.server import allocator
tuned = {tune}
if tuned:
    assert allocator.tune()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
for _ in range(300):
    chunks = [bytearray(1024 * 1024) for _ in range(4)]  # what a transfer churns through
    del chunks
print(faults() - before)
"""


def _faults(tuned: bool) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(tune=tuned)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_tuning_keeps_chunk_buffers_in_the_heap_instead_of_faulting_them_in_each_time() -> None:
    # Without tuning, each freed 1 MiB block goes back to the kernel and the next one is
    # faulted in again (256 pages per MiB); with it, the heap reuses the same pages.
    default, tuned = _faults(tuned=False), _faults(tuned=True)
    assert tuned * 10 < default, (tuned, default)
