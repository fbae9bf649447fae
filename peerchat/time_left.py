"""How long a transfer has left, judged by how fast it went lately (no I/O): a fetch of
hundreds of MiB at a few MB/s showed only its percent, a long wait with nothing to say how
long (trial 53)."""

from __future__ import annotations

from collections import deque

WINDOW = 10.0  # seconds of progress the pace is judged by
SHOWN_AFTER = 2.0  # seconds of progress before a time is said
STALE = 10.0  # seconds without progress after which no time is said


class TimeLeft:
    """The progress of one transfer, for its time left."""

    def __init__(self) -> None:
        self._seen: deque[tuple[float, int]] = deque()  # (monotonic time, bytes done)

    def note(self, now: float, done: int) -> None:
        """``done`` bytes at ``now``."""
        if self._seen and done < self._seen[-1][1]:  # begun again (a resumed fetch, anew)
            self._seen.clear()
        self._seen.append((now, done))
        while len(self._seen) > 2 and now - self._seen[1][0] >= WINDOW:
            self._seen.popleft()

    def said(self, size: int, now: float) -> str:
        """``"2 min left"`` of ``size`` bytes, or "" while the pace is not known."""
        if len(self._seen) < 2:
            return ""
        (first, was), (last, done) = self._seen[0], self._seen[-1]
        if last - first < SHOWN_AFTER or done <= was or now - last > STALE or done >= size:
            return ""
        return spoken((size - done) * (last - first) / (done - was)) + " left"


def spoken(seconds: float) -> str:
    """A duration as a person would round it: ``"40 s"``, ``"12 min"``, ``"3 h"``."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"
