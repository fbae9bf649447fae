"""A stranger on the LAN (run in a test's namespace only): announces ``COUNT`` instance names
of ``_peerchat._tcp`` for room ``ROOM``, which sort before any member's, and never answers for
their other records. Announced at start, then again whenever somebody asks for the service and
every half second, until killed. With ``--dead``, each comes with all its records: room
``ROOM`` at its home as a member says it, at an address of the LAN's /24 where nobody is (.100
to .249). With ``--goodbye``, each name of the room another host answers with is said gone at
once (its pointer again, with a time to live of 0).

    python mdns_spoof.py ROOM COUNT ADDRESS [--dead] [--goodbye]    # ADDRESS: the host's
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import time

from zeroconf import DNSAddress, DNSIncoming, DNSOutgoing, DNSPointer, DNSService, DNSText
from zeroconf.const import (
    _CLASS_IN,
    _FLAGS_AA,
    _FLAGS_QR_RESPONSE,
    _TYPE_A,
    _TYPE_PTR,
    _TYPE_SRV,
    _TYPE_TXT,
)

from peerchat.addresses import home_port

GROUP, PORT = "224.0.0.251", 5353
SERVICE = "_peerchat._tcp.local."
EVERY = 0.5


def announcements(room: str, count: int, dead_in: str = "") -> list[bytes]:
    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
    for n in range(count):
        name = f"{room}-{n:012x}.{SERVICE}"  # 000000000000 first: before any real node id
        out.add_answer_at_time(DNSPointer(SERVICE, _TYPE_PTR, _CLASS_IN, 4500, name), 0)
        if dead_in:
            host = f"dead-{n}.local."
            said = [f"room={room}", f"home=127.0.0.1:{home_port(room)}"]  # (as a member's)
            txt = b"".join(bytes([len(s)]) + s.encode() for s in said)
            address = socket.inet_aton(f"{dead_in}.{100 + n % 150}")
            records = [
                DNSService(name, _TYPE_SRV, _CLASS_IN, 4500, 0, 0, 20000 + n, host),
                DNSText(name, _TYPE_TXT, _CLASS_IN, 4500, txt),
                DNSAddress(host, _TYPE_A, _CLASS_IN, 4500, address),
            ]
            for record in records:
                out.add_answer_at_time(record, 0)
    return out.packets()


def goodbyes(data: bytes, room: str) -> list[bytes]:
    """A goodbye for each name of ``room`` the packet ``data`` answers with."""
    try:
        incoming = DNSIncoming(data)
    except Exception:  # noise on the group
        return []
    if incoming.is_query():
        return []
    names = {
        r.alias
        for r in incoming.answers()
        if isinstance(r, DNSPointer) and r.name == SERVICE and r.ttl > 0
        and r.alias.startswith(f"{room}-") and not r.alias.startswith(f"{room}-0000")
    }  # fmt: skip
    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
    for name in names:
        out.add_answer_at_time(DNSPointer(SERVICE, _TYPE_PTR, _CLASS_IN, 0, name), 0)
    return out.packets() if names else []


def asked_for_the_service(data: bytes) -> bool:
    try:
        incoming = DNSIncoming(data)
    except Exception:  # noise on the group
        return False
    return incoming.is_query() and any(q.name == SERVICE for q in incoming.questions)


def main(room: str, count: int, address: str, dead: bool = False, goodbye: bool = False) -> None:
    packets = announcements(room, count, address.rpartition(".")[0] if dead else "")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("", PORT))
    group = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sent_at = -EVERY
    print("announcing", flush=True)
    while True:
        readable, _, _ = select.select([sock], [], [], 0.1)
        data = sock.recv(9000) if readable else b""
        for packet in goodbyes(data, room) if goodbye else []:
            sock.sendto(packet, (GROUP, PORT))
        asked = bool(data) and asked_for_the_service(data)
        if asked or time.monotonic() - sent_at >= EVERY:
            for packet in packets:
                sock.sendto(packet, (GROUP, PORT))
            sent_at = time.monotonic()


if __name__ == "__main__":
    more = sys.argv[4:]
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], "--dead" in more, "--goodbye" in more)
