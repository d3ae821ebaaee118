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

import contextlib
import importlib
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import IO, Any

import greenlet

from microsim import zx
from microsim.core.sched import SchedulingStrategy
from microsim.errors import Deadlock, MicrosimError, ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.thread import current_thread

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


class ProgramLoadError(MicrosimError):
    """A program could not be loaded: missing file, syntax error, error while importing.

    The message is short and shows the program's own lines, not microsim's frames.
    """


# Frames from these folders are microsim's (or its plugins', or greenlet's), not the program's.
_INTERNAL_DIRS = (
    str(Path(__file__).resolve().parent) + os.sep,
    str(Path(__file__).resolve().parent.parent / "plugins") + os.sep,
    str(Path(greenlet.__file__).resolve().parent) + os.sep,
    "<frozen ",
)
# Compiled program files by path: (modification time, code), so a sweep of many runs
# compiles a program once (each run still executes it afresh, with fresh globals).
_CODE_CACHE: dict[str, tuple[float, CodeType]] = {}
# Folders of the program files loaded so far, by resolved file name.
_PROGRAM_FILES: dict[str, Path] = {}


def _internal_frame(filename: str) -> bool:
    return filename.startswith(_INTERNAL_DIRS) or f"{os.sep}microsim_" in filename


def format_exception(exc: BaseException) -> str:
    """`exc` with its traceback trimmed to the program's frames (microsim's are dropped)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _internal_frame(f.filename)]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def _find_program_file(text: str) -> Path | None:
    """Resolve a program named by path, relative names first against the folder of the
    program that is spawning it (the nearest program file on the Python call stack)."""
    path = Path(text)
    candidates = [path] if path.suffix == ".py" else [path.with_name(path.name + ".py"), path]
    if not path.is_absolute():
        frame = sys._getframe(1)
        while frame is not None:
            folder = _PROGRAM_FILES.get(frame.f_code.co_filename)
            if folder is not None:
                candidates = [folder / c for c in candidates] + candidates
                break
            frame = frame.f_back  # type: ignore[assignment]
    for c in candidates:
        if c.is_file():
            return c
    return None


def _compile_program(path: Path) -> CodeType:
    key = str(path.resolve())
    mtime = path.stat().st_mtime
    cached = _CODE_CACHE.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    source = path.read_bytes()
    try:
        code = compile(source, key, "exec")
    except SyntaxError as exc:
        where = f"{path}, line {exc.lineno}" if exc.lineno else str(path)
        text = (exc.text or "").rstrip("\n")
        caret = ""
        if text and exc.offset:
            stripped = text.lstrip()
            caret = "\n    " + " " * max(exc.offset - 1 - (len(text) - len(stripped)), 0) + "^"
            text = stripped
        body = f"\n    {text}{caret}" if text else ""
        raise ProgramLoadError(f"{where}: {type(exc).__name__}: {exc.msg}{body}") from None
    _CODE_CACHE[key] = (mtime, code)
    _PROGRAM_FILES[key] = path.resolve().parent
    return code


def load_program(program: Program) -> Callable[[ProgramContext], Any]:
    """The `main` of a program given as a path, module name, module or callable.

    A file program runs with its folder on the import path (it can import a helper module
    beside it). A relative path (or a bare name of a file `NAME.py`) is looked up first
    in the folder of the program that spawns it, then in the current folder. Errors while
    loading raise `ProgramLoadError` with the program's own lines.
    """
    if callable(program) and not isinstance(program, ModuleType):
        return program
    if isinstance(program, ModuleType):
        module = program
    else:
        text = str(program)
        path = _find_program_file(text)
        if path is None and (text.endswith(".py") or os.sep in text or "/" in text):
            raise ProgramLoadError(f"no program file {text!r}")
        if path is not None:
            code = _compile_program(path)
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            name = f"microsim_program_{path.stem}"
            module = ModuleType(name)
            module.__file__ = code.co_filename
            sys.modules[name] = module
            try:
                exec(code, module.__dict__)
            except Exception as exc:
                raise ProgramLoadError(
                    f"{path}: error while loading the program:\n{format_exception(exc)}"
                ) from None
        else:
            try:
                module = importlib.import_module(text)
            except ModuleNotFoundError as exc:
                if exc.name != text:
                    raise ProgramLoadError(f"{text}: {format_exception(exc)}") from None
                raise ProgramLoadError(f"no program file or module {text!r}") from None
            except SyntaxError as exc:
                raise ProgramLoadError(
                    f"{exc.filename}, line {exc.lineno}: SyntaxError: {exc.msg}"
                ) from None
            except Exception as exc:
                raise ProgramLoadError(f"{text}: {format_exception(exc)}") from None
    main = getattr(module, "main", None)
    if not callable(main):
        raise ProgramLoadError(f"program {str(program)!r} has no main(ctx) function")
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
        proc.adopt_startup_handles(*startup[:3])
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
    """The outcome of running a program once.

    `ok` is False when a thread raised, the run deadlocked, or the root process exited
    with a non-zero code; `error` is a one-line reason and `failures` the trimmed
    tracebacks. `output` is what the program printed (when captured). `schedule`,
    `steps` and `preemptions` are filled in by `microsim.explore`.
    """

    seed: int
    ok: bool
    error: str = ""
    trace: str | None = None
    # Syscalls made (those that never returned included), those that returned an error,
    # and those that never returned (their thread blocked for good, or was killed).
    syscalls: int = 0
    errors: int = 0
    unreturned: int = 0
    # Objects alive once the kernel shut down (its root job aside): what `trace leaks`
    # reports as alive at the end of the trace.
    live_objects: int = 0
    leaked_handles: int = 0
    # The root process's return code (main's return value, or Zircon's kill codes).
    return_code: int = 0
    failures: list[str] = field(default_factory=list)
    output: str = ""
    schedule: str = ""
    steps: int = 0
    preemptions: int = 0
    run: int = 0


def run_program(path: Program, *, seed: int = 0, trace: str | None = None, args: Sequence[str] = (),
                plugins: Sequence[str] | None = None,
                strategy: Callable[[Kernel], SchedulingStrategy] | None = None,
                capture: bool = False, strace: IO[str] | None = None) -> RunResult:
    """Run a program to completion under one seed and summarise what happened.

    `strategy`, if given, is called with the new kernel and returns the scheduling
    strategy for the run (see `microsim.explore`). `capture=True` collects what the
    program prints into `RunResult.output` instead of letting it through. `strace`: a
    text stream for the live strace-style view of every syscall (`Kernel(strace=...)`).
    """
    counts = {"syscalls": 0, "returned": 0, "errors": 0}
    result = RunResult(seed=seed, ok=True, trace=trace)
    buffer = io.StringIO() if capture else None
    with contextlib.ExitStack() as stack:
        if buffer is not None:
            stack.enter_context(contextlib.redirect_stdout(buffer))
            stack.enter_context(contextlib.redirect_stderr(buffer))
        kernel = stack.enter_context(Kernel(seed=seed, trace=trace, plugins=plugins, strace=strace))
        if strategy is not None:
            kernel.sched.set_strategy(strategy(kernel))

        def made(call: Any) -> None:
            counts["syscalls"] += 1

        def returned(call: Any) -> None:
            counts["returned"] += 1
            if call.status != zx.ZX_OK:
                counts["errors"] += 1

        kernel.observe_syscalls("*", enter=made, exit=returned)
        root = spawn(kernel, path, args=args)
        try:
            kernel.run()
        except Deadlock as exc:
            result.ok = False
            result.error = str(exc)
        except MicrosimError as exc:  # a kernel panic, a memory fault...
            result.ok = False
            result.error = f"{type(exc).__name__}: {exc}"
            result.failures.append(format_exception(exc))
        for t in kernel.sched.threads:
            if isinstance(t.error, (KeyboardInterrupt, BrokenPipeError)):
                # Ctrl-C landed in a simulated thread, or its output's reader went away.
                raise t.error
            if t.error is not None and not t.exception_seen:
                # A crash nobody handled (a crash handler that saw it reports it itself).
                result.ok = False
                tb = format_exception(t.error)
                result.failures.append(f"{t.process.name.decode()}/{t.name.decode()}: {tb}")
        code = result.return_code = root.exit_code
        if result.failures and not result.error:
            result.error = result.failures[0].splitlines()[-1]
        if code and result.ok:
            result.ok = False
            result.error = f"the program exited with code {code}"
        del root
    # After shutdown (the ExitStack closed the kernel: blocked threads unwound, every
    # process ended), as the trace's own end sees it.
    result.syscalls = counts["syscalls"]
    result.errors = counts["errors"]
    result.unreturned = counts["syscalls"] - counts["returned"]
    result.leaked_handles = kernel.leaked_handles()
    result.live_objects = sum(1 for o in kernel.objects.values() if o is not kernel.root_job)
    if buffer is not None:
        result.output = buffer.getvalue()
    return result
