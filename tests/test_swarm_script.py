"""scripts/spawn_local_swarm.sh: its command line, and a real room run in a private tmux server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "spawn_local_swarm.sh"


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_describes_the_options() -> None:
    result = run_script("--help")
    assert result.returncode == 0
    assert result.stderr == ""
    for option in ("--nodes", "--port", "--session", "--no-attach", "--kill"):
        assert option in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["-n", "0"],
        ["--nodes", "many"],
        ["--nodes"],
        ["--port", "70000"],
        ["--session", "a:b"],
        ["stray"],
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str]) -> None:
    result = run_script(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ---------------------------------------------------------------------------------------------
# With tmux: a server of our own (TMUX_TMPDIR), so a user's sessions are never touched.


@pytest.fixture
def tmux_env() -> Iterator[dict[str, str]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    # A short directory: the server's socket path must fit in a sockaddr_un.
    socket_dir = tempfile.mkdtemp(prefix="pc-tmux-", dir="/tmp" if Path("/tmp").is_dir() else None)
    env = {key: value for key, value in os.environ.items() if key != "TMUX"}
    env["TMUX_TMPDIR"] = socket_dir
    # The demo's nodes keep their data dirs here, not in the user's (where every run's history
    # piled up on screen).
    env["XDG_DATA_HOME"] = os.path.join(socket_dir, "data")
    # The peerchat installed beside this Python comes first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    try:
        yield env
    finally:
        subprocess.run(["tmux", "kill-server"], env=env, capture_output=True, timeout=10)
        shutil.rmtree(socket_dir, ignore_errors=True)


def tmux(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["tmux", *args], env=env, capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout


def panes(env: dict[str, str], session: str) -> dict[str, tuple[str, int]]:
    """Pane title (the script names each pane) -> (pane id, pid of its program)."""
    out = tmux(
        env, "list-panes", "-s", "-t", f"={session}", "-F", "#{pane_title} #{pane_id} #{pane_pid}"
    )
    found = {}
    for line in out.splitlines():
        title, pane_id, pid = line.split()
        found[title] = (pane_id, int(pid))
    return found


def screen(env: dict[str, str], pane_id: str) -> str:
    return tmux(env, "capture-pane", "-p", "-J", "-t", pane_id)


def wait_for(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    context: Callable[[], str] = str,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{context()}")
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Is the process alive? A zombie is not (a container's init may never reap it)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kill_without_a_session_is_harmless(tmux_env: dict[str, str]) -> None:
    result = run_script("--kill", "--session", "pc-no-such-session", env=tmux_env)
    assert result.returncode == 0
    assert "nothing to stop" in result.stdout


def test_a_room_runs_in_tmux_and_kill_stops_it(tmux_env: dict[str, str], tmp_path: Path) -> None:
    session = f"pc-test-{os.getpid()}"
    port = str(free_port())
    args = ["--no-attach", "-n", "2", "--port", port, "--session", session]
    try:
        # By default, a new private directory of the demo's own in $TMPDIR, its logs in it
        # (trial 69: /tmp/peerchat-NAME.log, for anyone to read).
        started = run_script(*args, env={**tmux_env, "TMPDIR": str(tmp_path)})
        assert started.returncode == 0, started.stderr
        (demo,) = tmp_path.glob("peerchat-demo.*")
        assert demo.stat().st_mode & 0o077 == 0
        assert f"logs:   {demo}/logs/peerchat-NAME.log" in started.stdout
        assert f"tmux attach -t {session}" in started.stdout

        found = panes(tmux_env, session)
        assert set(found) == {"tracker", "alice", "bob"}
        alice, bob = found["alice"][0], found["bob"][0]

        def screens() -> str:
            return "\n".join(f"--- {t}:\n{screen(tmux_env, p)}" for t, (p, _) in found.items())

        for name in ("alice", "bob"):
            pane_id = found[name][0]
            wait_for(
                lambda p=pane_id, n=name: f"you are {n}" in screen(tmux_env, p),
                f"{name} to start",
                context=screens,
            )

        # The panes are ready to type in: a line typed at alice's prompt reaches bob.
        tmux(tmux_env, "send-keys", "-t", alice, "-l", "hello from the swarm test")
        tmux(tmux_env, "send-keys", "-t", alice, "Enter")
        wait_for(
            lambda: "hello from the swarm test" in screen(tmux_env, bob),
            "bob to see alice's line",
            context=screens,
        )

        # The demo's nodes keep their keys and history in a place of the demo's own: a user's
        # demo showed an earlier run's history, from the data dirs of their real name.
        assert {p.name for p in demo.iterdir()} == {"tracker", "alice", "bob", "logs"}
        assert {p.name for p in (demo / "logs").iterdir()} == {
            "peerchat-alice.log",
            "peerchat-bob.log",
        }
        assert not any(Path(tmux_env["XDG_DATA_HOME"]).glob("peerchat/*"))

        # A second start with the same session name refuses, and leaves the room alone.
        again = run_script(*args, env=tmux_env)
        assert again.returncode == 1
        assert len(again.stderr.strip().splitlines()) == 1, again.stderr
        assert "already exists" in again.stderr
        assert panes(tmux_env, session).keys() == found.keys()
    finally:
        stopped = run_script("--kill", "--session", session, env=tmux_env)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not demo.exists()  # (trial 69: left behind) and what was in it, ended first
    gone = subprocess.run(
        ["tmux", "has-session", "-t", f"={session}"], env=tmux_env, capture_output=True
    )
    assert gone.returncode != 0
    pids = [pid for _, pid in found.values()]
    wait_for(lambda: not any(running(pid) for pid in pids), "every program to end", 10.0)
