"""Finding concurrency bugs on purpose: scheduling strategies, replay and shrinking.

Threads interleave only at syscall boundaries, and the scheduler routes every decision
through a strategy (`Scheduler.set_strategy`). This module provides strategies that
record their decisions as a replayable *schedule*, and drivers that use them:

- `sweep(program, seeds)`: today's seeded random scheduler, one run per seed;
- `explore_pct(program, runs, depth)`: PCT (Burckhardt et al., ASPLOS 2010): random
  thread priorities, the highest-priority runnable thread runs, and `depth - 1` random
  change points lower the running thread's priority. A bug of depth d is found by one run
  with probability at least 1/(n * k^(d-1)) for n threads and k steps;
- `explore_dfs(program, bound)`: every schedule with at most `bound` preemptions,
  bounds 0, 1, 2 ... in turn (iterative preemption bounding, as in CHESS), reporting
  when the bounded space is complete;
- `replay(program, schedule)` and `shrink(program, result)`.

A *step* is one decision among two or more threads: at a syscall entry (keep the
current thread or preempt it for another runnable one) or when the running thread blocks
or exits (which runnable thread next). A *preemption* is a step that switches away from a
thread that could have continued. A schedule string, e.g. ``v1-s0-r1:1031x4.1032.1031``,
holds the kernel seed (``s``), whether the reduction below applies (``r``), and the thread
(by koid, as in the trace's ``tid``) chosen at each step, run-length encoded. It replays the
run exactly, whatever `--seed` says.

Reduction (exploring strategies only; the default random strategy keeps today's choices):
a thread that is the only live thread of its process, entering a syscall whose handle
arguments all name objects no other process can reach, is not preempted: the syscall
commutes with everything the other threads can do, so preempting before it or before its
next syscall gives the same outcomes. "Reachable" is judged conservatively: every handle to
the object (and to its peer) is in this process, no kernel object holds it, and no one
outside the caller observes it; processes and threads are never private. Syscalls that
read or wait on virtual time (clocks, sleeps, waits) and process/thread exits are always
steps. Threads of one process share Python memory, so a process with two live threads
gets no reduction. Koid and handle-value numbering (kernel-wide counters) is treated as
unobservable. Dead threads are never chosen, and a single runnable thread is no step.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import random
import re
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microsim.core.object import KernelObject
from microsim.core.sched import Wait
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.thread import Thread
from microsim.runner import Program, RunResult, run_program

PREEMPT = 0  # a step at a syscall entry: option 0 is the current thread (no preemption)
PICK = 1  # a step when the running thread blocked or exited

_SCHEDULE_RE = re.compile(r"^v1-s(\d+)-r([01]):((?:\d+(?:x\d+)?)(?:\.\d+(?:x\d+)?)*)?$")
_ALWAYS_STEP = ("clock", "sleep", "wait", "deadline", "exit", "kill", "timer", "futex")


# ---------------------------------------------------------------------------- schedules
@dataclass
class Schedule:
    """A replayable schedule: the kernel seed and the thread chosen at each step."""

    seed: int
    reduce: bool
    steps: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        parts = []
        for koid, group in itertools.groupby(self.steps):
            n = len(list(group))
            parts.append(f"{koid}x{n}" if n > 1 else str(koid))
        return f"v1-s{self.seed}-r{int(self.reduce)}:" + ".".join(parts)

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse a schedule string; `ValueError` with a clear message if malformed."""
        m = _SCHEDULE_RE.match(text.strip())
        if m is None:
            raise ValueError(
                f"malformed schedule {text!r}: expected v1-s<seed>-r<0|1>:<koid>[x<count>].... "
                "as printed by a failing run"
            )
        steps: list[int] = []
        for part in filter(None, (m.group(3) or "").split(".")):
            koid, _, count = part.partition("x")
            steps.extend([int(koid)] * (int(count) if count else 1))
        return cls(int(m.group(1)), m.group(2) == "1", steps)


# ---------------------------------------------------------------------------- reduction
def _private(proc: Process, obj: KernelObject, seen: int = 0) -> bool:
    if obj.type_name in ("process", "thread", "job") or obj.kernel_refs:
        return False
    if sum(1 for h in proc.handles.values() if h.obj is obj) != obj.handle_count:
        return False
    # Observers that are (or belong to) a wait of this process's threads are private too.
    if obj.observers and not all(
        isinstance(o, Wait) or isinstance(getattr(o, "wait", None), Wait) for o in obj.observers
    ):
        return False
    peer = getattr(obj, "peer", None)
    return peer is None or seen > 0 or _private(proc, peer, 1)


def _values(args: Iterable[Any]) -> Iterator[int]:
    for v in args:
        if type(v) is int:
            yield v
        elif isinstance(v, (list, tuple)):
            for w in v:
                if type(w) is int:
                    yield w
                elif isinstance(w, (list, tuple)):
                    yield from (x for x in w if type(x) is int)


def private_syscall(thread: Thread) -> bool:
    """Whether `thread`'s syscall now entering touches only objects no other thread can
    reach (see the module docstring); False whenever in doubt."""
    proc = thread.process
    if any(o is not thread and o.state != "dead" for o in proc.threads):
        return False
    name, args = thread.kernel.sched.entering
    if not name or any(word in name for word in _ALWAYS_STEP):
        return False
    for v in _values(args):
        h = proc.handles.get(v)
        if h is not None and not _private(proc, h.obj):
            return False
    return True


# ---------------------------------------------------------------------------- strategies
class Strategy:
    """Base of the recording strategies: subclasses implement `choose`.

    Calling the strategy with a kernel (as `run_program(strategy=...)` does) resets it for
    a new run. `kinds`, `options` (thread koids; for a PREEMPT step option 0 is the current
    thread) and `chosen` record every step of the run.
    """

    reduce = True

    def __init__(self) -> None:
        self.kernel: Kernel | None = None
        self.kinds: list[int] = []
        self.options: list[tuple[int, ...]] = []
        self.chosen: list[int] = []
        self._pending: Thread | None = None

    def __call__(self, kernel: Kernel) -> Strategy:
        self.kernel = kernel
        self.kinds, self.options, self.chosen = [], [], []
        self._pending = None
        self.start()
        return self

    def start(self) -> None:
        """A new run begins."""

    def choose(self, kind: int, options: list[Thread]) -> int:
        """The index in `options` of the thread to run."""
        raise NotImplementedError

    # The scheduler's interface.
    def preempt(self, current: Thread, runnable: list[Thread]) -> bool:
        """At a syscall entry of `current`: record a step and maybe switch."""
        options = [current] + [t for t in runnable if t.state != "dead"]
        if len(options) < 2 or (self.reduce and private_syscall(current)):
            return False
        i = self._step(PREEMPT, options)
        if i == 0:
            return False
        self._pending = options[i]
        return True

    def pick(self, runnable: list[Thread]) -> int:
        """The runnable thread to run next (after a preemption: the one chosen then)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            for i, t in enumerate(runnable):
                if t is pending:
                    return i
        options = [t for t in runnable if t.state != "dead"]
        if len(options) < 2:
            return runnable.index(options[0]) if options else 0
        chosen = options[self._step(PICK, options)]
        return runnable.index(chosen)

    def _step(self, kind: int, options: list[Thread]) -> int:
        i = self.choose(kind, options)
        if not 0 <= i < len(options):
            i = 0
        self.kinds.append(kind)
        self.options.append(tuple(t.koid for t in options))
        self.chosen.append(i)
        return i

    # Reading the record.
    def preemptions(self) -> int:
        """Steps of the run that switched away from a thread that could continue."""
        return sum(1 for k, c in zip(self.kinds, self.chosen) if k == PREEMPT and c != 0)

    def schedule(self, seed: int) -> Schedule:
        """The run's schedule."""
        return Schedule(seed, self.reduce, [o[c] for o, c in zip(self.options, self.chosen)])


class RandomStrategy(Strategy):
    """Today's seeded random choices (same random draws as the default scheduler),
    recorded. No reduction, so traces stay those of `Kernel(seed=...)`."""

    reduce = False

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def start(self) -> None:
        """Restart the scheduler's random stream."""
        self._switching = False
        self.rng = random.Random(f"sched:{self.seed}")
        self._random = self.rng.random

    def preempt(self, current: Thread, runnable: list[Thread]) -> bool:
        """The default scheduler's draw; a switch is recorded at the following pick."""
        options = [current, *runnable]
        if int(self._random() * (len(runnable) + 1)) == 0:
            self._record(PREEMPT, options, current)
            return False
        self._after = options
        self._switching = True
        return True

    def pick(self, runnable: list[Thread]) -> int:
        """The default scheduler's draw."""
        i = int(self._random() * len(runnable))
        chosen = runnable[i]
        if chosen.state == "dead":
            return i  # the loop drops it and picks again: no step
        if self._switching:
            self._switching = False
            self._record(PREEMPT, self._after, chosen)
        else:
            self._record(PICK, runnable, chosen)
        return i

    def _record(self, kind: int, options: list[Thread], chosen: Thread) -> None:
        live = [t for t in options if t.state != "dead" or t is options[0]]
        if len(live) < 2:
            return  # no step for the other strategies either
        self.kinds.append(kind)
        self.options.append(tuple(t.koid for t in live))
        self.chosen.append(live.index(chosen))


class ReplayStrategy(Strategy):
    """Follows a schedule; where it does not fit (a shrunk or edited schedule), or after
    its end, keeps the current thread or takes the first runnable one. `diverged` counts
    the steps that did not fit."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__()
        self.plan = schedule
        self.reduce = schedule.reduce
        self.diverged = 0

    def start(self) -> None:
        """Start from the schedule's first step."""
        self.diverged = 0

    def choose(self, kind: int, options: list[Thread]) -> int:
        """The planned thread if it is an option."""
        n = len(self.chosen)
        if n >= len(self.plan.steps):
            return 0
        want = self.plan.steps[n]
        for i, t in enumerate(options):
            if t.koid == want:
                return i
        self.diverged += 1
        return 0


class PCTStrategy(Strategy):
    """Probabilistic concurrency testing with bug depth `depth` over about `steps` steps.

    Threads get random priorities in [0, 1) as they first appear; the highest-priority
    runnable thread runs; at each of `depth - 1` random change points (step numbers in
    1..steps) the thread about to run drops below every initial priority (to -1, -2 ...,
    so later change points rank lower still).
    """

    def __init__(self, seed: int | str, depth: int, steps: int) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("the PCT depth must be at least 1")
        self.seed = seed
        self.depth = depth
        self.steps = max(steps, 1)

    def start(self) -> None:
        """Draw the change points for this run."""
        self.rng = random.Random(f"pct:{self.seed}")
        n = min(self.depth - 1, self.steps)
        points = self.rng.sample(range(1, self.steps + 1), n)
        self.change = {p: -(i + 1) for i, p in enumerate(sorted(points))}
        self.priority: dict[int, float] = {}
        self.count = 0

    def _prio(self, t: Thread) -> float:
        p = self.priority.get(t.koid)
        if p is None:
            p = self.priority[t.koid] = self.rng.random()
        return p

    def choose(self, kind: int, options: list[Thread]) -> int:
        """The highest-priority option; at a change point, that thread's priority drops
        first (below every initial priority) and the choice is made again."""
        self.count += 1
        prio = [self._prio(t) for t in options]
        best = max(range(len(options)), key=prio.__getitem__)
        low = self.change.get(self.count)
        if low is not None:
            self.priority[options[best].koid] = low
            prio[best] = low
            best = max(range(len(options)), key=prio.__getitem__)
        return best


class DFSStrategy(Strategy):
    """Follows a prefix of choice indices, then never preempts and picks the first
    runnable thread; the DFS driver extends the prefix."""

    def __init__(self, prefix: Sequence[int] = ()) -> None:
        super().__init__()
        self.prefix = list(prefix)

    def choose(self, kind: int, options: list[Thread]) -> int:
        """The prefix's choice, then the default."""
        n = len(self.chosen)
        return self.prefix[n] if n < len(self.prefix) else 0


# ---------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class Job:
    """One run to do, in a form that can be sent to another process or machine."""

    program: Any  # a path (or module name) to send elsewhere; any Program locally
    args: tuple[str, ...]
    seed: int
    kind: str  # "random", "pct", "dfs", "replay"
    param: Any = None  # pct: (pct seed, depth, steps); dfs: prefix; replay: schedule string
    index: int = 0
    trace: str | None = None
    plugins: tuple[str, ...] | None = None


def make_strategy(job: Job) -> Strategy:
    """The strategy a job describes."""
    if job.kind == "random":
        return RandomStrategy(job.seed)
    if job.kind == "pct":
        pseed, depth, steps = job.param
        return PCTStrategy(pseed, depth, steps)
    if job.kind == "dfs":
        return DFSStrategy(job.param or ())
    if job.kind == "replay":
        return ReplayStrategy(Schedule.parse(job.param))
    raise ValueError(f"unknown strategy {job.kind!r}")


def run_with(program: Program, strategy: Strategy, *, seed: int = 0, args: Sequence[str] = (),
             trace: str | None = None, capture: bool = True, index: int = 0,
             plugins: Sequence[str] | None = None) -> RunResult:
    """Run `program` once under `strategy`; the result carries the run's schedule."""
    r = run_program(program, seed=seed, args=args, trace=trace, strategy=strategy,
                    capture=capture, plugins=plugins)
    r.schedule = str(strategy.schedule(seed))
    r.steps = len(strategy.chosen)
    r.preemptions = strategy.preemptions()
    r.run = index
    return r


def run_job(job: Job) -> RunResult:
    """Do one job (in this process)."""
    return run_with(job.program, make_strategy(job), seed=job.seed, args=job.args,
                    trace=job.trace, index=job.index, plugins=job.plugins)


@dataclass(frozen=True)
class Batch:
    """Runs `indices` of a sweep or PCT exploration: the unit of work sent to worker
    processes or cluster workers (small: a range, not a list of jobs).

    Random: run i uses kernel seed `seeds[i]`. PCT: `param` is (kernel seed, depth, k)
    and run i draws priorities from "SEED:i".
    """

    program: Any
    args: tuple[str, ...]
    kind: str
    indices: range
    seeds: Sequence[int] = ()
    param: Any = None
    plugins: tuple[str, ...] | None = None

    def jobs(self) -> Iterator[Job]:
        """The batch's runs."""
        for i in self.indices:
            if self.kind == "pct":
                seed, depth, k = self.param
                yield Job(self.program, self.args, seed, "pct", (f"{seed}:{i}", depth, k), i,
                          plugins=self.plugins)
            else:
                yield Job(self.program, self.args, self.seeds[i], self.kind, self.param, i,
                          plugins=self.plugins)


BatchResult = tuple[int, list[RunResult]]  # (runs done, the failing runs)


def run_batch(batch: Batch) -> BatchResult:
    """Do a batch in this process; return how many runs were done and the failing ones."""
    failed = []
    n = 0
    for job in batch.jobs():
        r = run_job(job)
        n += 1
        if not r.ok:
            failed.append(r)
    return n, failed


def batches(kind: str, program: Any, args: Sequence[str], count: int, *, size: int,
            seeds: Sequence[int] = (), param: Any = None) -> Iterator[Batch]:
    """`count` runs cut into batches of `size`."""
    for start in range(0, count, size):
        yield Batch(program, tuple(args), kind, range(start, min(start + size, count)),
                    seeds, param)


def replay(program: Program, schedule: str | Schedule, *, args: Sequence[str] = (),
           trace: str | None = None, capture: bool = True) -> RunResult:
    """Run `program` following `schedule` (a string as printed, or a `Schedule`)."""
    plan = Schedule.parse(schedule) if isinstance(schedule, str) else schedule
    return run_with(program, ReplayStrategy(plan), seed=plan.seed, args=args, trace=trace,
                    capture=capture)


# ---------------------------------------------------------------------------- shrinking
def _key(r: RunResult) -> tuple[int, int]:
    return (r.preemptions, r.steps)


def _same_bug(a: RunResult, b: RunResult) -> bool:
    return not b.ok and (a.error.split(":", 1)[0] == b.error.split(":", 1)[0])


def shrink(program: Program, failing: RunResult, *, args: Sequence[str] = (),
           max_runs: int = 300) -> RunResult:
    """The shortest failing schedule found from `failing`: fewest preemptions, then
    fewest steps, with the same kind of failure.

    A greedy local search over replays: drop one preemption (the thread keeps running;
    later steps follow the old schedule where they still fit), cut the schedule's tail
    (afterwards: no preemption, first runnable thread), or postpone a preemption by a few
    steps and then drop another. A candidate is kept if it still fails the same way with
    fewer preemptions, or as many and fewer steps. At most `max_runs` replays.
    """
    if not failing.schedule:
        return failing
    plan = Schedule.parse(failing.schedule)
    budget = [max_runs]

    def attempt(steps: list[int]) -> tuple[RunResult, ReplayStrategy] | None:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        strat = ReplayStrategy(Schedule(plan.seed, plan.reduce, steps))
        r = run_with(program, strat, seed=plan.seed, args=args, index=failing.run)
        return r, strat

    first = attempt(plan.steps)
    if first is None or first[0].ok:
        return failing  # not reproducible: leave it
    best, strat = first
    while True:
        better = _improve(best, strat, attempt)
        if better is None:
            return best
        best, strat = better


def _drops(strat: Strategy) -> list[list[int]]:
    steps = strat.schedule(0).steps
    return [[*steps[:i], options[0], *steps[i + 1 :]]
            for i, (kind, options, c) in enumerate(zip(strat.kinds, strat.options, strat.chosen))
            if kind == PREEMPT and c != 0]


def _improve(best: RunResult, strat: Strategy,
             attempt: Callable[[list[int]], tuple[RunResult, ReplayStrategy] | None]
             ) -> tuple[RunResult, ReplayStrategy] | None:
    steps = strat.schedule(0).steps
    cuts = sorted({len(steps) // 2, (3 * len(steps)) // 4, len(steps) - 1} - {-1})
    for cand in _drops(strat) + [steps[:c] for c in cuts]:
        got = attempt(cand)
        if got is None:
            return None
        if _same_bug(best, got[0]) and _key(got[0]) < _key(best):
            return got
    # Plateau moves: postpone a preemption, then try dropping another.
    for i, (kind, options, c) in enumerate(zip(strat.kinds, strat.options, strat.chosen)):
        if kind != PREEMPT or c == 0:
            continue
        for j in (1, 2, 3):
            got = attempt([*steps[:i], *[options[0]] * j, steps[i], *steps[i + 1 :]])
            if got is None:
                return None
            r, s2 = got
            if not _same_bug(best, r) or r.preemptions > best.preemptions:
                continue
            if _key(r) < _key(best):
                return got
            for cand in _drops(s2):
                got2 = attempt(cand)
                if got2 is None:
                    return None
                if _same_bug(best, got2[0]) and _key(got2[0]) < _key(best):
                    return got2
    return None


# ---------------------------------------------------------------------------- reports
@dataclass
class Report:
    """The outcome of a sweep or an exploration."""

    strategy: str
    runs: int = 0
    results: list[RunResult] = field(default_factory=list)  # the failing runs
    complete: bool = False  # DFS: the bounded space was explored entirely
    bound: int | None = None  # DFS: the preemption bound reached
    schedules: int = 0  # DFS: schedules at the final bound
    interrupted: bool = False
    stopped_early: bool = False
    shortest: RunResult | None = None

    @property
    def failed(self) -> list[RunResult]:
        """The failing runs, in run order."""
        return sorted(self.results, key=lambda r: r.run)

    def headline(self) -> str:
        """One line: what was run and what was found."""
        n = len(self.results)
        if self.strategy == "dfs" and self.bound is not None:
            if self.complete and not n:
                return (f"explored all {self.schedules:,} schedules with at most {self.bound} "
                        f"preemption{'s' if self.bound != 1 else ''}: no failure")
            if not n:
                return f"explored {self.runs:,} schedules (bound {self.bound}, incomplete): no failure"
            return (f"{self.runs:,} schedules explored: {n} failed (with at most {self.bound} "
                    f"preemption{'s' if self.bound != 1 else ''})")
        runs = self.runs
        what = (f"{runs:,} seed{'s' if runs != 1 else ''} run" if self.strategy == "random"
                else f"{runs:,} {self.strategy.upper()} run{'s' if runs != 1 else ''}")
        return f"{what}, {n} failed" + (" (interrupted)" if self.interrupted else "")


class Runner:
    """Runs batches and yields their results as they finish (in this process; see
    `PoolRunner` and `DaskRunner` for others). `batch_size` is how many runs go in one
    unit of work."""

    batch_size = 1

    def run(self, work: Iterator[Batch]) -> Iterator[BatchResult]:
        """Results of `work`, in completion order."""
        for b in work:
            yield run_batch(b)


class PoolRunner(Runner):
    """Batches on `jobs` local worker processes."""

    def __init__(self, jobs: int, batch_size: int = 16) -> None:
        self.jobs = jobs
        self.batch_size = batch_size

    def run(self, work: Iterator[Batch]) -> Iterator[BatchResult]:
        """Results in completion order; leaving early terminates the workers."""
        pool = multiprocessing.get_context("spawn").Pool(self.jobs, initializer=_worker_init)
        try:
            yield from pool.imap_unordered(run_batch, work)
            pool.close()
        finally:
            pool.terminate()
            pool.join()


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which stops them and reports."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskRunner(Runner):
    """Batches on a Dask distributed cluster (`pip install 'microsim[cluster]'`).

    `address` is the scheduler's address (``tcp://host:8786``) or a `distributed.Client`.
    Workers need microsim (same version) and the program at the same path.
    """

    def __init__(self, address: Any, batch_size: int = 200) -> None:
        try:  # the optional `cluster` extra, imported only when used (it is slow to import)
            self.distributed = importlib.import_module("distributed")
        except ImportError:
            raise ImportError("--cluster needs Dask: pip install 'microsim[cluster]'") from None
        self.address = address
        self.batch_size = batch_size

    def run(self, work: Iterator[Batch]) -> Iterator[BatchResult]:
        """Results in completion order; leaving early cancels what is left."""
        distributed = self.distributed
        own = not isinstance(self.address, distributed.Client)
        client = distributed.Client(self.address) if own else self.address
        futures = client.map(run_batch, list(work), pure=False)
        try:
            for fut in distributed.as_completed(futures):
                yield fut.result()
        finally:
            client.cancel(futures)
            if own:
                client.close()


def sweep(program: Any, seeds: Sequence[int], *, args: Sequence[str] = (),
          runner: Runner | None = None, max_failures: int | None = None,
          on_progress: Callable[[int, list[RunResult]], None] | None = None) -> Report:
    """One run per seed under the default random scheduler (recording schedules)."""
    runner = runner or Runner()
    work = batches("random", program, args, len(seeds), size=runner.batch_size, seeds=seeds)
    return _run_batches("random", len(seeds), work, runner, max_failures, on_progress)


def pct_steps(program: Any, *, seed: int = 0, args: Sequence[str] = ()) -> int:
    """The number of steps of the program's non-preemptive run (PCT's `k` estimate)."""
    r = run_job(Job(program, tuple(args), seed, "dfs", ()))
    return max(r.steps, 1)


def explore_pct(program: Any, *, runs: int = 500, depth: int = 2, seed: int = 0,
                steps: int | None = None, args: Sequence[str] = (), runner: Runner | None = None,
                max_failures: int | None = 1,
                on_progress: Callable[[int, list[RunResult]], None] | None = None) -> Report:
    """`runs` PCT runs of bug depth `depth` (kernel seed `seed`; run i draws its
    priorities and change points from seed "SEED:i"). `steps` (PCT's k, where change
    points fall) defaults to the number of steps of the non-preemptive run."""
    if depth < 1:
        raise ValueError("the PCT depth must be at least 1")
    runner = runner or Runner()
    k = steps if steps is not None else pct_steps(program, seed=seed, args=args)
    work = batches("pct", program, args, runs, size=runner.batch_size, param=(seed, depth, k))
    return _run_batches("pct", runs, work, runner, max_failures, on_progress)


def _run_batches(name: str, total: int, work: Iterator[Batch], runner: Runner,
                 max_failures: int | None,
                 on_progress: Callable[[int, list[RunResult]], None] | None) -> Report:
    report = Report(name)
    results = runner.run(work)
    try:
        for n, failed in results:
            report.runs += n
            report.results.extend(failed)
            if on_progress is not None:
                on_progress(n, failed)
            if max_failures is not None and len(report.results) >= max_failures:
                report.stopped_early = report.runs < total
                break
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if max_failures is not None and len(report.results) > max_failures:
        report.results = report.failed[:max_failures]
    return report


def explore_dfs(program: Program, *, bound: int = 2, seed: int = 0, args: Sequence[str] = (),
                max_runs: int | None = None, max_failures: int | None = 1,
                on_progress: Callable[[int, list[RunResult]], None] | None = None) -> Report:
    """Every schedule with at most `bound` preemptions, bounds 0, 1 ... `bound` in turn
    (a failure with few preemptions is found first). Stops at `max_failures` failures
    (None: never) or after `max_runs` runs in all (then the report is incomplete)."""
    report = Report("dfs")
    try:
        for b in range(bound + 1):
            report.bound = b
            count, done = _dfs(program, b, seed, args, report, max_runs, max_failures, on_progress)
            report.schedules = count
            if not done:
                return report
            if report.results:
                report.complete = True
                return report
        report.complete = True
    except KeyboardInterrupt:
        report.interrupted = True
    return report


def _dfs(program: Program, bound: int, seed: int, args: Sequence[str], report: Report,
         max_runs: int | None, max_failures: int | None,
         on_progress: Callable[[int, list[RunResult]], None] | None) -> tuple[int, bool]:
    """Depth-first over choice prefixes; returns (schedules run, whether complete)."""
    prefix: list[int] = []
    count = 0
    while True:
        if max_runs is not None and report.runs >= max_runs:
            return count, False
        strat = DFSStrategy(prefix)
        r = run_with(program, strat, seed=seed, args=args, index=report.runs)
        report.runs += 1
        count += 1
        if not r.ok:
            report.results.append(r)
        if on_progress is not None:
            on_progress(1, [] if r.ok else [r])
        if max_failures is not None and len(report.results) >= max_failures:
            return count, False
        # Backtrack: the deepest step with an untried option within the bound.
        pre = 0
        used = []
        for kind, c in zip(strat.kinds, strat.chosen):
            used.append(pre)
            if kind == PREEMPT and c != 0:
                pre += 1
        nxt = None
        for i in range(len(strat.chosen) - 1, -1, -1):
            kind, c, n = strat.kinds[i], strat.chosen[i], len(strat.options[i])
            if c + 1 >= n:
                continue
            if kind == PREEMPT and used[i] + 1 > bound:
                continue  # any other option here is one preemption too many
            nxt = [*strat.chosen[:i], c + 1]
            break
        if nxt is None:
            return count, True
        prefix = nxt


def explore(program: Any, strategy: str, *, runs: int = 500, depth: int = 2, bound: int = 2,
            seed: int = 0, seeds: Sequence[int] | None = None, args: Sequence[str] = (),
            max_failures: int | None = 1, max_runs: int | None = None,
            runner: Runner | None = None, shrink_failures: bool = True,
            on_progress: Callable[[int, list[RunResult]], None] | None = None) -> Report:
    """Run one strategy and shrink the best failure into `Report.shortest`.

    "random": one run per seed of `seeds` (default seed..seed+runs-1); "pct": `runs` runs
    of depth `depth`; "dfs": every schedule with at most `bound` preemptions (locally).
    """
    if strategy == "random":
        chosen = seeds if seeds is not None else range(seed, seed + runs)
        report = sweep(program, chosen, args=args, runner=runner, max_failures=max_failures,
                       on_progress=on_progress)
    elif strategy == "pct":
        report = explore_pct(program, runs=runs, depth=depth, seed=seed, args=args,
                             runner=runner, max_failures=max_failures, on_progress=on_progress)
    elif strategy == "dfs":
        report = explore_dfs(program, bound=bound, seed=seed, args=args, max_runs=max_runs,
                             max_failures=max_failures, on_progress=on_progress)
    else:
        raise ValueError(f"unknown strategy {strategy!r} (random, pct or dfs)")
    if shrink_failures and report.results and not report.interrupted:
        report.shortest = shortest_of(program, report.failed, args=args)
    return report


def shortest_of(program: Program, failed: Sequence[RunResult], *, args: Sequence[str] = (),
                trace: str | None = None) -> RunResult:
    """Shrink the best of the failing runs; with `trace`, replay it writing the trace."""
    first = min(failed[:20], key=_key)
    best = shrink(program, first, args=args)
    if trace is not None:
        best = replay(program, best.schedule, args=args, trace=trace)
        best.run = first.run
    return best


def trace_path(pattern: str, label: str) -> str:
    """The trace file for one run: `out.jsonl` + "seed7" -> `out.seed7.jsonl`."""
    p = Path(pattern)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(p.suffixes) or ".jsonl"
    stem = p.name[: len(p.name) - len("".join(p.suffixes))] if p.suffixes else p.name
    return str(p.with_name(f"{stem}.{label}{suffix}"))
