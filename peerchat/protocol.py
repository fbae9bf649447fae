"""The frames peers exchange, as typed messages, and the checks every received frame must pass.

On the wire a message is a map whose ``"t"`` key names its type (the tag table ``TAGS``); the
other keys are the dataclass fields. ``decode`` accepts a map only when every field is present
with the right type and within its size limit: whatever else a peer sends is a
``ProtocolViolation``, which closes that connection.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from peerchat import PROTOCOL_VERSION
from peerchat.addresses import DEFAULT_TRACKER_PORT, parse_addr
from peerchat.membership import Member, valid_room_name, valid_username
from peerchat.safe_text import has_unsafe
from peerchat.wire import FrameError, describe

MAX_NAME = 32
MAX_ID = 64
MAX_HOST = 255
MAX_ADDR = MAX_HOST + 8  # host:port, IPv6 in brackets
MAX_TEXT = 16 * 1024
MAX_REASON = 200
MAX_MEMBERS = 10_000
MAX_BATCH = 1 << 20  # a batch's signed bytes; the frame limit bounds them further
MAX_HEADS = 1024  # authors in a summary: the most recently heard
MAX_RECENT = 1000  # history messages a newcomer may ask for
MAX_FILE_NAME = 255
MAX_OFFERS = 100  # offers a member makes at once (and others keep of it)
MAX_FILE_SIZE = 2**62
FILE_CHUNK = 64 * 1024 - 128  # file bytes per frame: its frame fits one record (``secure_stream``)
# File bytes a sender keeps unacknowledged: what a chat message can find queued ahead of it on a
# link that carries a file (the kernels' socket buffers held megabytes of chunks without it).
# Four chunks, acknowledged two at a time: with eight (and acknowledgements as soon as a
# fetcher writes them) chat behind a transfer took 2.5 to 3 times its idle latency, measured;
# with four 1.0 to 1.4, and as many MiB/s to one receiver (9% fewer to five).
FILE_WINDOW = 4 * FILE_CHUNK
# Election priorities run as high as ports do (the default priority is the listen port), so one
# member cannot outrank everyone for good with a huge --priority: at most it ties the highest
# port, and the node id breaks the tie.
MAX_PRIORITY = 65535


class ProtocolViolation(FrameError):
    """A well-formed frame that breaks the protocol: unknown type, missing or bad fields."""


class VersionMismatch(ProtocolViolation):
    """The peer speaks another protocol version; it is told so before the connection closes,
    in words of our own (``REFUSAL``), never with its own value quoted back."""

    REFUSAL = f"this node speaks protocol version {PROTOCOL_VERSION} only"


def _limit(n: int, kind: str = "") -> Any:
    """A field's size limit and, for strings, what they must be (see ``_KINDS``)."""
    return field(metadata={"max": n, "kind": kind})


_NODE_ID = re.compile(r"[0-9A-Za-z_-]+")
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)  # as inet_aton reads a part
_HOST_NAME = re.compile(r"(?!-)[0-9A-Za-z-]{1,63}(?<!-)(\.(?!-)[0-9A-Za-z-]{1,63}(?<!-))*\.?")
_ZONE = re.compile(r"[0-9A-Za-z_.-]{1,15}")  # an IPv6 zone: an interface's name or number


def valid_host(host: str) -> bool:
    """An IP address or a DNS host name: never text that could dress up a screen line. Not
    a name that ends in a number: the C library reads "10.0.0.02", "10.2" and "0xa000002"
    as 10.0.0.2, and one address spelled 256 ways had 256 join paces (attack round 15). An
    IPv6 address's zone is an interface's name or number: Python takes any text after the
    "%", and an escape sequence there reached a tracker's stderr through its log (attack
    round 42)."""
    try:
        ipaddress.ip_address(host)
        zone = host.partition("%")[2]
        return not zone or _ZONE.fullmatch(zone) is not None
    except ValueError:
        last = host.rstrip(".").rpartition(".")[2]
        return (
            len(host) <= 253
            and _HOST_NAME.fullmatch(host) is not None
            and _NUMBER.fullmatch(last) is None
        )


def tracker_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT``, or a ``HOST`` alone at the tracker's usual port; None when neither."""
    parsed = parse_addr(text)
    if parsed is None and valid_host(bare := text.strip().removeprefix("[").removesuffix("]")):
        return bare, DEFAULT_TRACKER_PORT
    return parsed if parsed is not None and valid_host(parsed[0]) else None


# Strings checked beyond their length. A reason is shown to users: it may say anything but
# must not steer a terminal.
_KINDS: dict[str, Callable[[str], bool]] = {
    "": lambda value: True,
    "node_id": lambda value: _NODE_ID.fullmatch(value) is not None,
    "node_id_or_none": lambda value: not value or _NODE_ID.fullmatch(value) is not None,
    "username": valid_username,
    "host": valid_host,
    "reason": lambda value: not has_unsafe(value),
    "room": lambda value: not value or valid_address(value),
    "room_name": lambda value: not value or valid_room_name(value),
    "file_name": lambda value: valid_file_name(value),
}


def valid_file_name(name: str) -> bool:
    """A file's own name, as offered: no directory part, nothing that steers a terminal."""
    return (
        0 < len(name) <= MAX_FILE_NAME
        and name not in (".", "..")
        and not any(c in name for c in "/\\\0")
        and not has_unsafe(name)
    )


def valid_address(addr: str) -> bool:
    """HOST:PORT with a valid host (an IPv6 host in brackets) and a port 1-65535."""
    parsed = parse_addr(addr)
    return parsed is not None and valid_host(parsed[0])


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame on every connection, both ways. ``join`` asks the tracker for the room;
    ``direct`` asks a member instead, after its tracker turned the sender away or did not answer
    (a tracker must not be able to close the room to newcomers).

    ``room`` is the room's identity, its home address ("" from a newcomer that has none yet):
    parts of one room meet and merge, other rooms are refused. ``tracker`` is whom the sender
    follows ("" while it has no tracker): a tracker names itself, and a peer that follows
    another tracker is a part of the room meeting this one. ``name`` is the room's name ("" for
    a room without one): a join that names another room than the one it reaches is refused.
    """

    version: int
    node_id: str = _limit(MAX_ID, "node_id")
    username: str = _limit(MAX_NAME, "username")
    host: str = _limit(MAX_HOST, "host")
    port: int = _limit(65535)
    priority: int = _limit(MAX_PRIORITY)
    chat: bool
    seq: int = _limit(2**62)  # the last chat sequence number sent before this connection
    join: bool
    room: str = field(default="", metadata={"max": MAX_ADDR, "kind": "room"})
    tracker: str = field(default="", metadata={"max": MAX_ID, "kind": "node_id_or_none"})
    name: str = field(default="", metadata={"max": 32, "kind": "room_name"})
    direct: bool = False

    def member(self) -> Member:
        return Member(self.node_id, self.username, self.host, self.port, self.priority, self.chat)


@dataclass(frozen=True, slots=True)
class Welcome:
    """The answer to a join: everybody in the room, the tracker included. ``marked``: the
    places in ``members`` of those the welcoming node shows with their key's mark, as their
    name went with another key there first (``Talk.marks``): a newcomer knows no better."""

    members: tuple[Member, ...] = _limit(MAX_MEMBERS)
    tracker: str = _limit(MAX_ID, "node_id")
    marked: tuple[int, ...] = field(default=(), metadata={"max": MAX_MEMBERS, "kind": ""})


@dataclass(frozen=True, slots=True)
class Refuse:
    """No to a hello. ``retry``: worth asking again (the node is not the tracker right now)."""

    reason: str = _limit(MAX_REASON, "reason")
    retry: bool = True


@dataclass(frozen=True, slots=True)
class Redirect:
    """A member that is not the tracker answers a join with the tracker's own address."""

    host: str = _limit(MAX_HOST, "host")
    port: int = _limit(65535)


@dataclass(frozen=True, slots=True)
class Roster:
    """The members the sender knows. From this node's tracker it announces them; from a node
    of another part of the room it is news for the tracker, which dials whom it lacks.
    ``ask``: a member whose view of the room differs from its tracker's asks for the tracker's
    roster in return (an answer never asks, so two trackers cannot bounce rosters forever)."""

    members: tuple[Member, ...] = _limit(MAX_MEMBERS)
    ask: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages of one author, signed by it (``batch``): ``old`` when handed on from a store
    (an answer to ``Want`` or ``Recent``) rather than said just now."""

    data: bytes = _limit(MAX_BATCH)
    sig: bytes = _limit(64)
    old: bool


@dataclass(frozen=True, slots=True)
class Summary:
    """What the sender holds: per author, the last message it has in order (its own: the last it
    sent). Sent when a link comes up and after catching up; the receiver asks for what it lacks."""

    heads: dict[str, int] = _limit(MAX_HEADS)


@dataclass(frozen=True, slots=True)
class Want:
    """Send me ``author``'s messages after ``after``: answered with ``Batch`` frames (old)
    and a ``Skip`` that ends the answer."""

    author: str = _limit(MAX_ID, "node_id")
    after: int = _limit(2**62)


@dataclass(frozen=True, slots=True)
class Skip:
    """The end of an answer to ``Want``: the sender has sent all it holds of ``author``'s
    messages up to ``seq``; what of them did not come, it does not have: stop waiting for it."""

    author: str = _limit(MAX_ID, "node_id")
    seq: int = _limit(2**62)


@dataclass(frozen=True, slots=True)
class Recent:
    """A newcomer asks for the room's last ``count`` messages, to show as history."""

    count: int = _limit(MAX_RECENT)


@dataclass(frozen=True, slots=True)
class RecentFrom:
    """Begins the answer to ``Recent``: per author, the first of its messages among the last
    ``count``. The batches that follow may hold older ones (a batch goes whole, under one
    signature); a newcomer shows each author's from there on, so the last ``count`` in all."""

    firsts: dict[str, int] = _limit(MAX_HEADS)


@dataclass(frozen=True, slots=True)
class Probe:
    """Are you there? Answered at once with a ``Beat``: a frozen process, whose kernel still
    keeps its connections up, does not answer."""


@dataclass(frozen=True, slots=True)
class Beat:
    """The answer to a ``Probe``: a sign of life."""


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """The tracker announces a member. ``joining``: it just joined and dials everyone itself;
    otherwise it came by a merge of two parts of the room, and nobody would: dial it. A member
    that let in a newcomer itself (``Hello.direct``) announces it too, as joining. ``marked``:
    the tracker shows it with its key's mark (``Welcome.marked``)."""

    member: Member
    joining: bool
    marked: bool = False


@dataclass(frozen=True, slots=True)
class MemberLeft:
    node_id: str = _limit(MAX_ID, "node_id")
    reason: str = _limit(MAX_REASON, "reason")


@dataclass(frozen=True, slots=True)
class Ping:
    """Tracker heartbeat; it doubles as a claim to the role, so members that follow another
    tracker notice. (Claims rank by the priority in the sender's hello; this copy is info.)
    ``room``: a digest of the member ids the tracker lists, itself included, so that a member
    whose list differs notices (``MemberTable.digest``)."""

    priority: int = _limit(MAX_PRIORITY)
    room: bytes = field(default=b"", metadata={"max": 8})


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Election:
    pass


@dataclass(frozen=True, slots=True)
class Answer:
    pass


@dataclass(frozen=True, slots=True)
class Coordinator:
    """``tracker`` won an election, in place of the tracker ``replaces`` it lost ("" if none).

    Members that accept the claim let the replaced tracker go too: one that hangs instead of
    crashing would otherwise linger in their member lists, since only it pinged them.
    """

    tracker: str = _limit(MAX_ID, "node_id")
    priority: int = _limit(MAX_PRIORITY)
    replaces: str = field(default="", metadata={"max": MAX_ID, "kind": "node_id_or_none"})


@dataclass(frozen=True, slots=True)
class Bye:
    reason: str = _limit(MAX_REASON, "reason")


@dataclass(frozen=True, slots=True)
class Private:
    """A message for the receiver only (``/msg``), over the link to it: never handed on and
    never stored, so only the two ends ever hold it. ``n`` numbers the sender's private
    messages, for their ids."""

    text: str = _limit(MAX_TEXT)
    time: float
    mono: float
    n: int = _limit(2**62)


@dataclass(frozen=True, slots=True)
class PrivateAck:
    """The receiver has private message ``n``: what is not acknowledged when a link is lost
    goes again when the member is back (``receipts``)."""

    n: int = _limit(2**62)


@dataclass(frozen=True, slots=True)
class Nick:
    """The sender goes by another name from now on (``/nick``)."""

    username: str = _limit(MAX_NAME, "username")


@dataclass(frozen=True, slots=True)
class NickRefused:
    """The sender still shows the receiver by its former name: ``username``, asked for with
    ``Nick``, is another key's there (trial 54: the renamer never knew)."""

    username: str = _limit(MAX_NAME, "username")


@dataclass(frozen=True, slots=True)
class Typing:
    """The sender's user is typing a message (at most one such frame every few seconds);
    ``done``: no longer, the line was cleared (else others read "is typing" for seconds)."""

    done: bool = False


@dataclass(frozen=True, slots=True)
class FileOffer:
    """The sender offers a file (``/send``), to the room or to the receiver alone. ``offer``
    numbers the sender's offers; ``sha256`` is the whole file's, checked by the receiver."""

    offer: int = _limit(2**62)
    name: str = _limit(MAX_FILE_NAME, "file_name")
    size: int = _limit(MAX_FILE_SIZE)
    sha256: bytes = _limit(32)
    private: bool


@dataclass(frozen=True, slots=True)
class FileGet:
    """Send me the offered file from ``offset`` on (a fetch, or the rest after a cut)."""

    offer: int = _limit(2**62)
    offset: int = _limit(MAX_FILE_SIZE)


@dataclass(frozen=True, slots=True)
class FileAck:
    """The receiver holds the offered file up to ``offset``: the sender may send on (it keeps
    at most ``FILE_WINDOW`` bytes unacknowledged, so chat never waits behind more). ``came``:
    when the chunk that ends there came, in microseconds of the receiver's own clock."""

    offer: int = _limit(2**62)
    offset: int = _limit(MAX_FILE_SIZE)
    came: int = _limit(2**62)


@dataclass(frozen=True, slots=True)
class FileGone:
    """The sender no longer has the offer (withdrawn, or it restarted): to every member when
    withdrawn, and as the answer to a ``FileGet`` for it. ``busy``: it still has it, but
    serves as many fetches as it can now (fetch it again later). ``changed``: the fetcher is
    told why (trial 53 read only "bob no longer offers it")."""

    offer: int = _limit(2**62)
    busy: bool = False
    changed: bool = False  # withdrawn as the file changed since it was offered


@dataclass(frozen=True, slots=True)
class FileOffers:
    """Every offer the sender has for the receiver now, sent as their link comes (after the
    offers themselves): any other heard from it is gone (withdrawn while the two were apart,
    or made by the sender's last run)."""

    offers: tuple[int, ...] = _limit(MAX_OFFERS)


@dataclass(frozen=True, slots=True)
class FileStop:
    """The fetcher gives the fetch up (``/cancel``): send no more of the offer."""

    offer: int = _limit(2**62)


@dataclass(frozen=True, slots=True)
class FileChunk:
    """Bytes of an offered file, from ``offset``, in order. ``ack``: the sender waits for an
    acknowledgement of them (its window is full), which the fetcher sends at once."""

    offer: int = _limit(2**62)
    offset: int = _limit(MAX_FILE_SIZE)
    data: bytes = _limit(FILE_CHUNK)
    ack: bool = False


Message = (
    Hello
    | Welcome
    | Refuse
    | MemberJoined
    | MemberLeft
    | Batch
    | Ping
    | Pong
    | Election
    | Answer
    | Coordinator
    | Bye
    | Redirect
    | Roster
    | Summary
    | Want
    | Skip
    | Recent
    | RecentFrom
    | Probe
    | Beat
    | Private
    | PrivateAck
    | Nick
    | NickRefused
    | Typing
    | FileOffer
    | FileGet
    | FileAck
    | FileGone
    | FileStop
    | FileOffers
    | FileChunk
)

TAGS: dict[str, type] = {
    "hello": Hello,
    "welcome": Welcome,
    "refuse": Refuse,
    "joined": MemberJoined,
    "left": MemberLeft,
    "batch": Batch,
    "ping": Ping,
    "pong": Pong,
    "election": Election,
    "answer": Answer,
    "coordinator": Coordinator,
    "bye": Bye,
    "redirect": Redirect,
    "roster": Roster,
    "summary": Summary,
    "want": Want,
    "skip": Skip,
    "recent": Recent,
    "recent_from": RecentFrom,
    "probe": Probe,
    "beat": Beat,
    "private": Private,
    "private_ack": PrivateAck,
    "nick": Nick,
    "nick_refused": NickRefused,
    "typing": Typing,
    "file_offer": FileOffer,
    "file_get": FileGet,
    "file_ack": FileAck,
    "file_gone": FileGone,
    "file_stop": FileStop,
    "file_offers": FileOffers,
    "file_chunk": FileChunk,
}
_TAG_OF = {cls: tag for tag, cls in TAGS.items()}


# Each message type's fields, with a checker per field compiled once: the checks run on every
# frame received, so they are plain type tests and no formatting happens until one fails.
Checker = Callable[[Any], Any]
_MEMBER_LIMITS = {
    "node_id": (MAX_ID, "node_id"),
    "username": (MAX_NAME, "username"),
    "host": (MAX_HOST, "host"),
    "port": (65535, ""),
    "priority": (MAX_PRIORITY, ""),
}
_SCHEMAS: dict[type, tuple[tuple[str, Checker], ...]] = {}
_NESTED: dict[type, dict[str, str]] = {}  # fields holding members, for encode


def _checker(where: str, annotation: str, limit: int | None, kind: str) -> Checker:
    def invalid(value: Any) -> NoReturn:
        raise ProtocolViolation(f"{where} is invalid: {describe(value)}")

    valid_kind = _KINDS[kind]

    def check_str(value: Any) -> str:
        if type(value) is str and len(value) <= (limit or MAX_TEXT) and valid_kind(value):
            return value
        invalid(value)

    def check_int(value: Any) -> int:
        if type(value) is int and 0 <= value <= (limit or 2**62):
            return value
        invalid(value)

    def check_float(value: Any) -> float:
        if type(value) in (float, int) and math.isfinite(value):
            return float(value)
        invalid(value)

    def check_bytes(value: Any) -> bytes:
        if type(value) is bytes and len(value) <= (limit or 0):
            return value
        invalid(value)

    def check_heads(value: Any) -> dict[str, int]:
        if type(value) is dict and len(value) <= (limit or 0):
            for author, seq in value.items():
                if not (
                    type(author) is str
                    and len(author) <= MAX_ID
                    and _NODE_ID.fullmatch(author)
                    and type(seq) is int
                    and 0 <= seq <= 2**62
                ):
                    invalid(author)
            return value
        raise ProtocolViolation(f"{where} must be a map of at most {limit} authors")

    def check_bool(value: Any) -> bool:
        if type(value) is bool:
            return value
        invalid(value)

    def check_numbers(value: Any) -> tuple[int, ...]:
        if type(value) in (list, tuple) and len(value) <= (limit or 0):
            for n in value:
                if type(n) is not int or not 0 <= n <= 2**62:
                    invalid(n)
            return tuple(value)
        raise ProtocolViolation(f"{where} must be a list of at most {limit} numbers")

    def check_member(value: Any) -> Member:
        return _build(Member, value)

    def check_members(value: Any) -> tuple[Member, ...]:
        if type(value) is list and len(value) <= (limit or MAX_MEMBERS):
            return tuple(_build(Member, m) for m in value)
        raise ProtocolViolation(f"{where} must be a list of at most {limit} members")

    if annotation != "str" and kind:
        raise TypeError(f"{where}: only strings have a kind")

    return {
        "str": check_str,
        "int": check_int,
        "float": check_float,
        "bool": check_bool,
        "bytes": check_bytes,
        "dict[str, int]": check_heads,
        "tuple[int, ...]": check_numbers,
        "Member": check_member,
        "tuple[Member, ...]": check_members,
    }[annotation]


def _limits_of(cls: type, f: dataclasses.Field[Any]) -> tuple[int | None, str]:
    if cls is Member:
        return _MEMBER_LIMITS.get(f.name, (None, ""))
    return f.metadata.get("max"), f.metadata.get("kind", "")


for _cls in (*TAGS.values(), Member):
    _SCHEMAS[_cls] = tuple(
        (f.name, _checker(f"{_cls.__name__}.{f.name}", str(f.type), *_limits_of(_cls, f)))
        for f in dataclasses.fields(_cls)
    )
    _NESTED[_cls] = {
        f.name: str(f.type) for f in dataclasses.fields(_cls) if "Member" in str(f.type)
    }


def encode(message: Message) -> dict[str, Any]:
    out = {"t": _TAG_OF[type(message)]}
    for name, _ in _SCHEMAS[type(message)]:
        out[name] = getattr(message, name)
    for name, annotation in _NESTED[type(message)].items():
        value = out[name]
        out[name] = (
            _member_out(value) if annotation == "Member" else [_member_out(m) for m in value]
        )
    return out


def _member_out(member: Member) -> dict[str, Any]:
    return {name: getattr(member, name) for name, _ in _SCHEMAS[Member]}


def listed(frame: dict[str, Any]) -> int:
    """How many members a roster lists, before any is checked: a member that sent 10,000 a
    frame, back to back, kept a core busy checking them (an attack), so a link's rosters are
    paced by their length."""
    members = frame.get("members") if frame.get("t") == "roster" else None
    return len(members) if isinstance(members, list) else 0


def decode(frame: dict[str, Any]) -> Message:
    tag = frame.get("t")
    cls = TAGS.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise ProtocolViolation(f"unknown message type {describe(tag)}")
    version = frame.get("version")
    if cls is Hello and (type(version) is not int or version != PROTOCOL_VERSION):
        raise VersionMismatch(f"protocol version {describe(version)} is not supported")
    return _build(cls, frame)


def _build(cls: type, data: Any) -> Any:
    if type(data) is not dict:
        raise ProtocolViolation(f"{cls.__name__} must be a map")
    try:
        return cls(*[check(data[name]) for name, check in _SCHEMAS[cls]])
    except KeyError as exc:
        raise ProtocolViolation(f"{cls.__name__} lacks {exc.args[0]!r}") from None
