"""What each mode runs: room sizes, trial counts and message counts, in one place.

``full`` is the run the table of docs/performance.md comes from; ``quick`` keeps every family
but fewer and smaller trials; ``tiny`` only proves that every code path still runs
(``tests/test_bench.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    msg_size: int = 64  # characters of text per message
    lat_receivers: tuple[int, ...] = (10, 50)
    lat_rate: float = 100.0
    lat_seconds: float = 10.0
    flood_receivers: int = 10
    burst_count: int = 5_000  # messages from the one sender: a burst the buffers absorb
    flood_count: int = 50_000  # and a flood that outlasts them: it needs backpressure
    all_senders: int = 10
    all_count: int = 2_000  # messages from each of the senders
    flood_repeats: int = 3
    crash_rooms: tuple[int, ...] = (5, 20, 50)
    crash_trials: int = 10
    silent_rooms: tuple[int, ...] = (5, 20, 50)
    silent_trials: int = 10
    join_room: int = 50
    join_trials: int = 10
    member_join_trials: int = 10  # joins whose --tracker is an ordinary member
    startup_trials: int = 5
    scale: int = 100
    batch: int = 10  # nodes started at once while a room grows
    heal_runs: int = 5  # partitions of a room on 5 hosts, healed (multihost)
    multihost_crash_trials: int = 5  # tracker crashes in a room on 5 hosts (multihost)
    partition_messages: int = 20  # said by each host during a partition (multihost)
    catchup_count: int = 10_000  # missed by a restarted node (catchup)
    catchup_trials: int = 3
    file_mib: int = 64  # the file sent to one and to five receivers (files)
    file_trials: int = 3


PLANS = {
    "full": Plan(),
    "quick": Plan(
        lat_receivers=(10,),
        lat_seconds=2.0,
        burst_count=3_000,
        flood_count=20_000,
        all_count=300,
        flood_repeats=1,
        crash_rooms=(5, 20),
        crash_trials=5,
        silent_rooms=(5,),
        silent_trials=3,
        join_room=20,
        join_trials=5,
        member_join_trials=5,
        startup_trials=2,
        scale=30,
        heal_runs=2,
        multihost_crash_trials=2,
        catchup_trials=2,
        file_mib=32,
        file_trials=2,
    ),
    "tiny": Plan(
        lat_receivers=(3,),
        lat_seconds=0.5,
        flood_receivers=3,
        burst_count=200,
        flood_count=400,
        all_senders=3,
        all_count=50,
        flood_repeats=1,
        crash_rooms=(3,),
        crash_trials=1,
        silent_rooms=(3,),
        silent_trials=1,
        join_room=3,
        join_trials=1,
        member_join_trials=1,
        startup_trials=1,
        scale=5,
        batch=4,
        heal_runs=1,
        multihost_crash_trials=1,
        partition_messages=3,
        catchup_count=300,
        catchup_trials=1,
        file_mib=2,
        file_trials=1,
    ),
}
