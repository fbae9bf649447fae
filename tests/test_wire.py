"""peerchat.wire: length-prefixed msgpack frames, fed in any pieces, and everything a peer gets
wrong turned into FrameError."""

from __future__ import annotations

import msgpack
import pytest

from peerchat import protocol
from peerchat.wire import DEFAULT_MAX_FRAME, HEADER, FrameDecoder, FrameError, encode_frame


def framed(body: bytes) -> bytes:
    """A raw body behind a correct length prefix: for bodies encode_frame would never make."""
    return HEADER.pack(len(body)) + body


def decode_all(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> list[dict]:
    decoder = FrameDecoder(max_frame)
    decoder.feed(data)
    return list(decoder.frames())


def payload_of_size(size: int) -> dict[str, str]:
    """A map whose msgpack encoding is exactly ``size`` bytes."""
    for pad in range(size, -1, -1):
        payload = {"t": "x" * pad}
        if len(msgpack.packb(payload, use_bin_type=True)) == size:
            return payload
    raise AssertionError(f"no payload packs to {size} bytes")


# -- round trips ------------------------------------------------------------------------------


def test_round_trip() -> None:
    payload = {"t": "chat", "n": 7, "f": 1.5, "ok": True, "none": None, "l": [1, "two"]}
    data = encode_frame(payload)
    assert data[:4] == HEADER.pack(len(data) - 4)
    assert decode_all(data) == [payload]


def test_round_trip_unicode_and_binary() -> None:
    payload = {"text": "héllo ☃ \U0001f600", "blob": b"\x00\xff"}
    assert decode_all(encode_frame(payload)) == [payload]


def test_many_frames_in_one_feed() -> None:
    payloads = [{"i": i, "pad": "x" * i} for i in range(50)]
    data = b"".join(encode_frame(p) for p in payloads)
    assert decode_all(data) == payloads


def test_frame_split_byte_by_byte() -> None:
    payloads = [{"t": "one", "n": 1}, {"t": "two", "s": "x" * 300}]
    data = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    got: list[dict] = []
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])
        got.extend(decoder.frames())
        if i < len(data) - 1:
            assert len(got) < 2
    assert got == payloads
    decoder.close()  # nothing left over: a clean end


def test_frames_is_resumable_after_partial_data() -> None:
    first, second = encode_frame({"a": 1}), encode_frame({"b": 2})
    decoder = FrameDecoder()
    decoder.feed(first + second[:3])
    assert list(decoder.frames()) == [{"a": 1}]
    assert list(decoder.frames()) == []
    decoder.feed(second[3:])
    assert list(decoder.frames()) == [{"b": 2}]


def test_no_frame_until_header_complete() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00")
    assert list(decoder.frames()) == []


# -- garbage ----------------------------------------------------------------------------------


def test_garbage_text_is_a_too_large_frame() -> None:
    # "GET " read as a length is about 1.2 GB.
    with pytest.raises(FrameError, match="exceeds the limit"):
        decode_all(b"GET / HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1",  # a byte msgpack never uses
        b"\xc1\xc1\xc1\xc1",
        b"\x81\xa1t",  # a map cut short inside the frame
        b"",  # an empty body
        msgpack.packb({"a": 1}) + b"\x01",  # trailing data after the map
    ],
    ids=["reserved-byte", "reserved-bytes", "short-map", "empty", "extra-data"],
)
def test_undecodable_body(body: bytes) -> None:
    with pytest.raises(FrameError):
        decode_all(framed(body))


def test_error_does_not_escape_as_another_type() -> None:
    # Whatever msgpack raises internally, the caller only ever has to catch FrameError.
    for body in (b"\xc1", b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xc7\xff\x01"):
        with pytest.raises(FrameError):
            decode_all(framed(body))


# -- size limits ------------------------------------------------------------------------------


def test_huge_length_prefix_rejected_from_header_alone() -> None:
    decoder = FrameDecoder()
    decoder.feed(HEADER.pack(2**31))  # no body at all: must not wait for 2 GiB
    with pytest.raises(FrameError, match="exceeds the limit"):
        list(decoder.frames())


def test_max_length_prefix_rejected() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\xff\xff\xff\xff")
    with pytest.raises(FrameError):
        list(decoder.frames())


def test_frame_exactly_at_limit_accepted() -> None:
    payload = payload_of_size(100)
    data = encode_frame(payload, max_frame=100)
    assert len(data) == 4 + 100
    assert decode_all(data, max_frame=100) == [payload]


def test_frame_one_byte_over_limit_rejected() -> None:
    payload = payload_of_size(101)
    data = encode_frame(payload, max_frame=101)
    with pytest.raises(FrameError, match="101 bytes exceeds the limit of 100"):
        decode_all(data, max_frame=100)


def test_default_limit_is_one_mib() -> None:
    at_limit = payload_of_size(DEFAULT_MAX_FRAME)
    assert decode_all(encode_frame(at_limit)) == [at_limit]
    with pytest.raises(FrameError):
        decode_all(HEADER.pack(DEFAULT_MAX_FRAME + 1))


def test_encode_frame_refuses_oversize_payload() -> None:
    with pytest.raises(ValueError, match="exceeds the limit"):
        encode_frame(payload_of_size(101), max_frame=100)
    with pytest.raises(ValueError):
        encode_frame({"t": "x" * DEFAULT_MAX_FRAME})


def test_valid_frames_before_an_oversize_header_are_delivered() -> None:
    decoder = FrameDecoder(max_frame=100)
    decoder.feed(encode_frame({"a": 1}) + HEADER.pack(101))
    frames = decoder.frames()
    assert next(frames) == {"a": 1}
    with pytest.raises(FrameError):
        next(frames)


# -- end of stream ----------------------------------------------------------------------------


def test_close_after_whole_frames_is_clean() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode_frame({"a": 1}))
    assert list(decoder.frames()) == [{"a": 1}]
    decoder.close()


def test_truncated_frame_then_close_raises() -> None:
    data = encode_frame({"t": "chat", "text": "hello"})
    decoder = FrameDecoder()
    decoder.feed(data[:-2])
    assert list(decoder.frames()) == []
    with pytest.raises(FrameError, match="closed inside a frame"):
        decoder.close()


def test_truncated_header_then_close_raises() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00\x01")
    assert list(decoder.frames()) == []
    with pytest.raises(FrameError):
        decoder.close()


# -- shape ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj", [[1, 2, 3], 42, "text", None, True, 1.5, b"bytes"], ids=lambda o: type(o).__name__
)
def test_non_map_rejected(obj: object) -> None:
    with pytest.raises(FrameError, match="not a map"):
        decode_all(framed(msgpack.packb(obj, use_bin_type=True)))


@pytest.mark.parametrize(
    "body",
    [
        msgpack.packb({1: "a"}),
        msgpack.packb({None: "a"}),
        msgpack.packb({1.5: "a"}),
        msgpack.packb({(1, 2): "a"}),
        msgpack.packb({"ok": 1, 2: "b"}),
    ],
    ids=["int", "nil", "float", "array", "mixed"],
)
def test_map_with_non_string_keys_rejected(body: bytes) -> None:
    with pytest.raises(FrameError):
        decode_all(framed(body))


def test_map_with_bytes_keys_rejected_by_the_protocol() -> None:
    # The framing lets bytes keys through (checking every key of every frame costs more than
    # it saves); the protocol reads only str keys, so such a frame names no known type.
    (frame,) = decode_all(framed(msgpack.packb({b"t": "chat"}, use_bin_type=True)))
    with pytest.raises(FrameError):
        protocol.decode(frame)


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_list_rejected(depth: int) -> None:
    body = b"\x81\xa1t" + b"\x91" * depth + b"\xc0"  # {"t": [[[...[nil]...]]]}
    with pytest.raises(FrameError):
        decode_all(framed(body))


def test_deeply_nested_maps_rejected() -> None:
    body = b"\x81\xa1a" * 10_000 + b"\xc0"  # {"a": {"a": ... nil}}
    with pytest.raises(FrameError):
        decode_all(framed(body))


def test_data_as_deep_as_the_protocol_goes_round_trips() -> None:
    # A welcome: the frame, its list of members, each member's map.
    payload = {"t": "welcome", "members": [{"node_id": "a", "port": 1}, {"node_id": "b"}]}
    assert decode_all(encode_frame(payload)) == [payload]


@pytest.mark.parametrize(
    "payload",
    [{"m": [{"x": [1]}]}, {"m": [[[1]]]}, {"m": {"x": {"y": {}}}}, {"a": 1, "m": [{"k": {}}]}],
)
def test_one_level_deeper_than_the_protocol_is_refused(payload: dict) -> None:
    with pytest.raises(FrameError, match="nested deeper"):
        decode_all(encode_frame(payload))


def test_errors_quote_peer_data_flat_and_short() -> None:
    nested: object = "leaf"
    for _ in range(1000):
        nested = [nested]
    for bad in ({"t": nested}, {"t": "x" * 300_000}, {"t": "hello", "version": "9" * 300_000}):
        with pytest.raises(FrameError) as info:
            (frame,) = decode_all(framed(msgpack.packb(bad, use_bin_type=True)))
            protocol.decode(frame)
        assert len(str(info.value)) < 120, str(info.value)


def test_decoder_recovers_after_bad_body() -> None:
    # The bad frame is consumed; the caller closes the connection, but the decoder itself
    # does not loop on it or re-raise for the frame after it.
    decoder = FrameDecoder()
    decoder.feed(framed(b"\xc1") + encode_frame({"a": 1}))
    with pytest.raises(FrameError):
        list(decoder.frames())
    assert list(decoder.frames()) == [{"a": 1}]
