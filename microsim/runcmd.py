"""`microsim run`: run a program once, under many seeds, or under an exploration strategy.

Exit statuses: 0 every run passed; 1 a run failed (an exception, a deadlock, a non-zero
exit code among many runs); a single run whose main process returned non-zero exits with
that return code (its low 8 bits, kept non-zero); 2 a usage or input error (bad option, a program that cannot be loaded);
130 interrupted (Ctrl-C; what finished so far is reported).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from microsim import explore
from microsim.errors import MicrosimError
from microsim.explore import Report, Schedule
from microsim.runner import ProgramLoadError, RunResult, load_program, run_program
from microsim.trace import summary as trace_summary

SHOW_IN_FULL = 3  # failing runs shown with traceback and output; the rest are counted
DEFAULT_RUNS = 500
MAX_TRACES = 1000  # traces written for the failing runs of one sweep


class UsageError(MicrosimError):
    """A bad combination of options or a malformed value (exit status 2)."""


EPILOG = """\
arguments after "--" are passed to the program (ctx.args).

exit status: 0 every run passed, 1 a run failed (exception, deadlock or non-zero
exit code among many runs), a single run exits with its main process's non-zero
return code (low 8 bits), 2 usage or input error (bad option, program that cannot be loaded),
130 interrupted (what finished so far is reported), 141 output pipe closed.

traces: with one run, --trace PATH writes that run's trace. With many runs, each
failing run's trace goes to PATH with a label before the suffix: out.jsonl ->
out.seed17.jsonl (seed sweeps), out.run42.jsonl (PCT/DFS run 42), and the shrunk
shortest failing run to out.shortest.jsonl. Without --trace, a failing exploration
writes the shortest failing run's trace to PROGRAM-STEM.shortest.jsonl here.

examples:
  microsim run examples/demo.py --trace demo.jsonl     one run (seed 0), trace, summary
  microsim run examples/race.py --seeds 0..999 --jobs 2
  microsim run examples/race.py --explore pct --runs 500 --depth 2
  microsim run examples/race.py --explore dfs --bound 2
  microsim run examples/race.py --schedule v1-s0-r0:1026.1028x3.1029x4   replay
  microsim run examples/race.py --seeds 0..1000000 --cluster tcp://scheduler:8786
  microsim run examples/producer_consumer.py -- 100     program arguments after --
"""


def add_run_command(subparsers: Any) -> None:
    """Add `microsim run` to the CLI."""
    p = subparsers.add_parser(
        "run", help="run a simulated userspace program (once, per seed, or exploring schedules)",
        description="Run a program (a Python file or module defining main(ctx)) on the "
        "simulated kernel: once, once per seed, or under an exploration strategy that "
        "looks for failing schedules.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("program", help="a Python file (or importable module) defining main(ctx)")
    p.add_argument("--seed", type=_nonneg("--seed"), default=None, metavar="N",
                   help="kernel seed (an integer) for scheduling and addresses; default 0")
    p.add_argument("--seeds", metavar="RANGE",
                   help="run once per seed: A..B (inclusive) or a comma list, e.g. 0..99 or 1,5,9")
    p.add_argument("--explore", choices=("random", "pct", "dfs"),
                   help="exploration strategy: random (seeded, as --seeds), pct (probabilistic "
                   "concurrency testing), dfs (every schedule up to --bound preemptions)")
    p.add_argument("--runs", type=_positive("--runs"), default=None, metavar="N",
                   help=f"number of runs (count) for --explore random/pct; default {DEFAULT_RUNS}")
    p.add_argument("--depth", type=_positive("--depth"), default=2, metavar="D",
                   help="PCT bug depth (ordering constraints; d-1 priority change points); default 2")
    p.add_argument("--bound", type=_nonneg("--bound"), default=2, metavar="K",
                   help="DFS preemption bound (count), explored 0, 1 ... K; default 2")
    p.add_argument("--max-runs", type=_positive("--max-runs"), default=None, metavar="N",
                   help="DFS: stop after N schedules (count); default no limit")
    p.add_argument("--schedule", metavar="STR",
                   help="replay one run exactly from a schedule string printed by a failing run "
                   "(it holds the seed)")
    p.add_argument("--jobs", type=_positive("--jobs"), default=1, metavar="N",
                   help="local worker processes (count) for --seeds and --explore random/pct; default 1")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run --seeds/--explore random/pct batches on a Dask scheduler, e.g. "
                   "tcp://host:8786 (needs microsim[cluster])")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing run")
    p.add_argument("--max-failures", type=_positive("--max-failures"), default=None, metavar="N",
                   help="stop after N failing runs (count); default: no limit for seeds, 1 for pct/dfs")
    p.add_argument("--no-shrink", action="store_true",
                   help="do not shrink the first failures to the shortest failing schedule")
    p.add_argument("--trace", metavar="PATH",
                   help="write the JSON-lines trace here (many runs: one per failing run, see below)")
    p.add_argument("--strace", action="store_true",
                   help="one run only: print each syscall on stderr as it returns (strace-style: "
                        "names, decoded rights/signals/status, duration in virtual ns)")
    p.set_defaults(func=cmd_run, program_args=[])


def _int_arg(name: str, low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} needs an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be at least {low}, got {value}")
        return value

    return parse


def _positive(name: str) -> Any:
    return _int_arg(name, 1)


def _nonneg(name: str) -> Any:
    return _int_arg(name, 0)


def parse_seeds(text: str) -> Sequence[int]:
    """`A..B` (inclusive) or `a,b,c` as seeds; `UsageError` on anything else."""
    text = text.strip()
    if not text:
        raise UsageError("--seeds is empty: give a range A..B or a list a,b,c")
    try:
        if ".." in text:
            lo_s, hi_s = text.split("..", 1)
            lo, hi = int(lo_s, 10), int(hi_s, 10)
            if lo < 0:
                raise UsageError(f"--seeds {text}: seeds are non-negative")
            if hi < lo:
                raise UsageError(f"--seeds {text}: the range is reversed (use {hi}..{lo})")
            return range(lo, hi + 1)
        seeds = [int(s, 10) for s in text.split(",")]
    except ValueError:
        raise UsageError(
            f"--seeds {text!r}: expected a range A..B or a comma list of integers"
        ) from None
    if any(s < 0 for s in seeds):
        raise UsageError(f"--seeds {text}: seeds are non-negative")
    return seeds


def _check(args: argparse.Namespace) -> None:
    if args.seeds is not None and args.seed is not None:
        raise UsageError("--seed and --seeds exclude each other (--seeds A..B runs each seed)")
    if args.schedule is not None:
        for opt in ("seeds", "explore", "seed", "cluster"):
            if getattr(args, opt) is not None:
                raise UsageError(f"--schedule replays one run: it excludes --{opt}")
        try:
            Schedule.parse(args.schedule)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.seeds is not None and args.explore not in (None, "random"):
        raise UsageError(f"--seeds is for the random strategy, not --explore {args.explore}")
    if args.explore == "dfs" and args.cluster is not None:
        raise UsageError("--explore dfs runs locally (each schedule extends the last): drop --cluster")
    if args.explore == "dfs" and args.jobs != 1:
        raise UsageError("--explore dfs runs in one process (each schedule extends the last): drop --jobs")
    if args.max_runs is not None and args.explore != "dfs":
        raise UsageError("--max-runs goes with --explore dfs (use --runs for random/pct)")
    if args.cluster is not None and args.jobs != 1:
        raise UsageError("--jobs is for local workers; with --cluster the cluster's workers run")
    if args.cluster is not None and args.seeds is None and args.explore is None:
        raise UsageError("--cluster needs --seeds or --explore random/pct")
    if args.strace and (args.seeds is not None or args.explore is not None or args.schedule is not None):
        raise UsageError("--strace shows one run: drop --seeds/--explore/--schedule")
    if args.runs is not None and args.explore not in ("random", "pct"):
        raise UsageError("--runs goes with --explore random or pct (--seeds gives its own count)")


def cmd_run(args: argparse.Namespace) -> int:
    """`microsim run`."""
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        _check(args)
        if args.seeds is not None:
            seeds = parse_seeds(args.seeds)
            return _many(args, "random", console, err, seeds=seeds)
        if args.explore is not None:
            return _many(args, args.explore, console, err, seeds=None)
        return _single(args, console, err)
    except UsageError as exc:
        err.print(f"microsim run: error: {exc}", markup=False)
        return 2
    except ProgramLoadError as exc:
        err.print(f"microsim: error: {exc}", markup=False)
        return 2


def _single(args: argparse.Namespace, out: Console, err: Console) -> int:
    prog_args = list(args.program_args)
    if args.schedule is not None:
        r = explore.replay(args.program, args.schedule, args=prog_args, trace=args.trace,
                           capture=False)
    else:
        seed = 0 if args.seed is None else args.seed
        strat = explore.RandomStrategy(seed)
        r = run_program(args.program, seed=seed, trace=args.trace, args=prog_args, strategy=strat,
                        strace=sys.stderr if args.strace else None)
        r.schedule = str(strat.schedule(seed))
    out.print(f"seed {r.seed}: {'ok' if r.ok else 'FAILED'}", markup=False)
    unreturned = f" ({r.unreturned} did not return)" if r.unreturned else ""
    out.print(f"syscalls {r.syscalls}{unreturned}, errors {r.errors}, objects alive at the end "
              f"{r.live_objects}, handles leaked at exit {r.leaked_handles}", markup=False)
    if args.trace:
        out.print(f"trace written to {args.trace}", markup=False)
        out.print(trace_summary.render_text(trace_summary.summarize(args.trace)), markup=False)
    if not r.ok:
        for failure in r.failures:
            err.print(failure, markup=False)
        if r.error and not r.failures:
            err.print(r.error, markup=False)
        err.print(f"replay: microsim run {args.program} --schedule {r.schedule}", markup=False)
    if r.ok:
        return 0
    if r.return_code and not r.failures and not r.error.startswith("deadlock"):
        # One run whose main process returned non-zero: exit with its return code, as a
        # shell running the program would (64 bits cut to 8; kept non-zero).
        return r.return_code & 0xFF or 1
    return 1


def _runner(args: argparse.Namespace) -> explore.Runner:
    if args.cluster is not None:
        try:
            return explore.DaskRunner(args.cluster)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.jobs > 1:
        return explore.PoolRunner(args.jobs)
    return explore.Runner()


def _many(args: argparse.Namespace, strategy: str, out: Console, err: Console,
          seeds: Sequence[int] | None) -> int:
    program = str(args.program)
    prog_args = list(args.program_args)
    load_program(program)  # input errors (missing file, syntax error) before any run
    if args.fail_fast:
        max_failures: int | None = 1
    elif args.max_failures is not None:
        max_failures = args.max_failures
    else:
        max_failures = None if strategy == "random" else 1
    runs = args.runs or DEFAULT_RUNS
    seed = args.seed or 0
    total = len(seeds) if seeds is not None else (runs if strategy != "dfs" else None)
    label = {"random": "seeds", "pct": "PCT runs", "dfs": "schedules"}[strategy]
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    failed_count = [0]
    with progress:
        task = progress.add_task(label, total=total, failed=0)

        def on_progress(n: int, failed: list[RunResult]) -> None:
            failed_count[0] += len(failed)
            progress.update(task, advance=n, failed=failed_count[0])

        report = explore.explore(
            program, strategy, runs=runs, depth=args.depth, bound=args.bound, seed=seed,
            seeds=seeds, args=prog_args, max_failures=max_failures, max_runs=args.max_runs,
            runner=_runner(args), shrink_failures=False, on_progress=on_progress,
        )
    _report(args, report, strategy, out)
    if report.interrupted:
        return 130
    return 1 if report.results else 0


def _label(strategy: str, r: RunResult) -> str:
    return f"seed{r.seed}" if strategy == "random" else f"run{r.run}"


def _report(args: argparse.Namespace, report: Report, strategy: str, out: Console) -> None:
    program = str(args.program)
    prog_args = list(args.program_args)
    failed = report.failed
    out.print(report.headline(), markup=False)
    if report.interrupted:
        out.print("interrupted: the report covers the runs that finished", markup=False)
    elif report.stopped_early:
        out.print(f"stopped after {len(failed)} failing run{'s' if len(failed) != 1 else ''} "
                  "(--fail-fast / --max-failures)", markup=False)
    for r in failed[:SHOW_IN_FULL]:
        what = f"seed {r.seed}" if strategy == "random" else f"{strategy} run {r.run}"
        out.rule(f"{what}: FAILED", characters="-") if out.is_terminal else out.print(
            f"--- {what}: FAILED ---", markup=False)
        out.print("\n".join(r.failures) if r.failures else r.error, markup=False)
        if r.output:
            out.print(f"output of {what}:", markup=False)
            out.print("\n".join(f"  | {line}" for line in r.output.rstrip("\n").splitlines()),
                      markup=False)
        out.print(f"replay: microsim run {program} --schedule {r.schedule}"
                  + _args_suffix(prog_args), markup=False)
    rest = failed[SHOW_IN_FULL:]
    if rest:
        kinds = Counter(r.error.splitlines()[0] if r.error else "?" for r in rest)
        out.print(f"{len(rest)} more failing run{'s' if len(rest) != 1 else ''}:", markup=False)
        if out.is_terminal:
            table = Table("failure", "runs", "first")
            for kind, n in kinds.most_common():
                first = next(r for r in rest if (r.error.splitlines() or ["?"])[0] == kind)
                table.add_row(kind, str(n), _label(strategy, first))
            out.print(table)
        else:
            for kind, n in kinds.most_common():
                out.print(f"  {n:6d}  {kind}", markup=False)
    if args.trace and failed:
        for r in failed[:MAX_TRACES]:
            path = explore.trace_path(args.trace, _label(strategy, r))
            explore.replay(program, r.schedule, args=prog_args, trace=path)
        more = f" (the first {MAX_TRACES:,})" if len(failed) > MAX_TRACES else ""
        out.print(f"traces of the failing runs{more} written to "
                  f"{explore.trace_path(args.trace, '<seedN|runN>')}", markup=False)
    if failed and not report.interrupted and not args.no_shrink:
        trace = (explore.trace_path(args.trace, "shortest") if args.trace
                 else f"{Path(program).stem}.shortest.jsonl")
        best = explore.shortest_of(program, failed, args=prog_args, trace=trace)
        out.print(f"shortest failing schedule ({best.preemptions} preemption"
                  f"{'s' if best.preemptions != 1 else ''}, {best.steps} steps): {best.error}",
                  markup=False)
        out.print(f"replay: microsim run {program} --schedule {best.schedule}"
                  + _args_suffix(prog_args), markup=False)
        out.print(f"trace written to {trace}", markup=False)


def _args_suffix(prog_args: list[str]) -> str:
    return (" -- " + " ".join(prog_args)) if prog_args else ""
