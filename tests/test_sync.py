"""peerchat.sync: whom the Puller asks for which author's messages; and three in-memory nodes
(a ChatLog, a Store and a Puller each) that swap summaries and answer requests from their stores,
by plain calls, until none are left."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

from peerchat.batch import Batch, seal
from peerchat.chat import Chat, ChatLog
from peerchat.identity import Identity
from peerchat.store import MEMORY, Store
from peerchat.sync import Puller, Request

NOW = 1_800_000_000.0
PAGE = 3  # messages per answer, about: small, so that catching up takes several requests


# -- the Puller alone --------------------------------------------------------------------------


def puller(shown: dict[str, int], me: str = "me") -> Puller:
    """A Puller for a node that has shown ``shown`` (an author missing: never heard)."""
    return Puller(me, shown.get)


def test_a_peer_holding_more_is_asked_for_the_rest() -> None:
    p = puller({"ann": 2, "bob": 4})
    assert p.idle
    assert p.summary("p1", {"ann": 5, "bob": 4}) == [Request("p1", "ann", 2)]
    assert p.asked_of("ann") == "p1"
    assert p.asked_of("bob") is None
    assert not p.idle


def test_a_peer_holding_less_or_the_same_is_not_asked() -> None:
    p = puller({"ann": 5})
    assert p.summary("p1", {"ann": 5}) == []
    assert p.summary("p2", {"ann": 3}) == []
    assert p.idle


def test_only_one_request_per_author_at_a_time() -> None:
    p = puller({"ann": 0})
    assert p.summary("p1", {"ann": 5}) == [Request("p1", "ann", 0)]
    assert p.summary("p2", {"ann": 5}) == []
    assert p.summary("p2", {"ann": 9}) == []  # even one holding more waits its turn
    assert p.seen("p3", "ann", 12) == []
    assert p.asked_of("ann") == "p1"


def test_the_peer_holding_most_is_asked() -> None:
    shown = {}
    p = puller(shown)
    p.summary("p1", {"ann": 3})
    p.summary("p2", {"ann": 7})
    p.summary("p3", {"ann": 5})
    shown["ann"] = 1  # heard of ann now: plan again
    assert p.answered("p0", "ann") == [Request("p2", "ann", 1)]


def test_the_author_is_preferred_among_peers_holding_as_much() -> None:
    shown = {}
    p = puller(shown)
    p.summary("p1", {"ann": 5})
    p.summary("ann", {"ann": 5})
    p.summary("p2", {"ann": 5})
    shown["ann"] = 1
    assert p.answered("p0", "ann") == [Request("ann", "ann", 1)]


def test_answered_replans_with_the_next_peer_holding_more() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p1", {"ann": 3}) == [Request("p1", "ann", 0)]
    assert p.summary("p2", {"ann": 8}) == []
    shown["ann"] = 3  # p1's answer came
    assert p.answered("p1", "ann") == [Request("p2", "ann", 3)]
    assert p.asked_of("ann") == "p2"
    shown["ann"] = 8
    assert p.answered("p2", "ann") == []
    assert p.idle


def test_answered_by_a_peer_not_asked_leaves_the_request_alone() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p1", {"ann": 5}) == [Request("p1", "ann", 0)]
    assert p.answered("p2", "ann") == []
    assert p.asked_of("ann") == "p1"


def test_a_partial_answer_asks_the_same_peer_for_the_rest() -> None:
    # a full page ends below the peer's head: the Skip says how far it went, and the rest is
    # asked for next
    shown = {"ann": 0}
    p = puller(shown)
    p.summary("p1", {"ann": 9})
    shown["ann"] = 3
    assert p.answered("p1", "ann") == [Request("p1", "ann", 3)]


def test_gone_hands_its_requests_to_another_peer() -> None:
    p = puller({"ann": 1, "bob": 0})
    assert p.summary("p1", {"ann": 5, "bob": 2}) == [
        Request("p1", "ann", 1),
        Request("p1", "bob", 0),
    ]
    assert p.summary("p2", {"ann": 4}) == []
    assert p.gone("p1") == [Request("p2", "ann", 1)]  # nobody else holds more of bob
    assert p.asked_of("ann") == "p2"
    assert p.asked_of("bob") is None


def test_a_peer_gone_is_not_asked_again() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    p.summary("p1", {"ann": 5})
    p.summary("p2", {"ann": 2})
    assert p.gone("p2") == []  # not the one asked: nothing changes
    assert p.asked_of("ann") == "p1"
    assert p.gone("p1") == []
    assert p.idle
    assert p.answered("p1", "ann") == []  # what it held went with it


def test_an_author_never_heard_is_not_requested() -> None:
    p = puller({"ann": 0})
    assert p.summary("p1", {"ann": 3, "stranger": 9}) == [Request("p1", "ann", 0)]
    assert p.asked_of("stranger") is None
    assert p.seen("p1", "stranger", 12) == []
    assert p.answered("p1", "stranger") == []


def test_the_nodes_own_id_is_never_requested() -> None:
    p = puller({"me": 0, "ann": 0}, me="me")  # even if its own log said it lacked some
    assert p.summary("p1", {"me": 7, "ann": 1}) == [Request("p1", "ann", 0)]
    assert p.seen("p1", "me", 9) == []
    assert p.answered("p1", "me") == []
    assert p.asked_of("me") is None


def test_a_newer_summary_replaces_the_old_one() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    p.summary("p1", {"ann": 5})
    p.summary("p1", {})  # p1 lost ann's messages (pruned)
    assert p.answered("p1", "ann") == []


def test_seen_asks_only_when_a_live_message_leaves_a_gap() -> None:
    log = ChatLog("me")
    log.start_after("ann", 0)
    p = Puller("me", log.shown)
    for seq in (1, 2):
        log.receive(Chat("ann", seq, seq, "x", NOW, 0.0))
        assert p.seen("ann", "ann", seq) == []  # in order: nothing missing
    log.receive(Chat("ann", 5, 5, "x", NOW, 0.0))  # 3 and 4 missing
    assert log.shown("ann") == 2
    assert p.seen("ann", "ann", 5) == [Request("ann", "ann", 2)]
    assert p.seen("ann", "ann", 5) == []
    assert p.seen("bob", "ann", 6) == []  # asked already


def test_seen_below_what_the_peer_is_known_to_hold_changes_nothing() -> None:
    shown = {"ann": 2}
    p = puller(shown)
    p.summary("p1", {"ann": 9})
    shown["ann"] = 9
    assert p.answered("p1", "ann") == []
    assert p.seen("p1", "ann", 7) == []
    assert p.idle


# -- three nodes -------------------------------------------------------------------------------


@dataclass
class Node:
    me: Identity
    log: ChatLog
    store: Store
    puller: Puller
    shown: list[Chat] = field(default_factory=list)  # other authors' messages, as shown
    asked: list[Request] = field(default_factory=list)  # by live messages, not yet answered

    @property
    def id(self) -> str:
        return self.me.node_id

    def of(self, author: Node) -> list[tuple[int, str]]:
        return [(c.seq, c.text) for c in self.shown if c.sender == author.id]


def node() -> Node:
    me = Identity.generate()
    log = ChatLog(me.node_id)
    return Node(me, log, Store(MEMORY), Puller(me.node_id, log.shown))


def meet(*nodes: Node) -> None:
    """Each has heard of each (a hello before anyone said anything: owed all from 1)."""
    for a in nodes:
        for b in nodes:
            if a is not b:
                a.log.start_after(b.id, 0)


def say(n: Node, *sizes: int) -> list[Batch]:
    """``n`` says one batch of each size; kept in its own store."""
    out = []
    for size in sizes:
        said = [n.log.compose(f"{n.id[:4]}-{n.log.seq + 1}", NOW, 0.0) for _ in range(size)]
        b = seal(n.me, "user", said)
        n.store.add(b, NOW)
        out.append(b)
    return out


def said(n: Node) -> list[tuple[int, str]]:
    return [(seq, f"{n.id[:4]}-{seq}") for seq in range(1, n.log.seq + 1)]


def live(to: Node, b: Batch) -> list[Request]:
    """``b`` arrives from its author, live (as ``messaging`` takes it); the requests it makes
    are answered at the next ``settle``."""
    to.store.add(b, NOW)
    for chat in b.chats():
        to.shown += to.log.receive(chat)
    if to.log.shown(b.author) == b.last:
        return []
    asked = to.puller.seen(b.author, b.author, b.last)
    to.asked += asked
    return asked


def answer(asker: Node, peer: Node, req: Request, page: int = PAGE) -> list[Request]:
    """``peer`` answers ``req`` from its store, ending with a Skip (as ``messaging`` does)."""
    assert req.peer == peer.id
    batches = peer.store.after(req.author, req.after, page)
    head = peer.log.heads().get(req.author, 0)
    if batches and batches[-1].last < head and sum(len(b.items) for b in batches) >= page:
        head = batches[-1].last  # a full page: the asker asks again for the rest
    for b in batches:
        asker.store.add(b, NOW)
        for chat in b.chats():
            asker.shown += asker.log.receive(chat)
    asker.shown += asker.log.start_after(req.author, max(head, req.after))
    return asker.puller.answered(peer.id, req.author)


def settle(*nodes: Node, page: int = PAGE, rounds: int = 10) -> list[tuple[str, Request]]:
    """Summaries both ways and answers, until a round of summaries asks for nothing; every
    request made, as (asker, request)."""
    by_id = {n.id: n for n in nodes}
    made: list[tuple[str, Request]] = []
    pending: deque[tuple[Node, Request]] = deque()
    for n in nodes:
        pending.extend((n, r) for r in n.asked if r.peer in by_id)
        n.asked.clear()
    for _ in range(rounds):
        for a in nodes:
            for b in nodes:
                if a is not b:
                    pending.extend((a, r) for r in a.puller.summary(b.id, b.log.heads()))
        if not pending:
            assert all(n.puller.idle for n in nodes)
            return made
        while pending:
            asker, req = pending.popleft()
            made.append((asker.id, req))
            assert req.peer in by_id and req.peer != asker.id and req.author != asker.id
            pending.extend((asker, r) for r in answer(asker, by_id[req.peer], req, page))
    raise AssertionError(f"not settled after {rounds} rounds")


def everyone_has_everything(*nodes: Node) -> None:
    for n in nodes:
        for author in nodes:
            if author is not n:
                assert n.of(author) == said(author), (n.id, author.id)
                assert n.log.shown(author.id) == author.log.seq
                if author.log.seq:
                    mine, theirs = n.store.heads()[author.id], author.store.heads()[author.id]
                    assert mine[1:] == theirs[1:]  # the same last number and Lamport time
        assert n.store.count() == sum(a.log.seq for a in nodes)


def test_three_nodes_that_saw_nothing_of_each_other_catch_up() -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    say(a, 2, 1, 4)
    say(b, 5)
    say(c, 1, 1)
    made = settle(a, b, c)
    everyone_has_everything(a, b, c)
    # each author's messages were asked for by each of the two others, page by page
    assert {(asker, r.author) for asker, r in made} == {
        (x.id, y.id) for x in (a, b, c) for y in (a, b, c) if x is not y
    }


def test_three_nodes_with_partial_live_delivery_catch_up() -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    ab = say(a, 1, 2, 1, 3)  # a's 1, 2-3, 4, 5-7
    for batch in ab:
        live(b, batch)
    live(c, ab[0])
    live(c, ab[3])  # c lacks 2-4
    bb = say(b, 2, 2)
    live(a, bb[1])  # a lacks b's 1-2
    say(c, 3)  # nobody has c's
    settle(a, b, c)
    everyone_has_everything(a, b, c)


def test_a_gap_held_by_a_third_member_is_fetched_from_it() -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    batches = say(a, 1, 1, 1, 1, 1)
    for batch in batches:
        live(b, batch)
    live(c, batches[0])
    live(c, batches[1])
    assert live(c, batches[4]) == [Request(a.id, a.id, 2)]  # the author first...
    c.puller.gone(a.id)  # ...but it went away
    made = settle(b, c)  # a is not there
    assert made == [(c.id, Request(b.id, a.id, 2))]
    assert c.of(a) == said(a)
    assert c.store.count() == 5


def test_messages_are_shown_once_even_when_several_hold_them() -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    for batch in say(a, 3, 3, 3):
        live(b, batch)
    settle(a, b, c)  # c may ask a or b, never both at once
    assert c.of(a) == said(a)
    assert len(c.shown) == 9


def test_a_long_history_comes_page_by_page_from_the_peer_holding_it() -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    for batch in say(a, *[2] * 10):
        live(b, batch)
    made = settle(b, c)
    assert [r for _, r in made] == [Request(b.id, a.id, n) for n in range(0, 20, 4)]
    assert c.of(a) == said(a)


def test_a_node_that_was_never_told_of_an_author_does_not_ask_for_it() -> None:
    a, b, c = node(), node(), node()
    meet(a, b)  # c has not heard of a (a newcomer gets history instead)
    meet(b, c)
    for batch in say(a, 2):
        live(b, batch)
    made = settle(b, c)
    assert all(r.author != a.id for _, r in made)
    assert c.of(a) == []
    assert c.log.shown(a.id) is None


def test_nothing_is_asked_when_all_are_in_step() -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    for batch in say(a, 2, 1):
        live(b, batch)
        live(c, batch)
    assert settle(a, b, c) == []


@pytest.mark.parametrize("page", [1, 2, 100])
def test_any_page_size_gets_everything(page: int) -> None:
    a, b, c = node(), node(), node()
    meet(a, b, c)
    first = say(a, 3, 1, 2)
    live(c, first[1])
    say(b, 1, 4)
    made = settle(a, b, c, page=page)
    everyone_has_everything(a, b, c)
    # b's 1 and 2-5, to each of two nodes: a page of 1 takes two requests (whole batches), a
    # page of 2 or more one
    assert sum(r.author == b.id for _, r in made) == (4 if page == 1 else 2)
