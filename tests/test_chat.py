"""peerchat.chat: numbering, Lamport time, de-duplication and per-sender hold-back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peerchat import batch
from peerchat.chat import MAX_LAMPORT, Chat, ChatLog


def chat(sender: str, seq: int, lamport: int | None = None, text: str | None = None) -> Chat:
    return Chat(
        sender, seq, seq if lamport is None else lamport, text or f"{sender}{seq}", 0.0, 0.0
    )


def seqs(messages: list[Chat]) -> list[int]:
    return [m.seq for m in messages]


def fresh(sender: str = "bob", after: int = 0, held_back: int = 1024) -> ChatLog:
    log = ChatLog("me", held_back=held_back)
    log.start_after(sender, after)
    return log


# -- compose ----------------------------------------------------------------------------------


def test_compose_numbers_one_two_three() -> None:
    log = ChatLog("me")
    sent = [log.compose(f"m{i}", wall=100.0 + i, mono=5.0 + i) for i in range(3)]
    assert [m.seq for m in sent] == [1, 2, 3]
    assert [m.lamport for m in sent] == [1, 2, 3]
    assert all(m.sender == "me" for m in sent)
    assert sent[1] == Chat("me", 2, 2, "m1", 101.0, 6.0)
    assert (log.seq, log.clock) == (3, 3)


def test_compose_after_receive_is_later_in_lamport_time() -> None:
    log = fresh()
    log.receive(chat("bob", 1, lamport=40))
    mine = log.compose("reply", 0.0, 0.0)
    assert mine.seq == 1
    assert mine.lamport == 42  # receive made it 41, compose ticks once more
    assert mine.lamport > 40


# -- receive ----------------------------------------------------------------------------------


def test_receive_in_order() -> None:
    log = fresh()
    for i in range(1, 6):
        assert seqs(log.receive(chat("bob", i))) == [i]


def test_first_message_from_an_unknown_sender_is_shown() -> None:
    # Without a hello's start_after, the first message seen sets where the sender starts.
    log = ChatLog("me")
    assert seqs(log.receive(chat("bob", 7))) == [7]
    assert seqs(log.receive(chat("bob", 8))) == [8]


def test_duplicates_dropped() -> None:
    log = fresh()
    assert seqs(log.receive(chat("bob", 1))) == [1]
    assert log.receive(chat("bob", 1)) == []
    assert seqs(log.receive(chat("bob", 2))) == [2]
    assert log.receive(chat("bob", 1)) == []
    assert log.receive(chat("bob", 2)) == []


def test_duplicate_of_a_held_back_message_dropped() -> None:
    log = fresh()
    assert log.receive(chat("bob", 3)) == []
    assert log.receive(chat("bob", 3)) == []
    assert log.receive(chat("bob", 2)) == []
    assert seqs(log.receive(chat("bob", 1))) == [1, 2, 3]  # 3 exactly once


def test_out_of_order_held_back_then_released_in_order() -> None:
    log = fresh()
    assert seqs(log.receive(chat("bob", 1))) == [1]
    assert log.receive(chat("bob", 4)) == []
    assert log.receive(chat("bob", 3)) == []
    assert log.receive(chat("bob", 6)) == []
    released = log.receive(chat("bob", 2))
    assert seqs(released) == [2, 3, 4]
    assert [m.text for m in released] == ["bob2", "bob3", "bob4"]
    assert seqs(log.receive(chat("bob", 5))) == [5, 6]
    assert seqs(log.receive(chat("bob", 7))) == [7]


def test_reverse_order_released_all_at_once() -> None:
    log = fresh()
    for i in range(10, 1, -1):
        assert log.receive(chat("bob", i)) == []
    assert seqs(log.receive(chat("bob", 1))) == list(range(1, 11))


def test_start_after_skips_older_numbers() -> None:
    log = fresh(after=5)
    assert seqs(log.receive(chat("bob", 6))) == [6]


def test_message_at_or_below_start_after_is_a_duplicate() -> None:
    log = fresh(after=5)
    assert log.receive(chat("bob", 5)) == []
    assert log.receive(chat("bob", 1)) == []
    assert log.receive(chat("bob", 8)) == []  # 6 and 7 are owed
    assert seqs(log.receive(chat("bob", 6))) == [6]
    assert seqs(log.receive(chat("bob", 7))) == [7, 8]


def test_start_after_never_moves_back() -> None:
    log = fresh(after=5)
    log.start_after("bob", 2)
    assert log.receive(chat("bob", 3)) == []
    assert seqs(log.receive(chat("bob", 6))) == [6]


def test_start_after_later_than_shown() -> None:
    # A new connection's hello says messages 2 and 3 went out before it: stop waiting for them.
    log = fresh()
    assert seqs(log.receive(chat("bob", 1))) == [1]
    log.start_after("bob", 3)
    assert log.receive(chat("bob", 2)) == []
    assert seqs(log.receive(chat("bob", 4))) == [4]


def test_start_after_that_fills_a_gap_loses_no_held_message() -> None:
    log = fresh()
    shown = seqs(log.receive(chat("bob", 1)))
    shown += seqs(log.receive(chat("bob", 3)))  # held back: 2 is missing
    shown += seqs(log.start_after("bob", 2))  # 2 will never come: 3 is next in line
    shown += seqs(log.receive(chat("bob", 4)))
    shown += seqs(log.receive(chat("bob", 3)))  # a late duplicate of 3 must not count
    assert shown == [1, 3, 4]


def test_start_after_beyond_held_messages_shows_them() -> None:
    log = fresh(held_back=2)
    assert log.receive(chat("bob", 3)) == []
    assert log.receive(chat("bob", 4)) == []
    assert seqs(log.start_after("bob", 10)) == [3, 4]  # they came: shown, not dropped
    assert log.shown("bob") == 10
    assert log.receive(chat("bob", 4)) == []  # shown already: a duplicate now
    assert log.receive(chat("bob", 12)) == []  # one message held for the gap at 11
    assert seqs(log.receive(chat("bob", 11))) == [11, 12]


def test_held_messages_below_the_start_point_are_returned_in_order() -> None:
    log = fresh()
    assert seqs(log.receive(chat("bob", 1))) == [1]
    for i in (9, 4, 7, 3, 12, 11, 6):  # arriving out of order, around gaps at 2, 5, 8 and 10
        assert log.receive(chat("bob", i)) == []
    released = log.start_after("bob", 8)
    # those up to 8 first, in order; then 9, now next in line; 11 and 12 wait for 10
    assert seqs(released) == [3, 4, 6, 7, 9]
    assert all(m.sender == "bob" for m in released)
    assert [m.text for m in released] == [f"bob{i}" for i in (3, 4, 6, 7, 9)]
    assert log.shown("bob") == 9
    assert seqs(log.receive(chat("bob", 10))) == [10, 11, 12]
    for i in (2, 3, 5, 8, 9, 12):  # late or repeated: none is shown twice
        assert log.receive(chat("bob", i)) == []


def test_start_after_exactly_at_the_last_held_message() -> None:
    log = fresh()
    for i in (5, 3):
        log.receive(chat("bob", i))
    assert seqs(log.start_after("bob", 5)) == [3, 5]
    assert log.shown("bob") == 5
    assert seqs(log.receive(chat("bob", 6))) == [6]


def test_start_after_with_nothing_held_returns_nothing() -> None:
    log = fresh()
    log.receive(chat("bob", 1))
    assert log.start_after("bob", 4) == []
    assert log.shown("bob") == 4
    assert log.start_after("carol", 3) == []  # a sender never heard: owed from 4 on
    assert log.shown("carol") == 3


def test_start_after_not_past_what_is_shown_releases_nothing() -> None:
    log = fresh()
    for i in (1, 2, 3):
        log.receive(chat("bob", i))
    log.receive(chat("bob", 6))  # held: 4 and 5 missing
    assert log.start_after("bob", 3) == []
    assert log.start_after("bob", 1) == []
    assert log.shown("bob") == 3
    assert seqs(log.start_after("bob", 4)) == []  # 5 still missing: 6 stays held
    assert seqs(log.receive(chat("bob", 5))) == [5, 6]


def test_two_senders_are_independent() -> None:
    log = fresh("bob")
    log.start_after("carol", 0)
    assert log.receive(chat("bob", 2)) == []
    assert seqs(log.receive(chat("carol", 1))) == [1]
    assert seqs(log.receive(chat("carol", 2))) == [2]
    assert log.receive(chat("carol", 2)) == []
    released = log.receive(chat("bob", 1))
    assert [(m.sender, m.seq) for m in released] == [("bob", 1), ("bob", 2)]
    assert log.receive(chat("carol", 4)) == []
    assert seqs(log.receive(chat("bob", 3))) == [3]


def test_let_go_drops_held_messages_from_a_number_on_and_they_are_taken_again() -> None:
    log = fresh()
    for n in (3, 4, 5):
        assert log.receive(chat("bob", n)) == []
    log.let_go("bob", 4)
    assert log.held_top("bob") == 3
    assert seqs(log.receive(chat("bob", 1))) == [1]
    assert log.start_after("bob", 10) == [chat("bob", 3)]  # a skip stops at what was let go
    assert log.receive(chat("bob", 2)) == []  # the skip said it will never come
    assert seqs(log.receive(chat("bob", 4))) == [4]  # fetched again


def test_forget_drops_held_messages() -> None:
    log = fresh()
    assert log.receive(chat("bob", 2)) == []
    log.forget("bob")
    assert seqs(log.receive(chat("bob", 1))) == [1]  # 2 is gone with the old connection


# -- Lamport ----------------------------------------------------------------------------------


def test_lamport_is_max_plus_one_on_receive() -> None:
    log = fresh()
    log.start_after("carol", 0)
    log.receive(chat("bob", 1, lamport=10))
    assert log.clock == 11
    log.receive(chat("carol", 1, lamport=3))  # older than ours: still ticks
    assert log.clock == 12
    log.receive(chat("carol", 2, lamport=12))
    assert log.clock == 13


def test_lamport_advances_for_held_back_and_duplicate_messages() -> None:
    log = fresh()
    log.receive(chat("bob", 5, lamport=50))  # held back
    assert log.clock == 51
    log.receive(chat("bob", 5, lamport=50))  # duplicate
    assert log.clock == 52


def test_own_clock_runs_ahead_of_everything_seen() -> None:
    log = fresh()
    for i, lamport in enumerate([7, 3, 100, 2], start=1):
        log.receive(chat("bob", i, lamport=lamport))
    assert log.compose("x", 0.0, 0.0).lamport > 100


# -- overflow ---------------------------------------------------------------------------------


def test_holding_exactly_held_back_is_fine() -> None:
    log = fresh(held_back=3)
    for i in (2, 3, 4):
        assert log.receive(chat("bob", i)) == []
    assert seqs(log.receive(chat("bob", 1))) == [1, 2, 3, 4]


def test_a_gap_holding_more_than_held_back_drops_the_latest_not_the_link() -> None:
    log = fresh(held_back=3)
    for i in (2, 3, 4, 5, 6):
        assert log.receive(chat("bob", i)) == []
    # 5 and 6 were dropped (to be fetched again): the gap's filling releases up to 4 only.
    assert seqs(log.receive(chat("bob", 1))) == [1, 2, 3, 4]
    assert seqs(log.receive(chat("bob", 5))) == [5]


def test_held_back_is_per_sender() -> None:
    log = fresh(held_back=2)
    log.start_after("carol", 0)
    for i in (2, 3, 4):
        log.receive(chat("carol", i))
    for i in (2, 3):
        log.receive(chat("bob", i))
    assert seqs(log.receive(chat("bob", 1))) == [1, 2, 3]
    assert seqs(log.receive(chat("carol", 1))) == [1, 2, 3]


def test_duplicate_of_held_message_does_not_overflow() -> None:
    log = fresh(held_back=2)
    log.receive(chat("bob", 2))
    log.receive(chat("bob", 3))
    for _ in range(5):
        assert log.receive(chat("bob", 3)) == []


@pytest.mark.parametrize("lamport", [MAX_LAMPORT, MAX_LAMPORT + 1, batch.MAX_LAMPORT])
def test_our_clock_follows_a_lamport_time_no_higher_than_the_limit(lamport: int) -> None:
    """A peer that sends a huge Lamport time cannot push our clock to where the others would
    refuse our messages (an attacker's one line used to split the room for good)."""
    log = ChatLog("me")
    log.start_after("bob", 0)
    huge = Chat("bob", 1, lamport, "x", 0.0, 0.0)
    assert log.receive(huge) == [huge]
    assert log.clock == MAX_LAMPORT + 1
    assert log.compose("mine", 0.0, 0.0).lamport == MAX_LAMPORT + 2 < batch.MAX_LAMPORT
    log.restore("bob", 1, batch.MAX_LAMPORT)  # nor can one kept in the store, after a restart
    assert log.clock == MAX_LAMPORT + 2


# -- sent_after and shown ---------------------------------------------------------------------


def test_numbers_continue_after_a_restart_from_the_given_source() -> None:
    handed = iter([1001, 1002])
    log = ChatLog("me", last_seq=37, numbers=lambda: next(handed))
    assert log.heads() == {"me": 37}
    assert [log.compose("x", 0.0, 0.0).seq for _ in range(2)] == [1001, 1002]
    assert log.heads() == {"me": 1002}


def test_restore_sets_what_was_shown_and_the_clock() -> None:
    log = ChatLog("me")
    log.restore("bob", 12, lamport=80)
    log.restore("me", 99, lamport=3)  # our own number comes from the counter, not the store
    assert log.heads() == {"bob": 12, "me": 0}
    assert log.receive(chat("bob", 12)) == []  # already here
    assert seqs(log.receive(chat("bob", 13, lamport=1))) == [13]
    assert log.clock == 82  # 80 restored, then one tick per message received


def test_heads_are_in_the_order_their_senders_moved_on_ours_last() -> None:
    """A summary that holds only so many keeps the latest: ranked by number, keys that spoke
    once at 2^61 pushed out an author that had left (attack round 34)."""
    log = ChatLog("me")
    log.restore("old", 5, lamport=1)
    log.restore("bob", 3, lamport=2)
    log.receive(chat("key", 2**61))
    log.receive(chat("old", 6))
    log.receive(chat("bob", 5))  # held behind a gap: not moved on
    assert list(log.heads()) == ["bob", "key", "old", "me"]
    log.receive(chat("bob", 4))  # the gap filled: bob moves on
    assert list(log.heads()) == ["key", "old", "bob", "me"]
    log.start_after("key", 2**61 + 5)
    assert list(log.heads()) == ["old", "bob", "key", "me"]


def test_shown_is_none_for_a_sender_never_heard() -> None:
    log = ChatLog("me")
    assert log.shown("bob") is None
    log.receive(chat("carol", 1))
    assert log.shown("bob") is None


def test_shown_is_the_last_in_order_number() -> None:
    log = fresh()
    assert log.shown("bob") == 0
    log.receive(chat("bob", 1))
    assert log.shown("bob") == 1
    log.receive(chat("bob", 3))  # held back behind 2
    assert log.shown("bob") == 1
    log.receive(chat("bob", 2))
    assert log.shown("bob") == 3


def test_shown_after_start_after() -> None:
    log = ChatLog("me")
    log.start_after("bob", 7)
    assert log.shown("bob") == 7
    log.receive(chat("bob", 9))
    assert seqs(log.start_after("bob", 8)) == [9]  # lets the held 9 through
    assert log.shown("bob") == 9
    log.start_after("bob", 4)  # never moves back
    assert log.shown("bob") == 9


def test_shown_unchanged_by_forget() -> None:
    log = fresh()
    log.receive(chat("bob", 1))
    log.receive(chat("bob", 3))
    log.forget("bob")
    assert log.shown("bob") == 1


def test_gapped_names_senders_held_behind_a_gap_or_let_go() -> None:
    log = ChatLog("me", held_back=1)
    log.receive(chat("ann", 1))
    log.receive(chat("bob", 1))
    log.receive(chat("bob", 3))  # held behind 2
    log.receive(chat("cat", 1))
    log.receive(chat("cat", 3))  # held behind 2
    log.receive(chat("cat", 4))  # past the one held back: let go, fetched again
    assert log.gapped() == {"bob", "cat"}
    log.receive(chat("bob", 2))
    assert log.gapped() == {"cat"}


def test_a_sender_forgotten_altogether_is_as_one_never_heard() -> None:
    log = ChatLog("me")
    log.receive(chat("bob", 1))
    log.receive(chat("bob", 3))
    log.forget_all_of("bob")
    assert log.shown("bob") is None and "bob" not in log.heads() and log.authors == 1
    assert seqs(log.receive(chat("bob", 5))) == [5]  # a new sender's line: shown


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["receive", "let_go", "start_after", "forget"]), st.integers(1, 40)
        ),
        max_size=80,
    ),
    st.integers(2, 12),
)
def test_held_top_is_the_highest_held_whatever_came_and_went(
    steps: list[tuple[str, int]], held_back: int
) -> None:
    """The highest held is kept as messages come and go, not searched for on each old batch:
    it must be what a search would find after any mix of arrivals, releases and let-gos."""
    log = fresh(held_back=held_back)
    for op, n in steps:
        if op == "receive":
            log.receive(chat("bob", n))
        elif op == "let_go":
            log.let_go("bob", n)
        elif op == "start_after":
            log.start_after("bob", n)
        else:
            log.forget("bob")
        held = log._held.get("bob")
        assert log.held_top("bob") == (max(held) if held else None)
