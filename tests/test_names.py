"""peerchat.names: which names look alike, and how a name is shown."""

from __future__ import annotations

import pytest

from peerchat.names import FINGERPRINT, needs_fingerprint, shown_name, skeleton


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
    ],
)
def test_names_that_pass_for_each_other_have_one_skeleton(other: str) -> None:
    assert skeleton(other) == skeleton("bob")


@pytest.mark.parametrize(("a", "b"), [("will", "wi11"), ("modern", "modem"), ("clean", "dean")])
def test_ascii_look_alikes_fold_together(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


def test_different_names_keep_different_skeletons() -> None:
    assert skeleton("alice") != skeleton("bob")
    assert skeleton("bob") != skeleton("bobby")
    # A review: where marks are vowels, dropping them made different names one
    assert skeleton("\u0930\u093e\u091c\u0942") != skeleton("\u0930\u093e\u091c")  # Raju, Raj
    assert skeleton("\u0e1b\u0e34\u0e48\u0e19") != skeleton("\u0e1b\u0e19")


def test_a_name_outside_ascii_is_shown_with_its_keys_fingerprint() -> None:
    node_id = "ab12cd34" * 4
    cyrillic = "b\u043eb"  # a Cyrillic "o": looks like "bob" (and folds onto it)
    assert needs_fingerprint(cyrillic)
    assert shown_name(cyrillic, node_id) == f"{cyrillic}~{node_id[:FINGERPRINT]}"
    assert shown_name("bob", node_id) == "bob"
