"""Running simulated userspace programs: `spawn(kernel, ...)`, `kernel.run()`, `microsim run`.

A program is a Python file (or an importable module) defining

    def main(ctx):
        ...

`ctx` is a `ProgramContext`: `ctx.zx` is the process's syscall facade, `ctx.handles` its
startup handles (moved into it by whoever spawned it), `ctx.args` its arguments,
`ctx.spawn(program, handles=[...])` starts another process with handles moved into it,
and `ctx.thread(fn, *args)` starts a thread in the same process and returns a handle to it
(wait for ZX_THREAD_TERMINATED on it to join). Code is ordinary
synchronous Python: a blocking syscall (wait_one, port_wait, nanosleep) lets other threads
run. The return value of `main` becomes the process's exit code (None: 0).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from microsim import zx
from microsim.errors import Deadlock, MicrosimError, ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.thread import Thread
from microsim.trace import summary as trace_summary

Program = str | Path | ModuleType | Callable[..., Any]


class ProgramContext:
    """What a program's `main(ctx)` receives."""

    def __init__(self, process: Process, handles: list[int], args: Sequence[str]) -> None:
        self.process = process
        self.kernel = process.kernel
        self.zx = process.zx
        self.handles = handles
        self.args = list(args)

    def spawn(self, program: Program, *, handles: Sequence[int] = (), args: Sequence[str] = (),
              name: str | None = None) -> Process:
        """Start `program` in a new process; `handles` are MOVED out of this one."""
        return spawn(self.kernel, program, handles=handles, args=args, name=name, parent=self.process)

    def thread(self, fn: Callable[..., Any], *args: Any, name: str = "thread") -> int:
        """Start `fn(*args)` on a new thread of this process; returns a handle to the
        thread (wait for ZX_THREAD_TERMINATED on it to join)."""
        t: Thread = self.kernel.create_thread(self.process, fn, *args, name=name)
        return self.kernel.new_handle(self.process, t, Thread.default_rights)


def load_program(program: Program) -> Callable[[ProgramContext], Any]:
    """The `main` of a program given as a path, module name, module or callable."""
    if callable(program) and not isinstance(program, ModuleType):
        return program
    if isinstance(program, ModuleType):
        module = program
    else:
        text = str(program)
        if text.endswith(".py") or os.sep in text:
            path = Path(text)
            if not path.is_file():
                raise FileNotFoundError(f"no program file {text!r}")
            name = f"microsim_program_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise MicrosimError(f"cannot load {text!r} as a Python program")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(text)
    main = getattr(module, "main", None)
    if not callable(main):
        raise MicrosimError(f"program {program!r} has no main(ctx) function")
    return main


def spawn(kernel: Kernel, program: Program, *, handles: Sequence[int] = (), args: Sequence[str] = (),
          name: str | None = None, parent: Process | None = None) -> Process:
    """Create a process running `program`; `handles` move from `parent` atomically."""
    main = load_program(program)
    if name is None:
        name = Path(str(program)).stem if isinstance(program, (str, Path)) else getattr(main, "__module__", "program")
    moved = []
    if handles:
        if parent is None:
            raise MicrosimError("startup handles need a parent process to move them from")
        for value in handles:
            parent.handle(value)  # all must be valid before any moves
        if len(set(handles)) != len(handles):
            raise ZxError(zx.ZX_ERR_BAD_HANDLE, "a startup handle is repeated")
        moved = [parent.take_handle(v, "transfer") for v in handles]
    proc = kernel.create_process(name, parent)
    values = [proc.add_handle(h, "transfer") for h in moved]
    ctx = ProgramContext(proc, values, args)
    kernel.create_thread(proc, _run_main, main, ctx, name="main")
    return proc


def _run_main(main: Callable[[ProgramContext], Any], ctx: ProgramContext) -> Any:
    code = main(ctx)
    return code


@dataclass
class RunResult:
    """The outcome of running a program."""

    seed: int
    ok: bool
    error: str = ""
    trace: str | None = None
    syscalls: int = 0
    errors: int = 0
    live_objects: int = 0
    leaked_handles: int = 0
    failures: list[str] = field(default_factory=list)


def run_program(path: Program, *, seed: int = 0, trace: str | None = None, args: Sequence[str] = (),
                plugins: Sequence[str] | None = None) -> RunResult:
    """Run a program to completion under one seed and summarise what happened."""
    counts = {"syscalls": 0, "errors": 0}
    result = RunResult(seed=seed, ok=True, trace=trace)
    with Kernel(seed=seed, trace=trace, plugins=plugins) as kernel:

        def count(call: Any) -> None:
            counts["syscalls"] += 1
            if call.status != zx.ZX_OK:
                counts["errors"] += 1

        kernel.observe_syscalls("*", exit=count)
        root = spawn(kernel, path, args=args)
        try:
            kernel.run()
        except Deadlock as exc:
            result.ok = False
            result.error = str(exc)
        for t in kernel.sched.threads:
            if t.error is not None:
                result.ok = False
                tb = "".join(traceback.format_exception(t.error)).rstrip()
                result.failures.append(f"{t.process.name.decode()}/{t.name.decode()}: {tb}")
        if result.failures and not result.error:
            result.error = result.failures[0].splitlines()[-1]
        result.syscalls = counts["syscalls"]
        result.errors = counts["errors"]
        result.leaked_handles = kernel.leaked_handles()
        live = [o for o in kernel.objects.values() if o.type_name not in ("process", "thread", "vmar")]
        result.live_objects = len(live)
        del root
    return result


def _parse_seeds(text: str) -> list[int]:
    if ".." in text:
        lo, hi = text.split("..", 1)
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def _run_one(job: tuple[str, int, list[str]]) -> RunResult:
    path, seed, args = job
    return run_program(path, seed=seed, args=args)


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} seeds")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _cmd_run(args: argparse.Namespace) -> int:
    program_args = list(getattr(args, "program_args", []))
    if args.seeds:
        seeds = _parse_seeds(args.seeds)
        jobs = [(args.program, s, program_args) for s in seeds]
        results: list[RunResult] = []
        if args.jobs > 1:
            with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                for r in pool.imap(_run_one, jobs):
                    results.append(r)
                    _progress(len(results), len(jobs))
        else:
            for job in jobs:
                results.append(_run_one(job))
                _progress(len(results), len(jobs))
        failed = [r for r in results if not r.ok]
        print(f"{len(results)} seeds run, {len(failed)} failed")
        for r in failed:
            print(f"  seed {r.seed}: {r.error}")
        if failed:
            print(f"replay one with: microsim run {args.program} --seed {failed[0].seed}")
        return 1 if failed else 0
    trace = args.trace
    r = run_program(args.program, seed=args.seed, trace=trace, args=program_args)
    print(f"seed {r.seed}: {'ok' if r.ok else 'FAILED'}")
    print(f"syscalls {r.syscalls}, errors {r.errors}, objects alive {r.live_objects}, "
          f"handles leaked at exit {r.leaked_handles}")
    if trace:
        print(f"trace written to {trace}")
        print(trace_summary.render_text(trace_summary.summarize(trace)))
    for failure in r.failures:
        print(failure, file=sys.stderr)
    if r.error and not r.failures:
        print(r.error, file=sys.stderr)
    return 0 if r.ok else 1


def add_run_command(subparsers: Any) -> None:
    """Add `microsim run` to the CLI."""
    p = subparsers.add_parser("run", help="run a simulated userspace program")
    p.add_argument("program", help="a Python file (or module) defining main(ctx)")
    p.add_argument("--seed", type=int, default=0, help="scheduling and address seed")
    p.add_argument("--seeds", help="run under many seeds, e.g. 0..99 or 1,5,9")
    p.add_argument("--jobs", type=int, default=1, help="worker processes for --seeds")
    p.add_argument("--trace", help="write the JSON-lines trace here")
    p.set_defaults(func=_cmd_run, args=[])
