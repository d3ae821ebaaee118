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
from typing import Any

import greenlet

from microsim import zx
from microsim.core.sched import SchedulingStrategy
from microsim.errors import Deadlock, MicrosimError, ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.thread import Thread

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
    syscalls: int = 0
    errors: int = 0
    live_objects: int = 0
    leaked_handles: int = 0
    failures: list[str] = field(default_factory=list)
    exit_code: int = 0
    output: str = ""
    schedule: str = ""
    steps: int = 0
    preemptions: int = 0
    run: int = 0


def run_program(path: Program, *, seed: int = 0, trace: str | None = None, args: Sequence[str] = (),
                plugins: Sequence[str] | None = None,
                strategy: Callable[[Kernel], SchedulingStrategy] | None = None,
                capture: bool = False) -> RunResult:
    """Run a program to completion under one seed and summarise what happened.

    `strategy`, if given, is called with the new kernel and returns the scheduling
    strategy for the run (see `microsim.explore`). `capture=True` collects what the
    program prints into `RunResult.output` instead of letting it through.
    """
    counts = {"syscalls": 0, "errors": 0}
    result = RunResult(seed=seed, ok=True, trace=trace)
    buffer = io.StringIO() if capture else None
    with contextlib.ExitStack() as stack:
        if buffer is not None:
            stack.enter_context(contextlib.redirect_stdout(buffer))
            stack.enter_context(contextlib.redirect_stderr(buffer))
        kernel = stack.enter_context(Kernel(seed=seed, trace=trace, plugins=plugins))
        if strategy is not None:
            kernel.sched.set_strategy(strategy(kernel))

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
        except MicrosimError as exc:  # a kernel panic, a memory fault...
            result.ok = False
            result.error = f"{type(exc).__name__}: {exc}"
            result.failures.append(format_exception(exc))
        for t in kernel.sched.threads:
            if isinstance(t.error, (KeyboardInterrupt, BrokenPipeError)):
                # Ctrl-C landed in a simulated thread, or its output's reader went away.
                raise t.error
            if t.error is not None:
                result.ok = False
                tb = format_exception(t.error)
                result.failures.append(f"{t.process.name.decode()}/{t.name.decode()}: {tb}")
        code = root.exit_code
        if not code:
            main_threads = [t for t in kernel.sched.threads if t.process is root and t.name == b"main"]
            returned = main_threads[0].result if main_threads else None
            if isinstance(returned, int) and not isinstance(returned, bool):
                code = returned
        result.exit_code = code
        if result.failures and not result.error:
            result.error = result.failures[0].splitlines()[-1]
        if code and result.ok:
            result.ok = False
            result.error = f"the program exited with code {code}"
        result.syscalls = counts["syscalls"]
        result.errors = counts["errors"]
        result.leaked_handles = sum(len(p.handles) for p in kernel.processes)
        live = [o for o in kernel.objects.values() if o.type_name not in ("process", "thread", "vmar")]
        result.live_objects = len(live)
        del root
    if buffer is not None:
        result.output = buffer.getvalue()
    return result
