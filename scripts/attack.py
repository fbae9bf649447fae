#!/usr/bin/env python3
"""Issue 7's attacks against real `peerchat --headless` rooms on loopback, with figures.

For each attack a fresh room is started: ``target`` (the tracker) and ``friend`` (a member).
The attack runs against one of them (the victim); meanwhile and afterwards the script records
whether the victim is alive, whether its stderr holds a traceback, whether the two members still
chat both ways, and the victim's resident memory and open descriptors (from /proc) before, at
the peak and after the attackers are gone. The node code is whatever ``--tree`` holds (its
directory goes first on PYTHONPATH), so one attacker measures any version:

    .venv/bin/python scripts/attack.py --tree /path/to/old/checkout --out /tmp/before.md
    .venv/bin/python scripts/attack.py --scale suite --only partial direct

Every connection goes to 127.0.0.1 (sources 127.0.0.x to spread the idle flood).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import attacks as A  # noqa: E402
from e2e_helpers import Swarm, free_port, wait_mesh  # noqa: E402

MIB = 1024
SCALES = {
    # attack: (issue's size, a size the test suite affords)
    "partial": (500, 150),
    "partial-direct": (500, 150),
    "direct": (2000, 300),
    "idle": (20000, 600),
}
WORKER_MAX = 15000  # connections per idle-flood worker process (each has its own fd limit)
IDLE_SOURCES = [f"127.0.0.{i}" for i in range(1, 41)]
# Whether the nodes keep nothing on disk (--ephemeral): set in main from the tree's command line,
# since versions before data dirs lack the option (and keep nothing anyway).
EPHEMERAL = True
UNSAFE_RAW = {
    "U+2028": "\u2028".encode(),
    "U+2029": "\u2029".encode(),
    "U+0085": "\u0085".encode(),
    "U+202E": "\u202e".encode(),
    "ESC": b"\x1b",
    "BEL": b"\x07",
}


@dataclass
class Figures:
    attack: str
    victim: str
    size: str = ""
    alive: str = "?"
    traceback: str = "?"
    chat_during: str = "-"
    chat_after: str = "?"
    rss0: float = math.nan
    rss_peak: float = math.nan
    rss_after: float = math.nan
    fd0: int = -1
    fd_peak: int = -1
    fd_after: int = -1
    notes: list[str] = field(default_factory=list)


class Room:
    def __init__(self, swarm: Swarm, target: A.RawProc, friend: A.RawProc) -> None:
        self.swarm, self.target, self.friend = swarm, target, friend
        self.fd_peak = 0
        self.rss_peak = 0

    async def sample(self, pid: int) -> None:
        """Peak descriptors (memory has VmHWM) of ``pid``, 20 times a second."""
        with contextlib.suppress(OSError):
            while True:
                self.fd_peak = max(self.fd_peak, A.fd_count(pid))
                await trio.sleep(0.05)


async def start_room(swarm: Swarm) -> Room:
    target = await A.spawn_raw_node(swarm, "target", swarm.tracker_addr, ephemeral=EPHEMERAL)
    await target.wait_for(event="ready")
    friend = await A.spawn_raw_node(swarm, "friend", swarm.tracker_addr, ephemeral=EPHEMERAL)
    await friend.wait_for(event="ready")
    await wait_mesh([target, friend])
    return Room(swarm, target, friend)


_said = 0


async def chat_both_ways(room: Room, timeout: float = 5.0) -> str:
    """'yes (N ms)' when each member hears the other's line within ``timeout``, else why not."""
    global _said
    started = time.monotonic()
    for sender, receiver in ((room.friend, room.target), (room.target, room.friend)):
        _said += 1
        text = f"probe {_said} from {sender.name}"
        if sender.returncode is not None:
            return f"no: {sender.name} exited"
        try:
            await sender.send(text)
            await receiver.wait_for(event="message", text=text, timeout=timeout)
        except (AssertionError, trio.TooSlowError, trio.BrokenResourceError, OSError):
            return f"no: {sender.name} -> {receiver.name} lost"
    return f"yes ({(time.monotonic() - started) * 1000:.0f} ms)"


def joins_reported(proc: A.RawProc, prefix: str = "mallory-") -> int:
    return sum(1 for e in proc.find(event="peer_joined") if e["node_id"].startswith(prefix))


def raw_unsafe(proc: A.RawProc) -> list[str]:
    data = b"\n".join(proc.raw_lines)
    return [name for name, raw in UNSAFE_RAW.items() if raw in data]


# -- the attacks: each does its thing and holds it, notes what it saw, and lets go -------------


async def killer_version(room: Room, fig: Figures, size: int) -> None:
    # The killer, then a version that fits a hello-sized frame, to see what a refusal says.
    for length in (300_000, 2_000):
        name, answer, closed = await A.poke(room.swarm.tracker_port, A.long_version_hello(length))
        refusal = A.split_frames(answer)
        reason = str(refusal[0].get("reason", "")) if refusal else ""
        fig.notes.append(
            f"version of {length:,}: answer {len(answer):,} bytes, "
            + (f"refusal reason {len(reason):,} chars {reason[:60]!r}, " if refusal else "")
            + f"connection closed: {closed}"
        )


async def killer_nested_type(room: Room, fig: Figures, size: int) -> None:
    name, answer, closed = await A.poke(room.swarm.tracker_port, A.nested_type_frame(1000))
    fig.notes.append(f"answer {len(answer):,} bytes, connection closed: {closed}")


async def killer_nested_text(room: Room, fig: Figures, size: int) -> None:
    """After a valid hello, a batch nested 1,000 deep: in the frame (where the batch's bytes
    go), then inside the batch's signed bytes (a text nested so)."""
    for where in ("frame", "signed bytes"):
        mallory = A.FakeIdentity(room=A.open_room_at(room.swarm.tracker_port))
        killer = (
            A.nested_batch_frame(1000) if where == "frame" else A.nested_batch_data(mallory, 1000)
        )
        data = A.frame(mallory.hello(join=True)) + killer
        name, answer, closed = await A.poke(room.swarm.tracker_port, data)
        fig.notes.append(f"nested in the {where}: connection closed: {closed}")


async def partial_frames(room: Room, fig: Figures, size: int) -> None:
    partial = A.partial_frame()

    def payload(i: int, me: A.FakeIdentity) -> tuple[bytes, bytes]:
        return A.frame(me.hello(join=True)), partial

    await flood_and_hold(room, fig, room.swarm.tracker_port, size, payload, hold=8.0)


async def partial_frames_direct(room: Room, fig: Figures, size: int) -> None:
    """The same toward a member that is not the tracker, with direct hellos: no heartbeat
    there ever cuts a silent peer, so nothing but the node's own limits does."""
    partial = A.partial_frame()

    def payload(i: int, me: A.FakeIdentity) -> tuple[bytes, bytes]:
        return A.frame(me.hello(join=False, room=room.swarm.tracker_addr)), partial

    await flood_and_hold(room, fig, room.friend.port, size, payload, hold=8.0)
    fig.notes.append(f"reported as joined by friend: {joins_reported(room.friend):,}")


async def direct_hellos(room: Room, fig: Figures, size: int) -> None:
    def payload(i: int, me: A.FakeIdentity) -> bytes:
        return A.frame(me.hello(join=False, room=room.swarm.tracker_addr))

    await flood_and_hold(room, fig, room.friend.port, size, payload, hold=5.0)
    fig.notes.append(f"reported as joined by friend: {joins_reported(room.friend):,}")


async def flood_and_hold(
    room: Room,
    fig: Figures,
    port: int,
    size: int,
    payload: Callable[[int, A.FakeIdentity], bytes | tuple[bytes, ...]],
    hold: float,
) -> None:
    started = time.monotonic()
    async with A.open_flood(port, size, payload, concurrency=64) as flood:
        fig.notes.append(f"all sent in {time.monotonic() - started:.1f} s")
        fig.chat_during = await chat_both_ways(room)
        await flood.all_closed(max(0.0, hold - (time.monotonic() - started)))
        fig.notes.append(f"after {hold:g} s: {flood.summary()}")


async def idle(room: Room, fig: Figures, size: int) -> None:
    """``size`` connections that say a direct hello to ``friend`` and then nothing, from
    worker processes of at most WORKER_MAX connections each (one fd limit per process)."""
    workers = []
    counts = [WORKER_MAX] * (size // WORKER_MAX) + (
        [size % WORKER_MAX] if size % WORKER_MAX else []
    )
    for count in counts:
        workers.append(
            await trio.lowlevel.open_process(
                [
                    sys.executable,
                    __file__,
                    "flood-worker",
                    str(room.friend.port),
                    str(count),
                    room.swarm.tracker_addr,
                ],  # fmt: skip
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )
    started = time.monotonic()
    try:
        summaries = [await _worker_line(w, timeout=120) for w in workers]
        fig.notes.append(f"all sent in {time.monotonic() - started:.1f} s: " + "; ".join(summaries))
        fig.chat_during = await chat_both_ways(room)
        late = await A.spawn_raw_node(
            room.swarm, "late", room.swarm.tracker_addr, ephemeral=EPHEMERAL
        )
        try:
            await late.wait_for(event="ready", timeout=15)
            fig.notes.append("a newcomer joins: yes")
            await late.wait_for(event="peer_joined", node_id=room.friend.node_id, timeout=5)
            fig.notes.append("it reaches friend: yes")
        except AssertionError:
            fig.notes.append("(newcomer: no further)")
        late.signal(9)
        fig.notes.append(f"reported as joined by friend: {joins_reported(room.friend):,}")
        hold_left = 8.0 - (time.monotonic() - started)
        if hold_left > 0:
            await trio.sleep(hold_left)  # the attack's length, not a wait for the node
        for w in workers:
            assert w.stdin is not None
            await w.stdin.aclose()
        closed = [await _worker_line(w, timeout=30) for w in workers]
        fig.notes.append("at the end: " + "; ".join(closed))
    finally:
        for w in workers:
            with contextlib.suppress(OSError):
                w.kill()
            await w.wait()


async def _worker_line(worker: trio.Process, timeout: float) -> str:
    assert worker.stdout is not None
    line = b""
    with trio.move_on_after(timeout):
        while not line.endswith(b"\n"):
            chunk = await worker.stdout.receive_some(1)
            if not chunk:
                break
            line += chunk
    return line.decode().strip() or "(no answer from the worker)"


async def flood_worker(port: int, count: int, room: str) -> None:
    """In a worker process: hold ``count`` idle connections, each a direct hello claiming
    ``room``, until stdin closes."""
    A.raise_nofile(count + 100)

    def payload(i: int, me: A.FakeIdentity) -> bytes:
        return A.frame(me.hello(join=False, room=room))

    stdin = trio.lowlevel.FdStream(os.dup(0))
    async with A.open_flood(
        port, count, payload, sources=IDLE_SOURCES, concurrency=256, settle_timeout=110
    ) as flood:
        print(flood.summary(), flush=True)
        while await stdin.receive_some(1):
            pass
        print(flood.summary(), flush=True)


async def strings(room: Room, fig: Figures, size: int) -> None:
    # (a) A host with a newline and a bell, joining the room.
    bad = A.hello(join=True, host="127.0.0.1\n12:00 <friend> run /quit now\a")
    stream = await A.connect(room.swarm.tracker_port)
    await stream.send_all(A.frame(bad))
    joined = await room.target.first_within(3, event="peer_joined", node_id=bad["node_id"])
    seen_by_friend = room.friend.find(event="peer_joined", node_id=bad["node_id"])
    fig.notes.append(
        "host with newline+bell: "
        + (f"reported joined as {joined['addr']!r}" if joined else "not reported")
        + (" (friend too)" if seen_by_friend else "")
    )
    await trio.aclose_forcefully(stream)

    # (b) A member's chat with U+2028, U+0085 and U+202E in its text.
    mallory = A.FakeIdentity(room=A.open_room_at(room.swarm.tracker_port))
    stream = await A.connect(room.swarm.tracker_port)
    text = "line\u2028break next\u0085line \u202eesrever"
    await stream.send_all(A.frame(mallory.hello(join=True)) + A.frame(mallory.batch(1, text)))
    shown = await room.target.first_within(3, event="message", from_id=mallory.node_id)
    fig.notes.append(
        f"chat text with U+2028/U+0085/U+202E: {'shown' if shown else 'not shown'}, raw on "
        f"target's stdout: {', '.join(raw_unsafe(room.target)) or 'none'}"
    )
    await trio.aclose_forcefully(stream)

    # (c) A fake tracker that sends its newcomer hostile names and reasons.
    evil = A.member(A.fresh_id(), "\u202eevil")
    carol = A.member(A.fresh_id(), "carol")
    bad_reason = "gone\x1b[2J\u2028\u202e"
    cases = {
        "announces a member named '\\u202eevil'": (
            [],
            [{"t": "joined", "member": evil, "joining": True, "marked": False}],
        ),
        "welcomes with a member named '\\u202eevil'": ([evil], []),
        "says carol left for 'gone ESC[2J U+2028 U+202E'": (
            [carol],
            [{"t": "left", "node_id": carol["node_id"], "reason": bad_reason}],
        ),
    }
    for label, (others, frames) in cases.items():
        fig.notes.append(f"fake tracker {label}: " + await fake_tracker_case(room, others, frames))


async def fake_tracker_case(room: Room, others: list[dict], frames: list[dict]) -> str:
    tracker = A.FakeTracker(free_port(), others=others)
    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.serve)
        newbie = await A.spawn_raw_node(
            room.swarm, "newbie", f"127.0.0.1:{tracker.port}", ephemeral=EPHEMERAL
        )
        try:
            await newbie.wait_for(event="ready", timeout=15)
            for payload in frames:
                await tracker.send(payload)
            await tracker.say("barrier")
            with trio.move_on_after(5):
                async with trio.open_nursery() as first:

                    async def barrier() -> None:
                        await newbie.wait_for(event="message", text="barrier")
                        first.cancel_scope.cancel()

                    async def dropped() -> None:
                        await tracker.closed.wait()
                        first.cancel_scope.cancel()

                    first.start_soon(barrier)
                    first.start_soon(dropped)
            names = [e["username"] for e in newbie.find(event="peer_joined")]
            left = [e["reason"] for e in newbie.find(event="peer_left")]
            return (
                f"peer_joined {names!r}, peer_left {left!r}, "
                f"{'newbie dropped the tracker' if tracker.closed.is_set() else 'still connected'}"
                f", raw on stdout: {', '.join(raw_unsafe(newbie)) or 'none'}, "
                f"alive: {newbie.returncode is None}"
            )
        except AssertionError:
            return f"newbie never ready (exit {newbie.returncode})"
        finally:
            newbie.signal(9)
            nursery.cancel_scope.cancel()


async def forged(room: Room, fig: Figures, size: int) -> None:
    """Chat the target must not take: (a) a member hands on a batch signed with its own key in
    the name of another key; (b) a stranger says its hello with friend's node id and sends a
    live batch under friend's public key (handed on to anyone who asks) with a bad signature."""
    # (a)
    here = A.open_room_at(room.swarm.tracker_port)
    mallory, other = A.FakeIdentity(room=here), A.FakeIdentity(room=here)
    data = other.data(1, "forged line a")
    relayed = A.batch_frame(data, mallory.sign(data), old=True)
    name, answer, closed = await A.poke(
        room.swarm.tracker_port, A.frame(mallory.hello(join=True)) + A.frame(relayed), timeout=3
    )
    shown = room.target.find(event="message", text="forged line a")
    fig.notes.append(
        f"relayed, signed by another key: {'SHOWN' if shown else 'not shown'}, "
        f"connection closed: {closed}"
    )
    # (b)
    await room.friend.send("friend's real line")
    await room.target.first_within(5, event="message", text="friend's real line")
    spy = A.FakeIdentity()
    stream = await A.connect(room.swarm.tracker_port)
    try:
        reader = A.FrameReader(stream)
        await stream.send_all(A.frame(spy.hello(join=True)))
        await stream.send_all(A.frame({"t": "want", "author": room.friend.node_id, "after": 0}))

        def friends(received: dict) -> bool:
            if received.get("t") != "batch" or not received.get("old"):
                return False
            key = msgpack.unpackb(received["data"], raw=False)[2]
            return A.node_id_of(key) == room.friend.node_id

        try:
            real = await reader.until(friends, timeout=5)
        except (AssertionError, trio.TooSlowError):
            fig.notes.append("impostor: friend's batch was not handed on")
            return
    finally:
        await trio.aclose_forcefully(stream)
    _, said_in, key, _, first, lamport, items = msgpack.unpackb(real["data"], raw=False)
    forged_b = [(0, 0, "forged line b")]
    data = A.batch_data(key, "friend", first + len(items), lamport + len(items), forged_b, said_in)
    claim = A.hello(room.friend.node_id, join=True, username="friend")
    impostor = A.frame(claim) + A.frame(A.batch_frame(data, b"\x00" * 64))
    name, answer, closed = await A.poke(room.swarm.tracker_port, impostor, timeout=3)
    shown = room.target.find(event="message", text="forged line b")
    fig.notes.append(
        "impostor with friend's id and key, bad signature: "
        + (f"SHOWN as from {shown[0]['from']!r}" if shown else "not shown")
        + f", connection closed: {closed}"
    )


ATTACKS: dict[str, tuple[str, Callable[[Room, Figures, int], Awaitable[None]]]] = {
    "version": ("target", killer_version),
    "nested-type": ("target", killer_nested_type),
    "nested-text": ("target", killer_nested_text),
    "partial": ("target", partial_frames),
    "partial-direct": ("friend", partial_frames_direct),
    "direct": ("friend", direct_hellos),
    "idle": ("friend", idle),
    "strings": ("target", strings),
    "forged": ("target", forged),
}
SIZE_LABEL = {
    "version": "1 hello, version of 300,000 chars",
    "nested-type": "1 frame, t nested 1,000 deep",
    "nested-text": "hello + batch nested 1,000 deep (frame; signed bytes)",
    "partial": "{n:,} x (join hello + 1 MiB - 1 B of a frame)",
    "partial-direct": "{n:,} x (direct hello + 1 MiB - 1 B of a frame)",
    "direct": "{n:,} direct hellos (join=False)",
    "idle": "{n:,} idle connections after a direct hello",
    "strings": "host, chat text, announced name, reason",
    "forged": "relayed batch signed by another key; impostor of friend",
}


async def run_one(name: str, scale: int, workdir: Path, size: int | None = None) -> Figures:
    victim_name, attack = ATTACKS[name]
    size = SCALES[name][scale] if name in SCALES and size is None else size or 1
    fig = Figures(name, victim_name, SIZE_LABEL[name].format(n=size))
    workdir.mkdir(parents=True, exist_ok=True)
    async with trio.open_nursery() as nursery:
        swarm = Swarm(nursery, workdir)
        try:
            room = await start_room(swarm)
            victim = room.target if victim_name == "target" else room.friend
            pid = victim.process.pid
            await trio.sleep(0.5)  # let start-up settle before the baseline (a measurement)
            fig.rss0, fig.fd0 = A.rss_kib(pid) / MIB, A.fd_count(pid)
            nursery.start_soon(room.sample, pid)
            await attack(room, fig, size)
            # Attackers gone: wait (bounded) for the descriptors to come back, then measure.
            with trio.move_on_after(10):
                while victim.returncode is None and A.fd_count(pid) > fig.fd0 + 2:
                    await trio.sleep(0.1)
            fig.alive = "yes" if victim.returncode is None else f"no (exit {victim.returncode})"
            if victim.returncode is None:
                fig.rss_peak = A.hwm_kib(pid) / MIB
                fig.rss_after = A.rss_kib(pid) / MIB
                fig.fd_after = A.fd_count(pid)
            fig.fd_peak = room.fd_peak
            fig.chat_after = await chat_both_ways(room)
            stderr = victim.stderr()
            fig.traceback = "yes" if "Traceback" in stderr else "no"
            if "Traceback" in stderr:
                errors = [ln.strip(" |+") for ln in stderr.splitlines() if "Error:" in ln]
                fig.notes.append(f"stderr: {errors[-1][:100] if errors else stderr[-100:]!r}")
            longest = max((len(ln) for ln in victim.log().splitlines()), default=0)
            fig.notes.append(f"longest log line {longest:,} chars")
        finally:
            with open(workdir / "processes.txt", "w") as out, contextlib.redirect_stdout(out):
                await swarm.aclose()
            nursery.cancel_scope.cancel()
    return fig


def table(figs: list[Figures]) -> str:
    head = (
        "| attack | size | victim | alive | traceback | chat during | chat after | "
        "RSS MiB before / peak / after | fds before / peak / after | notes |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for f in figs:
        rss = f"{f.rss0:.0f} / {f.rss_peak:.0f} / {f.rss_after:.0f}"
        fds = f"{f.fd0} / {f.fd_peak} / {f.fd_after}"
        rows.append(
            f"| {f.attack} | {f.size} | {f.victim} | {f.alive} | {f.traceback} | "
            f"{f.chat_during} | {f.chat_after} | {rss} | {fds} | {'; '.join(f.notes)} |"
        )
    return head + "\n".join(rows) + "\n"


async def main_async(args: argparse.Namespace) -> list[Figures]:
    figs = []
    base = Path(tempfile.mkdtemp(prefix="peerchat-attack-"))
    for name in args.only or list(ATTACKS):
        print(f"{name} ...", file=sys.stderr, flush=True)
        fig = await run_one(name, 0 if args.scale == "issue" else 1, base / name, args.size)
        print(json.dumps(fig.__dict__, default=str), file=sys.stderr, flush=True)
        figs.append(fig)
    print(f"process output and logs under {base}", file=sys.stderr)
    return figs


def main() -> int:
    if sys.argv[1:2] == ["flood-worker"]:
        trio.run(flood_worker, int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, default=ROOT, help="checkout whose peerchat to attack")
    p.add_argument("--scale", choices=("issue", "suite"), default="issue")
    p.add_argument("--only", nargs="*", choices=list(ATTACKS), help="attacks to run")
    p.add_argument("--size", type=int, help="connections for the flood attacks, over --scale")
    p.add_argument("--out", type=Path, help="append the markdown table to this file")
    args = p.parse_args()
    tree = args.tree.resolve()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    os.chdir(tree)
    global EPHEMERAL
    try:
        EPHEMERAL = "--ephemeral" in (tree / "peerchat" / "cli.py").read_text()
    except OSError:
        EPHEMERAL = False
    A.raise_nofile(4096)
    commit = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    figs = trio.run(main_async, args)
    text = (
        f"\n## {tree} at {commit[:70]}\n\n{time.strftime('%Y-%m-%d %H:%M:%S')}, scale "
        f"{args.scale}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n\n{table(figs)}"
    )
    print(text)
    if args.out:
        with open(args.out, "a") as out:
            out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
