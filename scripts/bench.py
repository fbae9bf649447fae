#!/usr/bin/env python3
"""PeerChat benchmark: failover, fan-out latency, throughput, join, scale, memory, and a room
spread over five hosts.

Starts real ``peerchat --headless`` processes on 127.0.0.1 (and, where this runs as root with
``ip``, on five network namespaces for the multi-host rows), reads their JSON events, and prints
one table; ``--json FILE`` keeps every sample. The same run measures a baseline
(``scripts/bench_baseline.py``: bare trio + msgpack fan-out, no chat logic) with the same
number of processes and the same messages, and reports PeerChat / baseline.

    python scripts/bench.py            # the full run (under 10 minutes)
    python scripts/bench.py --quick    # a reduced run (about a minute)
    python scripts/bench.py --versus 67fa2a2   # fan-out, this code beside an earlier one's

This file is the command line only. How each figure is measured is told where it is measured,
in ``scripts/benchmarks/``: ``driver`` (processes and their events), ``rooms``, one module per
family (``failover``, ``latency``, ``throughput``, ``join``, ``member_join``, ``scale``,
``multihost``),
``report`` (statistics and tables), ``plan`` (what each mode runs) and ``run`` (their order);
``versus`` compares the fan-out of this code with a git revision's, side by side.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.driver import BenchError
from benchmarks.plan import PLANS
from benchmarks.report import render
from benchmarks.run import describe, run
from benchmarks.versus import compare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, about a minute")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # for the tests
    parser.add_argument("--json", metavar="FILE", help="write every sample to FILE as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the nodes' log files")
    parser.add_argument(
        "--secret",
        action="store_true",
        help="every node in a private room (a random PEERCHAT_SECRET); links are encrypted "
        "either way",
    )
    parser.add_argument(
        "--versus",
        metavar="REV",
        help="only fan-out latency, this code beside git revision REV's, taking turns",
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds of --versus (default 6)")
    args = parser.parse_args(argv)
    if args.versus and (args.rounds < 1 or args.json or args.quick):
        parser.error("--versus takes --rounds N (1 or more) and --secret, no other options")
    if args.secret:
        os.environ["PEERCHAT_SECRET"] = secrets.token_urlsafe(24)  # the nodes inherit it
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    plan = PLANS[mode]

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background
    logdir = Path(tempfile.mkdtemp(prefix="peerchat-bench-"))
    started = time.monotonic()
    load_before = os.getloadavg()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    keep = args.keep_logs
    try:
        if args.versus:
            print(compare(args.versus, args.rounds, logdir))
            return 0
        result = run(plan, logdir)
    except KeyboardInterrupt:
        print("bench: interrupted; every node was stopped", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: {exc} (logs kept in {logdir})", file=sys.stderr)
        keep = True
        return 1
    finally:
        if not keep:
            shutil.rmtree(logdir, ignore_errors=True)
    meta = describe(mode, plan, date, time.monotonic() - started, load_before)
    print(render(meta, result))
    if args.keep_logs:
        print(f"\nlogs: {logdir}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, **result}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
