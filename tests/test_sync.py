"""peerchat.sync: whom the Puller asks for which author's messages; and three in-memory nodes
(a ChatLog, a Store and a Puller each) that swap summaries and answer requests from their stores,
by plain calls, until none are left."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

from peerchat.batch import Batch, room_tag, seal
from peerchat.chat import Chat, ChatLog
from peerchat.handshake import OPEN_ROOM
from peerchat.identity import Identity
from peerchat.store import MEMORY, Store
from peerchat.sync import Puller, Request, Turns, beyond

ROOM = room_tag("", "127.0.0.1:5000", OPEN_ROOM)  # an open room without a name

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


def test_an_author_forgotten_is_forgotten_by_the_puller_too() -> None:
    """What peers held of it, and what was asked: nothing is kept of it, and a summary
    naming it later is not taken up (it is never heard, to ``shown``)."""
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p1", {"ann": 5}) == [Request("p1", "ann", 0)]
    del shown["ann"]
    p.forget("ann")
    assert p.idle and p.asked_of("ann") is None
    assert p.summary("p2", {"ann": 9}) == []
    shown["ann"] = 0  # heard again, as anew: what p1 told before counts no more
    assert p.answered("p1", "ann", 5) == ([], None)
    assert p.seen("p3", "ann", 2) == [Request("p3", "ann", 0)]


def test_the_peer_holding_most_is_asked() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p0", {"ann": 1}) == [Request("p0", "ann", 0)]
    for peer, seq in (("p1", 3), ("p2", 7), ("p3", 5)):
        assert p.summary(peer, {"ann": seq}) == []  # p0 is asked already: they wait
    shown["ann"] = 1  # p0's answer came: plan again
    assert p.answered("p0", "ann", 1) == ([Request("p2", "ann", 1)], None)


def test_the_author_is_preferred_among_peers_holding_as_much() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p0", {"ann": 1}) == [Request("p0", "ann", 0)]
    p.summary("p1", {"ann": 5})
    p.summary("ann", {"ann": 5})
    p.summary("p2", {"ann": 5})
    shown["ann"] = 1
    assert p.answered("p0", "ann", 1) == ([Request("ann", "ann", 1)], None)


def test_answered_replans_with_the_next_peer_holding_more() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p1", {"ann": 3}) == [Request("p1", "ann", 0)]
    assert p.summary("p2", {"ann": 8}) == []
    shown["ann"] = 3  # p1's answer came
    assert p.answered("p1", "ann", 3) == ([Request("p2", "ann", 3)], None)
    assert p.asked_of("ann") == "p2"
    shown["ann"] = 8
    assert p.answered("p2", "ann", 8) == ([], None)
    assert p.idle


def test_answered_by_a_peer_not_asked_leaves_the_request_alone() -> None:
    shown = {"ann": 0}
    p = puller(shown)
    assert p.summary("p1", {"ann": 5}) == [Request("p1", "ann", 0)]
    p.summary("p2", {"ann": 5})
    assert p.answered("p2", "ann", 5) == ([], None)  # nor does it make us stop waiting
    assert p.asked_of("ann") == "p1"
    # the stray Skip did not count p2 as tried: when p1 lacks the gap, p2 is asked
    assert p.answered("p1", "ann", 5) == ([Request("p2", "ann", 0)], None)


def test_a_partial_answer_asks_the_same_peer_for_the_rest() -> None:
    # a full page ends below the peer's head: the Skip says how far it went, and the rest is
    # asked for next
    shown = {"ann": 0}
    p = puller(shown)
    p.summary("p1", {"ann": 9})
    shown["ann"] = 3
    assert p.answered("p1", "ann", 3) == ([Request("p1", "ann", 3)], None)


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
    assert p.answered("p1", "ann", 5) == ([], None)  # what it held went with it


def test_what_a_peer_told_goes_with_it() -> None:
    # a new link starts afresh: the old link's claims are not merged into the new one's
    shown = {"ann": 2}
    p = puller(shown)
    assert p.summary("p1", {"ann": 9}) == [Request("p1", "ann", 2)]
    assert p.gone("p1") == []
    assert p.summary("p1", {"ann": 4}) == [Request("p1", "ann", 2)]
    assert p.answered("p1", "ann", 9) == ([], 4)  # capped at the new link's claim, not 9


def test_an_author_never_heard_is_not_requested() -> None:
    p = puller({"ann": 0})
    assert p.summary("p1", {"ann": 3, "stranger": 9}) == [Request("p1", "ann", 0)]
    assert p.asked_of("stranger") is None
    assert p.seen("p1", "stranger", 12) == []
    assert p.answered("p1", "stranger", 9) == ([], None)


def test_the_nodes_own_id_is_never_requested() -> None:
    p = puller({"me": 0, "ann": 0}, me="me")  # even if its own log said it lacked some
    assert p.summary("p1", {"me": 7, "ann": 1}) == [Request("p1", "ann", 0)]
    assert p.seen("p1", "me", 9) == []
    assert p.answered("p1", "me", 7) == ([], None)
    assert p.asked_of("me") is None


def test_summaries_merge() -> None:
    # what a peer told before stands: per author, the most it ever claimed on this link
    shown = {"ann": 0, "bob": 0}
    p = puller(shown)
    assert p.summary("p1", {"ann": 5}) == [Request("p1", "ann", 0)]
    assert p.summary("p1", {"bob": 4}) == [Request("p1", "bob", 0)]  # ann's 5 stands
    assert p.summary("p1", {}) == []
    assert p.summary("p1", {"ann": 2}) == []  # less than before: the 5 stands
    shown["ann"] = 2
    # the answer's Skip is capped at the claim: 5, the most told (2 or nothing, had a summary
    # replaced the last, would leave no gap)
    assert p.answered("p1", "ann", 9) == ([], 5)
    shown["ann"] = 5  # the caller stopped waiting up to 5
    assert p.summary("p1", {"ann": 7}) == [Request("p1", "ann", 5)]  # more: asked again
    shown["bob"] = 4
    assert p.answered("p1", "bob", 4) == ([], None)


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
    assert p.answered("p1", "ann", 9) == ([], None)
    assert p.seen("p1", "ann", 7) == []
    assert p.idle


# -- gaps: a peer that lacks part of what it claimed -------------------------------------------


def test_a_gap_the_first_peer_lacks_is_asked_of_another_claiming_more() -> None:
    log = ChatLog("me")
    log.start_after("ann", 2)
    p = Puller("me", log.shown)
    assert p.summary("p1", {"ann": 10}) == [Request("p1", "ann", 2)]
    assert p.summary("p2", {"ann": 6}) == []
    assert p.summary("p3", {"ann": 2}) == []  # holds no more than we do: never asked
    for seq in range(5, 11):  # p1 sends 5-10: it lacks 3 and 4 (it gave up on them)
        assert log.receive(Chat("ann", seq, seq, "x", NOW, 0.0)) == []
    # not given up: p2 claims more than we show, so it may have 3 and 4
    assert p.answered("p1", "ann", 10) == ([Request("p2", "ann", 2)], None)
    assert p.asked_of("ann") == "p2"
    shown = []
    for seq in (3, 4):  # it had them
        shown += log.receive(Chat("ann", seq, seq, "x", NOW, 0.0))
    assert [c.seq for c in shown] == list(range(3, 11))
    assert p.answered("p2", "ann", 6) == ([], None)
    assert p.idle


def test_give_up_comes_only_after_every_claiming_peer_was_tried() -> None:
    shown = {"ann": 2}
    p = puller(shown)
    assert p.summary("p1", {"ann": 10}) == [Request("p1", "ann", 2)]
    p.summary("p2", {"ann": 8})
    p.summary("p3", {"ann": 6})
    p.summary("p4", {"ann": 2})
    # none has 3: each in turn, the one claiming most first; then, and only then, give up
    assert p.answered("p1", "ann", 10) == ([Request("p2", "ann", 2)], None)
    assert p.answered("p2", "ann", 8) == ([Request("p3", "ann", 2)], None)
    assert p.answered("p3", "ann", 6) == ([], 6)
    assert p.idle
    # the tried peers are forgotten with the gap: one that claims more later is asked again
    shown["ann"] = 10  # start_after(ann, 6) let the held 7-10 through
    assert p.summary("p1", {"ann": 12}) == [Request("p1", "ann", 10)]


def test_give_up_is_not_returned_while_another_peer_is_asked() -> None:
    shown = {"ann": 2}
    p = puller(shown)
    p.summary("p1", {"ann": 10})
    p.summary("p2", {"ann": 6})
    requests, give_up_to = p.answered("p1", "ann", 10)
    assert (requests, give_up_to) == ([Request("p2", "ann", 2)], None)
    # a Skip from a peer tried already, not asked now, is no answer
    assert p.answered("p1", "ann", 10) == ([], None)
    assert p.asked_of("ann") == "p2"


def test_upto_is_capped_at_what_the_peer_claimed() -> None:
    # a peer that claimed 5 cannot make us skip to 1000
    shown = {"ann": 2}
    p = puller(shown)
    assert p.summary("p1", {"ann": 5}) == [Request("p1", "ann", 2)]
    assert p.answered("p1", "ann", 1000) == ([], 5)
    # and once what it claimed has come, a Skip far beyond leaves no gap: nothing to give up
    assert p.summary("p1", {"ann": 9}) == [Request("p1", "ann", 2)]
    shown["ann"] = 9
    assert p.answered("p1", "ann", 1000) == ([], None)


def test_upto_is_capped_at_a_claim_made_by_a_live_message() -> None:
    shown = {"ann": 2}
    p = puller(shown)
    assert p.seen("ann", "ann", 7) == [Request("ann", "ann", 2)]
    assert p.answered("ann", "ann", 2**62) == ([], 7)


def test_a_closed_gap_forgets_the_tried_peers() -> None:
    # p1 lacked part of the gap; p2 filled the start of it. What p1 had it sent with its
    # answer: its claim is not believed past that until it says more.
    shown = {"ann": 2}
    p = puller(shown)
    p.summary("p1", {"ann": 10})
    p.summary("p2", {"ann": 4})
    assert p.answered("p1", "ann", 10) == ([Request("p2", "ann", 2)], None)
    shown["ann"] = 4  # p2 sent 3 and 4
    assert p.answered("p2", "ann", 4) == ([], None)
    assert p.summary("p1", {"ann": 10}) == [Request("p1", "ann", 4)]  # it says so again


def test_a_peer_that_claims_more_than_it_gives_is_not_asked_again_and_again() -> None:
    shown = {"friend": 7}
    p = puller(shown)
    assert p.summary("mallory", {"friend": 2**62}) == [Request("mallory", "friend", 7)]
    assert p.answered("mallory", "friend", 2**62) == ([], 2**62)  # the caller caps this
    assert p.again("friend") == []  # not asked again for what it did not give


def test_claims_about_authors_never_heard_are_not_kept() -> None:
    p = puller({"ann": 1})
    p.summary("mallory", {f"made-up-{i}": 10 for i in range(1000)})
    assert list(p._held["mallory"]) == []


def test_gone_lets_a_tried_peer_be_asked_again_later() -> None:
    shown = {"ann": 2}
    p = puller(shown)
    p.summary("p1", {"ann": 10})
    p.summary("p2", {"ann": 6})
    assert p.answered("p1", "ann", 10) == ([Request("p2", "ann", 2)], None)  # p1 tried
    assert p.gone("p1") == []  # p2 stays asked
    assert p.summary("p1", {"ann": 10}) == []  # linked again: waits its turn
    # p2 lacks the gap too: p1, on its new link, is not counted as tried any more
    assert p.answered("p2", "ann", 6) == ([Request("p1", "ann", 2)], None)
    assert p.answered("p1", "ann", 10) == ([], 10)


def test_a_tried_peer_stays_tried_while_it_is_linked() -> None:
    shown = {"ann": 2}
    p = puller(shown)
    p.summary("p1", {"ann": 10})
    p.summary("p2", {"ann": 6})
    assert p.answered("p1", "ann", 10) == ([Request("p2", "ann", 2)], None)
    assert p.gone("p3") == []  # someone else leaving changes nothing
    assert p.answered("p2", "ann", 6) == ([], 6)  # p1 is not asked twice for the same gap


def test_a_peer_that_let_a_request_time_out_is_asked_last_while_linked() -> None:
    """An attack: mallory claimed more of xavier than anyone, again and again, and never
    answered; each claim made it the one asked, and a gap of 10,000 lines stayed open. Once
    it lets a request time out, whoever else holds more is asked, every time."""
    shown = {"xavier": 100}
    p = puller(shown)
    assert p.summary("mallory", {"xavier": 2**61}) == [Request("mallory", "xavier", 100)]
    p.summary("bob", {"xavier": 5000})
    p.timed_out("mallory", "xavier")
    assert p.answered("mallory", "xavier", 100) == ([Request("bob", "xavier", 100)], None)
    shown["xavier"] = 1100  # bob sent a page
    assert p.answered("bob", "xavier", 1100) == ([Request("bob", "xavier", 1100)], None)
    assert p.summary("mallory", {"xavier": 2**61}) == []  # claims more again: bob stays
    shown["xavier"] = 5000
    assert p.answered("bob", "xavier", 5000) == ([Request("mallory", "xavier", 5000)], None)
    # Nobody else holds more: mallory is asked again, once, for what only it claims.
    assert p.answered("mallory", "xavier", 5000) == ([], 5000)
    p.gone("mallory")
    assert p.summary("mallory", {"xavier": 6000}) == [Request("mallory", "xavier", 5000)]


# -- three nodes -------------------------------------------------------------------------------


@dataclass
class Node:
    me: Identity
    log: ChatLog
    store: Store
    puller: Puller
    shown: list[Chat] = field(default_factory=list)  # other authors' messages, as shown
    asked: list[Request] = field(default_factory=list)  # by live messages, not yet answered
    gave_up: list[tuple[str, int]] = field(default_factory=list)  # (author, up to) not had

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
        b = seal(n.me, "user", said, ROOM)
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
    """``peer`` answers ``req`` from its store, ending with a Skip (as ``messaging._wanted``
    makes it); the asker takes it (as ``messaging.on_skip`` does)."""
    assert req.peer == peer.id
    batches = peer.store.after(req.author, req.after, page)
    head = peer.log.heads().get(req.author, 0)
    if batches and batches[-1].last < head and sum(len(b.items) for b in batches) >= page:
        head = batches[-1].last  # a full page: the asker asks again for the rest
    skip = max(head, req.after)
    for b in batches:
        asker.store.add(b, NOW)
        for chat in b.chats():
            asker.shown += asker.log.receive(chat)
    requests, give_up_to = asker.puller.answered(peer.id, req.author, skip)
    if give_up_to is not None:  # nobody has the rest of the gap: show what is here
        asker.gave_up.append((req.author, give_up_to))
        asker.shown += asker.log.start_after(req.author, give_up_to)
    return requests


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
        assert n.gave_up == []  # every gap was filled: nothing was given up


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


def lost(n: Node, author: Node, upto: int, *batches: Batch) -> None:
    """``n`` got ``batches`` of ``author`` live, then gave up waiting for the rest up to
    ``upto`` (nobody had it): its store and its head have a gap."""
    for b in batches:
        live(n, b)
    n.shown += n.log.start_after(author.id, upto)
    n.asked.clear()


def test_a_gap_the_member_asked_lacks_is_fetched_from_another() -> None:
    a, b, c, d = node(), node(), node(), node()
    meet(a, b, c, d)
    batches = say(a, 1, 1, 1, 1, 1, 1)
    for batch in batches[:2]:
        live(b, batch)  # b: 1-2
    lost(c, a, 4, *batches[:3], *batches[4:])  # c: 1-3 and 5-6, head 6: it lacks 4
    for batch in batches[:4]:
        live(d, batch)  # d: 1-4
    for n in (b, c, d):
        assert n.puller.gone(a.id) == []  # a is not there
    made = settle(b, c, d)
    # b asks c (it claims most), which lacks 4: then d, which claims more than b has shown
    b_asked = [r for asker, r in made if asker == b.id]
    assert b_asked == [Request(c.id, a.id, 2), Request(d.id, a.id, 3)]
    assert b.of(a) == said(a)  # in order, 4 included, nothing given up
    assert b.gave_up == []
    assert d.of(a) == said(a)  # d had 1-4: 5 and 6 came from c
    assert c.of(a) == [m for m in said(a) if m[0] != 4]  # c had already given up on 4


def test_a_gap_nobody_holds_is_given_up_after_all_claiming_were_asked() -> None:
    a, b, c, d = node(), node(), node(), node()
    meet(a, b, c, d)
    batches = say(a, 1, 1, 1, 1, 1, 1, 1)
    live(b, batches[0])  # b: 1
    lost(c, a, 4, *batches[:3], *batches[4:])  # c: 1-3 and 5-7, lacks 4
    lost(d, a, 4, *batches[:3], batches[4])  # d: 1-3 and 5, lacks 4
    for n in (b, c, d):
        assert n.puller.gone(a.id) == []  # a is not there: nobody has 4
    made = settle(b, c, d)
    b_asked = [r for asker, r in made if asker == b.id]
    assert b_asked == [Request(c.id, a.id, 1), Request(d.id, a.id, 3)]
    assert b.gave_up == [(a.id, 5)]  # after d, the last that claimed more, was asked
    # what did come is shown, in order, not dropped
    assert b.of(a) == [m for m in said(a) if m[0] != 4]
    assert b.log.shown(a.id) == 7
    assert d.of(a) == b.of(a)  # d fetched 6 and 7 from c: no gap left to give up
    assert d.gave_up == []


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


def test_a_question_is_answered_with_what_is_held_beyond_it() -> None:
    """A summary that does not name its sender asks after a few authors: those held further
    here are told, never the asker's own lines nor an author never heard of."""
    shown = {"alice": 8, "bob": 3, "carol": 5}.get
    asked = {"alice": 5, "bob": 3, "carol": 1, "dave": 0}
    assert beyond(asked, "carol", shown) == {"alice": 8}
    assert beyond({"alice": 9}, "carol", shown) == {}  # the asker holds more: no answer


def test_members_away_are_asked_about_a_few_at_a_time_in_turn() -> None:
    """Round 35: the 16 away members heard last could be keys that spoke after a member was cut
    off and stayed away; it was never asked about."""
    turns = Turns(2)
    assert turns.take(["k1", "k2", "bob"]) == ["k1", "k2"]
    assert turns.take(["k1", "k2", "bob"]) == ["bob", "k1"]
    assert turns.take(["k1", "k2", "bob"]) == ["k2", "bob"]
    assert turns.take(["k1"]) == ["k1"] and turns.take([]) == []
