"""peerchat.membership: the member table and the Bully rank."""

from __future__ import annotations

import dataclasses

import pytest

from peerchat.membership import (
    Member,
    MemberTable,
    may_take,
    takeable,
    valid_username,
    why_not_takeable,
)


def member(node_id: str, priority: int = 0, username: str | None = None) -> Member:
    return Member(node_id, username or f"user-{node_id}", "127.0.0.1", 4000 + priority, priority)


def test_add_returns_true_once() -> None:
    table = MemberTable()
    assert table.add(member("a")) is True
    assert table.add(member("a")) is False
    assert len(table) == 1


def test_add_again_updates_the_record() -> None:
    table = MemberTable()
    table.add(member("a", username="old"))
    assert table.add(member("a", username="new")) is False
    assert table.get("a") == member("a", username="new")


def test_two_nodes_that_list_the_same_room_have_the_same_digest() -> None:
    mine, theirs = MemberTable(), MemberTable()
    for node_id in ("b", "c"):
        mine.add(member(node_id))
    for node_id in ("c", "a"):  # another order, and each table lacks its own node
        theirs.add(member(node_id))
    assert mine.digest("a") == theirs.digest("b")
    assert len(mine.digest("a")) == 8


def test_the_digest_changes_with_the_room_and_only_with_it() -> None:
    table = MemberTable()
    table.add(member("b"))
    before = table.digest("a")
    table.add(member("b", username="renamed"))  # the same member again
    assert table.digest("a") == before
    table.add(member("c"))
    with_c = table.digest("a")
    assert with_c != before
    table.remove("c")
    assert table.digest("a") == before
    assert table.digest("z") != before  # seen from another node: another room


def test_remove() -> None:
    table = MemberTable()
    table.add(member("a"))
    table.add(member("b"))
    assert table.remove("a") == member("a")
    assert "a" not in table and "b" in table
    assert table.get("a") is None
    assert len(table) == 1
    assert table.remove("a") is None  # twice is harmless
    assert table.remove("never") is None


def test_add_after_remove_is_new_again() -> None:
    table = MemberTable()
    table.add(member("a"))
    table.remove("a")
    assert table.add(member("a")) is True


def test_iteration_survives_removal_while_iterating() -> None:
    table = MemberTable()
    for node_id in "abc":
        table.add(member(node_id))
    for m in table:
        table.remove(m.node_id)
    assert len(table) == 0


def test_contains_and_get() -> None:
    table = MemberTable()
    table.add(member("a", 3))
    assert "a" in table
    assert "z" not in table
    assert table.get("a") == member("a", 3)
    assert table.get("z") is None


def test_rank_is_priority_then_node_id() -> None:
    assert member("b", 5).rank == (5, "b")
    assert member("z", 1).rank < member("a", 2).rank  # priority first
    assert member("a", 2).rank < member("b", 2).rank  # then node id


def test_higher_than_orders_by_priority_then_node_id() -> None:
    table = MemberTable()
    for m in [member("a", 1), member("b", 5), member("c", 5), member("d", 9), member("e", 3)]:
        table.add(m)
    assert {m.node_id for m in table.higher_than((5, "b"))} == {"c", "d"}
    assert {m.node_id for m in table.higher_than((5, "c"))} == {"d"}
    assert {m.node_id for m in table.higher_than((4, "zzz"))} == {"b", "c", "d"}
    assert {m.node_id for m in table.higher_than((0, ""))} == {"a", "b", "c", "d", "e"}
    assert table.higher_than((9, "d")) == []
    assert table.higher_than((10, "")) == []


def test_higher_than_ties_broken_by_node_id() -> None:
    table = MemberTable()
    for node_id in ["n1", "n3", "n2", "n5"]:
        table.add(member(node_id, 7))
    assert sorted(m.node_id for m in table.higher_than((7, "n2"))) == ["n3", "n5"]
    assert table.higher_than((7, "n5")) == []


def test_higher_than_excludes_equal_rank() -> None:
    table = MemberTable()
    table.add(member("a", 1))
    assert table.higher_than(member("a", 1).rank) == []


def test_member_addr() -> None:
    assert Member("x", "u", "10.1.2.3", 5000, 1).addr == "10.1.2.3:5000"


def test_member_is_frozen_and_hashable() -> None:
    m = member("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.priority = 99  # type: ignore[misc]
    assert {m, member("a")} == {m}


@pytest.mark.parametrize(
    ("name", "ok"),
    [("alice", True), ("x" * 32, True), ("é😀", True), ("", False), ("x" * 33, False),
     ("two words", False), ("tab\there", False), ("bell\a", False)],
)  # fmt: skip
def test_valid_username(name: str, ok: bool) -> None:
    assert valid_username(name) is ok
    assert takeable(name) is ok  # the same, but for the key's mark


@pytest.mark.parametrize(
    "name",
    ["\u3164", "\u115f\u1160", "\u034f", "\ufe0f", "\u2800", "\u115fx", "x\u3164", "x\u3164\u0301"],
)
def test_a_name_that_draws_nothing_is_not_to_take(name: str) -> None:
    """Attack round 25: a member went by a Hangul filler alone, its lines read "<  > hi"."""
    assert not takeable(name)
    assert "draws nothing" in why_not_takeable(name)


@pytest.mark.parametrize("name", ["\u0f0b", "x\u0301", "💬", "-", "李"])
def test_a_name_with_anything_that_shows_is_to_take(name: str) -> None:
    assert takeable(name)


def test_a_name_with_the_mark_of_a_key_is_valid_on_the_wire_but_not_to_take() -> None:
    """Lines said under such a name before still open (a review: a store holding one kept
    the node from starting); nobody may take one now."""
    for name in ("bob~2baef1", "~"):
        assert valid_username(name) and not takeable(name)


@pytest.mark.parametrize("name", ["@ops", "/quit", "+voice", "%half", "&chan", "#dev"])
def test_a_name_that_begins_as_a_command_or_an_irc_status_is_not_to_take(name: str) -> None:
    """Trial 69: "@ops" read as a channel operator, and "/msg /quit hi" as two commands. A
    member of an older version may go by one still (review 66: the room was split over it)."""
    assert takeable(name) and not may_take(name)
    assert may_take("ops@home") and may_take("c++")  # inside a name, they are fine
