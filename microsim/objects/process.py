"""Processes: a handle table, a root VMAR, threads, and the syscall facade `zx`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.info import InfoList
from microsim.core.object import KernelObject
from microsim.core.sched import ThreadExit
from microsim.core.syscall import arg_i64
from microsim.errors import ZxError
from microsim.objects import vmar
from microsim.objects.vmar import Vmar

if TYPE_CHECKING:
    from microsim.core.syscall import SyscallFacade
    from microsim.kernel import Kernel
    from microsim.objects.thread import Thread

_BAD_HANDLE = zx.ZX_ERR_BAD_HANDLE


class Process(KernelObject):
    """A simulated process. `zx` is its syscall facade; `handles` its handle table."""

    obj_type = zx.ZX_OBJ_TYPE_PROCESS
    type_name = "process"
    default_rights = zx.ZX_DEFAULT_PROCESS_RIGHTS

    __slots__ = (
        "__weakref__",
        "exit_code",
        "exited",
        "handles",
        "parent_koid",
        "root_vmar",
        "root_vmar_handle",
        "self_handle",
        "threads",
        "zx",
    )

    def __init__(self, kernel: Kernel, name: str) -> None:
        super().__init__(kernel)
        self.name = name.encode()[: zx.ZX_MAX_NAME_LEN - 1]
        self.handles: dict[int, Handle] = {}
        self.threads: list[Thread] = []
        self.exited = False
        self.exit_code = 0
        self.parent_koid = 0
        self.root_vmar: Vmar | None = None
        self.self_handle = zx.ZX_HANDLE_INVALID
        self.root_vmar_handle = zx.ZX_HANDLE_INVALID
        self.zx: SyscallFacade = kernel.syscalls.facade_class(self)

    def __repr__(self) -> str:
        return f"<Process {self.name.decode(errors='replace')!r} koid={self.koid}>"

    # ------------------------------------------------------------------ handle table
    def add_handle(self, handle: Handle, reason: str = "create") -> int:
        """Put a handle into this table (a new one, or one arriving by transfer).

        The caller has already counted the handle on its object (`Kernel.new_handle`
        does) and reserved the table entry (`kernel.mem.alloc("handle")`).
        """
        kernel = self.kernel
        value = kernel.next_handle_value()
        handle.value = value
        handle.owner = self
        self.handles[value] = handle
        trace = kernel.trace
        if trace is not None:
            trace.buffer.append(
                # pid: the process whose table the handle enters.
                ("handle_created", kernel.now, kernel.cur_sc, self.koid, kernel.cur_tid,
                 value, handle.obj.koid, handle.rights, reason)
            )
            if len(trace.buffer) >= trace.batch:
                trace.flush()
        if kernel.obs_handle_created is not None:
            kernel.obs_handle_created(kernel=kernel, process=self, handle=handle, reason=reason)
        return value

    def take_handle(self, value: Any, reason: str) -> Handle:
        """Remove a handle from the table without closing it (transfer, replace).

        Waits and observers through it are cancelled, as Zircon does when a handle
        leaves a table. Raises ZX_ERR_BAD_HANDLE if the value is not in this table.
        """
        if type(value) is not int:
            raise ZxError(_BAD_HANDLE)
        handle = self.handles.pop(value, None)
        if handle is None:
            raise ZxError(_BAD_HANDLE)
        kernel = self.kernel
        handle.owner = None
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
        if handle.obj.observers:
            handle.obj.cancel_observers(handle)
        return handle

    def handle(self, value: Any) -> Handle:
        """The handle named `value` in this process; ZX_ERR_BAD_HANDLE otherwise."""
        if type(value) is int:
            h = self.handles.get(value)
            if h is not None:
                return h
        raise ZxError(_BAD_HANDLE)

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
        raise ZxError(_BAD_HANDLE)

    def obj(self, value: Any, cls: type[KernelObject] | None = None, rights: int = 0) -> Any:
        """Like `lookup` but returns the object."""
        return self.lookup(value, cls, rights).obj

    # ------------------------------------------------------------------ memory
    def read_memory(self, addr: int, length: int) -> bytes:
        """Read simulated userspace memory through this process's mappings.

        Raises `MemoryFault` (naming the address) on an unmapped address, a missing read
        permission, or an access past the end of the mapped object.
        """
        return vmar.read_memory(self, addr, length)

    def write_memory(self, addr: int, data: bytes) -> None:
        """Write simulated userspace memory through this process's mappings (see
        `read_memory` for faults)."""
        vmar.write_memory(self, addr, data)

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


def sys_process_self(p: Process) -> int:
    """zx_process_self: the process's startup handle to itself."""
    return p.self_handle


def sys_vmar_root_self(p: Process) -> int:
    """zx_vmar_root_self: the process's startup handle to its root VMAR."""
    return p.root_vmar_handle


def sys_process_exit(p: Process, retcode: int) -> None:
    """zx_process_exit: end the calling process (does not return to a thread)."""
    code = arg_i64(retcode)
    k = p.kernel
    k.exit_process(p, code)
    cur = k.sched.current
    if cur is not None and cur.process is p:
        raise ThreadExit
    return None


SYSCALLS: dict[str, Any] = {
    "zx_process_self": sys_process_self,
    "zx_vmar_root_self": sys_vmar_root_self,
    "zx_process_exit": sys_process_exit,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = [
    (zx.ZX_INFO_PROCESS_MAPS, info_process_maps, "ZX_INFO_PROCESS_MAPS", Process,
     zx.ZX_RIGHT_INSPECT),
]
