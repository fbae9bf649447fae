"""Ctrl-Z stops the program before the prompt's thread goes on (a user trial: after ``fg`` the
terminal was left in line mode, as the prompt had set its own modes before the stop)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

# The prompt's thread stops the job while trio waits in the kernel, as in the program.
CHILD = """
import time, trio
from peerchat.ui import stop_this_job

def stop(token):
    stop_this_job(token)
    print(time.monotonic(), flush=True)  # the first thing done after the stop

async def main():
    await trio.to_thread.run_sync(stop, trio.lowlevel.current_trio_token())

trio.run(main)
"""


def wait_stopped(pid: int, timeout: float) -> int:
    """The child's status once it stopped or ended; 0 if neither came within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WUNTRACED | os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    return 0


@pytest.mark.skipif(not hasattr(signal, "SIGTSTP"), reason="no job control here")
def test_the_prompts_thread_goes_on_only_once_the_stopped_job_is_continued() -> None:
    for _ in range(3):  # the thread ran ahead in nearly every round before
        # A process group of its own in this session: stopping it is not refused as an orphan's.
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, process_group=0
        )
        try:
            assert os.WIFSTOPPED(wait_stopped(child.pid, 10)), "the job never stopped"
            time.sleep(0.2)
            continued = time.monotonic()
            os.kill(child.pid, signal.SIGCONT)
            assert child.stdout is not None
            ready, _, _ = select.select([child.stdout], [], [], 10)
            assert ready, "nothing came after SIGCONT"
            went_on = float(child.stdout.readline())
            assert went_on >= continued, f"went on {continued - went_on:.4f} s before SIGCONT"
            assert child.wait(timeout=5) == 0  # stopped once: not again after SIGCONT
        finally:
            child.kill()
            child.wait()
