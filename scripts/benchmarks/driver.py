"""The shared process driver: start nodes, read what they print, wait for it, kill them.

Every family of figures drives its processes through one ``Bench``:

* One reader thread reads every child's stdout with epoll and stamps each chunk with
  ``time.monotonic()`` as it arrives; event times (``ready``, ``tracker``, ``peer_joined``) are
  those stamps. Message latency is the node's own ``received_mono - sent_mono`` (one host, one
  monotonic clock), so the bench's reading speed does not enter it.
* Memory: VmRSS from /proc/PID/status. CPU: utime + stime from /proc/PID/stat.
* Nodes run ``python -m peerchat`` from a scratch directory, so the installed package is
  measured, or a copy named by ``PYTHONPATH`` (to try a change against the same baseline).
* Every child is killed when the bench closes, also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().parent.parent / "bench_baseline.py"
MESSAGE_LINE = b'{"event": "message"'
OWN = b'"own": true'
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20

try:
    from peerchat.config import Config

    HEARTBEAT_TIMEOUT = Config().heartbeat_timeout
except ImportError:  # pragma: no cover - the bench still runs against an installed peerchat
    HEARTBEAT_TIMEOUT = 1.0


class BenchError(Exception):
    """The bench could not measure something (a node died, a room never formed...)."""


def log(msg: str) -> None:
    """Progress on stderr, so that stdout is the table alone."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Proc:
    """One child process, and everything it printed, stamped with the bench's clock."""

    def __init__(
        self,
        name: str,
        kind: str,
        argv: list[str],
        logdir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.kind = name, kind
        self.events: list[tuple[float, dict[str, Any]]] = []
        # Message lines are kept raw, in chunks, and parsed only after a measurement: the
        # reader thread must keep up with floods without taking CPU from the nodes.
        self.msg_chunks: list[tuple[float, bytes]] = []
        self.received = 0  # message lines that are not the node's own
        self.own = 0
        self.peers: dict[str, float] = {}  # node id -> when its peer_joined arrived
        self.tracker: str | None = None
        self.node_id: str | None = None
        self.port = 0
        self.role: str | None = None
        self.ready_t: float | None = None
        self.eof = False
        self._partial = b""
        with open(logdir / f"{name}.err", "wb") as err:
            self.spawned = time.monotonic()
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=logdir,  # the installed peerchat (or one on PYTHONPATH), not the cwd
                env=env,
                start_new_session=True,  # Ctrl-C reaches the bench only; the bench kills us
            )
        self.pid = self.popen.pid
        assert self.popen.stdout is not None and self.popen.stdin is not None
        self.out_fd = self.popen.stdout.fileno()
        self.in_fd = self.popen.stdin.fileno()
        os.set_blocking(self.out_fd, False)
        with contextlib.suppress(OSError):  # room for bursts while the reader is lazy
            fcntl.fcntl(self.out_fd, F_SETPIPE_SZ, PIPE_SIZE)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} pid {self.pid} id {self.node_id}>"

    @property
    def rank(self) -> tuple[int, str]:
        """The Bully rank: priority (the listen port by default), then node id."""
        return (self.port, self.node_id or "")

    def feed(self, t: float, data: bytes) -> bool:
        """Take a chunk of stdout (reader thread, lock held). True when an event was parsed."""
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        whole, self._partial = data[:end], data[end:]
        lines = whole.count(b"\n")
        messages = whole.count(MESSAGE_LINE)
        if messages == lines:  # the usual case under load: nothing but messages, counted in C
            if lines:
                own = whole.count(OWN)
                self.own += own
                self.received += lines - own
                self.msg_chunks.append((t, whole))
            return False
        news = False
        for line in whole.split(b"\n")[:-1]:
            if line.startswith(MESSAGE_LINE):
                if OWN in line:
                    self.own += 1
                else:
                    self.received += 1
                    self.msg_chunks.append((t, line))
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "_garbage", "line": line.decode("utf-8", "replace")}
            news = True
            self.events.append((t, event))
            self._note(t, event)
        return news

    def _note(self, t: float, event: dict[str, Any]) -> None:
        """Keep the state the waits ask about: ready, tracker, and the peers listed."""
        kind = event.get("event")
        if kind == "ready":
            self.ready_t, self.node_id, self.role = t, event["node_id"], event.get("role")
            self.port = int(event["addr"].rpartition(":")[2])
        elif kind == "tracker":
            self.tracker = event["node_id"]
        elif kind == "peer_joined":
            self.peers.setdefault(event["node_id"], t)
        elif kind == "peer_left":
            self.peers.pop(event["node_id"], None)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.in_fd, view) :]

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            assert self.popen.stdin is not None
            self.popen.stdin.close()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss_mib(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise BenchError(f"no VmRSS for {self}")

    def pss_mib(self) -> float:
        """Proportional set size: shared pages (the interpreter's and libraries' files, mapped
        by every node) count a share each, so the sum over a room is what it really takes."""
        with open(f"/proc/{self.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
        raise BenchError(f"no Pss for {self}")

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK

    def mark(self) -> tuple[int, int]:
        """Where the messages stand now (lock held), for ``messages_since``."""
        return (len(self.msg_chunks), self.received)

    def messages_since(self, mark: tuple[int, int]) -> list[dict[str, Any]]:
        """The received (not own) messages printed after ``mark``, parsed (lock held)."""
        return [
            json.loads(line)
            for _, chunk in self.msg_chunks[mark[0] :]
            for line in chunk.split(b"\n")
            if line and OWN not in line
        ]


class Reader:
    """One thread reading every child's stdout as it comes, with epoll.

    While ``lazy`` is set the thread sleeps that long after each round, so that it does not
    wake up for every line of every node and take CPU from them during latency and throughput
    runs (which use the nodes' own timestamps, not the reader's).
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.lazy = 0.0
        self.max_backlog = 0  # the most bytes one read found waiting in a pipe
        self._selector = selectors.DefaultSelector()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="stdout-reader", daemon=True)
        self._thread.start()

    def add(self, proc: Proc) -> None:
        with self.cond:
            self._selector.register(proc.out_fd, selectors.EVENT_READ, proc)

    @contextlib.contextmanager
    def lazily(self, seconds: float = 0.02) -> Iterator[None]:
        self.lazy = seconds
        try:
            yield
        finally:
            self.lazy = 0.0

    def stop(self) -> None:
        self._stop = True
        self._thread.join(2)

    def _run(self) -> None:
        # The observer must not be what slows the nodes down: a node whose stdout pipe is full
        # blocks. This thread needs little CPU but needs it promptly, so it runs at a higher
        # priority than the nodes when it may (Linux: a thread's nice value is its own).
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        while not self._stop:
            with self.cond:
                registered = bool(self._selector.get_map())
            if not registered:
                time.sleep(0.01)
                continue
            if self.lazy:
                time.sleep(self.lazy)
            for key, _ in self._selector.select(0.05):
                self._read(key)

    def _read(self, key: selectors.SelectorKey) -> None:
        proc: Proc = key.data
        try:
            data = os.read(key.fd, PIPE_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        t = time.monotonic()
        with self.cond:
            self.max_backlog = max(self.max_backlog, len(data))
            if data:
                if proc.feed(t, data):
                    self.cond.notify_all()
            else:
                self._selector.unregister(key.fd)
                proc.eof = True
                self.cond.notify_all()


class Bench:
    """Spawns, watches and finally kills every child."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.reader = Reader()
        self.procs: list[Proc] = []
        self._count = 0

    def _spawn(
        self, kind: str, argv_of: Callable[[str], list[str]], code: Path | None = None
    ) -> Proc:
        self._count += 1
        name = f"{'n' if kind == 'peerchat' else 'b'}{self._count}"
        env = None if code is None else {**os.environ, "PYTHONPATH": str(code)}
        proc = Proc(name, kind, argv_of(name), self.logdir, env)
        self.procs.append(proc)
        self.reader.add(proc)
        return proc

    def peerchat(
        self,
        tracker_port: int,
        data_dir: Path | None = None,
        name: str = "",
        code: Path | None = None,
    ) -> Proc:
        """A headless node whose tracker is 127.0.0.1:``tracker_port``; ephemeral unless it
        is given a ``data_dir`` (and then a ``name`` that lasts across its restarts). ``code``:
        a directory holding another ``peerchat`` package to run (``versus``)."""
        # Ephemeral: nothing in the user's data dir, nothing remembered between runs.
        storage = ["--ephemeral"] if data_dir is None else ["--data-dir", str(data_dir)]
        # Downloads stay with the run, never in the user's folder (where the code has them).
        cli = (code / "peerchat" / "cli.py").read_text() if code else "--downloads"
        downloads = "--downloads" in cli

        def argv(proc_name: str) -> list[str]:
            return [
                sys.executable,
                "-m",
                "peerchat",
                "--username",
                name or proc_name,
                "--headless",
                *storage,
                "--tracker",
                f"127.0.0.1:{tracker_port}",
                "--log-file",
                str(self.logdir / f"{proc_name}.log"),
                *(["--downloads", str(self.logdir / "downloads" / proc_name)] if downloads else []),
            ]

        return self._spawn("peerchat", argv, code)

    def baseline(self) -> Proc:
        return self._spawn(
            "baseline", lambda name: [sys.executable, str(BASELINE), "--username", name]
        )

    def wait(self, done: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> None:
        """Wait until ``done()`` (evaluated with the reader's lock held)."""
        deadline = time.monotonic() + timeout
        with self.reader.cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
                self.reader.cond.wait(min(left, poll))

    def wait_progress(
        self, done: Callable[[], bool], progress: Callable[[], int], stall: float, cap: float
    ) -> bool:
        """Wait until ``done()``; give up when ``progress()`` stands still ``stall`` seconds."""
        start = last_change = time.monotonic()
        last = progress()
        with self.reader.cond:
            while not done():
                now = time.monotonic()
                value = progress()
                if value != last:
                    last, last_change = value, now
                if now - last_change > stall or now - start > cap:
                    return False
                self.reader.cond.wait(0.02)
        return True

    def kill(self, procs: Iterable[Proc], sig: int = signal.SIGKILL) -> None:
        procs = list(procs)
        for proc in procs:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
        if sig == signal.SIGKILL:
            for proc in procs:
                proc.popen.wait()
                proc.close_stdin()

    def close(self) -> None:
        self.kill(self.procs)
        self.reader.stop()
        with contextlib.suppress(OSError), open(self.logdir / "events.jsonl", "w") as f:
            for proc in self.procs:  # every event with its arrival stamp, for post-mortems
                for t, event in proc.events:
                    f.write(json.dumps({"t": t, "proc": proc.name, **event}) + "\n")
        for proc in self.procs:
            with contextlib.suppress(OSError):
                assert proc.popen.stdout is not None
                proc.popen.stdout.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Is anything listening on 127.0.0.1:port? Asks the kernel, without connecting."""
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A" and fields[1].endswith(want):
                return True
    return False
