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

READY = "ready"
KILLING = "killing"
DEAD = "dead"


class Job(KernelObject):
    """A job: child jobs and processes, a return code once killed."""

    obj_type = zx.ZX_OBJ_TYPE_JOB
    type_name = "job"
    default_rights = zx.ZX_DEFAULT_JOB_RIGHTS

    __slots__ = (
        "exceptionate",
        "height",
        "jobs",
        "listed",
        "parent",
        "processes",
        "return_code",
        "state",
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
        self.exceptionate: Any = None
        self.signals = _NO_ALL

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
        self.update_signals(0, zx.ZX_JOB_TERMINATED)
        if self.parent is not None:
            self.parent._remove_job(self)

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


def _koids(items: list[Any], buffer_size: int | None) -> InfoList:
    return InfoList.clip([o.koid for o in items], 8, buffer_size)


def info_job(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_JOB: return code, exited (KILLING or DEAD), kill_on_oom, debugger."""
    if buffer_size is not None and buffer_size < zx.zx_info_job_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    job: Job = h.obj
    return zx.zx_info_job_t(return_code=job.return_code, exited=job.state != READY)


def info_job_children(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_JOB_CHILDREN: koids of the direct child jobs, in creation order."""
    return _koids(h.obj.jobs, buffer_size)


def info_job_processes(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_JOB_PROCESSES: koids of the direct child processes, in creation order."""
    return _koids(h.obj.processes, buffer_size)


SYSCALLS: dict[str, Any] = {
    "zx_job_create": sys_job_create,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = [
    (zx.ZX_INFO_JOB, info_job, "ZX_INFO_JOB", Job, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_JOB_CHILDREN, info_job_children, "ZX_INFO_JOB_CHILDREN", Job, zx.ZX_RIGHT_ENUMERATE),
    (zx.ZX_INFO_JOB_PROCESSES, info_job_processes, "ZX_INFO_JOB_PROCESSES", Job,
     zx.ZX_RIGHT_ENUMERATE),
]
