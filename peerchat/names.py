"""Names and the keys behind them: which names look alike, and how a name is shown. No I/O.

A username is bound to its node's key by the room: the tracker refuses a name that looks like
one in use (``skeleton``), and a node remembers which key it last saw under each name, to warn
when the name comes back with another. Names outside ASCII may hold letters of other scripts
that look like Latin ones (Cyrillic "о" for "o"); without a table of every such letter, they are
always shown with a short fingerprint of the key, which no look-alike can copy.
"""

from __future__ import annotations

import unicodedata

FINGERPRINT = 6  # hex digits of the node id (the key's hash) shown after a name

# Latin look-alikes within ASCII, folded onto one letter each (after casefolding).
_FOLD = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "5": "s", "$": "s"})
_DIGRAPHS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def skeleton(name: str) -> str:
    """What ``name`` looks like, roughly: two names with one skeleton can pass for each other
    ("Bob", "b0b", "BOB")."""
    folded = unicodedata.normalize("NFKC", name).casefold().translate(_FOLD)
    for pair, letter in _DIGRAPHS:
        folded = folded.replace(pair, letter)
    return folded


def needs_fingerprint(name: str) -> bool:
    """A name that could imitate another in a way ``skeleton`` does not catch."""
    return not name.isascii()


def shown_name(name: str, node_id: str) -> str:
    """``name`` as a screen shows it: with its key's fingerprint where it needs one."""
    return marked(name, node_id) if needs_fingerprint(name) else name


def marked(name: str, node_id: str) -> str:
    """``name`` with its key's fingerprint: ``bob~3fa8c1``."""
    return f"{name}~{node_id[:FINGERPRINT]}"
