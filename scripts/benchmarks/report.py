"""Statistics and the printed report: figures, ratios to the baseline, and their tables.

Each family turns its raw trials into ``Figure``s and ``ratio``s; this module summarises them
and renders both tables, so every row of the output looks alike whatever measured it. ``bad``
in the table counts failed trials (no agreement on a tracker, the wrong tracker, or a room that
was not whole again afterwards; it is then started afresh), or lost plus duplicated
deliveries. Failures are listed under the tables, with the ``peer_left`` reasons seen.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Raw = dict[str, Any]  # the trials of a run by figure family, as the families measured them
Check = Callable[[dict[str, Any]], bool]  # a target, applied to a figure's summary


def pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: list[float]) -> dict[str, float | int | None]:
    """The columns of a row; a percentile only where there are samples enough to mean it."""
    if not values:
        return {"n": 0}
    v = sorted(values)
    return {
        "n": len(v),
        "min": v[0],
        "p50": statistics.median(v),
        "p90": pct(v, 90) if len(v) >= 10 else None,
        "p99": pct(v, 99) if len(v) >= 100 else None,
        "max": v[-1],
    }


@dataclass
class Figure:
    """One row of the table: the samples of one figure and, where there is one, its target."""

    key: str
    title: str
    unit: str
    samples: list[float]
    target: str = ""
    check: Check | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    bad: int = 0  # failed trials, or lost + duplicated messages

    def result(self) -> dict[str, Any]:
        s = summary(self.samples)
        met = None
        if self.check:
            met = bool(s["n"]) and self.bad == 0 and self.check(s)
        return {
            "title": self.title,
            "unit": self.unit,
            "summary": s,
            "bad": self.bad,
            "target": self.target,
            "met": met,
            **self.extra,
            "samples": self.samples,
        }


def ratio(
    title: str, pc: float, bl: float, unit: str, target: str = "", *, lossless: bool = True
) -> dict[str, Any]:
    """A row of the PeerChat / baseline table; the one target there is a ratio of 0.70."""
    r = pc / bl
    met = (r >= 0.70 and lossless) if target else None
    return {"title": title, "unit": unit, "peerchat": pc, "baseline": bl, "ratio": r,
            "target": target, "met": met}  # fmt: skip


def without(runs: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Runs with one (bulky) field left out, for the JSON."""
    return [{k: v for k, v in r.items() if k != key} for r in runs]


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


MET = {True: "yes", False: "NO", None: ""}


def figure_table(results: dict[str, dict[str, Any]]) -> str:
    head = ("figure", "unit", "n", "bad", "min", "p50", "p90", "p99", "max", "target", "met")
    rows = [head]
    for r in results.values():
        s = r["summary"]
        cells = [s.get(k) for k in ("n", "min", "p50", "p90", "p99", "max")]
        bad = fmt(r["bad"])
        rows.append(
            (r["title"], r["unit"], fmt(cells[0]), bad, *map(fmt, cells[1:]), r["target"],
             MET[r["met"]])
        )  # fmt: skip
    return render_table(rows, left=(0, 1, 9))


def ratio_table(ratios: dict[str, dict[str, Any]]) -> str:
    head = ("PeerChat / baseline", "unit", "peerchat", "baseline", "ratio", "target", "met")
    rows = [head]
    for r in ratios.values():
        rows.append(
            (r["title"], r["unit"], fmt(r["peerchat"]), fmt(r["baseline"]), f"{r['ratio']:.2f}",
             r["target"], MET[r["met"]])
        )  # fmt: skip
    return render_table(rows, left=(0, 1, 5))


def render_table(rows: list[tuple[str, ...]], left: tuple[int, ...]) -> str:
    """Columns padded to their widest cell; text columns ``left`` flush left, numbers right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(meta: dict[str, Any], result: dict[str, Any]) -> str:
    """The whole printed report: a heading, both tables, and what failed."""
    load = meta["loadavg_before"][0]
    parts = [
        f"PeerChat benchmark, {meta['mode']} run, {meta['date']}, {meta['machine']}, "
        f"{meta['seconds']:.0f} s, load average {load:.2f} before, links encrypted, "
        + ("a private room (secret)" if meta.get("room_secret") else "an open room"),
        "",
        figure_table(result["figures"]),
        "",
        ratio_table(result["ratios"]),
    ]
    failures: dict[int, str] = {}  # a trial that two rows share is one failure, under the first
    for r in result["figures"].values():
        for t in r.get("trials", []):
            if t.get("failed"):
                failures.setdefault(id(t), f"{r['title']}: {t['failed']}")
    if failures or result["broken_rooms"]:
        parts.append("\nfailures:")
        parts += [f"  {line[:400]}" for line in [*failures.values(), *result["broken_rooms"]]]
    if result.get("skipped"):
        parts.append("\nskipped (not measured here):")
        parts += [f"  {line}" for line in result["skipped"]]
    return "\n".join(parts)
