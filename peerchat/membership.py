"""Who is in the room, and how members rank in an election."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from peerchat.addresses import format_addr

Rank = tuple[int, str]


KEY_MARK = "~"  # the screen shows a name with its key's fingerprint after it: ``bоb~3fa8c10b2e``
BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\U0001d159")  # letters that draw nothing


def valid_username(name: str) -> bool:
    """1-32 printable characters, no spaces: what the wire carries (a line said under a name
    of an older rule still opens)."""
    return 1 <= len(name) <= 32 and name.isprintable() and not any(c.isspace() for c in name)


def takeable(name: str) -> bool:
    """A valid name that shows, without ``KEY_MARK``: what a join and a rename may take. A
    user trial's carol took "bob~2baef1", bob's name as the screen marks it with his key, and
    her lines read as his."""
    return valid_username(name) and KEY_MARK not in name and shows(name)


def may_take(name: str) -> bool:
    """A name this program lets its user take (the command line, ``/nick``): ``takeable``,
    and not beginning as a command or an IRC status would (``NOT_FIRST``): trial 69's "@ops"
    read as a channel operator, and "/quit" as a command. Others' are taken as before, from
    a version that let them (review 66: a room of two versions was split over one)."""
    return takeable(name) and not name.startswith(tuple(NOT_FIRST))


IRC_STATUS = "@+%&"  # what IRC shows before a name (operator, voice...): "/msg @carol" is carol
NOT_FIRST = "/" + IRC_STATUS + "#"  # what a name may not begin with
NAME_RULE = f"1-32 printable characters that show, no spaces or ~, not first {' '.join(NOT_FIRST)}"


def shows(name: str) -> bool:
    """Whether ``name`` draws a letter, digit, punctuation or symbol, from its first character
    to its last: attack round 25's member went by a Hangul filler alone, its lines read
    "<  > hi"; round 26's, by one before an "x", read as " x"."""
    end = len(name)
    while end > 1 and unicodedata.category(name[end - 1])[0] == "M":  # marks on the last
        end -= 1
    return _drawn(name[:1]) and _drawn(name[end - 1 : end])


def _drawn(c: str) -> bool:
    return c not in BLANK and unicodedata.category(c)[0] in "LNPS"


def why_not_takeable(name: str) -> str:
    """Why a valid name cannot be taken."""
    if KEY_MARK in name:
        return f"a name may not hold {KEY_MARK!r}, the mark of a key's fingerprint"
    return "a name must show a letter, digit or sign, and this one draws nothing"


_ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def room_name(typed: str) -> str:
    """A room as typed: in any case, with or without the "#" of IRC channels."""
    return typed.lower().removeprefix("#")


def valid_room_name(name: str) -> bool:
    """1-32 lowercase letters, digits, "-" and "_", beginning with a letter or digit: the same
    in a DNS-SD instance name, a directory name and a screen line."""
    return _ROOM_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Member:
    node_id: str
    username: str
    host: str
    port: int
    priority: int
    chat: bool = True

    @property
    def rank(self) -> Rank:
        """Bully order: priority first, node id breaks ties so no two nodes rank alike."""
        return (self.priority, self.node_id)

    @property
    def addr(self) -> str:
        return format_addr(self.host, self.port)


class MemberTable:
    """The live members other than this node, keyed by node id."""

    def __init__(self) -> None:
        self._members: dict[str, Member] = {}
        self._digest: tuple[str, bytes] | None = None  # (own id, digest), until a change
        self.version = 0  # changes with every add or remove (renames too): for caches

    def add(self, member: Member) -> bool:
        """Record a member; True when it was not known before (so a join is reported once)."""
        new = member.node_id not in self._members
        self._members[member.node_id] = member
        self.version += 1
        if new:
            self._digest = None
        return new

    def remove(self, node_id: str) -> Member | None:
        member = self._members.pop(node_id, None)
        if member is not None:
            self._digest = None
            self.version += 1
        return member

    def digest(self, own_id: str) -> bytes:
        """Eight bytes naming the set of ids listed here plus ``own_id``: two nodes that list
        the same room (each with itself) get the same digest, and almost surely only they."""
        if self._digest is None or self._digest[0] != own_id:
            ids = "\n".join(sorted((own_id, *self._members)))
            self._digest = (own_id, hashlib.blake2b(ids.encode(), digest_size=8).digest())
        return self._digest[1]

    def get(self, node_id: str) -> Member | None:
        return self._members.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._members

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self._members.values()))

    def __len__(self) -> int:
        return len(self._members)

    def higher_than(self, rank: Rank) -> list[Member]:
        return [m for m in self._members.values() if m.rank > rank]
