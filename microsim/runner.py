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
from microsim.objects.thread import current_thread
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
              name: str | None = None, job: int | None = None) -> Process:
        """Start `program` in a new process; `handles` are MOVED out of this one.

        A userspace helper, as fdio_spawn is in Fuchsia: it issues zx_process_create (in
        `job`, default `zx_job_default()`), zx_thread_create, a bootstrap channel carrying
        the new process's startup handles, and zx_process_start.
        """
        return spawn(self.kernel, program, handles=handles, args=args, name=name,
                     parent=self.process, job=job)

    def thread(self, fn: Callable[..., Any], *args: Any, name: str = "thread") -> int:
        """Start `fn(*args)` on a new thread of this process (zx_thread_create +
        zx_thread_start); returns the thread handle (wait for ZX_THREAD_TERMINATED on it
        to join, then close it). Returning from `fn` is zx_thread_exit."""
        z = self.zx
        th: int = z.thread_create(z.process_self(), name, 0)
        try:
            z.thread_start(th, _ThreadEntry(fn, args), 0, 0, 0)
        except ZxError:
            z.handle_close(th)
            raise
        return th


def _describe(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


class _ThreadEntry:
    """The entry of a `ctx.thread` thread: runs fn(*args). Its repr (what a trace shows
    for the entry argument) names the function, never a memory address."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args

    def __call__(self, arg1: Any, arg2: Any) -> None:
        self.fn(*self.args)

    def __repr__(self) -> str:
        return f"<entry {_describe(self.fn)}>"


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


def _program_name(program: Program, main: Callable[..., Any]) -> str:
    if isinstance(program, (str, Path)):
        return Path(str(program)).stem
    return str(getattr(main, "__module__", "program"))


def spawn(kernel: Kernel, program: Program, *, handles: Sequence[int] = (), args: Sequence[str] = (),
          name: str | None = None, parent: Process | None = None, job: int | None = None) -> Process:
    """Create a process running `program`; `handles` move from `parent` atomically.

    With a `parent` this is the userspace launcher built on the task syscalls (see
    `ProgramContext.spawn`). Without one it is the boot loader: the kernel creates the
    process in the root job directly, with its startup handles (itself, its root VMAR,
    its job).
    """
    main = load_program(program)
    if name is None:
        name = _program_name(program, main)
    if parent is None:
        if handles:
            raise MicrosimError("startup handles need a parent process to move them from")
        proc = kernel.create_process(name)
        ctx = ProgramContext(proc, [], args)
        kernel.create_thread(proc, _run_main, main, ctx, name="main")
        return proc
    return _launch(parent, main, name, list(handles), list(args), job)


def _launch(parent: Process, main: Callable[..., Any], name: str, handles: list[int],
            args: list[str], job: int | None) -> Process:
    z = parent.zx
    # Check every startup handle before anything moves (the spawn is all or nothing).
    for value in handles:
        h = parent.handle(value)
        if not h.rights & zx.ZX_RIGHT_TRANSFER:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "a startup handle lacks ZX_RIGHT_TRANSFER")
    if len(set(handles)) != len(handles):
        raise ZxError(zx.ZX_ERR_BAD_HANDLE, "a startup handle is repeated")
    job_handle = z.job_default() if job is None else job
    ph, vh = z.process_create(job_handle, name, 0)
    try:
        th = z.thread_create(ph, "main", 0)
        try:
            self_dup = z.handle_duplicate(ph, zx.ZX_RIGHT_SAME_RIGHTS)
            job_dup = z.handle_duplicate(job_handle, zx.ZX_RIGHT_SAME_RIGHTS)
            startup = [self_dup, vh, job_dup, *handles]
            vh = zx.ZX_HANDLE_INVALID
            if hasattr(z, "channel_create"):
                c0, c1 = z.channel_create(0)
                z.channel_write(c0, 0, b"microsim-bootstrap", startup)
                z.handle_close(c0)
                z.process_start(ph, th, _BootstrapEntry(main, args), 0, c1, 0)
            else:
                # No channel type loaded: the launcher moves the handles itself.
                child: Process = parent.handle(ph).obj
                moved = [child.add_handle(parent.take_handle(v, "transfer"), "transfer")
                         for v in startup]
                z.process_start(ph, th, _BootstrapEntry(main, args, moved), 0, 0, 0)
        finally:
            z.handle_close(th)
        proc: Process = parent.handle(ph).obj
    finally:
        z.handle_close(ph)
        z.handle_close(vh)
    return proc


class _BootstrapEntry:
    """The first code of a spawned process (its libc start-up): read the bootstrap
    message on the channel given as arg1, keep the startup handles, run main, exit with
    its return value."""

    __slots__ = ("args", "main", "startup")

    def __init__(self, main: Callable[..., Any], args: list[str],
                 startup: list[int] | None = None) -> None:
        self.main = main
        self.args = args
        self.startup = startup

    def __call__(self, channel: int, arg2: Any) -> None:
        t = current_thread()
        assert t is not None
        proc = t.process
        z = proc.zx
        startup = self.startup
        if startup is None:
            _, startup = z.channel_read(channel, 0)
            z.handle_close(channel)
        proc.self_handle, proc.root_vmar_handle, proc.job_handle = startup[:3]
        _run_main(self.main, ProgramContext(proc, startup[3:], self.args))

    def __repr__(self) -> str:
        return f"<entry {_describe(self.main)}>"


def _run_main(main: Callable[[ProgramContext], Any], ctx: ProgramContext) -> Any:
    """Run a program's main and exit its process with main's return value (None: 0; an
    int: that code; anything else: 1), as libc's exit(main()) does."""
    code = main(ctx)
    if code is None:
        rc = 0
    elif type(code) is int or type(code) is bool:
        rc = int(code)
    else:
        rc = 1
    ctx.zx.process_exit(rc)
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
    return_code: int = 0
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
            if t.error is not None and not t.exception_seen:
                # A crash nobody handled (a crash handler that saw it reports it itself).
                result.ok = False
                result.failures.append(f"{t.process.name.decode()}/{t.name.decode()}: "
                                       f"{program_traceback(t.error)}")
        if result.failures and not result.error:
            result.error = result.failures[0].splitlines()[-1]
        result.syscalls = counts["syscalls"]
        result.errors = counts["errors"]
        result.leaked_handles = sum(len(p.handles) for p in kernel.processes)
        live = [o for o in kernel.objects.values() if o.type_name not in ("process", "thread", "vmar", "job")]
        result.live_objects = len(live)
        result.return_code = root.exit_code
        del root
    return result


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def program_traceback(error: BaseException) -> str:
    """The traceback of an exception that escaped a simulated thread, with the program's
    own frames only (microsim's scheduler and syscall frames left out)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not str(Path(f.filename).resolve()).startswith(_PACKAGE_DIR)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
             *traceback.format_exception_only(error)]
    return "".join(lines).rstrip()


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
    if not r.ok:
        return 1
    if r.return_code:
        print(f"main process return code {r.return_code}", file=sys.stderr)
        # A process's return code is 64 bits; an exit status is 8 (keep it non-zero).
        return r.return_code & 0xFF or 1
    return 0


def add_run_command(subparsers: Any) -> None:
    """Add `microsim run` to the CLI."""
    p = subparsers.add_parser("run", help="run a simulated userspace program")
    p.add_argument("program", help="a Python file (or module) defining main(ctx)")
    p.add_argument("--seed", type=int, default=0, help="scheduling and address seed")
    p.add_argument("--seeds", help="run under many seeds, e.g. 0..99 or 1,5,9")
    p.add_argument("--jobs", type=int, default=1, help="worker processes for --seeds")
    p.add_argument("--trace", help="write the JSON-lines trace here")
    p.set_defaults(func=_cmd_run, args=[])
