"""Zircon exceptions: exception channels on threads, processes and jobs, and the exception
object a handler receives.

A simulated thread raises a Zircon exception when its Python code lets an exception escape
(ZX_EXCP_GENERAL; ZX_EXCP_FATAL_PAGE_FAULT for a `MemoryFault` or a start at an address
with no code) or when it faults on simulated memory through `Process.read_memory` /
`write_memory` (ZX_EXCP_FATAL_PAGE_FAULT, delivered at the faulting access, which is
retried when a handler answers HANDLED). The handlers are tried in Zircon's order: the
process debugger channel (first chance), the thread's channel, the process's, the
debugger again if it asked for a second chance (ZX_PROP_EXCEPTION_STRATEGY), then the
job's and each parent job's. Each receives a
`zx_exception_info_t` message with one exception handle; the thread stays
BLOCKED_EXCEPTION until the last handle to that exception is closed, and then its
ZX_PROP_EXCEPTION_STATE decides: TRY_NEXT (the default) the next handler, HANDLED resume,
THREAD_EXIT end the thread. When nobody handles it, the process is killed with
ZX_TASK_RETCODE_EXCEPTION_KILL.

An uncaught Python exception cannot be resumed (its frames are gone): HANDLED then ends
the thread quietly instead of killing its process.

Debugger channels (ZX_EXCEPTION_CHANNEL_DEBUGGER) also receive the lifecycle exceptions,
which never reach normal channels: a process's debugger gets THREAD_STARTING before a
thread runs and THREAD_EXITING as it exits (a thread exiting on its own waits, DYING,
until that exception is closed; a killed one does not); up to 32 job debuggers per job
get PROCESS_STARTING when a process's first thread starts, in bind order, from the
process's job up to the root.

Exception channels are channels, whose type belongs to a plugin: the core asks for one
through the `make_kernel_channel` hook (the channel plugin implements it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import greenlet

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.object import KernelObject
from microsim.core.sched import ThreadExit, Wait
from microsim.core.syscall import arg_u32
from microsim.errors import MemoryFault, ZxError
from microsim.objects.job import Job
from microsim.objects.process import Process
from microsim.objects.thread import ExecuteFault, Thread

if TYPE_CHECKING:
    from microsim.kernel import Kernel

_type = type  # zx_thread_raise_exception has a parameter named `type`, as in Zircon

_CREATE_RIGHTS = (
    zx.ZX_RIGHT_INSPECT | zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_TRANSFER | zx.ZX_RIGHT_MANAGE_THREAD
)


class Exceptionate:
    """A task's exception channel slot (Zircon's Exceptionate)."""

    __slots__ = ("channel", "channel_type", "process_rights", "shut", "thread_rights")

    def __init__(self, channel_type: int) -> None:
        self.channel_type = channel_type
        self.channel: Any = None
        self.thread_rights = 0
        self.process_rights = 0
        self.shut = False

    def bound(self) -> bool:
        """Whether a channel is bound and its user end still open."""
        return self.channel is not None and self.channel.alive()

    def shutdown(self) -> None:
        """The task died: close the channel (PEER_CLOSED) and accept no new one."""
        self.shut = True
        if self.channel is not None:
            self.channel.close()
            self.channel = None


class ExceptionObject(KernelObject):
    """The exception a handler holds; closing its last handle resumes the thread's
    handler search with the current ZX_PROP_EXCEPTION_STATE."""

    obj_type = zx.ZX_OBJ_TYPE_EXCEPTION
    type_name = "exception"
    default_rights = zx.ZX_DEFAULT_EXCEPTION_RIGHTS
    waitable = False

    __slots__ = ("closed_wait", "excp_type", "process_rights", "state", "strategy", "thread",
                 "thread_rights", "via")

    def __init__(self, kernel: Kernel, thread: Thread, excp_type: int, ate: Exceptionate) -> None:
        super().__init__(kernel)
        self.thread = thread
        self.excp_type = excp_type
        self.thread_rights = ate.thread_rights
        self.process_rights = ate.process_rights
        self.state = zx.ZX_EXCEPTION_STATE_TRY_NEXT
        self.strategy = zx.ZX_EXCEPTION_STRATEGY_FIRST_CHANCE
        self.via = ate.channel_type
        self.closed_wait: Wait | None = None

    @property
    def related_koid(self) -> int:
        return self.thread.koid

    def on_zero_handles(self) -> None:
        w = self.closed_wait
        if w is not None:
            self.kernel.sched.finish(w, zx.ZX_OK)


_SECOND = "second-chance"


def _handlers(thread: Thread) -> list[Exceptionate | str]:
    """Zircon's ExceptionHandlerIterator order for a normal exception: the process
    debugger (first chance), the thread, the process, the process debugger again (only
    for SECOND_CHANCE), then the job and each parent job."""
    proc = thread.process
    chain: list[Exceptionate | str | None] = []
    debugger = proc.debug_exceptionates[0] if proc.debug_exceptionates else None
    chain += [debugger, thread.exceptionate, proc.exceptionate]
    if debugger is not None:
        chain.append(_SECOND)
    job: Job | None = proc.job
    while job is not None:
        chain.append(job.exceptionate)
        job = job.parent
    return [ate for ate in chain if ate is not None]


def _send(thread: Thread, excp_type: int, ate: Exceptionate, wait_for_it: bool,
          strategy: int = zx.ZX_EXCEPTION_STRATEGY_FIRST_CHANCE,
          synth_code: int = 0, synth_data: int = 0) -> ExceptionObject | None:
    """Send one exception message to `ate`; block until its exception is closed (if
    `wait_for_it`). None if the channel is gone."""
    k = thread.kernel
    proc = thread.process
    exc = ExceptionObject(k, thread, excp_type, ate)
    exc.strategy = strategy
    k.publish(exc, proc.koid)
    handle = Handle(exc, zx.ZX_DEFAULT_EXCEPTION_RIGHTS)
    exc.handle_count += 1  # in flight in the message
    wait = Wait(f"exception {excp_type:#x} (koid {exc.koid})", zx.ZX_THREAD_STATE_BLOCKED_EXCEPTION)
    exc.closed_wait = wait if wait_for_it else None
    info = zx.zx_exception_info_t(pid=proc.koid, tid=thread.koid, type=excp_type).pack()
    if not ate.channel.send(info, [handle]):
        k.close_handle(handle)
        return None
    thread.exc_channel_type = ate.channel_type
    if wait_for_it:
        thread.exc_report = zx.zx_exception_report_t(type=excp_type, synth_code=synth_code & 0xFFFFFFFF,
                                                     synth_data=synth_data & 0xFFFFFFFF)
        try:
            k.sched.block(wait, zx.ZX_TIME_INFINITE)
        finally:
            thread.exc_report = None
        exc.closed_wait = None
        if thread.killed:
            raise ThreadExit
    return exc


def raise_exception(thread: Thread, excp_type: int, synth_code: int = 0) -> int:
    """Deliver an exception of the calling thread `thread` to its handlers, in order.

    Blocks the thread while each handler holds the exception. Returns
    ZX_EXCEPTION_STATE_HANDLED or _THREAD_EXIT; when nobody handles it the process is
    killed (ZX_TASK_RETCODE_EXCEPTION_KILL) and TRY_NEXT is returned. Raises
    `ThreadExit` if the thread is killed while it waits.
    """
    k = thread.kernel
    proc = thread.process
    if k.trace is not None:
        k.emit("exception", thread.koid, excp_type)
    strategy = zx.ZX_EXCEPTION_STRATEGY_FIRST_CHANCE
    debugger: Exceptionate | None = None
    for ate in _handlers(thread):
        if isinstance(ate, str):  # the debugger's second chance
            if strategy != zx.ZX_EXCEPTION_STRATEGY_SECOND_CHANCE or debugger is None:
                continue
            ate = debugger
        elif ate.channel_type == zx.ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER:
            debugger = ate
            if strategy == zx.ZX_EXCEPTION_STRATEGY_SECOND_CHANCE:
                continue
        if not ate.bound():
            continue
        exc = _send(thread, excp_type, ate, True, strategy, synth_code)
        if exc is None:
            continue
        if ate.channel_type != zx.ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER:
            thread.exception_seen = True
        strategy = exc.strategy
        if exc.state != zx.ZX_EXCEPTION_STATE_TRY_NEXT:
            return exc.state
    proc.kill(zx.ZX_TASK_RETCODE_EXCEPTION_KILL, "exception")
    return zx.ZX_EXCEPTION_STATE_TRY_NEXT


def lifecycle(thread: Thread, excp_type: int) -> None:
    """The kernel's `lifecycle_hook`: THREAD_STARTING (preceded by PROCESS_STARTING to
    every job debugger up the chain for a process's first thread) and THREAD_EXITING go
    to debugger channels only; the disposition is ignored. A thread exiting because it
    was killed does not wait for its THREAD_EXITING message to be handled."""
    proc = thread.process
    k = thread.kernel
    if excp_type == zx.ZX_EXCP_THREAD_STARTING and thread.first_thread:
        _to_job_debuggers(thread, zx.ZX_EXCP_PROCESS_STARTING)
    for ate in list(proc.debug_exceptionates):
        if ate.bound():
            if k.trace is not None:
                k.emit("exception", thread.koid, excp_type)
            wait = excp_type == zx.ZX_EXCP_THREAD_STARTING or not thread.killed
            if excp_type == zx.ZX_EXCP_THREAD_EXITING:
                thread.exiting = True
            _send(thread, excp_type, ate, wait)


def _to_job_debuggers(thread: Thread, excp_type: int, synth_code: int = 0, synth_data: int = 0) -> None:
    """Deliver an exception to every job debugger channel from `thread`'s job up to the
    root, in turn, each holding the thread until it closes the exception (Zircon's
    OnProcessStartForJobDebugger / OnUserExceptionForJobDebugger)."""
    k = thread.kernel
    job: Job | None = thread.process.job
    while job is not None:
        for ate in list(job.debug_exceptionates):
            if ate.bound():
                if k.trace is not None:
                    k.emit("exception", thread.koid, excp_type)
                _send(thread, excp_type, ate, True, synth_code=synth_code, synth_data=synth_data)
        job = job.parent


def exception_type_of(error: BaseException) -> int:
    """The ZX_EXCP_* type microsim raises for a Python exception escaping a thread."""
    if isinstance(error, (MemoryFault, ExecuteFault)):
        return zx.ZX_EXCP_FATAL_PAGE_FAULT
    return zx.ZX_EXCP_GENERAL


def handle_uncaught(thread: Thread, error: BaseException) -> None:
    """The kernel's `exception_hook`: an exception escaped `thread`'s Python code. The
    thread ends whatever the handlers say (HANDLED cannot resume unwound frames)."""
    raise_exception(thread, exception_type_of(error))


def handle_fault(thread: Thread, fault: MemoryFault) -> bool:
    """The kernel's `fault_hook`: `thread` faulted on simulated memory. True: a handler
    answered HANDLED (retry the access). Otherwise the thread ends (`ThreadExit`)."""
    disposition = raise_exception(thread, zx.ZX_EXCP_FATAL_PAGE_FAULT, fault.status)
    if disposition == zx.ZX_EXCEPTION_STATE_HANDLED:
        return True
    if disposition == zx.ZX_EXCEPTION_STATE_TRY_NEXT:
        thread.error = fault  # unhandled: the run reports it
    raise ThreadExit


# --------------------------------------------------------------------------- syscalls
def sys_task_create_exception_channel(p: Process, handle: int, options: int) -> int:
    """zx_task_create_exception_channel: bind an exception channel to a thread, process
    or job; returns the user end (rights TRANSFER | WAIT | READ).

    Checks in Zircon's order: options (only ZX_EXCEPTION_CHANNEL_DEBUGGER; on a thread
    INVALID_ARGS), the caller's ZX_POL_NEW_CHANNEL policy, the handle (INSPECT |
    DUPLICATE | TRANSFER | MANAGE_THREAD, rights before type), the type, a job or process
    handle without ENUMERATE (ACCESS_DENIED), a dead task (BAD_STATE), a channel already
    bound and open (ALREADY_BOUND; job debuggers: 32 open ones).
    """
    opts = arg_u32(options)
    if opts & ~zx.ZX_EXCEPTION_CHANNEL_DEBUGGER:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown options")
    p.enforce_policy(zx.ZX_POL_NEW_CHANNEL)
    h = p.lookup(handle, None, _CREATE_RIGHTS)
    task = h.obj
    debug = bool(opts & zx.ZX_EXCEPTION_CHANNEL_DEBUGGER)
    if isinstance(task, Thread):
        if debug:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "threads have no debugger channel")
        dead = task.dead
        kind = zx.ZX_EXCEPTION_CHANNEL_TYPE_THREAD
    elif isinstance(task, (Process, Job)):
        if not h.rights & zx.ZX_RIGHT_ENUMERATE:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the handle lacks ZX_RIGHT_ENUMERATE")
        dead = task.state == "dead"
        if isinstance(task, Process):
            kind = zx.ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER if debug else zx.ZX_EXCEPTION_CHANNEL_TYPE_PROCESS
        else:
            kind = zx.ZX_EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER if debug else zx.ZX_EXCEPTION_CHANNEL_TYPE_JOB
    else:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    ate: Exceptionate | None
    if debug:
        live = [a for a in task.debug_exceptionates if a.bound()]
        limit = 1 if isinstance(task, Process) else zx.ZX_EXCEPTION_CHANNEL_JOB_DEBUGGER_MAX_COUNT
        if dead:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the task is dead")
        if len(live) >= limit:
            raise ZxError(zx.ZX_ERR_ALREADY_BOUND)
        for gone in [a for a in task.debug_exceptionates if not a.bound()]:
            gone.shutdown()
        task.debug_exceptionates[:] = live
        ate = None
    else:
        ate = task.exceptionate
        if dead or (ate is not None and ate.shut):
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the task is dead")
        if ate is not None and ate.bound():
            raise ZxError(zx.ZX_ERR_ALREADY_BOUND)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("object")
    channel = k.pm.hook.make_kernel_channel(kernel=k)
    if channel is None:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "no plugin provides channels")
    if debug:
        ate = Exceptionate(kind)
        task.debug_exceptionates.append(ate)
        k.debuggers_bound += 1
    elif ate is None:
        ate = task.exceptionate = Exceptionate(kind)
    elif ate.channel is not None:
        ate.channel.close()
    ate.channel = channel
    if kind == zx.ZX_EXCEPTION_CHANNEL_TYPE_THREAD:
        ate.thread_rights, ate.process_rights = h.rights, 0
    elif kind in (zx.ZX_EXCEPTION_CHANNEL_TYPE_PROCESS, zx.ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER):
        ate.thread_rights, ate.process_rights = zx.ZX_DEFAULT_THREAD_RIGHTS, h.rights
    else:
        ate.thread_rights, ate.process_rights = zx.ZX_DEFAULT_THREAD_RIGHTS, zx.ZX_DEFAULT_PROCESS_RIGHTS
    return k.new_handle(p, channel.user_end, zx.ZX_EXCEPTION_CHANNEL_RIGHTS, reserved=True)


def sys_exception_get_thread(p: Process, handle: int) -> int:
    """zx_exception_get_thread: a handle to the excepting thread (with the rights of the
    task handle the channel was made from)."""
    exc: ExceptionObject = p.obj(handle, ExceptionObject, 0)
    if not exc.thread_rights:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    return p.kernel.new_handle(p, exc.thread, exc.thread_rights, "exception")


def sys_exception_get_process(p: Process, handle: int) -> int:
    """zx_exception_get_process: a handle to the excepting thread's process
    (ACCESS_DENIED for an exception from a thread channel)."""
    exc: ExceptionObject = p.obj(handle, ExceptionObject, 0)
    if not exc.process_rights:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    return p.kernel.new_handle(p, exc.thread.process, exc.process_rights, "exception")


def _state_size(value_size: int | None) -> None:
    if value_size is not None and value_size < 4:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)


def get_exception_state(p: Process, h: Handle, value_size: int | None) -> int:
    """ZX_PROP_EXCEPTION_STATE get: TRY_NEXT, HANDLED or THREAD_EXIT."""
    _state_size(value_size)
    if not isinstance(h.obj, ExceptionObject):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    return h.obj.state


def get_exception_strategy(p: Process, h: Handle, value_size: int | None) -> int:
    """ZX_PROP_EXCEPTION_STRATEGY get: FIRST_CHANCE or SECOND_CHANCE."""
    _state_size(value_size)
    if not isinstance(h.obj, ExceptionObject):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    return h.obj.strategy


def set_exception_strategy(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_EXCEPTION_STRATEGY set: only for an exception from a process debugger
    channel (else BAD_STATE); 0 FIRST_CHANCE or 1 SECOND_CHANCE (else INVALID_ARGS)."""
    exc = h.obj
    if not isinstance(exc, ExceptionObject):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if exc.via != zx.ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "not an exception from a debugger channel")
    if type(value) is not int or value not in (zx.ZX_EXCEPTION_STRATEGY_FIRST_CHANCE,
                                               zx.ZX_EXCEPTION_STRATEGY_SECOND_CHANCE):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "exception strategy must be 0 or 1")
    exc.strategy = value


def set_exception_state(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_EXCEPTION_STATE set: 0 TRY_NEXT, 1 HANDLED, 2 THREAD_EXIT (else
    INVALID_ARGS)."""
    if not isinstance(h.obj, ExceptionObject):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if type(value) is not int or value not in (
        zx.ZX_EXCEPTION_STATE_TRY_NEXT, zx.ZX_EXCEPTION_STATE_HANDLED, zx.ZX_EXCEPTION_STATE_THREAD_EXIT,
    ):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "exception state must be 0, 1 or 2")
    h.obj.state = value


def sys_thread_raise_exception(p: Process, options: int, type: int, context: Any) -> None:
    """zx_thread_raise_exception: raise a user exception (ZX_EXCP_USER) on the calling
    thread, delivered to every job debugger channel from its job up to the root, in turn;
    the thread waits while each holds it. Not fatal: with nobody listening, or whatever
    the handlers answer, the call returns ZX_OK.

    `options` must be ZX_EXCEPTION_TARGET_JOB_DEBUGGER, `type` ZX_EXCP_USER and `context`
    a `zx_exception_context_t` (its `synth_code` and `synth_data` reach the handlers'
    ZX_INFO_THREAD_EXCEPTION_REPORT); anything else is ZX_ERR_INVALID_ARGS. A call made
    from plain Python has no thread to raise it on: nothing is delivered.
    """
    if (options != zx.ZX_EXCEPTION_TARGET_JOB_DEBUGGER or _type(options) is not int
            or type != zx.ZX_EXCP_USER or _type(type) is not int
            or not isinstance(context, zx.zx_exception_context_t)):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS)
    code, data = arg_u32(context.synth_code), arg_u32(context.synth_data)
    k = p.kernel
    thread = k.sched.current
    if thread is None or thread.process is not p or greenlet.getcurrent() is not thread.glet:
        return None
    _to_job_debuggers(thread, zx.ZX_EXCP_USER, code, data)
    return None


SYSCALLS: dict[str, Any] = {
    "zx_thread_raise_exception": sys_thread_raise_exception,
    "zx_task_create_exception_channel": sys_task_create_exception_channel,
    "zx_exception_get_thread": sys_exception_get_thread,
    "zx_exception_get_process": sys_exception_get_process,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = []
PROPERTIES: list[tuple[int, str, Any, Any]] = [
    (zx.ZX_PROP_EXCEPTION_STATE, "ZX_PROP_EXCEPTION_STATE", get_exception_state, set_exception_state),
    (zx.ZX_PROP_EXCEPTION_STRATEGY, "ZX_PROP_EXCEPTION_STRATEGY", get_exception_strategy,
     set_exception_strategy),
]
