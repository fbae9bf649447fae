"""Rooms to measure in: a PeerChat room kept a full mesh, and a baseline mesh beside it.

Every family needs a room that is whole before it measures and whole again afterwards; the
checks for "whole" (everyone lists exactly everyone else, one tracker) live here once.
"""

from __future__ import annotations

import collections
import contextlib
import re
import time
from collections.abc import Iterable
from pathlib import Path

from .driver import Bench, BenchError, Proc, free_port, listening, log


class Room:
    """A PeerChat room on its own tracker port, kept a full mesh."""

    def __init__(self, bench: Bench, batch: int, code: Path | None = None) -> None:
        self.bench = bench
        self.code = code  # another peerchat to run (``versus``), else the one importable here
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
            self.procs.append(self.bench.peerchat(self.port, code=self.code))
            self.wait_meshed(15, "the founder")
        while len(self.procs) < size:
            n = min(self.batch, size - len(self.procs))
            self.wait_listening()
            self.procs += [self.bench.peerchat(self.port, code=self.code) for _ in range(n)]
            # Each newcomer makes a handshake with every member: a step into a large room takes
            # some seconds on two cores (twice what this allowed before links were encrypted).
            self.wait_meshed(10 + n + 0.1 * len(self.procs), f"growing to {len(self.procs)}")
        return time.monotonic() - start

    def shrink(self, size: int) -> None:
        """Let the newest nodes quit cleanly until the room has ``size``."""
        extra = self.procs[size:]
        for p in extra:
            p.close_stdin()  # a clean quit
        self.bench.wait(lambda: all(p.eof for p in extra), 10, "extra nodes to quit")
        self.procs = self.procs[:size]

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

    def heal(self, what: str, since: float) -> str | None:
        """After a flood: None if the room is still whole, else why it broke (it is restarted).

        A broken room is a finding, not an error: it is listed under the table and the run
        goes on in a fresh room.
        """
        try:
            self.wait_meshed(3, f"the room after {what}")
        except BenchError as exc:
            why = ", ".join(f"{n} x {r!r}" for r, n in left_reasons(self.procs, since))
            log(f"  the PeerChat room broke during {what} ({why}); starting it again")
            self.restart(len(self.procs))
            return f"{what}: {exc}; peer_left: {why}"
        return None


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


def shrink_mesh(bench: Bench, mesh: list[Proc], size: int) -> list[Proc]:
    """The first ``size`` of a baseline mesh, once they list only each other."""
    bench.kill(mesh[size:])
    mesh = mesh[:size]
    bench.wait(lambda: all(len(p.peers) == size - 1 for p in mesh), 10, "the baseline to shrink")
    return mesh


def text(tag: str, i: int, size: int) -> str:
    """Message ``i`` of a run, padded to ``size`` characters; the tag tells runs apart."""
    head = f"{tag}:{i}:"
    return head + "x" * max(0, size - len(head))
