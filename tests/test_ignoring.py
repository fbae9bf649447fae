"""peerchat.ignoring: whose words and offers stay off the screen, by key, kept over a restart."""

from __future__ import annotations

from pathlib import Path

from peerchat import events
from peerchat.ignoring import MAX_IGNORED, UNSAID, Ignored
from peerchat.membership import Member
from peerchat.store import MEMORY, Store

BOB = Member("b0b" * 5, "bob", "10.0.0.2", 5001, 0)
CAROL = Member("ca401" * 3, "carol", "10.0.0.3", 5002, 0)


def hidden(ignored: Ignored, event: events.Event) -> bool:
    return ignored.shown(event) is None


def said(sender: Member, *, own: bool = False) -> events.MessageReceived:
    return events.MessageReceived(sender, 1, 1, "hi", 0.0, 0.0, 0.0, own)


def test_words_typing_and_offers_of_one_ignored_are_hidden_and_nothing_else() -> None:
    ignored = Ignored(Store(MEMORY))
    assert ignored.add(BOB.node_id, BOB.username)
    assert hidden(ignored, said(BOB))
    assert hidden(ignored, events.Typing(BOB))
    assert hidden(ignored, events.FileOffered(BOB, 1, "f.txt", 3))
    assert hidden(ignored, events.OfferWithdrawn(1, "f.txt", BOB))  # (a review: its offer was
    assert not hidden(ignored, events.OfferWithdrawn(2, "mine.txt"))  # never shown)
    assert not hidden(ignored, said(CAROL))
    # The list on the screen stays true: who comes, goes and takes a name is still told.
    assert not hidden(ignored, events.PeerJoined(BOB))
    assert not hidden(ignored, events.PeerLeft(BOB, "quit"))
    # Not its goodbye's own words, though (attack round 28: 200 characters each time it left).
    left = ignored.shown(events.PeerLeft(BOB, "quit: BUY CHEAP WATCHES", said=True))
    assert left == events.PeerLeft(BOB, UNSAID, said=True)
    assert not hidden(ignored, events.Renamed(BOB, "bobby"))
    ignored.remove(BOB.node_id)
    assert not hidden(ignored, said(BOB))


def test_a_rename_keeps_the_ignore_and_the_list_shows_the_new_name(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        ignored = Ignored(store)
        ignored.add(CAROL.node_id, CAROL.username)
        ignored.add(BOB.node_id, BOB.username)
        robert = Member(BOB.node_id, "robert", BOB.host, BOB.port, 0)
        hidden(ignored, events.Renamed(robert, "bob"))
        assert hidden(ignored, said(robert))
    with Store(tmp_path) as store:  # a restart
        again = Ignored(store)
        assert again.names() == ["carol", "robert"]
        assert again.named("ROBERT") == BOB.node_id and again.named("bob") is None
        assert again.remove(BOB.node_id) == "robert"
    with Store(tmp_path) as store:
        assert Ignored(store).names() == ["carol"]


def test_the_list_is_bounded() -> None:
    ignored = Ignored(Store(MEMORY))
    for n in range(MAX_IGNORED):
        assert ignored.add(f"{n:032x}", f"m{n}")
    assert not ignored.add(BOB.node_id, BOB.username)
    assert ignored.add(f"{0:032x}", "renamed")  # one already in
    assert len(ignored.names()) == MAX_IGNORED
