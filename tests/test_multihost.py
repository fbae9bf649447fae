"""Multi-host (issue 8): real `peerchat --headless` processes, one per host, each host a network
namespace (tests/netns.py) on one switch; partitions and cut links are made by moving or
breaking the hosts' links, the way a real network fails, never by signalling the processes.

Every node of the room runs the same command, as users on five computers would:
``peerchat --headless --ephemeral --username hN --host 10.77.0.N --port 6000 --tracker
10.77.0.1:5000``; host 1 is where the room was founded (its home address). Every wait has a
deadline; "one room" is checked with ``/who`` on every live node: each lists exactly the live
nodes and marks the same one of them as tracker.

Skipped, with the reason, where namespaces cannot be made (not root, no `ip`).
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
from e2e_helpers import Event, Proc, Swarm, say_and_expect, slow
from netns import PREFIX, Lan, ip, lan_or_skip, namespaces, start_peerchat, sweep_stale

from peerchat.names import marked

# ---------------------------------------------------------------------------------------------
# The harness itself: reachability, partitions, cuts, with plain sockets (no peerchat).

ECHO_PORT = 7000
SILENCE = 0.5  # how long "nothing gets through" is watched; a LAN answers in well under 1 ms


@pytest.fixture
def lan4() -> Iterator[Lan]:
    with lan_or_skip(4) as lan:
        yield lan


def listen(lan: Lan, host: int) -> socket.socket:
    s = lan.socket(host)
    s.bind((lan.addr(host), ECHO_PORT))
    s.listen()
    return s


def try_connect(lan: Lan, a: int, b: int, timeout: float = SILENCE) -> socket.socket | None:
    """A connection from host a to host b's listener, or None if none is made within timeout."""
    s = lan.socket(a)
    s.settimeout(timeout)
    try:
        s.connect((lan.addr(b), ECHO_PORT))
    except OSError:
        s.close()
        return None
    s.settimeout(None)
    return s


def pair(lan: Lan, listeners: dict[int, socket.socket], a: int, b: int):
    """An established connection from a to b: (a's end, b's end)."""
    ours = try_connect(lan, a, b, timeout=5)
    assert ours is not None, f"host {a} cannot connect to host {b}"
    listeners[b].settimeout(5)
    theirs, _ = listeners[b].accept()
    return ours, theirs


def passes(sender: socket.socket, receiver: socket.socket, data: bytes, within: float) -> bool:
    """Send data; True if the receiver has all of it within ``within`` s."""
    sender.sendall(data)
    receiver.settimeout(within)
    got = b""
    try:
        while len(got) < len(data):
            chunk = receiver.recv(len(data) - len(got))
            assert chunk, "connection closed"
            got += chunk
    except TimeoutError:
        return False
    assert got == data
    return True


def arrives(receiver: socket.socket, data: bytes, within: float) -> bool:
    """True if ``data`` (sent earlier) is all read within ``within`` s."""
    return passes(_NoSend(), receiver, data, within)


class _NoSend:
    def sendall(self, data: bytes) -> None:
        pass


def test_harness_hosts_reach_each_other_and_a_partition_separates_them(lan4: Lan) -> None:
    lan = lan4
    listeners = {h: listen(lan, h) for h in lan.hosts}
    one, three = pair(lan, listeners, 1, 3)
    assert passes(one, three, b"before", within=5)
    assert passes(three, one, b"back", within=5)
    for a, b in [(1, 2), (2, 4), (4, 1)]:
        s = try_connect(lan, a, b, timeout=5)
        assert s is not None, f"host {a} cannot reach host {b}"
        s.close()

    lan.partition([1, 2])
    # Inside each side, as before.
    for a, b in [(1, 2), (3, 4)]:
        s = try_connect(lan, a, b, timeout=5)
        assert s is not None, f"host {a} cannot reach host {b} on its own side"
        s.close()
    # Across: no new connection, and an established one carries nothing, either way.
    assert try_connect(lan, 2, 4) is None
    assert not passes(one, three, b"during", within=SILENCE)
    assert not passes(three, one, b"during back", within=SILENCE)

    lan.heal()
    # What was sent during the partition arrives (TCP retransmits it), and new traffic passes.
    assert arrives(three, b"during", within=5)
    assert arrives(one, b"during back", within=5)
    assert passes(one, three, b"after", within=5)
    again = try_connect(lan, 2, 4, timeout=5)
    assert again is not None, "host 2 cannot reach host 4 after healing"
    for s in [again, one, three, *listeners.values()]:
        s.close()


def test_harness_cut_breaks_only_the_link_between_two_hosts(lan4: Lan) -> None:
    lan = lan4
    listeners = {h: listen(lan, h) for h in lan.hosts}
    links = {(a, b): pair(lan, listeners, a, b) for a, b in [(1, 2), (1, 3), (2, 3)]}
    for ours, theirs in links.values():
        assert passes(ours, theirs, b"hello", within=5)

    lan.cut(1, 2)
    one, two = links[1, 2]
    assert not passes(one, two, b"cut", within=SILENCE)
    assert not passes(two, one, b"cut back", within=SILENCE)
    assert try_connect(lan, 2, 1) is None
    # Everything else as before.
    for key in [(1, 3), (2, 3)]:
        ours, theirs = links[key]
        assert passes(ours, theirs, b"still", within=5)
        assert passes(theirs, ours, b"still back", within=5)
    s = try_connect(lan, 1, 4, timeout=5)
    assert s is not None
    s.close()

    lan.mend(1, 2)
    assert arrives(two, b"cut", within=5)
    assert arrives(one, b"cut back", within=5)
    assert passes(one, two, b"mended", within=5)
    s = try_connect(lan, 2, 1, timeout=5)
    assert s is not None, "host 2 cannot reach host 1 after mending"
    s.close()
    for ours, theirs in links.values():
        ours.close()
        theirs.close()
    for s in listeners.values():
        s.close()


def test_harness_removes_its_namespaces_and_sweeps_stale_ones() -> None:
    with lan_or_skip(2) as lan:
        names = [lan.switch, lan.ns(1), lan.ns(2)]
        assert set(names) <= set(namespaces())
        stale = f"{PREFIX}999999999x1br"  # above any pid_max: its process cannot be alive
        ip("netns", "add", stale)
        assert sweep_stale() == [stale]
        assert set(names) <= set(namespaces())  # a live run's namespaces stay
    assert not set(names) & set(namespaces())


# ---------------------------------------------------------------------------------------------
# The scenarios of issue 8, with peerchat.
#
# Stated times, each measured and printed by its test.

JOIN_WITHIN = 5.0  # a newcomer's process start to its ready (Python start-up included)
FAILOVER_WITHIN = 5.0  # tracker killed -> the survivors are one room with a new tracker
MERGE_WITHIN = 5.0  # a fresh node on the founder's host started -> one room with the survivors
HEAL_WITHIN = 5.0  # partition healed -> one room (issue 8's target)
NOTICE_WITHIN = 7.0  # a cut link -> both ends report it (keepalive 1 s, link timeout 4 s)
REPAIR_WITHIN = 6.0  # a mended link -> both ends exchange messages again
PARTITION = 8.0  # how long it lasts: past the 4-6.6 s it takes to notice (heartbeat, then probes)
STABLE = 3.0  # once one room, it must stay one, with the same tracker, this long
ROOM = 5  # hosts in the room; two more hosts are left free for newcomers
PORT = 6000

# The minute of churn and the 8 s partition run only when asked, with PEERCHAT_SLOW=1 (CI sets
# it; the `slow` mark says why).
only_when_asked = pytest.mark.skipif(
    not os.environ.get("PEERCHAT_SLOW"), reason="seconds of faults; PEERCHAT_SLOW=1 runs it"
)

HOME = "10.77.0.1:5000"  # the room's tracker address, on host 1


class Net:
    """The hosts of one test and the peerchat processes on them."""

    def __init__(self, lan: Lan, swarm: Swarm) -> None:
        self.lan = lan
        self.swarm = swarm
        self.host_of: dict[str, int] = {}

    async def start(
        self,
        host: int,
        name: str | None = None,
        tracker: str = HOME,
        wait: bool = True,
        remember: bool = False,
    ) -> Proc:
        """``peerchat`` on ``host`` as every user runs it; with ``wait``, once it is ready.
        With ``remember``, the node keeps a data dir of its host's (``data-hN``, the same for
        every node started on that host) instead of ``--ephemeral``. Each saves files in a
        folder of its own (in the user's Downloads, two fetches of one name locked each other
        out, and the user's folder filled with the tests' files)."""
        name = name or f"h{host}"
        storage = ["--data-dir", str(self.swarm.workdir / f"data-h{host}")]
        proc = await start_peerchat(
            self.swarm, self.lan, host, name,
            "--headless", *(storage if remember else ["--ephemeral"]), "--username", name,
            "--host", self.lan.addr(host), "--port", str(PORT), "--tracker", tracker,
            "--downloads", str(self.swarm.workdir / f"downloads-{name}"),
        )  # fmt: skip
        self.host_of[name] = host
        if wait:
            await proc.wait_for(event="ready", timeout=JOIN_WITHIN + 5)
        return proc

    async def room(self, remember: bool = False) -> list[Proc]:
        """h1 founds the room; h2..h5 start together and join; returns once it is one room."""
        founder = await self.start(1, remember=remember)
        assert founder.ready["role"] == "tracker", founder.describe()
        others = [await self.start(h, wait=False, remember=remember) for h in range(2, ROOM + 1)]
        for proc in others:
            await proc.wait_for(event="ready", timeout=JOIN_WITHIN + 5)
        procs = [founder, *others]
        await wait_one_room(procs, within=10)
        return procs

    def live(self) -> list[Proc]:
        return [p for p in self.swarm.procs if p.returncode is None and p.find(event="ready")]


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    with lan_or_skip(ROOM + 2) as lan:
        async with trio.open_nursery() as nursery:
            swarm = Swarm(nursery, tmp_path)
            try:
                yield Net(lan, swarm)
            finally:
                await swarm.aclose()
                nursery.cancel_scope.cancel()


async def who(proc: Proc) -> Event:
    since = len(proc.events)
    await proc.send("/who")
    return await proc.wait_for(event="who", since=since, timeout=5)


def _view(event: Event) -> tuple[frozenset[str], list[str]]:
    """(node ids listed, node ids marked tracker) in one ``who`` event."""
    peers = event["peers"]
    return frozenset(p["node_id"] for p in peers), [p["node_id"] for p in peers if p["tracker"]]


async def wait_one_room(procs: list[Proc], within: float) -> tuple[float, Proc]:
    """Ask every node ``/who`` until each lists exactly ``procs`` and marks the same one of them
    as tracker. Returns (seconds it took, the tracker); fails after ``within`` s, showing what
    each node listed last."""
    start = trio.current_time()
    ids = frozenset(p.node_id for p in procs)
    by_id = {p.node_id: p for p in procs}
    views: dict[str, tuple[frozenset[str], list[str]]] = {}
    with trio.move_on_after(within):
        while True:
            views = {p.name: _view(await who(p)) for p in procs}
            trackers = {tuple(t) for _, t in views.values()}
            if all(listed == ids for listed, _ in views.values()) and len(trackers) == 1:
                (tracker,) = trackers
                if len(tracker) == 1 and tracker[0] in ids:
                    return trio.current_time() - start, by_id[tracker[0]]
            await trio.sleep(0.05)  # polling, bounded by the deadline above
    names = {p.node_id: p.name for p in procs}

    def show(node_ids) -> list[str]:
        return sorted(names.get(n, n[:8]) for n in node_ids)

    lines = [
        f"  {name} lists {show(listed)}, tracker {show(t)}" for name, (listed, t) in views.items()
    ]
    raise AssertionError(f"not one room of {show(ids)} after {within} s:\n" + "\n".join(lines))


async def stays_one_room(procs: list[Proc], tracker: Proc, seconds: float = STABLE) -> None:
    """Once one room, it stays one: for ``seconds``, nobody reports another tracker or loses
    anybody, and ``/who`` still agrees at the end. (Catches parts that merge and split again,
    or trackers that keep handing the role back and forth.)"""
    since = {p.name: len(p.events) for p in procs}
    await trio.sleep(seconds)  # a window of observation, not a wait for something to happen
    for proc in procs:
        changes = [
            e["username"]
            for e in proc.find(event="tracker", since=since[proc.name])
            if e["node_id"] != tracker.node_id
        ]
        left = [e["username"] for e in proc.find(event="peer_left", since=since[proc.name])]
        assert not changes and not left, (
            f"{proc.name} saw trackers {changes} and losses {left} in the {seconds} s after "
            f"the room was one, with {tracker.name} as tracker\n{proc.describe()}"
        )
    _, still = await wait_one_room(procs, within=1)
    assert still is tracker


async def kill(proc: Proc) -> None:
    proc.signal(signal.SIGKILL)
    await proc.wait_exit()


def others(procs: list[Proc], *left_out: Proc) -> list[Proc]:
    return [p for p in procs if p not in left_out]


async def lose_the_founder(net: Net) -> tuple[list[Proc], float, Proc]:
    """A room of five, then host 1's node (the founder and tracker) killed: the survivors once
    they are one room again, how long that took, and their new tracker."""
    procs = await net.room()
    await kill(procs[0])
    survivors = procs[1:]
    took, tracker = await wait_one_room(survivors, within=FAILOVER_WITHIN)
    return survivors, took, tracker


# (a) ------------------------------------------------------------------------------------------


async def test_after_the_tracker_dies_newcomers_join_through_a_member_and_a_list(
    net: Net,
) -> None:
    survivors, took, tracker = await lose_the_founder(net)
    print(f"failover across hosts: one room of 4 with {tracker.name} as tracker in {took:.2f} s")

    # Through a member that is not the tracker (h3, or h4 if h3 is the tracker).
    member = next(p for p in survivors[1:] if p is not tracker)
    started = trio.current_time()
    h6 = await net.start(6, tracker=f"{member.ready['addr']}")
    took_member = trio.current_time() - started
    # Through a list whose head is dead: nobody holds the home address on host 1 any more.
    started = trio.current_time()
    h7 = await net.start(7, tracker=f"{HOME},10.77.0.2:{PORT}")
    took_list = trio.current_time() - started
    print(
        f"joined through member {member.name} in {took_member:.2f} s, "
        f"through a list with a dead head in {took_list:.2f} s (process start included)"
    )
    for newcomer in (h6, h7):
        assert newcomer.ready["role"] == "peer", newcomer.describe()
    assert took_member < JOIN_WITHIN and took_list < JOIN_WITHIN
    room = [*survivors, h6, h7]
    _, still = await wait_one_room(room, within=5)
    assert still is tracker  # the newcomers deposed nobody
    await say_and_expect(h6, "h6 is in", others(room, h6))
    await say_and_expect(h7, "h7 is in", others(room, h7))


async def test_the_home_address_admits_newcomers_while_the_tracker_is_on_another_host(
    net: Net,
) -> None:
    survivors, _, tracker = await lose_the_founder(net)
    # Host 1's user comes back through a member: a plain member on the home's host now.
    back = await net.start(1, "h1b", tracker=f"10.77.0.2:{PORT}")
    room = [*survivors, back]
    _, still = await wait_one_room(room, within=5)
    assert still is tracker and back.ready["role"] == "peer"
    # A newcomer elsewhere uses the address everybody knows: it is let in, sent to the tracker.
    started = trio.current_time()
    h6 = await net.start(6)
    took = trio.current_time() - started
    print(f"joined through the home address held by a member in {took:.2f} s")
    assert h6.ready["role"] == "peer", h6.describe()
    _, still = await wait_one_room([*room, h6], within=5)
    assert still is tracker
    await say_and_expect(h6, "in through the home address", room)


async def test_a_node_that_tells_others_a_loopback_address_is_warned_and_so_is_its_peer(
    net: Net,
) -> None:
    founder = await net.start(1)
    lost = await start_peerchat(
        net.swarm, net.lan, 2, "h2",
        "--headless", "--ephemeral", "--username", "h2", "--host", "127.0.0.1",
        "--port", str(PORT), "--tracker", HOME,
    )  # fmt: skip
    await lost.wait_for(event="ready", timeout=JOIN_WITHIN + 5)
    own = await lost.wait_for(event="error", predicate=lambda e: "loopback" in e["message"])
    assert "start this node with --host" in own["message"], own
    theirs = await founder.wait_for(event="error", predicate=lambda e: "loopback" in e["message"])
    assert "h2 tells others it is at 127.0.0.1" in theirs["message"], theirs


async def test_a_member_in_over_loopback_is_told_to_other_hosts_at_its_hosts_address(
    net: Net,
) -> None:
    """A user trial: a member on the tracker's computer that joined it over loopback was listed
    to the other computers at 127.0.0.1, where none could reach it; and a join sent on by that
    member named the tracker at 127.0.0.1 too, the joiner's own computer."""

    async def start(host: int, name: str, port: int, tracker: str) -> Proc:
        proc = await start_peerchat(
            net.swarm, net.lan, host, name, "--headless", "--ephemeral", "--username", name,
            "--host", "0.0.0.0", "--port", str(port), "--tracker", tracker,
        )  # fmt: skip
        await proc.wait_for(event="ready", timeout=JOIN_WITHIN + 5)
        return proc

    founder = await start(1, "h1", PORT, HOME)
    await start(1, "carol", PORT + 1, f"127.0.0.1:{PORT}")  # in over loopback (a room found by
    # name on the LAN is joined so when the LAN's search is not answered in time)
    h2 = await start(2, "h2", PORT, HOME)
    carol = await h2.wait_for(event="peer_joined", username="carol", timeout=5)
    assert carol.get("present") and carol["addr"] == f"{net.lan.addr(1)}:{PORT + 1}", carol
    h3 = await start(3, "h3", PORT, f"{net.lan.addr(1)}:{PORT + 1}")  # at carol: sent on
    tracker = await h3.wait_for(event="tracker", timeout=5)
    assert tracker["node_id"] == founder.ready["node_id"], tracker
    assert tracker["addr"] == f"{net.lan.addr(1)}:{PORT}", tracker
    sent_on = f"points at the tracker at {net.lan.addr(1)}:{PORT}"  # not at 127.0.0.1, h3 itself
    assert sent_on in h3.log_path.read_text(), h3.describe()


# (b) ------------------------------------------------------------------------------------------


@slow
async def test_a_fresh_node_on_the_founders_host_merges_into_the_surviving_room(
    net: Net,
) -> None:
    survivors, _, tracker = await lose_the_founder(net)

    # The same command on host 1 again: nobody holds the home address, so it founds a room
    # there, which the survivors' tracker, knocking on the home address, must meet and merge.
    started = trio.current_time()
    fresh = await net.start(1, "h1b")
    room = [*survivors, fresh]
    _, merged_tracker = await wait_one_room(room, within=MERGE_WITHIN + 10)
    took = trio.current_time() - started
    print(
        f"fresh node on host 1 (ready as {fresh.ready['role']}): one room of 5 "
        f"{took:.2f} s after its start, tracker {merged_tracker.name} (was {tracker.name})"
    )
    assert took < MERGE_WITHIN, f"merged after {took:.2f} s, stated {MERGE_WITHIN} s"
    await stays_one_room(room, merged_tracker)
    await say_and_expect(fresh, "h1b is in", survivors)
    await say_and_expect(survivors[-1], "welcome h1b", others(room, survivors[-1]))


# (c) ------------------------------------------------------------------------------------------


async def split(net: Net, procs: list[Proc]) -> tuple[list[Proc], list[Proc], float]:
    """Partition {h1, h2} | {h3, h4, h5}; returns the two sides, once each has seen the other
    leave, and when the partition began."""
    since = {p.name: len(p.events) for p in procs}
    side_a, side_b = procs[:2], procs[2:]
    net.lan.partition([1, 2])
    split_at = trio.current_time()
    for side, far in ((side_a, side_b), (side_b, side_a)):
        for proc in side:
            for gone in far:
                await proc.wait_for(
                    event="peer_left", node_id=gone.node_id, since=since[proc.name],
                    timeout=PARTITION,
                )  # fmt: skip
    return side_a, side_b, split_at


# 13 s, most of it the partition itself: two heartbeat timeouts and more (the `slow` mark).
@pytest.mark.slow
@only_when_asked
async def test_an_8_s_partition_heals_into_one_room_that_shows_all_said_on_both_sides(
    net: Net,
) -> None:
    """Issues 8 and 9 in one partition (two of 8 s each cost the suite 10 s): side B elects a
    tracker of its own; after healing there is one room, and every message said on either side
    is shown on the other, once, each author's in order (what a returning member lacks is sent
    to it)."""
    procs = await net.room()
    since = {p.name: len(p.events) for p in procs}
    side_a, side_b, split_at = await split(net, procs)
    said: dict[str, list[str]] = {}
    for side in (side_a, side_b):
        for proc in side:
            said[proc.name] = [f"{proc.name} during the partition {i}" for i in range(3)]
            for text in said[proc.name]:
                await proc.send(text)
                await proc.wait_for(event="message", text=text, own=True)
    b_ids = {p.node_id for p in side_b}
    for proc in side_b:
        await proc.wait_for(
            event="tracker", predicate=lambda e: e["node_id"] in b_ids, since=since[proc.name],
            timeout=PARTITION,
        )  # fmt: skip
    await trio.sleep_until(split_at + PARTITION)  # the fault schedule: how long the partition lasts

    net.lan.heal()
    healed_at = trio.current_time()
    took, tracker = await wait_one_room(procs, within=HEAL_WITHIN + 10)
    print(
        f"partition of {PARTITION:.0f} s healed: one room in {took:.2f} s, tracker {tracker.name}"
    )
    assert took <= HEAL_WITHIN, f"one room {took:.2f} s after healing, stated {HEAL_WITHIN} s"
    for proc in procs:
        for texts in said.values():
            for text in texts:
                await proc.wait_for(event="message", text=text, timeout=HEAL_WITHIN + 10)
    print(f"every message of the partition shown everywhere {trio.current_time() - healed_at:.2f} s"
          " after healing")  # fmt: skip
    for proc in procs:
        for author, texts in said.items():
            shown = [e["text"] for e in proc.find(event="message") if e["text"] in texts]
            assert shown == texts, f"{proc.name} shows {author}'s as {shown}\n{proc.describe()}"
    # Heard live on one's own side; fetched from a store after healing (history) on the other.
    side_of = {p.name: side for side in (side_a, side_b) for p in side}
    for proc in procs:
        for author, texts in said.items():
            flags = [e["history"] for e in proc.find(event="message") if e["text"] in texts]
            far = side_of[author] is not side_of[proc.name]
            assert flags == [far] * len(texts), (
                f"{proc.name} shows {author}'s with history {flags}\n{proc.describe()}"
            )
    await stays_one_room(procs, tracker)
    await say_and_expect(procs[0], "from side a", side_b)
    await say_and_expect(procs[4], "from side b", side_a)


# 14 s, most of it the partition itself (the `slow` mark).
@pytest.mark.slow
@only_when_asked
async def test_a_name_taken_on_both_sides_of_a_partition_does_not_keep_the_room_in_two(
    net: Net,
) -> None:
    """A user trial: h2 and h4 each took "robert" while the room was in two, and the parts
    refused each other's links until one of them renamed. Now the room is one again; each
    member shows with its key's mark the robert it knew second, /msg robert reaches the one
    it knew first, and the two are told."""
    procs = await net.room()
    since = {p.name: len(p.events) for p in procs}
    (h1, h2), (h3, h4, h5), _ = await split(net, procs)
    for proc in (h2, h4):
        await proc.send("/nick robert")
        await proc.wait_for(event="nick", username="robert", since=since[proc.name])
    since = {p.name: len(p.events) for p in procs}
    net.lan.heal()
    took, _ = await wait_one_room(procs, within=HEAL_WITHIN + 10)
    print(f"a room with two roberts one again {took:.2f} s after healing")
    for proc, own, far in ((h1, h2, h4), (h3, h4, h2), (h2, h2, h4), (h4, h4, h2)):
        listed = {p["node_id"]: p["username"] for p in (await who(proc))["peers"]}
        assert listed[own.node_id] == "robert", (proc.name, listed)
        assert listed[far.node_id] == marked("robert", far.node_id), (proc.name, listed)
    for sender, meant in ((h1, h2), (h5, h4)):
        text = f"from {sender.name} to the robert it knew"
        await sender.send(f"/msg robert {text}")
        got = await meant.wait_for(event="message", text=text, timeout=5)
        assert got["private"] and got["from_id"] == sender.node_id, got
    for proc, other in ((h2, h4), (h4, h2)):
        told = await proc.wait_for(
            event="error", since=since[proc.name],
            predicate=lambda e: "has come in under your name" in e["message"],
        )  # fmt: skip
        assert told["message"].startswith(marked("robert", other.node_id)), told
    for proc, own, far in ((h1, h2, h4), (h3, h4, h2), (h5, h4, h2)):
        told = await proc.wait_for(
            event="error", since=since[proc.name],
            predicate=lambda e: "each took the name robert" in e["message"],
        )  # fmt: skip
        assert marked("robert", far.node_id) in told["message"], told
        assert marked("robert", own.node_id) not in told["message"], told


# (d) ------------------------------------------------------------------------------------------


@slow  # 16 s: the default suite went past 5 minutes on this session's machine
async def test_a_cut_between_two_members_is_noticed_and_repaired(net: Net) -> None:
    procs = await net.room()
    h3, h4 = procs[2], procs[3]  # neither is the tracker: h1 founded the room and keeps it
    since = {p.name: len(p.events) for p in procs}

    net.lan.cut(3, 4)
    cut_at = trio.current_time()
    noticed = []
    for proc, other in ((h3, h4), (h4, h3)):
        event = await proc.wait_for(
            event="peer_left", node_id=other.node_id, since=since[proc.name],
            timeout=NOTICE_WITHIN,
        )  # fmt: skip
        noticed.append(f"{proc.name} after {event['_at'] - cut_at:.2f} s ({event['reason']})")
    print("cut noticed: " + ", ".join(noticed))
    # Only that link: nobody else lost anybody.
    for proc in others(procs, h3, h4):
        assert not proc.find(event="peer_left", since=since[proc.name]), proc.describe()
    # What the two say meanwhile comes round through the others (trial 49: nothing crossed).
    across_at = trio.current_time()
    await h3.send("h3 to h4 across the cut")
    await h4.send("h4 to h3 across the cut")
    for proc, text in ((h4, "h3 to h4 across the cut"), (h3, "h4 to h3 across the cut")):
        await proc.wait_for(event="message", text=text, timeout=REPAIR_WITHIN)
    print(f"lines across the cut after {trio.current_time() - across_at:.2f} s")
    await trio.sleep(3.0)  # the fault schedule: the cut goes on, past the departures' summaries
    later_at = trio.current_time()
    await h3.send("h3 to h4 later in the cut")
    await h4.wait_for(event="message", text="h3 to h4 later in the cut", timeout=2 * REPAIR_WITHIN)
    print(f"a line later in the cut after {trio.current_time() - later_at:.2f} s")

    since = {p.name: len(p.events) for p in procs}
    net.lan.mend(3, 4)
    mended_at = trio.current_time()
    for proc, other in ((h3, h4), (h4, h3)):
        await proc.wait_for(
            event="peer_joined", node_id=other.node_id, since=since[proc.name],
            timeout=REPAIR_WITHIN,
        )  # fmt: skip
    await say_and_expect(h3, "h3 to h4 after mending", [h4], timeout=REPAIR_WITHIN)
    await say_and_expect(h4, "h4 to h3 after mending", [h3], timeout=REPAIR_WITHIN)
    print(
        f"link repaired, messages both ways {trio.current_time() - mended_at:.2f} s after mending"
    )
    await wait_one_room(procs, within=5)


@slow  # 6.6 s: the default suite went past 5 minutes on this session's machine
async def test_a_blip_shorter_than_the_heartbeat_timeout_is_a_delay_not_a_reshuffle(
    net: Net,
) -> None:
    """A user's 2 s blip of one host's link used to make it take the tracker role and hand it
    back, with ten notices on its screen: now nobody leaves, no tracker changes, and what was
    said meanwhile arrives once the link is back."""
    procs = await net.room()
    h1, h3 = procs[0], procs[2]
    since = {p.name: len(p.events) for p in procs}
    net.lan.partition([3])  # h3 alone on the other switch: it reaches nobody
    await h1.send("said during the blip")
    await trio.sleep(2.0)  # the fault schedule: how long the blip lasts
    net.lan.heal()
    await h3.wait_for(event="message", text="said during the blip", timeout=REPAIR_WITHIN)
    await say_and_expect(h3, "and h3 carries on", others(procs, h3), timeout=REPAIR_WITHIN)
    for proc in procs:
        noise = [
            e for e in proc.find(since=since[proc.name]) if e["event"] in ("peer_left", "tracker")
        ]
        assert not noise, proc.describe()


@slow
async def test_a_long_paste_over_a_slow_uplink_is_slow_not_a_departure(net: Net) -> None:
    """A user trial: at 128 kbit/s up, bob's paste of 27,000 characters to four others took
    seconds a frame; each was cut at 5 s, and bob was dropped as silent, his pongs behind the
    paste. Now it arrives, however slowly, and nobody is cut off as late or dropped as silent
    for it. (The kernel's 4 s for unacknowledged data, ``Config.link_timeout``, can still end
    a link of the sender's, as TCP's retries on so lossy a path outlast it, in about half the
    runs here; the link is dialled again at once. That is not what this test is about.)"""
    procs = await net.room()
    bob = procs[2]
    since = {p.name: len(p.events) for p in procs}
    net.lan.slow_uplink(3, "128kbit")
    pasted = [letter * 12_000 for letter in "wxyz"]
    await bob.send("\n".join(pasted))
    sent_at = trio.current_time()
    for proc in others(procs, bob):
        for text in pasted:
            await proc.wait_for(event="message", text=text, since=since[proc.name], timeout=60)
    print(f"a paste over 128 kbit/s arrived in {trio.current_time() - sent_at:.1f} s")
    ours = ("longer than", "silent", "no answer")  # the node's own verdicts, not the kernel's
    for proc in procs:
        left = [e["reason"] for e in proc.find(event="peer_left", since=since[proc.name])]
        assert not [why for why in left if any(word in why for word in ours)], left


@slow
async def test_a_file_three_fetch_over_a_slow_uplink_arrives_and_chat_goes_on(
    net: Net, tmp_path: Path
) -> None:
    """Trial 49: bob, at 1 Mbit/s up, served a file to three members at once, four chunks
    each: his links timed out again and again ("bob left (connection reset by peer)"), and
    his lines came up to 10 s late; with two chunks each at the least, 4 to 12 s, and links
    were still lost in some runs (what overflowed the uplink's queue of a second was sent
    again, past the kernel's 4 s). Each fetch's window now starts at a quarter chunk and
    keeps what waits in the uplink near a quarter of a second (0.6 s late at most in three
    runs)."""
    procs = await net.room()
    bob = procs[2]
    fetchers = others(procs, bob)[:3]
    path = tmp_path / "slow.bin"
    path.write_bytes(os.urandom(2 << 20))
    since = {p.name: len(p.events) for p in procs}
    net.lan.slow_uplink(3, "1mbit")
    await bob.send(f"/send {path}")
    for proc in fetchers:
        offer = await proc.wait_for(event="file_offer", since=since[proc.name], timeout=10)
        await proc.send(f"/get {offer['id']}")
    lags: list[float] = []
    with trio.fail_after(200):  # 6 MiB at 1 Mbit/s: 50 s at the least
        while not all(p.find(event="file_done", since=since[p.name]) for p in fetchers):
            text, said = f"tick {len(lags)}", trio.current_time()
            await bob.send(text)
            await fetchers[0].wait_for(event="message", text=text, timeout=60)
            lags.append(trio.current_time() - said)
            await trio.sleep(0.5)  # a line every half second or so, as people type
    for proc in fetchers:
        done = proc.find(event="file_done", since=since[proc.name])[0]
        assert done["ok"], done
    left = sum(len(p.find(event="peer_left", since=since[p.name])) for p in procs)
    worst, middle = max(lags), sorted(lags)[len(lags) // 2]
    print(f"3 fetches at 1 Mbit/s: lines {worst:.1f} s late at most, {middle:.1f} s median")
    print(f"links lost meanwhile, as the members saw it: {left}")
    assert worst < 3, f"a line came {worst:.1f} s late"
    assert not left


# (e) ------------------------------------------------------------------------------------------


@slow
async def test_messages_to_an_unreachable_member_are_reported_then_delivered(net: Net) -> None:
    procs = await net.room()
    h3, h4 = procs[2], procs[3]
    rest = others(procs, h3, h4)
    since = len(h3.events)

    net.lan.cut(3, 4)
    # One message at once, before anybody can know of the cut: it goes into the kernel's buffers
    # and nowhere. Another once h3 has noticed the cut: h3 must say it did not reach h4.
    await h3.send("sent into the cut")
    await h3.wait_for(event="peer_left", node_id=h4.node_id, since=since, timeout=NOTICE_WITHIN)
    await h3.send("sent while h4 is away")
    own = await h3.wait_for(event="message", text="sent while h4 is away", own=True)
    notice = await h3.wait_for(event="undelivered", id=own["id"], timeout=2)
    assert notice["to_ids"] == [h4.node_id] and notice["to"] == [h4.name], notice
    for text in ("sent into the cut", "sent while h4 is away"):
        for proc in rest:
            await proc.wait_for(event="message", text=text, from_id=h3.node_id)
    assert not h4.messages("sent into the cut")
    since = len(h3.events)

    net.lan.mend(3, 4)
    mended_at = trio.current_time()
    first = await h4.wait_for(event="message", text="sent into the cut", timeout=REPAIR_WITHIN)
    second = await h4.wait_for(event="message", text="sent while h4 is away", timeout=REPAIR_WITHIN)
    print(f"held messages reached h4 {second['_at'] - mended_at:.2f} s after mending")
    assert first["from_id"] == second["from_id"] == h3.node_id
    assert h4.events.index(first) < h4.events.index(second)  # one sender's order is kept
    # And the sender is told they went out.
    delivered = await h3.wait_for(event="delivered", to_id=h4.node_id, since=since)
    assert delivered["count"] >= 2, delivered
    await say_and_expect(h3, "and after", [h4, *rest])
    for proc in [h4, *rest]:
        for text in ("sent into the cut", "sent while h4 is away"):
            assert len(proc.messages(text)) == 1, proc.describe()


# (f) ------------------------------------------------------------------------------------------

CHURN_FOR = 60.0
CHURN_EVERY = 5.0
CHURN_SETTLE = 15.0  # after the last restart -> one room


@pytest.mark.slow
@only_when_asked
async def test_churn_kill_the_tracker_every_5_s_for_a_minute_ends_in_one_room(net: Net) -> None:
    # As users restart a program on their own computer: each host keeps its data dir (the peers
    # it remembers) across restarts. Without one (--ephemeral), a node restarted on a host other
    # than host 1 has only the home address to go by, which nobody holds while host 1's node is
    # not the tracker.
    procs = await net.room(remember=True)
    host_of = {p.name: i + 1 for i, p in enumerate(procs)}
    live = list(procs)
    began = trio.current_time()
    kills = []
    round_ = 0
    while trio.current_time() - began < CHURN_FOR:
        round_ += 1
        next_at = trio.current_time() + CHURN_EVERY
        # The tracker as some long-lived member sees it (it may be wrong: churn is churn).
        views = [_view(await who(p)) for p in live]
        tracker_ids = [t[0] for _, t in views if t]
        victim = next((p for p in live if p.node_id in tracker_ids), live[0])
        host = host_of[victim.name]
        await kill(victim)
        live.remove(victim)
        fresh = await net.start(host, f"h{host}r{round_}", wait=False, remember=True)
        host_of[fresh.name] = host
        kills.append(f"{victim.name}@h{host}")
        await fresh.wait_for(event="ready", timeout=JOIN_WITHIN + 5)
        live.append(fresh)
        await trio.sleep_until(next_at)  # the fault schedule
    print(f"churn: {round_} kills ({', '.join(kills)})")
    took, tracker = await wait_one_room(live, within=CHURN_SETTLE)
    print(f"churn over: one room of {len(live)} in {took:.2f} s, tracker {tracker.name}")
    await stays_one_room(live, tracker)
    await say_and_expect(live[0], "after the churn", live[1:])
