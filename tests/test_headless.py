"""The headless front end: JSON lines exactly as DESIGN.md gives them."""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
from pathlib import Path

import pytest
import trio

from peerchat import events, headless
from peerchat.headless import Headless, _message_line
from peerchat.membership import Member

NASTY = ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1b[2J", "é ü 漢字 😀", ""]


@pytest.mark.parametrize("text", NASTY)
@pytest.mark.parametrize("own", [True, False])
@pytest.mark.parametrize("kept", [True, False])
def test_message_line_is_the_json_of_the_event_byte_for_byte(
    text: str, own: bool, kept: bool
) -> None:
    sender = Member('id"\\\n', f"u{text[:5]}", "127.0.0.1", 4000, 4000)
    event = events.MessageReceived(
        sender, 7, 9, text, 1795537777.25, 513.75, 514.0001, own, history=kept, kept=kept
    )
    line = _message_line(event)
    assert line == json.dumps(event.as_json(), ensure_ascii=False)
    assert json.loads(line)["text"] == text


class CountingOut(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_events_of_one_round_go_out_in_one_write_in_order() -> None:
    out = CountingOut()
    front = Headless(out)
    me = Member("a", "alice", "127.0.0.1", 4000, 4000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(front._flusher)
        await trio.testing.wait_all_tasks_blocked()
        front.show(events.Ready(me, "tracker"))
        assert out.writes == 1  # the first event of a quiet moment goes out at once
        front.show(events.TrackerChanged(me))
        front.show(events.Error("third"))
        assert out.writes == 1  # the rest of the burst waits for the flusher...
        await trio.testing.wait_all_tasks_blocked()
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [e["event"] for e in lines] == ["ready", "tracker", "error"]
        assert out.writes == 2  # ...which writes it in one go
        nursery.cancel_scope.cancel()
    front.show(events.Error("late"))
    front.stop()  # what is left goes out on stop, with no flusher running
    assert json.loads(out.getvalue().splitlines()[-1]) == {"event": "error", "message": "late"}


async def test_stdin_from_a_file_is_read_a_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``< /dev/zero`` grew a node by gigabytes: a file was read whole before its first line."""
    typed = tmp_path / "typed"
    typed.write_bytes(b"hi\n" + b"x" * (2 * headless.MAX_LINE) + b"\nbye")
    with typed.open() as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        assert [line async for line in headless._stdin_lines()] == ["hi", None, "bye"]
    with open("/dev/zero") as zero:  # a line without end, for ever
        monkeypatch.setattr(sys, "stdin", zero)
        tracemalloc.start()
        lines = headless._stdin_lines()
        with trio.move_on_after(1):
            await lines.__anext__()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await lines.aclose()
    assert peak < 4 * headless.MAX_LINE, peak
