"""Jobs: the tree every process lives in, its signals, info topics and zx_job_create.

A job is READY until killed, then KILLING until its last child is gone, then DEAD
(Zircon's `JobDispatcher`). Children reference their parent (a kernel reference); the
parent's lists do not keep a child alive. A READY job with no handles and no children
leaves its parent's list at once (`JobTest.CloseJobRemovesFromTree`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.info import InfoList
from microsim.core.object import KernelObject
from microsim.core.syscall import arg_u32
from microsim.errors import ZxError

if TYPE_CHECKING:
    from microsim.kernel import Kernel
    from microsim.objects.process import Process

_NO_ALL = zx.ZX_JOB_NO_JOBS | zx.ZX_JOB_NO_PROCESSES | zx.ZX_JOB_NO_CHILDREN

# A job's basic policy: (action, override) per condition. The root job allows everything.
Policy = tuple[tuple[int, int], ...]
DEFAULT_POLICY: Policy = ((zx.ZX_POL_ACTION_ALLOW, zx.ZX_POL_OVERRIDE_ALLOW),) * zx.ZX_POL_MAX
NEW_CONDITIONS = tuple(c for c in range(zx.ZX_POL_NEW_VMO, zx.ZX_POL_MAX)
                       if c != zx.ZX_POL_AMBIENT_MARK_VMO_EXEC)

READY = "ready"
KILLING = "killing"
DEAD = "dead"


class Job(KernelObject):
    """A job: child jobs and processes, a return code once killed."""

    obj_type = zx.ZX_OBJ_TYPE_JOB
    type_name = "job"
    default_rights = zx.ZX_DEFAULT_JOB_RIGHTS

    __slots__ = (
        "debug_exceptionates",
        "exceptionate",
        "exited_queue_time",
        "exited_runtime",
        "height",
        "jobs",
        "kill_on_oom",
        "listed",
        "parent",
        "policy",
        "processes",
        "return_code",
        "state",
        "timer_slack",
    )

    def __init__(self, kernel: Kernel, parent: Job | None, height: int) -> None:
        super().__init__(kernel)
        self.parent = parent
        self.height = height
        self.jobs: list[Job] = []
        self.processes: list[Process] = []
        self.state = READY
        self.return_code = 0
        self.listed = False
        self.kill_on_oom = False
        self.exceptionate: Any = None
        self.debug_exceptionates: list[Any] = []  # job debugger channels, in bind order
        self.exited_runtime = 0  # CPU time of its processes that have exited
        self.exited_queue_time = 0
        self.signals = _NO_ALL
        self.policy: Policy = parent.policy if parent is not None else DEFAULT_POLICY
        self.timer_slack: tuple[int, int] = (
            parent.timer_slack if parent is not None else (0, zx.ZX_TIMER_SLACK_CENTER)
        )

    @property
    def related_koid(self) -> int:
        return self.parent.koid if self.parent is not None else 0

    def __repr__(self) -> str:
        return f"<Job {self.name.decode(errors='replace')!r} koid={self.koid}>"

    # ------------------------------------------------------------------ tree
    def update_child_signals(self) -> None:
        """Recompute NO_JOBS / NO_PROCESSES / NO_CHILDREN from the child lists."""
        bits = 0
        if not self.jobs:
            bits |= zx.ZX_JOB_NO_JOBS
        if not self.processes:
            bits |= zx.ZX_JOB_NO_PROCESSES
        if not self.jobs and not self.processes:
            bits |= zx.ZX_JOB_NO_CHILDREN
        self.update_signals(_NO_ALL & ~bits, bits)

    def add_job(self, child: Job) -> None:
        """Append a new child job (the child references this job)."""
        self.jobs.append(child)
        child.listed = True
        self.retain()
        self.update_child_signals()

    def add_process(self, proc: Process) -> None:
        """Append a new process (it references this job until it is DEAD)."""
        self.processes.append(proc)
        self.retain()
        self.update_child_signals()

    def remove_process(self, proc: Process) -> None:
        """A child process became DEAD: unlist it; maybe finish a pending kill."""
        if proc in self.processes:
            self.processes.remove(proc)
            cpu, queued = proc.runtimes()
            self.exited_runtime += cpu
            self.exited_queue_time += queued
            self.update_child_signals()
            self._child_gone()
            self.release()

    def _remove_job(self, child: Job) -> None:
        if child.listed:
            child.listed = False
            self.jobs.remove(child)
            self.update_child_signals()
            self._child_gone()
            self.release()

    def _child_gone(self) -> None:
        if self.jobs or self.processes:
            return
        if self.state == KILLING:
            self._finish_dead()
        elif self.handle_count == 0 and self.parent is not None and self.listed:
            self.parent._remove_job(self)

    def on_zero_handles(self) -> None:
        if self.state == READY and not self.jobs and not self.processes and self.parent is not None:
            self.parent._remove_job(self)

    def on_destroy(self) -> None:
        if self.exceptionate is not None:
            self.exceptionate.shutdown()
        for dbg in self.debug_exceptionates:
            dbg.shutdown()
        if self.parent is not None and self.listed:
            self.parent._remove_job(self)

    # ------------------------------------------------------------------ killing
    def kill(self, code: int) -> None:
        """Kill this job and every descendant (child jobs first); no-op unless READY."""
        if self.state != READY:
            return
        self.return_code = code
        self.state = KILLING
        kernel = self.kernel
        if kernel.trace is not None:
            kernel.emit("task_kill", self.koid, code)
        for child in list(self.jobs):
            child.kill(code)
        for proc in list(self.processes):
            proc.kill(code)
        if not self.jobs and not self.processes and self.state == KILLING:
            self._finish_dead()

    def _finish_dead(self) -> None:
        self.state = DEAD
        exc = self.exceptionate
        if exc is not None:
            exc.shutdown()
        for dbg in self.debug_exceptionates:
            dbg.shutdown()
        self.update_signals(0, zx.ZX_JOB_TERMINATED)
        if self.parent is not None:
            self.parent._remove_job(self)

    def runtimes(self) -> tuple[int, int]:
        """(cpu_time, queue_time) of its processes, exited ones included, not of child jobs."""
        cpu, queued = self.exited_runtime, self.exited_queue_time
        for proc in self.processes:
            c, q = proc.runtimes()
            cpu += c
            queued += q
        return cpu, queued

    def is_ancestor_of(self, job: Job | None) -> bool:
        """Whether `job` is this job or one of its descendants."""
        while job is not None:
            if job is self:
                return True
            job = job.parent
        return False

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "jobs": len(self.jobs), "processes": len(self.processes)}


def create_root_job(kernel: Kernel) -> Job:
    """The root job, named "root", created when the kernel starts (never destroyed)."""
    job = Job(kernel, None, zx.ZX_MAX_JOB_HEIGHT)
    job.name = b"root"
    job.retain()  # the kernel's own reference
    kernel.publish(job)
    return job


# --------------------------------------------------------------------------- syscalls
def sys_job_create(p: Process, parent_job: int, options: int) -> int:
    """zx_job_create: a child job (ZX_RIGHT_MANAGE_JOB on the parent); returns its handle.

    Errors in Zircon's order: options != 0 INVALID_ARGS; parent lookup; height exhausted
    OUT_OF_RANGE; parent not READY BAD_STATE. The child starts with signals NO_JOBS |
    NO_PROCESSES | NO_CHILDREN.
    """
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    parent: Job = p.obj(parent_job, Job, zx.ZX_RIGHT_MANAGE_JOB)
    if parent.height == 0:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "maximum job depth reached")
    if parent.state != READY:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the parent job is being killed")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("object")
    child = Job(k, parent, parent.height - 1)
    k.publish(child, p.koid)
    parent.add_job(child)
    return k.new_handle(p, child, Job.default_rights, reserved=True)


def _policy_entries(topic: int, policy: Any) -> list[tuple[int, int, int]]:
    """(condition, action, flags) per entry; anything malformed is INVALID_ARGS."""
    if not isinstance(policy, (list, tuple)):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "policy must be a list of entries")
    if not policy or len(policy) > zx.ZX_JOB_POL_MAX_COUNT:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "1..32 policy entries")
    out = []
    for e in policy:
        if topic == zx.ZX_JOB_POL_BASIC_V1:
            if isinstance(e, zx.zx_policy_basic_v1_t):
                e = (e.condition, e.policy)
            if not (isinstance(e, (tuple, list)) and len(e) == 2):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "a V1 entry is (condition, policy)")
            cond, action, flags = arg_u32(e[0]), arg_u32(e[1]), zx.ZX_POL_OVERRIDE_DENY
        else:
            if isinstance(e, zx.zx_policy_basic_v2_t):
                e = (e.condition, e.action, e.flags)
            if not (isinstance(e, (tuple, list)) and len(e) == 3):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "a V2 entry is (condition, action, flags)")
            cond, action, flags = arg_u32(e[0]), arg_u32(e[1]), arg_u32(e[2])
        out.append((cond, action, flags))
    return out


def _merge(table: list[tuple[int, int]], cond: int, action: int, flags: int, absolute: bool) -> None:
    cur_action, cur_override = table[cond]
    if cur_override == zx.ZX_POL_OVERRIDE_ALLOW:
        table[cond] = (action, flags)
    elif cur_action == action and flags == zx.ZX_POL_OVERRIDE_DENY:
        pass
    elif absolute:
        raise ZxError(zx.ZX_ERR_ALREADY_EXISTS, f"policy condition {cond} cannot be overridden")


def sys_job_set_policy(p: Process, handle: int, options: int, topic: int, policy: Any) -> None:
    """zx_job_set_policy: restrict what processes created in an empty job may do.

    `policy` is a list of `zx_policy_basic_v1_t` / `zx_policy_basic_v2_t` entries (or
    tuples (condition, policy) / (condition, action, flags)), or for
    ZX_JOB_POL_TIMER_SLACK one `zx_policy_timer_slack_t` in a list. Checks in Zircon's
    order: topic, options, the entries (1..32), the handle (ZX_RIGHT_SET_POLICY), a job
    with children (BAD_STATE), more entries than conditions (OUT_OF_RANGE), then per
    entry: action (NOT_SUPPORTED), flags and condition (INVALID_ARGS), and the merge with
    the current policy (ABSOLUTE: ALREADY_EXISTS where a non-overridable entry differs).
    ZX_POL_NEW_ANY stands for every ZX_POL_NEW_* condition; later specific entries win.
    All or nothing.
    """
    topic = arg_u32(topic)
    options = arg_u32(options)
    if topic == zx.ZX_JOB_POL_TIMER_SLACK:
        if options != zx.ZX_JOB_POL_RELATIVE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "timer slack takes ZX_JOB_POL_RELATIVE")
        if not isinstance(policy, (list, tuple)) or len(policy) != 1:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "timer slack takes one entry")
        entry = policy[0]
        if isinstance(entry, zx.zx_policy_timer_slack_t):
            entry = (entry.min_slack, entry.default_mode)
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2
                and all(type(v) is int for v in entry)):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "a timer slack entry is (min_slack, mode)")
        job: Job = p.obj(handle, Job, zx.ZX_RIGHT_SET_POLICY)
        if job.jobs or job.processes:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the job has children")
        slack, mode = entry
        if slack < 0 or mode not in (zx.ZX_TIMER_SLACK_CENTER, zx.ZX_TIMER_SLACK_EARLY,
                                     zx.ZX_TIMER_SLACK_LATE):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "bad timer slack")
        job.timer_slack = (max(job.timer_slack[0], slack), mode)
        return None
    if topic not in (zx.ZX_JOB_POL_BASIC_V1, zx.ZX_JOB_POL_BASIC_V2):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown policy topic {topic:#x}")
    if options not in (zx.ZX_JOB_POL_RELATIVE, zx.ZX_JOB_POL_ABSOLUTE):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be RELATIVE or ABSOLUTE")
    entries = _policy_entries(topic, policy)
    job = p.obj(handle, Job, zx.ZX_RIGHT_SET_POLICY)
    if job.jobs or job.processes:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the job has children")
    if len(entries) > zx.ZX_POL_MAX:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "more entries than conditions")
    absolute = options == zx.ZX_JOB_POL_ABSOLUTE
    table = list(job.policy)
    any_entry: tuple[int, int] | None = None
    from_any: set[int] = set()
    for cond, action, flags in entries:
        if action >= zx.ZX_POL_ACTION_KILL + 1:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, f"unknown policy action {action}")
        if flags not in (zx.ZX_POL_OVERRIDE_ALLOW, zx.ZX_POL_OVERRIDE_DENY):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown policy flags {flags}")
        if cond >= zx.ZX_POL_MAX:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown policy condition {cond}")
        if cond == zx.ZX_POL_NEW_ANY:
            for c in NEW_CONDITIONS:
                _merge(table, c, action, zx.ZX_POL_OVERRIDE_ALLOW, absolute)
                if table[c] == (action, zx.ZX_POL_OVERRIDE_ALLOW):
                    from_any.add(c)
            any_entry = (action, flags)
        else:
            _merge(table, cond, action, flags, absolute)
            from_any.discard(cond)
    if any_entry is not None:
        action, flags = any_entry
        for c in from_any:
            if table[c] == (action, zx.ZX_POL_OVERRIDE_ALLOW):
                table[c] = (action, flags)
    job.policy = tuple(table)
    return None


def sys_job_set_critical(p: Process, job: int, options: int, process: int) -> None:
    """zx_job_set_critical: kill `job` (ZX_TASK_RETCODE_CRITICAL_PROCESS_KILL) when
    `process` dies (with ZX_JOB_CRITICAL_PROCESS_RETCODE_NONZERO: only if its return code
    is not 0). `job` must be the process's job or an ancestor (else INVALID_ARGS); a
    process is critical to one job at most (ALREADY_BOUND)."""
    options = arg_u32(options)
    if options not in (0, zx.ZX_JOB_CRITICAL_PROCESS_RETCODE_NONZERO):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown options")
    j: Job = p.obj(job, Job, zx.ZX_RIGHT_DESTROY)
    h = p.lookup(process, None, 0)
    proc = h.obj
    if proc.obj_type != zx.ZX_OBJ_TYPE_PROCESS:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if not h.rights & zx.ZX_RIGHT_WAIT:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    if proc.critical_to is not None:
        raise ZxError(zx.ZX_ERR_ALREADY_BOUND, "the process is already critical to a job")
    if not j.is_ancestor_of(proc.job):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "the job is not the process's job or an ancestor")
    proc.critical_to = (j, options)
    return None


def _koids(items: list[Any], buffer_size: int | None) -> InfoList:
    return InfoList.clip([o.koid for o in items], 8, buffer_size)


def info_job(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_JOB: return code, exited (KILLING or DEAD), kill_on_oom, debugger."""
    if buffer_size is not None and buffer_size < zx.zx_info_job_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    job: Job = h.obj
    return zx.zx_info_job_t(return_code=job.return_code, exited=job.state != READY,
                            kill_on_oom=job.kill_on_oom,
                            debugger_attached=any(d.bound() for d in job.debug_exceptionates))


def info_job_children(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_JOB_CHILDREN: koids of the direct child jobs, in creation order."""
    return _koids(h.obj.jobs, buffer_size)


def info_job_processes(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_JOB_PROCESSES: koids of the direct child processes, in creation order."""
    return _koids(h.obj.processes, buffer_size)


def set_kill_on_oom(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_JOB_KILL_ON_OOM set: 0 or 1 (else INVALID_ARGS); not readable."""
    if not isinstance(h.obj, Job):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if type(value) is not int or value not in (0, 1):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "kill_on_oom is 0 or 1")
    h.obj.kill_on_oom = bool(value)


def get_kill_on_oom(p: Process, h: Handle, value_size: int | None) -> None:
    """ZX_PROP_JOB_KILL_ON_OOM get: NOT_SUPPORTED (write-only, as in Zircon)."""
    raise ZxError(zx.ZX_ERR_NOT_SUPPORTED)


PROPERTIES: list[tuple[int, str, Any, Any]] = [
    (zx.ZX_PROP_JOB_KILL_ON_OOM, "ZX_PROP_JOB_KILL_ON_OOM", get_kill_on_oom, set_kill_on_oom),
]

SYSCALLS: dict[str, Any] = {
    "zx_job_create": sys_job_create,
    "zx_job_set_policy": sys_job_set_policy,
    "zx_job_set_critical": sys_job_set_critical,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = [
    (zx.ZX_INFO_JOB, info_job, "ZX_INFO_JOB", Job, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_JOB_CHILDREN, info_job_children, "ZX_INFO_JOB_CHILDREN", Job, zx.ZX_RIGHT_ENUMERATE),
    (zx.ZX_INFO_JOB_PROCESSES, info_job_processes, "ZX_INFO_JOB_PROCESSES", Job,
     zx.ZX_RIGHT_ENUMERATE),
]
