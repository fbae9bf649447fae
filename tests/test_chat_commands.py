"""The chat commands between real processes, read through their headless events: /msg reaches
one member only, /me is an action everywhere, /nick is seen by all and by newcomers, and //
sends a line that starts with "/"."""

from __future__ import annotations

from e2e_helpers import Swarm, say_and_expect


async def test_private_messages_actions_and_new_names(swarm: Swarm) -> None:
    alice, bob, carol = await swarm.room("alice", "bob", "carol")

    await alice.send("/msg bob meet me at five")
    got = await bob.wait_for(event="message", text="meet me at five")
    assert got["private"] is True and got["to"] == "bob" and got["from"] == "alice"
    assert got["id"].startswith(f"{alice.node_id}:p")
    own = await alice.wait_for(event="message", text="meet me at five")
    assert own["own"] is True and own["private"] is True and own["to"] == "bob"
    await say_and_expect(alice, "a marker for everyone", [bob, carol])
    assert carol.messages("meet me at five") == []  # the third member never saw it

    await alice.send("/me waves")
    for proc in (alice, bob, carol):
        waved = await proc.wait_for(event="message", text="waves")
        assert waved["action"] is True and waved["private"] is False

    await alice.send("//shrug")
    for proc in (bob, carol):
        slashed = await proc.wait_for(event="message", text="/shrug")
        assert slashed["action"] is False

    await bob.send("/nick ALICE")  # looks like a name in use
    error = await bob.wait_for(event="error")
    assert "taken" in error["message"]
    await bob.send("/nick robert")
    for proc in (alice, bob, carol):
        nick = await proc.wait_for(event="nick", node_id=bob.node_id)
        assert (nick["old"], nick["username"]) == ("bob", "robert")
    await carol.send("/msg robert you got a new name")
    got = await bob.wait_for(event="message", text="you got a new name")
    assert got["to"] == "robert"
    await bob.send("signed robert")
    said = await alice.wait_for(event="message", text="signed robert")
    assert said["from"] == "robert"

    dave = await swarm.node("dave")
    present = await dave.wait_for(event="peer_joined", node_id=bob.node_id)
    assert present["username"] == "robert" and present["present"] is True

    await alice.send("/msg nobody hello?")
    error = await alice.wait_for(lambda e: "nobody" in e["message"], event="error")
    assert error["message"] == "nobody called nobody is in the room; not sent"


async def test_whois_gives_the_same_key_on_both_sides(swarm: Swarm) -> None:
    alice, bob = await swarm.room("alice", "bob")
    await alice.send("/whois BOB")  # in any case, as /msg
    seen = await alice.wait_for(event="whois")
    await bob.send("/whois bob")
    own = await bob.wait_for(event="whois")
    assert seen["node_id"] == own["node_id"] == bob.node_id
    assert (seen["you"], own["you"]) == (False, True)
    assert seen["username"] == "bob" and seen["away"] is False
    assert seen["tracker"] is False and own["addr"] == seen["addr"]

    await bob.send("/whois alice")
    tracker = await bob.wait_for(event="whois", node_id=alice.node_id)
    assert tracker["tracker"] is True
    await bob.send("/whois nobody")
    error = await bob.wait_for(event="error")
    assert error["message"] == "nobody called nobody is in the room"


async def test_an_ignored_member_is_not_shown_but_kept_and_heard_again(swarm: Swarm) -> None:
    alice, bob, carol = await swarm.room("alice", "bob", "carol")
    await alice.send("/ignore BOB")  # in any case, as /msg
    ignoring = await alice.wait_for(event="ignoring")
    assert ignoring["names"] == ["bob"] and ignoring["node_id"] == bob.node_id
    assert ignoring["on"] is True

    await bob.send("noise one")
    await bob.send("/me shouts")
    await carol.wait_for(event="message", text="shouts")
    await say_and_expect(carol, "after the noise", [alice])  # in order: bob's were before
    await bob.send("/msg alice psst")
    await bob.send("/nick robert")  # still the same key: still ignored, by its new name
    await alice.wait_for(event="nick", node_id=bob.node_id)  # over the link, after the /msg
    assert [e for e in alice.find(event="message") if e["from_id"] == bob.node_id] == []
    await alice.send("/who")
    listed = await alice.wait_for(event="who")
    assert {p["username"]: p["ignored"] for p in listed["peers"]} == {
        "alice": False,
        "robert": True,
        "carol": False,
    }
    await alice.send("/ignore")
    listed = await alice.wait_for(lambda e: "node_id" not in e, event="ignoring")
    assert listed["names"] == ["robert"]
    await alice.send("/unignore Robert")
    heard = await alice.wait_for(lambda e: e.get("on") is False, event="ignoring")
    assert heard["names"] == [] and heard["username"] == "robert"

    await say_and_expect(bob, "heard again", [alice])
    await alice.send("/history 10")  # what was hidden was kept all along
    kept = await alice.wait_for(event="message", text="noise one", history=True)
    assert kept["from_id"] == bob.node_id
    await alice.send("/unignore carol")
    error = await alice.wait_for(event="error")
    assert error["message"] == "carol is not ignored here (nobody is)"

    await alice.send("/ignore carol")
    await alice.wait_for(event="ignoring", username="carol")
    mark = len(alice.events)
    await alice.send("/ignore carol")  # (trial 47: told again, as news)
    again = await alice.wait_for(event="error", since=mark)
    assert again["message"] == "carol is ignored here already (/unignore carol)"
    await bob.send("/quit")
    await alice.wait_for(event="peer_left", node_id=bob.node_id)
    mark = len(alice.events)
    await alice.send("/ignore robert")  # gone, by the key that went by the name here last
    gone = await alice.wait_for(event="ignoring", username="robert", since=mark)
    assert gone["node_id"] == bob.node_id and gone["names"] == ["carol", "robert"], gone
