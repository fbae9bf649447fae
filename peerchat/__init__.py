"""PeerChat: a terminal chat room with no server."""

from peerchat import one_openssl

one_openssl.keep_to_one()  # before anything imports trio

__version__ = "0.2.0"
PROTOCOL_VERSION = 15
