"""Memory that peers made the node take goes back to the system once they are gone.

glibc serves large blocks from ``mmap``, and gives each back when freed; but after freeing one
it raises that threshold to the block's size, so that later blocks of up to 32 MiB come from
the heap, where freed memory stays with the process. Partial frames grown a read at a time
(``wire.FrameDecoder``) went so: 150 peers' frames held open and cut, the node kept 40 MiB more
than before them, for good. Setting the threshold fixes it where it is.

Smaller blocks freed stay with the process until ``malloc_trim`` hands their pages back: a
node that had just joined a room of 30 held 2.2 MiB so (of its 41 MiB), left by its start and
its handshakes. ``give_back_free`` does that every few seconds, for a tenth of a millisecond.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools

import trio

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's own default, kept: only its raising is turned off
GIVE_BACK_EVERY = 5.0  # seconds between trims of the heap


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    with contextlib.suppress(OSError):
        return ctypes.CDLL(name)
    return None


def keep_large_blocks_mapped() -> bool:
    """Fix glibc's threshold for ``mmap``; False where there is no glibc (nothing to do)."""
    with contextlib.suppress(AttributeError):
        libc = _libc()
        return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return False


def trim() -> bool:
    """Hand the heap's free pages back to the system; False where there is no glibc."""
    with contextlib.suppress(AttributeError):
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)
            return True
    return False


async def give_back_free() -> None:
    """``trim`` every ``GIVE_BACK_EVERY`` seconds, for as long as the process runs."""
    while True:
        await trio.sleep(GIVE_BACK_EVERY)
        if not trim():
            return
