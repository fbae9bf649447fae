"""An author's messages as they are sent, stored and handed on: consecutive numbers under one
signature. No I/O.

One signature per batch, not per message: signing costs some 50 us and checking 140 us on this
machine, too much per message for a room in full flow, while a batch holds whatever its author
said since the last one went out (one message when typing, hundreds in a burst). The batch's
bytes are kept as signed, so the store and any member that hands it on pass the very bytes the
author signed, and anyone can check them: the author's public key is inside, and the node id is
its hash (``identity.node_id_of``).

``data`` = msgpack ``[TAG, room, key, username, first, lamport, [[time, mono, text], ...]]``:
message ``first + i`` has Lamport time ``lamport + i``. An action (``/me``) has a fourth
element, ``ACTION``. ``room`` (``room_tag``) binds the batch to its room: a member of two rooms
in which one author speaks with one key could hand that author's lines of one room on in the
other, under the author's signature (attack round 25 showed a room's "team only" line as
history in another room); a receiver takes only batches of its own room.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from peerchat import identity
from peerchat.chat import Chat
from peerchat.membership import valid_username
from peerchat.protocol import MAX_NAME, MAX_TEXT, ProtocolViolation

TAG = "peerchat-batch-v2"  # a batch signature can never pass for one over something else
ROOM_TAG_SIZE = 16
MAX_ITEMS = 256  # messages per batch
MAX_CHARS = 128 * 1024  # text per batch: at most 512 KiB of UTF-8, well inside a 1 MiB frame
MAX_SEQ = 2**62
MAX_LAMPORT = 2**61  # above what a receiver takes (``chat.MAX_LAMPORT``): headroom for our clock
ACTION = "me"  # the fourth element of an item that is an action line
MAX_KNOWN = 4096  # (key, name) pairs whose id and name were checked, kept to skip doing it again

_known: dict[tuple[bytes, str], str] = {}  # (key, username) -> author, both checked

Item = tuple[float, float, str] | tuple[float, float, str, str]  # (time, mono, text[, ACTION])


@dataclass(slots=True)  # not frozen: made once per batch received, on the hot path
class Batch:
    author: str
    username: str
    first: int
    lamport: int
    items: tuple[Item, ...]
    key: bytes
    data: bytes  # the signed bytes, as the author made them
    sig: bytes
    room: bytes  # ``room_tag`` of the room it was said in
    checked: bool = field(default=False, compare=False)  # the signature is known to hold
    last: int = field(init=False)

    def __post_init__(self) -> None:
        self.last = self.first + len(self.items) - 1

    def signed(self) -> bool:
        """The author's signature is good: nobody altered or forged the batch. Checked once."""
        if not self.checked:
            self.checked = identity.verify(self.key, self.sig, self.data)
        return self.checked

    def chats(self, *, live_after: float = math.inf) -> Iterator[Chat]:
        """The messages; those numbered past ``live_after`` were sent to us as they were said."""
        author, first, lamport = self.author, self.first, self.lamport
        for i, item in enumerate(self.items):
            seq = first + i
            live = seq > live_after
            yield Chat(author, seq, lamport + i, item[2], item[0], item[1], len(item) == 4, live)


@functools.lru_cache(maxsize=64)  # asked for each batch sent and received: a room has one
def room_tag(name: str, home: str, psk: bytes) -> bytes:
    """How a batch names the room it was said in, hashed with the room's key (``psk``): by its
    name, or for a room without one by its home address (its identity, as hellos compare it;
    parts of a named room meet with two homes)."""
    said = (f"name {name}" if name else f"home {home}").encode() + b"\0" + psk
    return hashlib.blake2s(said, digest_size=ROOM_TAG_SIZE, person=b"pcroom2").digest()


def seal(me: identity.Identity, username: str, chats: list[Chat], room: bytes) -> Batch:
    """Our consecutive ``chats``, said in the room ``room`` (``room_tag``), as one signed
    batch."""
    first = chats[0]
    items = tuple(
        (c.time, c.mono, c.text, ACTION) if c.action else (c.time, c.mono, c.text) for c in chats
    )
    data = msgpack.packb(
        [TAG, room, me.public_key, username, first.seq, first.lamport, items], use_bin_type=True
    )
    sig = me.sign(data)
    return Batch(
        me.node_id, username, first.seq, first.lamport, items, me.public_key, data, sig, room, True
    )


def open_batch(
    data: bytes, sig: bytes, *, room: bytes | None = None, checked: bool = False
) -> Batch:
    """The batch in ``data``, its shape checked, and that it is of the room ``room`` if given
    (not its signature: ``Batch.signed``, unless ``checked`` says it was, before it was
    kept)."""
    try:
        fields = msgpack.unpackb(
            data,
            use_list=True,
            raw=False,
            strict_map_key=True,
            max_bin_len=identity.KEY_SIZE,
            max_str_len=MAX_TEXT * 4,
            max_array_len=MAX_ITEMS,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # anything the unpacker says about a peer's bytes
        raise ProtocolViolation("a batch that is not msgpack") from exc
    if type(fields) is not list or len(fields) != 7:
        raise ProtocolViolation("a batch of the wrong shape")
    tag, said_in, key, username, first, lamport, items = fields
    if room is not None and said_in != room:
        raise ProtocolViolation("a batch said in another room")
    author = _author(key, username)
    if (
        tag != TAG
        or type(said_in) is not bytes
        or len(said_in) != ROOM_TAG_SIZE
        or not author
        or type(first) is not int
        or type(lamport) is not int
        or type(items) is not list
        or not 1 <= len(items) <= MAX_ITEMS
        or not 1 <= first <= MAX_SEQ - len(items)
        or not 0 <= lamport <= MAX_LAMPORT
        or len(sig) != identity.SIGNATURE_SIZE
    ):
        raise ProtocolViolation("a batch with a bad header")
    return Batch(author, username, first, lamport, _items(items), key, data, sig, said_in, checked)


def _author(key: Any, username: Any) -> str:
    """The node id of ``key`` if it is a key and ``username`` a valid name, else ""."""
    if type(key) is not bytes or type(username) is not str:
        return ""
    author = _known.get((key, username))
    if author is None:
        author = identity.node_id_of(key)
        if not author or len(username) > MAX_NAME or not valid_username(username):
            return ""
        if len(_known) >= MAX_KNOWN:
            _known.clear()
        _known[key, username] = author
    return author


def _items(items: list[Any]) -> tuple[Item, ...]:
    out: list[Item] = []
    chars = 0
    for item in items:
        if type(item) is not list or not 3 <= len(item) <= 4:
            raise ProtocolViolation("a batch item of the wrong shape")
        wall, mono, text = item[:3]
        if not (_finite(wall) and _finite(mono) and type(text) is str and len(text) <= MAX_TEXT):
            raise ProtocolViolation("a batch item with a bad field")
        chars += len(text)
        if len(item) == 3:
            out.append((float(wall), float(mono), text))
        elif item[3] == ACTION:
            out.append((float(wall), float(mono), text, ACTION))
        else:
            raise ProtocolViolation("a batch item of an unknown kind")
    if chars > MAX_CHARS:
        raise ProtocolViolation("a batch with too much text")
    return tuple(out)


def _finite(value: Any) -> bool:
    return type(value) in (float, int) and math.isfinite(value)
