"""Benchmark: schedule exploration.

1. DFS: schedules explored per second for a two-thread program (every schedule with at
   most 2 preemptions), against plain seeded runs of the same program (one kernel and
   one run each) as the baseline: the price of recording and replaying choices.
2. A seed sweep (default 10,000 seeds of examples/race.py; env MICROSIM_BENCH_SEEDS)
   with 2 local worker processes (`--jobs 2`) against the same sweep in one process;
   the ratio is the speedup on this machine.

Run: python bench/bench_explore.py   (MICROSIM_BENCH_REPEATS=3 for a short run)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import REPEATS, compare  # noqa: E402

from microsim import explore  # noqa: E402
from microsim.runner import run_program  # noqa: E402

# The two-thread program of the exploration tests (a bug that needs two preemptions).
TWO_THREADS = HERE.parent / "tests" / "programs" / "two_preemptions.py"
RACE = str(HERE.parent / "examples" / "race.py")
SEEDS = int(os.environ.get("MICROSIM_BENCH_SEEDS", "10000"))


def dfs() -> float:
    """Seconds per schedule explored by DFS (bound 2)."""
    t0 = time.perf_counter()
    r = explore.explore_dfs(str(TWO_THREADS), bound=2, max_failures=None)
    elapsed = time.perf_counter() - t0
    assert r.complete
    per = elapsed / r.runs
    dfs.schedules = r.schedules  # type: ignore[attr-defined]
    dfs.rates.append(1 / per)  # type: ignore[attr-defined]
    return per


dfs.rates = []  # type: ignore[attr-defined]


def seeded() -> float:
    """Seconds per plain seeded run of the same program."""
    n = 40
    t0 = time.perf_counter()
    for s in range(n):
        run_program(str(TWO_THREADS), seed=s)
    return (time.perf_counter() - t0) / n


def sweep(runner: explore.Runner) -> float:
    """Seconds for the whole sweep."""
    t0 = time.perf_counter()
    r = explore.sweep(RACE, range(SEEDS), runner=runner)
    elapsed = time.perf_counter() - t0
    assert r.runs == SEEDS
    return elapsed


if __name__ == "__main__":
    print("DFS schedules per second (two threads, at most 2 preemptions)")
    compare({"seeded run": seeded, "dfs schedule": dfs}, baseline="seeded run",
            unit="ms per run", scale=1e3)
    rates = sorted(dfs.rates)  # type: ignore[attr-defined]
    print(f"  {dfs.schedules} schedules with at most 2 preemptions; "  # type: ignore[attr-defined]
          f"median {rates[len(rates) // 2]:.0f} schedules per second")
    print()
    print(f"sweep of {SEEDS:,} seeds of examples/race.py: --jobs 2 against one process")
    ratios = compare({"one process": lambda: sweep(explore.Runner()),
                      "--jobs 2": lambda: sweep(explore.PoolRunner(2, batch_size=50))},
                     baseline="one process", unit="s per sweep", scale=1.0,
                     repeats=max(1, min(REPEATS, 2)))
    print(f"  speedup with 2 worker processes: {1 / ratios['--jobs 2']:.2f}x on {os.cpu_count()} CPUs")
