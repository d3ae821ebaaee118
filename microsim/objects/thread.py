"""Threads: the kernel object a simulated thread is (its greenlet is run by the scheduler).

Lifecycle (Zircon's `ThreadDispatcher`): NEW (zx_thread_create) -> RUNNING (started:
ZX_THREAD_RUNNING) -> DYING (killed, exiting) -> DEAD (ZX_THREAD_TERMINATED). Only started
threads are in their process's thread list. A thread's code is a Python callable (the
entry); returning from it is zx_thread_exit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.object import KernelObject
from microsim.core.sched import ThreadExit
from microsim.core.syscall import arg_bytes, arg_u32
from microsim.errors import ZxError
from microsim.objects.process import (
    INITIAL,
    RUNNING,
    Process,
    check_entry,
    clean_name,
    lookup_thread,
)

if TYPE_CHECKING:
    from microsim.core.sched import Wait
    from microsim.kernel import Kernel


class Thread(KernelObject):
    """A simulated thread of a process.

    `state` is the scheduler's view ("new", "runnable", "running", "blocked", "dead");
    `zx_state()` is Zircon's ZX_THREAD_STATE_* for ZX_INFO_THREAD.
    """

    obj_type = zx.ZX_OBJ_TYPE_THREAD
    type_name = "thread"
    default_rights = zx.ZX_DEFAULT_THREAD_RIGHTS

    __slots__ = (
        "args",
        "ctx",
        "deadline",
        "entry",
        "error",
        "exc_channel_type",
        "exc_report",
        "exception_seen",
        "exceptionate",
        "exiting",
        "first_thread",
        "glet",
        "killed",
        "process",
        "queue_time",
        "ready_at",
        "regs",
        "result",
        "run_start",
        "runtime",
        "started",
        "state",
        "suspend_count",
        "suspended",
        "wait",
        "wake_status",
    )

    def __init__(
        self, kernel: Kernel, process: Process, entry: Callable[..., Any] | None,
        args: tuple[Any, ...], name: str | bytes,
    ) -> None:
        super().__init__(kernel)
        self.process = process
        self.entry = entry
        self.args = args
        self.name = clean_name(name)
        self.glet: greenlet.greenlet | None = None
        self.state = "new"
        self.started = False
        self.wait: Wait | None = None
        self.wake_status = zx.ZX_OK
        self.deadline = zx.ZX_TIME_INFINITE
        self.ctx: tuple[int, int, int] = (0, 0, 0)
        self.error: BaseException | None = None
        self.result: Any = None
        self.killed = False
        self.runtime = 0  # virtual CPU time, up to its last switch off the CPU
        self.run_start = 0
        self.queue_time = 0  # virtual time spent runnable, waiting for the CPU
        self.ready_at = 0
        self.exceptionate: Any = None
        self.exc_channel_type = zx.ZX_EXCEPTION_CHANNEL_TYPE_NONE
        self.exc_report: Any = None  # zx_exception_report_t while in an exception
        self.exception_seen = False  # an exception of this thread reached a handler
        self.exiting = False  # exiting on its own, waiting on a debugger (DYING)
        self.first_thread = False  # the thread that started its process
        self.regs: dict[int, bytes] = {}  # zx_thread_write_state records, by kind
        self.suspend_count = 0  # live suspend tokens on this thread
        self.suspended = False  # this thread's or its process's count is above 0

    @property
    def related_koid(self) -> int:
        return self.process.koid

    def runtimes(self) -> tuple[int, int]:
        """(cpu_time, queue_time) so far, counting the current stretch on or off the CPU."""
        now = self.kernel.now
        cpu, queued = self.runtime, self.queue_time
        if self.state == "running":
            cpu += now - self.run_start
        elif self.state == "runnable":
            queued += now - self.ready_at
        return cpu, queued

    @property
    def dead(self) -> bool:
        """Whether the thread has reached DEAD."""
        return self.state == "dead"

    def __repr__(self) -> str:
        return f"<Thread {self.name.decode(errors='replace')!r} koid={self.koid}>"

    def get_name(self) -> bytes:
        if self.state == "dead":
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread is dead")
        return self.name

    def set_name(self, name: bytes) -> None:
        if self.state == "dead":
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread is dead")
        self.name = name

    # ------------------------------------------------------------------ lifecycle
    def on_destroy(self) -> None:
        if self.exceptionate is not None:
            self.exceptionate.shutdown()

    def start(self, entry: Any, args: tuple[Any, ...]) -> None:
        """Start a NEW thread running `entry(*args)` (the caller checked the states).

        An int entry is an address with no code: the thread faults at once.
        """
        proc = self.process
        kernel = self.kernel
        self.entry = entry if callable(entry) else _no_code(entry)
        self.args = args
        self.started = True
        proc.threads.append(self)
        proc.retain()  # a started thread keeps its process alive
        if proc.state == INITIAL:
            proc.state = RUNNING
            proc.start_time = kernel.now
            self.first_thread = True
        self.retain()  # the scheduler's reference, dropped when the thread exits
        self.update_signals(0, zx.ZX_THREAD_RUNNING)
        kernel.sched.add_thread(self)
        if self.suspend_count or proc.suspend_count:
            self.suspended = True
            kernel.sched.set_suspended(self, True)

    def update_suspension(self) -> None:
        """Suspend or resume after a suspend count of this thread or its process changed."""
        want = (self.suspend_count + self.process.suspend_count) > 0 and not self.killed
        if want == self.suspended:
            return
        self.suspended = want
        if self.started and self.state != "dead":
            self.kernel.sched.set_suspended(self, want)

    def zx_state(self) -> int:
        """The ZX_THREAD_STATE_* ZX_INFO_THREAD reports."""
        state = self.state
        if state == "new":
            return zx.ZX_THREAD_STATE_NEW
        if state == "dead":
            return zx.ZX_THREAD_STATE_DEAD
        if self.killed or self.exiting:
            return zx.ZX_THREAD_STATE_DYING
        if state == "blocked" and self.wait is not None:
            reason = self.wait.reason
            if self.suspended and reason != zx.ZX_THREAD_STATE_BLOCKED_EXCEPTION:
                return zx.ZX_THREAD_STATE_SUSPENDED
            return reason
        if state == "suspended":
            return zx.ZX_THREAD_STATE_SUSPENDED
        return zx.ZX_THREAD_STATE_RUNNING

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "started": self.started}


def _no_code(address: int) -> Callable[..., Any]:
    def fault(*args: Any) -> Any:
        raise ExecuteFault(address)

    return fault


class ExecuteFault(Exception):
    """A thread started at an address with no code (microsim runs Python callables)."""

    def __init__(self, address: int) -> None:
        super().__init__(f"execute fault at {address:#x}: no code at this address")
        self.address = address


def current_thread() -> Thread | None:
    """The simulated thread running the caller, if any."""
    return getattr(greenlet.getcurrent(), "thread", None)


def vdso() -> Any:
    """The syscall facade of the calling simulated thread's process.

    What the vDSO is to a Zircon program: a thread started by zx_process_start /
    zx_thread_start with a plain Python entry reaches its syscalls through this.
    Outside a simulated thread: ZxError(ZX_ERR_BAD_STATE).
    """
    t = current_thread()
    if t is None:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "not called from a simulated thread")
    return t.process.zx


# --------------------------------------------------------------------------- syscalls
def sys_thread_create(p: Process, process: int, name: Any, options: int) -> int:
    """zx_thread_create: a NEW thread of `process` (ZX_RIGHT_MANAGE_THREAD); returns its
    handle. Errors in Zircon's order: options != 0, the name (INVALID_ARGS), the lookup.
    No state check: a thread of a dead process can be created (and never started)."""
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    clean = clean_name(name)
    target: Process = p.obj(process, Process, zx.ZX_RIGHT_MANAGE_THREAD)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("object")
    t = Thread(k, target, None, (), clean)
    k.publish(t, target.koid)
    return k.new_handle(p, t, Thread.default_rights, reserved=True)


def sys_thread_start(p: Process, handle: int, entry: Any, stack: int, arg1: Any, arg2: Any) -> None:
    """zx_thread_start: run `entry(arg1, arg2)` on a NEW thread (ZX_RIGHT_MANAGE_THREAD).

    The first thread of an INITIAL process may be started this way (the process becomes
    RUNNING). Otherwise the process must be RUNNING (BAD_STATE). A bad entry is
    INVALID_ARGS, an already started or dead thread BAD_STATE. `arg1` and `arg2` may be
    any Python values (no handle is moved).
    """
    h = lookup_thread(p, handle, zx.ZX_RIGHT_MANAGE_THREAD)
    t: Thread = h.obj
    proc = t.process
    if not proc.threads:
        if proc.state != INITIAL:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the process is not running")
    elif proc.state != RUNNING:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the process is dying")
    check_entry(entry)
    if t.started or t.state == "dead":
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread has already started")
    t.start(entry, (arg1, arg2))
    return None


def sys_thread_exit(p: Process) -> None:
    """zx_thread_exit: end the calling thread (no return). Its process ends with it if it
    was the last thread (return code 0 unless one was set)."""
    cur = p.kernel.sched.current
    if cur is None or cur.process is not p:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "zx_thread_exit needs a simulated thread")
    raise ThreadExit


def _inspectable(t: Thread) -> None:
    w = t.wait
    in_exception = t.state == "blocked" and w is not None and (
        w.reason == zx.ZX_THREAD_STATE_BLOCKED_EXCEPTION)
    if t.exiting and in_exception:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "no register access during THREAD_EXITING")
    if not (in_exception or (t.suspended and t.state in ("suspended", "blocked"))):
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread is neither suspended nor in an exception")


def _state_kind(kind: Any) -> int:
    kind = arg_u32(kind)
    if kind not in zx.THREAD_STATE_SIZES:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown thread state kind {kind}")
    return kind


def sys_thread_read_state(p: Process, handle: int, kind: int, buffer_size: int) -> bytes:
    """zx_thread_read_state: a register record of a suspended thread or one in an
    exception (ZX_RIGHT_READ). Python threads have no registers: microsim keeps what
    zx_thread_write_state stored (zeros otherwise), x86-64 layout sizes."""
    h = lookup_thread(p, handle, zx.ZX_RIGHT_READ)
    kind = _state_kind(kind)
    size = zx.THREAD_STATE_SIZES[kind]
    if type(buffer_size) is not int or buffer_size < size:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, f"the record takes {size} bytes")
    t: Thread = h.obj
    _inspectable(t)
    return t.regs.get(kind, bytes(size))


def sys_thread_write_state(p: Process, handle: int, kind: int, buffer: Any) -> None:
    """zx_thread_write_state: store a register record (ZX_RIGHT_WRITE); same states as
    read. SINGLE_STEP takes 0 or 1; a longer buffer is fine (the record is its start)."""
    h = lookup_thread(p, handle, zx.ZX_RIGHT_WRITE)
    kind = _state_kind(kind)
    data = arg_bytes(buffer)
    size = zx.THREAD_STATE_SIZES[kind]
    if len(data) < size:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, f"the record takes {size} bytes")
    t: Thread = h.obj
    _inspectable(t)
    record = data[:size]
    if kind == zx.ZX_THREAD_STATE_SINGLE_STEP and int.from_bytes(record, "little") > 1:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "single step is 0 or 1")
    t.regs[kind] = record
    return None


def info_thread(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_THREAD: Zircon's thread state (with the BLOCKED_* reason) and the exception
    channel type it waits on."""
    if buffer_size is not None and buffer_size < zx.zx_info_thread_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    t: Thread = h.obj
    state = t.zx_state()
    mask = 0 if state in (zx.ZX_THREAD_STATE_DEAD, zx.ZX_THREAD_STATE_NEW) else 1
    return zx.zx_info_thread_t(
        state=state, wait_exception_channel_type=t.exc_channel_type, m0=mask
    )


def info_thread_exception_report(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_THREAD_EXCEPTION_REPORT: the exception the thread is in (BAD_STATE if none)."""
    t: Thread = h.obj
    w = t.wait
    if t.exc_report is None or not (t.state == "blocked" and w is not None
                                    and w.reason == zx.ZX_THREAD_STATE_BLOCKED_EXCEPTION):
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread is not in an exception")
    if buffer_size is not None and buffer_size < zx.zx_exception_report_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    return t.exc_report


def info_thread_stats(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_THREAD_STATS: runtime so far and last CPU (DEAD: BAD_STATE)."""
    t: Thread = h.obj
    if t.state == "dead":
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread is dead")
    if buffer_size is not None and buffer_size < zx.zx_info_thread_stats_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    ran = t.glet is not None
    return zx.zx_info_thread_stats_t(
        total_runtime=t.runtime, last_scheduled_cpu=0 if ran else zx.ZX_INFO_INVALID_CPU
    )


def info_task_runtime(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_TASK_RUNTIME(_V1): virtual CPU time of a thread, a process (all its
    threads) or a job (all its processes, not child jobs). Rights come before the type."""
    task = h.obj
    if task.obj_type not in (zx.ZX_OBJ_TYPE_THREAD, zx.ZX_OBJ_TYPE_PROCESS, zx.ZX_OBJ_TYPE_JOB):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    cpu, queued = task.runtimes()
    return zx.zx_info_task_runtime_t(cpu_time=cpu, queue_time=queued)


def _runtime_topic(size: int) -> Any:
    def handler(p: Process, h: Handle, buffer_size: int | None) -> Any:
        record = info_task_runtime(p, h, buffer_size)
        if buffer_size is not None and buffer_size < size:
            raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
        return record

    handler.__doc__ = info_task_runtime.__doc__
    return handler


SYSCALLS: dict[str, Any] = {
    "zx_thread_create": sys_thread_create,
    "zx_thread_start": sys_thread_start,
    "zx_thread_exit": sys_thread_exit,
    "zx_thread_read_state": sys_thread_read_state,
    "zx_thread_write_state": sys_thread_write_state,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = [
    (zx.ZX_INFO_THREAD, info_thread, "ZX_INFO_THREAD", Thread, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_THREAD_STATS, info_thread_stats, "ZX_INFO_THREAD_STATS", Thread,
     zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_THREAD_EXCEPTION_REPORT, info_thread_exception_report,
     "ZX_INFO_THREAD_EXCEPTION_REPORT", Thread, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_THREAD_EXCEPTION_REPORT_V1, info_thread_exception_report,
     "ZX_INFO_THREAD_EXCEPTION_REPORT_V1", Thread, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_TASK_RUNTIME, _runtime_topic(zx.zx_info_task_runtime_t.SIZE), "ZX_INFO_TASK_RUNTIME",
     None, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_TASK_RUNTIME_V1, _runtime_topic(16), "ZX_INFO_TASK_RUNTIME_V1", None,
     zx.ZX_RIGHT_INSPECT),
]
