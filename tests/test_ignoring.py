"""peerchat.ignoring: whose words and offers stay off the screen, by key, kept over a restart."""

from __future__ import annotations

from pathlib import Path

from peerchat import events
from peerchat.ignoring import MAX_IGNORED, Ignored
from peerchat.membership import Member
from peerchat.store import MEMORY, Store

BOB = Member("b0b" * 5, "bob", "10.0.0.2", 5001, 0)
CAROL = Member("ca401" * 3, "carol", "10.0.0.3", 5002, 0)


def said(sender: Member, *, own: bool = False) -> events.MessageReceived:
    return events.MessageReceived(sender, 1, 1, "hi", 0.0, 0.0, 0.0, own)


def test_words_typing_and_offers_of_one_ignored_are_hidden_and_nothing_else() -> None:
    ignored = Ignored(Store(MEMORY))
    assert ignored.add(BOB.node_id, BOB.username)
    assert ignored.hides(said(BOB))
    assert ignored.hides(events.Typing(BOB))
    assert ignored.hides(events.FileOffered(BOB, 1, "f.txt", 3))
    assert ignored.hides(events.OfferWithdrawn(1, "f.txt", BOB))  # (a review: its offer was
    assert not ignored.hides(events.OfferWithdrawn(2, "mine.txt"))  # never shown)
    assert not ignored.hides(said(CAROL))
    # The list on the screen stays true: who comes, goes and takes a name is still told.
    assert not ignored.hides(events.PeerJoined(BOB))
    assert not ignored.hides(events.PeerLeft(BOB, "quit"))
    assert not ignored.hides(events.Renamed(BOB, "bobby"))
    ignored.remove(BOB.node_id)
    assert not ignored.hides(said(BOB))


def test_a_rename_keeps_the_ignore_and_the_list_shows_the_new_name(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        ignored = Ignored(store)
        ignored.add(CAROL.node_id, CAROL.username)
        ignored.add(BOB.node_id, BOB.username)
        robert = Member(BOB.node_id, "robert", BOB.host, BOB.port, 0)
        ignored.hides(events.Renamed(robert, "bob"))
        assert ignored.hides(said(robert))
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
