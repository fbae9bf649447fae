"""Property-based fuzzing of what a peer controls: the frame decoder and message validation.

Whatever bytes arrive, in whatever pieces, the only outcomes allowed are whole frames (maps)
and valid messages, or a ``FrameError`` (``ProtocolViolation`` is one) that closes that one
connection. Never any other exception: a ``RecursionError``, ``ValueError`` or ``TypeError``
escaping here is what killed nodes in issue 7. And a refusal is fit to log and to send:

- it is short (under ``MAX_MESSAGE`` characters), however big the offending data;
- it never holds a repr of a nested structure the peer sent (``[[``, ``{'``, ``[{`` ...):
  peer data is quoted only in a bounded, flat form;
- a long string from the peer is never quoted whole (the version killer of issue 7 was one).
  (What goes back to the peer in a version refusal is checked end to end, in
  test_hostile.py.)

Nesting deeper than the protocol needs is refused by the frame decoder itself, before anything
walks the structure. Each property runs a bounded number of examples (``EXAMPLES``), so the
file takes a few seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from peerchat import PROTOCOL_VERSION
from peerchat.membership import Member, valid_username
from peerchat.protocol import (
    MAX_BATCH,
    MAX_HEADS,
    MAX_ID,
    MAX_MEMBERS,
    MAX_PRIORITY,
    MAX_REASON,
    MAX_RECENT,
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
    Message,
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
    valid_file_name,
)
from peerchat.safe_text import has_unsafe, visible
from peerchat.wire import DEFAULT_MAX_FRAME, HEADER, FrameDecoder, FrameError, encode_frame

EXAMPLES = 150
MAX_MESSAGE = 300  # characters in a refusal: a log line, or a reason sent back
# The deepest a valid frame goes is a welcome: map > members list > member map > scalar.
# Anything past this many levels must be refused by the decoder ("a few levels").
SURELY_TOO_DEEP = 64
NESTED_REPR = ("[[", "[{", "{[", "{{", ", [", ", {", ": [", ": {", "({", "([")
MARK = "\u00a7peer-data\u00a7"  # stands out in any message that quotes what the peer sent

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_clean_refusal(
    exc: BaseException, *, secret: str | None = None, quoted: str = ""
) -> None:
    """A refusal as the spec wants it; ``secret`` must not appear in it at all. ``quoted``: the
    peer's text the refusal may quote (brackets in it are text, not a nested repr)."""
    assert isinstance(exc, FrameError), f"{type(exc).__name__} escaped: {exc!r:.200}"
    message = str(exc)
    assert message, "a refusal says why"
    assert len(message) < MAX_MESSAGE, f"refusal of {len(message)} characters: {message[:200]}"
    for marker in NESTED_REPR:
        unquoted = message.replace(quoted, "") if quoted else message
        assert marker not in unquoted, f"nested repr of peer data in the refusal: {message}"
    if secret is not None:
        assert secret not in message, f"the refusal carries the peer's data back: {message}"


def decode_stream(chunks: list[bytes], max_frame: int = DEFAULT_MAX_FRAME) -> list[dict] | None:
    """Feed ``chunks`` one by one and end the stream: the frames, or None after a clean
    refusal. Any other exception propagates and fails the test."""
    decoder = FrameDecoder(max_frame)
    frames: list[dict] = []
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            frames.extend(decoder.frames())
        decoder.close()
    except FrameError as exc:
        assert_clean_refusal(exc)
        return None
    for frame in frames:
        assert type(frame) is dict
    return frames


def decode_message(frame: Any) -> Message | None:
    """``protocol.decode``: a message of a known type, or None after a clean refusal."""
    try:
        message = decode(frame)
    except FrameError as exc:
        version = frame.get("version") if type(frame) is dict else None
        long_text = version if isinstance(version, str) and len(version) > 40 else None
        assert_clean_refusal(exc, secret=long_text)
        return None
    assert type(message) in TAGS.values()
    return message


def framed(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


# -- strategies -----------------------------------------------------------------------------

BIG_INTS = st.integers(-(2**63), 2**64 - 1)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    BIG_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(max_size=40).map(lambda s: MARK + s),
    st.binary(max_size=40),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=20)),
)
KEYS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["t", "version", "text", "members", "node_id", "host", "reason"]),
    BIG_INTS,
    st.binary(max_size=6),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def pack_scalar(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def nest_bytes(depth: int, kinds: list[str], leaf: bytes) -> bytes:
    """msgpack bytes for ``leaf`` wrapped ``depth`` times in one-element lists or maps, built
    by hand: ``msgpack.packb`` refuses beyond 511 levels, a peer does not."""
    out = bytearray()
    for level in range(depth):
        kind = kinds[level % len(kinds)]
        if kind == "list":
            out += b"\x91"
        elif kind == "map":
            out += b"\x81\xa1t"
        else:  # a map with the nesting under a key that is not a string
            out += b"\x81\x07"
    return bytes(out + leaf)


def deep_object(depth: int, kinds: list[str], leaf: Any = None) -> Any:
    """The same as a Python object, built in a loop (no recursion)."""
    obj = leaf
    for level in range(depth):
        obj = [obj] if kinds[level % len(kinds)] == "list" else {"t": obj}
    return obj


KINDS = st.lists(st.sampled_from(["list", "map", "intkey"]), min_size=1, max_size=4)


@st.composite
def deep_bodies(draw: st.DrawFn, min_depth: int = 1, max_depth: int = 2000) -> tuple[int, bytes]:
    depth = draw(st.integers(min_depth, max_depth))
    leaf = pack_scalar(draw(SCALARS))
    return depth, nest_bytes(depth, draw(KINDS), leaf)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at random places (sometimes byte by byte for a short stretch)."""
    if not data:
        return [data]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces


@st.composite
def frame_streams(draw: st.DrawFn) -> bytes:
    """A stream of segments: random bytes, random msgpack behind a right or wrong length,
    deep nesting, huge length headers."""
    segments = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["raw", "value", "deep", "huge", "wrong-length"]))
        if kind == "raw":
            segments.append(draw(st.binary(max_size=64)))
        elif kind == "value":
            try:
                segments.append(framed(pack_scalar(draw(VALUES))))
            except (ValueError, OverflowError, TypeError):
                segments.append(b"")
        elif kind == "deep":
            segments.append(framed(draw(deep_bodies())[1]))
        elif kind == "huge":
            segments.append(HEADER.pack(draw(st.integers(DEFAULT_MAX_FRAME + 1, 2**32 - 1))))
        else:
            body = draw(st.binary(max_size=32))
            size = (len(body) + draw(st.integers(-4, 4))) % 2**32
            segments.append(HEADER.pack(size) + body)
    return b"".join(segments)


# -- the frame decoder ----------------------------------------------------------------------


@fuzz
@given(st.binary(max_size=2048).flatmap(lambda data: chunked(data)))
def test_random_bytes_in_random_pieces_decode_cleanly(chunks: list[bytes]) -> None:
    decode_stream(chunks)


@fuzz
@given(frame_streams().flatmap(lambda data: chunked(data)))
def test_random_frames_in_random_pieces_decode_cleanly(chunks: list[bytes]) -> None:
    frames = decode_stream(chunks)
    for frame in frames or []:
        decode_message(frame)  # and whatever decoded must pass or fail validation cleanly


@fuzz
@given(VALUES, st.data())
def test_random_msgpack_of_any_shape_decodes_to_a_map_or_a_clean_refusal(value, data) -> None:
    try:
        body = pack_scalar(value)
    except (ValueError, OverflowError, TypeError):
        assume(False)  # msgpack cannot pack it; a peer could not send it either
    frames = decode_stream(data.draw(chunked(framed(body))))
    if frames is not None:
        assert frames == [value] or not isinstance(value, dict) or _has_nan(value)


def _has_nan(value: Any) -> bool:
    return "nan" in repr(value)


@fuzz
@given(deep_bodies(), st.data())
def test_nesting_at_any_depth_is_refused_or_decoded_never_an_uncaught_error(deep, data) -> None:
    depth, body = deep
    frames = decode_stream(data.draw(chunked(framed(body))))
    for frame in frames or []:
        decode_message(frame)


@fuzz
@given(deep_bodies(min_depth=SURELY_TOO_DEEP, max_depth=2000))
def test_nesting_deeper_than_the_protocol_needs_is_refused_by_the_decoder(deep) -> None:
    depth, body = deep
    decoder = FrameDecoder()
    decoder.feed(framed(body))
    with pytest.raises(FrameError) as refused:
        list(decoder.frames())
    assert_clean_refusal(refused.value)


@pytest.mark.parametrize("depth", [SURELY_TOO_DEEP, 1000, 1023, 1024, 1025, 2000, 100_000])
@pytest.mark.parametrize("kind", ["list", "map", "intkey"])
def test_nesting_killers_from_issue_7_are_refused(depth: int, kind: str) -> None:
    # `{"t": [[[...]]]}` before any hello, and a chat whose text nests as deep.
    body = b"\x81\xa1t" + nest_bytes(depth, [kind], b"\xc0")
    decoder = FrameDecoder()
    decoder.feed(framed(body))
    with pytest.raises(FrameError) as refused:
        list(decoder.frames())
    assert_clean_refusal(refused.value)


@fuzz
@given(st.integers(DEFAULT_MAX_FRAME + 1, 2**32 - 1), st.binary(max_size=64))
def test_a_huge_length_header_is_refused_at_once(size: int, rest: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(HEADER.pack(size) + rest)
    with pytest.raises(FrameError) as refused:
        list(decoder.frames())
    assert_clean_refusal(refused.value)


@fuzz
@given(st.integers(1, DEFAULT_MAX_FRAME), st.binary(max_size=256))
def test_a_length_within_the_limit_waits_for_the_rest(size: int, rest: bytes) -> None:
    assume(len(rest) < size)
    decoder = FrameDecoder()
    decoder.feed(HEADER.pack(size) + rest)
    try:
        assert list(decoder.frames()) == []
        decoder.close()
    except FrameError as exc:
        assert_clean_refusal(exc)
    else:
        raise AssertionError("a stream cut inside a frame ends without a refusal")


@fuzz
@given(st.integers(1, 4096), st.integers(0, 2**32 - 1), st.data())
def test_a_smaller_limit_refuses_bigger_frames_cleanly(limit: int, size: int, data) -> None:
    body = data.draw(st.binary(max_size=min(size, 256)))
    chunks = data.draw(chunked(HEADER.pack(size) + body))
    decode_stream(chunks, max_frame=limit)


@fuzz
@given(VALUES.filter(lambda v: isinstance(v, dict)), st.data())
def test_a_truncated_frame_is_a_clean_refusal_at_the_end_of_the_stream(value, data) -> None:
    try:
        whole = framed(pack_scalar(value))
    except (ValueError, OverflowError, TypeError):
        assume(False)
    cut = data.draw(st.integers(1, len(whole) - 1))
    decoder = FrameDecoder()
    decoder.feed(whole[:cut])
    with pytest.raises(FrameError) as refused:
        assert list(decoder.frames()) == []
        decoder.close()
    assert_clean_refusal(refused.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xd6\xff" + b"\x00" * 4, id="timestamp-32"),
        pytest.param(b"\xc7\x03\xff" + b"\x00" * 3, id="timestamp-bad-length"),
        pytest.param(b"\xd4\x80\x00", id="ext-minus-128"),
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(b"\xa3\xff\xfe\xfd", id="bad-utf8"),
        pytest.param(b"\x81\x01\x02", id="int-key"),
        pytest.param(b"\x81\xc0\x02", id="nil-key"),
        pytest.param(b"\x81\x91\x01\x02", id="list-key"),
        pytest.param(b"\xdf\xff\xff\xff\xff", id="map-of-4G-entries"),
        pytest.param(b"\xdd\xff\xff\xff\xff", id="array-of-4G-entries"),
        pytest.param(b"\xdb\xff\xff\xff\xff", id="str-of-4G-bytes"),
        pytest.param(b"\xcb" + struct.pack(">d", math.nan), id="nan"),
        pytest.param(b"\xcf" + b"\xff" * 8, id="uint64-max"),
        pytest.param(b"\x81\xa1t\xcf" + b"\xff" * 8, id="map-with-uint64"),
    ],
)
def test_odd_msgpack_is_a_map_or_a_clean_refusal(body: bytes) -> None:
    frames = decode_stream([framed(body)])
    for frame in frames or []:
        decode_message(frame)


# -- message validation ---------------------------------------------------------------------

_FIELDS = {cls: [f.name for f in dataclasses.fields(cls)] for cls in TAGS.values()}


@st.composite
def wild_values(draw: st.DrawFn) -> Any:
    """Anything a field could hold after decoding: right type or wrong, tiny or huge, flat or
    nested up to 2,000 levels, odd numbers."""
    kind = draw(
        st.sampled_from(
            [
                "any",
                "text",
                "long-text",
                "int",
                "huge-int",
                "float",
                "deep",
                "members",
                "member",
                "bytes",
                "long-bytes",
                "heads",
                "many-heads",
            ]
        )
    )
    if kind == "any":
        return draw(VALUES)
    if kind == "text":
        return draw(st.text(max_size=64)) + draw(st.sampled_from(["", MARK]))
    if kind == "long-text":
        return MARK + "x" * draw(st.integers(0, 300_000))
    if kind == "int":
        return draw(st.integers(-(2**64), 2**64))
    if kind == "huge-int":
        return draw(st.integers(2**64, 2**200))
    if kind == "float":
        return draw(st.floats(allow_nan=True, allow_infinity=True))
    if kind == "deep":
        return deep_object(draw(st.integers(1, 2000)), draw(KINDS), draw(SCALARS))
    if kind == "members":
        return draw(st.lists(member_maps(), max_size=4))
    if kind == "bytes":
        return draw(st.binary(max_size=80))
    if kind == "long-bytes":  # around the limits of Batch.sig and Batch.data
        size = draw(st.sampled_from([63, 64, 65, MAX_BATCH - 1, MAX_BATCH, MAX_BATCH + 1]))
        return b"\xa7" * size
    if kind == "heads":
        return draw(head_maps())
    if kind == "many-heads":  # around MAX_HEADS entries, all valid but maybe one too many
        count = draw(st.integers(MAX_HEADS - 1, MAX_HEADS + 1))
        return {f"n{i}": i for i in range(count)}
    return draw(member_maps())


NODE_ID = re.compile(rf"[0-9A-Za-z_-]{{1,{MAX_ID}}}")
NODE_IDS = st.from_regex(NODE_ID, fullmatch=True)
SEQS = st.integers(0, 2**62)


@st.composite
def head_maps(draw: st.DrawFn) -> dict[Any, Any]:
    """A summary's heads with each key and value valid or wild: the keys a node id, a string
    that is not one (too long, spaces, control characters), or any key msgpack could carry."""
    keys = st.one_of(
        NODE_IDS,
        NODE_IDS,
        st.text(max_size=20),
        st.just("x" * (MAX_ID + 1)),
        st.just(MARK),
        KEYS,
    )
    values = st.one_of(
        SEQS,
        SEQS,
        st.integers(-(2**64), 2**64),
        st.sampled_from([-1, 2**62 + 1, True, False, 1.0]),
        VALUES,
    )
    return draw(st.dictionaries(keys, values, max_size=6))


_MEMBER_FIELDS = {
    "node_id": st.text("0123456789abcdef", min_size=1, max_size=12),
    "username": st.sampled_from(["alice", "bob", "\u202eevil", "a b", "x" * 40, ""]),
    "host": st.sampled_from(["127.0.0.1", "::1", "example.org", "a\nb\x07", "x" * 300]),
    "port": st.integers(-1, 70000),
    "priority": st.integers(-1, 2**63),
    "chat": st.booleans(),
}


@st.composite
def member_maps(draw: st.DrawFn) -> dict[str, Any]:
    """A member map with each field missing, valid, or wild."""
    out = {}
    for name, good in _MEMBER_FIELDS.items():
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue
        out[name] = draw(good if choice > 2 else VALUES)
    return out


@st.composite
def wild_messages(draw: st.DrawFn) -> dict[str, Any]:
    tag = draw(st.sampled_from([*TAGS, "nope", ""]) | VALUES)
    fields = _FIELDS.get(TAGS.get(tag) if isinstance(tag, str) else None, []) or []
    out: dict[Any, Any] = {"t": tag}
    for name in fields:
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing field
        out[name] = draw(wild_values())
    if tag == "hello" and draw(st.booleans()):
        out["version"] = PROTOCOL_VERSION
    for _ in range(draw(st.integers(0, 2))):
        out[draw(KEYS)] = draw(VALUES)  # extra keys, of any type
    return out


@fuzz
@given(wild_messages())
def test_random_maps_validate_to_a_message_or_a_clean_refusal(frame: dict) -> None:
    decode_message(frame)


@fuzz
@given(st.sampled_from([tag for tag, cls in TAGS.items() if _FIELDS[cls]]), st.data())
def test_one_bad_field_in_an_otherwise_valid_message_is_a_clean_refusal(tag, data) -> None:
    frame = _valid_frame(tag)
    name = data.draw(st.sampled_from(_FIELDS[TAGS[tag]]))
    frame[name] = data.draw(wild_values())
    decode_message(frame)


_MEMBER = {
    "node_id": "ab" * 6,
    "username": "alice",
    "host": "127.0.0.1",
    "port": 4000,
    "priority": 4000,
    "chat": True,
}
# A valid frame of every type that has fields (the others are their tag alone).
_VALID_FIELDS: dict[str, dict[str, Any]] = {
    "hello": {
        "version": PROTOCOL_VERSION,
        **_MEMBER,
        "seq": 0,
        "join": True,
        "room": "127.0.0.1:5000",
        "tracker": "",
        "name": "",
        "direct": False,
    },
    "welcome": {"members": [_MEMBER], "tracker": _MEMBER["node_id"], "marked": [0]},
    "refuse": {"reason": "no", "retry": True},
    "joined": {"member": _MEMBER, "joining": True, "marked": False},
    "typing": {"done": True},
    "left": {"node_id": "ab" * 6, "reason": "quit"},
    "batch": {"data": b"\x96\xa1x", "sig": b"\x00" * 64, "old": False},
    "ping": {"priority": 1, "room": b"\x01" * 8},
    "coordinator": {"tracker": "ab" * 6, "priority": 1, "replaces": ""},
    "bye": {"reason": "quit"},
    "redirect": {"host": "127.0.0.1", "port": 5000},
    "roster": {"members": [_MEMBER], "ask": False},
    "summary": {"heads": {"ab" * 6: 41, "cd" * 6: 0}},
    "want": {"author": "ab" * 6, "after": 41},
    "skip": {"author": "ab" * 6, "seq": 7},
    "recent": {"count": 50},
    "recent_from": {"firsts": {"ab" * 6: 41}},
    "private": {"text": "psst", "time": 1.7e9, "mono": 3.5, "n": 1},
    "private_ack": {"n": 1},
    "nick": {"username": "robert"},
    "nick_refused": {"username": "carol"},
    "file_offer": {
        "offer": 1,
        "name": "a.txt",
        "size": 3,
        "sha256": b"\x00" * 32,
        "private": False,
    },
    "file_get": {"offer": 1, "offset": 0},
    "file_gone": {"offer": 1, "busy": False, "changed": False},
    "file_stop": {"offer": 1},
    "file_offers": {"offers": [1, 2]},
    "file_ack": {"offer": 1, "offset": 65536, "came": 5_000_000},
    "file_chunk": {"offer": 1, "offset": 0, "data": b"abc", "ack": False},
}


@fuzz
@given(head_maps(), st.data())
def test_wild_heads_among_valid_ones_are_a_message_or_a_clean_refusal(wild, data) -> None:
    frame = _valid_frame("summary")
    frame["heads"].update(wild)
    message = decode_message(frame)
    if message is not None:  # then every head passed the check
        assert isinstance(message, Summary)
        for author, seq in message.heads.items():
            assert type(author) is str and NODE_ID.fullmatch(author)
            assert type(seq) is int and 0 <= seq <= 2**62
    # And the same through the wire (keys msgpack can carry: str and bytes).
    try:
        chunks = data.draw(chunked(framed(pack_scalar(frame))))
    except (ValueError, OverflowError, TypeError):
        return
    for decoded in decode_stream(chunks) or []:
        decode_message(decoded)


def _valid_frame(tag: str) -> dict[str, Any]:
    return {"t": tag, **copy.deepcopy(_VALID_FIELDS.get(tag, {}))}


def test_every_type_with_fields_has_a_valid_frame() -> None:
    assert set(_VALID_FIELDS) == {tag for tag, cls in TAGS.items() if _FIELDS[cls]}


@pytest.mark.parametrize("tag", list(TAGS))
def test_the_valid_frames_used_above_are_valid(tag: str) -> None:
    assert decode_message(_valid_frame(tag)) is not None


@fuzz
@given(VALUES | st.text(min_size=1).map(lambda s: MARK + s) | wild_values())
def test_a_version_refusal_quotes_the_peers_version_only_short_and_flat(version: Any) -> None:
    assume(not (type(version) is int and version == PROTOCOL_VERSION))
    frame = {**_valid_frame("hello"), "version": version}
    with pytest.raises(FrameError) as refused:
        decode(frame)
    long_text = version if isinstance(version, str) and len(version) > 40 else None
    quoted = visible(version[:24]) if isinstance(version, str) else ""  # as ``describe`` does
    assert_clean_refusal(refused.value, secret=long_text, quoted=quoted)
    if isinstance(refused.value, VersionMismatch):
        message = str(refused.value)
        assert "version" in message and "not supported" in message


def test_the_version_killer_from_issue_7_is_refused_in_a_few_words() -> None:
    frame = {**_valid_frame("hello"), "version": "\x00" * 300_000}
    with pytest.raises(VersionMismatch) as refused:
        decode(frame)
    assert_clean_refusal(refused.value)
    assert "\x00" not in str(refused.value) and "\\x00" not in str(refused.value)


@pytest.mark.parametrize("depth", [2, 10, 500, 1000, 2000])
@pytest.mark.parametrize(
    "tag",
    ["batch", "summary", "want", "skip", "recent", "hello", "welcome", "joined", "left", "bye"],
)
def test_deep_values_in_any_field_are_a_clean_refusal(depth: int, tag: str) -> None:
    for name in _FIELDS[TAGS[tag]]:
        for kinds in (["list"], ["map"], ["list", "map"]):
            frame = {**_valid_frame(tag), name: deep_object(depth, kinds, MARK)}
            if tag == "hello" and name == "version":
                continue  # checked above: a refusal of its own
            with pytest.raises(ProtocolViolation) as refused:
                decode(frame)
            assert_clean_refusal(refused.value)


@pytest.mark.parametrize("depth", [10, 1000, 2000])
def test_a_deep_message_type_is_a_clean_refusal(depth: int) -> None:
    with pytest.raises(ProtocolViolation) as refused:
        decode({"t": deep_object(depth, ["list"], "batch")})
    assert_clean_refusal(refused.value)


# -- valid messages ---------------------------------------------------------------------------

USERNAMES = st.text(min_size=1, max_size=32).filter(valid_username)
HOSTS = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["localhost", "example.org", "node-7.lan", "h."]),
)
PORTS = st.integers(0, 65535)
PRIORITIES = st.integers(0, MAX_PRIORITY)
REASONS = st.text(max_size=MAX_REASON).filter(lambda text: not has_unsafe(text))
ROOMS = st.one_of(st.just(""), st.sampled_from(["127.0.0.1:5000", "[::1]:1", "example.org:65535"]))
MEMBERS = st.builds(Member, NODE_IDS, USERNAMES, HOSTS, PORTS, PRIORITIES, st.booleans())
MEMBER_LISTS = st.lists(MEMBERS, max_size=5).map(tuple)

# A valid message of every type, its fields anywhere in their range.
VALID_MESSAGES: dict[type, st.SearchStrategy[Any]] = {
    Hello: st.builds(
        Hello,
        st.just(PROTOCOL_VERSION),
        NODE_IDS,
        USERNAMES,
        HOSTS,
        PORTS,
        PRIORITIES,
        st.booleans(),
        SEQS,
        st.booleans(),
        ROOMS,
        st.just("") | NODE_IDS,
        direct=st.booleans(),
    ),
    Welcome: st.builds(Welcome, MEMBER_LISTS, NODE_IDS),
    Refuse: st.builds(Refuse, REASONS, st.booleans()),
    MemberJoined: st.builds(MemberJoined, MEMBERS, st.booleans()),
    MemberLeft: st.builds(MemberLeft, NODE_IDS, REASONS),
    Batch: st.builds(Batch, st.binary(max_size=2048), st.binary(max_size=64), st.booleans()),
    Ping: st.builds(Ping, PRIORITIES),
    Pong: st.just(Pong()),
    Election: st.just(Election()),
    Answer: st.just(Answer()),
    Coordinator: st.builds(Coordinator, NODE_IDS, PRIORITIES, st.just("") | NODE_IDS),
    Bye: st.builds(Bye, REASONS),
    Redirect: st.builds(Redirect, HOSTS, PORTS),
    Roster: st.builds(Roster, MEMBER_LISTS),
    Summary: st.builds(Summary, st.dictionaries(NODE_IDS, SEQS, max_size=20)),
    Want: st.builds(Want, NODE_IDS, SEQS),
    Skip: st.builds(Skip, NODE_IDS, SEQS),
    Recent: st.builds(Recent, st.integers(0, MAX_RECENT)),
    RecentFrom: st.builds(RecentFrom, st.dictionaries(NODE_IDS, SEQS, max_size=20)),
    Probe: st.just(Probe()),
    Beat: st.just(Beat()),
    Private: st.builds(
        Private,
        st.text(max_size=200),
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False, allow_infinity=False),
        SEQS,
    ),
    PrivateAck: st.builds(PrivateAck, SEQS),
    Nick: st.builds(Nick, USERNAMES),
    NickRefused: st.builds(NickRefused, USERNAMES),
    Typing: st.builds(Typing, st.booleans()),
    FileOffer: st.builds(
        FileOffer,
        SEQS,
        st.text(min_size=1, max_size=60).filter(valid_file_name),
        SEQS,
        st.binary(min_size=32, max_size=32),
        st.booleans(),
    ),
    FileGet: st.builds(FileGet, SEQS, SEQS),
    FileGone: st.builds(FileGone, SEQS, st.booleans()),
    FileStop: st.builds(FileStop, SEQS),
    FileOffers: st.builds(FileOffers, st.lists(SEQS, max_size=20).map(tuple)),
    FileAck: st.builds(FileAck, SEQS, SEQS, SEQS),
    FileChunk: st.builds(FileChunk, SEQS, SEQS, st.binary(max_size=4096), st.booleans()),
}


def test_every_message_type_has_a_valid_strategy() -> None:
    assert set(VALID_MESSAGES) == set(TAGS.values())


@fuzz
@given(st.sampled_from(sorted(TAGS)).flatmap(lambda tag: VALID_MESSAGES[TAGS[tag]]), st.data())
def test_any_valid_message_survives_the_wire_in_any_pieces(message: Message, data) -> None:
    frames = decode_stream(data.draw(chunked(encode_frame(encode(message)))))
    assert frames is not None and len(frames) == 1
    assert decode(frames[0]) == message


@fuzz
@given(st.lists(st.sampled_from(sorted(TAGS)), min_size=1, max_size=8), st.data())
def test_a_stream_of_valid_messages_comes_out_whole_and_in_order(tags: list[str], data) -> None:
    messages = [data.draw(VALID_MESSAGES[TAGS[tag]]) for tag in tags]
    stream = b"".join(encode_frame(encode(message)) for message in messages)
    frames = decode_stream(data.draw(chunked(stream)))
    assert frames is not None
    assert [decode(frame) for frame in frames] == messages


def test_the_largest_summary_and_member_list_fit_their_limits() -> None:
    # The limits are inclusive, and a full summary fits a default frame.
    heads = {f"{i:0{MAX_ID}d}": 2**62 for i in range(MAX_HEADS)}
    frame = encode_frame(encode(Summary(heads)))
    assert len(frame) <= DEFAULT_MAX_FRAME
    assert [decode(f) for f in decode_stream([frame]) or []] == [Summary(heads)]
    members = tuple(Member(f"{i}", "u", "h", 1, 1) for i in range(MAX_MEMBERS))
    assert decode(encode(Welcome(members, "0"))) == Welcome(members, "0")
