"""peerchat.protocol: every message survives the wire, and every bad frame is a
ProtocolViolation (never a TypeError, KeyError or a half-built message)."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from peerchat import PROTOCOL_VERSION
from peerchat.membership import Member
from peerchat.protocol import (
    FILE_CHUNK,
    MAX_BATCH,
    MAX_FILE_NAME,
    MAX_FILE_SIZE,
    MAX_HEADS,
    MAX_ID,
    MAX_MEMBERS,
    MAX_NAME,
    MAX_PRIORITY,
    MAX_REASON,
    MAX_RECENT,
    MAX_TEXT,
    TAGS,
    Answer,
    Batch,
    Beat,
    Bye,
    Coordinator,
    Election,
    FileAck,
    FileChunk,
    FileGet,
    FileGone,
    FileOffer,
    FileOffers,
    FileStop,
    Hello,
    MemberJoined,
    MemberLeft,
    Nick,
    NickRefused,
    Ping,
    Pong,
    Private,
    PrivateAck,
    Probe,
    ProtocolViolation,
    Recent,
    RecentFrom,
    Redirect,
    Refuse,
    Roster,
    Skip,
    Summary,
    Typing,
    VersionMismatch,
    Want,
    Welcome,
    decode,
    encode,
)
from peerchat.secure_stream import MAX_PLAIN
from peerchat.wire import HEADER, FrameDecoder, FrameError, encode_frame

ALICE = Member("a" * 16, "alice", "127.0.0.1", 4000, 4000)
BOB = Member("b" * 16, "bob", "10.0.0.2", 4001, 7, chat=False)
MAX_SIG = 64  # Batch.sig: an Ed25519 signature
ALL_BYTES = bytes(range(256))  # bin on the wire: every byte value comes back as it went

SAMPLES = {
    Hello: Hello(
        PROTOCOL_VERSION, "a" * 16, "alice", "127.0.0.1", 4000, 4000, True, 12, True, "h:5000", "b"
    ),
    Welcome: Welcome((ALICE, BOB), ALICE.node_id, (1,)),
    Refuse: Refuse("protocol version 9 is not supported"),
    MemberJoined: MemberJoined(BOB, joining=False, marked=True),
    MemberLeft: MemberLeft(BOB.node_id, "quit"),
    Batch: Batch(ALL_BYTES, b"\xff" * MAX_SIG, old=True),
    Ping: Ping(4000),
    Pong: Pong(),
    Election: Election(),
    Answer: Answer(),
    Coordinator: Coordinator(ALICE.node_id, 4000),
    Bye: Bye("quit"),
    Redirect: Redirect("10.0.0.1", 5000),
    Roster: Roster((ALICE, BOB)),
    Summary: Summary({ALICE.node_id: 41, BOB.node_id: 0, "c-_9Z": 2**62}),
    Want: Want(ALICE.node_id, 41),
    Recent: Recent(50),
    RecentFrom: RecentFrom({ALICE.node_id: 41, BOB.node_id: 1}),
    Probe: Probe(),
    Skip: Skip(BOB.node_id, 7),
    Beat: Beat(),
    Private: Private("just between us ✓", 1.7e9, 12.5, 3),
    PrivateAck: PrivateAck(3),
    Nick: Nick("alicia"),
    NickRefused: NickRefused("carol"),
    Typing: Typing(done=True),
    FileOffer: FileOffer(7, "report (final).pdf", 52_428_800, bytes(range(32)), False),
    FileGet: FileGet(7, 65536),
    FileGone: FileGone(7, busy=True),
    FileStop: FileStop(7),
    FileOffers: FileOffers((7, 2**62)),
    FileAck: FileAck(7, 131072, 5_000_000),
    FileChunk: FileChunk(7, 65536, ALL_BYTES * 255),
}


def over_the_wire(frame: dict[str, Any]) -> dict[str, Any]:
    decoder = FrameDecoder()
    decoder.feed(encode_frame(frame))
    (out,) = decoder.frames()
    return out


def valid(cls: type) -> dict[str, Any]:
    return encode(SAMPLES[cls])


def with_(cls: type, **changes: Any) -> dict[str, Any]:
    frame = valid(cls)
    frame.update(changes)
    return frame


def test_samples_cover_every_tag() -> None:
    assert set(SAMPLES) == set(TAGS.values())


@pytest.mark.parametrize("tag", sorted(TAGS))
def test_round_trip_every_message_type(tag: str) -> None:
    message = SAMPLES[TAGS[tag]]
    frame = encode(message)
    assert frame["t"] == tag
    assert decode(over_the_wire(frame)) == message


def test_welcome_members_come_back_as_members() -> None:
    decoded = decode(over_the_wire(encode(SAMPLES[Welcome])))
    assert isinstance(decoded, Welcome)
    assert decoded.members == (ALICE, BOB)
    assert all(isinstance(m, Member) for m in decoded.members)
    assert decoded.members[1].chat is False


def test_welcome_with_no_members() -> None:
    message = Welcome((), "x")
    assert decode(over_the_wire(encode(message))) == message


def test_batch_bytes_come_back_as_bytes() -> None:
    # msgpack bin, not str: any byte value, none of it read as text.
    decoded = decode(over_the_wire(encode(Batch(ALL_BYTES, b"", old=False))))
    assert isinstance(decoded, Batch)
    assert type(decoded.data) is bytes and decoded.data == ALL_BYTES
    assert decoded.sig == b"" and decoded.old is False


def test_summary_heads_come_back_as_a_map() -> None:
    decoded = decode(over_the_wire(encode(SAMPLES[Summary])))
    assert isinstance(decoded, Summary)
    assert type(decoded.heads) is dict
    assert decoded.heads == {ALICE.node_id: 41, BOB.node_id: 0, "c-_9Z": 2**62}


def test_summary_with_no_heads() -> None:
    message = Summary({})
    assert decode(over_the_wire(encode(message))) == message


@pytest.mark.parametrize(
    "frame",
    [
        {
            "t": "chat",
            "sender": "a",
            "seq": 1,
            "lamport": 1,
            "text": "hi",
            "time": 0.0,
            "mono": 0.0,
        },
        {"t": "have", "seq": 41},
    ],
    ids=["chat", "have"],
)
def test_messages_of_earlier_versions_are_unknown(frame: dict[str, Any]) -> None:
    # Chat travels in a signed batch now, and Have gave way to Summary and Want.
    with pytest.raises(ProtocolViolation, match="unknown message type"):
        decode(frame)


def test_a_skip_without_its_author_is_refused() -> None:
    # Version 2's skip had only a seq.
    with pytest.raises(ProtocolViolation, match="author"):
        decode({"t": "skip", "seq": 7})


def test_extra_keys_are_ignored() -> None:
    assert decode(with_(Ping, extra="from a newer version")) == SAMPLES[Ping]


# -- type and shape ---------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["nope", "", "Hello", "PING", 1, None, True, b"ping"])
def test_unknown_type(tag: object) -> None:
    with pytest.raises(ProtocolViolation, match="unknown message type"):
        decode({"t": tag})


def test_missing_type() -> None:
    with pytest.raises(ProtocolViolation, match="unknown message type"):
        decode({"priority": 4})


def test_violation_is_a_frame_error() -> None:
    # The connection's reader catches FrameError for both layers.
    assert issubclass(ProtocolViolation, FrameError)
    assert issubclass(VersionMismatch, ProtocolViolation)


@pytest.mark.parametrize(
    "cls", [cls for cls in SAMPLES if valid(cls).keys() - {"t"}], ids=lambda c: c.__name__
)
def test_missing_each_field(cls: type) -> None:
    for name in valid(cls).keys() - {"t"}:
        frame = valid(cls)
        del frame[name]
        with pytest.raises(ProtocolViolation):
            decode(frame)


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        # bool where int
        (Ping, "priority", True),
        (Want, "after", False),
        (Skip, "seq", True),
        (Recent, "count", True),
        (Hello, "port", True),
        # str where int
        (Ping, "priority", "4000"),
        (Want, "after", "1"),
        (Skip, "seq", "7"),
        # float where int
        (Want, "after", 1.0),
        (Recent, "count", 50.0),
        # int where str
        (Want, "author", 42),
        (Skip, "author", 0),
        (Coordinator, "tracker", 7),
        (MemberLeft, "reason", 0),
        # bytes where str
        (Want, "author", b"alice"),
        (Skip, "author", b"b" * 16),
        # str where bytes
        (Batch, "data", "signed bytes"),
        (Batch, "sig", "f" * MAX_SIG),
        # other scalars where bytes
        (Batch, "data", 0),
        (Batch, "data", True),
        (Batch, "sig", 1.5),
        (Batch, "data", msgpack.ExtType(1, b"data")),
        # int where bool
        (Hello, "chat", 1),
        (Hello, "join", 0),
        (Batch, "old", 1),
        (Batch, "old", 0),
        # str and bytes where bool
        (Batch, "old", "false"),
        (Refuse, "retry", b"\x01"),
        # a list or a str where the map of heads
        (Summary, "heads", [[ALICE.node_id, 1]]),
        (Summary, "heads", ALICE.node_id),
        (Summary, "heads", 3),
        # nil anywhere
        (Want, "author", None),
        (Ping, "priority", None),
        (Batch, "data", None),
        (Batch, "old", None),
        (Summary, "heads", None),
        # containers where scalars
        (Want, "author", ["a"]),
        (Ping, "priority", {"n": 1}),
        (Recent, "count", [50]),
        (Batch, "data", [1, 2, 3]),
        (Batch, "sig", {"sig": b"x"}),
        # private messages and names
        (Private, "text", b"bytes"),
        (Private, "time", float("nan")),
        (Private, "mono", "12"),
        (Private, "n", -1),
        (Nick, "username", "two words"),
        (Nick, "username", "bell\x07"),
        (Nick, "username", ""),
        # files
        (FileOffer, "name", "../etc/passwd"),
        (FileOffer, "name", "a\\b"),
        (FileOffer, "name", ".."),
        (FileOffer, "name", ""),
        (FileOffer, "name", "x\x1b[2Jy"),
        (FileOffer, "sha256", "hex"),
        (FileGet, "offset", -1),
        (FileChunk, "data", "text"),
    ],
)
def test_wrong_field_type(cls: type, field: str, value: object) -> None:
    with pytest.raises(ProtocolViolation, match=f"{cls.__name__}.{field}"):
        decode(with_(cls, **{field: value}))


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (Ping, "priority"),
        (Want, "after"),
        (Skip, "seq"),
        (Recent, "count"),
        (Coordinator, "priority"),
    ],
)
def test_negative_int(cls: type, field: str) -> None:
    with pytest.raises(ProtocolViolation):
        decode(with_(cls, **{field: -1}))


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (Hello, "port", 65536),
        (Hello, "priority", MAX_PRIORITY + 1),
        (Ping, "priority", MAX_PRIORITY + 1),
        (Want, "after", 2**63),
        (Skip, "seq", 2**64 - 1),
        (Recent, "count", MAX_RECENT + 1),
        (Recent, "count", 2**62),
    ],
)
def test_int_over_limit(cls: type, field: str, value: int) -> None:
    with pytest.raises(ProtocolViolation):
        decode(over_the_wire(with_(cls, **{field: value})))


def test_int_limits_are_inclusive() -> None:
    assert decode(with_(Hello, port=65535)).port == 65535
    assert decode(with_(Hello, port=0)).port == 0
    assert decode(with_(Want, after=2**62)).after == 2**62
    assert decode(with_(Skip, seq=2**62)).seq == 2**62
    assert decode(with_(Recent, count=MAX_RECENT)).count == MAX_RECENT
    assert decode(with_(Recent, count=0)).count == 0


@pytest.mark.parametrize(
    ("cls", "field", "limit"),
    [
        (Hello, "username", MAX_NAME),
        (Hello, "node_id", MAX_ID),
        (Want, "author", MAX_ID),
        (Skip, "author", MAX_ID),
        (MemberLeft, "reason", MAX_REASON),
        (Bye, "reason", MAX_REASON),
        (Refuse, "reason", MAX_REASON),
        (Private, "text", MAX_TEXT),
        (Nick, "username", MAX_NAME),
        (FileOffer, "name", MAX_FILE_NAME),
    ],
)
def test_string_limits(cls: type, field: str, limit: int) -> None:
    assert getattr(decode(with_(cls, **{field: "x" * limit})), field) == "x" * limit
    with pytest.raises(ProtocolViolation, match=f"{cls.__name__}.{field}"):
        decode(with_(cls, **{field: "x" * (limit + 1)}))


@pytest.mark.parametrize(("field", "limit"), [("data", MAX_BATCH), ("sig", MAX_SIG)])
def test_bytes_limits(field: str, limit: int) -> None:
    # Checked on the decoded map: a batch of MAX_BATCH bytes and the rest of its frame would
    # not fit a frame of the default size.
    assert getattr(decode(with_(Batch, **{field: b"\x00" * limit})), field) == b"\x00" * limit
    with pytest.raises(ProtocolViolation, match=f"Batch.{field}"):
        decode(with_(Batch, **{field: b"\x00" * (limit + 1)}))


def test_empty_bytes_pass() -> None:
    assert decode(with_(Batch, data=b"", sig=b"")) == Batch(b"", b"", old=True)


def test_overlong_username_in_multibyte_characters() -> None:
    # The limit counts characters: 32 snowmen fit, 33 do not.
    assert decode(with_(Hello, username="☃" * MAX_NAME)).username == "☃" * MAX_NAME
    with pytest.raises(ProtocolViolation):
        decode(with_(Hello, username="☃" * (MAX_NAME + 1)))


# -- members ----------------------------------------------------------------------------------


def member_map(**changes: Any) -> dict[str, Any]:
    out = {"node_id": "c" * 8, "username": "carol", "host": "h", "port": 1, "priority": 1}
    out["chat"] = True
    out.update(changes)
    return out


@pytest.mark.parametrize(
    "bad",
    [
        member_map(port="1"),
        member_map(port=70000),
        member_map(priority=-5),
        member_map(username="x" * (MAX_NAME + 1)),
        member_map(node_id=None),
        member_map(chat="yes"),
        {k: v for k, v in member_map().items() if k != "host"},
        ["c", "carol", "h", 1, 1, True],
        "carol",
        None,
    ],
    ids=[
        "port-str",
        "port-big",
        "priority-negative",
        "username-long",
        "node-id-nil",
        "chat-str",
        "no-host",
        "list",
        "str",
        "nil",
    ],
)
def test_member_list_with_a_bad_member(bad: object) -> None:
    frame = with_(Welcome, members=[member_map(), bad])
    with pytest.raises(ProtocolViolation):
        decode(frame)


@pytest.mark.parametrize(
    "host",
    ["10.150.0.02", "10.150.0.002", "10.2", "10.9830402", "0xa960002", "0xA.150.0.2", "1.2.3.4."],
)
def test_a_member_at_an_address_spelled_as_a_number_is_refused(host: str) -> None:
    """The C library reads each as an IPv4 address (10.150.0.2, ...): one address spelled
    256 ways had 256 join paces (attack round 15). Names and addresses as written stay."""
    with pytest.raises(ProtocolViolation):
        decode(with_(MemberJoined, member=member_map(host=host)))
    for good in ("10.150.0.2", "fe80::1", "::ffff:10.150.0.2", "host-1.lan", "x9.example"):
        assert decode(with_(MemberJoined, member=member_map(host=good))).member.host == good


@pytest.mark.parametrize("bad", [member_map(port=-1), "x", [member_map()]])
def test_member_joined_with_a_bad_member(bad: object) -> None:
    with pytest.raises(ProtocolViolation):
        decode(with_(MemberJoined, member=bad))


@pytest.mark.parametrize("members", [member_map(), "abc", None, 3])
def test_members_not_a_list(members: object) -> None:
    with pytest.raises(ProtocolViolation):
        decode(with_(Welcome, members=members))


def test_too_many_members() -> None:
    frame = with_(Welcome, members=[member_map()] * (MAX_MEMBERS + 1))
    with pytest.raises(ProtocolViolation):
        decode(frame)


# -- summaries --------------------------------------------------------------------------------


def heads_frame(heads: object) -> dict[str, Any]:
    return with_(Summary, heads=heads)


@pytest.mark.parametrize(
    "author",
    ["a b", "x\n", "é", "", "a/b", "\u202eevil", "x" * (MAX_ID + 1), b"a" * 16, None, 7, True, 1.5],
    ids=[
        "space",
        "newline",
        "non-ascii",
        "empty",
        "slash",
        "bidi",
        "long",
        "bytes",
        "nil",
        "int",
        "bool",
        "float",
    ],
)
def test_summary_with_an_author_that_is_not_a_node_id(author: object) -> None:
    # Keys that msgpack could not bring (nil, numbers: strict_map_key) are checked all the same.
    with pytest.raises(ProtocolViolation, match="Summary.heads"):
        decode(heads_frame({ALICE.node_id: 1, author: 2}))


def test_summary_author_of_max_id_characters_passes() -> None:
    author = "x" * MAX_ID
    assert decode(heads_frame({author: 1})).heads == {author: 1}


@pytest.mark.parametrize(
    "seq",
    [-1, 2**62 + 1, 2**63, 2**64 - 1, 1.0, 1.5, True, False, "1", b"1", None],
)
def test_summary_with_a_seq_that_is_not_an_int_in_range(seq: object) -> None:
    with pytest.raises(ProtocolViolation, match="Summary.heads"):
        decode(heads_frame({ALICE.node_id: 1, BOB.node_id: seq}))


def test_summary_seq_limits_are_inclusive() -> None:
    heads = {ALICE.node_id: 0, BOB.node_id: 2**62}
    assert decode(over_the_wire(heads_frame(heads))).heads == heads


@pytest.mark.parametrize(
    "seq",
    [[1], {"seq": 1}, [[1]], {ALICE.node_id: {BOB.node_id: 1}}, []],
    ids=["list", "map", "list-in-list", "map-in-map", "empty-list"],
)
def test_summary_with_nested_values(seq: object) -> None:
    frame = heads_frame({ALICE.node_id: seq})
    with pytest.raises(ProtocolViolation, match="Summary.heads"):
        decode(frame)
    # Off the wire: refused by the frame decoder's depth limit or by the heads check.
    with pytest.raises(FrameError):
        decode(over_the_wire(frame))


def test_summary_with_an_int_key_is_refused_by_the_frame_decoder() -> None:
    body = msgpack.packb({"t": "summary", "heads": {7: 1}}, use_bin_type=True)
    decoder = FrameDecoder()
    decoder.feed(HEADER.pack(len(body)) + body)
    with pytest.raises(FrameError):
        list(decoder.frames())


def test_summary_heads_limit() -> None:
    heads = {f"n{i}": i for i in range(MAX_HEADS)}
    assert decode(over_the_wire(heads_frame(heads))).heads == heads
    heads["one-more"] = 1
    with pytest.raises(ProtocolViolation, match="Summary.heads"):
        decode(over_the_wire(heads_frame(heads)))


def test_too_many_heads_is_refused_before_they_are_checked() -> None:
    # Entries that would each fail are not looked at when there are too many of them.
    with pytest.raises(ProtocolViolation, match=f"at most {MAX_HEADS}"):
        decode(heads_frame({f"bad key {i}": -1 for i in range(MAX_HEADS + 1)}))


# -- version ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [PROTOCOL_VERSION + 1, 0, 999, "1", None])
def test_hello_with_another_version(version: object) -> None:
    with pytest.raises(VersionMismatch, match="version"):
        decode(with_(Hello, version=version))


def test_hello_without_version_is_refused() -> None:
    frame = valid(Hello)
    del frame["version"]
    with pytest.raises(ProtocolViolation):
        decode(frame)


@pytest.mark.parametrize("version", [True, float(PROTOCOL_VERSION)])
def test_hello_version_that_only_compares_equal(version: object) -> None:
    # True == 1 and 1.0 == 1 in Python, but neither is the integer version.
    with pytest.raises(ProtocolViolation):
        decode(with_(Hello, version=version))


def test_version_mismatch_checked_before_the_other_fields() -> None:
    # A future version may change the hello's fields: the peer must still hear "version".
    with pytest.raises(VersionMismatch):
        decode({"t": "hello", "version": PROTOCOL_VERSION + 1, "brand_new": 1})


def test_hello_member() -> None:
    hello = SAMPLES[Hello]
    assert hello.member() == Member("a" * 16, "alice", "127.0.0.1", 4000, 4000, True)


# -- strings checked where they enter ---------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "::1", "fe80::1", "fe80::1%eth0", "fe80::1%3", "example.org", "localhost", "h."],
)
def test_hosts_that_are_addresses_or_names_pass(host: str) -> None:
    assert decode(with_(Hello, host=host)).host == host
    assert decode(with_(MemberJoined, member=member_map(host=host))).member.host == host


@pytest.mark.parametrize(
    "host",
    [
        *(
            "a\nb",
            "127.0.0.1\x07",
            "evil host",
            "-x.org",
            "x..org",
            "\u202eorg",
            "",
            "a" * 64,
            "h:1",
        ),
        "::1%\x1b]0;PWNED\x07\r\nERROR fake",  # a zone of any text (attack round 42)
        "fe80::1%eth 0",
        "fe80::1%" + "e" * 16,
        "fe80::1%",
    ],
)
def test_hosts_that_are_text_are_refused(host: str) -> None:
    with pytest.raises(ProtocolViolation, match="host"):
        decode(with_(Hello, host=host))
    with pytest.raises(ProtocolViolation, match="host"):
        decode(with_(Welcome, members=[member_map(host=host)]))


@pytest.mark.parametrize("name", ["ev\u202eil", "a b", "bell\x07", "", "zw\u200bsp", "x\u2028"])
def test_usernames_in_member_lists_get_the_hellos_check(name: str) -> None:
    with pytest.raises(ProtocolViolation, match="username"):
        decode(with_(Welcome, members=[member_map(username=name)]))
    with pytest.raises(ProtocolViolation, match="username"):
        decode(with_(MemberJoined, member=member_map(username=name)))
    with pytest.raises(ProtocolViolation, match="username"):
        decode(with_(Hello, username=name))


@pytest.mark.parametrize("node_id", ["a b", "x\n", "é", "", "a/b"])
def test_node_ids_are_plain_tokens(node_id: str) -> None:
    for frame in (
        with_(Hello, node_id=node_id),
        with_(Want, author=node_id),
        with_(Skip, author=node_id),
        with_(Summary, heads={node_id: 1}),
        with_(MemberLeft, node_id=node_id),
        with_(Coordinator, tracker=node_id),
    ):
        with pytest.raises(ProtocolViolation):
            decode(frame)
    if node_id:
        with pytest.raises(ProtocolViolation):
            decode(with_(Coordinator, replaces=node_id))


@pytest.mark.parametrize("cls", [Bye, Refuse, MemberLeft])
@pytest.mark.parametrize("reason", ["line\nbreak", "\x1b[2J", "\u202eright", "sep\u2028"])
def test_reasons_may_not_steer_a_terminal(cls: type, reason: str) -> None:
    with pytest.raises(ProtocolViolation, match="reason"):
        decode(with_(cls, reason=reason))
    assert decode(with_(cls, reason="the name 'bob' is taken ✓")).reason.endswith("✓")


def test_a_version_refusal_quotes_nothing_back() -> None:
    with pytest.raises(VersionMismatch) as info:
        decode(with_(Hello, version="9" * 300_000))
    assert len(str(info.value)) < 100
    assert "9" * 30 not in VersionMismatch.REFUSAL


def test_a_whole_file_chunk_goes_in_one_record() -> None:
    """A frame of the largest chunk is sealed once, not as a record and a sliver."""
    largest = FileChunk(2**62, MAX_FILE_SIZE, b"x" * FILE_CHUNK)
    assert len(encode_frame(encode(largest))) <= MAX_PLAIN


def test_a_file_chunk_over_its_limit_is_refused() -> None:
    assert decode(with_(FileChunk, data=b"x" * FILE_CHUNK)).data == b"x" * FILE_CHUNK
    with pytest.raises(ProtocolViolation, match="FileChunk.data"):
        decode(with_(FileChunk, data=b"x" * (FILE_CHUNK + 1)))
    with pytest.raises(ProtocolViolation, match="FileOffer.sha256"):
        decode(with_(FileOffer, sha256=b"x" * 33))
