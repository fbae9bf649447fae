"""peerchat.heap: large blocks go back to the system when freed (test_hostile measures it)."""

from __future__ import annotations

import sys

import pytest

from peerchat import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_threshold_is_set_on_linux() -> None:
    assert heap.keep_large_blocks_mapped()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_pages_in_the_middle_of_the_heap_go_back_when_trimmed() -> None:
    blocks = [bytearray(1000) for _ in range(20_000)]  # 20 MiB from the heap, not mmap
    top = bytearray(1000)  # keeps the heap's top in use: free() alone hands nothing back
    del blocks
    freed = rss_mib()
    assert heap.trim()
    assert freed - rss_mib() > 10, (freed, rss_mib())
    del top
