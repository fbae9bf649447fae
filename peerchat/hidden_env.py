"""Taking a secret out of the environment the program was started with.

Dropping a variable from ``os.environ`` keeps it from child processes, but ``/proc/PID/environ``
(what ``ps e`` shows) reads the block the program was started with, which unsetting a variable
leaves as it was. On Linux the value is therefore also overwritten there, in place, as programs
that rewrite their process title do.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import posix
import sys


def forget(name: str) -> None:
    """``name`` is no longer in this process's environment, nor readable from outside it."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError, ValueError):  # no C library to reach
            _blank(name.encode())
    os.environ.pop(name, None)
    posix.environ.pop(name.encode(), None)  # the copy os.environ was made from, in bytes


def _blank(name: bytes) -> None:
    environ = ctypes.POINTER(ctypes.c_void_p).in_dll(ctypes.CDLL(None), "environ")
    if not environ:  # cleared: nothing to blank
        return
    prefix = name + b"="
    i = 0
    while (address := environ[i]) is not None:
        entry = ctypes.string_at(address)
        if entry.startswith(prefix):
            ctypes.memset(address + len(prefix), 0, len(entry) - len(prefix))
        i += 1
