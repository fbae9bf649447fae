"""peerchat.uplink: which fetches send while a node's uplink is slow, without sockets."""

from __future__ import annotations

from peerchat.uplink import TOGETHER, TURN, TURNS_FOR, Uplink


def senders(uplink: Uplink, now: float, fetches: str = "abc") -> str:
    return "".join(f for f in fetches if uplink.may_send(f, now))


def test_every_fetch_sends_while_the_uplink_keeps_up() -> None:
    uplink = Uplink()
    assert senders(uplink, 0.0) == "abc"
    uplink.slow("a", 1.0)  # one fetcher's own link is slow: not the uplink
    assert senders(uplink, 1.5) == "abc"
    uplink.slow("b", 1.0 + TOGETHER + 0.1)  # slow, but long after the other
    assert senders(uplink, 7.0) == "abc"


def test_two_slow_fetches_make_them_all_take_turns_in_order() -> None:
    uplink = Uplink()
    uplink.slow("a", 0.0)
    uplink.slow("b", 1.0)
    assert senders(uplink, 1.0) == "a"  # the first to ask; the others wait, in order
    assert senders(uplink, 1.0 + TURN / 2) == "a"
    assert senders(uplink, 1.0 + TURN) == "b"  # a waits last now
    assert senders(uplink, 1.0 + 2 * TURN) == "c"
    assert senders(uplink, 1.0 + 3 * TURN) == "a"


def test_a_turn_passes_though_its_fetch_waits_for_acknowledgements() -> None:
    uplink = Uplink()
    uplink.slow("a", 0.0)
    uplink.slow("b", 0.0)
    assert uplink.may_send("a", 0.0) and not uplink.may_send("b", 0.1)
    assert uplink.may_send("b", TURN)  # a did not ask again: its turn is over all the same
    assert not uplink.may_send("a", TURN + 0.1)


def test_turns_go_on_while_the_fetch_sending_is_slow_and_end_after() -> None:
    uplink = Uplink()
    uplink.slow("a", 0.0)
    uplink.slow("b", 0.0)
    assert senders(uplink, 0.0, "ab") == "a"
    uplink.slow("a", 20.0)  # alone on the uplink, and still slow: turns go on
    assert len(senders(uplink, 20.0 + TURNS_FOR - 1, "ab")) == 1
    assert senders(uplink, 20.0 + TURNS_FOR, "ab") == "ab"


def test_a_fetch_gone_leaves_its_turn_to_the_next() -> None:
    uplink = Uplink()
    uplink.slow("a", 0.0)
    uplink.slow("b", 0.0)
    assert senders(uplink, 0.0) == "a"
    uplink.gone("a")
    assert senders(uplink, 0.1, "bc") == "b"
    uplink.gone("c")
    uplink.gone("b")
    assert senders(uplink, 0.2, "d") == "d"
