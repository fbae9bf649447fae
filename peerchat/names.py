"""Names and the keys behind them: which names look alike, and how a name is shown. No I/O.

A username is bound to its node's key by the room: the tracker refuses a name that looks like
one in use (``skeleton``), and a node remembers which key it last saw under each name, to warn
when the name comes back with another. The common Cyrillic and Greek letters drawn like Latin
ones fold onto them ("bоb" with a Cyrillic "о" is "bob"); no table holds every such letter, so a
name outside ASCII is also always shown with a short fingerprint of the key, which no look-alike
can copy, and so is a name that could begin one of the program's own lines.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any, TypeVar

from peerchat.events import Renamed
from peerchat.membership import BLANK, IRC_STATUS, KEY_MARK, Member

E = TypeVar("E")

# Hex digits of the node id (the key's hash) shown after a name: 40 bits, years of a core to
# match (attack round 57 made a key whose first 6 were a member's in 460 s on 2 cores)
FINGERPRINT = 10

# Look-alikes folded onto one Latin letter each (after casefolding): within ASCII, and the
# Cyrillic and Greek letters that are drawn like Latin ones in common fonts. The digits read as
# letters are those of "leet" spelling (trial 66: "c4rol" was let in beside carol).
_ASCII = {"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "5": "s", "$": "s", "@": "a"}
_ASCII |= {"3": "e", "4": "a", "7": "t", "9": "g"}  # (not 6 and 8, both b: "r6", "r8")
_CYRILLIC = dict(zip("аеорсухіјѕԁһԛԝӏвкмнт", "aeopcyxljsdhqwlbkmht", strict=True))
_GREEK = dict(zip("αονρτικυχεβ", "aovptlkuxeb", strict=True))
_OTHER = dict(zip("օᴏ๏ьɡɩ", "ooobgl", strict=True))  # Armenian, small capital, Thai, ...
_FOLD = str.maketrans({**_ASCII, **_CYRILLIC, **_GREEK, **_OTHER})
# Combining marks, spacing ones too (attack round 45: "bоb" with 29 Hangul tone marks, Mc, was
# let in beside bob), and format characters
_MARKS = frozenset(("Mn", "Mc", "Me", "Cf"))
_DIGRAPHS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
# Punctuation a reader passes over: trial 69's "carol." and "b.o.b" were let in beside carol
# and bob (a name of nothing else keeps it)
_SMALL_MARKS = str.maketrans("", "", ".,'`:;-_")
# Which reading of names the above make, with this Python's Unicode tables: a store keeps the
# looks of the names it knows, read anew when this changes (review 72). LOOKS_CODE goes up
# by hand with a change to the code that reads them (``looks``, ``skeleton``: review 73).
LOOKS_CODE = 1
READING = hashlib.sha256(
    repr(
        [LOOKS_CODE]
        + [sorted(t.items()) for t in (_FOLD, _SMALL_MARKS)]
        + [sorted(_MARKS), _DIGRAPHS, IRC_STATUS, sorted(BLANK), unicodedata.unidata_version]
    ).encode()
).hexdigest()[:16]


def skeleton(name: str) -> str:
    """What ``name`` looks like, roughly: two names with one skeleton can pass for each other
    ("Bob", "b0b", "BOB"; and "@bob", as IRC status marks before a name are read past: review
    67's "@bob" of an older version got "/msg @bob" meant for bob; review 69: read past only
    by ``looks``, "@carol" was let in while carol was away)."""
    return _shape(name.lstrip(IRC_STATUS) or name)


@functools.lru_cache(maxsize=4096)  # asked again for each member as the room changes
def _shape(name: str) -> str:
    bare = "".join(
        c
        for c in unicodedata.normalize("NFKD", name)
        if c not in BLANK and unicodedata.category(c) not in _MARKS
    )
    folded = bare.casefold().translate(_FOLD)
    if not folded.isascii():  # marks are vowels in many scripts (राजू, राज): only blanks go
        kept = (c for c in unicodedata.normalize("NFKC", name) if c not in BLANK)
        folded = "".join(c for c in kept if unicodedata.category(c) != "Cf")
        folded = folded.casefold().translate(_FOLD)
    folded = folded.translate(_SMALL_MARKS) or folded  # (first: "c.lara" is clara, review 66)
    for pair, letter in _DIGRAPHS:
        folded = folded.replace(pair, letter)
    return folded


def looks(name: str) -> frozenset[str]:
    """How ``name`` may be read: its ``skeleton`` (past IRC status marks: attack round 54's
    "@+alice" joined beside alice), past one mark, and the name itself, as "@" reads as an
    "a": "@lice" is alice's look-alike (review 68 and attack round 54 found it let in, the
    mark read past alone). What a newcomer's or a rename's name is checked against."""
    read = [name, name[1:], name.lstrip(IRC_STATUS)] if name[:1] in IRC_STATUS else [name]
    return frozenset(_shape(form) for form in read if form)


# The words this program's own lines begin with after their "* " ("* you are the tracker
# now", "* 3 members: ..."): a member so named could make a "/me" line pass for one of them
# (attack round 18: "* tracker is now mallory", said by a member called "tracker").
NOTICE_WORDS = frozenset(
    [
        "already",
        "back",
        "connecting",
        "earlier",
        "files",
        "gave",
        "ignored",
        "in",
        "lines",
        "looking",
        "messages",
        "no",
        "nobody",
        "not",
        "rooms",
        "this",
        "tracker",
        "type",
        "typed",
        "you",
    ]
)
_NOTICE_LOOKS = frozenset(map(skeleton, NOTICE_WORDS))


def needs_fingerprint(name: str) -> bool:
    """A name that could imitate another in a way ``skeleton`` does not catch, or a line of
    the program's own."""
    return not name.isascii() or name.isdigit() or skeleton(name) in _NOTICE_LOOKS


def shown_name(name: str, node_id: str) -> str:
    """``name`` as a screen shows it: with its key's fingerprint where it needs one."""
    return marked(name, node_id) if needs_fingerprint(name) else name


def marked(name: str, node_id: str) -> str:
    """``name`` with its key's fingerprint: ``bob~3fa8c10b2e``."""
    return f"{name}{KEY_MARK}{node_id[:FINGERPRINT]}"


def with_marks(event: E, marks: Mapping[str, str]) -> E:
    """``event`` (a dataclass) with each member in ``marks`` (node id -> the name it is marked
    under) shown with its key's fingerprint, while it goes by that name; a rename's old name
    too ("robert~3fa8c10b2e is now known as rob")."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(event):  # type: ignore[arg-type]
        value = getattr(event, f.name)
        if isinstance(value, Member):
            changes[f.name] = _marked_member(value, marks)
            if isinstance(event, Renamed) and marks.get(value.node_id) == event.old:
                changes["old"] = marked(event.old, value.node_id)
        elif isinstance(value, tuple) and value and isinstance(value[0], Member):
            changes[f.name] = tuple(_marked_member(m, marks) for m in value)
    return dataclasses.replace(event, **changes)  # type: ignore[type-var]


def _marked_member(member: Member, marks: Mapping[str, str]) -> Member:
    if marks.get(member.node_id) != member.username:
        return member
    return dataclasses.replace(member, username=marked(member.username, member.node_id))
