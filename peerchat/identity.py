"""Who a node is across restarts: its Ed25519 key, the node id derived from it, signatures, and
message numbers that are never used twice.

The node id is a hash of the public key, so anyone holding the key can check a claimed id
(``node_id_of``) and a signature (``verify``) without trusting whoever handed the message on.
Both are safe on anything the network sends: malformed input gives "no", never an exception.

Files in the data dir (folder 0o700), each written whole (a new file renamed over the old):

- ``identity.key``: the raw 32-byte private key, mode 0o600 from its creation on. A key file that
  cannot be read is a startup error and is never replaced: a new key would be a new node.
- ``seq``: the highest message number reserved so far, as decimal text. Numbers are reserved a
  block at a time before any of them is used, so a crash loses at most the rest of a block (a
  gap) and never numbers a message twice; a clean ``close`` gives the unused rest back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from peerchat.tracker_address import StartupError

KEY_FILE = "identity.key"
SEQ_FILE = "seq"
KEY_SIZE = 32
SIGNATURE_SIZE = 64
# 16 bytes of SHA-256 (32 hex chars): 2**64 ids before an accidental collision is even likely,
# 2**128 work to make a key that matches someone's id; half the wire's MAX_ID of 64 chars.
NODE_ID_BYTES = 16
SEQ_BLOCK = 1000  # numbers reserved per write of the seq file: at most this many lost in a crash
MAX_SEQ = 2**62  # the wire's limit for a message number


def node_id_of(public_key: bytes) -> str:
    """The node id that belongs to ``public_key``; "" (never anyone's id) when it is no key."""
    if not isinstance(public_key, bytes) or len(public_key) != KEY_SIZE:
        return ""
    return hashlib.sha256(public_key).digest()[:NODE_ID_BYTES].hex()


# Encodings of the points of small order (with and without the sign bit). With such a "key" a
# trivial signature checks for every message (OpenSSL accepts the all-zero key and signature):
# nobody's real key, and refused outright, so no id is free for anyone to speak as.
_SMALL_ORDER = {
    bytes.fromhex(h)[:31] + bytes([bytes.fromhex(h)[31] | bit])
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
    for bit in (0, 0x80)
}


def verify(public_key: bytes, signature: bytes, data: bytes) -> bool:
    """True only when ``signature`` is the key's signature over ``data``; any garbage is False."""
    if not (
        isinstance(public_key, bytes)
        and isinstance(signature, bytes)
        and isinstance(data, bytes)
        and len(public_key) == KEY_SIZE
        and len(signature) == SIGNATURE_SIZE
        and public_key not in _SMALL_ORDER
    ):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


class Identity:
    """A node's key pair; ``node_id`` and ``public_key`` are what others see of it."""

    __slots__ = ("_key", "public_key", "node_id")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        # The *_raw methods, not serialization's: importing it costs every node 2.6 MiB.
        self.public_key = key.public_key().public_bytes_raw()
        self.node_id = node_id_of(self.public_key)

    def __repr__(self) -> str:
        return f"Identity(node_id={self.node_id!r})"  # never the private key, even in a log

    @classmethod
    def generate(cls) -> Identity:
        """A fresh identity kept nowhere (``--ephemeral``)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, folder: Path) -> Identity:
        """The identity kept in ``folder``, created there the first time."""
        path = folder / KEY_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StartupError(f"cannot use the data dir {folder}: {exc.strerror or exc}") from exc
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            identity = cls.generate()
            raw = identity._key.private_bytes_raw()
            _write_whole(path, raw, "cannot store the identity key in")
            return identity
        except OSError as exc:
            raise StartupError(f"cannot read the identity key {path}: {exc.strerror}") from exc
        if len(raw) != KEY_SIZE:
            raise StartupError(
                f"the identity key {path} is damaged ({len(raw)} bytes, not {KEY_SIZE}); "
                "restore it, or move it away to start as a new node with a new id"
            )
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature over ``data``."""
        return self._key.sign(data)


class SeqCounter:
    """Hands out message numbers within what has been reserved; no files, no clocks.

    ``due()`` says which high-water must be stored before the next number may be taken;
    the caller stores it, reports it with ``stored()``, then ``take()``s the number.
    """

    def __init__(self, high_water: int = 0, block: int = SEQ_BLOCK) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.last = high_water  # the last number used (or given up) before this one
        self.reserved = high_water  # numbers up to here are covered by what is stored
        self.block = block

    def due(self) -> int | None:
        """The high-water to store before ``take()``, or None when the next is covered."""
        if self.last < self.reserved:
            return None
        if self.last + self.block > MAX_SEQ:
            raise OverflowError("message numbers are exhausted")
        return self.last + self.block

    def stored(self, high_water: int) -> None:
        self.reserved = max(self.reserved, high_water)

    def take(self) -> int:
        if self.last >= self.reserved:
            raise RuntimeError("take() before the reservation was stored")
        self.last += 1
        return self.last

    def skip_past(self, seq: int) -> None:
        """Never use ``seq`` or anything below: the room holds our message with that number
        (a seq file restored from an old backup must not make us number a message twice)."""
        self.last = max(self.last, seq)


class SeqReservation:
    """Message numbers that continue across restarts and never repeat, kept in ``seq``."""

    def __init__(self, path: Path | None, counter: SeqCounter) -> None:
        self.path = path
        self.counter = counter
        self.first = counter.last + 1  # the first number of this run: below it, a gap is final
        self._closed = False

    @classmethod
    def ephemeral(cls) -> SeqReservation:
        """Numbers kept nowhere, from 1 (``--ephemeral``)."""
        return cls(None, SeqCounter(0))

    @classmethod
    def load(cls, folder: Path, block: int = SEQ_BLOCK) -> SeqReservation:
        """Continue after the numbers stored in ``folder``, reserving the first block now, so a
        data dir that cannot be written is found at startup rather than at the first message."""
        path = folder / SEQ_FILE
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            text = b"0"
        except OSError as exc:
            raise StartupError(f"cannot read the message counter {path}: {exc.strerror}") from exc
        high = _parse_seq(text)
        if high is None:
            raise StartupError(
                f"the message counter {path} is damaged; it must hold the highest message "
                "number this node has used (a number too high is safe, too low is not)"
            )
        reservation = cls(path, SeqCounter(high, block))
        reservation._reserve(startup=True)
        return reservation

    def next(self) -> int:
        """The next number, never used before; stores the next block first when needed
        (OSError when that cannot be written: then no number is handed out)."""
        if self._closed:
            raise RuntimeError("the message counter is closed")
        self._reserve(startup=False)
        return self.counter.take()

    def skip_past(self, seq: int) -> None:
        self.counter.skip_past(seq)

    def close(self) -> None:
        """Give back the unused rest of the block, so a clean restart continues without a gap."""
        if self._closed:
            return
        self._closed = True
        if self.path is not None and self.counter.last < self.counter.reserved:
            with contextlib.suppress(OSError):  # then the rest of the block is a gap: harmless
                _write_file(self.path, b"%d\n" % self.counter.last)

    def _reserve(self, *, startup: bool) -> None:
        high = self.counter.due()
        if high is None:
            return
        if self.path is not None:
            data = b"%d\n" % high
            if startup:
                _write_whole(self.path, data, "cannot store the message counter in")
            else:
                _write_file(self.path, data)
        self.counter.stored(high)


def _parse_seq(text: bytes) -> int | None:
    """The number in a seq file, or None when it holds anything else."""
    digits = text.strip()
    if not digits.isdigit() or len(digits) > 20:
        return None
    value = int(digits)
    return value if value <= MAX_SEQ else None


def _write_whole(path: Path, data: bytes, doing: str) -> None:
    """``_write_file``, with a failure told as a one-line startup error."""
    try:
        _write_file(path, data)
    except OSError as exc:
        raise StartupError(f"{doing} {path.parent}: {exc.strerror or exc}") from exc


def _write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once and durably (a crash, even of the machine, leaves
    the old file or the new one), private to this user from the first byte on."""
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)  # left by a crash; O_EXCL below then never opens someone's link
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)
