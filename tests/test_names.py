"""peerchat.names: which names look alike, and how a name is shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peerchat import names
from peerchat.names import (
    FINGERPRINT,
    NOTICE_WORDS,
    looks,
    needs_fingerprint,
    shown_name,
    skeleton,
)


@pytest.mark.parametrize(
    "other",
    [
        *(
            "Bob",
            "BOB",
            "b0b",
            "B0B",
            "ｂｏｂ",
            "b\u043eb",
            "\u0412\u041e\u0412",
            "\u0392\u039f\u0392",
        ),
        # From an attacker's run: other scripts, a dot above, and letters that draw nothing
        *("b\u0585b", "b\u1d0fb", "b\u022fb", "\u044cob", "b\u0e4fb"),
        *("bo\u034fb", "b\u115fob", "bo\u3164b", "bob\u17b5", "bo\u200bb"),
        "b\u043eb" + "\u302e" * 29,  # spacing marks (attack round 45)
    ],
)
def test_names_that_pass_for_each_other_have_one_skeleton(other: str) -> None:
    assert skeleton(other) == skeleton("bob")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("will", "wi11"),
        ("modern", "modem"),
        ("clean", "dean"),
        ("carol", "c4rol"),
        ("carol", "carol."),
        ("carol", "carol,"),
        ("alice", ".alice"),
        ("alice", "alice-"),
        ("bob", "b.o.b"),
        ("clara", "c.lara"),
        ("bernie", "b.e.r.n.i.e"),
        ("peter", "p3t3r"),
    ],
)
def test_ascii_look_alikes_fold_together(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


def test_different_names_keep_different_skeletons() -> None:
    assert skeleton("alice") != skeleton("bob")
    assert skeleton("bob") != skeleton("bobby")


def test_a_name_after_an_irc_status_mark_reads_as_the_name_and_as_itself() -> None:
    """Review 67: "@bob" of an older version beside bob got "/msg @bob"; review 68: read past
    alone, the mark let "@lice" in beside alice, as "@" reads as an "a" too."""
    assert skeleton("bob") in looks("@bob") and skeleton("bob") in looks("+bob")
    assert skeleton("alice") in looks("@lice")
    assert skeleton("alice") in looks("@+alice") and skeleton("alice") in looks("@@lice")
    assert looks("@") == {skeleton("@")}
    # Every other check of two names reads past the marks (review 69: "@carol" and "+carol"
    # were let in while carol was away, as they were compared by skeleton alone)
    assert skeleton("@carol") == skeleton("+carol") == skeleton("@+carol") == skeleton("carol")
    assert looks("@bob").isdisjoint(looks("rob"))
    assert len({skeleton(f"user{digit}") for digit in range(10)}) == 10  # numbered, as bots are
    # A review: where marks are vowels, dropping them made different names one
    assert skeleton("\u0930\u093e\u091c\u0942") != skeleton("\u0930\u093e\u091c")  # Raju, Raj
    assert skeleton("\u0e1b\u0e34\u0e48\u0e19") != skeleton("\u0e1b\u0e19")


def test_a_name_outside_ascii_is_shown_with_its_keys_fingerprint() -> None:
    node_id = "ab12cd34" * 4
    cyrillic = "b\u043eb"  # a Cyrillic "o": looks like "bob" (and folds onto it)
    assert needs_fingerprint(cyrillic)
    assert shown_name(cyrillic, node_id) == f"{cyrillic}~{node_id[:FINGERPRINT]}"
    assert shown_name("bob", node_id) == "bob"


@pytest.mark.parametrize("name", ["tracker", "You", "y0u", "nobody", "3", "40"])
def test_a_name_that_could_begin_a_line_of_the_program_is_shown_with_its_fingerprint(
    name: str,
) -> None:
    """Attack round 18: a member called "tracker" said "/me is now mallory (127.0.0.1:5871)",
    and a newcomer's history showed "* tracker is now mallory ...", word for word a notice."""
    assert needs_fingerprint(name)
    assert shown_name(name, "ab" * 16) == f"{name}~{'ab' * 5}"
    assert not needs_fingerprint("alice") and not needs_fingerprint("you2")


def test_every_word_the_program_begins_a_line_with_is_a_notice_word() -> None:
    """A notice added later whose first word a member could take as a name fails here."""
    source = (Path(names.__file__).parent / "ui.py").read_text()
    said = re.findall(r'"\* ([a-z]+)', source) + re.findall(r'_notice\(f?"([a-z]+)', source)
    assert said and set(said) <= NOTICE_WORDS, set(said) - NOTICE_WORDS
