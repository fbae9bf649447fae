"""The headless front end: JSON lines exactly as DESIGN.md gives them."""

from __future__ import annotations

import io
import json

import pytest
import trio

from peerchat import events
from peerchat.headless import Headless, _message_line
from peerchat.membership import Member

NASTY = ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1b[2J", "é ü 漢字 😀", ""]


@pytest.mark.parametrize("text", NASTY)
@pytest.mark.parametrize("own", [True, False])
def test_message_line_is_the_json_of_the_event_byte_for_byte(text: str, own: bool) -> None:
    sender = Member('id"\\\n', f"u{text[:5]}", "127.0.0.1", 4000, 4000)
    event = events.MessageReceived(sender, 7, 9, text, 1795537777.25, 513.75, 514.0001, own)
    line = _message_line(event)
    assert line == json.dumps(event.as_json(), ensure_ascii=False)
    assert json.loads(line)["text"] == text


async def test_events_of_one_round_go_out_in_one_write_in_order() -> None:
    out = io.StringIO()
    front = Headless(out)
    me = Member("a", "alice", "127.0.0.1", 4000, 4000)
    front.show(events.Ready(me, "tracker"))
    front.show(events.TrackerChanged(me))
    assert out.getvalue() == ""  # not before the round ends
    await trio.testing.wait_all_tasks_blocked()
    await trio.sleep(0)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["ready", "tracker"]
    front.show(events.Error("late"))
    front.stop()  # what is left goes out on stop, without waiting for the loop
    assert json.loads(out.getvalue().splitlines()[-1]) == {"event": "error", "message": "late"}
