"""Members this user chose not to hear (``/ignore``, irssi's and weechat's): their lines,
actions, private messages, typing and file offers (and their withdrawals) stay off the
screen, and their goodbyes' words; ``/files`` still lists their offers.

Only the screen: the node still keeps what they say and hands it on, as the room's history is
everyone's and a newcomer may want it. A member is ignored by its key (it may take another
name and stays ignored), in this room only (each room has a key of its own), and after a
restart (the room's store keeps the list). Joins, leaves and renames are still told, so that
the member list on the screen stays true.
"""

from __future__ import annotations

import dataclasses
import time

from peerchat import events
from peerchat.membership import Member
from peerchat.store import Store

UNSAID = "its goodbye not shown: ignored"  # an ignored member's leave reason, as shown
MAX_IGNORED = 256  # a room's list: a bound on the store's table, far past what anyone types


def sender_of(event: events.Event) -> Member | None:
    """The member an event shows words or offers of, when it is not this node's own."""
    match event:
        case events.MessageReceived(sender=sender, own=False):
            return sender
        case events.Typing(member=member):
            return member
        case events.FileOffered(sender=sender, own=False):
            return sender
        case events.OfferWithdrawn(sender=Member() as sender):  # (its offer was not shown)
            return sender
    return None


class Ignored:
    """A room's ignored members, by node id, with the name each had when last seen."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._names = dict(store.ignored())

    def shown(self, event: events.Event) -> events.Event | None:
        """``event`` as the screen shows it: None for a word or offer of an ignored member's,
        and an ignored member's goodbye without its words (attack round 28: 200 characters of
        its own each time it left). A rename of one is noted, so the list shows the name the
        room knows it by now."""
        if not self._names:  # (the usual case: every event comes this way)
            return event
        if isinstance(event, events.Renamed) and event.member.node_id in self._names:
            self.add(event.member.node_id, event.member.username)
        if isinstance(event, events.PeerLeft) and event.said and event.member.node_id in self:
            return dataclasses.replace(event, reason=UNSAID)
        sender = sender_of(event)
        return None if sender is not None and sender.node_id in self._names else event

    def add(self, node_id: str, username: str) -> bool:
        """Ignore the member of ``node_id`` (called ``username``) from now on; False when the
        list is full."""
        if node_id not in self._names and len(self._names) >= MAX_IGNORED:
            return False
        self._names[node_id] = username
        self._store.keep_ignored(node_id, username, time.time())
        return True

    def remove(self, node_id: str) -> str:
        """Hear the member again; the name it had here last."""
        self._store.forget_ignored(node_id)
        return self._names.pop(node_id, "")

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._names

    def named(self, name: str) -> str | None:
        """The node id of the ignored member last seen as ``name``, in any case; None for
        none, or for more than one (a guess could hear the wrong one again)."""
        found = [i for i, n in self._names.items() if n == name]
        if not found:
            folded = name.casefold()
            found = [i for i, n in self._names.items() if n.casefold() == folded]
        return found[0] if len(found) == 1 else None

    def names(self) -> list[str]:
        """The names of those ignored, as last seen, in the order they were ignored."""
        return list(self._names.values())
