"""Many nodes in one process, over real loopback sockets: join, chat, crash, elections."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import math
import re
import socket
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing
from e2e_helpers import SLOW, slow
from prompt_toolkit.formatted_text import to_plain_text

import peerchat.connection
import peerchat.doorman
import peerchat.links
import peerchat.messaging
import peerchat.node
from peerchat import PROTOCOL_VERSION, doorman, entrance, events, read_pace, tracker_role, ui
from peerchat.batch import seal
from peerchat.chat import Chat
from peerchat.config import Config
from peerchat.datadir import DataDir
from peerchat.doorman import JOINS_AT_ONCE
from peerchat.election import Send
from peerchat.entrance import Entrance
from peerchat.handshake import OPEN_ROOM, LocalKeys, room_key
from peerchat.identity import Identity
from peerchat.links import Links
from peerchat.membership import Member as Member_
from peerchat.names import marked
from peerchat.node import MAX_SECRET_ROOMS_TOLD, Node, Settings
from peerchat.protocol import (
    MAX_HEADS,
    Answer,
    Batch,
    Beat,
    Bye,
    Coordinator,
    Hello,
    MemberJoined,
    MemberLeft,
    Nick,
    Pong,
    Redirect,
    Refuse,
    Roster,
    Skip,
    Summary,
    Want,
    Welcome,
    encode,
)
from peerchat.secure_stream import secure
from peerchat.talk import NAMESAKE_NOTICES_AT_ONCE
from peerchat.tracker_address import StartupError
from peerchat.wire import FrameDecoder, encode_frame

FAST = Config(
    heartbeat_interval=0.05,
    heartbeat_timeout=0.3,
    answer_timeout=0.2,
    coordinator_timeout=0.5,
    hello_timeout=2.0,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Member:
    """One node in the room, with the events it reported and a way to crash it."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.events: list[events.Event] = []
        self.changed = trio.Event()
        self.scope = trio.CancelScope()

    def record(self, event: events.Event) -> None:
        self.events.append(event)
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, predicate: Callable[[events.Event], bool], timeout: float = 5):
        with trio.fail_after(timeout):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                await self.changed.wait()

    def messages(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, events.MessageReceived) and not e.own]

    @property
    def tracker_id(self) -> str | None:
        return self.node.bully.tracker

    def crash(self) -> None:
        """Stop at once, without goodbyes: peers see the connections drop."""
        self.scope.cancel()


class Room:
    def __init__(self, nursery: trio.Nursery, config: Config = FAST) -> None:
        self.nursery = nursery
        self.config = config
        self.tracker_port = free_port()
        self.members: list[Member] = []

    async def add(
        self, name: str, priority: int | None = None, data: DataDir | None = None
    ) -> Member:
        settings = Settings(name, tracker_port=self.tracker_port, priority=priority)
        member = Member(Node(settings, lambda e: None, self.config, data))
        member.node.emit = member.record
        await self.nursery.start(self._run, member)
        self.members.append(member)
        return member

    async def _run(self, member: Member, *, task_status: trio.TaskStatus[None]) -> None:
        with member.scope:
            await member.node.run(task_status=task_status)

    def alive(self) -> list[Member]:
        return [m for m in self.members if not m.scope.cancel_called]

    async def all_agree(self, tracker: Member, timeout: float = 5) -> None:
        tracker_id = tracker.node.node_id
        for m in self.alive():
            await m.wait_for(
                lambda e: isinstance(e, events.TrackerChanged) and e.tracker.node_id == tracker_id,
                timeout,
            )
            assert m.tracker_id == tracker_id, f"{m.node.me.username} follows {m.tracker_id}"

    async def fully_connected(self, timeout: float = 10) -> None:
        with trio.fail_after(timeout):
            while True:
                alive = self.alive()
                if all(len(m.node.links.conns) == len(alive) - 1 for m in alive):
                    return
                await trio.sleep(0.01)


async def cut(a: Member, b: Member) -> None:
    """The link between two members breaks without a goodbye (as a cut or a reset would); back
    once ``a`` has reported ``b`` gone."""
    b_id = b.node.node_id
    a.node.links.conns[b_id].abort("cut by the test")
    await a.wait_for(lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == b_id)


async def test_first_node_founds_the_room_and_others_join() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice")
        assert alice.node.bully.is_tracker
        bob = await room.add("bob")
        carol = await room.add("carol")
        ready = await carol.wait_for(lambda e: isinstance(e, events.Ready))
        assert ready.role == "peer"
        present = await carol.wait_for(lambda e: isinstance(e, events.InRoom))
        assert {m.username for m in present.members} == {"alice", "bob"}
        await bob.wait_for(
            lambda e: isinstance(e, events.PeerJoined) and e.member.username == "carol"
        )
        await room.fully_connected()
        nursery.cancel_scope.cancel()


async def test_messages_go_to_everyone_once_in_order() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        nodes = [await room.add(n) for n in ("alice", "bob", "carol", "dave")]
        await room.fully_connected()
        for i in range(50):
            nodes[1].node.say(f"m{i}")
        for other in (nodes[0], nodes[2], nodes[3]):
            await other.wait_for(
                lambda e: isinstance(e, events.MessageReceived) and e.text == "m49"
            )
            assert other.messages() == [f"m{i}" for i in range(50)]
        own = [e for e in nodes[1].events if isinstance(e, events.MessageReceived)]
        assert all(e.own for e in own) and len(own) == 50
        nursery.cancel_scope.cancel()


async def test_what_went_out_after_the_last_sign_of_a_lost_member_is_said_to_be_unsure() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        bob.node.say("into the cut")  # the link to carol dies before a word back from her
        await cut(bob, carol)
        unsure = await bob.wait_for(lambda e: isinstance(e, events.Unconfirmed))
        assert (unsure.member.node_id, unsure.count) == (carol.node.node_id, 1)
        left = next(e for e in bob.events if isinstance(e, events.PeerLeft))
        assert bob.events.index(left) < bob.events.index(unsure)
        delivered = await bob.wait_for(lambda e: isinstance(e, events.Delivered))
        assert (delivered.member.node_id, delivered.count) == (carol.node.node_id, 1)
        await carol.wait_for(
            lambda e: isinstance(e, events.MessageReceived) and e.text == "into the cut"
        )
        bob.node.say("after")
        await carol.wait_for(lambda e: isinstance(e, events.MessageReceived) and e.text == "after")
        assert carol.messages().count("into the cut") == 1
        nursery.cancel_scope.cancel()


async def test_what_the_peers_kernel_acknowledged_is_not_said_to_be_unsure() -> None:
    """Between two quiet members a link brings nothing back: a user trial's cut, a minute after
    a paste that had been shown, said "bob may not have your last 1010 messages"."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        for i in range(5):
            bob.node.say(f"line {i}")
        await carol.wait_for(lambda e: isinstance(e, events.MessageReceived) and e.text == "line 4")
        link = bob.node.links.conns[carol.node.node_id]
        with trio.fail_after(5):
            while link.had < 5:  # the kernel's acknowledgement, looked at once an interval
                await trio.sleep(room.config.heartbeat_interval)
        seen = len(bob.events)
        await cut(bob, carol)
        with trio.fail_after(5):  # carol back (an equal event came at the start: by position)
            while not any(isinstance(e, events.PeerJoined) for e in bob.events[seen:]):
                await bob.changed.wait()
        notices = [e for e in bob.events if isinstance(e, events.Unconfirmed | events.Delivered)]
        assert notices == [], notices  # nothing unsure, so nothing delivered after all
        nursery.cancel_scope.cancel()


async def test_a_line_said_just_before_a_peer_was_last_heard_from_may_not_be_its() -> None:
    """Trial 47: carol's frames sent before bob's line came were heard after it, as a cable was
    pulled; bob was not told she may not have the line."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        bob, carol = await room.add("bob"), await room.add("carol")
        await room.fully_connected()
        bob.node.say("as the cable goes")
        heard = trio.current_time() + 0.1  # a frame of hers came just after (sent before)
        bob.node.links.drop_member(
            carol.node.node_id, "connection lost", lost=True, last_heard=heard
        )
        unsure = await bob.wait_for(lambda e: isinstance(e, events.Unconfirmed))
        assert unsure.count == 1
        nursery.cancel_scope.cancel()


async def test_a_lost_link_comes_back_and_what_was_said_meanwhile_arrives_once() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        bob.node.say("before")
        await carol.wait_for(lambda e: isinstance(e, events.MessageReceived) and e.text == "before")
        carol_id = carol.node.node_id
        await cut(bob, carol)
        bob.node.say("while carol is away")
        notice = await bob.wait_for(lambda e: isinstance(e, events.Undelivered))
        assert [m.node_id for m in notice.waiting] == [carol_id]
        # Redialled at once: carol asks for what she lacks, and bob sends it.
        delivered = await bob.wait_for(lambda e: isinstance(e, events.Delivered))
        assert delivered.member.node_id == carol_id
        assert delivered.count == 1
        bob.node.say("after")
        for other in (alice, carol):
            await other.wait_for(
                lambda e: isinstance(e, events.MessageReceived) and e.text == "after"
            )
            assert other.messages() == ["before", "while carol is away", "after"]
        nursery.cancel_scope.cancel()


@slow  # 7.5 s: the default suite went past 5 minutes on this session's machine
async def test_two_members_that_cannot_reach_each_other_hear_each_other_through_a_third() -> None:
    """A trial: a cut between alice and carol, who both reached bob, kept their lines from each
    other for as long as it lasted. Each asks the links about the other now and then, and bob
    answers with what he holds beyond: asked again after an answer that never came, too (a
    review: one lost answer left the gap open until alice spoke again)."""
    config = dataclasses.replace(FAST, want_timeout=1.0)
    async with trio.open_nursery() as nursery:
        room = Room(nursery, config)
        bob, alice, carol = [await room.add(n) for n in ("bob", "alice", "carol")]
        await room.fully_connected()
        for one, other in ((alice, carol), (carol, alice)):
            dial, other_id = one.node.links._dial_member, other.node.node_id

            async def blocked(member: Member_, *, _dial=dial, _id=other_id, **kw: object):  # noqa: ANN001, ANN202
                if member.node_id == _id:
                    return OSError("cut by the test")
                return await _dial(member, **kw)

            one.node.links._dial_member = blocked
        dropped = []
        answer = bob.node._handlers[Want]

        def drop_first(conn: peerchat.connection.Connection, message: Want) -> None:
            if not dropped and message.author == alice.node.node_id:
                dropped.append(message)  # never answered: carol's want times out
                return
            answer(conn, message)

        bob.node._handlers[Want] = drop_first
        await cut(alice, carol)
        await carol.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == alice.node.node_id
        )
        await trio.sleep(2 * config.departure_delay)  # past the departure's summary
        alice.node.say("across the cut")
        carol.node.say("and back")
        said = lambda text: lambda e: isinstance(e, events.MessageReceived) and e.text == text  # noqa: E731
        await carol.wait_for(said("across the cut"), 20)
        await alice.wait_for(said("and back"), 20)
        assert dropped, "carol asked bob for alice's lines"
        assert alice.node.node_id not in carol.node.links.conns, "the cut held"
        nursery.cancel_scope.cancel()


async def test_questions_are_answered_at_a_pace_and_not_while_answers_wait_to_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Attack round 35: a peer that asked and read nothing had 320 MB of answers queued."""
    node = Node(Settings("bob", tracker_port=1), lambda e: None, FAST, None)
    node.chatlog.receive(Chat("alice", 5, 1, "hi", 0.0, 0.0))
    sent: list[object] = []
    conn = types.SimpleNamespace(backlog=0, send=sent.append)
    ask = functools.partial(node.messaging._answer_question, conn, "carol", {"alice": 1})
    ask()
    ask()  # at once again: not answered
    assert [m.heads for m in sent] == [{"alice": 5}]  # type: ignore[attr-defined]
    await trio.sleep(peerchat.messaging.ANSWER_EVERY)
    conn.backlog = 1  # the last answer has not left yet
    ask()
    assert len(sent) == 1
    conn.backlog = 0
    ask()
    assert len(sent) == 2


async def test_a_whole_summary_naming_authors_ours_leave_out_is_answered_for_those() -> None:
    """Attack round 35: 1,100 keys that spoke once after bob left pushed him out of alice's
    summaries, and carol, back, never saw his lines: what her summary names of the authors
    alice's leave out, alice answers for."""
    node = Node(Settings("alice", tracker_port=1), lambda e: None, FAST, None)
    node.chatlog.receive(Chat("bob", 5, 1, "before the keys", 0.0, 0.0))
    for i in range(MAX_HEADS + 100):
        node.chatlog.receive(Chat(f"key{i}", 1, 1, "", 0.0, 0.0))
    sent: list[Summary] = []
    carol = Member_("carol", "carol", "127.0.0.1", 1, 0)
    conn = types.SimpleNamespace(backlog=0, send=sent.append, member=carol)
    heads = {"carol": 3, "bob": 2, f"key{MAX_HEADS + 99}": 0}  # she holds less of both
    node.messaging.on_summary(conn, Summary(heads))  # type: ignore[arg-type]
    assert [m.heads for m in sent] == [{"bob": 5}]  # not the key: alice's summary names it
    # Whole summaries again at once are not answered, and what hers leave out is not even
    # gathered (round 36: whole summaries in a loop made a core four times as busy).
    gathered = []
    node.messaging._heads = lambda: gathered.append(1) or {}  # type: ignore[method-assign]
    for _ in range(3):
        node.messaging.on_summary(conn, Summary(heads))  # type: ignore[arg-type]
    assert len(sent) == 1 and gathered == []


async def test_a_new_link_is_told_of_the_authors_a_whole_summary_leaves_out_in_pages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Attack round 36: 1,100 keys heard after bob, at carol and at alice, left him out of
    both their summaries, and the 5 lines he said while carol was away never came to her. A
    new link is now told of the rest too, ``MAX_HEADS`` at a time, as questions (naming
    neither end), each once the link has taken the last."""
    node = Node(Settings("carol", tracker_port=1), lambda e: None, FAST, None)
    node.chatlog.receive(Chat("bob", 5, 1, "before the keys", 0.0, 0.0))
    keys = [f"key{i}" for i in range(MAX_HEADS + 100)]
    for key in keys:
        node.chatlog.receive(Chat(key, 1, 1, "", 0.0, 0.0))
    sent: list[Summary] = []
    alice = Member_("alice", "alice", "127.0.0.1", 1, 0)
    conn = types.SimpleNamespace(backlog=0, closing=False, send=sent.append, member=alice)
    async with trio.open_nursery() as nursery:
        node.nursery = nursery
        node.messaging.on_link(conn, alice, missed_after=None)  # type: ignore[arg-type]
        summaries = [m.heads for m in sent if isinstance(m, Summary)]
        assert len(summaries) == 1 and "bob" not in summaries[0]
        assert node.node_id in summaries[0]  # the whole one names its sender
    summaries = [m.heads for m in sent if isinstance(m, Summary)]
    assert len(summaries) == 2
    assert list(summaries[1]) == [*reversed(keys[:101]), "bob"]  # those heard last first
    assert summaries[1]["bob"] == 5 and node.node_id not in summaries[1]


async def test_an_author_asked_for_is_not_forgotten_while_its_answer_may_come() -> None:
    """Review 54: an author forgotten while a want for it was out made the answer on its way
    one unasked for, and the link ended."""
    node = Node(Settings("carol", tracker_port=1), lambda e: None, FAST, None)
    for author in ("bob", "dan"):
        node.chatlog.receive(Chat(author, 1, 1, "hi", 0.0, 0.0))
    node.messaging._wanted_at["bob"] = trio.current_time()  # asked of a peer: no answer yet
    node.messaging.forget_unkept()  # nothing of either is stored, and neither is in the room
    assert node.chatlog.shown("bob") == 1 and node.chatlog.shown("dan") is None


async def test_a_want_answered_with_nothing_sends_no_summary_and_one_that_brings_some_does() -> (
    None
):
    """Attack round 35: a key had alice claim lines it lacked; each of bob's questions about it
    then set off a want, a skip, and his whole summary to every link, every 4-6 s."""
    node = Node(Settings("bob", tracker_port=1), lambda e: None, FAST, None)
    node.chatlog.receive(Chat("key", 1, 1, "hi", 0.0, 0.0))
    node.chatlog.receive(Chat("alice", 1, 1, "hi", 0.0, 0.0))
    sent: list[object] = []
    broadcast: list[object] = []
    alice = Member_("alice", "alice", "127.0.0.1", 1, 0)
    conn = types.SimpleNamespace(backlog=0, send=sent.append, member=alice)
    node.links.conns["alice"] = conn  # type: ignore[assignment]
    node.links.broadcast = lambda message, **_: broadcast.append(message)  # type: ignore[method-assign]
    node.messaging.on_summary(conn, Summary({"alice": 1, "key": 1000}))  # type: ignore[arg-type]
    assert [(m.author, m.after) for m in sent if isinstance(m, Want)] == [("key", 1)]
    node.messaging.on_skip(conn, Skip("key", 1000))  # type: ignore[arg-type]  # it has none
    assert broadcast == []
    node.messaging.on_summary(conn, Summary({"alice": 3}))  # type: ignore[arg-type]
    for n in (2, 3):  # her answer's lines, then its end
        node.chatlog.receive(Chat("alice", n, n, "hi", 0.0, 0.0))
    node.messaging.on_skip(conn, Skip("alice", 3))  # type: ignore[arg-type]
    assert [type(m) for m in broadcast] == [Summary]


def test_a_summary_too_long_names_the_authors_heard_last_whatever_their_numbers() -> None:
    """Attack round 34: 1,100 keys that spoke once at 2^61 pushed an author who had left out of
    every summary, and a member back from away never saw his lines."""
    node = Node(Settings("alice", tracker_port=1), lambda e: None, FAST, None)
    node.chatlog.receive(Chat("bob", 5, 1, "before the keys", 0.0, 0.0))
    for i in range(MAX_HEADS + 100):
        node.chatlog.receive(Chat(f"key{i}", 2**61, 1, "", 0.0, 0.0))
    node.chatlog.receive(Chat("bob", 6, 1, "after them", 0.0, 0.0))
    heads = node.messaging._heads()
    assert len(heads) == MAX_HEADS
    assert heads["bob"] == 6 and heads[node.node_id] == 0
    assert "key99" not in heads and f"key{MAX_HEADS + 99}" in heads


def test_a_restarted_node_names_the_authors_whose_batches_came_last(tmp_path: Path) -> None:
    """Not those listed first in its tables (a review: the restore's order was untested)."""
    data = DataDir(tmp_path / "alice")
    settings = Settings("alice", tracker_port=1)
    node = Node(settings, lambda e: None, FAST, data)
    authors = [Identity.generate() for _ in range(MAX_HEADS + 50)]
    for n, who in enumerate(authors):  # one after the other, whatever their numbers
        said = [Chat(who.node_id, 2**61 - n, 1, "hi", 0.0, 0.0)]
        node.store.add(seal(who, f"k{n}", said, node.room_tag), 1000.0 + n)
    node.store.save_seen({who.node_id: 2**61 - n for n, who in enumerate(authors)})
    node.store.close()
    node.numbers.close()
    again = Node(settings, lambda e: None, FAST, data)
    latest = {who.node_id for who in authors[-(MAX_HEADS - 1) :]}
    assert set(again.messaging._heads()) == latest | {again.node_id}
    again.store.close()
    again.numbers.close()
    data.close()


async def test_a_resend_longer_than_the_send_queue_goes_out_paced_and_whole() -> None:
    config = dataclasses.replace(FAST, send_queue=64, resend_batch=50)
    async with trio.open_nursery() as nursery:
        room = Room(nursery, config)
        await room.add("alice")
        bob, carol = await room.add("bob"), await room.add("carol")
        await room.fully_connected()
        carol_id = carol.node.node_id
        await cut(bob, carol)
        said = [f"away {i}" for i in range(500)]  # almost eight send queues' worth
        for text in said:
            bob.node.say(text)
            await trio.sleep(0)  # each its own batch, so each its own frame
        delivered = await bob.wait_for(lambda e: isinstance(e, events.Delivered))
        assert 0 < delivered.count <= 500  # the link may come back while bob still talks
        await carol.wait_for(
            lambda e: isinstance(e, events.MessageReceived) and e.text == "away 499"
        )
        assert carol.messages() == said
        assert carol_id in bob.node.links.conns  # never cut off as "fell behind"
        nursery.cancel_scope.cancel()


async def test_two_members_that_forgot_each_other_meet_again_through_the_tracker() -> None:
    # As after crossing dials to a refounded node: bob no longer lists carol and does not dial
    # her, and carol's dials are held by bob as a stranger's. The tracker's pings show bob that
    # his list differs; he swaps rosters with the tracker and dials carol again.
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        carol_id = carol.node.node_id
        bob.node.links.drop_member(carol_id, "forgotten by the test", lost=False)
        assert carol_id not in bob.node.members and carol_id not in bob.node.links.redial
        await bob.wait_for(
            lambda e: isinstance(e, events.PeerJoined) and e.member.node_id == carol_id,
            timeout=10,
        )
        await room.fully_connected()
        carol.node.say("back")
        await bob.wait_for(lambda e: isinstance(e, events.MessageReceived) and e.text == "back")
        nursery.cancel_scope.cancel()


@slow
async def test_the_trackers_word_alone_neither_lists_nor_drops_a_member() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        tracker_link = carol.node.links.conns[alice.node.node_id]
        bob_id = bob.node.node_id
        ghost = Identity.generate().node_id
        mark = len(carol.events)
        # A member nobody can reach, and a farewell for one that is alive and linked.
        fake = MemberJoined(Member_(ghost, "ghost", "127.0.0.1", free_port(), 1), joining=False)
        alice.node.links.conns[carol.node.node_id].send(fake)
        alice.node.links.conns[carol.node.node_id].send(MemberLeft(bob_id, "a lie"))
        # A barrier after both: carol has dealt with them when alice's next line shows.
        alice.node.say("after the lies")
        await carol.wait_for(lambda e: getattr(e, "text", None) == "after the lies")
        # Long enough for carol's probe of bob to be answered and her dial of the ghost to
        # fail: an absence is waited out.
        await trio.sleep(FAST.probe_timeout + FAST.announce_dial_delay + FAST.connect_timeout)
        told = [
            e
            for e in carol.events[mark:]
            if isinstance(e, events.PeerLeft | events.PeerJoined)
            and e.member.node_id in (bob_id, ghost)
        ]
        assert not told, told
        assert ghost not in carol.node.members and bob_id in carol.node.members
        assert tracker_link is carol.node.links.conns[alice.node.node_id]
        bob.node.say("still here")
        await carol.wait_for(lambda e: getattr(e, "text", None) == "still here")
        nursery.cancel_scope.cancel()


async def test_a_tracker_announcing_thousands_of_made_up_members_sets_few_dials_going() -> None:
    """A tracker gone bad lists 2,000 members at closed ports. Bob dials at most
    ``max_word_dials`` of them at once and redials at most ``max_redial`` (an attacker's run:
    174 MB and 780 dials a second, still going after the attacker left)."""
    config = dataclasses.replace(FAST, max_word_dials=8, max_redial=16)
    async with trio.open_nursery() as nursery:
        room = Room(nursery, config)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        closed = free_port()  # nothing listens there: every dial is refused at once
        fakes = tuple(
            Member_(f"{n:032x}", f"ghost{n}", "127.0.0.1", closed, 1) for n in range(1, 2001)
        )
        alice.node.links.conns[bob.node.node_id].send(Roster(fakes))
        most, said = 0, False
        with trio.move_on_after(3):
            while True:
                most = max(most, bob.node.tracker_role._word_dials)
                await trio.sleep(0.01)
                if most >= 8 and not said:
                    bob.node.say("bob talks")  # while ghosts are dialled
                    said = True
        assert 0 < most <= 8
        assert len(bob.node.links.redial) == 0  # the word is dialled once (attack round 29)
        # Never in the room with bob: nothing he says is "not delivered" to them (an attacker's
        # run: a line per ghost, and each line said listed 1,024 of them).
        told = [e for e in bob.events if isinstance(e, (events.NotDelivered, events.Undelivered))]
        assert told == [], [(type(e).__name__, e.member.username) for e in told]
        alice.node.say("still talking")
        await bob.wait_for(lambda e: getattr(e, "text", None) == "still talking")
        nursery.cancel_scope.cancel()


async def test_a_members_roster_has_the_tracker_dial_each_made_up_member_once() -> None:
    """An attacker's run: a member's roster of 256 made-up members at another host's port had
    the tracker dial that port 128 times a second, for half an hour after the member left.
    Now the news of a member's roster is dialled once, and a link's next roster soon after
    sets nothing going."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        knocks = 0

        async def count(stream: trio.SocketStream) -> None:
            nonlocal knocks
            knocks += 1
            await stream.aclose()

        (listener,) = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), count, 0
        )
        port = listener.socket.getsockname()[1]
        fakes = tuple(Member_(f"{n:032x}", f"ghost{n}", "127.0.0.1", port, 1) for n in range(1, 51))
        link = bob.node.links.conns[alice.node.node_id]
        for n in range(tracker_role.ROSTER_NEWS_BURST + 1):  # the last one too soon
            link.send(Roster(fakes))
            bob.node.say(f"roster {n}")  # a barrier: alice has read it when she reads this
            await alice.wait_for(lambda e, n=n: getattr(e, "text", None) == f"roster {n}")
            with trio.fail_after(5):  # the dials it set going (counted as they start) end
                while alice.node.tracker_role._word_dials:
                    await trio.sleep(0.01)
            dialled = min(n + 1, tracker_role.ROSTER_NEWS_BURST) * len(fakes)
            assert knocks == dialled  # once each, not again
            assert not [f for f in fakes if f.node_id in alice.node.links.redial]
        assert len(alice.node.links.conns) == 1  # bob, still
        nursery.cancel_scope.cancel()


async def test_the_trackers_word_has_each_made_up_member_dialled_once() -> None:
    """Attack round 29: a tracker's word of made-up members at another host's port had each
    member dial it 32 times a second, for 30 minutes after the tracker left. Now each is
    dialled once, and a still unlinked member is left to the roster comparison."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, redial_cap=0.3))
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        knocks, port = await _knock_counter(nursery)
        fakes = [Member_(f"{n:032x}", f"ghost{n}", "127.0.0.1", port, 1) for n in range(1, 41)]
        link = alice.node.links.conns[bob.node.node_id]
        for fake in fakes:
            link.send(MemberJoined(fake, joining=False))
        alice.node.say("announced")  # a barrier: bob has read them when he reads this
        await bob.wait_for(lambda e: getattr(e, "text", None) == "announced")
        with trio.fail_after(5):
            while knocks[0] < len(fakes) or bob.node.tracker_role._word_dials:
                await trio.sleep(0.01)
        await trio.sleep(3 * bob.node.config.redial_cap)  # any redial would be due by now
        assert knocks[0] == len(fakes)
        assert not [f for f in fakes if f.node_id in bob.node.links.redial]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "host",
    [
        *("127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "LOCALHOST", "localhost."),
        *("::ffff:0.0.0.0", "0:0:0:0:0:FFFF:0:0"),  # (attack round 32)
    ],
)
def test_this_computer_named_from_another_is_not_dialled_however_written(host: str) -> None:
    """An honest node names a member on its own computer by its own address (``told_on``):
    this computer's address on the word of a peer elsewhere aims this node at its own ports
    (attack round 30: ``0.0.0.0``, ``::ffff:127.0.0.1`` and ``LOCALHOST`` each reached a port
    listening on 127.0.0.1 only; round 32: ``::ffff:0.0.0.0``)."""
    started: list[object] = []
    role = tracker_role.TrackerRole.__new__(tracker_role.TrackerRole)
    role.node = types.SimpleNamespace(  # type: ignore[assignment]
        config=FAST, nursery=types.SimpleNamespace(start_soon=lambda *a: started.append(a))
    )
    role._word_dials = 0
    ghost = Member_("1" * 32, "ghost", host, 22, 1)
    for elsewhere in (True, False):
        word = types.SimpleNamespace(elsewhere=elsewhere, address="192.0.2.1", peer="mallory")
        role._dial_on_word(ghost, word, delay=0)  # type: ignore[arg-type]
        assert len(started) == (0 if elsewhere else 1)
    # (from a peer on this computer, as in a swarm here, it is dialled)


@pytest.mark.parametrize(("reached", "refused"), [("127.0.0.1", True), ("192.0.2.9", False)])
def test_a_name_dialled_on_a_word_from_elsewhere_is_judged_by_the_address_it_reaches(
    reached: str, refused: bool
) -> None:
    """A name that stands for this computer ("vm" in /etc/hosts, attack round 30) passes any
    check of the text: the address a dial reached is checked, and such a dial is not tried
    again (``NotDialled``)."""
    paced = types.SimpleNamespace(
        doorman=types.SimpleNamespace(word_dial_refused=lambda host: None)
    )
    stream = types.SimpleNamespace(socket=types.SimpleNamespace(getpeername=lambda: (reached, 22)))
    why = peerchat.links._not_to_be_reached(paced, "vm", stream, on_word=True, elsewhere=True)  # type: ignore[arg-type]
    assert (why is not None) is refused
    assert (
        peerchat.links._not_to_be_reached(paced, "vm", stream, on_word=True, elsewhere=False)
        is None
    )  # type: ignore[arg-type]


async def _tracker_and_two(nursery: trio.Nursery) -> tuple[Room, tuple[Member, ...]]:
    """alice, the tracker, with bob and dave, all linked; no roster check, so no digest
    hints at a gap a lying tracker makes."""
    room = Room(nursery, dataclasses.replace(FAST, roster_check_after=600.0))
    alice = await room.add("alice", priority=100)
    bob, dave = await room.add("bob"), await room.add("dave")
    await room.fully_connected()
    return room, (alice, bob, dave)


async def test_a_newcomer_meets_the_members_its_trackers_welcome_left_out() -> None:
    """Attack round 29: a tracker's welcome gave carol bob at a port where nothing listened,
    and it never told bob of carol; each member's ping carried a digest that hid the gap. The
    two never met (0 of 30 lines either way), and nothing said so. A newcomer asks one other
    member whom it knows, and that member has those the newcomer lacks let it in."""
    async with trio.open_nursery() as nursery:
        room, (alice, bob, dave) = await _tracker_and_two(nursery)
        links, bob_id = alice.node.links, bob.node.node_id
        listed, dead = alice.node.listed_on, free_port()

        def lying_list(conn: peerchat.connection.Connection) -> tuple[Member_, ...]:
            real = listed(conn)
            return tuple(
                dataclasses.replace(m, port=dead) if m.node_id == bob_id else m for m in real
            )

        def lying_word(member: Member_, make, *, skip: peerchat.connection.Connection) -> None:  # noqa: ANN001
            for conn in list(links.conns.values()):
                if conn is not skip and conn.member and conn.member.node_id != bob_id:
                    conn.send(make(alice.node.told_on(conn, member)))

        alice.node.listed_on, links.announce = lying_list, lying_word
        carol = await room.add("carol")
        with trio.fail_after(5):
            while bob_id not in carol.node.links.conns:
                await trio.sleep(0.01)
        carol.node.say("carol to all")
        await bob.wait_for(lambda e: getattr(e, "text", None) == "carol to all")
        assert carol.node.node_id in bob.node.links.conns  # linked, not fetched through dave
        assert carol.node.tracker_role._second_opinion is None  # dave answered
        assert dave.node.node_id in carol.node.links.conns  # (the one there was to ask)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("trick", ["nobody", "a-puppet", "sent-on-again"])
async def test_a_newcomer_the_tracker_keeps_apart_is_let_in_by_the_member_that_sent_it(
    trick: str,
) -> None:
    """Attack round 30: a tracker that welcomed carol with nobody else and told nobody of her
    kept her apart (0 of 10 lines either way): linked to the tracker alone, she had nobody to
    ask. A review: one welcoming her with a member of its own, which answered no question,
    did as well; attack round 33: so did one that sent her on once more, to itself, before
    its welcome. The member that first sent her on is asked to let her in itself."""
    async with trio.open_nursery() as nursery:
        room, (alice, bob, dave) = await _tracker_and_two(nursery)
        hidden = {bob.node.node_id, dave.node.node_id}
        told: set[str] = set()
        if trick == "sent-on-again":
            greet, once = alice.node.doorman._greet, []

            async def send_on_once(conn: peerchat.connection.Connection) -> Hello | None:
                hello = await greet(conn)
                if hello is None or not hello.join or once:
                    return hello
                once.append(hello)
                me = alice.node.me
                await conn.send_now(Redirect(me.host, me.port))
                return None

            alice.node.doorman._greet = send_on_once
        if trick == "a-puppet":
            eve = await room.add("eve")
            await room.fully_connected()
            eve.node.tracker_role._give_second_opinion = lambda conn, theirs: None
            told.add(eve.node.node_id)
        links, listed = alice.node.links, alice.node.listed_on
        alice.node.listed_on = lambda conn: tuple(
            m for m in listed(conn) if m.node_id not in hidden
        )

        def tell_the_few(member: Member_, make, *, skip: peerchat.connection.Connection) -> None:  # noqa: ANN001
            for node_id in told:
                links.conns[node_id].send(make(alice.node.told_on(links.conns[node_id], member)))

        links.announce = tell_the_few
        carol = _joining_through(room, "carol", bob)
        await nursery.start(room._run, carol)
        with trio.fail_after(5):
            while not hidden <= set(carol.node.links.conns):
                await trio.sleep(0.01)
        carol.node.say("carol to all")
        for member in (bob, dave):
            await member.wait_for(lambda e: getattr(e, "text", None) == "carol to all")
        dave.node.say("dave to carol")
        await carol.wait_for(lambda e: getattr(e, "text", None) == "dave to carol")
        assert (
            carol.node.node_id in bob.node.links.conns
            and carol.node.node_id in dave.node.links.conns
        )
        assert carol.tracker_id == alice.node.node_id  # let in, not sent off to another room
        nursery.cancel_scope.cancel()


async def test_the_member_asked_to_let_a_newcomer_in_is_checked_as_any_member() -> None:
    """A review: the member that sent a newcomer on answered its plea under a name the screen
    marks as another's key ("alice~0123ab"), and was listed so. It is refused as any member
    dialled is."""
    async with trio.open_nursery() as nursery:
        room, (alice, bob, dave) = await _tracker_and_two(nursery)
        hidden = {bob.node.node_id, dave.node.node_id}
        listed = alice.node.listed_on
        alice.node.listed_on = lambda conn: tuple(
            m for m in listed(conn) if m.node_id not in hidden
        )
        alice.node.links.announce = lambda member, make, *, skip: None  # tells nobody
        hello = bob.node.hello
        bob.node.hello = lambda *a, **k: dataclasses.replace(
            hello(*a, **k), username="alice~0123ab"
        )
        carol = _joining_through(room, "carol", bob)
        pleaded = trio.Event()
        ask_in = carol.node.links.ask_in

        async def plead(host: str, port: int, node_id: str) -> None:
            await ask_in(host, port, node_id)
            pleaded.set()

        carol.node.links.ask_in = plead  # type: ignore[method-assign]
        await nursery.start(room._run, carol)
        with trio.fail_after(5):
            await pleaded.wait()
        assert bob.node.node_id not in carol.node.links.conns
        assert not [
            e for e in carol.events if "~" in getattr(getattr(e, "member", None), "username", "")
        ]
        nursery.cancel_scope.cancel()


def _joining_through(room: Room, name: str, member: Member) -> Member:
    """A newcomer that joins at ``member``'s address (and is sent on to the tracker)."""
    settings = Settings(name, tracker_port=member.node.me.port)
    newcomer = Member(Node(settings, lambda e: None, room.config))
    newcomer.node.emit = newcomer.record
    return newcomer


async def test_a_members_question_is_not_passed_on_to_the_tracker_as_news() -> None:
    """Attack round 32: a second-opinion question naming members the one asked lacked went on
    to its tracker as news, spending that member's pace there: its own news was then dropped
    (0 of 3). News unasked is still passed on."""
    async with trio.open_nursery() as nursery:
        _, (alice, bob, dave) = await _tracker_and_two(nursery)
        to_alice, from_dave = (bob.node.links.conns[m.node.node_id] for m in (alice, dave))
        sent: list[object] = []
        send = to_alice.send
        to_alice.send = lambda message: (sent.append(message), send(message))[1]  # type: ignore[method-assign]
        ghost = Member_("1" * 32, "ghost", "192.0.2.9", 9000, 1)
        answers: list[object] = []
        answer = from_dave.send
        from_dave.send = lambda message: (answers.append(message), answer(message))[1]  # type: ignore[method-assign]
        bob.node.tracker_role.on_roster(from_dave, Roster((ghost,), ask=True))
        assert not [m for m in sent if isinstance(m, Roster)]
        assert [type(m) for m in answers] == [Roster]  # the question is answered
        bob.node.tracker_role.on_roster(from_dave, Roster((ghost,)))
        assert [m.members[0].node_id for m in sent if isinstance(m, Roster)] == [ghost.node_id]
        nursery.cancel_scope.cancel()


def test_a_welcome_has_few_dialled_at_one_address_and_this_computer_not_from_afar() -> None:
    """Attack round 30: a welcome listing made-up members at one port had a newcomer dial it
    280 times in 10 s, and members at its own loopback address 80 times."""
    at = [Member_(f"{n:032x}", f"ghost{n}", "192.0.2.9", 9000, 1) for n in range(1, 5)]
    here = Member_("e" * 32, "local", "127.0.0.1", 9001, 1)
    real = Member_("f" * 32, "bob", "192.0.2.10", 9000, 1)
    me = Member_("a" * 32, "me", "192.0.2.11", 9000, 1)
    welcome = [*at, here, real, me]
    # (two at one address: a process, and one restarted there under another key)
    assert entrance._to_dial(welcome, (me.node_id,), elsewhere=True) == [*at[:2], real]
    assert entrance._to_dial(welcome, (me.node_id,), elsewhere=False) == [*at[:2], here, real]
    # Attack round 32: one address written 5,000 ways was dialled 5,516 times in 43 s.
    spelled = ("::ffff:192.0.2.9", "0:0:0:0:0:FFFF:c000:209", "::ffff:c000:0209")
    ways = [dataclasses.replace(at[0], node_id=f"{n:032x}", host=h) for n, h in enumerate(spelled)]
    assert entrance._to_dial([*at[:1], *ways], (), elsewhere=False) == [at[0], ways[0]]
    # Many ports of one host: a few from afar; all at the welcomer's own computer, or when
    # it is this computer (a swarm here).
    ports = [dataclasses.replace(real, node_id=f"{n:032x}", port=n) for n in range(1000, 1040)]
    assert len(entrance._to_dial(ports, (), elsewhere=True)) == entrance.PER_HOST_FROM_AFAR
    assert len(entrance._to_dial(ports, (), elsewhere=True, welcomer="192.0.2.10")) == len(ports)
    assert len(entrance._to_dial(ports, (), elsewhere=False)) == len(ports)
    # Names may stand for any address, one victim's too: together they are one host; and an
    # address in many zones is one address.
    named = [dataclasses.replace(p, host=f"n{p.port}.example") for p in ports]
    assert len(entrance._to_dial(named, (), elsewhere=True)) == entrance.PER_HOST_FROM_AFAR
    zoned = [dataclasses.replace(p, host=f"fe80::9%{p.port}", port=9000) for p in ports]
    assert len(entrance._to_dial(zoned, (), elsewhere=False)) == entrance.PER_LISTENING_ADDRESS


async def test_dials_waiting_for_an_addresss_pace_are_few_and_leave_room_for_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Attack round 31: ten keys' rosters of made-up members at one address held every dial
    slot waiting for its pace, and an honest merge's news was dialled 0 times of 5. Attack
    round 32: one key's made-up members at an address held all of its places, and honest
    members there, on another's word, were dialled 0 times of 4."""
    role = tracker_role.TrackerRole.__new__(tracker_role.TrackerRole)
    role._waiting = collections.Counter()
    waited: dict[str, list[bool]] = collections.defaultdict(list)

    async def wait(whose: str, address: str) -> None:
        waited[whose].append(await role._wait_for_pace(whose, address))

    async with trio.open_nursery() as nursery:
        for _ in range(tracker_role.WAITING_PER_ADDRESS + 1):
            nursery.start_soon(wait, "mallory", "192.0.2.9")
        await trio.testing.wait_all_tasks_blocked()
        assert waited["mallory"] == [False]  # the one past the few: not dialled
        nursery.start_soon(wait, "bob", "192.0.2.9")  # another's word there has a place
        for n in range(tracker_role.WAITING_PER_WORD):  # one word, many addresses: bounded
            nursery.start_soon(wait, "mallory", f"192.0.2.{10 + n}")
        await trio.testing.wait_all_tasks_blocked()
        assert waited["bob"] == []  # waiting, not refused
        per_word = tracker_role.WAITING_PER_WORD - tracker_role.WAITING_PER_ADDRESS
        assert waited["mallory"].count(False) == 1 + per_word
        for n in range(tracker_role.WAITING_MOST):  # many words: bounded in all too
            nursery.start_soon(wait, f"key{n // 8}", f"192.0.3.{n}")
    assert sum(w.count(True) for w in waited.values()) == tracker_role.WAITING_MOST
    assert waited["bob"] == [True] and not role._waiting


async def test_dials_on_several_words_at_one_address_take_turns_at_its_pace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Attack round 33: one key's made-up members at an address, waiting for its pace, took
    each of its turns as it came, and an honest member's news there was dialled 0 of 4."""
    dialled: list[str] = []
    last = [-math.inf]

    def one_a_second(host: str) -> str | None:
        if trio.current_time() - last[0] < 1:
            return "the pace"
        last[0] = trio.current_time()
        return None

    async def dial(member: Member_, **_: object) -> bool:
        dialled.append(member.username)
        return True

    role = tracker_role.TrackerRole.__new__(tracker_role.TrackerRole)
    role.node = types.SimpleNamespace(  # type: ignore[assignment]
        links=types.SimpleNamespace(conns={}, dial_quietly=dial),
        doorman=types.SimpleNamespace(word_dial_refused=one_a_second),
    )
    role._waiting, role._turns, role._word_dials = collections.Counter(), {}, 0

    def word(whose: str, name: str, port: int) -> None:
        role._word_dials += 1
        member = Member_(f"{port:032x}", name, "192.0.2.9", port, 1)
        nursery.start_soon(role._dial_if_silent, member, whose, 0, False, False)

    async with trio.open_nursery() as nursery:
        for n in range(tracker_role.WAITING_PER_ADDRESS):
            word("mallory", f"ghost{n}", 9000 + n)
        await trio.sleep(0.5)
        word("carol", "bob", 8000)
    assert dialled.index("bob") == 1  # the next turn, not after every ghost
    assert len(dialled) == tracker_role.WAITING_PER_ADDRESS + 1 and role._word_dials == 0


async def test_a_name_for_this_computer_is_known_before_it_is_dialled() -> None:
    """Attack round 31: "vm" of /etc/hosts, named by a peer elsewhere, was connected to before
    the address reached was found to be this computer's (and closed)."""
    assert await peerchat.links._names_this_computer("localhost", 22)


async def _knock_counter(nursery: trio.Nursery) -> tuple[list[int], int]:
    """A port that counts the connections made to it (and closes each): ``([count], port)``."""
    knocks = [0]

    async def count(stream: trio.SocketStream) -> None:
        knocks[0] += 1
        await stream.aclose()

    (listener,) = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), count, 0)
    return knocks, listener.socket.getsockname()[1]


async def _roster_read(alice: Member, bob: Member, fakes: tuple[Member_, ...], n: int) -> None:
    """Bob's link sends alice a roster of ``fakes``; back once the dials it set going ended."""
    bob.node.links.conns[alice.node.node_id].send(Roster(fakes))
    bob.node.say(f"roster {n}")  # a barrier: alice has read it when she reads this
    await alice.wait_for(lambda e: getattr(e, "text", None) == f"roster {n}")
    with trio.fail_after(5):
        while alice.node.tracker_role._word_dials:
            await trio.sleep(0.01)


@slow
@pytest.mark.parametrize("by", ["member", "address"])
async def test_a_members_flood_is_read_at_its_pace_and_others_are_not_kept_waiting(
    monkeypatch: pytest.MonkeyPatch, by: str
) -> None:
    """Attack round 15: one member's flood of 5 MB/s of lines put the others' 2-10 s late at
    the node it flooded. Past ``MEMBER_AT_ONCE`` a member's lines are read no faster than
    ``MEMBER_PER_SECOND``, and those of all the members at one address (round 16: 32 keys)
    past ``ADDRESS_AT_ONCE`` no faster than ``ADDRESS_PER_SECOND``."""
    if by == "member":
        monkeypatch.setattr(read_pace, "MEMBER_AT_ONCE", 64 << 10)
        monkeypatch.setattr(read_pace, "MEMBER_PER_SECOND", 512 << 10)
    else:
        # Every link counted at one address (loopback is not; nor are its peers elsewhere).
        monkeypatch.setattr(peerchat.connection, "_counted_address", lambda stream: "127.0.0.1")
        monkeypatch.setattr(read_pace, "ADDRESS_AT_ONCE", 64 << 10)
        monkeypatch.setattr(read_pace, "ADDRESS_PER_SECOND", 512 << 10)
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        start = trio.current_time()
        for n in range(64):  # 1 MiB of lines
            bob.node.say(f"{n:02} " + "x" * (16 << 10))
        carol.node.say("while bob floods")
        await alice.wait_for(lambda e: getattr(e, "text", "").startswith("63 "), 10)
        took = trio.current_time() - start
        assert took >= (1 - 1 / 16) * 2 - 0.2  # all but the first 64 KiB at 512 KiB/s
        shown = [e.text for e in alice.events if isinstance(e, events.MessageReceived)]
        assert shown.index("while bob floods") < len(shown) - 1  # not behind the whole flood
        nursery.cancel_scope.cancel()


async def test_a_link_held_to_its_pace_is_not_taken_for_silent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CI run of the test above: the tracker held a flooding member's link to its pace past
    the heartbeat timeout, took the pongs it had not read for silence and dropped members who
    beat on time, again at each merge. The time a link is held is not the peer's silence."""
    monkeypatch.setattr(read_pace, "MEMBER_AT_ONCE", 4 << 10)
    monkeypatch.setattr(read_pace, "MEMBER_PER_SECOND", 8 << 10)
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob = await room.add("bob", priority=50)
        await room.fully_connected()
        bob.node.say("x" * (16 << 10))  # held 1.5 s: twice the patient heartbeat timeout
        await alice.wait_for(lambda e: getattr(e, "text", "").startswith("xxx"), 10)
        bob.node.say("after the hold")
        await alice.wait_for(lambda e: getattr(e, "text", "") == "after the hold", 10)
        assert not [e for e in alice.events + bob.events if isinstance(e, events.PeerLeft)]
        nursery.cancel_scope.cancel()


async def test_a_hello_naming_a_lost_members_address_does_not_end_its_redialling() -> None:
    """Attack round 15: a member's hello named alice's address, and when alice was lost in a
    blip, its next link had every node give her up, and a stranger took her name. Only a
    node reached at an address takes the place of one lost there."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        mallory = Identity.generate()

        def hello(join: bool) -> Hello:
            return Hello(
                PROTOCOL_VERSION, mallory.node_id, "mallory", "127.0.0.1", bob.node.me.port, 0,
                True, 0, join, "" if join else alice.node.room, "" if join else alice.node.node_id,
            )  # fmt: skip

        link = await _introduce(alice.node.me.port, mallory, hello(join=True))
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerJoined) and e.member.node_id == mallory.node_id
        )
        bob.crash()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == bob.node.node_id
        )
        await link.aclose()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == mallory.node_id
        )
        earlier = {id(e) for e in alice.events}
        link = await _introduce(alice.node.me.port, mallory, hello(join=False))
        await alice.wait_for(
            lambda e: (
                isinstance(e, events.PeerJoined)
                and e.member.node_id == mallory.node_id
                and id(e) not in earlier
            )
        )
        assert bob.node.node_id in alice.node.links.redial  # still awaited
        await link.aclose()
        nursery.cancel_scope.cancel()


async def test_another_key_at_a_lost_members_address_ends_its_redialling() -> None:
    """A new process listens where a lost member did: the redial that reaches it gives the
    lost one up (a hello naming the address no longer does, above)."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        port, bob_id = bob.node.me.port, bob.node.node_id
        bob.crash()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == bob_id
        )
        settings = Settings("carol", port=port, tracker_port=room.tracker_port)
        carol = Member(Node(settings, lambda e: None, room.config))
        carol.node.emit = carol.record
        await nursery.start(room._run, carol)
        with trio.fail_after(5):
            while bob_id in alice.node.links.redial:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_a_members_roster_pace_outlives_its_link() -> None:
    """Attack round 13: the pace of a member's rosters was kept by link, so a member that
    linked again had its next roster dialled at once. Now it is kept by member."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        knocks, port = await _knock_counter(nursery)
        fakes = tuple(Member_(f"{n:032x}", f"ghost{n}", "127.0.0.1", port, 1) for n in range(1, 11))
        for n in range(tracker_role.ROSTER_NEWS_BURST):
            await _roster_read(alice, bob, fakes, n)
        assert knocks == [tracker_role.ROSTER_NEWS_BURST * len(fakes)]
        await cut(bob, alice)
        await room.fully_connected()  # linked again
        await _roster_read(alice, bob, fakes, 99)
        assert knocks == [tracker_role.ROSTER_NEWS_BURST * len(fakes)]  # too soon, still
        nursery.cancel_scope.cancel()


async def test_a_members_roster_brings_in_no_more_than_its_address_may_join(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack round 13: members at one address sent rosters of made-up members at that address,
    and the tracker dialled every one: 2,283 joins in 14 s, where knocking lets in about 46.
    Now a member dialled on a roster's word counts against its address's join pace: the rest
    wait their turn (a review: dropped, a merge of many members behind one address was slow)."""
    monkeypatch.setattr(tracker_role, "JOIN_EVERY", 0.2)  # the pace's interval, shorter here
    monkeypatch.setattr(peerchat.doorman, "JOIN_EVERY", 0.2)
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        knocks, port = await _knock_counter(nursery)
        monkeypatch.setattr(peerchat.doorman, "is_loopback", lambda host: False)  # paced, here
        fakes = tuple(Member_(f"{n:032x}", f"ghost{n}", "127.0.0.1", port, 1) for n in range(1, 41))
        link = bob.node.links.conns[alice.node.node_id]
        # (Timed from the roster, before the pace's bucket, full, is drawn on: timed from
        # when the test saw the burst, a loaded machine saw it late, and the rest came sooner.)
        sent_at = trio.current_time()
        link.send(Roster(fakes))
        with trio.fail_after(5):
            while knocks[0] < JOINS_AT_ONCE:
                await trio.sleep(0.01)
        with trio.fail_after(10):
            while knocks[0] < len(fakes):
                await trio.sleep(0.01)
        paced = (len(fakes) - JOINS_AT_ONCE) * 0.2  # one a pace's interval, past the burst
        assert trio.current_time() - sent_at >= 0.95 * paced
        nursery.cancel_scope.cancel()


async def test_a_tracker_that_says_it_replaced_a_live_member_drops_nobody() -> None:
    """A claim names the tracker it replaces, so that members let a hung one go; a tracker
    gone bad named a live member there again and again, and each time the others cut their
    links to it (an attacker's run). Now the link is probed and stays while it answers."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob, carol = await room.add("bob", priority=50), await room.add("carol", priority=40)
        await room.fully_connected()
        link = carol.node.links.conns[bob.node.node_id]
        claim = Coordinator(alice.node.node_id, 100, replaces=bob.node.node_id)
        for _ in range(5):
            alice.node.links.conns[carol.node.node_id].send(claim)
            await trio.sleep(FAST.probe_timeout / 2)
        await trio.sleep(FAST.probe_timeout)
        assert carol.node.links.conns.get(bob.node.node_id) is link
        assert not [e for e in carol.events if isinstance(e, events.PeerLeft)]
        nursery.cancel_scope.cancel()


def close_the_door(tracker: Member, *, retry: bool) -> list[str]:
    """Make ``tracker`` a member gone bad: it refuses every node that was not in the room
    already, joins and links alike (``retry``: as busy, or for good), and dials none of them.
    Returns who knocked."""
    node = tracker.node
    greet, dial = node.doorman._greet, node.links._dial
    inside = {m.node_id for m in node.members}
    knocked: list[str] = []

    async def refuse_newcomers(conn):
        hello = await greet(conn)
        if hello is None or hello.node_id in inside:
            return hello
        knocked.append(hello.username)
        await conn.send_now(Refuse("the room is closed", retry=retry))
        return None

    async def dial_insiders(host, port, member, *, task_status):
        if member is None or member.node_id not in inside:
            raise OSError("this tracker dials nobody new")
        await dial(host, port, member, task_status=task_status)

    node.doorman._greet, node.links._dial = refuse_newcomers, dial_insiders
    return knocked


async def newcomer(room: Room, name: str, *also: Member, **settings) -> Member:
    """A node that joins through the tracker address, then through ``also``'s addresses."""
    more = tuple(("127.0.0.1", m.node.me.port) for m in also)
    config = Settings(name, tracker_port=room.tracker_port, more_trackers=more, **settings)
    member = Member(Node(config, lambda e: None, room.config))
    member.node.emit = member.record
    await room.nursery.start(room._run, member)
    room.members.append(member)
    return member


@pytest.mark.parametrize("retry", [True, pytest.param(False, marks=SLOW)], ids=["busy", "for-good"])
async def test_a_tracker_that_refuses_newcomers_cannot_close_the_room(
    retry: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracker turns every newcomer away: one given a member's address as well is sent
    on to the tracker, refused, and then let in by that member itself, which names the room's
    tracker; the others let it link, and it chats with all but the tracker."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob, carol = await room.add("bob", priority=50), await room.add("carol", priority=40)
        await room.fully_connected()
        knocked = close_the_door(alice, retry=retry)
        welcomes: list[Welcome] = []
        enter = Entrance._enter

        async def record(entrance: Entrance, conn, hello, welcome: Welcome) -> None:
            welcomes.append(welcome)
            await enter(entrance, conn, hello, welcome)

        monkeypatch.setattr(Entrance, "_enter", record)
        dave = await newcomer(room, "dave", bob, priority=10)
        assert knocked.count("dave") >= 2  # at the tracker's address, then sent on by bob
        assert [w.tracker for w in welcomes] == [alice.node.node_id]
        dave.node.say("let in after all")
        for member in (bob, carol):
            await member.wait_for(lambda e: getattr(e, "text", None) == "let in after all")
        carol.node.say("welcome, dave")
        await dave.wait_for(lambda e: getattr(e, "text", None) == "welcome, dave")
        assert dave.node.node_id not in alice.node.links.conns
        assert bob.tracker_id == carol.tracker_id == alice.node.node_id  # nobody deposed

        # dave cannot reach the tracker, and asks bob and carol for an election: they answer
        # and never claim (they follow alice), so after two waits for a claim he takes the
        # role for himself, for whoever cannot reach alice either; they keep her.
        bully, asked = dave.node.bully, []
        start = bully._start
        bully._start = lambda now: (asked.append(now), start(now))[1]
        await trio.sleep(4)
        assert 1 <= len(asked) <= 4, asked
        assert dave.tracker_id == dave.node.node_id
        assert bob.tracker_id == carol.tracker_id == alice.node.node_id
        nursery.cancel_scope.cancel()


async def test_a_welcome_of_members_whose_dials_hang_still_lets_the_newcomer_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack round 19: a welcome listing 100 members at an address that drops every SYN ran
    out the join's time while their dials hung, and the newcomer gave up ("it does not
    answer"). In once welcomed: ready after two connect timeouts at most, the rest dialled on."""
    config = dataclasses.replace(FAST, join_timeout=1.0, connect_timeout=0.8, admit_timeout=0.5)
    dial = Links.dial_or_keep_trying

    async def hang_for_ghosts(links: Links, member: Member_, *, elsewhere: bool) -> None:
        if member.username.startswith("ghost"):
            await trio.sleep_forever()
        await dial(links, member, elsewhere=elsewhere)

    monkeypatch.setattr(Links, "dial_or_keep_trying", hang_for_ghosts)
    async with trio.open_nursery() as nursery:
        room = Room(nursery, config)
        alice = await room.add("alice")
        for n in range(3):  # listed in the welcome; their dials never end
            alice.node.add_member(Member_(f"{n:032x}", f"ghost{n}", "10.9.9.9", 9000 + n, 0))
        start = trio.current_time()
        dave = await room.add("dave")
        ready = await dave.wait_for(lambda e: isinstance(e, events.Ready), 10)
        assert ready.role == "peer" and trio.current_time() - start < 2 * 0.8 + 1.0
        assert dave.tracker_id == alice.node.node_id
        nursery.cancel_scope.cancel()


async def test_a_member_that_welcomes_a_newcomer_cannot_mark_the_others_there() -> None:
    """Attack round 18: a member answering a join itself marked every real member, and the
    newcomer read each as "another key had the name first", and could /msg none of them.
    Only the tracker's welcome marks."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob, carol = await room.add("bob", priority=50), await room.add("carol", priority=40)
        await room.fully_connected()
        close_the_door(alice, retry=True)  # dave is let in by bob
        bob.node.talk.shown_marked = lambda member: True  # type: ignore[method-assign]
        dave = await newcomer(room, "dave", bob, priority=10)
        await dave.wait_for(lambda e: isinstance(e, events.InRoom))
        assert dave.node.talk.marks() == {}
        assert dave.node.talk.find("carol").node_id == carol.node.node_id
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("refusal", [entrance._Refused, StartupError])
async def test_a_join_refused_for_good_ends_with_the_refusal_itself(
    refusal: type[StartupError], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: raised inside the round's dials, the refusal came out of the join in an
    exception group, which the rejoin after a freeze does not catch: the node would have
    ended, not tried again later."""
    async with trio.open_nursery() as nursery:
        node = Node(Settings("dave", tracker_port=free_port()), lambda e: None, FAST)
        node.nursery = nursery

        async def refused(*args: object, **kwargs: object) -> None:
            raise refusal("the name 'dave' is taken in this room")

        monkeypatch.setattr(node.entrance, "_join_at", refused)
        with pytest.raises(StartupError, match="is taken"):
            await node.entrance.enter(3)
        nursery.cancel_scope.cancel()


@slow
async def test_a_join_through_a_member_says_which_address_it_waits_on() -> None:
    """The tracker hangs: "connecting to ..." names the tracker's address while the join
    waits on it, not only the member's that sent it there (from a user trial)."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, connecting_notice=0.2, hello_timeout=1.0))
        alice = await room.add("alice", priority=100)
        bob = await room.add("bob", priority=50)
        await room.fully_connected()
        greet = alice.node.doorman._greet

        async def hang_on_newcomers(conn):
            hello = await greet(conn)
            if hello is not None and hello.node_id != bob.node.node_id:
                await trio.sleep_forever()
            return hello

        alice.node.doorman._greet = hang_on_newcomers
        dave = await newcomer(room, "dave", bob, priority=10)
        tried = [e.addr for e in dave.events if isinstance(e, events.Connecting)]
        assert f"127.0.0.1:{alice.node.me.port}" in tried, tried
        assert len(set(tried)) == len(tried), tried  # each once (bob lets dave in at last)
        nursery.cancel_scope.cancel()


async def test_a_node_let_in_whose_name_two_members_refuse_for_good_leaves_the_room() -> None:
    """A user trial: refused by the tracker, which knew the name under another key, a node was
    let in by a member that joined later and did not; every other member refused its links,
    over and over (a join-and-drop loop on every screen), and the room split in two."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob, erin = await room.add("bob", priority=50), await room.add("erin", priority=45)
        dave = await room.add("dave", priority=40)  # came later: never saw the other carol
        await room.fully_connected()
        close_the_door(alice, retry=False)  # as the tracker refused this carol's name
        more = (("127.0.0.1", dave.node.me.port),)
        settings = Settings("carol", tracker_port=room.tracker_port, more_trackers=more)
        carol = Member(Node(settings, lambda e: None, room.config))
        carol.node.emit = carol.record
        for knew in (bob, erin):  # her key went by Carol2 here, and another key by carol since
            knew.node.store.name_owner("Carol2", carol.node.node_id, 0.0)
            knew.node.store.name_owner("carol", "f" * 32, 1.0)
        with pytest.raises(StartupError, match="the name 'carol' is taken"), trio.fail_after(10):
            await carol.node.run()
        nursery.cancel_scope.cancel()


async def test_a_join_that_gives_up_says_how_often_and_how_long_it_tried() -> None:
    """A user trial read "no answer to the handshake within 3 s" of a join that took 9."""
    silent = await trio.open_tcp_listeners(0, host="127.0.0.1")  # accepts, never answers
    settings = Settings("newbie", tracker_port=silent[0].socket.getsockname()[1])
    config = dataclasses.replace(FAST, hello_timeout=0.2, join_timeout=0.7)
    node = Node(settings, lambda e: None, config)
    with pytest.RaisesGroup(StartupError, flatten_subgroups=True) as raised, trio.fail_after(5):
        await node.run()
    said = str(raised.value.exceptions[0])
    assert "no answer to the handshake within 0.2 s" in said, said
    assert re.search(r"; [234] tries in 1 s$", said), said
    await silent[0].aclose()


async def test_name_refusals_turn_out_only_a_node_a_member_let_in() -> None:
    """Two parts of a room that meet with a name on each side refuse each other's links by
    name: they are told of the clash, and neither is turned out."""
    node = Node(Settings("sam"), lambda e: None, FAST)
    for by in ("127.0.0.1:1", "127.0.0.1:2"):
        node.name_refused(by, "the name 'sam' is taken in this room (or one like it)")
    assert node.refused is None and not node.leaving
    node.entrance.let_in_by_member = True
    for m in range(3):  # the one that let it in, and two others
        node.members.add(Member_(f"m{m}", f"m{m}", "127.0.0.1", 10 + m, 10 + m, True))
    node.name_refused("127.0.0.1:1", "the name 'sam' is taken in this room (or one like it)")
    assert node.refused is None  # one member's word is not the room's
    node.name_refused("127.0.0.1:2", "the name 'sam' is taken in this room (or one like it)")
    assert node.refused is not None and node.leaving
    # With only the tracker besides the member that let it in, the tracker's word is enough.
    alone = Node(Settings("sam"), lambda e: None, FAST)
    alone.entrance.let_in_by_member = True
    for m in range(2):
        alone.members.add(Member_(f"m{m}", f"m{m}", "127.0.0.1", 10 + m, 10 + m, True))
    alone.name_refused("127.0.0.1:1", "the name 'sam' is taken in this room (or one like it)")
    assert alone.refused is not None


async def test_a_member_lets_in_no_name_it_knows_under_another_key() -> None:
    """A member asked to let in a node the tracker turned away knows only its own links: a
    name it has seen under another key is refused for good, although its owner is away."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob = await room.add("bob", priority=50)
        eve = await room.add("eve", priority=40)
        await room.fully_connected()
        eve.node.quit()
        await bob.wait_for(lambda e: isinstance(e, events.PeerLeft) and e.member.username == "eve")
        close_the_door(alice, retry=True)
        with pytest.raises(ExceptionGroup) as refused, trio.fail_after(5):
            await newcomer(room, "eve", bob, priority=10)
        assert refused.group_contains(StartupError, match="'eve' is taken")
        nursery.cancel_scope.cancel()


async def test_a_wrong_secret_says_where_this_rooms_secret_is_set() -> None:
    """A room opened with ``/join`` takes its secret from a file, not from the variables the
    first room reads: the line says which (a user trial was told to set the variables)."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        await newcomer(room, "alice", psk=room_key("the room's secret"))  # founds it
        where = "the first line of /home/eve/.config/peerchat/secrets/dev"
        with pytest.raises(ExceptionGroup) as refused, trio.fail_after(10):
            await newcomer(room, "eve", psk=room_key("not the secret"), secret_from=where)
        assert refused.group_contains(
            StartupError, match=f"another one than this node's .from {where}"
        )
        # One with none is told so (a user trial's was told of "another" secret).
        with pytest.raises(ExceptionGroup) as refused, trio.fail_after(10):
            await newcomer(room, "carol", secret_from=where)
        assert refused.group_contains(StartupError, match=f"given none: put it in {where}")
        nursery.cancel_scope.cancel()


async def test_a_node_listening_everywhere_is_shown_to_its_user_at_an_address_of_its_links() -> (
    None
):
    """A user trial (``/join`` at another computer's address listens on every interface) read
    "you are bob at 0.0.0.0:43055" and "bob 0.0.0.0:41597 (you)"."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        await room.add("alice")
        bob = await newcomer(room, "bob", host="0.0.0.0")
        ready = next(e for e in bob.events if isinstance(e, events.Ready))
        assert ready.me.host == "127.0.0.1", ready
        bob.node.who()
        who = await bob.wait_for(lambda e: isinstance(e, events.Who))
        assert [m.host for m in who.members if m.node_id == bob.node.node_id] == ["127.0.0.1"]
        nursery.cancel_scope.cancel()


async def test_a_name_refused_for_good_ends_the_join_without_waiting_on_remembered_members(
    tmp_path: Path,
) -> None:
    """One tracker's final word is not the room's, so the addresses given are asked too; the
    members remembered from earlier runs are not, or each that hangs would cost a timeout.
    (A hanging member's timeout is long here: with the usual 2 s the join, refused in time,
    failed the test twice on a loaded machine.)"""
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, hello_timeout=10.0))
        await room.add("alice")
        await room.add("bob")
        hanging = [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in range(3)]
        data = DataDir(tmp_path / "bob2")
        trackers = (("127.0.0.1", room.tracker_port),)
        data.remember(trackers, "", [("127.0.0.1", h[0].socket.getsockname()[1]) for h in hanging])
        settings = Settings("bob", tracker_port=room.tracker_port)
        late = Node(settings, lambda e: None, room.config, data)
        start = trio.current_time()
        with pytest.raises(ExceptionGroup) as refused:
            await late.run()
        assert refused.group_contains(StartupError, match="'bob' is taken")
        assert trio.current_time() - start < room.config.hello_timeout
        nursery.cancel_scope.cancel()


async def test_a_members_word_lets_a_newcomer_in_but_sends_nobody_dialling() -> None:
    """A member's announcement of a newcomer (a join it let in itself) opens the door to it;
    only the tracker's has members dial, no member's can push the tracker's out, and the
    tracker's word that the newcomer left does not shut it again."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(n) for n in ("alice", "bob", "carol")]
        await room.fully_connected()
        links = carol.node.links
        dialled: list[str] = []

        async def record(member: Member_, *, on_word: bool, elsewhere: bool) -> bool:
            dialled.append(member.username)
            return False

        links.dial_quietly = record
        stranger = [
            Member_(Identity.generate().node_id, name, "127.0.0.1", free_port(), 1)
            for name in ("ghost", "far", "vouched", "merged", "late")
        ]
        ghost, far, vouched, merged, late = stranger
        to_carol = bob.node.links.conns[carol.node.node_id]
        from_tracker = alice.node.links.conns[carol.node.node_id]
        from_tracker.send(MemberJoined(vouched, joining=True))
        to_carol.send(MemberJoined(ghost, joining=True))
        to_carol.send(MemberJoined(far, joining=False))
        cap = carol.node.config.max_pending
        for _ in range(cap + 10):
            fake = Member_(Identity.generate().node_id, "fake", "127.0.0.1", 9, 1)
            to_carol.send(MemberJoined(fake, joining=True))
        to_carol.send(MemberJoined(late, joining=True))
        from_tracker.send(MemberLeft(late.node_id, "a lie"))  # undoes no member's letting in
        from_tracker.send(MemberJoined(merged, joining=False))  # the tracker's word: dialled
        with trio.fail_after(5):
            while "merged" not in dialled:
                await trio.sleep(0.01)
        assert dialled == ["merged"]
        assert links.is_vouched(vouched.node_id) and not links.is_vouched(far.node_id)
        assert links.is_vouched(late.node_id)
        assert not links.is_vouched(ghost.node_id)  # pushed out by the flood, as the oldest
        assert len(links._introduced) <= cap and len(links._unlinked) <= cap + 2
        nursery.cancel_scope.cancel()


async def test_tracker_crash_highest_priority_takes_over_and_chat_goes_on() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        tracker = await room.add("alice", priority=100)
        low = await room.add("bob", priority=10)
        high = await room.add("carol", priority=50)
        mid = await room.add("dave", priority=30)
        await room.fully_connected()
        tracker.crash()
        low.node.say("during failover")
        await room.all_agree(high)
        for m in (high, mid):
            await m.wait_for(lambda e: getattr(e, "text", None) == "during failover")
        left = await low.wait_for(lambda e: isinstance(e, events.PeerLeft))
        assert left.member.username == "alice"
        # The winner holds the shared tracker address now: a newcomer still gets in through it.
        late = await room.add("erin", priority=1000)
        assert late.tracker_id == high.node.node_id
        await room.fully_connected()
        late.node.say("hi all")
        for m in (low, high, mid):
            await m.wait_for(lambda e: getattr(e, "text", None) == "hi all")
        # A late joiner with a higher priority does not depose the live tracker.
        assert all(m.tracker_id == high.node.node_id for m in room.alive())
        nursery.cancel_scope.cancel()


async def test_a_tracker_that_never_takes_the_home_address_leaves_it_to_a_member() -> None:
    """An attack: a member claimed the tracker role and never bound the home address; the
    old tracker let it go, and every newcomer founded a second room there, cut off from the
    first. A member on the home's host takes it once it stays free, sends newcomers on to the
    tracker, and lets go when the tracker knocks on it to take it."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, knock_interval=0.3))
        alice = await room.add("alice", priority=100)
        bob = await room.add("bob", priority=10)
        carol = await room.add("carol", priority=50)
        await room.fully_connected()
        take_home = carol.node.hold_home
        carol.node.hold_home = lambda **kwargs: None  # takes the role, never the address
        alice.crash()
        await room.all_agree(carol)
        dave = await room.add("dave", priority=1)
        assert dave.tracker_id == carol.node.node_id  # in the room, not founding another
        await room.fully_connected()
        assert bob.node.home_address.serving
        carol.node.hold_home = take_home
        take_home()  # the address is taken: carol knocks on it, and bob lets go
        with trio.fail_after(5):
            while not carol.node.home_address.serving:
                await trio.sleep(0.01)
        assert not bob.node.home_address.serving
        erin = await room.add("erin", priority=2)
        assert erin.tracker_id == carol.node.node_id
        nursery.cancel_scope.cancel()


async def test_a_key_that_took_the_name_of_one_who_quit_is_let_back_after_a_rejoin() -> None:
    """A user trial, 6 of 6: bob quit and came back with a new key; alice froze and rejoined,
    and then refused him as "back under another's name" (the old key's departure under
    "bob" still counted against the new one), and the two never saw each other again."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        await room.add("host", priority=100)
        alice, bob = await room.add("alice"), await room.add("bob")
        await room.fully_connected()
        bob.node.quit()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.username == "bob"
        )
        room.members.remove(bob)
        again = await room.add("bob")  # another key
        await alice.wait_for(lambda e: isinstance(e, events.NewKey))
        await room.fully_connected()
        alice.node.nursery.start_soon(alice.node.entrance._rejoin)  # as after a freeze
        await alice.wait_for(lambda e: isinstance(e, events.PeerLeft) and e.member is not None)
        assert not alice.node.talk.back_under_anothers_name(again.node.node_id, "bob")
        await room.fully_connected()
        alice.node.say("back from the freezer")
        await again.wait_for(lambda e: getattr(e, "text", None) == "back from the freezer")
        nursery.cancel_scope.cancel()


async def test_a_rejoin_after_a_freeze_tells_no_leave_and_join_of_those_still_here() -> None:
    """Trial 46: back from a freeze of 52 s, five "left (lost while this node was
    unresponsive)" and then five "joined", all in the same second, of members still there."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice")
        for name in ("bob", "carol", "dave", "erin", "fred"):
            await room.add(name)
        await room.fully_connected()
        mark = len(alice.events)
        late = room.members[1].node.node_id  # linked after the welcome: it dials alice in
        entrance = alice.node.entrance
        enter = entrance._enter

        async def welcomed_without_one(
            conn: peerchat.connection.Connection, hello: Hello, welcome: Welcome
        ) -> None:
            members = [m for m in welcome.members if m.node_id != late]
            await enter(conn, hello, dataclasses.replace(welcome, members=members))

        entrance._enter = welcomed_without_one  # type: ignore[method-assign]
        frozen_at = time.time()
        await entrance._rejoin()  # as after a freeze
        await room.fully_connected()
        await trio.sleep(0.5)  # (any late join would be told by now)
        told = [
            e for e in alice.events[mark:] if isinstance(e, events.PeerLeft | events.PeerJoined)
        ]
        assert told == [], [(type(e).__name__, e.member.username) for e in told]
        # Each one's stay under its name, as seen here, began anew (review 74: a stay of a
        # second before a freeze went on through it, to be settled as one of minutes)
        stays = alice.node.store._holding
        assert late in stays and all(since >= frozen_at for _, since in stays.values())
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("renamer", ["member", "tracker"])
async def test_a_rename_made_while_one_was_frozen_is_told_by_the_renamed_alone(
    renamer: str,
) -> None:
    """Trial 64: carol, frozen while alice took the name alicia, was never told of the rename
    (headless: no "nick" event). Attack round 47: a tracker's welcome that named alice
    otherwise put "alice is now known as bob_is_a_thief" on carol's screen: only alice's own
    hello, as she links again, tells it."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        first = await room.add("alice" if renamer == "tracker" else "host", priority=100)
        second = await room.add("host" if renamer == "tracker" else "alice")
        carol = await room.add("carol")
        alice = first if renamer == "tracker" else second
        await room.fully_connected()
        handlers = carol.node._handlers
        frozen = {kind: handlers[kind] for kind in (Nick, Batch)}
        for kind in frozen:  # what comes while it is frozen, it reads only after
            handlers[kind] = lambda conn, message: None
        alice.node.nick("alicia")
        alice.node.say("alicia speaking")
        host = second if renamer == "tracker" else first
        await host.wait_for(lambda e: getattr(e, "text", "") == "alicia speaking")
        handlers.update(frozen)
        entrance, enter = carol.node.entrance, carol.node.entrance._enter

        async def forged(conn: object, hello: Hello, welcome: Welcome) -> None:
            members = [
                dataclasses.replace(m, username="thief") if m.node_id != host.node.node_id else m
                for m in welcome.members
            ]
            await enter(conn, hello, dataclasses.replace(welcome, members=members))  # type: ignore[arg-type]

        entrance._enter = forged  # type: ignore[method-assign]
        mark = len(carol.events)
        await entrance._rejoin()  # as after a freeze
        await carol.wait_for(lambda e: getattr(e, "text", "") == "alicia speaking")
        await room.fully_connected()
        renamed = [e for e in carol.events[mark:] if isinstance(e, events.Renamed)]
        assert [(e.member.username, e.old) for e in renamed] == [("alicia", "alice")]
        nursery.cancel_scope.cancel()


async def test_a_rename_told_as_it_came_during_a_rejoin_is_not_told_again_by_its_link() -> None:
    """Trial 65: back from a freeze, "carl is now known as carlo" came twice: once from the
    rename read on a link still open, once as carlo's link was made again."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, carol = await room.add("alice"), await room.add("carol")
        await room.fully_connected()
        entrance = carol.node.entrance
        entrance._known = {m.node_id: m for m in carol.node.members}  # (as a rejoin begins)
        alice.node.nick("alicia")
        await carol.wait_for(lambda e: isinstance(e, events.Renamed))
        assert entrance.renamed_meanwhile(alice.node.me) is None  # told already
        nursery.cancel_scope.cancel()


async def test_a_private_line_read_right_after_a_freeze_comes_after_its_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trial 64: "[private from carol, said 07:24:10]" came above "this node was unresponsive
    for 30.7 s": read from the old link before the watcher woke."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, carol = await room.add("alice"), await room.add("carol")
        await room.fully_connected()
        door = carol.node.entrance
        monkeypatch.setattr(door, "_last_tick", trio.current_time() - 60)  # stopped a minute
        monkeypatch.setattr(door, "stalled", lambda: True)  # (and not busy meanwhile)
        mark = len(carol.events)
        alice.node.private("carol", "psst")
        said = await carol.wait_for(lambda e: getattr(e, "text", "") == "psst")
        told = [e for e in carol.events[mark:] if isinstance(e, events.Unresponsive)]
        assert told and carol.events.index(told[0]) < carol.events.index(said)
        nursery.cancel_scope.cancel()


async def test_back_from_a_freeze_is_said_after_the_last_rejoin_and_in_a_room_of_one() -> None:
    """Review 57: a freeze told during a rejoin had "rejoined" come from the first rejoin,
    while the second tore the links down again, and none after it; and a freeze in a room of
    one refused lines as "rejoining" with no "rejoined" to follow."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob, carol = [await room.add(name) for name in ("alice", "bob", "carol")]
        await room.fully_connected()
        mark, entrance = len(carol.events), carol.node.entrance
        regather = entrance._regather

        async def frozen_again(before: dict[str, object]) -> None:
            entrance._regather = regather  # type: ignore[method-assign]
            entrance._stalled_seen()  # frozen again, in the rejoin: told too
            await regather(before)  # type: ignore[arg-type]

        entrance._regather = frozen_again  # type: ignore[method-assign]
        entrance._stalled_seen()  # frozen once, told
        told = (events.Unresponsive, events.Rejoined)
        await carol.wait_for(lambda e: isinstance(e, events.Rejoined), 15)
        assert carol.node.reporting  # in, when it said so
        await trio.sleep(1)  # (a second "rejoined" would have come by now)
        said = [type(e).__name__ for e in carol.events[mark:] if isinstance(e, told)]
        assert said == ["Unresponsive", "Unresponsive", "Rejoined"], said

        alone = await Room(nursery).add("dave")
        mark = len(alone.events)
        alone.node.entrance._stalled_seen()
        await alone.wait_for(lambda e: isinstance(e, events.Rejoined), 10)
        assert not any(isinstance(e, events.Unresponsive) for e in alone.events[mark:])
        nursery.cancel_scope.cancel()


async def test_a_line_said_while_rejoining_is_said_once_back() -> None:
    """Trial 55: a line typed right after fg, before the screen knew of the freeze, was
    refused ("not in the room right now (rejoining)") and lost, 2 of 16."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice"), await room.add("bob")
        await room.fully_connected()
        bob.node.entrance._stalled_seen()
        bob.node.say("typed right after fg")  # the freeze seen, before the screen knew of it
        heard = await alice.wait_for(
            lambda e: isinstance(e, events.MessageReceived) and e.text == "typed right after fg"
        )
        assert not heard.history
        told = [e.message for e in bob.events if isinstance(e, events.Error)]
        assert "not back in the room yet (rejoining): said once back" in told
        back = next(i for i, e in enumerate(bob.events) if isinstance(e, events.Rejoined))
        own = [i for i, e in enumerate(bob.events) if isinstance(e, events.MessageReceived)]
        assert own and own[-1] > back  # said once back in
        nursery.cancel_scope.cancel()


async def test_a_room_of_this_name_with_a_secret_met_on_the_network_is_told() -> None:
    """Trial 54: carol, without the secret, typed /join ops as bob did, the search heard
    nobody in time, and she founded an open ops beside the team's; nobody was told, though her
    node met the team's and failed its handshake ("another room secret")."""
    async with trio.open_nursery() as nursery:
        members = []
        for name, psk in (("alice", room_key("the team's own secret")), ("carol", OPEN_ROOM)):
            room = Room(nursery)
            settings = Settings(name, tracker_port=room.tracker_port, psk=psk, room_name="ops")
            member = Member(Node(settings, lambda e: None, room.config, None))
            member.node.emit = member.record
            await nursery.start(room._run, member)
            members.append(member)
        alice, carol = members
        for _ in range(2):  # told once for each host
            await carol.node.links.meet("127.0.0.1", alice.node.me.port)
        told = [e.message for e in carol.events if isinstance(e, events.Error)]
        assert len(told) == 1, told
        assert told[0].startswith("a room called ops with a secret answers on the local network")
        assert "this ops is another room, with none, open to anyone here" in told[0]
        await alice.node.links.meet("127.0.0.1", carol.node.me.port)  # and the other way
        (told,) = [e.message for e in alice.events if isinstance(e, events.Error)]
        assert told.startswith("a room called ops with another secret, or none, answers")
        # Anything that refuses a handshake sets it off: a few hosts are told of, and the
        # warnings of a room posing as this one are not used up (attack round 39 F4)
        for n in range(20):
            carol.node.met_secret_room(f"10.0.0.{n}")
        told = [e.message for e in carol.events if isinstance(e, events.Error)]
        assert len(told) == MAX_SECRET_ROOMS_TOLD
        carol.node.met_another_room("ops", "10.0.1.1:5000", "10.0.1.1")
        told = [e.message for e in carol.events if isinstance(e, events.Error)]
        assert told[-1].startswith("another room called ops answers on the local network")
        nursery.cancel_scope.cancel()


async def crashed_and_gone(room: Room, alice: Member, gone: Member, said: str = "") -> None:
    """``gone`` crashes; ``alice`` (having said ``said`` meanwhile) dials it again until its
    port answers that nothing listens: that process is gone."""
    await room.fully_connected()
    gone.crash()
    await alice.wait_for(lambda e: isinstance(e, events.PeerLeft))
    room.members.remove(gone)
    if said:
        alice.node.say(said)
    lost = alice.node.links.redial._lost[gone.node.node_id]
    with trio.fail_after(5):
        while not lost.gone:
            await trio.sleep(0.01)


async def test_a_member_killed_and_back_with_another_key_is_no_longer_awaited() -> None:
    """A user trial: zed, killed, came back with a new key and quit; the old zed stayed "away,
    being reconnected" for 30 minutes, and every line said it had not reached him yet."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, zed = await room.add("alice"), await room.add("zed")
        await crashed_and_gone(room, alice, zed, said="while zed is away")
        again = await room.add("zed")  # another key
        await alice.wait_for(lambda e: isinstance(e, events.NewKey))
        assert zed.node.node_id not in alice.node.links.redial
        assert [m.node_id for m in alice.node.links.unreachable()] == []
        assert not [e for e in alice.events if isinstance(e, events.NotDelivered)]
        await again.wait_for(lambda e: getattr(e, "text", None) == "while zed is away")
        nursery.cancel_scope.cancel()


async def test_a_member_whose_port_says_nothing_listens_is_not_away_nor_owed_lines() -> None:
    """Trial 46: erin quit just after a cut healed, her goodbye unheard on the far side; there
    she stayed "away, being reconnected", owed every line and sent /msg, for minutes."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, gone_after=1.0))
        alice, erin = await room.add("alice"), await room.add("erin")
        await crashed_and_gone(room, alice, erin)
        # A moment yet (trial 47: a crash, back in 4 s, was refused /msg meanwhile)
        assert alice.node.links.unreachable() == [erin.node.me]
        await trio.sleep(1.0)
        assert alice.node.links.unreachable() == []
        alice.node.say("to whoever is here")
        alice.node.who()
        assert not [e for e in alice.events if isinstance(e, events.Undelivered)]
        listed = [e for e in alice.events if isinstance(e, events.Who)][-1]
        assert listed.away == ()
        assert erin.node.node_id in alice.node.links.redial  # still dialled, in case it is back
        nursery.cancel_scope.cancel()


async def test_a_member_taken_to_have_quit_is_told_with_the_lines_it_missed() -> None:
    """Trial 67: a bot's list of who was away lost erin 16 s after her crash with no event,
    and the lines said "undelivered" to her were never followed by a word more."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, gone_after=1.0))
        alice, erin = await room.add("alice"), await room.add("erin")
        await crashed_and_gone(room, alice, erin, said="erin?")
        assert [type(e) for e in alice.events if isinstance(e, events.Undelivered)] == [
            events.Undelivered
        ]
        with trio.fail_after(3):
            gone = await alice.wait_for(lambda e: isinstance(e, events.PeerGone))
        assert gone.member.node_id == erin.node.node_id
        missed = [e for e in alice.events if isinstance(e, events.NotDelivered)]
        assert [(e.member.username, e.count) for e in missed] == [("erin", 1)]
        assert alice.events.index(gone) < alice.events.index(missed[0])  # (why, first)
        shown = to_plain_text(ui.format_event(gone, 0.0))  # (trial 74: nothing was)
        assert shown.endswith(
            f"erin seems to have quit: nothing listens at {erin.node.me.addr} any more"
        )
        assert alice.node.links.unreachable() == []
        nursery.cancel_scope.cancel()


async def test_a_name_after_irc_status_marks_is_held_for_one_cut_off() -> None:
    """Review 69: with carol cut off and redialled, "+carol" and "@carol" were let in (and
    could be taken by /nick): her name was held from look-alikes, not from those."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, carol = await room.add("alice"), await room.add("carol")
        await room.fully_connected()
        await cut(alice, carol)
        stranger = Identity.generate().node_id
        for name in ("carol", "+carol", "@carol", "@+carol", "Carol"):
            assert alice.node.links.awaited_like(name, stranger), name
            assert alice.node.links.gone_like(name, stranger), name
        assert not alice.node.links.awaited_like("carl", stranger)
        # And "@" read as an "a" (review 70: "@lice" was let in beside an alice away)
        ada = await room.add("ada")
        await room.fully_connected()
        await cut(carol, ada)
        for name in ("@da", "@ada", "+ada"):
            assert carol.node.links.awaited_like(name, stranger), name
            assert carol.node.links.gone_like(name, stranger), name
        nursery.cancel_scope.cancel()


async def test_a_member_taken_to_have_quit_and_started_again_is_back(tmp_path: Path) -> None:
    """Trial 73 F1: carol, killed, was said to have dropped out; started again 22 s later, she
    "joined", with nothing said between (she had been taken to have quit, which the screen
    does not say), while another room read "carol is back"."""
    carol_data = DataDir(tmp_path / "carol")
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, gone_after=1.0))
        alice = await room.add("alice")
        carol = await room.add("carol", data=carol_data)
        await crashed_and_gone(room, alice, carol)
        with trio.fail_after(3):
            await alice.wait_for(lambda e: isinstance(e, events.PeerGone))
        before = len(alice.events)
        await room.add("carol", data=carol_data)  # again, with its key
        await room.fully_connected()
        (joined,) = [e for e in alice.events[before:] if isinstance(e, events.PeerJoined)]
        assert joined.back and joined.member.node_id == carol.node.node_id
        nursery.cancel_scope.cancel()


async def test_one_back_under_the_name_it_left_with_is_home_though_a_taker_is_awaited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attack: after bob quit, a stranger took "bob", vanished without a goodbye and left a
    port that accepts and never answers; the room redialled it for 30 minutes, and the real
    bob, back with his own key, was refused "bob" all that time."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice")
        bob, stranger = Identity.generate(), Identity.generate()
        alice.node.links._was_named[bob.node_id] = "bob"  # bob left under his name
        monkeypatch.setattr(  # the stranger, lost under "bob", is redialled
            alice.node.links, "awaited_like", lambda name, by: by != stranger.node_id
        )

        def hello(key: Identity) -> Hello:
            return Hello(
                PROTOCOL_VERSION, key.node_id, "bob", "127.0.0.1", 9, 0, True, 0, True, "", ""
            )

        assert not alice.node.doorman.name_taken(hello(bob))  # home
        assert alice.node.doorman.name_taken(hello(Identity.generate()))  # a third key is not
        # Nor one that shared the name (attack round 13: back so while the first was away, a
        # stranger let in beside alice took her name).
        alice.node.talk.let_in_namesake(Member_(bob.node_id, "bob", "127.0.0.1", 9, 0, True))
        assert alice.node.doorman.name_taken(hello(bob))
        nursery.cancel_scope.cancel()


async def test_graceful_quit_of_tracker_is_a_goodbye_and_an_election() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        tracker = await room.add("alice", priority=100)
        bob = await room.add("bob", priority=20)
        carol = await room.add("carol", priority=10)
        await room.fully_connected()
        tracker.node.quit()
        left = await carol.wait_for(lambda e: isinstance(e, events.PeerLeft))
        assert left.reason == "quit"
        await tracker.node.finished.wait()
        room.members.remove(tracker)
        await room.all_agree(bob)
        nursery.cancel_scope.cancel()


async def test_a_member_that_answers_elections_and_never_claims_holds_none_up_for_long() -> None:
    """Attack round 20: a member at the highest priority answered every election and never
    claimed; once the tracker quit, the room had no tracker for as long as it stayed, and every
    newcomer was turned away ("the room is electing a tracker"). It is passed over now."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        bob, carol = await room.add("bob", priority=50), await room.add("carol", priority=40)
        mallory = await room.add("mallory", priority=65535)
        await room.fully_connected()
        bully = mallory.node.bully
        bully.on_election = lambda sender, now: [Send(sender, Answer())]  # type: ignore[method-assign]
        bully.tracker_lost = bully.on_timer = lambda now: []  # type: ignore[method-assign]
        alice.node.quit()
        await alice.node.finished.wait()
        room.members.remove(alice)
        for member in (bob, carol):
            await member.wait_for(
                lambda e: (
                    isinstance(e, events.TrackerChanged) and e.tracker.node_id == bob.node.node_id
                ),
                4 * FAST.coordinator_timeout + 2,
            )
        dave = await room.add("dave", priority=10)
        await dave.wait_for(lambda e: isinstance(e, events.Ready))
        assert dave.tracker_id == bob.node.node_id
        nursery.cancel_scope.cancel()


async def test_a_member_saying_goodbye_elects_nobody() -> None:
    """A user trial: a member closing its terminal took the tracker, whose link its goodbye
    had closed, for lost (a race: 1 of 20 closes), won the election, and printed "you are the
    tracker now". Here the race is won for it: the tracker is taken for lost as bob leaves."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=10)
        bob = await room.add("bob", priority=100)  # (later: it does not depose alice)
        await room.fully_connected()
        mark = len(bob.events)
        bob.node.quit()
        bob.node.leadership.act(bob.node.bully.tracker_lost(trio.current_time()))
        await bob.node.finished.wait()
        changes = [e for e in bob.events[mark:] if isinstance(e, events.TrackerChanged)]
        assert changes == [] and alice.node.bully.is_tracker
        nursery.cancel_scope.cancel()


async def test_a_node_saying_goodbye_lets_nobody_in() -> None:
    """A tracker on its way out waits a moment for its goodbyes to be read, its address still
    bound; whoever knocks meanwhile is turned away (in a user trial a member's knock on the
    home address reached the leaving tracker, which took it as a link, and the member saw it
    come back, then be lost and dialled again and again)."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice", priority=100), await room.add("bob", priority=50)
        await room.fully_connected()
        bob.node._handlers[Bye] = lambda conn, message: None  # alice waits for bob to close
        alice.node.quit()
        dave = await room.add("dave", priority=10)
        assert dave.tracker_id == bob.node.node_id
        await alice.node.finished.wait()
        assert not [e for e in alice.events if getattr(e, "member", None) == dave.node.me]
        nursery.cancel_scope.cancel()


async def test_election_with_every_member_starting_at_once() -> None:
    """All members lose the tracker in the same instant; they must settle on one winner."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        tracker = await room.add("t", priority=1000)
        members = [await room.add(f"n{i}", priority=i) for i in range(8)]
        await room.fully_connected()
        tracker.crash()
        await room.all_agree(members[-1])
        nursery.cancel_scope.cancel()


async def test_winner_dying_mid_election_hands_victory_to_the_next() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        tracker = await room.add("t", priority=1000)
        members = [await room.add(f"n{i}", priority=i) for i in range(5)]
        await room.fully_connected()
        doomed = members[-1]
        died = trio.Event()

        def answer_then_die() -> list:
            # It answered the others' elections; now it dies instead of claiming the role.
            doomed.crash()
            died.set()
            return []

        doomed.node.bully._win = answer_then_die  # type: ignore[method-assign]
        tracker.crash()
        await died.wait()
        await room.all_agree(members[-2], timeout=5)
        nursery.cancel_scope.cancel()


@slow
async def test_room_of_fifty() -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery, Config(heartbeat_interval=0.2, heartbeat_timeout=2.0))
        nodes = [await room.add(f"n{i}", priority=i) for i in range(50)]
        await room.fully_connected(timeout=20)
        nodes[0].crash()  # the founder is the tracker
        await room.all_agree(nodes[-1], timeout=10)
        nodes[3].node.say("still here")
        for m in nodes[1:]:
            if m is not nodes[3]:
                await m.wait_for(lambda e: getattr(e, "text", None) == "still here")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("count", [2, 4])
async def test_simultaneous_founders_elect_exactly_one_tracker(count: int) -> None:
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        async with trio.open_nursery() as starters:
            for i in range(count):
                starters.start_soon(room.add, f"n{i}")
        trackers = [m for m in room.members if m.node.bully.is_tracker]
        assert len(trackers) == 1
        await room.fully_connected()
        for m in room.members:
            # Ready comes first, and every member is reported present exactly once.
            assert isinstance(m.events[0], events.Ready)
            joined = [e.member.node_id for e in m.events if isinstance(e, events.PeerJoined)]
            (present,) = [e.members for e in m.events if isinstance(e, events.InRoom)]
            joined += [member.node_id for member in present]
            assert sorted(joined) == sorted(o.node.node_id for o in room.members if o is not m)
        nursery.cancel_scope.cancel()


async def _introduce(port: int, me: Identity, hello: Hello) -> trio.abc.Stream:
    """Connect as ``me`` (the handshake of an open room) and say ``hello``."""
    raw = await trio.open_tcp_stream("127.0.0.1", port)
    stream = await secure(raw, LocalKeys.make(me), OPEN_ROOM, initiator=True, record_timeout=5)
    await stream.send_all(encode_frame(encode(hello)))
    return stream


async def _closed_within(stream: trio.abc.Stream, timeout: float) -> bytes:
    """Everything the node sent before it closed the connection."""
    received = b""
    with trio.fail_after(timeout):
        while chunk := await stream.receive_some(65536):
            received += chunk
    await stream.aclose()
    return received


async def test_a_part_of_the_room_under_a_members_name_is_let_in_and_told_apart_by_its_key() -> (
    None
):
    """Two "zed"s who founded one room at the same moment stayed apart while they shared a
    name (a user trial; two "robert"s named during a partition alike). A part of the room
    that meets it under a member's name is let in: each screen shows with its key's mark the
    one it knew second, /msg reaches the one it knew first, and the user is told once a
    minute at most (keys cost nothing). A newcomer still may not take the name."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        zed = await room.add("zed", priority=50)
        await room.fully_connected()
        zed_id, other = zed.node.node_id, Identity.generate()

        def hello(username: str, *, join: bool, key: Identity = other) -> Hello:
            return Hello(
                PROTOCOL_VERSION, key.node_id, username, "127.0.0.1", 9, 0, True, 0, join,
                "" if join else zed.node.room, "" if join else key.node_id,
            )  # fmt: skip

        newcomer = Identity.generate()
        stream = await _introduce(
            alice.node.me.port, newcomer, hello("Zed", join=True, key=newcomer)
        )
        assert b"is taken in this room" in await _closed_within(stream, 5)
        # A key never seen in the room cannot come as a part under the name (attack round 12:
        # newcomers then showed it as zed); the zed it looks like is told, as before.
        stranger = Identity.generate()
        stream = await _introduce(
            zed.node.me.port, stranger, hello("zed", join=False, key=stranger)
        )
        assert b"is taken in this room" in await _closed_within(stream, 5)
        (clash,) = [e.message for e in zed.events if isinstance(e, events.Error)]
        assert clash.startswith(f"another {marked('zed', stranger.node_id)} is in a part of this")
        del zed.events[:]
        for member in (alice, zed):  # the other part's zed was here before, under another name
            member.node.store.name_owner("zedd", other.node_id, 0.0)

        def joined(key: Identity) -> Callable[[events.Event], bool]:
            return lambda e: isinstance(e, events.PeerJoined) and e.member.node_id == key.node_id

        kept = []  # the other part's links, open until the end
        for member in (alice, zed):
            kept.append(await _introduce(member.node.me.port, other, hello("zed", join=False)))
            arrived = await member.wait_for(joined(other))
            assert arrived.member.username == marked("zed", other.node_id)
        assert alice.node.talk.find("zed").node_id == zed_id
        alice.node.private("zed", "to the zed alice knew first")
        got = await zed.wait_for(lambda e: isinstance(e, events.MessageReceived) and e.to)
        assert got.text == "to the zed alice knew first"
        alice.node.who()
        listed = await alice.wait_for(lambda e: isinstance(e, events.Who))
        assert sorted(m.username for m in listed.members) == sorted(
            ["alice", "zed", marked("zed", other.node_id)]
        )

        def told(member: Member) -> list[str]:
            return [e.message for e in member.events if isinstance(e, events.Error)]

        (notice,) = told(zed)
        assert notice.startswith(f"{marked('zed', other.node_id)} has come in under your name")
        assert told(alice) == [
            f"zed and {marked('zed', other.node_id)} each took the name zed while the room was "
            "in parts: /msg zed reaches the one this screen knew first, shown plain"
        ]
        for key in (Identity.generate() for _ in range(NAMESAKE_NOTICES_AT_ONCE + 2)):
            zed.node.store.name_owner(f"z{key.node_id[:8]}", key.node_id, 0.0)
            kept.append(await _introduce(zed.node.me.port, key, hello("ZED", join=False, key=key)))
            await zed.wait_for(joined(key))
        assert len(told(zed)) == NAMESAKE_NOTICES_AT_ONCE  # then one a minute

        # A second namesake giving the name up hands alice's zed's name to nobody (attack round
        # 14: it went to the first namesake).
        second = Identity.generate()
        alice.node.store.name_owner("zzz", second.node_id, 0.0)
        kept.append(
            await _introduce(alice.node.me.port, second, hello("zed", join=False, key=second))
        )
        await alice.wait_for(joined(second))
        await kept[-1].send_all(encode_frame(encode(Nick("yves"))))
        renamed = await alice.wait_for(
            lambda e: isinstance(e, events.Renamed) and e.member.username == "yves"
        )
        assert renamed.old == marked("zed", second.node_id)  # as alice's screen showed it
        assert alice.node.store.owner("zed") == zed_id
        assert alice.node.talk.is_namesake(other.node_id, "zed")

        # The zed alice knew first takes another name: the other has it alone, plain, and a
        # blip of its link is no "another key" under the name (a user trial's false alarm).
        zed.node.nick("zeb")
        await alice.wait_for(lambda e: isinstance(e, events.Renamed) and e.old == "zed")
        await kept[0].aclose()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == other.node_id
        )
        since, earlier = len(alice.events), {id(e) for e in alice.events}
        kept[0] = await _introduce(alice.node.me.port, other, hello("zed", join=False))
        back = await alice.wait_for(lambda e: joined(other)(e) and id(e) not in earlier)
        assert back.member.username == "zed"
        assert not [e for e in alice.events[since:] if isinstance(e, events.NewKey)]
        # But it is a newcomer to the name: nothing private goes to it by the bare name till
        # alice names its key (attack round 58: a key back as a part that never was had zed's)
        alice.node.private("zed", "for zed")
        await trio.sleep(0)
        said = [e.message for e in alice.events if isinstance(e, events.Error)][-1]
        assert said.startswith("zed here is another key ("), said
        nursery.cancel_scope.cancel()


async def _live(stream: trio.abc.Stream) -> None:
    """Answer a node's pings and probes on ``stream``, as a live node would, until it closes."""
    frames = FrameDecoder()
    answers = {"ping": encode_frame(encode(Pong())), "probe": encode_frame(encode(Beat()))}
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while chunk := await stream.receive_some(65536):
            frames.feed(chunk)
            for frame in frames.frames():
                if frame.get("t") in answers:
                    await stream.send_all(answers[frame["t"]])


async def _answering_part(nursery: trio.Nursery, key: Identity, room_id: str, name: str) -> Hello:
    """A node of another part of the room, under ``key`` and ``name``, that answers a dial with
    its hello, and pings and probes as a live node does: the hello it says."""
    said: list[Hello] = []

    async def answer(stream: trio.SocketStream) -> None:
        secured = await secure(
            stream, LocalKeys.make(key), OPEN_ROOM, initiator=False, record_timeout=5
        )
        await secured.send_all(encode_frame(encode(said[0])))
        await _live(secured)

    (listener,) = await nursery.start(
        functools.partial(trio.serve_tcp, host="127.0.0.1"), answer, 0
    )
    port = listener.socket.getsockname()[1]
    said.append(
        Hello(
            PROTOCOL_VERSION, key.node_id, name, "127.0.0.1", port, 0, True, 0, False,
            room_id, key.node_id,
        )
    )  # fmt: skip
    return said[0]


async def test_newcomers_mark_whom_the_tracker_marks_and_the_holder_gets_its_name_back(
    tmp_path: Path,
) -> None:
    """Attack rounds 13 and 14: a key once in the room, back as a part under a member's name,
    is shown marked by those who knew the member; but newcomers, while the member was away,
    showed the other plain and bound the name to it. The welcome and the tracker's word now
    say whom the tracker shows marked, and newcomers mark it too (they bind nothing on that
    word: they mark both). The member, back, has its name where it had it: it was refused."""
    zed_data = DataDir(tmp_path / "zed")
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        zed = await room.add("zed", priority=50, data=zed_data)
        await room.fully_connected()
        zed_id, other = zed.node.node_id, Identity.generate()
        alice.node.store.name_owner("zedd", other.node_id, 0.0)  # in the room once, as zedd
        part = await _answering_part(nursery, other, alice.node.room, "zed")
        kept = await _introduce(alice.node.me.port, other, part)
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerJoined) and e.member.node_id == other.node_id
        )

        async def linked(member: Member, *keys: str) -> None:
            with trio.fail_after(5):
                while not set(keys) <= set(member.node.links.conns):
                    await trio.sleep(0.01)

        dan = await room.add("dan")
        await linked(dan, zed_id, other.node_id)
        both = {other.node_id: "zed", zed_id: "zed"}
        assert dan.node.talk.marks() == both
        assert dan.node.talk.find("zed") is None
        told = [e for e in dan.events if isinstance(e, events.Error) and "took" in e.message]
        assert len(told) == 1  # of the two, once (a user trial: twice, the same words)

        zed.crash()  # away: the other must not have the name meanwhile
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == zed_id
        )
        eve = await room.add("eve")
        await linked(eve, other.node_id)
        assert eve.node.talk.marks() == {other.node_id: "zed"}
        assert eve.node.talk.find("zed") is None
        assert eve.node.store.owner("zed") is None

        zed = await room.add("zed", priority=50, data=zed_data)  # back, with its key
        for member in (alice, dan, eve):
            await linked(member, zed_id)
        assert alice.node.talk.marks() == {other.node_id: "zed"}
        assert alice.node.talk.find("zed").node_id == zed_id
        assert dan.node.talk.marks() == eve.node.talk.marks() == both

        # The other goes and comes back while zed is gone: fred, who came meanwhile, hears
        # from the tracker that it is marked (round 13: it took the name at such members).
        zed.node.quit()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == zed_id, 10
        )
        await kept.aclose()
        await alice.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == other.node_id
        )
        fred = await room.add("fred")
        kept = await _introduce(alice.node.me.port, other, part)
        await linked(fred, other.node_id)
        assert fred.node.talk.marks() == {other.node_id: "zed"}
        assert fred.node.store.owner("zed") is None
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("name", ["zed", "ZED", "zed~1a2b3c", "\u3164"])
async def test_a_node_dialled_on_a_word_is_refused_a_name_taken_here_or_with_a_keys_mark(
    name: str,
) -> None:
    """Attack round 13: a member's word (a roster) had the tracker dial a stranger, whose
    answer was not checked as a hello that comes in is: it came in under "alice", or under
    "alice~" and her key's fingerprint, and newcomers showed it so."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        await room.add("zed", priority=50)
        await room.fully_connected()
        stranger = Identity.generate()
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]

        async def answer() -> None:
            raw = await listeners[0].accept()
            keys = LocalKeys.make(stranger)
            stream = await secure(raw, keys, OPEN_ROOM, initiator=False, record_timeout=5)
            await stream.receive_some(65536)  # its hello
            me = Hello(
                PROTOCOL_VERSION, stranger.node_id, name, "127.0.0.1", port, 0, True, 0, False,
                alice.node.room, "",
            )  # fmt: skip
            await stream.send_all(encode_frame(encode(me)))
            await _closed_within(stream, 5)

        nursery.start_soon(answer)
        await alice.node.links.meet("127.0.0.1", port)
        assert stranger.node_id not in alice.node.links.conns
        assert not [e for e in alice.events if isinstance(e, events.PeerJoined)
                    and e.member.node_id == stranger.node_id]  # fmt: skip
        for listener in listeners:
            await listener.aclose()
        nursery.cancel_scope.cancel()


async def test_a_stranger_that_introduces_itself_is_let_go_unless_the_room_knows_it() -> None:
    config = Config(heartbeat_interval=0.05, heartbeat_timeout=0.3, admit_timeout=0.5)
    async with trio.open_nursery() as nursery:
        room = Room(nursery, config)
        await room.add("alice")
        bob = await room.add("bob")
        await room.fully_connected()
        mallory = Identity.generate()
        me = Hello(
            PROTOCOL_VERSION, mallory.node_id, "mallory", "127.0.0.1", 9, 0, True, 0, False,
            bob.node.room,
        )  # fmt: skip
        stream = await _introduce(bob.node.me.port, mallory, me)
        # Not announced by the tracker: nothing is sent back, nothing is reported, then it ends.
        assert await _closed_within(stream, 2 * config.admit_timeout + 1) == b""
        assert not [e for e in bob.events if isinstance(e, events.PeerJoined) and
                    e.member.username == "mallory"]  # fmt: skip
        assert bob.node.admission.pending == 0
        # A newcomer the tracker announces is let in even when its dial comes first.
        carol = await room.add("carol")
        await room.fully_connected()
        assert {c.member.username for c in carol.node.links.conns.values()} == {"alice", "bob"}
        nursery.cancel_scope.cancel()


async def test_connections_past_the_pending_cap_are_refused_and_members_still_get_in() -> None:
    config = Config(
        heartbeat_interval=0.05,
        heartbeat_timeout=0.3,
        max_pending=8,
        max_pending_per_address=4,
        admit_timeout=1.0,
    )
    async with trio.open_nursery() as nursery:
        room = Room(nursery, config)
        alice = await room.add("alice")
        silent = [await trio.open_tcp_stream("127.0.0.1", alice.node.me.port) for _ in range(6)]
        with trio.fail_after(5):
            while alice.node.admission.pending < 4:
                await trio.sleep(0.01)
        # The two over the per-address cap were closed at once.
        closed = 0
        for stream in silent:
            with trio.move_on_after(0.2):
                if await stream.receive_some(10) == b"":
                    closed += 1
        assert closed == 2 and alice.node.admission.pending == 4
        for stream in silent:
            await stream.aclose()
        bob = await room.add("bob")  # joins through the tracker address, not the own port
        await bob.wait_for(lambda e: isinstance(e, events.Ready))
        nursery.cancel_scope.cancel()


async def test_a_node_looking_for_its_room_that_the_tracker_dials_joins_through_it() -> None:
    """A tracker's redial reaches a node still looking for its room (after a freeze) while the
    home address hangs (a stopped process holds it): the dial is turned away, and the node
    joins through the tracker's address at once, following it although its own priority is
    higher. A redial let in used to make it elect itself at the tracker's first ping, take the
    home address, and then try to join through it, reaching itself, for ever (found in CI)."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=1)
        silent = await trio.open_tcp_listeners(0, host="127.0.0.1")  # accepts, never answers
        port = silent[0].socket.getsockname()[1]
        settings = Settings("newbie", tracker_port=port, priority=100)
        patient = dataclasses.replace(FAST, hello_timeout=60.0)  # the hanging join never ends
        newbie = Member(Node(settings, lambda e: None, patient))
        newbie.node.emit = newbie.record
        nursery.start_soon(newbie.node.run)
        with trio.fail_after(5):
            while not (newbie.node.entrance.seeking and newbie.node.me.port):
                await trio.sleep(0.01)
        # As a rejoin after a freeze leaves it: it knows its room and who was in it.
        newbie.node.room = alice.node.room
        newbie.node.entrance._known = {alice.node.node_id: alice.node.me}
        assert not await alice.node.links.dial_quietly(newbie.node.me)
        with trio.fail_after(5):
            while newbie.node.entrance.seeking or newbie.node.node_id not in alice.node.links.conns:
                await trio.sleep(0.01)
        assert newbie.tracker_id == alice.node.node_id
        assert alice.tracker_id == alice.node.node_id
        nursery.cancel_scope.cancel()


async def test_a_node_never_listens_on_the_port_it_looks_for_its_room_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The system may hand out the room's port, free a moment ago, as the node's own: it would
    then look for its room at itself, reaching itself, until it gave up (seen in CI)."""

    room_port = free_port()
    real_bind = peerchat.node.bind
    asked: list[int] = []

    async def the_rooms_port_first(host: str, port: int) -> list[trio.SocketListener]:
        asked.append(port)
        return await real_bind(host, room_port if len(asked) == 1 else port)

    monkeypatch.setattr(peerchat.node, "bind", the_rooms_port_first)
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        room.tracker_port = room_port
        with trio.fail_after(10):
            alice = await room.add("alice")
        assert alice.node.me.port != room_port and alice.node.bully.is_tracker
        assert asked == [0, 0]
        nursery.cancel_scope.cancel()


def test_a_key_refused_a_name_is_told_the_name_it_went_by_here() -> None:
    """A user trial: bob, robert since, was refused "bob" (another key had taken it since) with
    no word that he could come back as robert."""
    told = doorman.name_taken("bob", "robert")
    assert told.startswith("the name 'bob' is taken in this room (or one like it); ")
    assert told.endswith("this key was robert here (--username robert)")
    assert doorman.refuses_the_name(told) and doorman.refuses_the_name(doorman.name_taken("bob"))
    assert doorman.name_taken("bob", "bob") == doorman.name_taken("bob")
    like = doorman.name_taken("B0b", None, "bob")  # whose (trial 71)
    assert like == "the name 'B0b' is taken in this room (or one like it): it is too like bob's"
    assert doorman.refuses_the_name(like)
    said = "the name 'B0b' is too like bob's, a member's here"  # as /nick says it (trial 72)
    assert doorman.too_like_said(like) == said
    assert doorman.too_like_said(told) == told
    assert doorman.name_taken("BOB", None, "bob") == doorman.name_taken("BOB")


async def test_a_node_of_another_room_under_this_ones_name_is_told_of_once_a_room() -> None:
    """Attack round 23: a stranger on the local network answered the search for "ops" as a
    room of its own (another home) and took in newcomers, cut off from the real room with no
    word to them; the real room's search for parts then reached them and was dropped unsaid.
    Each side now tells its user, once a room."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        settings = Settings("carol", tracker_port=room.tracker_port, room_name="ops")
        carol = Member(Node(settings, lambda e: None, room.config))
        carol.node.emit = carol.record
        await nursery.start(room._run, carol)
        room.members.append(carol)
        await room.add("dave")
        await room.fully_connected()
        real = Identity.generate()

        def part_of(home: str, name: str = "ops") -> Hello:
            return Hello(
                PROTOCOL_VERSION, real.node_id, "alice", "127.0.0.1", 9, 0, True, 0, False,
                home, real.node_id, name,
            )  # fmt: skip

        for hello in (part_of("127.0.0.1:5902"), part_of("127.0.0.1:5902"), part_of("x:1", "qa")):
            stream = await _introduce(carol.node.me.port, real, hello)
            assert b"this node is in another room" in await _closed_within(stream, 5)
        told = [e.message for e in carol.events if isinstance(e, events.Error)]
        assert told == [
            "another room called ops answers on the local network, at 127.0.0.1: two rooms "
            "share the name, or someone poses as this one (dave here). If someone you expect "
            "is missing here, compare keys with /whois NAME (a room with a secret cannot be "
            "posed as)"
        ]
        # Dialling one, too (attack round 24: the real room dialled the stranger 436 times,
        # and was never told).
        other = Room(nursery)
        settings = Settings("erin", tracker_port=other.tracker_port, room_name="ops")
        erin = Member(Node(settings, lambda e: None, other.config))
        erin.node.emit = erin.record
        await nursery.start(other._run, erin)
        del carol.events[:]
        await carol.node.links.meet("127.0.0.1", erin.node.me.port)
        (told,) = [e.message for e in carol.events if isinstance(e, events.Error)]
        assert told.startswith("another room called ops answers on the local network, at ")
        (told,) = [e.message for e in erin.events if isinstance(e, events.Error)]
        assert told.startswith("another room called ops answers on the local network, at ")
        nursery.cancel_scope.cancel()


async def test_a_part_under_a_members_name_that_cannot_come_in_is_told_of() -> None:
    """Attack round 24: newcomers taken in by a stranger's room posing as theirs, under
    alice's name and with the real room's home, turned the real alice away as a part under a
    name taken, and were never told."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", priority=100)
        await room.add("bob", priority=50)
        await room.fully_connected()
        real = Identity.generate()
        part = Hello(
            PROTOCOL_VERSION, real.node_id, "bob", "127.0.0.1", 9, 0, True, 0, False,
            alice.node.room, real.node_id,
        )  # fmt: skip
        stream = await _introduce(alice.node.me.port, real, part)
        assert b"is taken in this room" in await _closed_within(stream, 5)
        bob_id = room.members[1].node.node_id
        (told,) = [e.message for e in alice.events if isinstance(e, events.Error)]
        assert told == (
            f"another {marked('bob', real.node_id)} is in a part of this room that cannot join "
            f"yours while {marked('bob', bob_id)} here has the name: two people took it while "
            "apart, or one poses as the other (compare keys with /whois)"
        )
        nursery.cancel_scope.cancel()


async def test_a_part_that_refuses_this_nodes_name_is_told_of_here_too() -> None:
    """Trial 62: of two eves in two parts of a room, the one whose part was dialled was told
    of the clash; the one in the part that dialled never was."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        eve = await room.add("eve")
        refused = "the name 'eve' is taken in this room (or one like it)"
        for _ in range(3):  # as each of its dials is refused: told once a minute at most
            eve.node.name_refused("10.0.0.7:5001", refused)
        (told,) = [e.message for e in eve.events if isinstance(e, events.Error)]
        assert told == (
            "a part of this room, at 10.0.0.7:5001, cannot join yours while you go by eve: a "
            "member there has the name, or one like it; one of you needs another (/nick NAME)"
        )
        assert not eve.node.leaving
        nursery.cancel_scope.cancel()


async def test_a_member_that_dropped_out_and_is_reached_again_is_back() -> None:
    """Trial 59 read "carol joined" after "carol dropped out: trying to reach them again"."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice"), await room.add("bob")
        await room.fully_connected()
        alice_id = alice.node.node_id
        bob.node.links.conns[alice_id].abort("cut by the test")
        left = await bob.wait_for(
            lambda e: isinstance(e, events.PeerLeft) and e.member.node_id == alice_id
        )
        assert left.dialled and not left.said
        back = await bob.wait_for(
            lambda e: isinstance(e, events.PeerJoined) and e.member.node_id == alice_id
        )
        assert back.back and back.as_json()["back"] is True
        newcomer = await room.add("carol")
        joined = await bob.wait_for(
            lambda e: isinstance(e, events.PeerJoined) and e.member.node_id == newcomer.node.node_id
        )
        assert not joined.back and "back" not in joined.as_json()
        nursery.cancel_scope.cancel()


async def test_lines_said_not_to_have_reached_one_taken_to_have_quit_are_told_had(
    tmp_path: Path,
) -> None:
    """Trial 76 F5: "gave up on reaching erin: your last message did not reach them" stood
    uncorrected after erin, started again, was shown that line as history."""
    erin_data = DataDir(tmp_path / "erin")
    async with trio.open_nursery() as nursery:
        room = Room(nursery, dataclasses.replace(FAST, gone_after=1.0))
        alice = await room.add("alice")
        erin = await room.add("erin", data=erin_data)
        await crashed_and_gone(room, alice, erin, said="erin?")
        with trio.fail_after(3):
            await alice.wait_for(lambda e: isinstance(e, events.NotDelivered))
        again = await room.add("erin", data=erin_data)  # with its key
        await again.wait_for(lambda e: getattr(e, "text", None) == "erin?")
        had = await alice.wait_for(lambda e: isinstance(e, events.Delivered))
        assert (had.member.node_id, had.count, had.private) == (erin.node.node_id, 1, False)
        nursery.cancel_scope.cancel()
