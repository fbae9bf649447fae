"""PeerChat: a terminal chat room with no server."""

__version__ = "0.2.0"
PROTOCOL_VERSION = 10
