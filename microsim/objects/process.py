"""Processes: a handle table, a root VMAR, threads, a job, and the syscall facade `zx`.

Lifecycle (Zircon's `ProcessDispatcher`): INITIAL (created) -> RUNNING (first thread
started) -> DYING (exit, kill, unhandled exception: its threads are told to die) -> DEAD
(last thread gone). The DEAD transition runs in Zircon's order: exception channels shut
down, the address space destroyed, every handle the process held closed, then
ZX_PROCESS_TERMINATED asserted and the process removed from its job. From then on the
process's facade (`process.zx`) refuses every call with `ProcessExitedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.info import InfoList
from microsim.core.object import KernelObject
from microsim.core.sched import ThreadExit
from microsim.core.syscall import SyscallFacade, arg_bytes, arg_i64, arg_size, arg_u32, arg_u64
from microsim.errors import MemoryFault, ZxError
from microsim.objects import vmar
from microsim.objects.job import READY, Job
from microsim.objects.vmar import USER_ASPACE_BASE, USER_ASPACE_SIZE, Vmar

if TYPE_CHECKING:
    from microsim.kernel import Kernel
    from microsim.objects.thread import Thread

_BAD_HANDLE = zx.ZX_ERR_BAD_HANDLE
# Makes a Handle without running Handle.__init__ (`Process.new_handle` sets every slot):
# a C call instead of a Python frame on the hottest path.
_new_handle = object.__new__

INITIAL = "initial"
RUNNING = "running"
DYING = "dying"
DEAD = "dead"


class ProcessExitedError(ZxError):
    """A syscall through the facade of a process that has exited.

    The facade of a DEAD process refuses every call with this error (status
    ZX_ERR_BAD_STATE) and changes nothing: nothing it would create could ever be released.
    """

    def __init__(self, process: Process, syscall: str) -> None:
        super().__init__(
            zx.ZX_ERR_BAD_STATE,
            f"zx_{syscall}: process {process.name.decode(errors='replace')!r} "
            f"(koid {process.koid}) has exited; its syscall facade refuses every call",
        )


class ExitedFacade(SyscallFacade):
    """The facade a process gets when it becomes DEAD (its class is swapped in place,
    so every reference to the old facade refuses too)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        proc: Process = self._p

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ProcessExitedError(proc, name)

        return refuse


def clean_name(name: Any) -> bytes:
    """Zircon's name rules: bytes or str, at most 31 bytes kept, cut at the first NUL.

    None (a NULL pointer) or another type is ZX_ERR_INVALID_ARGS.
    """
    if isinstance(name, str):
        data = name.encode()
    elif name is None:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "name must not be NULL")
    else:
        data = arg_bytes(name)
    return data[: zx.ZX_MAX_NAME_LEN - 1].split(b"\0", 1)[0]


class Process(KernelObject):
    """A simulated process. `zx` is its syscall facade; `handles` its handle table."""

    obj_type = zx.ZX_OBJ_TYPE_PROCESS
    type_name = "process"
    default_rights = zx.ZX_DEFAULT_PROCESS_RIGHTS

    __slots__ = (
        "__weakref__",
        "break_on_load",
        "critical_to",
        "debug_addr",
        "debug_exceptionates",
        "exceptionate",
        "exit_code",
        "exit_reason",
        "exited",
        "exited_queue_time",
        "exited_runtime",
        "handles",
        "job",
        "job_handle",
        "parent_koid",
        "policy",
        "root_vmar",
        "root_vmar_handle",
        "self_handle",
        "start_time",
        "state",
        "suspend_count",
        "threads",
        "zx",
    )

    def __init__(self, kernel: Kernel, name: str | bytes, job: Job | None = None) -> None:
        super().__init__(kernel)
        self.name = clean_name(name)
        self.handles: dict[int, Handle] = {}
        self.threads: list[Thread] = []  # started, not yet dead threads, in start order
        self.state = INITIAL
        self.exited = False  # True once DEAD
        self.exit_code = 0
        # Why it ended, for the trace: exit, kill, exception, deadlock or shutdown.
        self.exit_reason = ""
        self.start_time = 0
        self.job = job
        self.parent_koid = 0
        self.root_vmar: Vmar | None = None
        self.self_handle = zx.ZX_HANDLE_INVALID
        self.root_vmar_handle = zx.ZX_HANDLE_INVALID
        self.job_handle = zx.ZX_HANDLE_INVALID
        self.exceptionate: Any = None
        self.debug_exceptionates: list[Any] = []  # the debugger channel (at most one)
        self.suspend_count = 0  # live suspend tokens on this process
        self.exited_runtime = 0  # CPU time of its threads that have exited
        self.exited_queue_time = 0
        self.critical_to: tuple[Job, int] | None = None
        self.debug_addr = 0  # ZX_PROP_PROCESS_DEBUG_ADDR
        self.break_on_load = 0  # ZX_PROP_PROCESS_BREAK_ON_LOAD
        # The job's basic policy when the process was created; None if it allows all.
        self.policy: tuple[tuple[int, int], ...] | None = None
        if job is not None and any(a != zx.ZX_POL_ACTION_ALLOW for a, _ in job.policy):
            self.policy = job.policy
        self.zx: SyscallFacade = kernel.syscalls.facade_class(self)

    @property
    def related_koid(self) -> int:
        return self.job.koid if self.job is not None else 0

    def runtimes(self) -> tuple[int, int]:
        """(cpu_time, queue_time) of all its threads, exited ones included."""
        cpu, queued = self.exited_runtime, self.exited_queue_time
        for t in self.threads:
            c, q = t.runtimes()
            cpu += c
            queued += q
        return cpu, queued

    @property
    def return_code(self) -> int:
        """The process's return code (meaningful once it is DYING or DEAD)."""
        return self.exit_code

    def __repr__(self) -> str:
        return f"<Process {self.name.decode(errors='replace')!r} koid={self.koid}>"

    def adopt_startup_handles(self, self_handle: int, root_vmar_handle: int, job_handle: int) -> None:
        """The process's runtime keeps these handles (to itself, its root VMAR, its job)
        for its whole life, as Fuchsia's processargs do: `zx_process_self` and friends
        return them, and their closing at exit is not a leak (the trace says which)."""
        self.self_handle, self.root_vmar_handle, self.job_handle = (
            self_handle, root_vmar_handle, job_handle)
        k = self.kernel
        if k.trace is not None:
            k.emit("startup_handles", self.koid, [self_handle, root_vmar_handle, job_handle])

    # ------------------------------------------------------------------ job policy
    def timer_slack(self) -> tuple[int, int]:
        """The job's ZX_JOB_POL_TIMER_SLACK policy: (minimum slack in ns, default mode)
        (Zircon's `ProcessDispatcher::GetTimerSlackPolicy`)."""
        job = self.job
        return job.timer_slack if job is not None else (0, zx.ZX_TIMER_SLACK_CENTER)

    def enforce_policy(self, condition: int) -> None:
        """Apply the job policy for `condition` (a ZX_POL_NEW_* ...) to a syscall of this
        process: returns to proceed; raises ZX_ERR_ACCESS_DENIED for DENY; raises
        ZX_EXCP_POLICY_ERROR first for the *_EXCEPTION actions; KILL kills the process
        (ZX_TASK_RETCODE_POLICY_KILL) and the call does not return. Syscalls creating
        objects call this before anything else, as Zircon's EnforceBasicPolicy."""
        policy = self.policy
        if policy is None:
            return
        action = policy[condition][0]
        if action == zx.ZX_POL_ACTION_ALLOW:
            return
        self._policy_action(action, condition)
        if action in (zx.ZX_POL_ACTION_DENY, zx.ZX_POL_ACTION_DENY_EXCEPTION):
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, f"denied by job policy (condition {condition})")

    def bad_handle(self) -> ZxError:
        """The error for a failed handle lookup, after applying ZX_POL_BAD_HANDLE (its
        status is BAD_HANDLE whatever the action; EXCEPTION actions raise
        ZX_EXCP_POLICY_ERROR first, KILL kills the process)."""
        policy = self.policy
        if policy is not None and policy[zx.ZX_POL_BAD_HANDLE][0] > zx.ZX_POL_ACTION_DENY:
            self._policy_action(policy[zx.ZX_POL_BAD_HANDLE][0], zx.ZX_POL_BAD_HANDLE)
        return ZxError(_BAD_HANDLE)

    def _policy_action(self, action: int, condition: int) -> None:
        k = self.kernel
        t = k.sched.current
        mine = t is not None and t.process is self and greenlet.getcurrent() is t.glet
        if action == zx.ZX_POL_ACTION_KILL:
            self.kill(zx.ZX_TASK_RETCODE_POLICY_KILL, "policy")
            if mine:
                raise ThreadExit
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the process was killed by its job policy")
        if action in (zx.ZX_POL_ACTION_ALLOW_EXCEPTION, zx.ZX_POL_ACTION_DENY_EXCEPTION):
            self.raise_policy_exception(condition)

    def raise_policy_exception(self, code: int) -> None:
        """Zircon's `Thread::Current::SignalPolicyException`: a ZX_EXCP_POLICY_ERROR with
        synth code `code` (a ZX_EXCP_POLICY_CODE_*) on the calling thread of this process.

        Its handlers see it as for any exception; if none handles it the process is killed
        and the thread unwinds (`ThreadExit`). A call made from plain Python, with no
        simulated thread of this process running, has no thread to raise it on: nothing
        happens (the syscall's own status stands).
        """
        k = self.kernel
        t = k.sched.current
        if t is None or t.process is not self or greenlet.getcurrent() is not t.glet:
            return
        disposition = k.raise_exception_hook(t, zx.ZX_EXCP_POLICY_ERROR, code)
        if disposition != zx.ZX_EXCEPTION_STATE_HANDLED:
            raise ThreadExit

    # ------------------------------------------------------------------ lifecycle
    def on_zero_handles(self) -> None:
        # Closing the last handle of a process that never started ends it (Zircon's
        # on_zero_handles); a running process lives on through its threads.
        if self.state == INITIAL:
            self.state = DYING
            self._finish_dead()

    def kill(self, code: int, reason: str = "kill") -> None:
        """Kill the process with return code `code` (the first cause wins).

        Its threads are told to die; it becomes DEAD when the last one is gone (at once if
        none was started). A simulated thread of this process calling this unwinds when
        its syscall returns (`ThreadExit`). `reason` is what the trace records (exit,
        kill, exception ...).
        """
        if self.state in (DYING, DEAD):
            return
        self.exit_code = code
        self.exit_reason = reason
        self.state = DYING
        k = self.kernel
        if k.trace is not None and reason != "exit":  # zx_process_exit is no kill
            k.emit("task_kill", self.koid, code)
        if not self.threads:
            self._finish_dead()
            return
        sched = k.sched
        for t in list(self.threads):
            sched.kill(t)
        sched.reap()

    def thread_exited(self, thread: Thread) -> None:
        """A started thread reached DEAD: unlist it; the last one ends the process."""
        if thread in self.threads:
            self.threads.remove(thread)
            self.exited_runtime += thread.runtime
            self.exited_queue_time += thread.queue_time
            if not self.threads:
                if self.state == RUNNING:
                    self.state = DYING
                self._finish_dead()
            self.release()

    def _finish_dead(self) -> None:
        if self.state == DEAD:
            return
        self.state = DEAD
        self.exited = True
        k = self.kernel
        saved = k.cur_pid
        k.cur_pid = self.koid
        k.pm.hook.process_exiting(kernel=k, process=self)
        exc = self.exceptionate
        if exc is not None:
            exc.shutdown()
        for dbg in self.debug_exceptionates:
            dbg.shutdown()
        root = self.root_vmar
        if root is not None:
            root.destroy_all()
            root.release()
        if not self.exit_reason:  # its last thread ended without a kill
            sched = k.sched
            self.exit_reason = "deadlock" if sched.deadlocked else "shutdown" if k.closed else "exit"
        # Handles still held now are closed by the exit, not by the program: leaks.
        k.exit_leaks[self.koid] = k.held_handles(self)
        for value in list(self.handles):
            h = self.take_handle(value, "process_exit")
            k.close_handle(h)
        if k.trace is not None:
            k.emit("process_exit", self.koid, self.exit_code, self.exit_reason)
        self.update_signals(0, zx.ZX_PROCESS_TERMINATED)
        self.zx.__class__ = ExitedFacade
        k.cur_pid = saved
        job = self.job
        if job is not None:
            job.remove_process(self)
        critical = self.critical_to
        if critical is not None:
            cjob, options = critical
            if options == 0 or self.exit_code != 0:
                cjob.kill(zx.ZX_TASK_RETCODE_CRITICAL_PROCESS_KILL)

    def info_flags(self) -> int:
        """ZX_INFO_PROCESS flags for the current state."""
        debugger = (zx.ZX_INFO_PROCESS_FLAG_DEBUGGER_ATTACHED
                    if any(d.bound() for d in self.debug_exceptionates) else 0)
        if self.state == INITIAL:
            return debugger
        if self.state == RUNNING:
            return zx.ZX_INFO_PROCESS_FLAG_STARTED | debugger
        return zx.ZX_INFO_PROCESS_FLAG_STARTED | zx.ZX_INFO_PROCESS_FLAG_EXITED | debugger

    # ------------------------------------------------------------------ handle table
    def add_handle(self, handle: Handle, reason: str = "create") -> int:
        """Put an existing `Handle` into this table (one arriving by transfer, or made
        by a replace); `new_handle` makes and enters a new one.

        The handle is already counted on its object, and the caller has reserved the
        table entry (`kernel.mem.alloc("handle")`).
        """
        kernel = self.kernel
        value = next(kernel.handle_values)
        handle.value = value
        handle.owner = self
        self.handles[value] = handle
        if kernel.handle_events:
            self.emit_handle_created(handle, reason)
        return value

    def new_handle(self, obj: KernelObject, rights: int, reason: str) -> int:
        """A new handle to `obj` with `rights`, counted on `obj` and put into this table.

        `add_handle` for a handle made here: one Python frame, as duplicate + close is the
        hottest pair of syscalls. The caller has reserved the table entry.
        """
        handle = _new_handle(Handle)
        handle.obj = obj
        handle.rights = rights
        handle.owner = self
        obj.handle_count += 1
        kernel = self.kernel
        handle.value = value = next(kernel.handle_values)
        self.handles[value] = handle
        if kernel.handle_events:
            trace = kernel.trace
            if trace is not None and kernel.obs_handle_created is None:
                # Traced, not observed (the common case): the row, inline.
                buf = trace.buffer
                buf.append(("handle_created", kernel.now, kernel.cur_sc, self.koid, kernel.cur_tid,
                            value, obj.koid, rights, reason))
                if len(buf) >= trace.batch:
                    trace.flush()
            else:
                self.emit_handle_created(handle, reason)
        return value

    def emit_handle_created(self, handle: Handle, reason: str) -> None:
        """Trace and observe a handle entering this table (only when someone listens)."""
        kernel = self.kernel
        trace = kernel.trace
        if trace is not None:
            trace.buffer.append(
                # pid: the process whose table the handle enters.
                ("handle_created", kernel.now, kernel.cur_sc, self.koid, kernel.cur_tid,
                 handle.value, handle.obj.koid, handle.rights, reason)
            )
            if len(trace.buffer) >= trace.batch:
                trace.flush()
        if kernel.obs_handle_created is not None:
            kernel.obs_handle_created(kernel=kernel, process=self, handle=handle, reason=reason)

    def take_handle(self, value: Any, reason: str) -> Handle:
        """Remove a handle from the table without closing it (transfer, replace).

        Waits and observers through it are cancelled, as Zircon does when a handle
        leaves a table. Raises ZX_ERR_BAD_HANDLE if the value is not in this table.
        """
        if type(value) is not int:
            raise self.bad_handle()
        handle = self.handles.pop(value, None)
        if handle is None:
            raise self.bad_handle()
        handle.owner = None
        if self.kernel.handle_events:
            self.emit_handle_closed(handle, value, reason)
        if handle.obj.observers:
            handle.obj.cancel_observers(handle)
        return handle

    def emit_handle_closed(self, handle: Handle, value: int, reason: str) -> None:
        """Trace and observe a handle leaving this table (only when someone listens)."""
        kernel = self.kernel
        trace = kernel.trace
        if trace is not None:
            trace.buffer.append(
                ("handle_closed", kernel.now, kernel.cur_sc, self.koid, kernel.cur_tid,
                 value, handle.obj.koid, reason)
            )
            if len(trace.buffer) >= trace.batch:
                trace.flush()
        if kernel.obs_handle_closed is not None:
            kernel.obs_handle_closed(kernel=kernel, process=self, handle=handle, reason=reason)

    def handle(self, value: Any) -> Handle:
        """The handle named `value` in this process; ZX_ERR_BAD_HANDLE otherwise."""
        if type(value) is int:
            h = self.handles.get(value)
            if h is not None:
                return h
        raise self.bad_handle()

    def lookup(self, value: Any, cls: type[KernelObject] | None, rights: int) -> Handle:
        """Zircon's GetDispatcherWithRights: BAD_HANDLE, then WRONG_TYPE, then ACCESS_DENIED.

        `cls` is the object class required (None: any type); `rights` the rights the
        handle must all have.
        """
        if type(value) is int:
            h = self.handles.get(value)
            if h is not None:
                if cls is not None and not isinstance(h.obj, cls):
                    raise ZxError(zx.ZX_ERR_WRONG_TYPE)
                if h.rights & rights != rights:
                    raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
                return h
        raise self.bad_handle()

    def obj(self, value: Any, cls: type[KernelObject] | None = None, rights: int = 0) -> Any:
        """Like `lookup` but returns the object."""
        return self.lookup(value, cls, rights).obj

    # ------------------------------------------------------------------ memory
    def read_memory(self, addr: int, length: int) -> bytes:
        """Read simulated userspace memory through this process's mappings.

        A fault (an unmapped address, a missing read permission, an access past the end
        of the mapped object) by a thread of this process raises ZX_EXCP_FATAL_PAGE_FAULT
        (the access is retried if a handler answers HANDLED; otherwise the thread ends).
        Called from outside the process's threads, a fault raises `MemoryFault`.
        """
        while True:
            try:
                return vmar.read_memory(self, addr, length)
            except MemoryFault as fault:
                self._fault(fault)

    def write_memory(self, addr: int, data: bytes) -> None:
        """Write simulated userspace memory through this process's mappings (see
        `read_memory` for faults)."""
        while True:
            try:
                vmar.write_memory(self, addr, data)
                return
            except MemoryFault as fault:
                self._fault(fault)

    def _fault(self, fault: MemoryFault) -> None:
        k = self.kernel
        t = k.sched.current
        if t is None or t.process is not self or greenlet.getcurrent() is not t.glet:
            raise fault
        k.fault_hook(t, fault)

    def describe(self) -> dict[str, Any]:
        return {"handles": len(self.handles), "exited": self.exited}


def info_process_maps(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_PROCESS_MAPS: the aspace, the root VMAR and everything below, pre-order."""
    proc: Process = h.obj
    if proc.exited or proc.root_vmar is None:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the process has exited")
    root = proc.root_vmar
    records = [zx.zx_info_maps_t(name=b"aspace", base=root.base, size=root.size, depth=0,
                                 type=zx.ZX_INFO_MAPS_TYPE_ASPACE)]
    records += vmar.maps_records(root, 1)
    return InfoList.clip(records, zx.zx_info_maps_t.SIZE, buffer_size)


def _fixed(cls: Any, buffer_size: int | None) -> None:
    if buffer_size is not None and buffer_size < cls.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)


def info_process(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_PROCESS: return code, start time and STARTED / EXITED flags."""
    _fixed(zx.zx_info_process_t, buffer_size)
    proc: Process = h.obj
    flags = proc.info_flags()
    return zx.zx_info_process_t(
        return_code=proc.exit_code if flags & zx.ZX_INFO_PROCESS_FLAG_EXITED else 0,
        start_time=proc.start_time, flags=flags,
    )


def info_process_v1(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_PROCESS_V1 (topic 3): the older record with `started` / `exited` bools."""
    _fixed(zx.zx_info_process_v1_t, buffer_size)
    proc: Process = h.obj
    flags = proc.info_flags()
    exited = bool(flags & zx.ZX_INFO_PROCESS_FLAG_EXITED)
    return zx.zx_info_process_v1_t(
        return_code=proc.exit_code if exited else 0,
        started=bool(flags & zx.ZX_INFO_PROCESS_FLAG_STARTED), exited=exited,
        debugger_attached=bool(flags & zx.ZX_INFO_PROCESS_FLAG_DEBUGGER_ATTACHED),
    )


def info_process_threads(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_PROCESS_THREADS: koids of the started, not yet dead threads, in start order."""
    return InfoList.clip([t.koid for t in h.obj.threads], 8, buffer_size)


def info_task_stats(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_TASK_STATS (processes only): mapped and committed bytes; DEAD: BAD_STATE."""
    proc: Process = h.obj
    if proc.state == DEAD or proc.root_vmar is None:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the process is dead")
    _fixed(zx.zx_info_task_stats_t, buffer_size)
    mapped = private = 0
    for _, node in proc.root_vmar.walk(0):
        if isinstance(node, vmar.Mapping):
            mapped += node.size
            private += node.obj.committed_pages(node.offset, node.size) * vmar.PAGE
    return zx.zx_info_task_stats_t(mem_mapped_bytes=mapped, mem_private_bytes=private)


def info_process_handle_stats(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_PROCESS_HANDLE_STATS: how many handles of each object type it holds."""
    _fixed(zx.zx_info_process_handle_stats_t, buffer_size)
    stats = zx.zx_info_process_handle_stats_t()
    for handle in h.obj.handles.values():
        stats.handle_count[handle.obj.obj_type % zx.ZX_OBJ_TYPE_UPPER_BOUND] += 1
    return stats


def info_handle_table(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_HANDLE_TABLE: every handle the process holds, with the koid of the
    process holding a handle to the object's peer (0 if none)."""
    proc: Process = h.obj
    owners: dict[int, int] = {}
    records = []
    for value, handle in proc.handles.items():
        obj = handle.obj
        peer = getattr(obj, "peer", None)
        peer_owner = 0
        if peer is not None:
            if not owners:
                for other in p.kernel.processes:
                    for oh in other.handles.values():
                        owners.setdefault(oh.obj.koid, other.koid)
            peer_owner = owners.get(peer.koid, 0)
        records.append(zx.zx_info_handle_extended_t(
            type=obj.obj_type, handle_value=value, rights=handle.rights, koid=obj.koid,
            related_koid=obj.related_koid, peer_owner_koid=peer_owner,
        ))
    return InfoList.clip(records, zx.zx_info_handle_extended_t.SIZE, buffer_size)


# --------------------------------------------------------------------------- properties
def _u64_property(attr: str, writable: bool = True) -> tuple[Any, Any]:
    def get(p: Process, h: Handle, value_size: int | None) -> int:
        if value_size is not None and value_size < 8:
            raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
        if not isinstance(h.obj, Process):
            raise ZxError(zx.ZX_ERR_WRONG_TYPE)
        return getattr(h.obj, attr) if attr else 0  # type: ignore[no-any-return]

    def set_(p: Process, h: Handle, value: Any) -> None:
        if not writable:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "a read-only property")
        if not isinstance(h.obj, Process):
            raise ZxError(zx.ZX_ERR_WRONG_TYPE)
        setattr(h.obj, attr, arg_u64(value))

    get.__doc__ = set_.__doc__ = f"A u64 process property ({attr or 'vDSO base: 0'})."
    return get, set_


PROPERTIES: list[tuple[int, str, Any, Any]] = [
    (zx.ZX_PROP_PROCESS_DEBUG_ADDR, "ZX_PROP_PROCESS_DEBUG_ADDR", *_u64_property("debug_addr")),
    (zx.ZX_PROP_PROCESS_BREAK_ON_LOAD, "ZX_PROP_PROCESS_BREAK_ON_LOAD",
     *_u64_property("break_on_load")),
    (zx.ZX_PROP_PROCESS_VDSO_BASE_ADDRESS, "ZX_PROP_PROCESS_VDSO_BASE_ADDRESS",
     *_u64_property("", writable=False)),
]


# --------------------------------------------------------------------------- syscalls
def sys_process_self(p: Process) -> int:
    """zx_process_self: the process's startup handle to itself."""
    return p.self_handle


def sys_vmar_root_self(p: Process) -> int:
    """zx_vmar_root_self: the process's startup handle to its root VMAR."""
    return p.root_vmar_handle


def sys_job_default(p: Process) -> int:
    """zx_job_default: the process's startup handle to its job (ZX_HANDLE_INVALID if it
    was given none)."""
    return p.job_handle


def sys_process_create(p: Process, job: int, name: Any, options: int) -> tuple[int, int]:
    """zx_process_create: a new process in `job`; returns (process handle, root VMAR handle).

    Checks in Zircon's order: options (0 or ZX_PROCESS_SHARED, which microsim does not
    implement: INVALID_ARGS too), the name (bytes or str; None is INVALID_ARGS; kept up to
    31 bytes and the first NUL), the job handle (ZX_RIGHT_MANAGE_PROCESS), the job's state
    (BAD_STATE once it is being killed). The process is INITIAL with an empty handle table.
    """
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    p.enforce_policy(zx.ZX_POL_NEW_PROCESS)
    clean = clean_name(name)
    parent: Job = p.obj(job, Job, zx.ZX_RIGHT_MANAGE_PROCESS)
    if parent.state != READY:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the job is being killed")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("handle")
        k.mem.alloc("object")
    proc = k.create_process(clean, parent=p, job=parent, startup_handles=False)
    root = proc.root_vmar
    assert root is not None
    ph = k.new_handle(p, proc, Process.default_rights, reserved=True)
    vh = k.new_handle(p, root, root.default_handle_rights(), reserved=True)
    return ph, vh


def lookup_thread(p: Process, value: Any, rights: int) -> Handle:
    """Look up a thread handle (BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED, in that order)."""
    h = p.lookup(value, None, 0)
    if h.obj.obj_type != zx.ZX_OBJ_TYPE_THREAD:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if h.rights & rights != rights:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    return h


def check_entry(entry: Any) -> Any:
    """An entry point: a Python callable, or an int user address (which faults at once:
    there is no code there). Kernel addresses and other types are INVALID_ARGS."""
    if callable(entry):
        return entry
    if type(entry) is int and 0 <= entry < USER_ASPACE_BASE + USER_ASPACE_SIZE:
        return entry
    raise ZxError(zx.ZX_ERR_INVALID_ARGS, "entry must be a callable or a user address")


def sys_process_start(
    p: Process, process: int, thread: int, entry: Any, stack: int, arg1: int, arg2: Any
) -> None:
    """zx_process_start: start `process` with its first thread running `entry(arg1, arg2)`.

    `arg1` is a handle MOVED into the new process (its value there is what the entry gets;
    it is closed on every failure after the lookups); `arg2` may be any Python object (it
    stands for a pointer to start-up data). `entry` is a Python callable (microsim's
    divergence from Zircon's code addresses). Errors in Zircon's order: process lookup
    (WRITE), thread lookup (WRITE), thread of another process ACCESS_DENIED, arg1 without
    TRANSFER ACCESS_DENIED, process already started or dead BAD_STATE, bad entry
    INVALID_ARGS, thread already started BAD_STATE. An invalid arg1 is not an error: the
    process starts with arg1 = 0.
    """
    k = p.kernel
    moved: Handle | None = None

    def drop() -> None:
        if moved is not None:
            k.close_handle(moved)

    try:
        ph = p.lookup(process, Process, zx.ZX_RIGHT_WRITE)
        th = lookup_thread(p, thread, zx.ZX_RIGHT_WRITE)
        arg_u64(stack)
    except ZxError:
        if type(arg1) is int and arg1 in p.handles:
            k.close_handle(p.take_handle(arg1, "close"))
        raise
    if type(arg1) is int and arg1 in p.handles:
        moved = p.take_handle(arg1, "transfer")
    target: Process = ph.obj
    t: Thread = th.obj
    try:
        if t.process is not target:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the thread belongs to another process")
        if moved is not None and not moved.rights & zx.ZX_RIGHT_TRANSFER:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "arg1 lacks ZX_RIGHT_TRANSFER")
        if target.threads or target.state != INITIAL:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the process has already started")
        check_entry(entry)
        if t.started or t.dead:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread has already started")
    except ZxError:
        drop()
        raise
    value = target.add_handle(moved, "transfer") if moved is not None else zx.ZX_HANDLE_INVALID
    t.start(entry, (value, arg2))
    return None


def sys_process_exit(p: Process, retcode: int) -> None:
    """zx_process_exit: end the calling process with `retcode` (does not return to a
    thread of it). The first return code wins if the process is already dying."""
    code = arg_i64(retcode)
    k = p.kernel
    p.kill(code, "exit")
    cur = k.sched.current
    if cur is not None and cur.process is p:
        raise ThreadExit
    return None


def _mapping_span(proc: Process, vaddr: int, size: int) -> tuple[Any, int, int]:
    root = proc.root_vmar
    if proc.state == DEAD or root is None:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the process has no address space")
    m = root.find_mapping(vaddr)
    if m is None:
        raise ZxError(zx.ZX_ERR_NOT_FOUND, f"no mapping at {vaddr:#x}")
    off = m.offset + (vaddr - m.base)
    n = min(size, m.end - vaddr, m.obj.mappable_size() - off)
    if n <= 0:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "the mapping extends past its object")
    return m, off, n


def _memory_size(size: Any) -> int:
    if type(size) is not int or size <= 0 or size > zx.ZX_PROCESS_MEMORY_MAX:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "buffer_size must be 1..64 MiB")
    return size


def sys_process_read_memory(p: Process, process: int, vaddr: int, buffer_size: int) -> bytes:
    """zx_process_read_memory: read another process's memory (READ and WRITE rights).

    Returns the bytes read: fewer than `buffer_size` (a partial read, ZX_OK) when the
    mapping at `vaddr` ends first. Unmapped `vaddr`: NOT_FOUND. Mapping permissions are
    not checked, as for a debugger in Zircon.
    """
    size = _memory_size(buffer_size)
    ph = p.lookup(process, Process, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    addr = arg_size(vaddr)
    m, off, n = _mapping_span(ph.obj, addr, size)
    return bytes(m.obj.read_bytes(off, n))


def sys_process_write_memory(p: Process, process: int, vaddr: int, buffer: Any) -> int:
    """zx_process_write_memory: write another process's memory (WRITE right); returns
    `actual`, which may be short of len(buffer) when the mapping ends first.

    NOT_SUPPORTED unless the kernel was made with `debugging_syscalls=True` (Zircon's
    `kernel.enable-debugging-syscalls` boot option, off by default).
    """
    if not p.kernel.debugging_syscalls:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "debugging syscalls are disabled")
    data = arg_bytes(buffer) if buffer is not None else None
    if data is None:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "buffer must not be NULL")
    _memory_size(len(data))
    ph = p.lookup(process, Process, zx.ZX_RIGHT_WRITE)
    addr = arg_size(vaddr)
    m, off, n = _mapping_span(ph.obj, addr, len(data))
    m.obj.write_bytes(off, data[:n])
    return n


SYSCALLS: dict[str, Any] = {
    "zx_process_self": sys_process_self,
    "zx_vmar_root_self": sys_vmar_root_self,
    "zx_job_default": sys_job_default,
    "zx_process_create": sys_process_create,
    "zx_process_start": sys_process_start,
    "zx_process_exit": sys_process_exit,
    "zx_process_read_memory": sys_process_read_memory,
    "zx_process_write_memory": sys_process_write_memory,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = [
    (zx.ZX_INFO_PROCESS_MAPS, info_process_maps, "ZX_INFO_PROCESS_MAPS", Process,
     zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_PROCESS, info_process, "ZX_INFO_PROCESS", Process, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_PROCESS_V1, info_process_v1, "ZX_INFO_PROCESS_V1", Process, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_PROCESS_THREADS, info_process_threads, "ZX_INFO_PROCESS_THREADS", Process,
     zx.ZX_RIGHT_ENUMERATE),
    (zx.ZX_INFO_TASK_STATS, info_task_stats, "ZX_INFO_TASK_STATS", Process, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_PROCESS_HANDLE_STATS, info_process_handle_stats, "ZX_INFO_PROCESS_HANDLE_STATS",
     Process, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_HANDLE_TABLE, info_handle_table, "ZX_INFO_HANDLE_TABLE", Process,
     zx.ZX_RIGHT_INSPECT | zx.ZX_RIGHT_MANAGE_PROCESS | zx.ZX_RIGHT_MANAGE_THREAD),
]
