"""Multi-host: real `peerchat --headless` processes, one per host, each host a network namespace
(tests/netns.py) on one switch; partitions and cut links made by moving or breaking the hosts'
links, the way a real network fails.

Skipped, with the reason, where namespaces cannot be made (not root, no `ip`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from netns import PREFIX, Lan, ip, lan_or_skip, namespaces, sweep_stale

# ---------------------------------------------------------------------------------------------
# The harness itself: reachability, partitions, cuts, with plain sockets (no peerchat).

ECHO_PORT = 7000
SILENCE = 0.5  # how long "nothing gets through" is watched; a LAN answers in well under 1 ms


@pytest.fixture
def lan4() -> Iterator[Lan]:
    with lan_or_skip(4) as lan:
        yield lan


def listen(lan: Lan, host: int) -> socket.socket:
    s = lan.socket(host)
    s.bind((lan.addr(host), ECHO_PORT))
    s.listen()
    return s


def try_connect(lan: Lan, a: int, b: int, timeout: float = SILENCE) -> socket.socket | None:
    """A connection from host a to host b's listener, or None if none is made within timeout."""
    s = lan.socket(a)
    s.settimeout(timeout)
    try:
        s.connect((lan.addr(b), ECHO_PORT))
    except OSError:
        s.close()
        return None
    s.settimeout(None)
    return s


def pair(lan: Lan, listeners: dict[int, socket.socket], a: int, b: int):
    """An established connection from a to b: (a's end, b's end)."""
    ours = try_connect(lan, a, b, timeout=5)
    assert ours is not None, f"host {a} cannot connect to host {b}"
    listeners[b].settimeout(5)
    theirs, _ = listeners[b].accept()
    return ours, theirs


def passes(sender: socket.socket, receiver: socket.socket, data: bytes, within: float) -> bool:
    """Send data; True if the receiver has all of it within ``within`` s."""
    sender.sendall(data)
    receiver.settimeout(within)
    got = b""
    try:
        while len(got) < len(data):
            chunk = receiver.recv(len(data) - len(got))
            assert chunk, "connection closed"
            got += chunk
    except TimeoutError:
        return False
    assert got == data
    return True


def arrives(receiver: socket.socket, data: bytes, within: float) -> bool:
    """True if ``data`` (sent earlier) is all read within ``within`` s."""
    return passes(_NoSend(), receiver, data, within)


class _NoSend:
    def sendall(self, data: bytes) -> None:
        pass


def test_harness_hosts_reach_each_other_and_a_partition_separates_them(lan4: Lan) -> None:
    lan = lan4
    listeners = {h: listen(lan, h) for h in lan.hosts}
    one, three = pair(lan, listeners, 1, 3)
    assert passes(one, three, b"before", within=5)
    assert passes(three, one, b"back", within=5)
    for a, b in [(1, 2), (2, 4), (4, 1)]:
        s = try_connect(lan, a, b, timeout=5)
        assert s is not None, f"host {a} cannot reach host {b}"
        s.close()

    lan.partition([1, 2])
    # Inside each side, as before.
    for a, b in [(1, 2), (3, 4)]:
        s = try_connect(lan, a, b, timeout=5)
        assert s is not None, f"host {a} cannot reach host {b} on its own side"
        s.close()
    # Across: no new connection, and an established one carries nothing, either way.
    assert try_connect(lan, 2, 4) is None
    assert not passes(one, three, b"during", within=SILENCE)
    assert not passes(three, one, b"during back", within=SILENCE)

    lan.heal()
    # What was sent during the partition arrives (TCP retransmits it), and new traffic passes.
    assert arrives(three, b"during", within=5)
    assert arrives(one, b"during back", within=5)
    assert passes(one, three, b"after", within=5)
    again = try_connect(lan, 2, 4, timeout=5)
    assert again is not None, "host 2 cannot reach host 4 after healing"
    for s in [again, one, three, *listeners.values()]:
        s.close()


def test_harness_cut_breaks_only_the_link_between_two_hosts(lan4: Lan) -> None:
    lan = lan4
    listeners = {h: listen(lan, h) for h in lan.hosts}
    links = {(a, b): pair(lan, listeners, a, b) for a, b in [(1, 2), (1, 3), (2, 3)]}
    for ours, theirs in links.values():
        assert passes(ours, theirs, b"hello", within=5)

    lan.cut(1, 2)
    one, two = links[1, 2]
    assert not passes(one, two, b"cut", within=SILENCE)
    assert not passes(two, one, b"cut back", within=SILENCE)
    assert try_connect(lan, 2, 1) is None
    # Everything else as before.
    for key in [(1, 3), (2, 3)]:
        ours, theirs = links[key]
        assert passes(ours, theirs, b"still", within=5)
        assert passes(theirs, ours, b"still back", within=5)
    s = try_connect(lan, 1, 4, timeout=5)
    assert s is not None
    s.close()

    lan.mend(1, 2)
    assert arrives(two, b"cut", within=5)
    assert arrives(one, b"cut back", within=5)
    assert passes(one, two, b"mended", within=5)
    s = try_connect(lan, 2, 1, timeout=5)
    assert s is not None, "host 2 cannot reach host 1 after mending"
    s.close()
    for ours, theirs in links.values():
        ours.close()
        theirs.close()
    for s in listeners.values():
        s.close()


def test_harness_removes_its_namespaces_and_sweeps_stale_ones() -> None:
    with lan_or_skip(2) as lan:
        names = [lan.switch, lan.ns(1), lan.ns(2)]
        assert set(names) <= set(namespaces())
        stale = f"{PREFIX}999999999x1br"  # above any pid_max: its process cannot be alive
        ip("netns", "add", stale)
        assert sweep_stale() == [stale]
        assert set(names) <= set(namespaces())  # a live run's namespaces stay
    assert not set(names) & set(namespaces())
