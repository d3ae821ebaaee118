"""VMARs: address-space regions, mappings, and simulated userspace memory access.

(Skeleton: the full implementation of allocate/map/unmap/protect/destroy lands with the
VMAR work; the interfaces below are the contract plugins build on.)

`MappableObject` is the interface the core defines for "memory a mapping can point at";
the VMO plugin implements it, and any plugin may hand out mappable memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from microsim import zx
from microsim.object import KernelObject

if TYPE_CHECKING:
    from microsim.kernel import Kernel
    from microsim.process import Process

USER_ASPACE_BASE = 0x200000
USER_ASPACE_SIZE = (1 << 47) - zx.ZX_PAGE_SIZE - USER_ASPACE_BASE


class MappableObject(KernelObject):
    """Base of objects a VMAR can map (the VMO plugin's VMOs)."""

    __slots__ = ()

    def mappable_size(self) -> int:
        """Current size in bytes; accesses past it fault with ZX_ERR_OUT_OF_RANGE."""
        raise NotImplementedError

    def read_bytes(self, offset: int, length: int) -> bytes:
        """Read bytes (offset + length within `mappable_size()`)."""
        raise NotImplementedError

    def write_bytes(self, offset: int, data: bytes) -> None:
        """Write bytes (offset + len(data) within `mappable_size()`)."""
        raise NotImplementedError

    def mapping_added(self, mapping: Mapping) -> None:
        """A mapping now refers to this object (it holds a kernel reference)."""

    def mapping_removed(self, mapping: Mapping) -> None:
        """A mapping of this object went away (it drops its kernel reference after)."""


class Mapping:
    """A range of a VMAR mapped to a range of a mappable object."""

    __slots__ = ("vmar", "base", "size", "obj", "offset", "perms", "max_perms")

    def __init__(
        self, vmar: Vmar, base: int, size: int, obj: MappableObject, offset: int, perms: int, max_perms: int
    ) -> None:
        self.vmar = vmar
        self.base = base
        self.size = size
        self.obj = obj
        self.offset = offset
        self.perms = perms
        self.max_perms = max_perms


class Vmar(KernelObject):
    """A virtual memory address region."""

    obj_type = zx.ZX_OBJ_TYPE_VMAR
    type_name = "vmar"
    default_rights = zx.ZX_DEFAULT_VMAR_RIGHTS

    __slots__ = ("process", "parent", "base", "size", "flags", "children", "destroyed")

    def __init__(self, kernel: Kernel, process: Process, parent: Vmar | None, base: int, size: int, flags: int) -> None:
        super().__init__(kernel)
        self.process = process
        self.parent = parent
        self.base = base
        self.size = size
        self.flags = flags
        self.children: dict[int, Any] = {}
        self.destroyed = False

    def default_handle_rights(self) -> int:
        """ZX_DEFAULT_VMAR_RIGHTS plus READ/WRITE/EXECUTE for each CAN_MAP_* flag."""
        rights = zx.ZX_DEFAULT_VMAR_RIGHTS
        if self.flags & zx.ZX_VM_CAN_MAP_READ:
            rights |= zx.ZX_RIGHT_READ
        if self.flags & zx.ZX_VM_CAN_MAP_WRITE:
            rights |= zx.ZX_RIGHT_WRITE
        if self.flags & zx.ZX_VM_CAN_MAP_EXECUTE:
            rights |= zx.ZX_RIGHT_EXECUTE
        return rights

    def destroy_all(self) -> None:
        """Unmap every mapping and destroy every sub-VMAR (process exit)."""
        self.destroyed = True


def create_root_vmar(kernel: Kernel, process: Process) -> Vmar:
    """The root VMAR of a new process (CAN_MAP_READ|WRITE|EXECUTE|SPECIFIC)."""
    flags = zx.ZX_VM_CAN_MAP_READ | zx.ZX_VM_CAN_MAP_WRITE | zx.ZX_VM_CAN_MAP_EXECUTE | zx.ZX_VM_CAN_MAP_SPECIFIC
    root = Vmar(kernel, process, None, USER_ASPACE_BASE, USER_ASPACE_SIZE, flags)
    kernel.publish(root, process.koid)
    return root


OBJECT_TYPES: list[type[KernelObject]] = [Vmar]
SYSCALLS: dict[str, Callable[..., Any]] = {}
INFO_TOPICS: list[tuple[int, Callable[..., Any], str, type[KernelObject] | None, int]] = []
