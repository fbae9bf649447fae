"""Private messages, name changes and typing notices: what a member says to one peer, or about
itself, over its own links. Unlike messages to the room (``messaging``) none of it is handed on
or stored: a private message exists only at its two ends.

A peer's name change and typing notice each count at most once per ``notice_interval`` from
one link, so a member cannot flood the others' screens with them (the line interface never
skips a name change, as it may skip messages).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import trio

from peerchat import events
from peerchat.admission import Pace, Paces, RefusalLog
from peerchat.bounded import keep_latest
from peerchat.commands import said_lines
from peerchat.connection import Connection
from peerchat.events import AWAY_SAID
from peerchat.membership import IRC_STATUS, KEY_MARK, Member, takeable
from peerchat.messaging import pieces
from peerchat.names import FINGERPRINT, looks, marked, needs_fingerprint, skeleton
from peerchat.protocol import Nick, NickRefused, Private, PrivateAck, ProtocolViolation, Typing
from peerchat.receipts import PER_MEMBER, Receipts

if TYPE_CHECKING:
    from peerchat.node import Node

log = logging.getLogger(__name__)

REFUSED_WITHIN = 30.0  # seconds after a /nick in which a member's refusal of it is heard
NAMESAKE_NOTICE_INTERVAL = 60.0  # seconds between two notices of members sharing a name,
NAMESAKE_NOTICES_AT_ONCE = 4  # past these at once
MAX_NAMESAKES_TOLD = 1024
MAX_MARKED = 1024  # members gone that stay marked (``Talk.marks``); past it, forgotten
_NOT_TAKEN = ("", "", "")  # a member's entry in ``Talk._rekeyed`` when it has none
MAX_FORMER_NAMES = 256  # others' names before a rename, for "bob is now robert" (the latest)
AWAY_ANSWERS = 8  # private lines /away answers at once; then one every AWAY_ANSWER_EVERY s
AWAY_ANSWER_EVERY = 10.0
MAX_TYPING_SHOWN = 1024  # members told as typing, remembered for their done (the latest)


class Talk:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._private = 0  # our private messages so far, for their ids
        self.receipts = Receipts()
        self._renamed = -float("inf")  # when this node last took a new name (trio time)
        # Others' renames, as often as their programs make them at most (one a second), and
        # their typing notices, one per ``notice_interval``: by member, whatever its links.
        interval = node.config.notice_interval
        self._renames = Paces(interval / 2)
        self._typing = Paces(interval)
        # Typing after a done: two a second at most, two at once (Ctrl-C, then typing again)
        self._typing_again = Paces(interval / 2, burst=2)
        self._typing_shown: dict[str, None] = {}  # members whose last notice told was typing
        self._too_fast = RefusalLog(interval=10.0)
        # (member, name) pointed out as sharing the name; a few at once, then one a minute
        self._namesakes_told: set[tuple[str, str]] = set()
        self._namesake_texts: set[str] = set()  # the notices given: a newcomer had one twice
        self._namesake_notices = Pace(NAMESAKE_NOTICE_INTERVAL, NAMESAKE_NOTICES_AT_ONCE)
        self._refused_told: dict[tuple[str, str], None] = {}  # renames refused, told of
        # This node's last /nick (the name, when), and the refusals of it heard, told of
        self._took: tuple[str, float] = ("", -float("inf"))
        self._refusals: dict[str, None] = {}
        self._refusal_notices = Pace(NAMESAKE_NOTICE_INTERVAL, NAMESAKE_NOTICES_AT_ONCE)
        self._marks: dict[str, str] = {}  # see ``marks``
        # Members let in under a name like another's here: the look of that name, by node id.
        # Only under that name (a trial: one that had shared "zed" and was alice again was
        # never bound to its own name on its return, and so was shown marked for good).
        self._namesakes: dict[str, str] = {}
        self._marks_version: tuple[int, str] | None = None  # the room ``_marks`` was made for
        self._former: dict[str, str] = {}  # a name before a member's rename (casefolded): its key
        # Members under a name another key had: that key, the look of the name (review 70:
        # held after the member took another name, its next /msg read "another key"), and the
        # name the member went by before, if it renamed itself into it
        self._rekeyed: dict[str, tuple[str, str, str]] = {}
        self._away: str | None = None  # /away's message
        self._away_answers = Pace(AWAY_ANSWER_EVERY, AWAY_ANSWERS)  # for those not known:
        self._away_known: frozenset[str] = frozenset()  # the members in the room at /away
        self._answered_away: dict[str, None] = {}  # members whose private line it answered

    # -- private messages ---------------------------------------------------------------------

    def private(self, name: str, text: str) -> None:
        """``/msg NAME TEXT``: over the link to that member only. A member away now (lost
        without a goodbye, or not linked yet) gets it when its link comes, as one whose link
        was lost under it does; one that is not in the room gets nothing (an error says so)."""
        node = self.node
        # A line each, as a block said to the room goes: a pasted "/msg" takes the lines after
        # it, and their line breaks showed as "�" (a user trial).
        said: list[str] = []
        for line in said_lines(text) or [text]:
            cut = pieces(line)
            if isinstance(cut, events.Error):
                node.emit(cut)
                return
            said += cut
        if len(said) > PER_MEMBER:  # what is sent again after a lost link is bounded so (a
            # review: a pasted /msg of 1,000 lines went unasked, and most could not be)
            node.emit(events.Error(f"at most {PER_MEMBER} private messages at once; not sent"))
            return
        member = None if name == node.me.username else self.addressee(name)
        if member is None and name.casefold() == node.me.username.casefold():  # (trial 74:
            # Bob's "/msg bob" said "bob is now robert", of the one who gave bob up)
            node.emit(events.Error("that is you; a private message goes to someone else"))
            return
        if member is None:
            node.emit(events.Error(f"{self.not_found(name)}; not sent"))
            return
        if (unsure := self.unconfirmed(name, member, "/msg")) is not None:
            node.emit(events.Error(unsure))
            return
        conn = node.links.conns.get(member.node_id)
        if conn is not None and conn.closing:
            conn = None
        node.messaging.send_outbox()  # a room line said just before goes first (a user trial)
        for piece in said:
            self._private += 1
            wall, mono = time.time(), time.monotonic()
            message = Private(piece, wall, mono, self._private)
            if conn is not None:
                conn.send(message)
            self.receipts.sent(member.node_id, message)
            clock = node.chatlog.clock
            shown = events.MessageReceived(
                node.me, self._private, clock, piece, wall, mono, mono, True, to=member
            )
            node.emit(shown)
        if conn is None:  # "bob is away: your private message ... goes on their return"
            self.on_unlink(member, away=True)

    def _refused(
        self,
        member: Member,
        name: str,
        why: str = "the name of another key here (who may come back to it)",
    ) -> None:
        """Tell the user once of a rename refused here as another key's name: screens that
        never saw that key take it, and a trial's room showed one member under two names,
        with no word why on the screens that kept the old one. Paced as the namesakes'
        notices (keys cost nothing)."""
        told = (member.node_id, skeleton(name))
        if told in self._refused_told or not self._namesake_notices.allows(trio.current_time()):
            return
        keep_latest(self._refused_told, told, None, MAX_NAMESAKES_TOLD)
        was = marked(member.username, member.node_id) if member.node_id in self.marks() else ""
        was = was or member.username
        self.node.emit(
            events.Error(f"{was} asked to go by {name}, {why}: still shown as {was} on this screen")
        )

    def took_name_of(self, member: Member, before: str, was: str = "") -> bool:
        """``member`` came under a name the key ``before`` had here (``NewKey``), by a rename
        from ``was``; False if it was known to have, under that name (a link anew)."""
        known = self._rekeyed.get(member.node_id, _NOT_TAKEN)
        taken = (before, skeleton(member.username))
        keep_latest(self._rekeyed, member.node_id, (*taken, was), MAX_MARKED)
        return known[:2] != taken

    def unconfirmed(self, name: str, member: Member, command: str) -> str | None:
        """Why nothing private goes to ``member`` by its bare ``name`` yet: it came under the
        name of another key, and may be someone else (attack round 24: with bob away, a
        stranger came as "bob", and alice's "/msg bob the password is ..." went to it after a
        warning she could miss). Named with its key's mark, it is the user's choice: from then
        on the bare name will do. ``command``: the one typed (``/msg``, ``/send``)."""
        old = self._took_from(member)
        if old is None and KEY_MARK not in name and name != member.username:
            # Found by another case of its name ("bob" of Bob): not when the name typed is
            # another key's (attack round 60: alice named her bob's key, and once he left,
            # her "/msg bob" went to the stranger that had been "Bob")
            store = self.node.store
            typed = store.taken_from(name, member.node_id)
            # (not one that was itself a newcomer to this member's name, review 75: Bob, away
            # a while, was "another key than the bob you knew" of a stranger's 9 s as bob)
            mine = typed in (None, self.node.node_id)
            old = None if mine or store.taken_from(name, typed) == member.node_id else typed
        if old is None:
            return None
        if KEY_MARK in name:
            self._rekeyed.pop(member.node_id, None)
            self.node.store.confirm(member.username, member.node_id, time.time())
            return None
        shown = marked(member.username, member.node_id)
        # (trial 76: "was carol" read as missing)
        renamed = self._rekeyed.get(member.node_id, _NOT_TAKEN)[2]
        this = f"{shown}, was {renamed}" if renamed else shown
        known = old[:FINGERPRINT]
        if (then := self.node.members.get(old)) is not None:  # (trial 75: where it went)
            now = marked(then.username, old) if self.shown_marked(then) else then.username
            known += f", now {now}"
        else:
            known += ", not here now"
        # By the name it went by, like this one (trial 77 F4: "than the Bob you knew" of bob)
        knew = self.node.store.name_like(old, name) or name
        return (
            f"{name} here is another key ({this}) than the {knew} you knew ({known}), maybe "
            f"someone else: not sent; {command} {shown} ... sends to this one, /whois {name} "
            "shows its key"
        )

    def _gave_up_name(self, member: Member) -> None:
        """``member`` renamed itself from its name: that key is the name's former owner, but
        for the first owner, still here under another name (review 71: as mallory gave up
        "Bob", taken as bob became robert, "/msg bob" said "bob is now mal", or nothing)."""
        name = member.username.casefold()  # (by that very name: attack round 58's mallory,
        # "B0b" for a second, was "bob is now mx" once bob quit)
        first = self._former.get(name)
        if first in (None, member.node_id) or self.node.members.get(first) is None:
            keep_latest(self._former, name, member.node_id, MAX_FORMER_NAMES)

    def _took_from(self, member: Member) -> str | None:
        """The key that had the name ``member`` goes by now, if it came under it here
        (``took_name_of``; not once it goes by another), or as the store has it (attack round
        58: 1,107 throwaway keys under names others had pushed mallory's flag out of those
        kept in memory)."""
        old, under, _ = self._rekeyed.get(member.node_id, _NOT_TAKEN)
        if under == skeleton(member.username):
            return old
        if self.is_namesake(member.node_id, member.username):  # (shown marked: never by
            return None  # the bare name; review 73: nor a namesake renamed since)
        found = self.node.store.taken_from(member.username, member.node_id)
        return None if found in (None, self.node.node_id) else found

    def addressee(self, name: str) -> Member | None:
        """Whom ``/msg NAME`` reaches: a member in the room, or one away now (not when two
        in the room go by the name)."""
        here = self.find(name)
        if here is not None or len(self.namesakes(name)) > 1:
            return here
        return self.find(name, self.node.links.unreachable())  # (not one shown marked here)

    def on_private(self, conn: Connection, message: Private) -> None:
        node = self.node
        sender = chatting(conn)
        conn.send(PrivateAck(message.n))
        if self.receipts.seen_before(sender.node_id, message):
            return  # sent again after a lost link: the first had come, its receipt had not
        # Read right after a freeze, before the watcher woke: the freeze is told first (trial
        # 64 read "[private from carol, said 07:24:10]" above "this node was unresponsive").
        node.entrance.coming_back()  # (a freeze is told as it is seen)
        # One that waited for this node, back from a restart, comes after the history kept
        # here (a user trial's was printed above "you are alice", then buried under it).
        node.after_ready(
            events.MessageReceived(
                sender,
                message.n,
                node.chatlog.clock,
                message.text,
                message.time,
                message.mono,
                time.monotonic(),
                False,
                to=node.me,
            )
        )
        if not message.text.startswith(AWAY_SAID):  # (never an answer to one: trial 72)
            self._answer_if_away(conn, sender)

    def set_away(self, message: str | None) -> None:
        """``/away``: a private line from now on is answered with ``message``, once from each
        member (None: back)."""
        self._away, self._answered_away = message, {}
        self._away_known = frozenset(m.node_id for m in self.node.members if m.chat)

    def _answer_if_away(self, conn: Connection, sender: Member) -> None:
        """Away: ``sender``'s private line is answered, as an IRC server answers one: once,
        over the link it came by, neither shown here nor kept to send again (attack round 53:
        200 throwaway keys' lines, each answered, shown and then told undelivered, made 600
        lines in 10 s); to those who were not in the room at ``/away``, ``AWAY_ANSWERS`` at
        once, then one every ``AWAY_ANSWER_EVERY`` s.
        Never one ignored here, nor a key under another's name not yet confirmed (review 67:
        a harasser ignored got the away text), nor while entering."""
        node = self.node
        if self._away is None or sender.node_id in self._answered_away or not node.reporting:
            return
        if sender.node_id in node.ignored or self._took_from(sender) is not None:
            return
        known = sender.node_id in self._away_known  # (attack round 54: throwaway keys'
        # lines took every answer, and a friend's got none)
        if not known and not self._away_answers.allows(trio.current_time()):
            return
        keep_latest(self._answered_away, sender.node_id, None, MAX_MARKED)
        self._private += 1
        said = f"{AWAY_SAID}{self._away})"
        conn.send(Private(said, time.time(), time.monotonic(), self._private))

    def on_private_ack(self, conn: Connection, message: PrivateAck) -> None:
        member = chatting(conn)
        resent = self.receipts.acked(member.node_id, message.n)
        if resent:
            self.node.emit(events.Delivered(member, resent, private=True))

    def on_link(self, conn: Connection, member: Member) -> None:
        """``member`` is linked (again): what it did not acknowledge goes again."""
        for message in self.receipts.resend(member.node_id):
            conn.send(message)
        self._point_out_namesakes(member)

    def let_in_namesake(self, member: Member) -> None:
        """``member`` was let in under a name like one here (``Doorman.name_taken``): it is
        marked until the name is bound to it (``marks``)."""
        if len(self._namesakes) >= MAX_MARKED:  # those gone first: a present one stays marked
            members = self.node.members
            self._namesakes = {n: look for n, look in self._namesakes.items() if n in members}
            if len(self._namesakes) >= MAX_MARKED:
                self._namesakes.clear()
        self._namesakes[member.node_id] = skeleton(member.username)
        self._marks_version = None

    def is_namesake(self, node_id: str, name: str) -> bool:
        """Whether ``node_id`` was let in under ``name`` (or one like it) while another here
        had it: that name is never bound to it but by the other giving it up (``_hand_on``)."""
        return self._namesakes.get(node_id) == skeleton(name)

    def _point_out_namesakes(self, member: Member) -> None:
        """``member`` came with a name like another's here (``marks``): the user is told who
        is shown how, once for each such member and name; past a few, once a minute (keys
        cost nothing). When the other is this node's user, only they or the other can mend
        it."""
        node = self.node
        told = (member.node_id, member.username)
        if not member.chat or told in self._namesakes_told:
            return
        if not self.taken(member.username, member.node_id):
            return
        if len(self._namesakes_told) >= MAX_NAMESAKES_TOLD:
            self._namesakes_told.clear()
        self._namesakes_told.add(told)
        marks = self.marks()
        looks = skeleton(member.username)
        alike = [m for m in node.members if m.chat and skeleton(m.username) == looks]
        shown = [marked(m.username, m.node_id) if m.node_id in marks else m.username for m in alike]
        plain = [m.username for m in alike if m.node_id not in marks]
        if looks == skeleton(node.username):
            me = marked(node.username, node.node_id)
            text = (
                f"{' and '.join(shown)} has come in under your name (or one like it): you each "
                "took it while the room was in parts. Screens that knew you first show them "
                f"marked so; the others show you as {me}. /nick NAME ends the mix-up"
            )
        elif len(plain) == 1:
            both, name = " and ".join(sorted(shown)), plain[0]
            text = (
                f"{both} each took the name {name} while the room was in parts: /msg {name} "
                "reaches the one this screen knew first, shown plain"
            )
        else:
            text = (
                f"{' and '.join(sorted(shown))} each took one name while the room was in parts: "
                "name one as shown (with its key's mark) to reach them"
            )
        if text in self._namesake_texts:  # the same two, told of already from the other's side
            return
        if not self._namesake_notices.allows(trio.current_time()):
            return
        if len(self._namesake_texts) >= MAX_NAMESAKES_TOLD:
            self._namesake_texts.clear()
        self._namesake_texts.add(text)
        node.after_ready(events.Error(text))

    def on_unlink(self, member: Member, *, away: bool = False) -> None:
        """The link to ``member`` is gone: what it did not acknowledge may not have come;
        ``away``: gone before, and what was just said could not be sent."""
        me = self.node.me
        for message in self.receipts.lost(member.node_id):
            undelivered = events.Undelivered(me, message.n, (member,), message.text, away)
            self.node.emit(undelivered)

    def gave_up(self, member: Member) -> None:
        """``member`` is not coming back."""
        lost = self.receipts.give_up(member.node_id)
        if lost:
            self.node.emit(events.NotDelivered(member, lost, private=True))

    def find(self, name: str, among: Iterable[Member] | None = None) -> Member | None:
        """The chatting member called ``name`` (in the room, or ``among`` others), in any
        case, or as the screen shows it, with its key's fingerprint (``café~d19065b7a2``); never one
        whose name merely looks like it (with bob away, ``B0b`` must not get what was meant
        for bob). Never one shown marked (``marks``) by its bare name: of two that go by
        ``name``, the one that had it here first; None if that is neither, as a guess could
        send a private line to the wrong one."""
        found = self.namesakes(name, among)
        if KEY_MARK not in name:  # a bare name: never one shown marked here
            marks = self.marks()
            found = [m for m in found if marks.get(m.node_id) != m.username]
        return found[0] if len(found) == 1 else None

    def namesakes(self, name: str, among: Iterable[Member] | None = None) -> list[Member]:
        """The chatting members ``name`` may mean: one, or more when parts of the room that
        were apart each held a member of that name (``marks``), or none."""
        members = [m for m in (self.node.members if among is None else among) if m.chat]
        bare, mark, fingerprint = name.rpartition(KEY_MARK)
        if mark and len(fingerprint) == FINGERPRINT:  # before a name that merely ends so
            fingerprint = fingerprint.lower()
            keyed = _named(bare, [m for m in members if m.node_id.startswith(fingerprint)])
            if keyed:
                return keyed
        named = _named(name, members)
        if name[:1] in IRC_STATUS and len(name) > 1:  # (trial 71's "/msg @carol", as in IRC;
            # both, if one of an older version goes by "@carol": neither, review 67)
            named += [m for m in _named(name[1:], members) if m not in named]
        return named

    def marks(self) -> dict[str, str]:
        """The members shown with their key's mark though their name needs none, by node id,
        with the name they are marked under. Another member here has a name like theirs (two
        parts of the room that were apart each had one: ``Doorman.name_taken``), and the name
        is not theirs here: it went with the other's key first, or with neither's. So each
        screen shows plain the one it knew, and a key that came late under a name never takes
        the name from its owner: while that one is away too (attack round 12: ``/msg alice``
        went to the other), until the name is bound to it (its owner gave it up: ``_hand_on``).
        A mark stays on one that left as it left ("robert~3fa8c10b2e left")."""
        node = self.node
        version = (node.members.version, node.username)  # (no ``me`` before it listens)
        if version == self._marks_version:
            return self._marks
        self._marks_version = version
        looks: dict[str, list[Member]] = {}
        for m in node.members:
            if m.chat and not needs_fingerprint(m.username):  # (those are marked always)
                looks.setdefault(skeleton(m.username), []).append(m)
        mine = skeleton(node.username)
        store = node.store
        marks = {
            m.node_id: m.username
            for look, alike in looks.items()
            for m in alike
            if (len(alike) > 1 or look == mine or self._namesakes.get(m.node_id) == look)
            and store.owner(m.username) != m.node_id
        }
        gone = {n: name for n, name in self._marks.items() if n not in node.members}
        self._marks = marks if len(gone) >= MAX_MARKED else {**gone, **marks}
        return self._marks

    def shown_marked(self, member: Member) -> bool:
        """Whether this screen shows ``member`` with its key's mark (``marks``)."""
        return self.marks().get(member.node_id) == member.username

    def not_found(self, name: str, among: Iterable[Member] | None = None) -> str:
        """Why ``find`` (or ``addressee``) found nobody for ``name``: nobody has it, or more
        than one."""
        found = self.namesakes(name, among)
        # The key that went by the name: seen renamed, else as the store bound it (trial 73:
        # after a restart, "/msg bob" of robert, once bob, said only that nobody was bob).
        # (The user's choice first: the key they named as it, review 71's "bob is now mal")
        store = self.node.store
        was = store.chosen(name) or self._former.get(name.casefold()) or store.owner(name) or ""
        # (Not a key that took the name from another: review 70, "bob is now mal" pointed at
        # the one who had taken bob's name as bob became robert; nor one that the store says
        # did, its flag pushed out of memory: attack round 59)
        took = was in self._rekeyed or store.taken_from(name, was) is not None
        now = None if took else self.node.members.get(was)
        if not found and now is not None:  # (a trial's "/msg bob" just after he became robert)
            shown = marked(now.username, now.node_id) if self.shown_marked(now) else now.username
            return f"nobody called {name} is in the room; {name} is now {shown}"
        if not found:
            return f"nobody called {name} is in the room"
        marks = ", ".join(sorted(marked(m.username, m.node_id) for m in found))
        if len(found) == 1:
            return f"{name} is shown as {marks} here (another key had the name first)"
        return f"{len(found)} members go by {name} ({marks}): name one as shown"

    # -- names --------------------------------------------------------------------------------

    def nick(self, name: str) -> None:
        """``/nick NAME``: taken if no other member's name looks like it; everyone linked is
        told, and newcomers learn it from the hello and the tracker's list."""
        node = self.node
        old = node.me.username
        if not name:  # (``/nick`` alone)
            node.emit(events.Error(f"you are {old} here; /nick NAME takes another"))
            return
        if name == old:
            node.emit(events.Error(f"you are {name} already"))
            return
        alike = self.alike(name, node.node_id)
        if alike is not None:  # (trial 70: "or one like it" said neither which nor why)
            theirs = (
                marked(alike.username, alike.node_id)
                if self.shown_marked(alike)
                else alike.username
            )
            why = "taken" if theirs.casefold() == name.casefold() else f"too like {theirs}'s"
            node.emit(events.Error(f"the name {name} is {why}, a member's here"))
            return
        if self.someone_elses(name, node.node_id):
            # (A user read "who is away now" of one who had quit, or of nobody.)
            if node.links.gone_like(name, node.node_id):
                why = "is another member's, who left or is unreachable: theirs to come back to"
            else:
                why = "went with another member's key here last: theirs to come back to"
            node.emit(events.Error(f"the name {name} {why}"))
            return
        now = trio.current_time()
        if now - self._renamed < node.config.notice_interval:
            node.emit(events.Error("one name change a second at most; try again"))
            return
        self._renamed, self._took = now, (name, now)
        self._refusals.clear()  # each rename's refusals are told (trial 63: a member that had
        # refused one was never told of again, and bob went by lee on his screen alone)
        node.messaging.send_outbox()  # what was said before goes first, under the old name
        node.rename(name)
        self._bind(node.me)
        self._hand_on(old, node.node_id)
        node.links.broadcast(Nick(name))
        node.emit(events.Renamed(node.me, old))

    def on_nick(self, conn: Connection, message: Nick) -> None:
        node = self.node
        member = chatting(conn)
        if message.username == member.username:
            return
        now = trio.current_time()
        if not self._renames.allows(member.node_id, now):
            # Its own program renames it once a second at most: more is a flood, let pass
            # (and not a log line each: attack round 10 wrote 93 MiB of them in 12 s).
            if (held := self._too_fast.note(now)) is not None:
                log.info(
                    "%s renames faster than its program would: %d ignored", conn.peer, held + 1
                )
            return
        if not takeable(message.username):  # as the screen marks another's key: refused
            log.info(
                "%s asked for the name %r, with a key's mark", member.node_id, message.username
            )
            return
        if self.taken(message.username, member.node_id):
            # Two members took the name at once: the one this node heard first keeps it here,
            # and the other is told (trial 62: two who took one name at once each went by it
            # on their own screens, shown by their former names on the other's, and neither
            # knew).
            log.info("%s asked for the name %r, taken here", member.node_id, message.username)
            self._refused(member, message.username, "taken here already (or one like it)")
            conn.send(NickRefused(message.username))
            return
        if self.someone_elses(message.username, member.node_id):
            log.info("%s asked for the name %r of another key", member.node_id, message.username)
            self._refused(member, message.username)
            conn.send(NickRefused(message.username))  # (as often as its renames are taken)
            return
        renamed = dataclasses.replace(member, username=message.username)
        # The old name as this screen showed it: its mark goes with the rename (a trial read
        # "robert is now known as rob" of the other robert, as if it were its own user).
        old = member.username
        if self.marks().get(member.node_id) == old:
            old = marked(old, member.node_id)
        # The store's word alone: what this node saw in memory may be the renamer's own
        # (review 72: a taker laundered its flag, and the first owner, back, was flagged)
        before = node.store.taken_from(message.username, member.node_id)
        took = before not in (None, member.node_id, node.node_id)
        # A name (or one like it) another key went by here, taken: nothing private goes to it
        # by the bare name until the user names this key (attack round 55: alice's "/msg bob
        # the password ..." reached the one who took bob as bob became robert)
        new_key = None
        if took and self.took_name_of(renamed, before, old):
            knew = node.store.name_like(before, message.username) or message.username
            present = node.members.get(before)
            here_as = present.username if present is not None else ""
            like = knew if knew != message.username else ""
            new_key = events.NewKey(renamed, before, here_as, like, renamed_from=old)
        self._bind(renamed)
        conn.member, conn.peer = renamed, f"{renamed.username}@{renamed.addr}"
        listed = node.members.get(member.node_id)
        if listed is not None:
            node.members.add(dataclasses.replace(listed, username=message.username))
        self._hand_on(member.username, member.node_id)
        self._gave_up_name(member)
        node.emit(events.Renamed(renamed, old))
        if new_key is not None:
            node.emit(new_key)
        node.entrance.told_renamed(renamed)

    def on_nick_refused(self, conn: Connection, message: NickRefused) -> None:
        """A member still shows this node by its former name: say so once per member, of the
        name this node's last ``/nick`` took, from a link it went out on, soon after (trial 54's
        renamer was shown under two names, and never knew; a review's forged refusal of a name
        never changed told its user to give it up). A few at once: keys cost nothing."""
        node = self.node
        member = chatting(conn)
        name, at = self._took
        now = trio.current_time()
        if message.username != name or name != node.me.username or conn.opened > at:
            return  # another name's, or made up
        if now - at > REFUSED_WITHIN or member.node_id in self._refusals:
            return
        if not self._refusal_notices.allows(now):
            return
        keep_latest(self._refusals, member.node_id, None, MAX_NAMESAKES_TOLD)
        node.emit(events.NickRefused(member, message.username))

    def _hand_on(self, old: str, by: str) -> None:
        """``by`` (a member, or this node) gave up ``old``: if the name was theirs here (or
        nobody's: the name a node starts with is bound nowhere in its own store), one that
        shared it (``marks``) has it alone now, and it is bound to them as if known under it
        first. (Left bound to the other's key, their next link read as another key taking the
        name: a user trial.) A namesake giving it up hands nothing on (attack round 14: a
        second stranger's rename gave the first alice's name while she was away)."""
        node = self.node
        looks = skeleton(old)
        if skeleton(node.username) == looks or node.store.owner(old) not in (None, by):
            return  # this node's own, or not the giver's to hand on
        # (not the giver, under a name like it now: trial 77's pam, Pamela since, was "another
        # key than the pamela you knew (hers)")
        alike = [
            m for m in node.members if m.chat and m.node_id != by and skeleton(m.username) == looks
        ]
        if len(alike) == 1:
            # Bound to it, but not as known under it first: nothing private goes to it by the
            # bare name till the user names its key (attack round 58: a key back under bob's
            # name, as a part of the room that never was, had bob's /msg once he renamed).
            # Told apart from the key with the claim to the name, not from the giver (review
            # 73: the first holder, back, was refused as the newcomer to a taker that renamed)
            heir = alike[0]
            self._bind(heir)
            before = node.store.taken_from(heir.username, heir.node_id)
            if before not in (None, node.node_id):  # (this node's own: none to tell apart)
                self.took_name_of(heir, before)
            self._namesakes.pop(heir.node_id, None)

    def _bind(self, member: Member) -> None:
        """``member`` goes by its name of now here: kept for it once it is gone."""
        self.node.store.name_owner(member.username, member.node_id, time.time())

    def someone_elses(self, name: str, by: str) -> bool:
        """Whether ``name`` is bound to another key than ``by``'s that is not in the room, or
        looks like the name of a member who went away: ``/nick`` may not take it (its owner
        would be shut out on its return, and what was meant for it would go to the one who
        took it). A name its owner gave up by ``/nick`` is free, as on IRC, while it stays
        and once it has gone under another: it was kept only where the owner had been seen
        joining, and a user trial's room disagreed on who was who."""
        node = self.node
        owner = node.store.owner(name)
        here = owner == node.node_id or owner in node.members  # (members: the others)
        # Kept for one that left under it, not for one that gave it up before it left (trial
        # 70: dave took carol, went by robert and dave, and quit; carol was refused it)
        left_under = owner is not None and node.store.latest_name(owner) == name
        # (Nor from the key that had it first: trial 78's dave, told to come back as dan
        # while a stranger had "dave", was refused it for good once the stranger quit; review
        # 76, and when the user had named the stranger's key. Whom it is told apart from is
        # the store's to say: the key the user named, if another, is that name's still)
        first = node.store.first_holder(name) == by
        kept = owner not in (None, by) and not here and left_under and not first
        return kept or node.links.gone_like(name, by)

    def back_under_anothers_name(self, node_id: str, name: str) -> bool:
        """A key known here under a name of its own, back under one ``/nick`` would refuse it:
        a rename by rejoining, refused alike. (A key never seen here may come under a known
        name, with a warning: one who lost their key comes back so. A key back under the name
        it left with is home, even if another key went by it meanwhile.)"""
        node = self.node
        left_as = node.links.was_named(node_id)
        return (
            left_as != name
            and self.someone_elses(name, node_id)
            and (left_as is not None or node.store.has_names(node_id))
        )

    def taken(self, name: str, by: str) -> bool:
        """Whether a chatting member other than ``by`` has a name that looks like ``name``."""
        return self.alike(name, by) is not None

    def alike(self, name: str, by: str) -> Member | None:
        """A chatting member other than ``by`` whose name looks like ``name``, if any."""
        return next(self._alike(name, by), None)

    def held(self, name: str, by: str) -> bool:
        """Whether ``name`` is taken (``taken``) by one that holds it here, not only by
        members let in under it as namesakes (``let_in_namesake``)."""
        return any(not self.is_namesake(m.node_id, name) for m in self._alike(name, by))

    def holds(self, name: str, by: str) -> bool:
        """Whether ``by`` holds ``name`` here, though namesakes go by it: the name is bound to
        ``by`` and no other holder is here. (Shut out, a member that came back while one
        once in the room had come as a part under its name was refused its own name.)"""
        return self.node.store.owner(name) == by and not self.held(name, by)

    def as_welcome_shows(self, members: Sequence[Member], marked: Iterable[int]) -> None:
        """``marked_by_tracker`` for the ``marked`` places of a welcome's ``members``. A welcome
        marking more than this node keeps is no room's."""
        places = {p for p in marked if p < len(members)}
        if len(places) <= MAX_MARKED:
            for place in places:
                self.marked_by_tracker(members[place])

    def shares_name(self, member: Member) -> bool:
        """Whether ``member`` comes under a name another here goes by and it does not hold."""
        name, node_id = member.username, member.node_id
        return member.chat and self.taken(name, node_id) and not self.holds(name, node_id)

    def marked_by_tracker(self, member: Member) -> None:
        """The tracker shows ``member`` marked (``Welcome.marked``): a newcomer, who knew
        neither of two that go by one name, marks it too (attack rounds 13 and 14: while the
        holder was away it showed the other plain and bound the name to it). The tracker's word
        only marks: never binding a name, it never gives one to a key (any member may come to
        be the tracker: attack round 15)."""
        if member.chat and member.node_id != self.node.node_id:
            self.let_in_namesake(member)

    def _alike(self, name: str, by: str) -> Iterator[Member]:
        read = looks(name)
        node = self.node
        return (
            m
            for m in (node.me, *node.members)
            if m.chat and m.node_id != by and not read.isdisjoint(looks(m.username))
        )

    # -- typing -------------------------------------------------------------------------------

    def typing(self, *, done: bool = False) -> None:
        """The user is typing (``done``: cleared the line): tell the chatting members (the
        front end calls this at most once every few seconds while the line changes, and for
        ``done`` only after a typing notice)."""
        node = self.node
        if not node.reporting:
            return
        node.links.broadcast(Typing(done), chatting=True)

    def on_typing(self, conn: Connection, message: Typing) -> None:
        """A member's typing notice, told as often as its program sends them at most. A done
        is told for each typing told, and no more (trial 62: of "abc", Ctrl-U, "def", Ctrl-U
        within 0.6 s the second done was paced out, and "carol is typing" stayed 4.5 s);
        typing again at once is news (a user trial's Ctrl-C, then "xx", was never shown)."""
        member = chatting(conn)
        shown = member.node_id in self._typing_shown
        if message.done:
            if shown:
                del self._typing_shown[member.node_id]
                self.node.emit(events.Typing(member, True))
            return
        now, key = trio.current_time(), member.node_id
        if shown:
            told = self._typing.allows(key, now)  # (its program's again every 3 s)
        elif told := self._typing_again.allows(key, now):
            self._typing.forget(key)
            self._typing.allows(key, now)  # the next ones paced from this one
        if told:
            keep_latest(self._typing_shown, key, None, MAX_TYPING_SHOWN)
            self.node.emit(events.Typing(member, False))


def chatting(conn: Connection) -> Member:
    """The member on ``conn``, which must be one that chats (not a standalone tracker)."""
    member = conn.member
    if member is None or not member.chat:
        raise ProtocolViolation(f"{conn.peer} does not chat, yet spoke as a person")
    return member


def _named(name: str, members: list[Member]) -> list[Member]:
    """Those of ``members`` called ``name``: that very name first ("bob" never goes to
    "Bob" beside him), else in another case."""
    exact = [m for m in members if m.username == name]
    if exact:
        return exact
    folded = name.casefold()
    return [m for m in members if m.username.casefold() == folded]
