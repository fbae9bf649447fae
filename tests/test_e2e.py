"""End to end: real `peerchat --headless` processes on loopback, observed through their JSON events.

Every test has its own free tracker port and log files under tmp_path; every wait has a
deadline; the ``swarm`` fixture kills every process it started, also when a test fails, and
prints their events, stderr and logs (pytest shows them for failed tests).
"""

from __future__ import annotations

import os
import signal
import struct
import sys
from pathlib import Path

import msgpack
import pytest
import trio
from attacks import FakeIdentity, connect, connect_raw
from e2e_helpers import (
    Proc,
    Swarm,
    free_port,
    say_and_expect,
    slow,
    wait_listening,
    wait_mesh,
)

from peerchat import PROTOCOL_VERSION, files
from peerchat.config import Config

HEARTBEAT_TIMEOUT = Config().heartbeat_timeout  # the node's default


def frame(payload: object) -> bytes:
    body = msgpack.packb(payload, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


async def expect_tracker(procs: list[Proc], winner: Proc, since: dict[str, int]) -> None:
    for proc in procs:
        await proc.wait_for(event="tracker", node_id=winner.node_id, since=since[proc.name])


# ---------------------------------------------------------------------------------------------
# 1. Four nodes, one message, delivered exactly once.


async def test_four_nodes_a_message_reaches_the_other_three_exactly_once(swarm: Swarm) -> None:
    nodes = await swarm.room("ann", "bob", "cid", "dee")
    ann = nodes[0]
    assert ann.ready["role"] == "tracker"
    assert [n.ready["role"] for n in nodes[1:]] == ["peer"] * 3
    for node in nodes:
        first_tracker = node.find(event="tracker")[0]
        assert first_tracker["node_id"] == ann.node_id

    bob = nodes[1]
    others = [n for n in nodes if n is not bob]
    await say_and_expect(bob, "hello from bob", others)
    # A barrier: everybody says something and waits for everybody else's line. Anything
    # duplicated or relayed of bob's message would have had time to show by then.
    for node in nodes:
        await node.send(f"barrier {node.name}")
    for node in nodes:
        for other in nodes:
            await node.wait_for(event="message", text=f"barrier {other.name}")

    for node in others:
        assert len(node.messages("hello from bob")) == 1, node.describe()
    own = bob.messages("hello from bob")
    assert len(own) == 1 and own[0]["own"] is True
    for node in nodes:
        assert node.returncode is None


# ---------------------------------------------------------------------------------------------
# 2. SIGKILL the tracker: failover, chat during failover, a late joiner.


async def test_killed_tracker_is_replaced_by_the_highest_port_and_chat_goes_on(
    swarm: Swarm,
) -> None:
    nodes = await swarm.room("t0", "n1", "n2", "n3")
    old, survivors = nodes[0], nodes[1:]
    assert old.ready["role"] == "tracker"
    winner = max(survivors, key=lambda n: n.port)
    since = {n.name: len(n.events) for n in survivors}

    old.signal(signal.SIGKILL)
    # Straight away, while the survivors are still noticing and electing, everybody talks.
    for node in survivors:
        await node.send(f"during failover from {node.name}")
    for node in survivors:
        for other in survivors:
            if other is not node:
                event = await node.wait_for(
                    event="message", text=f"during failover from {other.name}"
                )
                assert event["from_id"] == other.node_id

    await expect_tracker(survivors, winner, since)
    for node in survivors:
        await node.wait_for(event="peer_left", node_id=old.node_id, since=since[node.name])
        changes = node.find(event="tracker", since=since[node.name])
        assert {c["node_id"] for c in changes} == {winner.node_id}, node.describe()
        assert len(node.messages(f"during failover from {node.name}")) == 1

    # The new tracker takes over the tracker address, but only once the dead tracker's listener
    # is gone: it retries every 0.25 s. A newcomer arriving in that window founds a second room
    # that never merges (reported as a bug); here the newcomer waits for the address.
    await wait_listening(swarm.tracker_port)
    late = await swarm.node("late")
    assert late.ready["role"] == "peer", late.describe()
    first_tracker = await late.wait_for(event="tracker")
    assert first_tracker["node_id"] == winner.node_id
    for node in survivors:
        await late.wait_for(event="peer_joined", node_id=node.node_id)
        await node.wait_for(event="peer_joined", node_id=late.node_id)
    await say_and_expect(late, "late says hi", survivors)
    await say_and_expect(survivors[0], "welcome late", [late, *survivors[1:]])
    # The late joiner did not depose anybody.
    for node in survivors:
        assert {c["node_id"] for c in node.find(event="tracker", since=since[node.name])} == {
            winner.node_id
        }


# ---------------------------------------------------------------------------------------------
# 3. SIGSTOP the tracker: noticed by the heartbeat timeout.


async def test_hung_tracker_is_replaced_within_the_heartbeat_timeout(swarm: Swarm) -> None:
    nodes = await swarm.room("hung", "p1", "p2")
    hung, survivors = nodes[0], nodes[1:]
    winner = max(survivors, key=lambda n: n.port)
    since = {n.name: len(n.events) for n in survivors}

    stopped_at = trio.current_time()
    hung.signal(signal.SIGSTOP)  # the swarm sends SIGCONT before it kills
    took = []
    for node in survivors:
        event = await node.wait_for(
            event="tracker", node_id=winner.node_id, since=since[node.name], timeout=10
        )
        took.append(event["_at"] - stopped_at)
    print(f"new tracker reported {', '.join(f'{t:.2f} s' for t in took)} after SIGSTOP")
    assert max(took) < HEARTBEAT_TIMEOUT + 2.0, took
    # (Chat after this failover is checked below: the room may split right after it.)


# Fault schedules of several heartbeat timeouts (13-15 s each): run when asked, as CI does.
only_when_asked = pytest.mark.skipif(
    not os.environ.get("PEERCHAT_SLOW"), reason="a long fault schedule; PEERCHAT_SLOW=1 runs it"
)


@pytest.mark.slow
@only_when_asked
async def test_members_stay_in_the_room_after_a_hung_tracker_is_replaced(swarm: Swarm) -> None:
    hung = await swarm.node("hung", "--priority", "100")
    slow = await swarm.node("slow", "--priority", "200")
    win = await swarm.node("win", "--priority", "300")
    await wait_mesh([hung, slow, win])
    since = {n.name: len(n.events) for n in (slow, win)}

    # The fault schedule (when faults happen, not a wait for the nodes): `slow` is frozen for a
    # moment around the tracker's hang, so it reads the tracker's last pings late and would
    # notice the hang after `win` does. It learns of the new tracker from win's coordinator
    # message instead, as any member can, and is alive and well all along.
    slow.signal(signal.SIGSTOP)
    await trio.sleep(0.5)
    hung.signal(signal.SIGSTOP)
    await trio.sleep(0.3)
    slow.signal(signal.SIGCONT)
    for node in (slow, win):
        await node.wait_for(event="tracker", node_id=win.node_id, since=since[node.name])

    # The room stays whole for two heartbeat timeouts, with one tracker, and chat goes on.
    dropped = await win.first_within(2 * HEARTBEAT_TIMEOUT, event="peer_left", node_id=slow.node_id)
    assert dropped is None, win.describe()
    assert not slow.find(event="peer_left", node_id=win.node_id), slow.describe()
    for node in (slow, win):
        changes = node.find(event="tracker", since=since[node.name])
        assert {c["node_id"] for c in changes} == {win.node_id}, node.describe()
    await say_and_expect(slow, "slow is still here", [win])
    await say_and_expect(win, "so is win", [slow])


@pytest.mark.slow  # stopped past the heartbeat timeout, let go, resumed and back
@only_when_asked
async def test_a_hung_tracker_that_resumes_rejoins_as_a_member(swarm: Swarm) -> None:
    hung = await swarm.node("hung", "--priority", "300")
    low = await swarm.node("low", "--priority", "100")
    high = await swarm.node("high", "--priority", "200")
    await wait_mesh([hung, low, high])
    since = {n.name: len(n.events) for n in (hung, low, high)}
    hung.signal(signal.SIGSTOP)
    await expect_tracker([low, high], high, since)
    # Both let the hung tracker go, not only the one that noticed first.
    for node in (low, high):
        await node.wait_for(event="peer_left", node_id=hung.node_id, since=since[node.name])
    hung.signal(signal.SIGCONT)
    # It finds it was given up, lets the tracker address go and joins the room again as a
    # member, although its priority is the highest: a live tracker is not deposed.
    await hung.wait_for(event="tracker", node_id=high.node_id, since=since["hung"])
    for node in (low, high):
        await node.wait_for(event="peer_joined", node_id=hung.node_id, since=since[node.name])
    late = await swarm.node("late")
    assert late.ready["role"] == "peer", late.describe()
    await late.wait_for(event="tracker", node_id=high.node_id)
    await say_and_expect(hung, "back again", [low, high, late])
    await say_and_expect(late, "one room", [hung, low, high])


@pytest.mark.slow  # stopped past the heartbeat timeout, let go, resumed and back
@only_when_asked
async def test_a_frozen_member_is_let_go_by_all_and_shown_what_was_said_meanwhile_on_its_return(
    swarm: Swarm,
) -> None:
    host, other, frozen = await swarm.room("host", "other", "frozen")
    since = {n.name: len(n.events) for n in (host, other, frozen)}
    frozen.signal(signal.SIGSTOP)
    # Said before the others notice: it waits for the frozen node in its sockets, and is read
    # the moment it resumes, yet it was said long before; by two, one after the other, whose
    # links the frozen node reads in no particular order (a user saw such lines reversed).
    said = ["just after the freeze"]
    await say_and_expect(other, said[0], [host])
    await say_and_expect(host, "and the host after it", [other])
    # The tracker's heartbeat finds it; the member's own link, which the frozen process's
    # kernel keeps up, is probed and found silent too.
    with trio.fail_after(4 * HEARTBEAT_TIMEOUT):
        for node in (host, other):
            left = await node.wait_for(
                event="peer_left", node_id=frozen.node_id, since=since[node.name]
            )
            heard = "silent for" if node is host else "no answer within"
            assert left["reason"].startswith(heard), node.describe()
    said += [f"while frozen {i}" for i in range(3)]
    for text in said[1:]:
        await say_and_expect(other, text, [host])
    # One who came meanwhile and spoke: the frozen node never heard of it (a user trial lost
    # this line: a rejoining node asked for no history, and the newcomer's link started late).
    late = await swarm.node("late")
    await say_and_expect(late, "said by one who came meanwhile", [host, other])
    frozen.signal(signal.SIGCONT)
    notice = await frozen.wait_for(event="error", since=since["frozen"])
    assert "rejoining" in notice["message"], frozen.describe()
    got = [
        await frozen.wait_for(event="message", text=text, since=since["frozen"], timeout=15)
        for text in said
    ]
    assert all(e["history"] and e["from_id"] == other.node_id for e in got), frozen.describe()
    shown = [e["text"] for e in frozen.find(event="message") if e["text"] in said]
    assert shown == said, frozen.describe()  # once each, in order
    text = "said by one who came meanwhile"
    meanwhile = await frozen.wait_for(event="message", text=text, since=since["frozen"])
    assert meanwhile["history"] and meanwhile["from_id"] == late.node_id, frozen.describe()
    assert len(frozen.messages(text)) == 1, frozen.describe()
    order = [e for e in frozen.events[since["frozen"] :] if e["event"] in ("error", "message")]
    texts = [e.get("text", "notice") for e in order]
    assert texts.index("notice") < texts.index(said[0]), frozen.describe()  # told first
    assert texts.index(said[0]) < texts.index("and the host after it"), frozen.describe()
    await say_and_expect(other, "and now live", [frozen])
    # The tracker is the one it followed before: no news, so no line about it.
    assert not frozen.find(event="tracker", since=since["frozen"]), frozen.describe()


@pytest.mark.slow  # stopped past the heartbeat timeout, let go, resumed
@only_when_asked
async def test_a_private_line_typed_as_a_frozen_member_wakes_reaches_its_member(
    swarm: Swarm,
) -> None:
    """Trial 67 (3 runs in 6): a bot frozen 20 s wrote "/msg bob ..." the moment it woke. It
    went into the link bob had given up on, the rejoin replaced that link without a word of
    loss, and bob never had it: nothing said so until bob left."""
    host, bob, frozen = await swarm.room("host", "bob", "frozen")
    since = {n.name: len(n.events) for n in (host, bob, frozen)}
    frozen.signal(signal.SIGSTOP)
    with trio.fail_after(4 * HEARTBEAT_TIMEOUT):
        for node in (host, bob):
            await node.wait_for(event="peer_left", node_id=frozen.node_id, since=since[node.name])
    frozen.signal(signal.SIGCONT)
    await frozen.send("/msg bob typed as it woke")
    got = await bob.wait_for(
        event="message", text="typed as it woke", since=since["bob"], timeout=20
    )
    assert got["private"] and got["from_id"] == frozen.node_id, bob.describe()
    assert len(bob.messages("typed as it woke")) == 1, bob.describe()


REJOINING = "not in the room right now (rejoining); message not sent"


@pytest.mark.slow
@only_when_asked
async def test_a_member_frozen_twice_in_a_row_comes_back_both_times(swarm: Swarm) -> None:
    host, other, frozen = await swarm.room("host", "other", "frozen")
    since = len(frozen.events)
    # The fault schedule: frozen past the heartbeat timeout, then again a moment after it
    # resumed, in the middle of its first rejoin.
    frozen.signal(signal.SIGSTOP)
    await trio.sleep(HEARTBEAT_TIMEOUT + 1.0)
    frozen.signal(signal.SIGCONT)
    await trio.sleep(0.02)
    frozen.signal(signal.SIGSTOP)
    await trio.sleep(HEARTBEAT_TIMEOUT + 1.0)
    frozen.signal(signal.SIGCONT)
    notice = await frozen.wait_for(event="error", since=since)
    assert "rejoining" in notice["message"], frozen.describe()
    # Depending on when the second freeze fell, it rejoins once or twice: settle first.
    while await frozen.first_within(HEARTBEAT_TIMEOUT, event="error"):
        pass
    # A second rejoin may wait for the tracker to find the first one's link gone (up to its
    # heartbeat timeout): a line typed meanwhile is refused (CI, a run in three), so a program
    # waits for "rejoined" after the last freeze told (a freeze during a rejoin puts it off
    # to the next: review 57). Then a line goes at once.
    told = [i for i, e in enumerate(frozen.events) if i >= since and "unresponsive" in e]
    await frozen.wait_for(event="rejoined", since=told[-1] + 1, timeout=20)
    back = "back from the freezer"
    await frozen.send(back)
    await frozen.wait_for(event="message", text=back, own=True, since=since, timeout=5)
    assert not frozen.find(event="error", since=since, message=REJOINING), frozen.describe()
    # It is back in the one room: it hears the others and they hear it.
    for proc in (host, other):
        said = await proc.wait_for(event="message", text=back, timeout=15)
        assert said["from_id"] == frozen.node_id and len(proc.messages(back)) == 1, said
    await say_and_expect(other, "welcome back", [frozen])
    await frozen.send("/who")
    who = await frozen.wait_for(event="who", since=since)
    names = {p["username"]: p["tracker"] for p in who["peers"]}
    assert names == {"host": True, "other": False, "frozen": False}, frozen.describe()


# ---------------------------------------------------------------------------------------------
# 4. Leaving: /quit, end of stdin, SIGTERM.


async def test_quit_end_of_stdin_and_sigterm_exit_0_with_a_goodbye(swarm: Swarm) -> None:
    nodes = await swarm.room("host", "quitter", "eof", "termed")
    host, quitter, eof, termed = nodes

    await quitter.send("/quit")
    assert await quitter.wait_exit() == 0
    await eof.close_stdin()
    assert await eof.wait_exit() == 0
    termed.signal(signal.SIGTERM)
    assert await termed.wait_exit() == 0

    for gone in (quitter, eof, termed):
        left = await host.wait_for(event="peer_left", node_id=gone.node_id)
        assert left["reason"] == "quit", host.describe()
        assert left["username"] == gone.name
        assert gone.stderr() == "", gone.describe()
    # The later leavers saw the earlier ones go, as a goodbye too.
    assert (await termed.wait_for(event="peer_left", node_id=quitter.node_id))["reason"] == "quit"
    assert host.returncode is None
    await host.send("/quit")
    assert await host.wait_exit() == 0
    assert "Traceback" not in host.stderr()


# ---------------------------------------------------------------------------------------------
# 5. Two founders at once.


@pytest.mark.parametrize("attempt", range(3))
async def test_two_nodes_started_at_once_elect_exactly_one_tracker(
    swarm: Swarm, attempt: int
) -> None:
    a = await swarm.node("twin-a", wait=False)
    b = await swarm.node("twin-b", wait=False)
    for node in (a, b):
        await node.wait_for(event="ready")
    roles = sorted([a.ready["role"], b.ready["role"]])
    assert roles == ["peer", "tracker"], (a.describe(), b.describe())
    await wait_mesh([a, b])
    founder = a if a.ready["role"] == "tracker" else b
    for node in (a, b):
        assert node.find(event="tracker")[-1]["node_id"] == founder.node_id
    await say_and_expect(a, "twin a", [b])
    await say_and_expect(b, "twin b", [a])


# ---------------------------------------------------------------------------------------------
# 6. Bad usage: status 2, one line on stderr.


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--headless"], id="no-username"),
        pytest.param(["--username", "u", "--headless", "--port", "70000"], id="port-70000"),
        pytest.param(["--username", "u", "--headless", "--port", "abc"], id="port-abc"),
        pytest.param(["--username", "u", "--headless", "--tracker", "nonsense:"], id="tracker"),
        pytest.param(["--username", "u", "--headless", "--tracker", "127.0.0.1:0"], id="tracker-0"),
        pytest.param(["--username", "two words", "--headless"], id="bad-username"),
        pytest.param(["tracker", "--port", "-1"], id="tracker-bad-port"),
        pytest.param(["--username", "u", "--headless", "--port", "TAKEN"], id="port-taken"),
        pytest.param(["tracker", "--port", "TAKEN"], id="tracker-port-taken"),
        pytest.param(["--username", "u"], id="prompt-without-a-terminal"),
        pytest.param(
            ["--username", "u", "--headless", "--port", "5999", "--tracker", "127.0.0.1:5999"],
            id="port-is-the-tracker-port",
        ),
    ],
)
async def test_bad_usage_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = [port if a == "TAKEN" else a for a in args]
        if args[0] != "tracker" and "--tracker" not in args:  # never the default 5000
            args += ["--tracker", f"127.0.0.1:{free_port()}"]
        with trio.fail_after(15):
            result = await trio.run_process(
                [sys.executable, "-m", "peerchat", *args],
                stdin=b"",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},  # never the user's data dir
            )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert result.stdout == b""
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.strip()


async def test_a_taken_username_is_refused_with_one_line(swarm: Swarm) -> None:
    await swarm.node("bob")
    twin = await swarm.spawn(
        "twin", "--username", "bob", "--headless", "--tracker", swarm.tracker_addr
    )
    assert await twin.wait_exit() == 1
    stderr = twin.stderr()
    assert "name 'bob' is taken" in stderr and len(stderr.splitlines()) == 1, twin.describe()
    assert "go by another: --username NAME" in stderr  # (a user trial had no word of how)


# ---------------------------------------------------------------------------------------------
# 7. Bad input from the network.


RAW = FakeIdentity("raw")  # whose key our handshakes prove, and whose id our hellos name


async def _poke(
    port: int, data: bytes, *, timeout: float = 5, handshake: bool = True
) -> tuple[str, bytes]:
    """Connect (with the handshake of an open room, unless told not to), send ``data``,
    half-close, and read until the node closes the connection.

    Returns the name the node logs this connection under, and whatever the node sent back.
    """
    stream = await (connect(port, identity=RAW) if handshake else connect_raw(port))
    name = f"127.0.0.1:{stream.socket.getsockname()[1]}"
    received = b""
    try:
        await stream.send_all(data)
        await stream.send_eof()
        with trio.fail_after(timeout):
            try:
                while chunk := await stream.receive_some(65536):
                    received += chunk
            except trio.BrokenResourceError:
                pass
    finally:
        await stream.aclose()
    return name, received


HELLO = {
    "t": "hello",
    "version": PROTOCOL_VERSION,
    "node_id": RAW.node_id,
    "username": "raw",
    "host": "127.0.0.1",
    "port": 9,
    "priority": 0,
    "chat": True,
    "seq": 0,
    "join": False,
    "room": "",
    "tracker": "",
    "name": "",
    "direct": False,
}

CHAT = {"t": "want", "author": "x", "after": 0}

# What is sent, and what the node's log line about it says.
BAD_INPUT = {
    "garbage": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "exceeds the limit"),
    "undecodable": (struct.pack(">I", 3) + b"\xc1\xc1\xc1", "undecodable"),
    "length-2**31": (struct.pack(">I", 2**31) + b"\x00" * 64, "2147483648 bytes exceeds"),
    "truncated": (frame(HELLO)[:-5], "closed inside a frame"),
    "list-not-map": (frame([1, 2, 3]), "not a map"),
    "no-type": (frame({"version": PROTOCOL_VERSION}), "unknown message type"),
    "hello-missing-fields": (frame({"t": "hello", "version": PROTOCOL_VERSION}), "lacks"),
    "hello-bad-field": (frame({**HELLO, "port": "nine"}), "invalid"),
    "unknown-type": (frame({"t": "no-such-type", "x": 1}), "unknown message type"),
    "chat-before-hello": (frame(CHAT), "expected a hello"),
}


async def test_garbage_from_the_network_closes_only_that_connection(swarm: Swarm) -> None:
    tracker, peer = await swarm.room("target", "friend")

    async def still_fine(case: str) -> None:
        for node in (tracker, peer):
            assert node.returncode is None, node.describe()
        await say_and_expect(peer, f"after {case}", [tracker])
        await say_and_expect(tracker, f"reply {case}", [peer])

    # A connection that never begins the handshake: opened first, it is cut off by the hello
    # timeout while the other cases run.
    silent = await connect_raw(swarm.tracker_port)
    silent_name = f"127.0.0.1:{silent.socket.getsockname()[1]}"

    # Bytes that are no handshake: refused before anything is read as a frame.
    for target, port in ((tracker, swarm.tracker_port), (peer, peer.port)):
        name, answer = await _poke(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", handshake=False)
        assert answer == b"", answer
        assert "no handshake" in await target.wait_log(name)
        await still_fine(f"no handshake to {target.name}")

    # Against the tracker address, and against a member's own listen port.
    for target, port in ((tracker, swarm.tracker_port), (peer, peer.port)):
        for case, (data, why) in BAD_INPUT.items():
            name, answer = await _poke(port, data)
            assert answer == b"", (case, answer)
            line = await target.wait_log(name)
            assert "dropping connection" in line and why in line, (case, line)
            await still_fine(f"{case} to {target.name}")

    # Another protocol version is told why.
    name, answer = await _poke(swarm.tracker_port, frame({**HELLO, "version": 999}))
    refusal = msgpack.unpackb(answer[4:])
    assert refusal["t"] == "refuse" and "version" in refusal["reason"], refusal
    assert "refusing" in await tracker.wait_log(name)
    await still_fine("another version")

    # A proper join, then an unknown type: a member that is dropped again.
    stream = await connect(swarm.tracker_port, identity=RAW)
    await stream.send_all(frame({**HELLO, "join": True}))
    await tracker.wait_for(event="peer_joined", node_id=HELLO["node_id"])
    await stream.send_all(frame({"t": "bogus"}))
    left = await tracker.wait_for(event="peer_left", node_id=HELLO["node_id"])
    assert "protocol" in left["reason"], left
    with trio.fail_after(5):
        try:
            while await stream.receive_some(65536):
                pass  # the hello and pings the node sent before it closed
        except trio.BrokenResourceError:
            pass
    await stream.aclose()
    assert "closing connection" in await tracker.wait_log("raw@127.0.0.1:9")
    await still_fine("bad frame after hello")

    with trio.fail_after(10):
        assert await silent.receive_some(65536) == b""
    await silent.aclose()
    assert "no handshake" in await tracker.wait_log(silent_name)
    await still_fine("silence")
    for node in (tracker, peer):
        assert "Traceback" not in node.log() + node.stderr()


# ---------------------------------------------------------------------------------------------
# 8. The standalone tracker.


async def test_standalone_tracker_then_highest_port_takes_over(swarm: Swarm) -> None:
    standalone = await swarm.spawn("tracker", "tracker", "--port", str(swarm.tracker_port))
    banner = await standalone.wait_for(event="_raw")
    assert "listening on" in banner["line"], standalone.describe()
    a, b = await swarm.room("alpha", "beta")
    for node in (a, b):
        assert node.ready["role"] == "peer"
        first = node.find(event="tracker")[0]
        assert first["username"] == "tracker", node.describe()
    await say_and_expect(a, "hi beta", [b])
    await say_and_expect(b, "hi alpha", [a])

    winner = max((a, b), key=lambda n: n.port)
    since = {n.name: len(n.events) for n in (a, b)}
    standalone.signal(signal.SIGKILL)
    await expect_tracker([a, b], winner, since)
    for node in (a, b):
        changes = node.find(event="tracker", since=since[node.name])
        assert {c["node_id"] for c in changes} == {winner.node_id}, node.describe()
    await say_and_expect(a, "after the tracker", [b])
    await say_and_expect(b, "and after it", [a])


@slow
async def test_a_headless_node_whose_stdout_is_not_read_stays_in_the_room(swarm: Swarm) -> None:
    """A bot that reads its events slowly: writing to the full pipe stopped the whole node,
    which then answered no pings, was cut off and took itself for frozen (a review)."""
    alice, bob = await swarm.room("alice", "bob")
    bob.stop_reading()
    texts = [f"{i} " + "x" * 2000 for i in range(400)]  # 800 KB: a dozen pipes' worth
    for text in texts:
        await alice.send(text)
    assert await alice.first_within(5, event="peer_left") is None
    bob.go_on_reading()
    await bob.wait_for(event="message", text=texts[-1], timeout=20)
    assert len(bob.find(event="message")) == len(texts)
    assert not bob.find(event="peer_left") and not alice.find(event="peer_left")


# ---------------------------------------------------------------------------------------------
# A fetch killed halfway goes on after a restart.


@pytest.mark.slow  # 5 s, 640 MiB written: the default suite is near its 5 minutes
@only_when_asked
async def test_a_fetch_killed_with_sigkill_goes_on_from_where_it_was_after_a_restart(
    swarm: Swarm,
) -> None:
    """A user trial: a fetch whose program was killed started again from nothing. What came
    is noted in the room's store every 8 MiB (``files.KEEP_EVERY``): after SIGKILL and a
    restart, ``/get`` takes up the ``.peerchat-part`` from the last note and the file checks."""
    source = swarm.workdir / "big.bin"
    with source.open("wb") as f:  # past what comes between two progress reports (0.25 s)
        for _ in range(320):
            f.write(os.urandom(1 << 20))
    alice = await swarm.node("alice")
    bob_args = ("--data-dir", str(swarm.workdir / "bob-data"))
    bob = await swarm.node("bob", *bob_args)
    await alice.send(f"/send {source}")
    offer = await bob.wait_for(event="file_offer", name="big.bin")
    await bob.send(f"/get {offer['id']}")
    size = source.stat().st_size
    seen = await bob.wait_for(event="file_progress", predicate=lambda e: e["received"] > 16 << 20)
    bob.signal(signal.SIGKILL)
    await bob.wait_exit()
    (part,) = (swarm.workdir / "bob-downloads").glob("*.peerchat-part")
    assert part.stat().st_size < size

    bob = await swarm.node("bob", *bob_args)
    offer = await bob.wait_for(event="file_offer", name="big.bin")
    await bob.send(f"/get {offer['id']}")
    going_on = await bob.wait_for(event="file_progress", resumed=True)
    assert going_on["received"] >= seen["received"] - files.KEEP_EVERY, going_on
    done = await bob.wait_for(event="file_done", name="big.bin", timeout=60)
    assert done["ok"], done
    assert Path(done["path"]).read_bytes() == source.read_bytes()
