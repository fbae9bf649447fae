"""Real `peerchat` processes for the end-to-end tests: start them, feed stdin, wait on events.

Each process is started as ``python -m peerchat ...`` with its stdout piped; a trio task reads
the stdout line by line and keeps every event (headless JSON, or ``{"event": "_raw", ...}`` for
the plain lines of ``peerchat tracker``) together with the time it was read (``"_at"``, on the
trio clock). Tests wait on events with a deadline, never with fixed sleeps. ``Swarm.aclose``
kills whatever is still running, and prints each process's events, stderr and log, which pytest
shows for a failed test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

DEFAULT_TIMEOUT = 10.0


_ASKED = pytest.mark.skipif(
    not os.environ.get("PEERCHAT_SLOW"), reason="several seconds; PEERCHAT_SLOW=1 runs it"
)
SLOW = (pytest.mark.slow, _ASKED)  # the marks of ``slow``, for one case of a parametrized test


def slow(test: Callable[..., Any]) -> Callable[..., Any]:
    """A test of several seconds that the default run leaves out, to stay within its five
    minutes on two cores; ``PEERCHAT_SLOW=1`` runs it, as CI does."""
    return pytest.mark.slow(_ASKED(test))


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def matcher(predicate: Predicate | None = None, **fields: Any) -> Predicate:
    """Events whose keys equal ``fields`` (``event=`` for the kind) and that pass ``predicate``."""

    def match(event: Event) -> bool:
        if any(event.get(key, _MISSING) != value for key, value in fields.items()):
            return False
        return predicate is None or predicate(event)

    return match


_MISSING = object()


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<{exc}>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


class Proc:
    """One running peerchat process and everything it printed on stdout."""

    def __init__(
        self, name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env or {}  # on top of this process's environment
        self.log_path = workdir / f"{name}.log"
        self.stderr_path = workdir / f"{name}.stderr"
        self.events: list[Event] = []
        self.eof = False
        self.process: trio.Process
        self._changed = trio.Event()
        self._reading = trio.Event()  # cleared: stdout is left unread, as a slow reader would
        self._reading.set()

    # -- starting and reading -----------------------------------------------------------------

    async def _start(self, nursery: trio.Nursery) -> None:
        with open(self.stderr_path, "wb") as stderr:
            self.process = await trio.lowlevel.open_process(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    "PYTHONFAULTHANDLER": "1",
                    **self.env,
                },
            )
        nursery.start_soon(self._read_stdout)

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        try:
            while True:
                await self._reading.wait()
                chunk = await self.process.stdout.receive_some(65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._record(line)
            if buffer:
                self._record(buffer)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass
        finally:
            self.eof = True
            self._notify()

    def _record(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        try:
            event = json.loads(text)
            if not isinstance(event, dict):
                raise ValueError
        except ValueError:
            event = {"event": "_raw", "line": text}
        event["_at"] = trio.current_time()
        self.events.append(event)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- what the tests use -------------------------------------------------------------------

    @property
    def ready(self) -> Event:
        found = self.find(event="ready")
        assert found, f"{self.name} has not reported ready"
        return found[0]

    @property
    def node_id(self) -> str:
        return self.ready["node_id"]

    @property
    def port(self) -> int:
        return port_of(self.ready["addr"])

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def find(self, predicate: Predicate | None = None, *, since: int = 0, **fields: Any):
        match = matcher(predicate, **fields)
        return [e for e in self.events[since:] if match(e)]

    def messages(self, text: str) -> list[Event]:
        return self.find(event="message", text=text)

    async def wait_for(
        self,
        predicate: Predicate | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        since: int = 0,
        **fields: Any,
    ) -> Event:
        """The first event from index ``since`` on that matches; fails after ``timeout``."""
        match = matcher(predicate, **fields)
        seen = since
        with trio.move_on_after(timeout):
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = max(seen, len(self.events))
                if self.eof:
                    break  # nothing more will come
                await self._changed.wait()
        why = "its stdout ended" if self.eof else f"{timeout} s passed"
        raise AssertionError(
            f"{self.name}: no event matching {fields or ''} {predicate or ''} "
            f"({why}; exit status {self.returncode})\n{self.describe()}"
        )

    async def first_within(
        self, duration: float, predicate: Predicate | None = None, **fields: Any
    ) -> Event | None:
        """Watch for ``duration`` s: the first matching event, or None if there was none."""
        match = matcher(predicate, **fields)
        seen = len(self.events)
        with trio.move_on_after(duration):
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                await self._changed.wait()
        return None

    def stop_reading(self) -> None:
        """Read nothing more of its stdout until ``go_on_reading``: the pipe fills."""
        self._reading = trio.Event()

    def go_on_reading(self) -> None:
        self._reading.set()

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        with trio.fail_after(5):
            await self.process.stdin.send_all(line.encode() + b"\n")

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    async def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        with trio.move_on_after(timeout):
            return await self.process.wait()
        raise AssertionError(f"{self.name} did not exit within {timeout} s\n{self.describe()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def wait_log(self, needle: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Wait until the log file contains ``needle``; return the first line that does."""
        with trio.move_on_after(timeout):
            while True:
                for line in self.log().splitlines():
                    if needle in line:
                        return line
                await trio.sleep(0.02)  # polling a file, bounded by the deadline above
        raise AssertionError(f"{self.name}: {needle!r} not in the log\n{self.describe()}")

    def describe(self) -> str:
        shown = "\n".join(
            "  " + json.dumps({k: v for k, v in e.items() if k != "_at"}) for e in self.events
        )
        return (
            f"--- {self.name}: {' '.join(self.argv[2:])} (exit status {self.returncode})\n"
            f"events:\n{shown}\n"
            f"stderr:\n{_tail(self.stderr_path)}\n"
            f"log:\n{_tail(self.log_path)}"
        )


class Swarm:
    """The processes of one test, all on one tracker address; ``aclose`` kills them all."""

    def __init__(self, nursery: trio.Nursery, workdir: Path) -> None:
        self.nursery = nursery
        self.workdir = workdir
        self.tracker_port = free_port()
        self.procs: list[Proc] = []

    @property
    def tracker_addr(self) -> str:
        return f"127.0.0.1:{self.tracker_port}"

    async def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        """Start ``python -m peerchat ARGS --log-file ... --ephemeral`` (unless ARGS name a data
        dir), with ``env`` added to the environment; does not wait for anything."""
        proc = Proc(name, [sys.executable, "-m", "peerchat", *args], self.workdir, env)
        proc.argv += ["--log-file", str(proc.log_path)]
        if "--data-dir" not in args:
            proc.argv.append("--ephemeral")  # nothing of the tests in the user's data dir
        if args[:1] != ("tracker",) and "--downloads" not in args:  # nor in their downloads
            proc.argv += ["--downloads", str(self.workdir / f"{name}-downloads")]
        self.procs.append(proc)
        await proc._start(self.nursery)
        return proc

    async def node(
        self, name: str, *args: str, wait: bool = True, env: dict[str, str] | None = None
    ) -> Proc:
        """A headless node of this room; with ``wait``, returns once it reported ready."""
        proc = await self.spawn(
            name, "--username", name, "--headless", "--tracker", self.tracker_addr, *args, env=env
        )
        if wait:
            await proc.wait_for(event="ready")
        return proc

    async def room(self, *names: str) -> list[Proc]:
        """Nodes started one after the other; returns once everybody sees everybody."""
        procs = [await self.node(name) for name in names]
        await wait_mesh(procs)
        return procs

    async def aclose(self) -> None:
        for proc in self.procs:
            if proc.process.poll() is None:
                proc.process.send_signal(signal.SIGCONT)  # in case a test stopped it
                proc.process.kill()
        with trio.move_on_after(10):
            for proc in self.procs:
                await proc.process.wait()
        for proc in self.procs:
            print(proc.describe())


async def say_and_expect(sender: Proc, text: str, receivers: list[Proc], timeout=10.0) -> None:
    """``sender`` says ``text``; each receiver shows it, once, from ``sender``."""
    await sender.send(text)
    await sender.wait_for(event="message", text=text, own=True, timeout=timeout)
    for proc in receivers:
        event = await proc.wait_for(event="message", text=text, timeout=timeout)
        assert event["own"] is False and event["from_id"] == sender.node_id, event
    for proc in receivers:
        assert len(proc.messages(text)) == 1, proc.describe()


async def wait_listening(port: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Somebody accepts connections on 127.0.0.1:port (the connection is closed at once)."""
    with trio.move_on_after(timeout):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.02)  # polling, bounded by the deadline above
                continue
            await stream.aclose()
            return
    raise AssertionError(f"nobody listens on 127.0.0.1:{port} after {timeout} s")


async def wait_mesh(procs: list[Proc], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Every node reports every other as joined."""
    for proc in procs:
        for other in procs:
            if other is not proc:
                await proc.wait_for(event="peer_joined", node_id=other.node_id, timeout=timeout)
