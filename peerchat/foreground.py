"""Whether this program is its terminal's foreground job, for the line interface and for the
node's freeze watcher alike (a job continued behind the shell stops again at once)."""

from __future__ import annotations

import os


def in_front(fd: int) -> bool | None:
    """Whether the job owning this process is in front on the terminal at ``fd``; None when
    ``fd`` is no terminal."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return None
