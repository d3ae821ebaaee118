"""Threads: the kernel object a simulated thread is (its greenlet is run by the scheduler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet

from microsim import zx
from microsim.core.object import KernelObject

if TYPE_CHECKING:
    from microsim.core.sched import Wait
    from microsim.kernel import Kernel
    from microsim.objects.process import Process


class Thread(KernelObject):
    """A simulated thread of a process."""

    obj_type = zx.ZX_OBJ_TYPE_THREAD
    type_name = "thread"
    default_rights = zx.ZX_DEFAULT_THREAD_RIGHTS

    __slots__ = (
        "args",
        "ctx",
        "deadline",
        "entry",
        "error",
        "glet",
        "killed",
        "process",
        "result",
        "state",
        "wait",
        "wake_status",
    )

    def __init__(
        self, kernel: Kernel, process: Process, entry: Callable[..., Any], args: tuple[Any, ...], name: str
    ) -> None:
        super().__init__(kernel)
        self.process = process
        self.entry = entry
        self.args = args
        self.name = name.encode()[:31]
        self.glet: greenlet.greenlet | None = None
        self.state = "new"
        self.wait: Wait | None = None
        self.wake_status = zx.ZX_OK
        self.deadline = zx.ZX_TIME_INFINITE
        self.ctx: tuple[int, int, int] = (0, 0, 0)
        self.error: BaseException | None = None
        self.result: Any = None
        self.killed = False

    @property
    def related_koid(self) -> int:
        return self.process.koid

    def __repr__(self) -> str:
        return f"<Thread {self.name.decode(errors='replace')!r} koid={self.koid}>"
