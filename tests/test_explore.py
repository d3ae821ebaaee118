"""Exploration strategies: random (recorded), PCT, preemption-bounded DFS, replay, shrinking."""

from __future__ import annotations

from pathlib import Path

import pytest

from microsim import explore
from microsim.explore import Schedule
from microsim.kernel import Kernel
from microsim.runner import run_program

PROGRAMS = Path(__file__).parent / "programs"
DEPTH1 = str(PROGRAMS / "depth1.py")
TWO = str(PROGRAMS / "two_preemptions.py")
LOCKED = str(PROGRAMS / "locked.py")
RACE = str(Path(__file__).parent.parent / "examples" / "race.py")


def test_random_almost_never_hits_the_depth1_bug_but_pct_does() -> None:
    random_report = explore.sweep(DEPTH1, range(40))
    assert random_report.runs == 40 and not random_report.results
    pct = explore.explore_pct(DEPTH1, runs=300, depth=1)
    assert pct.results, "PCT found nothing in 300 runs"
    assert pct.runs <= 300 and "the worker finished" in pct.results[0].error
    # Every PCT run is its own seed stream: the same runs give the same result.
    again = explore.explore_pct(DEPTH1, runs=300, depth=1)
    assert [r.schedule for r in again.results] == [r.schedule for r in pct.results]


def test_dfs_bound_1_proves_the_two_preemption_bug_absent_and_bound_2_finds_it() -> None:
    one = explore.explore_dfs(TWO, bound=1)
    assert one.complete and not one.results
    assert one.headline().startswith("explored all ") and "at most 1 preemption: no failure" in one.headline()
    two = explore.explore_dfs(TWO, bound=2)
    assert len(two.results) == 1
    bug = two.results[0]
    assert bug.preemptions == 2 and "mid-window" in bug.error
    # The schedule replays the failure exactly, whatever seed was used to find it.
    again = explore.replay(TWO, bug.schedule)
    assert not again.ok and again.schedule == bug.schedule and again.error == bug.error


def test_dfs_proves_a_correct_program_clean_within_its_bound() -> None:
    r = explore.explore_dfs(LOCKED, bound=2)
    assert r.complete and not r.results and r.bound == 2
    assert r.headline() == f"explored all {r.schedules:,} schedules with at most 2 preemptions: no failure"
    assert r.schedules > 50  # the lock really is exercised under many interleavings


def test_dfs_stops_incomplete_at_max_runs() -> None:
    r = explore.explore_dfs(LOCKED, bound=2, max_runs=10)
    assert not r.complete and r.runs == 10 and "incomplete" in r.headline()


def test_random_schedule_replays_a_seeded_failure_and_shrinks() -> None:
    report = explore.explore(RACE, "random", runs=30, max_failures=None)
    assert report.results and report.shortest is not None
    first = report.failed[0]
    # Recording does not change the default scheduler: same outcome as a plain seeded run.
    assert run_program(RACE, seed=first.seed).error == first.error
    replayed = explore.replay(RACE, first.schedule)
    assert replayed.schedule == first.schedule and replayed.error == first.error
    best = report.shortest
    assert not best.ok and (best.preemptions, best.steps) <= (first.preemptions, first.steps)
    assert (best.preemptions, best.steps) <= min((r.preemptions, r.steps) for r in report.results)


def test_random_strategy_keeps_the_default_trace(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_program(RACE, seed=7, trace=str(a))
    explore.run_with(RACE, explore.RandomStrategy(7), seed=7, trace=str(b))
    assert a.read_bytes() == b.read_bytes()


def test_schedule_strings() -> None:
    s = Schedule(3, True, [1030, 1030, 1031, 1030])
    assert str(s) == "v1-s3-r1:1030x2.1031.1030"
    assert Schedule.parse(str(s)) == s
    assert Schedule.parse("v1-s0-r0:") == Schedule(0, False, [])
    for bad in ("", "v2-s0-r0:", "v1-s0-r1:10x", "v1-sx-r1:1", "v1-s0-r1:1..2"):
        with pytest.raises(ValueError, match="malformed schedule"):
            Schedule.parse(bad)


def test_shrinking_drops_needless_preemptions() -> None:
    # Seed 66's random schedule fails with 6 preemptions; 2 are enough.
    noisy = explore.run_with(TWO, explore.RandomStrategy(66), seed=66)
    assert not noisy.ok and noisy.preemptions == 6
    best = explore.shrink(TWO, noisy)
    assert not best.ok and best.preemptions == 2
    assert explore.replay(TWO, best.schedule).error == noisy.error


def test_reduction_skips_syscalls_on_private_objects(tmp_path: Path) -> None:
    def program(iterations: int) -> str:
        prog = tmp_path / f"private{iterations}.py"
        prog.write_text(
            "def child(ctx):\n"
            f"    for _ in range({iterations}):\n"
            "        v = ctx.zx.vmo_create(4096, 0)\n"
            "        ctx.zx.vmo_write(v, b'x', 0)\n"
            "        ctx.zx.handle_close(v)\n"
            "def main(ctx):\n"
            "    ctx.spawn(child)\n"
            "    ctx.spawn(child)\n"
        )
        return str(prog)

    r = explore.explore_dfs(program(5), bound=2)
    assert r.complete and not r.results
    # The children's syscalls on their own VMOs are no steps: four times the private work
    # leaves the schedule count alone (what remains are the spawns' task syscalls).
    longer = explore.explore_dfs(program(20), bound=2)
    assert longer.complete and longer.schedules == r.schedules
    prog = program(5)
    # Without the reduction (the random strategy records every decision) there are many.
    s = explore.run_with(str(prog), explore.RandomStrategy(1), seed=1)
    assert s.steps > 10
    # Traced and untraced runs see the same steps (traces are written by replaying).
    plain = explore.run_with(str(prog), explore.DFSStrategy())
    traced = explore.run_with(str(prog), explore.DFSStrategy(), trace=str(tmp_path / "t.jsonl"))
    assert plain.schedule == traced.schedule and plain.steps == traced.steps
    assert explore.run_with(program(20), explore.DFSStrategy()).steps == plain.steps


def test_strategy_object_drives_the_scheduler() -> None:
    class Never:
        def preempt(self, current: object, runnable: list[object]) -> bool:
            return False

        def pick(self, runnable: list[object]) -> int:
            return len(runnable) - 1

    r = run_program(TWO, strategy=lambda k: Never())
    assert r.ok
    with Kernel(seed=0) as k:
        assert k.sched.strategy.preempt.__self__ is k.sched.strategy  # type: ignore[attr-defined]


def test_local_worker_processes_match() -> None:
    remote = explore.sweep(RACE, range(12), runner=explore.PoolRunner(2, batch_size=3))
    assert [(r.run, r.schedule, r.error) for r in remote.failed] == [
        (r.run, r.schedule, r.error) for r in explore.sweep(RACE, range(12)).failed]
