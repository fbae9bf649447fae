#!/usr/bin/env python3
"""PeerChat benchmark: failover, fan-out latency, throughput, join, scale and memory.

Starts real ``peerchat --headless`` processes on 127.0.0.1, reads their JSON events, and prints
one table; ``--json FILE`` keeps every sample. The same run measures a baseline
(``scripts/bench_baseline.py``: bare trio + msgpack fan-out, no chat logic) with the same
number of processes and the same messages, and reports PeerChat / baseline.

    python scripts/bench.py            # the full run (under 10 minutes)
    python scripts/bench.py --quick    # a reduced run (under 60 seconds)

How things are measured:

* One reader thread reads every child's stdout with epoll and stamps each chunk with
  ``time.monotonic()`` as it arrives; event times (``ready``, ``tracker``, ``peer_joined``) are
  those stamps. Message latency is the node's own ``received_mono - sent_mono`` (one host, one
  monotonic clock), so the bench's reading speed does not enter it.
* Failover: the bench notes its clock, kills (SIGKILL) or freezes (SIGSTOP) the tracker, and
  waits until every survivor has reported the same new tracker; the figure is the last
  survivor's arrival stamp of that ``tracker`` event minus the kill. Rooms are reused across
  trials: after each trial the dead tracker is reaped and one newcomer joins through the
  tracker address (once the new tracker listens on it), so the room is back to its size.
* Throughput: all lines are written to the senders' stdin at once; the time runs from the
  bench's clock before the first write to the last ``received_mono`` of any receiver.
  msg/s counts the messages that reached every receiver, deliv/s every (message, receiver)
  pair that arrived. A "burst" fits in PeerChat's send queues and socket buffers; a "flood"
  does not, and needs backpressure.
* Memory: VmRSS from /proc/PID/status. CPU: utime + stime from /proc/PID/stat, summed over
  the processes of the run, per delivery.
* The baseline runs beside PeerChat (both idle while the other works) and they take turns, so
  a change in the machine's background load does not favour either.
* ``bad`` in the table: failed trials (no agreement on a tracker, the wrong tracker, or a room
  that was not whole again afterwards; it is then started afresh), or lost plus duplicated
  deliveries. Failures are listed under the table, with the ``peer_left`` reasons seen.

Nodes run ``python -m peerchat`` from a scratch directory, so the installed package is
measured, or a copy named by ``PYTHONPATH`` (to try a change against the same baseline).
Every child is killed when the bench ends, also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import fcntl
import json
import math
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().with_name("bench_baseline.py")
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


# -- what each mode runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    msg_size: int = 64  # characters of text per message
    lat_receivers: tuple[int, ...] = (10, 50)
    lat_rate: float = 100.0
    lat_seconds: float = 10.0
    flood_receivers: int = 10
    burst_count: int = 5_000  # messages from the one sender: a burst the buffers absorb
    flood_count: int = 50_000  # and a flood that outlasts them: it needs backpressure
    all_senders: int = 10
    all_count: int = 2_000  # messages from each of the senders
    flood_repeats: int = 3
    crash_rooms: tuple[int, ...] = (5, 20, 50)
    crash_trials: int = 10
    silent_rooms: tuple[int, ...] = (5, 20, 50)
    silent_trials: int = 10
    join_room: int = 50
    join_trials: int = 10
    startup_trials: int = 5
    scale: int = 100
    batch: int = 10  # nodes started at once while a room grows


PLANS = {
    "full": Plan(),
    "quick": Plan(
        lat_receivers=(10,),
        lat_seconds=2.0,
        burst_count=3_000,
        flood_count=20_000,
        all_count=300,
        flood_repeats=1,
        crash_rooms=(5, 20),
        crash_trials=5,
        silent_rooms=(5,),
        silent_trials=3,
        join_room=20,
        join_trials=5,
        startup_trials=2,
        scale=30,
    ),
    "tiny": Plan(
        lat_receivers=(3,),
        lat_seconds=0.5,
        flood_receivers=3,
        burst_count=200,
        flood_count=400,
        all_senders=3,
        all_count=50,
        flood_repeats=1,
        crash_rooms=(3,),
        crash_trials=1,
        silent_rooms=(3,),
        silent_trials=1,
        join_room=3,
        join_trials=1,
        startup_trials=1,
        scale=5,
        batch=4,
    ),
}


class BenchError(Exception):
    """The bench could not measure something (a node died, a room never formed...)."""


# -- child processes --------------------------------------------------------------------------


class Proc:
    """One child process, and everything it printed, stamped with the bench's clock."""

    def __init__(self, name: str, kind: str, argv: list[str], logdir: Path) -> None:
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
        return news

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
                proc: Proc = key.data
                try:
                    data = os.read(key.fd, PIPE_SIZE)
                except BlockingIOError:
                    continue
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

    def _spawn(self, kind: str, argv_of: Callable[[str], list[str]]) -> Proc:
        self._count += 1
        name = f"{'n' if kind == 'peerchat' else 'b'}{self._count}"
        proc = Proc(name, kind, argv_of(name), self.logdir)
        self.procs.append(proc)
        self.reader.add(proc)
        return proc

    def peerchat(self, tracker_port: int) -> Proc:
        def argv(name: str) -> list[str]:
            return [
                sys.executable,
                "-m",
                "peerchat",
                "--username",
                name,
                "--headless",
                "--tracker",
                f"127.0.0.1:{tracker_port}",
                "--log-file",
                str(self.logdir / f"{name}.log"),
            ]

        return self._spawn("peerchat", argv)

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


def left_reasons(procs: Iterable[Proc], since: float) -> list[tuple[str, int]]:
    """Why nodes reported peers gone since ``since``, most common first, names and numbers
    blanked so that alike reasons count together."""
    reasons: collections.Counter[str] = collections.Counter()
    for p in procs:
        for t, e in p.events:
            if t >= since and e.get("event") == "peer_left":
                reason = re.sub(r"\S+@\S+", "PEER", str(e.get("reason")))
                reasons[re.sub(r"\d+(\.\d+)?", "N", reason)] += 1
    return reasons.most_common()


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


def text(tag: str, i: int, size: int) -> str:
    head = f"{tag}:{i}:"
    return head + "x" * max(0, size - len(head))


# -- rooms ------------------------------------------------------------------------------------


class Room:
    """A PeerChat room on its own tracker port, kept a full mesh."""

    def __init__(self, bench: Bench, batch: int) -> None:
        self.bench = bench
        self.port = free_port()
        self.procs: list[Proc] = []
        self.batch = batch

    def meshed(self) -> bool:
        """Everyone ready, everyone lists exactly everyone else, and all agree on a tracker."""
        ids = {p.node_id for p in self.procs}
        if None in ids:
            return False
        tracker = self.procs[0].tracker
        return all(
            p.peers.keys() == ids - {p.node_id} and p.tracker == tracker and tracker in ids
            for p in self.procs
        )

    def dead(self) -> list[Proc]:
        return [p for p in self.procs if p.eof or not p.alive()]

    def wait_meshed(self, timeout: float, what: str) -> None:
        def done() -> bool:
            if self.dead():
                raise BenchError(f"{what}: {self.dead()[0]} exited: {self.stderr_tail()}")
            return self.meshed()

        self.bench.wait(done, timeout, f"{what} (a full mesh of {len(self.procs)})")

    def stderr_tail(self) -> str:
        for p in self.dead():
            with contextlib.suppress(OSError):
                err = (self.bench.logdir / f"{p.name}.err").read_text().strip()
                if err:
                    return err.splitlines()[-1]
        return "(no stderr)"

    def grow(self, size: int) -> float:
        """Add nodes, ``batch`` at a time, until the room has ``size``; the seconds it took."""
        start = time.monotonic()
        if not self.procs:
            self.procs.append(self.bench.peerchat(self.port))
            self.wait_meshed(15, "the founder")
        while len(self.procs) < size:
            n = min(self.batch, size - len(self.procs))
            self.wait_listening()
            self.procs += [self.bench.peerchat(self.port) for _ in range(n)]
            self.wait_meshed(5 + 0.5 * n + 0.05 * len(self.procs), f"growing to {len(self.procs)}")
        return time.monotonic() - start

    def wait_listening(self) -> None:
        self.bench.wait(lambda: listening(self.port), 5, f"the tracker port {self.port}")

    def tracker_proc(self) -> Proc:
        tracker = self.procs[0].tracker
        return next(p for p in self.procs if p.node_id == tracker)

    def remove(self, proc: Proc) -> None:
        self.procs.remove(proc)

    def close(self) -> None:
        self.bench.kill(self.procs)
        self.procs = []

    def restart(self, size: int) -> None:
        """Start the room again, on a new tracker port, after a trial left it broken."""
        self.close()
        self.port = free_port()
        self.grow(size)


def baseline_mesh(bench: Bench, size: int) -> list[Proc]:
    """``size`` baseline processes, each connected to each other once."""
    procs = [bench.baseline() for _ in range(size)]
    bench.wait(lambda: all(p.ready_t for p in procs), 30, "baseline processes to start")
    for i, proc in enumerate(procs):
        if i:
            proc.write(
                ("!dial " + " ".join(f"127.0.0.1:{p.port}" for p in procs[:i]) + "\n").encode()
            )
    ids = {p.node_id for p in procs}
    bench.wait(
        lambda: all(p.peers.keys() == ids - {p.node_id} for p in procs),
        30,
        f"a baseline mesh of {size}",
    )
    return procs


# -- measurements -----------------------------------------------------------------------------


def failover_trial(bench: Bench, room: Room, sig: int) -> dict[str, Any]:
    """Kill or freeze the tracker; time until every survivor reports the same new tracker."""
    old = room.tracker_proc()
    survivors = [p for p in room.procs if p is not old]
    highest = max(survivors, key=lambda p: p.rank)
    marks = {p: len(p.events) for p in survivors}

    def reports(p: Proc) -> list[tuple[float, str]]:
        return [(t, e["node_id"]) for t, e in p.events[marks[p] :] if e.get("event") == "tracker"]

    def agreed() -> bool:
        latest = {p.tracker for p in survivors}
        return len(latest) == 1 and old.node_id not in latest and all(map(reports, survivors))

    t0 = time.monotonic()
    os.kill(old.pid, sig)
    failed = None
    try:
        bench.wait(agreed, HEARTBEAT_TIMEOUT + 5, f"survivors to agree after {sig.name}")
    except BenchError as exc:
        with bench.reader.cond:
            views = collections.Counter(p.tracker for p in survivors)
        failed = f"{exc}; trackers reported: {dict(views)}"
    finally:
        bench.kill([old])  # a frozen tracker is killed now: it must not hold the tracker port
        room.remove(old)
    if failed:
        return {"signal": sig.name, "room": len(survivors) + 1, "ms": None, "failed": failed}
    new = survivors[0].tracker
    with bench.reader.cond:
        per_node = []
        changes = 0
        for p in survivors:
            seen = reports(p)
            changes += len(seen)
            settled = t0
            for t, node_id in seen:  # the start of the final run of reports naming ``new``
                if node_id != new:
                    settled = t0
                elif settled == t0:
                    settled = t
            per_node.append((settled - t0) * 1000)
    return {
        "signal": sig.name,
        "room": len(survivors) + 1,
        "ms": max(per_node),
        "survivor_ms": sorted(per_node),
        "new_tracker_is_highest": new == highest.node_id,
        "extra_tracker_reports": changes - len(survivors),
        "failed": None if new == highest.node_id else "the new tracker is not the highest survivor",
    }


MAX_RESTARTS = 3  # per series: a room that keeps breaking is reported, not retried forever


def failover_series(
    bench: Bench, room: Room, size: int, sig: int, trials: int, out: list[dict[str, Any]]
) -> None:
    """``trials`` failovers in one room, refilled to ``size`` after each.

    A trial fails when the survivors do not agree on a tracker, or when the room is not whole
    again (everyone lists everyone, one tracker) once a newcomer has joined after it; the room
    is then started afresh.
    """
    room.grow(size)
    room.wait_meshed(10, "a settled room before the trials")
    restarts = 0
    for _ in range(trials):
        trial = failover_trial(bench, room, sig)
        out.append(trial)
        try:
            if trial["ms"] is None:  # no agreement: the room is in pieces
                raise BenchError(trial["failed"])
            room.grow(size)  # back to full size: a newcomer joins through the new tracker
            room.wait_meshed(5, "the room after the failover")
        except BenchError as exc:
            trial["failed"] = trial["failed"] or f"the room did not recover: {exc}"
            log(f"  trial failed: {trial['failed'][:300]}")
            restarts += 1
            if restarts > MAX_RESTARTS:
                log(f"  {restarts - 1} restarts already: skipping the rest of this series")
                room.restart(size)
                return
            room.restart(size)


def join_trial(bench: Bench, room: Room) -> dict[str, Any]:
    """A newcomer joins a settled room; time to its ready and until everyone lists it."""
    room.wait_meshed(10, "a settled room before the join")
    room.wait_listening()
    members = list(room.procs)
    t0 = time.monotonic()
    new = bench.peerchat(room.port)
    room.procs.append(new)
    room.wait_meshed(15, "the newcomer")
    with bench.reader.cond:
        assert new.ready_t is not None
        result = {
            "room": len(members),
            "ready_ms": (new.ready_t - t0) * 1000,
            "newcomer_lists_all_ms": (max(new.peers.values()) - t0) * 1000,
            "all_list_newcomer_ms": (max(p.peers[new.node_id] for p in members) - t0) * 1000,
            "role": new.role,
        }
    new.close_stdin()  # a clean quit, so the room is back to its size for the next trial
    bench.wait(lambda: new.eof, 10, "the newcomer to quit")
    new.popen.wait()
    room.remove(new)
    room.wait_meshed(10, "the room after the newcomer left")
    return result


def import_trial() -> float:
    """Start a Python that imports what a headless node imports, and exits: the floor under
    every ``ready``."""
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "import peerchat.cli, peerchat.headless, peerchat.node"],
        check=True,
    )
    return (time.monotonic() - t0) * 1000


def startup_trial(bench: Bench) -> float:
    """Process start to ``ready`` for a node founding a room at an empty tracker address."""
    port = free_port()
    t0 = time.monotonic()
    proc = bench.peerchat(port)
    bench.wait(lambda: proc.ready_t is not None or proc.eof, 15, "a founder to start")
    if proc.ready_t is None:
        raise BenchError(f"a founder exited before ready (see {bench.logdir}/{proc.name}.err)")
    ms = (proc.ready_t - t0) * 1000
    bench.kill([proc])
    return ms


def fanout(bench: Bench, procs: list[Proc], rate: float, seconds: float, size: int) -> dict:
    """One sender at ``rate`` messages/s; each receiver's received_mono - sent_mono."""
    sender, receivers = procs[0], procs[1:]
    count = max(1, round(rate * seconds))
    with bench.reader.cond:
        marks = {p: p.mark() for p in receivers}
    tag = f"lat{time.monotonic_ns()}"
    with bench.reader.lazily():
        start = time.monotonic() + 0.05
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sender.write((text(tag, i, size) + "\n").encode())
        complete = bench.wait_progress(
            lambda: all(p.received - marks[p][1] >= count for p in receivers),
            lambda: sum(p.received for p in receivers),
            stall=5,
            cap=60,
        )
    latencies: list[float] = []
    lost = duplicated = 0
    with bench.reader.cond:
        got = {p: p.messages_since(marks[p]) for p in receivers}
    for events in got.values():
        seen: collections.Counter[str] = collections.Counter()
        for e in events:
            if e["from_id"] != sender.node_id or not e["text"].startswith(tag + ":"):
                continue
            seen[e["text"]] += 1
            if seen[e["text"]] == 1:
                latencies.append((e["received_mono"] - e["sent_mono"]) * 1000)
        lost += count - len(seen)
        duplicated += sum(seen.values()) - len(seen)
    return {
        "receivers": len(receivers),
        "rate": rate,
        "messages": count,
        "complete": complete,
        "lost": lost,
        "duplicated": duplicated,
        "latency_ms": latencies,
    }


def flood(bench: Bench, procs: list[Proc], senders: list[Proc], count: int, size: int) -> dict:
    """Every sender writes ``count`` lines at once; time until all arrived everywhere."""
    tag = f"fl{time.monotonic_ns()}"
    with bench.reader.cond:
        marks = {p: p.mark() for p in procs}
    expect = {p: count * sum(s is not p for s in senders) for p in procs}
    payloads = [
        "".join(text(f"{tag}.{k}", i, size) + "\n" for i in range(count)).encode()
        for k in range(len(senders))
    ]
    errors: list[str] = []

    def write(proc: Proc, data: bytes) -> None:
        try:
            proc.write(data)
        except OSError as exc:
            errors.append(f"{proc.name}: {exc}")

    cpu0 = sum(p.cpu_seconds() for p in procs)
    threads = [
        threading.Thread(target=write, args=(s, data), daemon=True)
        for s, data in zip(senders, payloads, strict=True)
    ]
    with bench.reader.lazily(0.005):
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        complete = bench.wait_progress(
            lambda: all(p.received - marks[p][1] >= expect[p] for p in procs),
            lambda: sum(p.received for p in procs),
            stall=5,
            cap=120,
        )
    for thread in threads:
        thread.join(5)
    cpu = sum(p.cpu_seconds() for p in procs) - cpu0
    with bench.reader.cond:
        got = {p: p.messages_since(marks[p]) for p in procs}
    sender_ids = {s.node_id: k for k, s in enumerate(senders)}
    lost = duplicated = deliveries = 0
    end = t0
    reached: collections.Counter[str] = collections.Counter()  # text -> receivers it reached
    for p, events in got.items():
        seen: collections.Counter[str] = collections.Counter()
        for e in events:
            k = sender_ids.get(e["from_id"])
            if k is None or not e["text"].startswith(f"{tag}.{k}:"):
                continue
            seen[e["text"]] += 1
            end = max(end, e["received_mono"])
        reached.update(seen.keys())
        deliveries += len(seen)
        lost += expect[p] - len(seen)
        duplicated += sum(seen.values()) - len(seen)
    seconds = end - t0
    sent = count * len(senders)
    everywhere = sum(n == len(procs) - 1 for n in reached.values())
    return {
        "senders": len(senders),
        "receivers_per_message": len(procs) - 1,
        "messages": sent,
        "messages_everywhere": everywhere,
        "deliveries": deliveries,
        "complete": complete,
        "lost": lost,
        "duplicated": duplicated,
        "seconds": seconds,
        "msgs_per_s": everywhere / seconds if seconds > 0 else 0.0,  # that reached everyone
        "deliveries_per_s": deliveries / seconds if seconds > 0 else 0.0,
        "cpu_s": cpu,
        "cpu_us_per_delivery": cpu / deliveries * 1e6 if deliveries else None,
        "write_errors": errors,
    }


def scale_check(bench: Bench, room: Room, size: int) -> dict[str, Any]:
    grow_s = room.grow(size)
    room.wait_meshed(30, "the scale room")
    sender, others = room.procs[0], room.procs[1:]
    with bench.reader.cond:
        marks = {p: p.mark() for p in others}
    sender.write(b"one message for everybody\n")
    complete = bench.wait_progress(
        lambda: all(p.received > marks[p][1] for p in others),
        lambda: sum(p.received for p in others),
        stall=5,
        cap=30,
    )
    with bench.reader.cond:
        got = [p.messages_since(marks[p]) for p in others]
    reached = sum(any(e["text"] == "one message for everybody" for e in g) for g in got)
    arrival = [
        (e["received_mono"] - e["sent_mono"]) * 1000
        for g in got
        for e in g
        if e["text"] == "one message for everybody"
    ]
    rss = [p.rss_mib() for p in room.procs]
    return {
        "nodes": len(room.procs),
        "all_joined": room.meshed(),
        "grow_s": grow_s,
        "reached": reached,
        "complete": complete,
        "last_arrival_ms": max(arrival) if arrival else None,
        "rss_mib": rss,
    }


# -- statistics and the table -----------------------------------------------------------------


def pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0}
    v = sorted(values)
    return {
        "n": len(v),
        "min": v[0],
        "p50": statistics.median(v),
        "p90": pct(v, 90) if len(v) >= 10 else None,
        "p99": pct(v, 99) if len(v) >= 100 else None,
        "max": v[-1],
    }


@dataclass
class Figure:
    key: str
    title: str
    unit: str
    samples: list[float]
    target: str = ""
    check: Callable[[dict[str, Any]], bool] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    bad: int = 0  # failed trials, or lost + duplicated messages

    def result(self) -> dict[str, Any]:
        s = summary(self.samples)
        met = None
        if self.check:
            met = bool(s["n"]) and self.bad == 0 and self.check(s)
        return {
            "title": self.title,
            "unit": self.unit,
            "summary": s,
            "bad": self.bad,
            "target": self.target,
            "met": met,
            **self.extra,
            "samples": self.samples,
        }


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    head = ("figure", "unit", "n", "bad", "min", "p50", "p90", "p99", "max", "target", "met")
    rows = [head]
    for r in results.values():
        s = r["summary"]
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        cells = [s.get(k) for k in ("n", "min", "p50", "p90", "p99", "max")]
        bad = fmt(r["bad"])
        rows.append(
            (r["title"], r["unit"], fmt(cells[0]), bad, *map(fmt, cells[1:]), r["target"], met)
        )
    return render_table(rows, left=(0, 1, 9))


def render_table(rows: list[tuple[str, ...]], left: tuple[int, ...]) -> str:
    """Columns padded to their widest cell; text columns ``left`` flush left, numbers right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(plan: Plan, logdir: Path) -> dict[str, Any]:
    """Run every measurement of ``plan``; return the figures, the ratios and the raw trials."""
    bench = Bench(logdir)
    raw: dict[str, Any] = collections.defaultdict(list)
    try:
        measure(bench, plan, raw)
    finally:
        bench.close()
    return report(plan, raw)


def measure(bench: Bench, plan: Plan, raw: dict[str, Any]) -> None:
    size = plan.msg_size
    flood_room = plan.flood_receivers + 1
    lat_small = [n for n in plan.lat_receivers if n + 1 <= flood_room]
    lat_big = [n for n in plan.lat_receivers if n + 1 > flood_room]

    # Latency and throughput in a small room. A PeerChat room and a baseline mesh of the same
    # size stay up side by side (idle, they cost next to nothing) and take turns, so that a
    # change in the machine's background load does not favour one of them.
    log("peerchat: start-up of a lone founder, on a quiet machine")
    for _ in range(plan.startup_trials):
        raw["imports"].append(import_trial())
        raw["startup"].append(startup_trial(bench))
    log(f"a PeerChat room and a baseline mesh of {flood_room}")
    room = Room(bench, plan.batch)
    room.grow(flood_room)
    mesh = baseline_mesh(bench, flood_room)

    def procs(kind: str) -> list[Proc]:
        return room.procs if kind == "peerchat" else mesh

    def heal(what: str, since: float) -> None:
        try:
            room.wait_meshed(3, f"the room after {what}")
        except BenchError as exc:
            why = ", ".join(f"{n} x {r!r}" for r, n in left_reasons(room.procs, since))
            raw["broken_rooms"].append(f"{what}: {exc}; peer_left: {why}")
            log(f"  the PeerChat room broke during {what} ({why}); starting it again")
            room.restart(len(room.procs))

    kinds = ("peerchat", "baseline")
    for n in lat_small:
        for kind in kinds:
            log(f"{kind}: fan-out latency to {n} at {plan.lat_rate:g}/s for {plan.lat_seconds:g} s")
            raw[f"{kind}_latency_{n}"].append(
                fanout(bench, procs(kind)[: n + 1], plan.lat_rate, plan.lat_seconds, size)
            )
    for key, count in (("burst", plan.burst_count), ("flood", plan.flood_count)):
        for _ in range(plan.flood_repeats):
            since = time.monotonic()
            for kind in kinds:
                log(f"{kind}: {key} 1 -> {plan.flood_receivers}, {count} messages")
                group = procs(kind)
                raw[f"{kind}_{key}"].append(flood(bench, group, group[:1], count, size))
            heal(f"the {key}", since)
    n = plan.all_senders
    if n < flood_room:
        extra = room.procs[n:]
        for p in extra:
            p.close_stdin()  # a clean quit
        bench.wait(lambda: all(p.eof for p in extra), 10, "extra nodes to quit")
        room.procs = room.procs[:n]
        room.wait_meshed(10, "the all-send room")
        bench.kill(mesh[n:])
        mesh = mesh[:n]
        bench.wait(lambda: all(len(p.peers) == n - 1 for p in mesh), 10, "the baseline to shrink")
    for _ in range(plan.flood_repeats):
        since = time.monotonic()
        for kind in kinds:
            log(f"{kind}: all {n} send {plan.all_count} messages each")
            group = procs(kind)
            raw[f"{kind}_all"].append(flood(bench, group, group, plan.all_count, size))
        heal("the all-send flood", since)
    room.close()
    bench.kill(mesh)

    # Failover, join and scale, growing one room.
    room = Room(bench, plan.batch)
    rooms = sorted(set(plan.crash_rooms) | set(plan.silent_rooms))
    for n in rooms:
        log(f"peerchat: growing the room to {n}: {room.grow(n):.1f} s")
        if n in plan.crash_rooms:
            log(f"peerchat: crash failover, room of {n}, {plan.crash_trials} trials")
            failover_series(bench, room, n, signal.SIGKILL, plan.crash_trials, raw[f"crash_{n}"])
        if n in plan.silent_rooms:
            log(f"peerchat: silent failover, room of {n}, {plan.silent_trials} trials")
            failover_series(bench, room, n, signal.SIGSTOP, plan.silent_trials, raw[f"silent_{n}"])
    log(f"peerchat: join into a room of {plan.join_room}, {plan.join_trials} trials")
    room.grow(plan.join_room)
    for _ in range(plan.join_trials):
        raw["join"].append(join_trial(bench, room))
    for n in lat_big:
        room.grow(n + 1)
        log(f"peerchat: fan-out latency to {n} at {plan.lat_rate:g}/s for {plan.lat_seconds:g} s")
        raw[f"peerchat_latency_{n}"].append(
            fanout(bench, room.procs[: n + 1], plan.lat_rate, plan.lat_seconds, size)
        )
    log(f"peerchat: a room of {plan.scale}")
    raw["scale"].append(scale_check(bench, room, plan.scale))
    room.close()

    for n in lat_big:
        log(f"baseline: fan-out latency to {n}")
        procs = baseline_mesh(bench, n + 1)
        raw[f"baseline_latency_{n}"].append(
            fanout(bench, procs, plan.lat_rate, plan.lat_seconds, size)
        )
        raw["baseline_rss"].append([p.rss_mib() for p in procs])
        bench.kill(procs)


def report(plan: Plan, raw: dict[str, Any]) -> dict[str, Any]:
    figures: list[Figure] = []
    hb = HEARTBEAT_TIMEOUT * 1000
    crash_targets = {
        20: ("median <= 100, max <= 500", lambda s: s["p50"] <= 100 and s["max"] <= 500),
        50: ("median <= 250", lambda s: s["p50"] <= 250),
    }
    for n in plan.crash_rooms:
        trials = raw[f"crash_{n}"]
        target, check = crash_targets.get(n, ("", None))
        figures.append(
            Figure(
                f"crash_failover_{n}",
                f"crash failover (SIGKILL), room of {n}",
                "ms",
                [t["ms"] for t in trials if t["ms"] is not None],
                target,
                check,
                {"trials": trials},
                sum(bool(t["failed"]) for t in trials),
            )
        )
    for n in plan.silent_rooms:
        trials = raw[f"silent_{n}"]
        figures.append(
            Figure(
                f"silent_failover_{n}",
                f"silent failover (SIGSTOP), room of {n}",
                "ms",
                [t["ms"] for t in trials if t["ms"] is not None],
                f"max <= {hb:g} (timeout) + 250",
                lambda s: s["max"] <= hb + 250,
                {"heartbeat_timeout_ms": hb, "trials": trials},
                sum(bool(t["failed"]) for t in trials),
            )
        )
    lat_targets = {
        10: ("p50 <= 1, p99 <= 10", lambda s: s["p50"] <= 1 and (s["p99"] or s["max"]) <= 10)
    }
    for n in plan.lat_receivers:
        for kind in ("peerchat", "baseline"):
            runs = raw[f"{kind}_latency_{n}"]
            samples = [x for r in runs for x in r["latency_ms"]]
            target, check = lat_targets.get(n, ("", None)) if kind == "peerchat" else ("", None)
            lost = sum(r["lost"] for r in runs)
            duplicated = sum(r["duplicated"] for r in runs)
            figures.append(
                Figure(
                    f"{kind}_latency_{n}",
                    f"{kind} fan-out latency, 1 -> {n} at {plan.lat_rate:g}/s",
                    "ms",
                    samples,
                    f"{target + ', ' if target else ''}0 lost",
                    (lambda s, c=check: c is None or c(s)),
                    {"lost": lost, "duplicated": duplicated, "runs": _without(runs, "latency_ms")},
                    lost + duplicated,
                )
            )
    for key, what in throughput_runs(plan):
        for kind in ("peerchat", "baseline"):
            runs = raw[f"{kind}_{key}"]
            lost = sum(r["lost"] + r["duplicated"] for r in runs)
            for metric, unit in (("msgs_per_s", "msg/s"), ("deliveries_per_s", "deliv/s")):
                figures.append(
                    Figure(
                        f"{kind}_{key}_{metric}",
                        f"{kind} throughput {what}",
                        unit,
                        [r[metric] for r in runs],
                        "0 lost, 0 duplicated",
                        lambda s: True,
                        {"runs": runs},
                        lost,
                    )
                )
            figures.append(
                Figure(
                    f"{kind}_{key}_cpu",
                    f"{kind} CPU per delivery, {what}",
                    "us",
                    [r["cpu_us_per_delivery"] for r in runs if r["cpu_us_per_delivery"]],
                )
            )
    figures.append(Figure("imports", "python start + peerchat imports", "ms", raw["imports"]))
    figures.append(
        Figure("startup", "found a room at a free address (to ready)", "ms", raw["startup"])
    )
    joins = raw["join"]
    for metric, title in (
        ("ready_ms", "newcomer ready"),
        ("all_list_newcomer_ms", "all members list the newcomer"),
    ):
        target, check = ("", None)
        if metric == "ready_ms":
            target, check = "median <= 1000", (lambda s: s["p50"] <= 1000)
        figures.append(
            Figure(
                f"join_{metric}",
                f"join a room of {plan.join_room}: {title}",
                "ms",
                [j[metric] for j in joins],
                target,
                check,
                {"trials": joins},
            )
        )
    for sc in raw["scale"]:
        ok = sc["all_joined"] and sc["reached"] == sc["nodes"] - 1
        figures.append(
            Figure(
                "scale_rss",
                f"room of {sc['nodes']}: RSS per node",
                "MiB",
                sc["rss_mib"],
                f"all join, 1 msg reaches {sc['nodes'] - 1}, median <= 40",
                lambda s, ok=ok: ok and s["p50"] <= 40,
                {k: v for k, v in sc.items() if k != "rss_mib"},
            )
        )
        if sc["last_arrival_ms"] is not None:
            figures.append(
                Figure(
                    "scale_message",
                    f"room of {sc['nodes']}: one message to all",
                    "ms",
                    [sc["last_arrival_ms"]],
                    f"reached {sc['reached']}/{sc['nodes'] - 1}",
                    lambda s, ok=ok: ok,
                )
            )
    for rss in raw["baseline_rss"]:
        figures.append(Figure("baseline_rss", f"baseline RSS per process ({len(rss)})", "MiB", rss))
    results = {f.key: f.result() for f in figures}
    ratios = {}
    for n in plan.lat_receivers:
        pc = results[f"peerchat_latency_{n}"]["summary"]
        bl = results[f"baseline_latency_{n}"]["summary"]
        for q in ("p50", "p99"):
            if pc.get(q) and bl.get(q):
                ratios[f"latency_{n}_{q}"] = _ratio(
                    f"latency {q}, 1 -> {n} (lower is better)", pc[q], bl[q], "ms"
                )
    for key, what in throughput_runs(plan):
        pc_result = results[f"peerchat_{key}_deliveries_per_s"]
        pc, bl = pc_result["summary"], results[f"baseline_{key}_deliveries_per_s"]["summary"]
        if pc.get("p50") and bl.get("p50"):
            target = ">= 0.70, 0 lost" if key != "all" else ""
            ratios[f"throughput_{key}"] = _ratio(
                f"deliveries/s, {what} (higher is better)",
                pc["p50"],
                bl["p50"],
                "deliv/s",
                target,
                lossless=pc_result["bad"] == 0,
            )
    for key, what in throughput_runs(plan):
        pc = results[f"peerchat_{key}_cpu"]["summary"]
        bl = results[f"baseline_{key}_cpu"]["summary"]
        if pc.get("p50") and bl.get("p50"):
            ratios[f"cpu_{key}"] = _ratio(
                f"CPU per delivery, {what} (lower is better)", pc["p50"], bl["p50"], "us"
            )
    return {"figures": results, "ratios": ratios, "broken_rooms": raw["broken_rooms"]}


def throughput_runs(plan: Plan) -> list[tuple[str, str]]:
    n = plan.flood_receivers
    return [
        ("burst", f"1 -> {n}, burst of {plan.burst_count}"),
        ("flood", f"1 -> {n}, flood of {plan.flood_count}"),
        ("all", f"all {plan.all_senders}, {plan.all_count} each"),
    ]


def _ratio(
    title: str, pc: float, bl: float, unit: str, target: str = "", *, lossless: bool = True
) -> dict[str, Any]:
    ratio = pc / bl
    met = (ratio >= 0.70 and lossless) if target else None
    return {"title": title, "unit": unit, "peerchat": pc, "baseline": bl, "ratio": ratio,
            "target": target, "met": met}  # fmt: skip


def _without(runs: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != key} for r in runs]


def ratio_table(ratios: dict[str, dict[str, Any]]) -> str:
    head = ("PeerChat / baseline", "unit", "peerchat", "baseline", "ratio", "target", "met")
    rows = [head]
    for r in ratios.values():
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        rows.append(
            (r["title"], r["unit"], fmt(r["peerchat"]), fmt(r["baseline"]), f"{r['ratio']:.2f}",
             r["target"], met)
        )  # fmt: skip
    return render_table(rows, left=(0, 1, 5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, under 60 s")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # for the tests
    parser.add_argument("--json", metavar="FILE", help="write every sample to FILE as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the nodes' log files")
    args = parser.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    plan = PLANS[mode]

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background
    logdir = Path(tempfile.mkdtemp(prefix="peerchat-bench-"))
    started = time.monotonic()
    load_before = os.getloadavg()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    keep = args.keep_logs
    try:
        result = run(plan, logdir)
    except KeyboardInterrupt:
        print("bench: interrupted; every node was stopped", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: {exc} (logs kept in {logdir})", file=sys.stderr)
        keep = True
        return 1
    finally:
        if not keep:
            shutil.rmtree(logdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    meta = {
        "date": date,
        "mode": mode,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seconds": elapsed,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "heartbeat_timeout_s": HEARTBEAT_TIMEOUT,
        "plan": plan.__dict__,
        "baseline": "scripts/bench_baseline.py: trio + msgpack, a writer task per peer sending "
        "all queued frames in one send_all, backpressure at 256 KiB queued per peer, one JSON "
        "line per received message written once per received chunk",
    }
    print(
        f"PeerChat benchmark, {mode} run, {date}, {meta['machine']}, {elapsed:.0f} s, "
        f"load average {load_before[0]:.2f} before"
    )
    print()
    print(table(result["figures"]))
    print()
    print(ratio_table(result["ratios"]))
    failures = [
        f"{r['title']}: {t['failed']}"
        for r in result["figures"].values()
        for t in r.get("trials", [])
        if t.get("failed")
    ]
    if failures or result["broken_rooms"]:
        print("\nfailures:")
        for line in failures + result["broken_rooms"]:
            print(f"  {line[:400]}")
    if args.keep_logs:
        print(f"\nlogs: {logdir}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, **result}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
