"""What a node reports to whoever presents it: the prompt, or headless JSON lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peerchat.membership import Member


@dataclass(frozen=True, slots=True)
class Ready:
    me: Member
    role: str  # "tracker" or "peer"
    room: str = ""  # the room's name, if it has one
    private: bool = False  # the room has a secret (a user trial's looked like an open one)
    was: str = ""  # the name this node went by here last, when it was another

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "ready",
            "node_id": self.me.node_id,
            "username": self.me.username,
            "addr": self.me.addr,
            "role": self.role,
            "room": self.room,
            "room_name": self.room,  # (headless names a room ``room`` by its label)
            "private": self.private,
            "was": self.was or None,
        }


@dataclass(frozen=True, slots=True)
class TrackerChanged:
    tracker: Member

    def as_json(self) -> dict[str, Any]:
        t = self.tracker
        return {"event": "tracker", "node_id": t.node_id, "username": t.username, "addr": t.addr}


@dataclass(frozen=True, slots=True)
class PeerJoined:
    member: Member
    was: str = ""  # the name it left under, when it comes back under another
    back: bool = False  # it had dropped out, and was dialled again (``PeerLeft.dialled``)

    def as_json(self) -> dict[str, Any]:
        m = self.member
        out = {
            "event": "peer_joined",
            "node_id": m.node_id,
            "username": m.username,
            "addr": m.addr,
            "chat": m.chat,  # false for a standalone tracker: not a person
        }
        if self.was:
            out["was"] = self.was
        if self.back:
            out["back"] = True
        return out


@dataclass(frozen=True, slots=True)
class HistoryEnd:
    """A run of history shown at once (a newcomer's, a restart's, a catch-up's) ends here:
    trial 59's newcomer saw 90 dimmed lines fill the screen, and nothing said where they
    ended and who was in the room now. ``found``: the text of the ``/lastlog`` it answers."""

    messages: int
    found: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": "history_end", "messages": self.messages}
        if self.found is not None:
            out["found"] = self.found
        return out


@dataclass(frozen=True, slots=True)
class Found:
    """``/lastlog``'s answer begins: the messages that follow are a search's, not the room's
    history (trial 70 read them headed as "earlier messages"). ``shown`` of ``matched``."""

    text: str
    shown: int
    matched: int

    def as_json(self) -> dict[str, Any]:
        return {"event": "lastlog", "text": self.text, "shown": self.shown,
                "matched": self.matched}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InRoom:
    """The members already in the room when this node came in (after ``Ready``): one line in
    the line interface; in headless mode one ``peer_joined`` each, marked ``present``."""

    members: tuple[Member, ...]

    def lines(self) -> list[dict[str, Any]]:
        return [{**PeerJoined(m).as_json(), "present": True} for m in self.members]


@dataclass(frozen=True, slots=True)
class Connecting:
    """Joining takes more than a moment: this node is trying ``addr``."""

    addr: str

    def as_json(self) -> dict[str, Any]:
        return {"event": "connecting", "addr": self.addr}


@dataclass(frozen=True, slots=True)
class Looking:
    """This node looks for its room by name on the local network, before it joins or founds
    it (a second and a half: trial 56 read only "joining..." meanwhile)."""

    room: str

    def as_json(self) -> dict[str, Any]:
        return {"event": "looking", "room": self.room}


@dataclass(frozen=True, slots=True)
class Renamed:
    """A member (or this node) goes by another name from now on (``/nick``)."""

    member: Member  # with its new name
    old: str

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {"event": "nick", "node_id": m.node_id, "old": self.old, "username": m.username}


@dataclass(frozen=True, slots=True)
class NickRefused:
    """``member`` still shows this node by a former name: ``username``, this node's name now,
    is another key's there (a member who may come back to it)."""

    member: Member
    username: str
    # Others who refused it, told in the same breath: the screen says so in one line (trial
    # 57's room had one line per member). Headless tells each member's apart.
    also: tuple[Member, ...] = ()

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "nick_refused",
            "by": m.username,
            "by_id": m.node_id,
            "username": self.username,
        }


@dataclass(frozen=True, slots=True)
class Typing:
    """A member is typing a message; it counts as stopped a few seconds after the last one,
    or at once when ``done`` (its line was cleared)."""

    member: Member
    done: bool = False

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {"event": "typing", "node_id": m.node_id, "username": m.username, "done": self.done}


@dataclass(frozen=True, slots=True)
class FileOffered:
    """A file offered to the room or to one member (``to``): by a member (fetch it with
    ``/get ID``), or by this node (``own``; withdrawn with ``/cancel ID``)."""

    sender: Member
    id: int
    name: str
    size: int
    to: Member | None = None
    own: bool = False
    saved: str = ""  # where a fetch of these very bytes was saved here, still there
    away: bool = False  # this node's, for a member away now: offered on its return
    kept: int = 0  # bytes kept of a fetch of it from this sender that stopped: /get goes on

    def as_json(self) -> dict[str, Any]:
        out = {
            "event": "file_offer",
            "id": self.id,
            "from": self.sender.username,
            "from_id": self.sender.node_id,
            "name": self.name,
            "size": self.size,
            "own": self.own,
            "private": self.to is not None,
            "saved": self.saved or None,
        }
        if self.to is not None:
            out["to"] = self.to.username
        if self.away:
            out["away"] = True
        if self.kept:
            out["kept"] = self.kept
        return out


@dataclass(frozen=True, slots=True)
class FileReading:
    """This node reads a file of its own to offer it (its checksum, for a large one, takes a
    while: a trial's 20 GiB gave 84 s of silence), ``behind`` others typed before it."""

    name: str
    size: int
    behind: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "file_reading",
            "name": self.name,
            "size": self.size,
            "behind": self.behind,
        }


@dataclass(frozen=True, slots=True)
class Listed:
    """One line of ``/files``: an offer heard or made here, and how far its fetch is."""

    id: int
    name: str
    size: int
    sender: str  # the sender's username when it offered ("" for one's own)
    private: bool
    received: int | None = None  # bytes fetched, while a fetch runs
    waiting: bool = False  # the fetch waits for the sender to be back
    saved: str = ""  # where the last fetch of it was saved
    to: str = ""  # whom one's own private offer is for, by name ("" when gone)
    kept: int = 0  # bytes of a fetch that stopped, kept for ``/get`` to go on from
    sender_id: str = ""  # ("" for one's own)
    fetched_by: tuple[tuple[str, int], ...] = ()  # one's own: who fetches it now, how far (%)

    @property
    def own(self) -> bool:
        return not self.sender

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "from": self.sender,
            "from_id": self.sender_id,
            "own": self.own,
            "private": self.private,
            "received": self.received,
            "waiting": self.waiting,
            "saved": self.saved or None,
            "to": self.to or None,
            "kept": self.kept,
            "fetched_by": [{"username": name, "percent": share} for name, share in self.fetched_by],
        }


@dataclass(frozen=True, slots=True)
class FileList:
    """``/files``: the offers one can fetch (or, one's own, withdraw), oldest first."""

    files: tuple[Listed, ...]

    def as_json(self) -> dict[str, Any]:
        return {"event": "files", "files": [f.as_json() for f in self.files]}


@dataclass(frozen=True, slots=True)
class FileProgress:
    """Bytes of an offered file fetched so far; ``resumed``: a fetch taken up again, where
    an earlier one stopped (said on the screen too)."""

    id: int
    name: str
    received: int
    size: int
    resumed: bool = False

    def as_json(self) -> dict[str, Any]:
        out = {
            "event": "file_progress",
            "id": self.id,
            "name": self.name,
            "received": self.received,
            "size": self.size,
        }
        if self.resumed:
            out["resumed"] = True
        return out


@dataclass(frozen=True, slots=True)
class FileDone:
    """A fetch ended: saved at ``path`` with the offered checksum, or not (``ok`` false)."""

    id: int
    name: str
    path: str
    ok: bool
    reason: str = ""
    sender: str = ""  # whose offer it was (by name): two offers of one name told apart
    sender_id: str = ""  # and by node id (a name outside ASCII is shown with its key's mark)

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "file_done",
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "ok": self.ok,
            "reason": self.reason,
            "from": self.sender,
            "from_id": self.sender_id,
        }


@dataclass(frozen=True, slots=True)
class FileWaiting:
    """A fetch waits: its sender is away (it is fetched on once the sender is back), or
    serves all the fetches it can (``again_in``: asked again in that many seconds)."""

    id: int
    name: str
    sender: str  # the sender's username
    again_in: float | None = None
    sender_id: str = ""

    def as_json(self) -> dict[str, Any]:
        out = {
            "event": "file_waiting",
            "id": self.id,
            "name": self.name,
            "from": self.sender,
            "from_id": self.sender_id,
        }
        if self.again_in is not None:
            out |= {"busy": True, "again_in": round(self.again_in, 1)}
        return out


@dataclass(frozen=True, slots=True)
class FileFetched:
    """A member fetched this node's offer ``id`` to the end, and it checked there."""

    id: int
    name: str
    by: Member

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "file_fetched",
            "id": self.id,
            "name": self.name,
            "by": self.by.username,
            "by_id": self.by.node_id,
        }


@dataclass(frozen=True, slots=True)
class Uploading:
    """How far a member's fetch of this node's offer ``id`` has come (acknowledged), or that
    this node stopped serving it (``over``: all sent, stopped, or cut)."""

    id: int
    name: str
    to: Member
    acked: int
    size: int
    over: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "upload_progress",
            "id": self.id,
            "name": self.name,
            "to": self.to.username,
            "to_id": self.to.node_id,
            "acked": self.acked,
            "size": self.size,
            "over": self.over,
        }


LEFT = "left"  # why a member's offers were withdrawn: it left the room, saying goodbye
SAVED_ELSEWHERE = "the same file was saved from another sender"  # why a fetch ended, unasked
AWAY_SAID = "(away: "  # how an /away answer begins; a private line so begun is not answered,
# as an IRC server never answers its away reply with another, nor counted as one that came
CHANGED = "changed"  # or its file changed since it offered it


@dataclass(frozen=True, slots=True)
class OfferWithdrawn:
    """An offer was withdrawn: by this node (``/cancel``), or by the member ``sender``."""

    id: int
    name: str
    sender: Member | None = None  # None: this node's own
    reason: str = ""  # why this node withdrew its own, if not by /cancel; a member's: LEFT
    unsaid: bool = False  # not for the screen: a fetch's end said so, or the file is saved here

    def as_json(self) -> dict[str, Any]:
        out = {"event": "offer_withdrawn", "id": self.id, "name": self.name}
        out["own"] = self.sender is None
        if self.reason:
            out["reason"] = self.reason
        if self.sender is not None:
            out |= {"from": self.sender.username, "from_id": self.sender.node_id}
        return out


@dataclass(frozen=True, slots=True)
class Away:
    """This program is away (``/away MESSAGE``), in every room, or back (``message`` None);
    ``changed``: false for an ``/away`` alone while not away."""

    message: str | None
    changed: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"event": "away", "message": self.message, "changed": self.changed}


@dataclass(frozen=True, slots=True)
class RoomLeft:
    """This program is no longer in the room ``room`` (``/part``, or it could not join)."""

    room: str
    joined: bool = True  # False: it never got in (a join that failed or was given up)
    alone: bool = False  # left as another room was joined, nobody else being here
    failed: bool = False  # ended by an error (said just before), not by the user
    moved_to: str = ""  # left for another room of its name, at this address (``/join``)

    def as_json(self) -> dict[str, Any]:
        out = {
            "event": "room_left",
            "room": self.room,
            "joined": self.joined,
            "failed": self.failed,
        }
        if self.moved_to:
            out["moved_to"] = self.moved_to
        return out


@dataclass(frozen=True, slots=True)
class PeerLeft:
    member: Member
    reason: str
    said: bool = False  # the reason is the member's own words (its goodbye's)
    dialled: bool = False  # lost without a goodbye: this node dials it again for a while

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "peer_left",
            "node_id": m.node_id,
            "username": m.username,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MessageReceived:
    sender: Member
    seq: int
    lamport: int
    text: str
    time: float  # sender's wall clock, seconds since the epoch
    sent_mono: float  # sender's monotonic clock at send, for latency measurements on one host
    received_mono: float
    own: bool
    history: bool = False  # from a store: said before this node was there to see it
    action: bool = False  # /me
    # A private message (/msg) to this member: for one received, this node; ``seq`` then
    # numbers the sender's private messages, not its messages to the room.
    to: Member | None = None
    kept: bool = False  # history from this node's own store (a start's, /history): seen before

    @property
    def id(self) -> str:
        return f"{self.sender.node_id}:{'p' if self.to else ''}{self.seq}"

    def as_json(self) -> dict[str, Any]:
        out = {
            "event": "message",
            "id": self.id,
            "from": self.sender.username,
            "from_id": self.sender.node_id,
            "text": self.text,
            "time": self.time,
            "lamport": self.lamport,
            "own": self.own,
            "sent_mono": self.sent_mono,
            "received_mono": self.received_mono,
            "history": self.history,
            "seen": self.kept,  # (trial 67: a bot could not tell what it answered before)
            "action": self.action,
            "private": self.to is not None,
        }
        if self.to is not None:
            out |= {"to": self.to.username, "to_id": self.to.node_id}
        return out


@dataclass(frozen=True, slots=True)
class Who:
    members: tuple[Member, ...]  # everyone, this node included
    tracker_id: str | None
    me_id: str | None = None
    away: tuple[Member, ...] = ()  # lost without a goodbye, being dialled again
    ignored: frozenset[str] = frozenset()  # node ids ignored here (``/ignore``)

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "who",
            "peers": [
                {
                    "node_id": m.node_id,
                    "username": m.username,
                    "addr": m.addr,
                    "tracker": m.node_id == self.tracker_id,
                    "you": m.node_id == self.me_id,
                    "chat": m.chat,
                    "ignored": m.node_id in self.ignored,
                }
                for m in self.members
            ],
            "away": [
                {"node_id": m.node_id, "username": m.username, "addr": m.addr} for m in self.away
            ],
        }


@dataclass(frozen=True, slots=True)
class RoomsFound:
    """``/list``: the rooms found by name on the local network, with their member counts. Or
    those beside a room ``new`` just founded by name: a user trial's ``--room dve`` founded
    one, unsaid, beside the network's dev."""

    rooms: tuple[tuple[str, int], ...]
    new: str = ""
    private: frozenset[str] = frozenset()  # those whose members say they hold a secret
    # Of a name both an open room and a private one answer for (``rooms`` counts the open
    # one's), how many the private one's answered
    beside: tuple[tuple[str, int], ...] = ()

    def listed(self) -> list[tuple[str, int, bool]]:
        """Each room, its members and whether it has a secret: the private room of a name an
        open one has too, after it."""
        beside = dict(self.beside)
        out = []
        for room, count in self.rooms:
            out.append((room, count, room in self.private))
            if room in beside:
                out.append((room, beside[room], True))
        return out

    def as_json(self) -> dict[str, Any]:
        listed = [
            {"room": room, "members": count, "private": private}
            for room, count, private in self.listed()
        ]
        return {"event": "rooms_found", "rooms": listed} | ({"new": self.new} if self.new else {})


@dataclass(frozen=True, slots=True)
class Whois:
    """One member, for ``/whois``: its node id is the hash of the key its link proved, which
    two people can compare to know that no one else answers to the name."""

    member: Member
    tracker: bool
    you: bool
    away: bool  # lost without a goodbye, being dialled again
    room: str = ""  # each room has a key of its own: the one this key is for

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "whois",
            "node_id": m.node_id,
            "username": m.username,
            "addr": m.addr,
            "tracker": self.tracker,
            "you": self.you,
            "away": self.away,
        }


@dataclass(frozen=True, slots=True)
class Ignoring:
    """The members ignored in the room (``/ignore``), after the one called ``name`` was
    ignored (``on``) or heard again; with no name, the list asked for."""

    names: tuple[str, ...]
    name: str = ""
    node_id: str = ""
    on: bool = True

    def as_json(self) -> dict[str, Any]:
        said: dict[str, Any] = {"event": "ignoring", "names": list(self.names)}
        if self.name:
            said |= {"node_id": self.node_id, "username": self.name, "on": self.on}
        return said


@dataclass(frozen=True, slots=True)
class Error:
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"event": "error", "message": self.message}


@dataclass(frozen=True, slots=True)
class Unresponsive:
    """This node did not run for ``seconds`` (a stopped process, a suspended laptop) and
    rejoins its room; an ``error`` to a headless reader, as it always was, with
    ``"unresponsive"`` (the seconds) to tell it from a failure (a trial's bot could not)."""

    seconds: float

    @property
    def message(self) -> str:
        return self.said("this program", "the room")  # (trial 73: "node" is jargon)

    def said(self, who: str, where: str) -> str:
        """The notice, of ``who`` rejoining ``where`` (a program in several rooms says so)."""
        return (
            f"{who} was unresponsive for {self.seconds:.1f} s and is rejoining {where}; "
            "what was said meanwhile is fetched from the others and shown as history"
        )

    def as_json(self) -> dict[str, Any]:
        return {"event": "error", "message": self.message, "unresponsive": self.seconds}


@dataclass(frozen=True, slots=True)
class Rejoined:
    """Back in the room after a freeze told as ``Unresponsive``: lines typed go out again (a
    headless program's were refused meanwhile, "not in the room right now (rejoining)")."""

    def as_json(self) -> dict[str, Any]:
        return {"event": "rejoined"}


@dataclass(frozen=True, slots=True)
class Saving:
    """Whether this node saves the room's messages: ``trouble`` says why it cannot (a full
    disk), and "" comes once it can again, with the ``lost`` messages received meanwhile that
    did not fit in memory while they waited."""

    path: str  # the store's file
    trouble: str
    lost: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "saving",
            "ok": not self.trouble,
            "path": self.path,
            "reason": self.trouble,
            "lost": self.lost,
        }


@dataclass(frozen=True, slots=True)
class NewKey:
    """A name this node knew under one key is back under another: maybe the same person on a
    new computer (or a lost data dir), maybe somebody else."""

    member: Member
    old_node_id: str
    old_here_as: str = ""  # the old key is in the room under this name now: not "back"
    # The name like this one that the old key went by ("bob" of "Bob"), if not this very one:
    # no "Robert is back" of a name never here (trial 76)
    old_username: str = ""
    # It took the name by a /nick from this one, as this node saw (review 74: a rename into
    # another key's name was never told, but for a refused /msg)
    renamed_from: str = ""

    def as_json(self) -> dict[str, Any]:
        m = self.member
        out = {
            "event": "new_key",
            "node_id": m.node_id,
            "username": m.username,
            "old_node_id": self.old_node_id,
        }
        if self.old_here_as:
            out["old_here_as"] = self.old_here_as
        if self.old_username:
            out["old_username"] = self.old_username
        if self.renamed_from:
            out["renamed_from"] = self.renamed_from
        return out


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A message just sent did not reach these members: they are unreachable for now. It is
    sent to each when its link comes back (``Delivered``), or reported ``NotDelivered``."""

    me: Member
    seq: int
    waiting: tuple[Member, ...]
    # A private message (``seq`` numbers those), sent before its link was found lost: it may
    # not have arrived, and goes again when the member is back.
    private: str | None = None  # its text
    away: bool = False  # sent while the member was away: not sent yet, rather than unsure

    def as_json(self) -> dict[str, Any]:
        p = "p" if self.private is not None else ""
        out = {
            "event": "undelivered",
            "id": f"{self.me.node_id}:{p}{self.seq}",
            "to": [m.username for m in self.waiting],
            "to_ids": [m.node_id for m in self.waiting],
            "private": self.private is not None,
        }
        if self.away:
            out["away"] = True
        return out


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A member was found lost: our last ``count`` messages went out after the last sign of it
    and may be in the cut. What it lacks it fetches when back (``Delivered``)."""

    member: Member
    count: int

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {"event": "unconfirmed", "to": m.username, "to_id": m.node_id, "count": self.count}


@dataclass(frozen=True, slots=True)
class Delivered:
    """A member that was away now has all of this node's messages: ``count`` of them it lacked
    when it came back (it fetched them from whoever had them)."""

    member: Member
    count: int
    private: bool = False  # private messages sent again: all of them arrived now

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "delivered",
            "to": m.username,
            "to_id": m.node_id,
            "count": self.count,
            "private": self.private,
        }


@dataclass(frozen=True, slots=True)
class PeerGone:
    """A member lost without a goodbye is taken to have quit: nothing has listened at its
    address for a while (``Config.gone_after``). No longer away (``/who``), nor owed lines;
    dialled now and then still, in case it comes back."""

    member: Member

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {"event": "peer_gone", "node_id": m.node_id, "username": m.username}


@dataclass(frozen=True, slots=True)
class NotDelivered:
    """This node gave up on reaching a member: its last ``count`` messages never reached it."""

    member: Member
    count: int
    private: bool = False  # private messages it never acknowledged

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "not_delivered",
            "to": m.username,
            "to_id": m.node_id,
            "count": self.count,
            "private": self.private,
        }


Event = (
    Ready
    | RoomsFound
    | TrackerChanged
    | PeerJoined
    | InRoom
    | HistoryEnd
    | Found
    | Connecting
    | Looking
    | Renamed
    | NickRefused
    | Typing
    | FileOffered
    | FileReading
    | FileList
    | FileProgress
    | Uploading
    | FileDone
    | FileFetched
    | FileWaiting
    | OfferWithdrawn
    | RoomLeft
    | Away
    | Saving
    | PeerLeft
    | MessageReceived
    | Who
    | Whois
    | Ignoring
    | Error
    | Unresponsive
    | Rejoined
    | NewKey
    | Undelivered
    | Unconfirmed
    | Delivered
    | NotDelivered
    | PeerGone
)
