"""scripts/bench.py: the quick mode's code paths on tiny rooms, so the benchmark cannot rot.

Not a timed test: it checks that every figure was measured and that no message was lost, not
how fast anything was.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def leftovers(marker: str) -> list[str]:
    """Processes whose command line or working directory mentions ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if marker in cmdline or marker in cwd:
            found.append(f"{pid}: {cmdline}")
    return found


def run_bench(tmp_path: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The bench with ``args``, its log dirs (and so its children) under ``tmp_path``."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("PEERCHAT_SLOW"),
    reason="half a minute of benchmark; PEERCHAT_SLOW=1 runs it",
)
def test_tiny_run_measures_everything_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_bench(tmp_path, "--tiny", "--json", str(out), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not leftovers(str(tmp_path)), "the bench left processes behind"
    assert not [p for p in tmp_path.iterdir() if p != out], "the bench left its log dir behind"

    data = json.loads(out.read_text())
    assert data["meta"]["mode"] == "tiny"
    figures = data["figures"]
    for key in (
        "crash_failover_3",
        "silent_failover_3",
        "peerchat_latency_3",
        "baseline_latency_3",
        "peerchat_flood_deliveries_per_s",
        "peerchat_burst_deliveries_per_s",
        "baseline_flood_deliveries_per_s",
        "peerchat_all_msgs_per_s",
        "baseline_all_msgs_per_s",
        "imports",
        "startup",
        "join_ready_ms",
        "member_join_ready_ms",
        "scale_rss",
        "catchup_rate",
        "catchup_typed",
        "file_mib_s_1",
        "file_mib_s_5",
        "file_ratio_1",
        "file_ratio_5",
        "file_ratio_saved_1",
        "file_ratio_saved_5",
        "file_cpu_1",
        "copy_cpu_5",
        "least_work_cpu_5",
        "file_chat_latency",
    ):
        assert key in figures, key
    if os.geteuid() == 0 and shutil.which("ip"):  # hosts to be had: the multi-host rows too
        for key in ("partition_heal_5_hosts", "partition_delivery_5_hosts"):
            assert key in figures, key
    for key, figure in figures.items():
        summary = figure["summary"]
        if key.endswith("_cpu"):  # CPU time has a 10 ms resolution: a tiny run may show none
            continue
        assert summary["n"] >= 1, key
        assert all(map(is_number, figure["samples"])), key
        for stat in ("min", "p50", "max"):
            assert is_number(summary[stat]) and summary[stat] >= 0, (key, stat)
        assert figure["bad"] == 0, (key, figure.get("trials") or figure.get("runs"))
    for kind in ("peerchat", "baseline"):
        assert figures[f"{kind}_latency_3"]["lost"] == 0
        assert figures[f"{kind}_latency_3"]["duplicated"] == 0
        for run in (
            figures[f"{kind}_burst_msgs_per_s"]["runs"]
            + figures[f"{kind}_flood_msgs_per_s"]["runs"]
            + figures[f"{kind}_all_msgs_per_s"]["runs"]
        ):
            assert run["complete"] and run["lost"] == 0 and run["duplicated"] == 0, run
            assert run["deliveries"] == run["messages"] * (
                run["receivers_per_message"] if run["senders"] == 1 else run["senders"] - 1
            )
    scale = figures["scale_rss"]
    assert scale["all_joined"] and scale["reached"] == scale["nodes"] - 1
    assert set(data["ratios"]) >= {
        "latency_3_p50",
        "throughput_burst",
        "throughput_flood",
        "throughput_all",
    }
    for ratio in data["ratios"].values():
        assert is_number(ratio["ratio"]) and ratio["ratio"] > 0
    # The table is printed too, one row per figure.
    assert "crash failover (SIGKILL), room of 3" in result.stdout
    assert "PeerChat / baseline" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("PEERCHAT_SLOW"),
    reason="half a minute of benchmark; PEERCHAT_SLOW=1 runs it",
)
def test_versus_a_revision_gives_both_codes_and_the_baseline_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    result = run_bench(tmp_path, "--versus", "HEAD", "--rounds", "1", timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows[1:]] == ["HEAD", "this code", "baseline"]
    for row in rows[1:]:
        assert all(float(cell) > 0 for cell in row[1:-1])
        assert row[-1].strip() == "0"  # nothing lost
    assert float(rows[1][3]) == 1.0  # the earlier code against itself
    assert not leftovers(str(tmp_path)), "the bench left processes behind"
    worktrees = subprocess.run(
        ["git", "-C", str(SCRIPT.parent), "worktree", "list"], capture_output=True, text=True
    ).stdout
    assert str(tmp_path) not in worktrees, "the bench left its worktree behind"
    assert not list(tmp_path.iterdir()), "the bench left files behind"
