"""peerchat.unstored: batches past a gap wait, bounded per author by messages and in all by
bytes; what is let go is said, so that the chat log lets go of the same messages."""

from __future__ import annotations

from peerchat.batch import Batch, room_tag, seal
from peerchat.chat import Chat
from peerchat.handshake import OPEN_ROOM
from peerchat.identity import Identity
from peerchat.unstored import Unstored

ROOM = room_tag("", "127.0.0.1:5000", OPEN_ROOM)  # an open room without a name

ANN, BOB = Identity.generate(), Identity.generate()


def batch(who: Identity, first: int, count: int, size: int = 10) -> Batch:
    said = [Chat(who.node_id, n, n, "x" * size, 0.0, 0.0) for n in range(first, first + count)]
    return seal(who, "someone", said, ROOM)


def test_a_batch_waits_until_all_of_it_is_shown() -> None:
    waiting = Unstored(per_author=100, max_bytes=1 << 20)
    b = batch(ANN, 5, 3)
    assert waiting.add(b) == []
    assert waiting.take_shown(ANN.node_id, 6) == []
    assert waiting.take_shown(ANN.node_id, 7) == [b]
    assert waiting.size == 0


def test_a_copy_of_a_waiting_batch_is_not_kept_twice() -> None:
    waiting = Unstored(per_author=100, max_bytes=1 << 20)
    b = batch(ANN, 5, 3)
    waiting.add(b)
    assert waiting.add(batch(ANN, 5, 3)) == []
    assert waiting.size == len(b.data)


def test_past_the_authors_messages_the_batch_is_let_go() -> None:
    waiting = Unstored(per_author=4, max_bytes=1 << 20)
    assert waiting.add(batch(ANN, 5, 3)) == []
    assert waiting.add(batch(ANN, 8, 2)) == [(ANN.node_id, 8)]
    assert waiting.add(batch(BOB, 8, 2)) == []  # another author's count is its own


def test_past_the_bytes_in_all_the_largest_authors_latest_goes() -> None:
    small, large = batch(BOB, 5, 1), batch(ANN, 5, 1, size=400)
    later = batch(ANN, 9, 1, size=400)
    waiting = Unstored(per_author=100, max_bytes=len(small.data) + len(large.data) + 100)
    waiting.add(small)
    waiting.add(later)
    assert waiting.add(large) == [(ANN.node_id, 9)]  # not bob's, though his came first
    assert waiting.size == len(small.data) + len(large.data)
    assert waiting.take_shown(ANN.node_id, 9) == [large]


def test_forget_lets_all_of_an_author_go() -> None:
    waiting = Unstored(per_author=100, max_bytes=1 << 20)
    waiting.add(batch(ANN, 5, 3))
    kept = batch(BOB, 5, 3)
    waiting.add(kept)
    waiting.forget(ANN.node_id)
    assert waiting.size == len(kept.data)
    assert waiting.take_shown(ANN.node_id, 100) == []


def test_another_batch_at_a_waiting_number_lets_both_go_and_later_ones_too() -> None:
    """An attacker's run: a second batch at a waiting number, with more and larger messages,
    was taken for a copy, while the chat log held its messages, unbounded by bytes."""
    waiting = Unstored(per_author=100, max_bytes=1 << 20)
    first, later = batch(ANN, 5, 1), batch(ANN, 9, 2)
    waiting.add(first)
    waiting.add(later)
    assert waiting.add(batch(ANN, 5, 3, size=500)) == [(ANN.node_id, 5)]
    assert waiting.size == 0


def test_a_batch_over_the_authors_count_lets_the_later_waiting_ones_go_with_it() -> None:
    """A review: refused alone, an earlier batch left later ones waiting whose messages the
    chat log let go (from that number on), using up the author's count."""
    waiting = Unstored(per_author=8, max_bytes=1 << 20)
    early, late = batch(ANN, 20, 4), batch(ANN, 30, 4)
    waiting.add(early)
    waiting.add(late)
    assert waiting.add(batch(ANN, 10, 2)) == [(ANN.node_id, 10)]
    assert waiting.size == 0
    assert waiting.add(batch(ANN, 25, 2)) == []
