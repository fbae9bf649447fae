"""peerchat.heap: large blocks go back to the system when freed (test_hostile measures it)."""

from __future__ import annotations

import sys

import pytest

from peerchat import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_threshold_is_set_on_linux() -> None:
    assert heap.keep_large_blocks_mapped()
