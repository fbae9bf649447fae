"""The Noise handshake that opens every connection, and what it proves. No I/O.

``Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s`` (the ``noiseprotocol`` package): both ends send an
X25519 static key, encrypted, and prove they hold it. The pre-shared key is the room secret
(hashed; an open room uses the hash of nothing): with ``psk0`` it is mixed in before the first
message, so a node with another secret fails on that first message and the answering node tells
it nothing but "no" (an empty message), never its keys or anything of the room.

The static key is made afresh by each process and bound to the node's lasting identity: each
end's handshake payload is its Ed25519 public key and that key's signature over the static key.
A peer's node id is then the hash of a key it proved to hold (``identity.node_id_of``), and the
id in its hello must be that one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgpack
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from noise.connection import Keypair, NoiseConnection

from peerchat import identity
from peerchat.wire import FrameError

PROTOCOL = b"Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s"
STATIC_TAG = b"peerchat-noise-static-v1:"  # what the identity key signs: this and the static key
REFUSAL = b""  # the answer to a first message made with another secret
MAX_MESSAGE = 65535  # Noise's limit for any one message


class HandshakeError(FrameError):
    """The peer broke the handshake: bad message, bad proof of identity."""


class ClosedEarly(HandshakeError):
    """The dialling end closed during the handshake: it gave up waiting (this node was frozen,
    and its peers' dials queued up meanwhile), or went away."""


class ClosedUnheard(ClosedEarly):
    """The connection closed before the other end sent a byte: a join dials a few addresses
    ahead and closes the ones it does not take (``dials``), so this is no fault of anyone's."""


class WrongSecret(HandshakeError):
    """The two ends do not share the room secret (or one has none)."""


def room_key(secret: str) -> bytes:
    """The 32-byte pre-shared key of a room with ``secret``. Anyone who sees one first message
    of a handshake can test guesses at the secret against it offline, so the key is derived
    with scrypt (16 MiB and some 80 ms a guess on this machine), not a fast hash."""
    return Scrypt(salt=b"peerchat-room-v1", length=32, n=2**14, r=8, p=1).derive(secret.encode())


OPEN_ROOM = hashlib.blake2s(b"", person=b"pcroom1").digest()  # no secret, nothing to guess
MIN_SECRET = 12  # characters; `secrets.token_urlsafe(24)` makes 32


@dataclass(frozen=True)
class LocalKeys:
    """This process's static key and the proof that this node's identity stands behind it."""

    static: bytes  # X25519 private key, raw
    proof: bytes  # the handshake payload: msgpack [identity public key, signature]

    @classmethod
    def make(cls, me: identity.Identity) -> LocalKeys:
        private = X25519PrivateKey.generate()
        public = private.public_key().public_bytes_raw()
        proof = msgpack.packb([me.public_key, me.sign(STATIC_TAG + public)], use_bin_type=True)
        return cls(private.private_bytes_raw(), proof)


class Handshake:
    """One end of a handshake. The initiator calls ``first``; each end then feeds every message
    it receives to ``receive``, and sends what that returns, until ``done``."""

    def __init__(self, keys: LocalKeys, psk: bytes, *, initiator: bool) -> None:
        self.noise = NoiseConnection.from_name(PROTOCOL)
        if initiator:
            self.noise.set_as_initiator()
        else:
            self.noise.set_as_responder()
        self.noise.set_keypair_from_private_bytes(Keypair.STATIC, keys.static)
        self.noise.set_psks(psk)
        self.noise.start_handshake()
        self._initiator = initiator
        self._proof = keys.proof
        self._step = 0
        self.peer_id = ""  # the proven node id of the other end, once done
        self.peer_key = b""  # and its identity key

    @property
    def done(self) -> bool:
        return bool(self.noise.handshake_finished)

    def first(self) -> bytes:
        """The initiator's first message: its ephemeral key, under the room's secret."""
        assert self._initiator and self._step == 0
        self._step = 1
        return bytes(self.noise.write_message(b""))

    def receive(self, message: bytes) -> bytes | None:
        """Take the peer's next message; returns ours to send next, if any."""
        step, self._step = self._step, self._step + 1
        if self._initiator and message == REFUSAL:
            raise WrongSecret("the other node has another room secret")
        # Held here: the library drops its handshake state, the peer's static key with it,
        # once the last message is read.
        state = self.noise.noise_protocol.handshake_state
        try:
            payload = bytes(self.noise.read_message(message))
        except Exception as exc:  # whatever the library says of a peer's bytes
            if step == 0:  # the first message is the one the secret decides
                raise WrongSecret("a first message made with another room secret") from exc
            raise HandshakeError("a handshake message that does not check") from exc
        if step == 0:
            return bytes(self.noise.write_message(self._proof))  # the responder's keys
        self._check(payload, state.rs.public_bytes)
        if self._initiator:
            return bytes(self.noise.write_message(self._proof))
        return None

    def _check(self, payload: bytes, static: bytes) -> None:
        """The peer's identity key signed the static key it just proved to hold."""
        try:
            key, signature = msgpack.unpackb(payload, max_bin_len=64, max_array_len=2)
        except Exception as exc:
            raise HandshakeError("a handshake payload that is not a proof of identity") from exc
        if not (
            type(key) is bytes
            and type(signature) is bytes
            and identity.verify(key, signature, STATIC_TAG + static)
        ):
            raise HandshakeError("a static key its identity key did not sign")
        self.peer_id, self.peer_key = identity.node_id_of(key), key
