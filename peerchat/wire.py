"""Framing: a 4-byte big-endian length, then one msgpack map. No I/O here.

The decoder is fed whatever bytes arrived and hands back whole frames, in the manner of h11's
``receive_data``/``next_event``. Anything a peer can get wrong raises ``FrameError``; the caller
closes that one connection.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 1 << 20


class FrameError(Exception):
    """The remote end sent something that is not a valid frame."""


def encode_frame(payload: dict[str, Any], max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    body = msgpack.packb(payload, use_bin_type=True)
    if len(body) > max_frame:
        raise ValueError(f"frame of {len(body)} bytes exceeds the limit of {max_frame}")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def frames(self) -> Iterator[dict[str, Any]]:
        """Yield every complete frame buffered so far."""
        buf = self._buffer
        start = 0
        try:
            while len(buf) - start >= HEADER.size:
                (size,) = HEADER.unpack_from(buf, start)
                if size > self._max_frame:
                    raise FrameError(
                        f"frame of {size} bytes exceeds the limit of {self._max_frame}"
                    )
                end = start + HEADER.size + size
                if len(buf) < end:
                    break
                body = bytes(buf[start + HEADER.size : end])
                start = end
                yield _unpack(body)
        finally:
            del buf[:start]

    def close(self) -> None:
        """The stream ended; a partial frame left over means it was cut short."""
        if self._buffer:
            raise FrameError(f"connection closed inside a frame ({len(self._buffer)} bytes left)")


def _unpack(body: bytes) -> dict[str, Any]:
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise FrameError(f"undecodable frame ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise FrameError(f"frame is a {type(obj).__name__}, not a map")
    return obj
