"""Suspend tokens: zx_task_suspend and the token whose last handle resumes the task.

A thread runs only when its own suspend count and its process's are both 0 (Zircon's
`SuspendTokenDispatcher`, `ThreadDispatcher::Suspend`). Tokens nest: every token on the
thread and on its process must be closed before it runs again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import greenlet

from microsim import zx
from microsim.core.object import KernelObject
from microsim.errors import ZxError
from microsim.objects.process import DEAD, DYING, Process
from microsim.objects.thread import Thread

if TYPE_CHECKING:
    from microsim.kernel import Kernel


class SuspendToken(KernelObject):
    """Keeps a thread or process suspended while a handle to it exists."""

    obj_type = zx.ZX_OBJ_TYPE_SUSPEND_TOKEN
    type_name = "suspend_token"
    default_rights = zx.ZX_DEFAULT_SUSPEND_TOKEN_RIGHTS
    waitable = False

    __slots__ = ("task",)

    def __init__(self, kernel: Kernel, task: Thread | Process) -> None:
        super().__init__(kernel)
        self.task = task

    @property
    def related_koid(self) -> int:
        return self.task.koid

    def on_zero_handles(self) -> None:
        task = self.task
        if isinstance(task, Thread):
            if task.state == "dead" or task.killed:
                return
            task.suspend_count -= 1
            task.update_suspension()
        else:
            if task.state in (DYING, DEAD):
                return
            task.suspend_count -= 1
            for t in list(task.threads):
                t.update_suspension()


def sys_task_suspend(p: Process, handle: int) -> int:
    """zx_task_suspend: suspend a thread or process until the returned token is closed.

    Checks in Zircon's order: the handle (ZX_RIGHT_WRITE, before the type), the calling
    thread or the calling process (NOT_SUPPORTED), a dying or dead task (BAD_STATE),
    another type (WRONG_TYPE). A NEW thread or INITIAL process may be suspended: it
    starts directly into SUSPENDED.
    """
    h = p.lookup(handle, None, zx.ZX_RIGHT_WRITE)
    task = h.obj
    k = p.kernel
    cur = k.sched.current
    if cur is not None and greenlet.getcurrent() is not cur.glet:
        cur = None
    if isinstance(task, Thread):
        if task is cur:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "a thread cannot suspend itself")
        if task.state == "dead" or task.killed:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the thread is dying")
    elif isinstance(task, Process):
        if task is p and cur is not None:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "a process cannot suspend itself")
        if task.state in (DYING, DEAD):
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the process is dying")
    else:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE, "only threads and processes can be suspended")
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("object")
    token = SuspendToken(k, task)
    k.publish(token, p.koid)
    task.suspend_count += 1
    if isinstance(task, Thread):
        task.update_suspension()
    else:
        for t in list(task.threads):
            t.update_suspension()
    return k.new_handle(p, token, SuspendToken.default_rights, reserved=True)


def sys_task_suspend_token(p: Process, handle: int) -> int:
    """zx_task_suspend_token: the same as zx_task_suspend (its older name)."""
    return sys_task_suspend(p, handle)


SYSCALLS: dict[str, Any] = {
    "zx_task_suspend": sys_task_suspend,
    "zx_task_suspend_token": sys_task_suspend_token,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = []
