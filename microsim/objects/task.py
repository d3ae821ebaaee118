"""The syscalls every task type (job, process, thread) shares: zx_task_kill and
zx_object_get_child."""

from __future__ import annotations

from typing import Any

from microsim import zx
from microsim.core.sched import ThreadExit
from microsim.core.syscall import arg_u32, arg_u64
from microsim.errors import ZxError
from microsim.objects.job import Job
from microsim.objects.process import DEAD, Process
from microsim.objects.thread import Thread


def sys_task_kill(p: Process, handle: int) -> None:
    """zx_task_kill: kill a job (and everything below it) or a process, with return code
    ZX_TASK_RETCODE_SYSCALL_KILL.

    The rights check (ZX_RIGHT_DESTROY) comes before the type check: a thread handle
    gives WRONG_TYPE (Zircon does not kill single threads), a VMO handle ACCESS_DENIED.
    Killing a dead task is ZX_OK. Killing the caller's own process (or an ancestor job)
    does not return. Processes die synchronously in microsim (Zircon: asynchronously).
    """
    h = p.lookup(handle, None, zx.ZX_RIGHT_DESTROY)
    obj = h.obj
    if isinstance(obj, (Job, Process)):
        obj.kill(zx.ZX_TASK_RETCODE_SYSCALL_KILL)
    else:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE, "only jobs and processes can be killed")
    cur = p.kernel.sched.current
    if cur is not None and cur.process is p and cur.killed:
        raise ThreadExit
    return None


def sys_object_get_child(p: Process, handle: int, koid: int, rights: int) -> int:
    """zx_object_get_child: a handle to a direct child (a job's job or process, a
    process's started thread) by koid.

    ZX_RIGHT_ENUMERATE is checked before the type; the new handle's rights are the
    parent handle's (ZX_RIGHT_SAME_RIGHTS) or a subset of them (else ACCESS_DENIED).
    """
    h = p.lookup(handle, None, 0)
    koid = arg_u64(koid)
    rights = arg_u32(rights)
    if not h.rights & zx.ZX_RIGHT_ENUMERATE:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the handle lacks ZX_RIGHT_ENUMERATE")
    if rights == zx.ZX_RIGHT_SAME_RIGHTS:
        rights = h.rights
    elif rights & h.rights != rights:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "rights must be a subset of the parent's")
    obj = h.obj
    child: Any = None
    if isinstance(obj, Job):
        child = next((j for j in obj.jobs if j.koid == koid), None)
        if child is None:
            child = next((q for q in obj.processes if q.koid == koid), None)
    elif isinstance(obj, Process):
        if obj.state != DEAD:
            child = next((t for t in obj.threads if t.koid == koid), None)
    else:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if child is None or (isinstance(child, Thread) and child.dead):
        raise ZxError(zx.ZX_ERR_NOT_FOUND, f"no child with koid {koid}")
    return p.kernel.new_handle(p, child, rights, "get_child")


SYSCALLS: dict[str, Any] = {
    "zx_task_kill": sys_task_kill,
    "zx_object_get_child": sys_object_get_child,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = []


def check_invariants(kernel: Any, report: Any) -> None:
    """Task-tree invariants: job lists, process states, thread lists."""
    for obj in list(kernel.objects.values()):
        if isinstance(obj, Job):
            for child in obj.jobs:
                if child.parent is not obj or not child.listed:
                    report(f"{child!r} listed under {obj!r} but not its child")
            for proc in obj.processes:
                if proc.job is not obj or proc.state == DEAD:
                    report(f"{proc!r} (state {proc.state}) wrongly listed under {obj!r}")
            if obj.state == "dead" and (obj.jobs or obj.processes):
                report(f"dead {obj!r} still has children")
        elif isinstance(obj, Process):
            for t in obj.threads:
                if not t.started or t.dead or t.process is not obj:
                    report(f"{t!r} wrongly in the thread list of {obj!r}")
            if obj.state == "initial" and obj.threads:
                report(f"INITIAL {obj!r} has started threads")
            if obj.state == DEAD and obj.job is not None and obj in obj.job.processes:
                report(f"dead {obj!r} still listed in its job")
