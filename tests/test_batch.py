"""peerchat.batch: sealing and opening an author's signed batch, and refusing malformed ones."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from peerchat import chat, identity
from peerchat.batch import (
    MAX_CHARS,
    MAX_ITEMS,
    MAX_LAMPORT,
    MAX_SEQ,
    TAG,
    Batch,
    open_batch,
    room_tag,
    seal,
)
from peerchat.chat import Chat
from peerchat.handshake import OPEN_ROOM
from peerchat.identity import Identity
from peerchat.protocol import MAX_TEXT, ProtocolViolation

ROOM = room_tag("", "127.0.0.1:5000", OPEN_ROOM)  # an open room without a name

ME = Identity.generate()
OTHER = Identity.generate()
NOW = 1_800_000_000.0


def chats(author: Identity, first: int, lamport: int, count: int) -> list[Chat]:
    return [
        Chat(author.node_id, first + i, lamport + i, f"m{first + i} ✓", NOW + i, 7.5 + i)
        for i in range(count)
    ]


def pack(**fields: Any) -> bytes:
    """The msgpack of a batch's fields, with some replaced (``fields`` by name)."""
    base = {
        "tag": TAG,
        "room": ROOM,
        "key": ME.public_key,
        "username": "alice",
        "first": 1,
        "lamport": 1,
        "items": [[NOW, 1.0, "hi"]],
    }
    base.update(fields)
    return msgpack.packb(list(base.values()), use_bin_type=True)


def sig(data: bytes) -> bytes:
    return ME.sign(data)


# -- round trip --------------------------------------------------------------------------------


def test_seal_then_open_gives_the_same_batch() -> None:
    said = chats(ME, 5, 40, 3)
    sealed = seal(ME, "alice", said, ROOM)
    opened = open_batch(sealed.data, sealed.sig)
    assert opened == sealed
    assert (opened.author, opened.username, opened.first, opened.lamport) == (
        ME.node_id,
        "alice",
        5,
        40,
    )
    assert opened.items == ((NOW, 7.5, "m5 ✓"), (NOW + 1, 8.5, "m6 ✓"), (NOW + 2, 9.5, "m7 ✓"))
    assert list(opened.chats()) == said
    assert (opened.last, opened.items[-1][0]) == (7, NOW + 2)


def test_a_sealed_batch_is_signed() -> None:
    sealed = seal(ME, "alice", chats(ME, 1, 1, 2), ROOM)
    assert sealed.signed()
    assert open_batch(sealed.data, sealed.sig).signed()


def test_a_batch_said_under_a_name_with_a_keys_mark_opens() -> None:
    """No one may take such a name now, but lines said under one before still open: a review
    found a store holding one kept the node from starting."""
    sealed = seal(ME, "bob~2baef1", chats(ME, 1, 1, 1), ROOM)
    assert open_batch(sealed.data, sealed.sig).username == "bob~2baef1"


def test_the_author_is_the_node_id_of_the_key() -> None:
    sealed = seal(ME, "alice", chats(ME, 1, 1, 1), ROOM)
    assert sealed.author == identity.node_id_of(ME.public_key) == ME.node_id
    data = pack(key=OTHER.public_key)
    assert open_batch(data, sig(data)).author == OTHER.node_id


def test_a_batch_of_the_most_items_and_numbers_opens() -> None:
    items = [[NOW, 1.0, "x"]] * MAX_ITEMS
    data = pack(items=items, first=MAX_SEQ - MAX_ITEMS, lamport=MAX_LAMPORT)
    b = open_batch(data, sig(data))
    assert (len(b.items), b.last, b.lamport) == (MAX_ITEMS, MAX_SEQ - 1, MAX_LAMPORT)


def test_a_batch_may_carry_lamport_times_a_receiver_refuses() -> None:
    # the batch limit is 2**61, above the 2**60 that a receiver's clock follows at most
    # (``chat.MAX_LAMPORT``): our own clock, at most that plus what we say, stays below it
    assert MAX_LAMPORT == 2**61
    assert chat.MAX_LAMPORT == 2**60
    for lamport in (chat.MAX_LAMPORT, chat.MAX_LAMPORT + 1, MAX_LAMPORT - 1, MAX_LAMPORT):
        data = pack(lamport=lamport)
        assert open_batch(data, sig(data)).lamport == lamport


def test_a_batch_sealed_just_after_a_receive_at_the_limit_opens() -> None:
    log = chat.ChatLog(ME.node_id)
    log.start_after(OTHER.node_id, 0)
    log.receive(Chat(OTHER.node_id, 1, chat.MAX_LAMPORT, "x", NOW, 0.0))  # the most taken
    said = [log.compose(f"m{i}", NOW, 0.0) for i in range(MAX_ITEMS)]
    sealed = seal(ME, "alice", said, ROOM)
    assert sealed.lamport == chat.MAX_LAMPORT + 2
    assert open_batch(sealed.data, sealed.sig) == sealed


def test_integer_times_open_as_floats() -> None:
    data = pack(items=[[5, 6, "x"]])
    assert open_batch(data, sig(data)).items == ((5.0, 6.0, "x"),)
    assert type(open_batch(data, sig(data)).items[0][0]) is float


# -- tampering and forgery ---------------------------------------------------------------------


def opens_unsigned(data: bytes, signature: bytes) -> bool:
    """True when the batch is refused or its signature fails; False when it passes as signed."""
    try:
        b = open_batch(data, signature)
    except ProtocolViolation:
        return True
    return not b.signed()


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_any_altered_byte_of_data_is_refused_or_unsigned(flip: int) -> None:
    sealed = seal(ME, "alice", chats(ME, 3, 9, 2), ROOM)
    for i in range(len(sealed.data)):
        altered = bytearray(sealed.data)
        altered[i] ^= flip
        assert opens_unsigned(bytes(altered), sealed.sig), f"byte {i} ^ {flip:#x}"


def test_an_altered_signature_fails() -> None:
    sealed = seal(ME, "alice", chats(ME, 1, 1, 1), ROOM)
    for i in (0, 31, 63):
        altered = bytearray(sealed.sig)
        altered[i] ^= 0x01
        assert not open_batch(sealed.data, bytes(altered)).signed()


def test_a_signature_from_another_key_fails() -> None:
    sealed = seal(ME, "alice", chats(ME, 1, 1, 1), ROOM)
    forged = open_batch(sealed.data, OTHER.sign(sealed.data))
    assert forged.author == ME.node_id
    assert not forged.signed()


def test_a_batch_said_in_one_room_is_refused_in_another() -> None:
    """Attack round 25: a member of two rooms handed an author's line of one on in the other,
    under the author's signature; the room is among the signed bytes now."""
    said = chats(ME, 1, 1, 1)
    dev = room_tag("dev", "", OPEN_ROOM)
    sealed = seal(ME, "alice", said, dev)
    assert open_batch(sealed.data, sealed.sig, room=dev).signed()
    for other in (room_tag("ops", "", OPEN_ROOM), room_tag("dev", "", b"k" * 32), ROOM):
        with pytest.raises(ProtocolViolation, match="another room"):
            open_batch(sealed.data, sealed.sig, room=other)
    moved = pack(room=room_tag("ops", "", OPEN_ROOM))  # the room swapped: the signature fails
    assert not open_batch(moved, sealed.sig, room=room_tag("ops", "", OPEN_ROOM)).signed()


@pytest.mark.parametrize("room", [b"", b"x" * 15, "dev", None])
def test_a_batch_naming_no_room_is_refused(room: Any) -> None:
    with pytest.raises(ProtocolViolation):
        open_batch(pack(room=room), b"s" * identity.SIGNATURE_SIZE)


def test_a_batch_signed_by_its_key_but_claiming_another_author_cannot_exist() -> None:
    # the author is never a field of its own: whoever signs with OTHER's key is OTHER
    data = pack(key=OTHER.public_key)
    b = open_batch(data, OTHER.sign(data))
    assert b.signed()
    assert b.author == OTHER.node_id != ME.node_id


def test_a_signature_of_the_wrong_size_is_refused() -> None:
    data = pack()
    with pytest.raises(ProtocolViolation):
        open_batch(data, sig(data)[:-1])
    with pytest.raises(ProtocolViolation):
        open_batch(data, sig(data) + b"\x00")


# -- malformed ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never used by msgpack
        b"\x96",  # an array of six that ends at once
        pack() + b"\x00",  # trailing bytes
        msgpack.packb({"tag": TAG}),
        msgpack.packb(7),
        msgpack.packb(TAG),
    ],
    ids=["empty", "reserved-byte", "truncated", "trailing", "map", "int", "str"],
)
def test_data_that_is_not_a_batch_list_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        open_batch(data, bytes(64))


@pytest.mark.parametrize("count", [0, 1, 5, 7])
def test_a_list_of_the_wrong_length_is_refused(count: int) -> None:
    fields = [TAG, ME.public_key, "alice", 1, 1, [[NOW, 1.0, "hi"]], 0, 0][:count]
    data = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(ProtocolViolation):
        open_batch(data, sig(data))


BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("wrong-tag", {"tag": "peerchat-chat-v1"}),
    ("no-tag", {"tag": None}),
    ("key-short", {"key": ME.public_key[:31]}),
    ("key-long", {"key": ME.public_key + b"\x00"}),
    ("key-empty", {"key": b""}),
    ("key-as-str", {"key": ME.public_key.hex()}),
    ("username-empty", {"username": ""}),
    ("username-space", {"username": "al ice"}),
    ("username-control", {"username": "al\x00ice"}),
    ("username-long", {"username": "a" * 33}),
    ("username-int", {"username": 5}),
    ("first-zero", {"first": 0}),
    ("first-negative", {"first": -1}),
    ("first-too-high", {"first": MAX_SEQ}),
    ("first-float", {"first": 1.0}),
    ("first-bool", {"first": True}),
    ("lamport-negative", {"lamport": -1}),
    ("lamport-too-high", {"lamport": MAX_LAMPORT + 1}),
    ("lamport-str", {"lamport": "1"}),
    ("no-items", {"items": []}),
    ("too-many-items", {"items": [[NOW, 1.0, "x"]] * (MAX_ITEMS + 1)}),
    ("items-not-list", {"items": "hi"}),
    ("item-short", {"items": [[NOW, "hi"]]}),
    ("item-long", {"items": [[NOW, 1.0, "hi", 0]]}),
    ("item-not-list", {"items": ["hi"]}),
    ("text-too-long", {"items": [[NOW, 1.0, "x" * (MAX_TEXT + 1)]]}),
    ("text-bytes", {"items": [[NOW, 1.0, b"hi"]]}),
    ("text-none", {"items": [[NOW, 1.0, None]]}),
    ("too-much-text", {"items": [[NOW, 1.0, "x" * MAX_TEXT]] * (MAX_CHARS // MAX_TEXT + 1)}),
    ("time-nan", {"items": [[float("nan"), 1.0, "hi"]]}),
    ("time-inf", {"items": [[float("inf"), 1.0, "hi"]]}),
    ("time-minus-inf", {"items": [[float("-inf"), 1.0, "hi"]]}),
    ("mono-nan", {"items": [[NOW, float("nan"), "hi"]]}),
    ("mono-inf", {"items": [[NOW, float("inf"), "hi"]]}),
    ("time-str", {"items": [["now", 1.0, "hi"]]}),
    ("time-bool", {"items": [[True, 1.0, "hi"]]}),
    ("bad-second-item", {"items": [[NOW, 1.0, "ok"], [NOW, float("nan"), "hi"]]}),
]


@pytest.mark.parametrize("fields", [f for _, f in BAD_FIELDS], ids=[name for name, _ in BAD_FIELDS])
def test_a_malformed_field_is_refused(fields: dict[str, Any]) -> None:
    data = pack(**fields)
    with pytest.raises(ProtocolViolation):
        open_batch(data, sig(data))


def test_the_limits_themselves_are_accepted() -> None:
    # the other side of the malformed cases: each bound is inclusive
    for fields in (
        {"username": "a" * 32},
        {"items": [[NOW, 1.0, "x" * MAX_TEXT]]},
        {"items": [[NOW, 1.0, "x" * MAX_TEXT]] * (MAX_CHARS // MAX_TEXT)},
        {"items": [[-1.5, 0, ""]]},
        {"lamport": 0},
    ):
        data = pack(**fields)
        assert isinstance(open_batch(data, sig(data)), Batch), fields
