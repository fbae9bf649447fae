"""One room on a real network: five hosts, each a network namespace on one switch (tests/netns.py).

Every node runs the command a user on each of five computers would:
``peerchat --headless --ephemeral --username hN --host 10.77.0.N --port 6000 --tracker
10.77.0.1:5000``; h1 founds the room, h2..h5 join together. Each trial has a room of its own,
started afresh on the same hosts, so that h1 is its tracker.

* Partition healed: the switch splits {h1, h2} | {h3, h4, h5} (tests/netns.py moves the hosts'
  links to another bridge: neither host is told). Once each side has lost the other and the
  larger one has a tracker of its own, the split is held until ``PARTITION`` s after it began
  (longer if the split took longer, up to ``SPLIT_WITHIN``; its time is kept), then healed.
  The figure is from just before the heal until every node's ``/who`` lists all five and marks
  the same single tracker (the stamp of the last answer of the first round that agrees; rounds
  of ``/who`` to every node follow each other 20 ms apart). The room must then stay one, with
  that tracker and nobody lost, for ``STABLE`` s, else the trial failed.
* Messages said during the partition: once split, every host says ``plan.partition_messages``
  lines. The figure runs from the heal until the last of them is shown on the last host (each
  node's own ``received_mono``; one clock, as the namespaces share the kernel); each node must
  show each of the others' lines once, and each author's in order, else the trial failed.
* Crash failover: as ``failover.trial`` on loopback: SIGKILL the tracker (h1), and time until
  every survivor has reported the same new tracker.

Where namespaces cannot be made (not root, no ``ip``, no tests/netns.py), nothing is measured:
the report says why under the tables, and the rows are left out.
"""

from __future__ import annotations

import collections
import functools
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from . import failover
from .driver import Bench, BenchError, Proc, log
from .plan import Plan
from .report import Figure, Raw
from .rooms import Room

HOSTS = 5
SIDE_A = (1, 2)  # the hosts cut off from the rest, h1 (the tracker) among them
PORT = 6000  # every node's own port, on its own host
HOME_PORT = 5000  # the room's tracker address is host 1's, on this port
PARTITION = 8.0  # seconds the partition lasts: past the 4-6.6 s it takes to notice it
# ... or longer, until each side has lost the other: a split seen after 8 s failed CI's trial,
# and a heal before it would be timed from a room not yet split. Past this, the trial fails.
SPLIT_WITHIN = 16.0
HEAL_WITHIN = 15.0  # a trial gives up this long after the heal (the target is 5 s)
STABLE = 2.0  # once one room, it must stay one this long
WHO_GAP = 0.02  # between rounds of /who
TESTS = Path(__file__).resolve().parent.parent.parent / "tests"

View = tuple[frozenset[str], tuple[str, ...]]  # (node ids listed, node ids marked tracker)


def netns() -> tuple[ModuleType | None, str | None]:
    """tests/netns.py, or why there are no hosts to be had here."""
    if os.geteuid() != 0:
        return None, "making network namespaces needs root"
    if shutil.which("ip") is None:
        return None, "the `ip` command (iproute2) is missing"
    if str(TESTS) not in sys.path:
        sys.path.append(str(TESTS))
    try:
        import netns as module  # tests/netns.py (it imports pytest and trio)
    except ImportError as exc:
        return None, f"tests/netns.py cannot be imported: {exc}"
    return module, None


class HostRoom(Room):
    """A room whose node ``hN`` runs on host N of ``lan``; the tracker address is on host 1."""

    def __init__(self, bench: Bench, lan: Any) -> None:
        self.bench, self.lan = bench, lan
        self.port = HOME_PORT
        self.procs: list[Proc] = []
        self.batch = HOSTS
        self.host_of: dict[Proc, int] = {}

    def start(self, host: int) -> Proc:
        lan, logdir = self.lan, self.bench.logdir

        def argv(name: str) -> list[str]:
            return [
                *lan.exec_prefix(host), sys.executable, "-m", "peerchat",
                "--headless", "--ephemeral", "--username", f"h{host}",
                "--host", lan.addr(host), "--port", str(PORT),
                "--tracker", f"{lan.addr(1)}:{HOME_PORT}",
                "--log-file", str(logdir / f"{name}.log"),
            ]  # fmt: skip

        proc = self.bench._spawn("peerchat", argv)
        self.procs.append(proc)
        self.host_of[proc] = host
        return proc

    def found(self) -> None:
        """h1 founds the room, h2..h5 start together and join; returns once it is one room."""
        founder = self.start(1)
        self.wait_meshed(15, "h1 founding the room")
        if founder.role != "tracker":
            raise BenchError(f"h1 started as {founder.role}, not as the room's tracker")
        for host in range(2, HOSTS + 1):
            self.start(host)
        self.wait_meshed(20, f"a room of {HOSTS} hosts")
        one_room(self.bench, self, self.procs, 5, time.monotonic())

    def grow(self, size: int) -> float:
        raise NotImplementedError("a room on hosts is founded, not grown")

    def name(self, node_id: str | None) -> str:
        for p, host in self.host_of.items():
            if p.node_id == node_id:
                return f"h{host}"
        return str(node_id)[:8]


def measure(bench: Bench, plan: Plan, raw: Raw) -> None:
    """The partition trials, then the crash trials, each in a fresh room of five hosts."""
    module, why = netns()
    lan = None
    if module:
        try:
            lan = module.Lan(HOSTS).__enter__()
        except RuntimeError as exc:
            why = f"cannot make network namespaces here: {exc}"
    if lan is None:
        what = f"one room on {HOSTS} hosts (partition healed, crash failover)"
        raw["skipped"].append(f"{what}: {why}")
        log(f"peerchat: no hosts to be had, skipping the multi-host rows: {why}")
        return
    try:
        log(f"peerchat: partition of {PARTITION:g} s healed, {HOSTS} hosts, {plan.heal_runs} runs")
        for _ in range(plan.heal_runs):
            trial = in_room(bench, lan, functools.partial(heal_trial, plan=plan))
            raw["multihost_heal"].append(trial)
            raw["multihost_delivery"].append(trial.get("delivery", {"ms": None, "failed": "-"}))
        log(f"peerchat: crash failover across {HOSTS} hosts, {plan.multihost_crash_trials} trials")
        for _ in range(plan.multihost_crash_trials):
            raw["multihost_crash"].append(in_room(bench, lan, crash_trial))
    finally:
        lan.close()  # every node of it is dead by now: each trial's room is closed


def in_room(bench: Bench, lan: Any, trial: Any) -> dict[str, Any]:
    """One trial in a room of its own; a room that does not form is a failed trial."""
    room = HostRoom(bench, lan)
    try:
        room.found()
        return trial(bench, room)
    except BenchError as exc:
        log(f"  trial failed: {str(exc)[:300]}")
        return {"ms": None, "failed": str(exc)}
    finally:
        room.close()


def crash_trial(bench: Bench, room: HostRoom) -> dict[str, Any]:
    result = failover.trial(bench, room, signal.SIGKILL)
    return {**result, "new_tracker": room.name(room.procs[0].tracker)}


def heal_trial(bench: Bench, room: HostRoom, plan: Plan) -> dict[str, Any]:
    lan = room.lan
    side_a = [p for p in room.procs if room.host_of[p] in SIDE_A]
    side_b = [p for p in room.procs if room.host_of[p] not in SIDE_A]
    a_ids, b_ids = {p.node_id for p in side_a}, {p.node_id for p in side_b}

    def split() -> bool:
        return (
            all(p.peers.keys().isdisjoint(b_ids) for p in side_a)
            and all(p.peers.keys().isdisjoint(a_ids) for p in side_b)
            and len({p.tracker for p in side_b}) == 1
            and side_b[0].tracker in b_ids
        )

    lan.partition(SIDE_A)
    split_at = time.monotonic()
    failed = None
    try:
        bench.wait(split, SPLIT_WITHIN, "each side to lose the other, and a tracker on each")
        split_ms: float | None = (time.monotonic() - split_at) * 1000
    except BenchError as exc:
        split_ms = None
        views = describe(room, who_round(bench, room.procs))
        failed = f"no split within the partition: {exc}; {views}"
    tag = f"pm{time.monotonic_ns()}"
    with bench.reader.cond:
        marks = {p: p.mark() for p in room.procs}
    for k, p in enumerate(room.procs):
        lines = "".join(f"{tag}.{k}:{i}\n" for i in range(plan.partition_messages))
        p.write(lines.encode())
    time.sleep(max(0.0, split_at + PARTITION - time.monotonic()))  # the fault schedule

    t0 = time.monotonic()
    lan.heal()
    took, tracker, rounds = one_room(bench, room, room.procs, HEAL_WITHIN, t0)
    result = {
        "ms": took * 1000,
        "split_ms": split_ms,
        "tracker": room.name(tracker),
        "who_rounds": rounds,
        "failed": failed,
    }
    since = {p: len(p.events) for p in room.procs}
    time.sleep(STABLE)  # a window of observation: the room must stay one
    with bench.reader.cond:
        changes = [
            f"{room.name(p.node_id)}: {e['event']} {room.name(e.get('node_id'))}"
            for p in room.procs
            for _, e in p.events[since[p] :]
            if (e.get("event") == "tracker" and e["node_id"] != tracker)
            or e.get("event") == "peer_left"
        ]
    if changes:
        result["failed"] = failed or f"one room, then not within {STABLE:g} s: {changes[:8]}"
    result["delivery"] = delivery(bench, room, plan, tag, marks, t0)
    return result


def delivery(
    bench: Bench,
    room: HostRoom,
    plan: Plan,
    tag: str,
    marks: dict[Proc, tuple[int, int]],
    healed: float,
) -> dict[str, Any]:
    """Whether every partition message reached every other node once and in its author's
    order, and when the last one arrived (ms after the heal)."""
    expect = (len(room.procs) - 1) * plan.partition_messages
    try:
        bench.wait(
            lambda: all(p.received - marks[p][1] >= expect for p in room.procs),
            HEAL_WITHIN,
            "every partition message on every node",
        )
    except BenchError as exc:
        failed: str | None = str(exc)
    else:
        failed = None
    last, missing, duplicated, disorder = healed, 0, 0, 0
    with bench.reader.cond:
        got = {p: p.messages_since(marks[p]) for p in room.procs}
    for events in got.values():
        mine = [e for e in events if e["text"].startswith(f"{tag}.")]
        seen = collections.Counter(e["text"] for e in mine)
        missing += expect - len(seen)
        duplicated += sum(seen.values()) - len(seen)
        order: dict[str, int] = {}
        for e in mine:
            author, _, n = e["text"].partition(":")
            disorder += int(n) < order.get(author, -1)
            order[author] = int(n)
        last = max([last, *(e["received_mono"] for e in mine)])
    if missing or duplicated or disorder:
        failed = f"{missing} missing, {duplicated} duplicated, {disorder} out of order"
    return {
        "ms": (last - healed) * 1000 if not failed else None,
        "missing": missing,
        "duplicated": duplicated,
        "out_of_order": disorder,
        "failed": failed,
    }


def who_round(bench: Bench, procs: list[Proc]) -> dict[Proc, tuple[float, View]]:
    """Ask every node ``/who``; each one's answer, with its arrival stamp."""
    with bench.reader.cond:
        marks = {p: len(p.events) for p in procs}
    for p in procs:
        try:
            p.write(b"/who\n")
        except OSError as exc:
            raise BenchError(f"{p} does not take /who: {exc}") from exc

    def answer(p: Proc) -> tuple[float, dict[str, Any]] | None:
        return next(((t, e) for t, e in p.events[marks[p] :] if e.get("event") == "who"), None)

    bench.wait(lambda: all(map(answer, procs)), 5, "every node to answer /who")
    views = {}
    with bench.reader.cond:
        for p in procs:
            t, e = answer(p)  # type: ignore[misc]
            peers = e["peers"]
            listed = frozenset(m["node_id"] for m in peers)
            views[p] = (t, (listed, tuple(m["node_id"] for m in peers if m["tracker"])))
    return views


def describe(room: HostRoom, views: dict[Proc, tuple[float, View]]) -> str:
    return "; ".join(
        f"{room.name(p.node_id)} lists {sorted(map(room.name, listed))}, "
        f"tracker {[room.name(t) for t in tracker]}"
        for p, (_, (listed, tracker)) in views.items()
    )


def one_room(
    bench: Bench, room: HostRoom, procs: list[Proc], within: float, t0: float
) -> tuple[float, str, int]:
    """Rounds of ``/who`` until every node lists exactly ``procs`` and marks the same single
    tracker: (seconds from ``t0`` to the last answer of that round, the tracker, rounds)."""
    ids = frozenset(p.node_id for p in procs)
    deadline = time.monotonic() + within
    rounds = 0
    while True:
        views = who_round(bench, procs)
        rounds += 1
        trackers = {tracker for _, (_, tracker) in views.values()}
        if all(listed == ids for _, (listed, _) in views.values()) and len(trackers) == 1:
            (tracker,) = trackers
            if len(tracker) == 1 and tracker[0] in ids:
                return max(t for t, _ in views.values()) - t0, tracker[0], rounds
        if time.monotonic() > deadline:
            raise BenchError(f"not one room after {within:g} s: {describe(room, views)}")
        time.sleep(WHO_GAP)  # polling, bounded by the deadline above


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    """The split, heal, delivery and crash rows; none where there were no hosts to be had."""
    if not raw["multihost_heal"] and not raw["multihost_crash"]:
        return []
    splits = [
        {"ms": t.get("split_ms"), "failed": None if t.get("split_ms") else "no split"}
        for t in raw["multihost_heal"]
    ]
    rows = [
        (
            "partition_split_5_hosts",
            f"partition: each side lost the other and has a tracker, {HOSTS} hosts",
            splits,
            "",
            None,
            {"split_within_s": SPLIT_WITHIN},
        ),
        (
            "partition_heal_5_hosts",
            f"partition of {PARTITION:g} s healed -> one room, {HOSTS} hosts",
            raw["multihost_heal"],
            "median <= 5000",
            lambda s: s["p50"] <= 5000,
            {"partition_s": PARTITION, "stable_s": STABLE},
        ),
        (
            "partition_delivery_5_hosts",
            f"messages said during a {PARTITION:g} s partition, all shown after healing, "
            f"{HOSTS} hosts",
            raw["multihost_delivery"],
            "median <= 5000",
            lambda s: s["p50"] <= 5000,
            {"messages_per_host": plan.partition_messages},
        ),
        (
            "crash_failover_5_hosts",
            f"crash failover (SIGKILL) across {HOSTS} hosts",
            raw["multihost_crash"],
            "median <= 250",
            lambda s: s["p50"] <= 250,
            {"loopback_row": [f"crash_failover_{n}" for n in plan.crash_rooms]},
        ),
    ]
    return [failover.timed_row(*row) for row in rows]
