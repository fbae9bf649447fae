"""peerchat.protocol: every message survives the wire, and every bad frame is a
ProtocolViolation (never a TypeError, KeyError or a half-built message)."""

from __future__ import annotations

from typing import Any

import pytest

from peerchat import PROTOCOL_VERSION
from peerchat.membership import Member
from peerchat.protocol import (
    MAX_ID,
    MAX_MEMBERS,
    MAX_NAME,
    MAX_REASON,
    MAX_TEXT,
    TAGS,
    Answer,
    Beat,
    Bye,
    Chat,
    Coordinator,
    Election,
    Have,
    Hello,
    MemberJoined,
    MemberLeft,
    Ping,
    Pong,
    Probe,
    ProtocolViolation,
    Redirect,
    Refuse,
    Roster,
    Skip,
    VersionMismatch,
    Welcome,
    decode,
    encode,
)
from peerchat.wire import FrameDecoder, FrameError, encode_frame

ALICE = Member("a" * 16, "alice", "127.0.0.1", 4000, 4000)
BOB = Member("b" * 16, "bob", "10.0.0.2", 4001, 7, chat=False)

SAMPLES = {
    Hello: Hello(
        PROTOCOL_VERSION, "a" * 16, "alice", "127.0.0.1", 4000, 4000, True, 12, True, "h:5000", "b"
    ),
    Welcome: Welcome((ALICE, BOB), ALICE.node_id),
    Refuse: Refuse("protocol version 9 is not supported"),
    MemberJoined: MemberJoined(BOB, joining=True),
    MemberLeft: MemberLeft(BOB.node_id, "quit"),
    Chat: Chat(ALICE.node_id, 3, 17, "hello ☃", 1_700_000_000.25, 12.5),
    Ping: Ping(4000),
    Pong: Pong(),
    Election: Election(),
    Answer: Answer(),
    Coordinator: Coordinator(ALICE.node_id, 4000),
    Bye: Bye("quit"),
    Redirect: Redirect("10.0.0.1", 5000),
    Roster: Roster((ALICE, BOB)),
    Have: Have(41),
    Probe: Probe(),
    Skip: Skip(7),
    Beat: Beat(),
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


def test_integer_time_accepted_as_float() -> None:
    decoded = decode(with_(Chat, time=5, mono=0))
    assert isinstance(decoded, Chat)
    assert decoded.time == 5.0 and isinstance(decoded.time, float)


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
        (Chat, "seq", False),
        (Hello, "port", True),
        # str where int
        (Ping, "priority", "4000"),
        (Chat, "lamport", "1"),
        # float where int
        (Chat, "seq", 1.0),
        # int where str
        (Chat, "text", 42),
        (Coordinator, "tracker", 7),
        (MemberLeft, "reason", 0),
        # bytes where str
        (Chat, "sender", b"alice"),
        # int where bool
        (Hello, "chat", 1),
        (Hello, "join", 0),
        # bool and str where float
        (Chat, "time", True),
        (Chat, "mono", "12.5"),
        # nil anywhere
        (Chat, "text", None),
        (Ping, "priority", None),
        # containers where scalars
        (Chat, "text", ["a"]),
        (Ping, "priority", {"n": 1}),
    ],
)
def test_wrong_field_type(cls: type, field: str, value: object) -> None:
    with pytest.raises(ProtocolViolation, match=f"{cls.__name__}.{field}"):
        decode(with_(cls, **{field: value}))


@pytest.mark.parametrize(
    ("cls", "field"),
    [(Ping, "priority"), (Chat, "seq"), (Chat, "lamport"), (Coordinator, "priority")],
)
def test_negative_int(cls: type, field: str) -> None:
    with pytest.raises(ProtocolViolation):
        decode(with_(cls, **{field: -1}))


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (Hello, "port", 65536),
        (Hello, "priority", 2**62 + 1),
        (Chat, "seq", 2**63),
        (Chat, "lamport", 2**64 - 1),
    ],
)
def test_int_over_limit(cls: type, field: str, value: int) -> None:
    with pytest.raises(ProtocolViolation):
        decode(over_the_wire(with_(cls, **{field: value})))


def test_int_limits_are_inclusive() -> None:
    assert decode(with_(Hello, port=65535)).port == 65535
    assert decode(with_(Hello, port=0)).port == 0
    assert decode(with_(Chat, seq=2**62)).seq == 2**62


@pytest.mark.parametrize(
    ("cls", "field", "limit"),
    [
        (Hello, "username", MAX_NAME),
        (Hello, "node_id", MAX_ID),
        (Chat, "text", MAX_TEXT),
        (Chat, "sender", MAX_ID),
        (MemberLeft, "reason", MAX_REASON),
        (Bye, "reason", MAX_REASON),
        (Refuse, "reason", MAX_REASON),
    ],
)
def test_string_limits(cls: type, field: str, limit: int) -> None:
    assert getattr(decode(with_(cls, **{field: "x" * limit})), field) == "x" * limit
    with pytest.raises(ProtocolViolation, match=f"{cls.__name__}.{field}"):
        decode(with_(cls, **{field: "x" * (limit + 1)}))


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
    "host", ["127.0.0.1", "::1", "fe80::1", "example.org", "node-7.lan", "localhost", "h."]
)
def test_hosts_that_are_addresses_or_names_pass(host: str) -> None:
    assert decode(with_(Hello, host=host)).host == host
    assert decode(with_(MemberJoined, member=member_map(host=host))).member.host == host


@pytest.mark.parametrize(
    "host",
    ["a\nb", "127.0.0.1\x07", "evil host", "-x.org", "x..org", "\u202eorg", "", "a" * 64, "h:1"],
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
        with_(Chat, sender=node_id),
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
