"""Where the program begins: ``peerchat`` and ``python -m peerchat``.

Loading the program takes Python most of a second on a slow machine, and Ctrl-C meanwhile
raised KeyboardInterrupt in whatever import was running: a traceback (trial 71, 1 press in
the first 1.2 s). This module imports nothing of the program's until it is inside ``main``,
where a KeyboardInterrupt that reaches it ends the program quietly: one raised as Python
loads the program, or in the moments the program is not handling SIGINT itself (``cli``
makes Ctrl-C a quit with a goodbye while it runs).
"""

from __future__ import annotations

INTERRUPTED = 130  # the shell's status for a program ended by SIGINT


def main() -> int:
    try:
        from peerchat.cli import main as run

        return run()
    except KeyboardInterrupt:
        return INTERRUPTED
