"""PeerChat: a terminal chat room with no server."""

PROTOCOL_VERSION = 4
