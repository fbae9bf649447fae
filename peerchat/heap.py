"""Memory that peers made the node take goes back to the system once they are gone.

glibc serves large blocks from ``mmap``, and gives each back when freed; but after freeing one
it raises that threshold to the block's size, so that later blocks of up to 32 MiB come from
the heap, where freed memory stays with the process. Partial frames grown a read at a time
(``wire.FrameDecoder``) went so: 150 peers' frames held open and cut, the node kept 40 MiB more
than before them, for good. Setting the threshold fixes it where it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's own default, kept: only its raising is turned off


def keep_large_blocks_mapped() -> bool:
    """Fix glibc's threshold for ``mmap``; False where there is no glibc (nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(name).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return False
