"""VMARs: address-space regions, mappings, and simulated userspace memory access.

`MappableObject` is the interface the core defines for memory a mapping can point at;
the VMO plugin implements it, and any plugin may hand out mappable memory. Every check of
Zircon's `vmar.cc` syscalls and `VmAddressRegion` is reproduced in Zircon's order (see
docs/syscalls.md and the spec notes); where Zircon's docs and kernel disagree the kernel
wins (NO_RESOURCES when full, ALREADY_EXISTS on SPECIFIC overlap, `len` rounded up, OK for
an unmap of an empty range). zCore's divergences are not followed.

Children of a VMAR (sub-VMARs and mappings) live in a `SortedDict` keyed by base address,
so lookup, map and unmap cost O(log n) in the number of children. Placement is Zircon's
ASLR, seeded from the kernel: a random address is drawn and the first gap at or after it
that fits is used (wrapping around), unless the VMAR is COMPACT (then lowest fit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedDict

from microsim import zx
from microsim.core.info import InfoList
from microsim.core.object import KernelObject
from microsim.core.syscall import arg_size, arg_u32
from microsim.errors import MemoryFault, ZxError

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.kernel import Kernel
    from microsim.objects.process import Process

PAGE = zx.ZX_PAGE_SIZE
USER_ASPACE_BASE = 0x200000
USER_ASPACE_SIZE = (1 << 47) - PAGE - USER_ASPACE_BASE
_U64 = (1 << 64) - 1
_PERM_WRITE = zx.ZX_VM_PERM_WRITE
_BEYOND_STREAM = zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE

_PERMS = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE | zx.ZX_VM_PERM_EXECUTE
_CAN_MAP = zx.ZX_VM_CAN_MAP_READ | zx.ZX_VM_CAN_MAP_WRITE | zx.ZX_VM_CAN_MAP_EXECUTE
_ALIGN_MASK = 0xFF << zx.ZX_VM_ALIGN_BASE
_MAP_FLAGS = (
    _PERMS | zx.ZX_VM_SPECIFIC | zx.ZX_VM_SPECIFIC_OVERWRITE | zx.ZX_VM_MAP_RANGE
    | zx.ZX_VM_REQUIRE_NON_RESIZABLE | zx.ZX_VM_ALLOW_FAULTS | zx.ZX_VM_OFFSET_IS_UPPER_LIMIT
    | zx.ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED | zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE
)
_ALLOCATE_FLAGS = (
    zx.ZX_VM_SPECIFIC | zx.ZX_VM_CAN_MAP_SPECIFIC | zx.ZX_VM_COMPACT | _CAN_MAP
    | zx.ZX_VM_OFFSET_IS_UPPER_LIMIT
)
_KNOWN_FLAGS = _MAP_FLAGS | _ALLOCATE_FLAGS | zx.ZX_VM_COMPACT
# zx_vmar_op_range: the right the VMAR handle needs for each op (is_operation_allowed_from_rights).
_RANGE_OP_RIGHTS = {
    zx.ZX_VMAR_OP_COMMIT: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMAR_OP_DECOMMIT: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMAR_OP_ZERO: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMAR_OP_MAP_RANGE: zx.ZX_RIGHT_READ,
    zx.ZX_VMAR_OP_PREFETCH: zx.ZX_RIGHT_READ,
    zx.ZX_VMAR_OP_DONT_NEED: 0,
    zx.ZX_VMAR_OP_ALWAYS_NEED: 0,
}
_WRITE_OPS = (zx.ZX_VMAR_OP_COMMIT, zx.ZX_VMAR_OP_DECOMMIT, zx.ZX_VMAR_OP_ZERO)


def _round_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


def _perm_rights(perms: int) -> int:
    rights = 0
    if perms & zx.ZX_VM_PERM_READ:
        rights |= zx.ZX_RIGHT_READ
    if perms & zx.ZX_VM_PERM_WRITE:
        rights |= zx.ZX_RIGHT_WRITE
    if perms & zx.ZX_VM_PERM_EXECUTE:
        rights |= zx.ZX_RIGHT_EXECUTE
    return rights


def _can_map_for(perms: int) -> int:
    return (perms & _PERMS) << 7  # PERM_READ(1<<0) -> CAN_MAP_READ(1<<7), and so on


def _split_align(options: int) -> tuple[int, int]:
    """(options without the alignment field, alignment in bytes); INVALID_ARGS if bad."""
    log2 = (options & _ALIGN_MASK) >> zx.ZX_VM_ALIGN_BASE
    if log2 and (log2 < 10 or log2 > 32):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"alignment 2**{log2} is not 2**10..2**32")
    return options & ~_ALIGN_MASK, max(PAGE, 1 << log2 if log2 else PAGE)


class MappableObject(KernelObject):
    """Base of objects a VMAR can map (the VMO plugin's VMOs)."""

    __slots__ = ()

    #: Whether the object can change size (ZX_VM_REQUIRE_NON_RESIZABLE refuses it).
    resizable: bool = False

    def mappable_size(self) -> int:
        """Current size in bytes; accesses past it fault with ZX_ERR_OUT_OF_RANGE."""
        raise NotImplementedError

    def read_bytes(self, offset: int, length: int) -> bytes:
        """Read bytes (offset + length within `mappable_size()`)."""
        raise NotImplementedError

    def write_bytes(self, offset: int, data: bytes) -> None:
        """Write bytes (offset + len(data) within `mappable_size()`)."""
        raise NotImplementedError

    def read_i32(self, offset: int) -> int:
        """The little-endian int32 at `offset` (4-byte aligned, within `mappable_size()`):
        a futex word. Override it when the object can read one word more cheaply."""
        return int.from_bytes(self.read_bytes(offset, 4), "little", signed=True)

    def committed_pages(self, offset: int, length: int) -> int:
        """Pages of [offset, offset+length) that hold memory (for ZX_INFO_PROCESS_MAPS)."""
        return 0

    def stream_size(self) -> int | None:
        """The stream (content) size, or None if the object has none
        (ZX_VM_FAULT_BEYOND_STREAM_SIZE mappings fault past it, rounded up to a page)."""
        return None

    def check_range_op(self, op: int, offset: int, size: int) -> int:
        """Validate zx_vmar_op_range's `op` (ZX_VMAR_OP_*) on [offset, offset+size) of this
        object, changing nothing; return the pages the op would newly commit. Raises the
        op's ZxError (NOT_SUPPORTED by default: the object supports no range ops)."""
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, f"{type(self).__name__} supports no range ops")

    def apply_range_op(self, op: int, offset: int, size: int) -> None:
        """Do a range op `check_range_op` accepted (must not fail)."""

    def mapping_added(self, mapping: Mapping) -> None:
        """A mapping now refers to this object (it also holds a kernel reference)."""

    def mapping_removed(self, mapping: Mapping) -> None:
        """A mapping of this object went away (its kernel reference is dropped after)."""


class Mapping:
    """A range of a VMAR mapped to a range of a mappable object.

    `perms` are the current ZX_VM_PERM_* bits; `max_perms` the most `protect` may grant
    (what both handles allowed at map time).
    """

    __slots__ = ("base", "flags", "max_perms", "obj", "offset", "perms", "size", "vmar")

    def __init__(
        self, vmar: Vmar, base: int, size: int, obj: MappableObject, offset: int, perms: int,
        max_perms: int, flags: int = 0,
    ) -> None:
        self.vmar = vmar
        # Mapping options kept for later behaviour (ZX_VM_ALLOW_FAULTS,
        # ZX_VM_FAULT_BEYOND_STREAM_SIZE).
        self.flags = flags
        self.base = base
        self.size = size
        self.obj = obj
        self.offset = offset
        self.perms = perms
        self.max_perms = max_perms

    @property
    def end(self) -> int:
        """One past the last mapped address."""
        return self.base + self.size

    def __repr__(self) -> str:
        return f"<Mapping {self.base:#x}+{self.size:#x} koid={self.obj.koid} perms={self.perms}>"


#: Bumped on every change to any VMAR's layout (a mapping or sub-VMAR added, removed or
#: split); a VMAR's cached lookup is valid only for the generation it was made in.
_layout_generation = [0]


class Vmar(KernelObject):
    """A virtual memory address region: sub-regions and mappings of one process."""

    obj_type = zx.ZX_OBJ_TYPE_VMAR
    type_name = "vmar"
    default_rights = zx.ZX_DEFAULT_VMAR_RIGHTS
    waitable = False

    __slots__ = ("_last", "base", "children", "destroyed", "flags", "parent", "process", "size")

    def __init__(
        self, kernel: Kernel, process: Process, parent: Vmar | None, base: int, size: int, flags: int
    ) -> None:
        super().__init__(kernel)
        self.process = process
        self.parent = parent
        self.base = base
        self.size = size
        self.flags = flags
        self.children: SortedDict = SortedDict()
        self.destroyed = False
        # (layout generation, mapping) of the last find_mapping hit: memory accesses
        # mostly hit the mapping the previous one did.
        self._last: tuple[int, Mapping] | None = None

    @property
    def end(self) -> int:
        """One past the region's last address."""
        return self.base + self.size

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

    # ------------------------------------------------------------------ lookup
    def child_at(self, addr: int) -> Vmar | Mapping | None:
        """The direct child containing `addr`, if any (O(log n))."""
        children = self.children
        i = children.bisect_right(addr) - 1
        if i < 0:
            return None
        child = children.peekitem(i)[1]
        return child if addr < child.end else None

    def find_mapping(self, addr: int) -> Mapping | None:
        """The mapping containing `addr` in this VMAR or its descendants."""
        last = self._last
        if last is not None and last[0] == _layout_generation[0]:
            m = last[1]
            if m.base <= addr < m.base + m.size:
                return m
        node: Vmar = self
        while True:
            child = node.child_at(addr)
            if child is None:
                return None
            if isinstance(child, Mapping):
                self._last = (_layout_generation[0], child)
                return child
            node = child

    def _overlaps(self, base: int, size: int) -> list[Vmar | Mapping]:
        children = self.children
        end = base + size
        i = max(children.bisect_right(base) - 1, 0)
        found = []
        keys = children.keys()
        while i < len(keys):
            child = children[keys[i]]
            if child.base >= end:
                break
            if child.end > base:
                found.append(child)
            i += 1
        return found

    # ------------------------------------------------------------------ placement
    def _place(self, options: int, offset: int, size: int, align: int, overwrite: bool) -> int:
        """Zircon's placement rules; returns the absolute base (no state change)."""
        specific = options & (zx.ZX_VM_SPECIFIC | zx.ZX_VM_SPECIFIC_OVERWRITE)
        upper = options & zx.ZX_VM_OFFSET_IS_UPPER_LIMIT
        if specific and upper:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "SPECIFIC with OFFSET_IS_UPPER_LIMIT")
        if offset and not (specific or upper):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "an offset needs SPECIFIC or UPPER_LIMIT")
        if offset % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "offset is not page-aligned")
        if (specific or upper) and not self.flags & zx.ZX_VM_CAN_MAP_SPECIFIC:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the VMAR lacks CAN_MAP_SPECIFIC")
        if upper:
            if offset > self.size or size > self.size or size > offset:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "outside the region")
            limit = self.base + offset
        else:
            if offset >= self.size or size > self.size - offset:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "outside the region")
            limit = self.end
        if specific:
            base = self.base + offset
            if base % align:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "address does not meet the alignment")
            for child in self._overlaps(base, size):
                if not overwrite:
                    raise ZxError(zx.ZX_ERR_ALREADY_EXISTS, f"{base:#x} overlaps {child!r}")
            return base
        spot = self._find_spot(size, align, limit)
        if spot is None:
            raise ZxError(zx.ZX_ERR_NO_RESOURCES, "no free range large enough")
        return spot

    def _gaps(self, start: int, limit: int) -> Iterator[tuple[int, int]]:
        """Free gaps [lo, hi) at or after `start`, below `limit`, in address order."""
        children = self.children
        i = children.bisect_right(start) - 1
        lo = start
        if i >= 0:
            prev = children.peekitem(i)[1]
            lo = max(lo, prev.end)
        keys = children.keys()
        j = i + 1
        while lo < limit:
            hi = children[keys[j]].base if j < len(keys) else self.end
            hi = min(hi, limit)
            if hi > lo:
                yield lo, hi
            if j >= len(keys):
                return
            lo = max(lo, children[keys[j]].end)
            j += 1

    def _fit(self, lo: int, hi: int, size: int, align: int) -> int | None:
        base = (lo + align - 1) // align * align
        return base if base + size <= hi else None

    def _find_spot(self, size: int, align: int, limit: int) -> int | None:
        if self.flags & zx.ZX_VM_COMPACT:
            for lo, hi in self._gaps(self.base, limit):
                spot = self._fit(lo, hi, size, align)
                if spot is not None:
                    return spot
            return None
        rng = self.kernel.random("aslr")
        span = limit - self.base - size
        if span < 0:
            return None
        start = self.base + rng.randrange(span // align + 1) * align
        for lo, hi in self._gaps(start, limit):
            spot = self._fit(lo, hi, size, align)
            if spot is not None:
                return spot
        for lo, hi in self._gaps(self.base, min(start + size, limit)):
            spot = self._fit(lo, hi, size, align)
            if spot is not None:
                return spot
        return None

    # ------------------------------------------------------------------ mapping
    def map_object(
        self,
        options: int,
        vmar_offset: int,
        obj: MappableObject,
        obj_offset: int,
        length: int,
        obj_rights: int,
        vmar_rights: int,
    ) -> Mapping:
        """Zircon's vmar_map_common after the handle lookups: check, then map.

        `obj_rights` are the rights of the object handle (or, for an IOB, the rights the
        region grants); `vmar_rights` those of the VMAR handle. Raises ZxError before
        changing any state.
        """
        options = arg_u32(options)
        vmar_offset = arg_size(vmar_offset)
        obj_offset = arg_size(obj_offset)
        length = arg_size(length)
        if not obj_rights & zx.ZX_RIGHT_MAP:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the object handle lacks ZX_RIGHT_MAP")
        flags, align = _split_align(options)
        if flags & ~_MAP_FLAGS:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown or invalid map options {flags:#x}")
        if flags & zx.ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED:
            flags |= zx.ZX_VM_PERM_READ  # the simulated MMU has no execute-only support
        perms = flags & _PERMS
        if perms & (zx.ZX_VM_PERM_WRITE | zx.ZX_VM_PERM_EXECUTE) and not perms & zx.ZX_VM_PERM_READ:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "WRITE or EXECUTE without READ")
        if flags & zx.ZX_VM_MAP_RANGE and flags & zx.ZX_VM_SPECIFIC_OVERWRITE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "MAP_RANGE with SPECIFIC_OVERWRITE")
        need = _perm_rights(perms)
        if obj_rights & need != need or vmar_rights & need != need:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "a handle lacks a right for the permissions")
        if flags & zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE and not flags & zx.ZX_VM_ALLOW_FAULTS:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "FAULT_BEYOND_STREAM_SIZE needs ALLOW_FAULTS")
        if flags & zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE and not getattr(obj, "has_stream_size", True):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "the object has no stream size")
        if flags & zx.ZX_VM_REQUIRE_NON_RESIZABLE and obj.resizable:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "the object is resizable")
        if not flags & zx.ZX_VM_ALLOW_FAULTS and getattr(obj, "discardable", False):
            # Discardable memory can vanish under a mapping: only ALLOW_FAULTS maps it.
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "a discardable object needs ZX_VM_ALLOW_FAULTS")
        if obj_offset % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "object offset is not page-aligned")
        if length == 0:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "length is 0")
        size = _round_up(length)
        if size > _U64 or obj_offset + size > _U64:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "offset + length overflows")
        if self.destroyed:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMAR is destroyed")
        if _can_map_for(perms) & ~self.flags:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the VMAR cannot map with these permissions")
        overwrite = bool(flags & zx.ZX_VM_SPECIFIC_OVERWRITE)
        base = self._place(flags, vmar_offset, size, align, overwrite)
        kernel = self.kernel
        if kernel.mem.armed:
            kernel.mem.alloc("mapping")
        if overwrite and any(isinstance(c, Vmar) for c in self._overlaps(base, size)):
            # Zircon's OverwriteVmMappingLocked unmaps with can_destroy_regions=false.
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "SPECIFIC_OVERWRITE over a sub-VMAR")
        # Commit: nothing below can fail.
        if overwrite:
            self._unmap_range(base, size)
        max_perms = 0
        for bit in (zx.ZX_VM_PERM_READ, zx.ZX_VM_PERM_WRITE, zx.ZX_VM_PERM_EXECUTE):
            r = _perm_rights(bit)
            if obj_rights & r and vmar_rights & r:
                max_perms |= bit
        kept = flags & (zx.ZX_VM_ALLOW_FAULTS | zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE)
        mapping = Mapping(self, base, size, obj, obj_offset, perms, max_perms, kept)
        self._insert_mapping(mapping)
        return mapping

    def _insert_mapping(self, m: Mapping) -> None:
        _layout_generation[0] += 1
        self.children[m.base] = m
        m.obj.retain()
        m.obj.mapping_added(m)
        k = self.kernel
        if k.trace is not None:
            k.emit("mapping_created", self.koid, m.base, m.size, m.obj.koid, m.offset, m.perms)

    def _remove_mapping(self, m: Mapping) -> None:
        _layout_generation[0] += 1
        del self.children[m.base]
        k = self.kernel
        if k.trace is not None:
            k.emit("mapping_destroyed", self.koid, m.base, m.size, m.obj.koid)
        m.obj.mapping_removed(m)
        m.obj.release()

    def _split(self, m: Mapping, at: int) -> Mapping:
        """Split mapping `m` at `at`; returns the upper part (both stay mapped)."""
        upper = Mapping(self, at, m.end - at, m.obj, m.offset + (at - m.base), m.perms, m.max_perms,
                        m.flags)
        _layout_generation[0] += 1
        m.size = at - m.base
        self.children[at] = upper
        upper.obj.retain()
        upper.obj.mapping_added(upper)
        return upper

    def _unmap_range(self, base: int, size: int) -> None:
        """Remove every mapping piece in [base, base+size) of this VMAR (no checks)."""
        end = base + size
        for child in self._overlaps(base, size):
            if not isinstance(child, Mapping):
                continue
            m = child
            if m.base < base:
                m = self._split(m, base)
            if m.end > end:
                self._split(m, end)
            self._remove_mapping(m)

    def unmap(self, addr: int, length: int, rights: int) -> None:
        """zx_vmar_unmap's checks and effect (`rights`: the VMAR handle's)."""
        if addr % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "address is not page-aligned")
        size = _round_up(length)
        if size == 0 or size > _U64:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "length is 0")
        if self.destroyed:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMAR is destroyed")
        if addr < self.base or addr + size > self.end:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "range outside the VMAR")
        subvmars = [c for c in self._overlaps(addr, size) if isinstance(c, Vmar)]
        for sub in subvmars:
            if sub.base < addr or sub.end > addr + size:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "range partly covers a sub-VMAR")
            if not rights & zx.ZX_RIGHT_OP_CHILDREN:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "sub-VMAR in range without OP_CHILDREN")
        if self.kernel.mem.armed and any(
            isinstance(c, Mapping) and c.base < addr and c.end > addr + size
            for c in self._overlaps(addr, size)
        ):
            self.kernel.mem.alloc("mapping")  # splitting one mapping in three needs one more
        for sub in subvmars:
            sub.destroy()
        self._unmap_range(addr, size)

    def mappings_in(self, base: int, end: int) -> Iterator[tuple[Mapping, int, int]]:
        """(mapping, lo, hi) for every mapping piece in [base, end), descending into
        sub-VMARs, in address order (Zircon's MappingsOnly enumerator)."""
        for child in self._overlaps(base, end - base):
            lo = max(base, child.base)
            hi = min(end, child.end)
            if isinstance(child, Mapping):
                yield child, lo, hi
            else:
                yield from child.mappings_in(lo, hi)

    def protect(self, options: int, addr: int, length: int, rights: int = zx.ZX_RIGHT_OP_CHILDREN) -> None:
        """zx_vmar_protect's checks after the rights check, and its effect.

        Zircon's order: alignment, WRITE/EXECUTE without READ, non-PERM bits (INVALID_ARGS);
        zero length (INVALID_ARGS); destroyed (BAD_STATE); range outside (INVALID_ARGS);
        then for each mapping in the range, sub-VMARs included, in address order: a hole
        before it (NOT_FOUND), permissions above its maximum (ACCESS_DENIED), and for a
        mapping inside a sub-VMAR: INVALID_ARGS without ZX_RIGHT_OP_CHILDREN in `rights`,
        ACCESS_DENIED if the new permissions are not a subset of its current ones (a parent
        may only reduce); finally a hole at the end (NOT_FOUND). All checks run before any
        change, so a refused call changes nothing.
        """
        if addr % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "address is not page-aligned")
        if options & zx.ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED:
            # The simulated MMU has no execute-only support: the flag means PERM_READ.
            options = (options & ~zx.ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED) | zx.ZX_VM_PERM_READ
        perms = options & _PERMS
        if perms & (zx.ZX_VM_PERM_WRITE | zx.ZX_VM_PERM_EXECUTE) and not perms & zx.ZX_VM_PERM_READ:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "WRITE or EXECUTE without READ")
        if options & ~_PERMS:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "only PERM_* bits are allowed")
        size = _round_up(length)
        if size == 0 or size > _U64:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "length is 0")
        if self.destroyed:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMAR is destroyed")
        end = addr + size
        if addr < self.base or end > self.end:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "range outside the VMAR")
        pieces = list(self.mappings_in(addr, end))
        cursor = addr
        for m, lo, hi in pieces:
            if lo > cursor:
                raise ZxError(zx.ZX_ERR_NOT_FOUND, f"{cursor:#x} is not mapped")
            if perms & ~m.max_perms:
                raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "above the mapping's maximum permissions")
            if m.vmar is not self:
                if not rights & zx.ZX_RIGHT_OP_CHILDREN:
                    raise ZxError(zx.ZX_ERR_INVALID_ARGS, "mapping in a sub-VMAR without OP_CHILDREN")
                if perms & ~m.perms:
                    raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "a parent VMAR may only reduce a sub-VMAR's permissions")
            cursor = hi
        if cursor < end:
            raise ZxError(zx.ZX_ERR_NOT_FOUND, f"{cursor:#x} is not mapped")
        for m, lo, hi in pieces:
            owner = m.vmar
            if m.base < lo:
                m = owner._split(m, lo)
            if m.end > hi:
                owner._split(m, hi)
            m.perms = perms

    def op_range(self, op: int, addr: int, length: int, rights: int) -> None:
        """zx_vmar_op_range's checks and effect (`rights`: the VMAR handle's).

        Zircon's order (VmAddressRegionDispatcher::RangeOp, VmAddressRegion::RangeOp): an
        unknown op (INVALID_ARGS); the handle's right for the op: COMMIT, DECOMMIT and ZERO
        need WRITE, MAP_RANGE and PREFETCH READ, the hints nothing (ACCESS_DENIED);
        unaligned address or zero length (INVALID_ARGS); range outside the VMAR
        (OUT_OF_RANGE); destroyed VMAR (BAD_STATE); then per mapping in address order,
        sub-VMARs included: a hole before it (BAD_STATE); a mapping in a sub-VMAR for
        COMMIT, DECOMMIT, PREFETCH, or for any op without ZX_RIGHT_OP_CHILDREN
        (INVALID_ARGS); a FAULT_BEYOND_STREAM_SIZE mapping whose range passes the stream
        size (OUT_OF_RANGE); COMMIT, DECOMMIT and ZERO on a mapping that could never be
        writable, PREFETCH on one that could never be readable (ACCESS_DENIED); the
        object's own checks (e.g. DECOMMIT of a VMO with snapshot children: NOT_SUPPORTED);
        a hole at the end (BAD_STATE). Zircon applies the op mapping by mapping; here every
        check (and the memory a COMMIT needs) is validated first, so a refused call changes
        nothing.
        """
        need = _RANGE_OP_RIGHTS.get(op)
        if need is None:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown VMAR op {op}")
        if rights & need != need:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the VMAR handle lacks the op's right")
        if addr % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "address is not page-aligned")
        size = _round_up(length)
        if size == 0 or size > _U64:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "length is 0")
        end = addr + size
        if addr < self.base or end > self.end:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "range outside the VMAR")
        if self.destroyed:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMAR is destroyed")
        plan: list[tuple[MappableObject, int, int]] = []
        pages = 0
        cursor = addr
        direct_only = op in (zx.ZX_VMAR_OP_COMMIT, zx.ZX_VMAR_OP_DECOMMIT, zx.ZX_VMAR_OP_PREFETCH)
        for m, lo, hi in self.mappings_in(addr, end):
            if lo > cursor:
                raise ZxError(zx.ZX_ERR_BAD_STATE, f"{cursor:#x} is not mapped")
            if m.vmar is not self and (direct_only or not rights & zx.ZX_RIGHT_OP_CHILDREN):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "mapping inside a sub-VMAR")
            obj_off = m.offset + (lo - m.base)
            n = hi - lo
            if m.flags & zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE:
                stream = m.obj.stream_size() or 0
                if obj_off > stream or n > stream - obj_off:
                    raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "the range passes the stream size")
            if op in _WRITE_OPS and not m.max_perms & zx.ZX_VM_PERM_WRITE:
                raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the mapping can never be writable")
            if op == zx.ZX_VMAR_OP_PREFETCH and not m.max_perms & zx.ZX_VM_PERM_READ:
                raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the mapping can never be readable")
            pages += m.obj.check_range_op(op, obj_off, n)
            plan.append((m.obj, obj_off, n))
            cursor = hi
        if cursor < end:
            raise ZxError(zx.ZX_ERR_BAD_STATE, f"{cursor:#x} is not mapped")
        mem = self.kernel.mem
        if pages and mem.size is not None and (mem.pages_used + pages) * PAGE > mem.size:
            raise ZxError(zx.ZX_ERR_NO_MEMORY, "simulated memory is full")
        for obj, off, n in plan:
            obj.apply_range_op(op, off, n)

    def allocate(self, options: int, offset: int, size: int) -> Vmar:
        """zx_vmar_allocate's checks after the handle lookup; returns the new sub-VMAR."""
        flags, align = _split_align(options)
        if flags & ~_ALLOCATE_FLAGS:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"invalid allocate options {flags:#x}")
        if size % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "size is not page-aligned")
        if self.destroyed:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMAR is destroyed")
        if size == 0:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "size is 0")
        if flags & _CAN_MAP & ~self.flags:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the parent lacks a CAN_MAP_* flag")
        base = self._place(flags, offset, size, align, overwrite=False)
        kernel = self.kernel
        if kernel.mem.armed:
            kernel.mem.alloc("object")
        child_flags = flags & (_CAN_MAP | zx.ZX_VM_CAN_MAP_SPECIFIC | zx.ZX_VM_COMPACT)
        child = Vmar(kernel, self.process, self, base, size, child_flags)
        child.retain()  # the parent's reference, dropped when the child is destroyed
        _layout_generation[0] += 1
        self.children[base] = child
        kernel.publish(child, self.process.koid)
        return child

    def destroy(self) -> None:
        """Unmap everything, destroy sub-VMARs, free the range in the parent."""
        if self.destroyed:
            return
        self.destroy_all()
        parent = self.parent
        if parent is not None and parent.children.get(self.base) is self:
            _layout_generation[0] += 1
            del parent.children[self.base]
            self.release()

    def destroy_all(self) -> None:
        """Destroy every child and mark this VMAR destroyed (process exit for the root)."""
        self.destroyed = True
        for child in list(self.children.values()):
            if isinstance(child, Vmar):
                child.destroy()
            else:
                self._remove_mapping(child)

    def walk(self, depth: int) -> Iterator[tuple[int, Vmar | Mapping]]:
        """Depth-first pre-order over this VMAR and its descendants, with depths."""
        yield depth, self
        for child in list(self.children.values()):
            if isinstance(child, Vmar):
                yield from child.walk(depth + 1)
            else:
                yield depth + 1, child


def create_root_vmar(kernel: Kernel, process: Process) -> Vmar:
    """The root VMAR of a new process (CAN_MAP_READ|WRITE|EXECUTE|SPECIFIC)."""
    flags = _CAN_MAP | zx.ZX_VM_CAN_MAP_SPECIFIC
    root = Vmar(kernel, process, None, USER_ASPACE_BASE, USER_ASPACE_SIZE, flags)
    kernel.publish(root, process.koid)
    return root


# --------------------------------------------------------------------------- memory access
def _access(process: Process, addr: int, length: int, need: int, what: str) -> Iterator[tuple[Mapping, int, int]]:
    """(mapping, object offset, count) pieces covering [addr, addr+length), or fault."""
    root = process.root_vmar
    if type(addr) is not int or type(length) is not int or addr < 0 or length < 0:
        raise ValueError("address and length must be non-negative ints")
    pos = addr
    end = addr + length
    k = process.kernel
    while pos < end:
        m = root.find_mapping(pos) if root is not None and not process.exited else None
        status = 0
        if m is None:
            # The page fault handler's status for an address with no mapping (what
            # probe_for_read/write and the newest zx_process_read_memory report).
            status = zx.ZX_ERR_NOT_FOUND
            why = "unmapped address"
        elif not m.perms & need:
            status = zx.ZX_ERR_ACCESS_DENIED
            why = f"mapping lacks {what} permission"
        else:
            obj_off = m.offset + (pos - m.base)
            count = min(end, m.end) - pos
            if obj_off + count > m.obj.mappable_size():
                status = zx.ZX_ERR_OUT_OF_RANGE
                why = "beyond the end of the mapped object"
            elif m.flags & zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE:
                # Pages at or past the page-rounded stream size fault.
                limit = _round_up(m.obj.stream_size() or 0)
                if obj_off >= limit:
                    status = zx.ZX_ERR_OUT_OF_RANGE
                    why = "beyond the stream size (FAULT_BEYOND_STREAM_SIZE)"
                else:
                    count = min(count, limit - obj_off)
        if status:
            if k.trace is not None:
                k.trace.add(("fault", k.now, k.cur_sc, process.koid, k.cur_tid, pos, what, status))
            raise MemoryFault(f"{what} fault at {pos:#x}: {why}", pos, status)
        assert m is not None
        yield m, obj_off, count
        pos += count


#: zx_process_read_memory / write_memory move at most this much per call (Zircon's
#: kMaxDebugReadBlock / kMaxDebugWriteBlock in syscalls/process.cc); larger is INVALID_ARGS.
MAX_DEBUG_BLOCK = 64 * 1024 * 1024


def check_user_buffer(kernel: Kernel, length: int) -> None:
    """Refuse a user output buffer of `length` bytes that the simulated process could not hold.

    Checked before the kernel builds any output on the host. Zircon copies a read into a
    user buffer; a buffer cannot be larger than a user address space (no such pointer
    range exists: the copy fails, ZX_ERR_INVALID_ARGS, as for any invalid buffer), and its
    pages must be backed by memory (a buffer larger than the whole simulated memory --
    `Kernel(memory=...)` -- can never be faulted in: ZX_ERR_NO_MEMORY). Smaller buffers are
    taken to exist already in the caller's address space and cost nothing here.
    """
    if length > USER_ASPACE_SIZE:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"a {length}-byte buffer exceeds a user address space")
    mem = kernel.mem
    if mem.size is not None and length > mem.size:
        raise ZxError(zx.ZX_ERR_NO_MEMORY, f"a {length}-byte buffer exceeds the simulated memory")


def read_memory(process: Process, addr: int, length: int) -> bytes:
    """Read [addr, addr+length) of the process's address space through its mappings.

    Faults (MemoryFault) are found before any byte is copied; then a length the process
    could not hold as a buffer is ZxError (see `check_user_buffer`); then one buffer is built.
    """
    pieces = list(_access(process, addr, length, zx.ZX_VM_PERM_READ, "read"))
    if len(pieces) == 1:
        m, off, n = pieces[0]
        check_user_buffer(process.kernel, n)
        return m.obj.read_bytes(off, n)
    check_user_buffer(process.kernel, length)
    return b"".join([m.obj.read_bytes(off, n) for m, off, n in pieces])


def write_memory(process: Process, addr: int, data: bytes) -> None:
    """Write `data` at `addr` through the process's mappings (all or nothing)."""
    if type(data) is not bytes:
        data = bytes(data)
    root = process.root_vmar
    if root is not None and type(addr) is int and addr >= 0 and not process.exited:
        # Fast path: one writable mapping holds the whole range (else the general path,
        # which also reports the fault).
        m = root.find_mapping(addr)
        if m is not None and m.perms & _PERM_WRITE and not m.flags & _BEYOND_STREAM:
            base = m.base
            end = addr + len(data)
            if end <= base + m.size and (off := m.offset + (addr - base)) + (end - addr) <= m.obj.mappable_size():
                m.obj.write_bytes(off, data)
                return
    pieces = list(_access(process, addr, len(data), zx.ZX_VM_PERM_WRITE, "write"))
    pos = 0
    for m, off, n in pieces:
        m.obj.write_bytes(off, data[pos : pos + n])
        pos += n


def _debug_mapping(process: Process, addr: int, length: int) -> tuple[Mapping, int, int]:
    """The mapping a debugger access at `addr` goes through, its object offset, and the
    length trimmed to the mapping and to the object (Zircon's TrimLength)."""
    if process.exited or process.root_vmar is None:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the process has no address space")
    m = process.root_vmar.find_mapping(addr)
    if m is None:
        raise ZxError(zx.ZX_ERR_NOT_FOUND, f"nothing is mapped at {addr:#x}")
    off = m.offset + (addr - m.base)
    n = min(length, m.end - addr, max(0, m.obj.mappable_size() - off))
    if n == 0:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "the address is past the end of the mapped object")
    return m, off, n


def debug_read_memory(process: Process, addr: int, length: int) -> bytes:
    """What zx_process_read_memory reads after its handle checks (Zircon's process.cc).

    `length` must be 1..MAX_DEBUG_BLOCK (INVALID_ARGS). The read goes through the single
    mapping at `addr`, ignoring its permissions, and stops at the mapping's end or the
    object's end: it may be short. NOT_FOUND if nothing is mapped at `addr` (a sub-VMAR
    or a hole), OUT_OF_RANGE if the mapping is past the object's end, BAD_STATE if the
    process has no address space.
    """
    addr = arg_size(addr)
    length = arg_size(length)
    if length == 0 or length > MAX_DEBUG_BLOCK:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"length must be 1..{MAX_DEBUG_BLOCK}")
    m, off, n = _debug_mapping(process, addr, length)
    return m.obj.read_bytes(off, n)


def debug_write_memory(process: Process, addr: int, data: bytes) -> int:
    """What zx_process_write_memory writes after its handle checks; returns bytes written.

    Same rules as `debug_read_memory` (the data's length is the length).
    """
    addr = arg_size(addr)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "expected a bytes-like buffer")
    data = bytes(data)
    if len(data) == 0 or len(data) > MAX_DEBUG_BLOCK:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"length must be 1..{MAX_DEBUG_BLOCK}")
    m, off, n = _debug_mapping(process, addr, len(data))
    m.obj.write_bytes(off, data[:n])
    return n


# --------------------------------------------------------------------------- syscalls
def _vmar_handle(p: Process, value: Any, rights: int = 0) -> Handle:
    return p.lookup(value, Vmar, rights)


def sys_vmar_allocate(p: Process, parent_vmar: int, options: int, offset: int, size: int) -> tuple[int, int]:
    """zx_vmar_allocate: a sub-region; returns (its handle, its absolute address)."""
    options = arg_u32(options)
    # CAN_MAP_READ/WRITE/EXECUTE (bits 7..9) need the READ/WRITE/EXECUTE rights.
    need = _perm_rights((options & _CAN_MAP) >> 7)
    h = _vmar_handle(p, parent_vmar, need)
    offset = arg_size(offset)
    size = arg_size(size)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
    vmar: Vmar = h.obj
    child = vmar.allocate(options, offset, size)
    value = k.new_handle(p, child, child.default_handle_rights(), reserved=True)
    return value, child.base


def sys_vmar_map(
    p: Process, vmar: int, options: int, vmar_offset: int, vmo: int, vmo_offset: int, len: int
) -> int:
    """zx_vmar_map: map `len` bytes of a VMO (or any mappable object); returns the address."""
    vh = _vmar_handle(p, vmar)
    oh = p.lookup(vmo, MappableObject, 0)
    region: Vmar = vh.obj
    mapping = region.map_object(options, vmar_offset, oh.obj, vmo_offset, len, oh.rights, vh.rights)
    return mapping.base


def sys_vmar_unmap(p: Process, vmar: int, addr: int, len: int) -> None:
    """zx_vmar_unmap: unmap a range (splitting mappings); OK if nothing is mapped there."""
    h = _vmar_handle(p, vmar)
    region: Vmar = h.obj
    region.unmap(arg_size(addr), arg_size(len), h.rights)
    return None


def sys_vmar_protect(p: Process, vmar: int, options: int, addr: int, len: int) -> None:
    """zx_vmar_protect: change the permissions of every page in a mapped range."""
    options = arg_u32(options)
    h = _vmar_handle(p, vmar, _perm_rights(options & _PERMS))
    region: Vmar = h.obj
    region.protect(options, arg_size(addr), arg_size(len), h.rights)
    return None


def sys_vmar_op_range(
    p: Process, vmar: int, op: int, address: int, size: int, buffer: Any = None, buffer_size: int = 0
) -> None:
    """zx_vmar_op_range: COMMIT, DECOMMIT, MAP_RANGE, ZERO, DONT_NEED, ALWAYS_NEED, PREFETCH
    on the VMOs mapped in [address, address+size) (see `Vmar.op_range` for the checks).

    `buffer` / `buffer_size` are unused and must be empty (INVALID_ARGS), checked right after
    the op and rights checks, before the range, as in Zircon's RangeOp.
    """
    h = _vmar_handle(p, vmar)
    op = arg_u32(op)
    address = arg_size(address)
    size = arg_size(size)
    region: Vmar = h.obj
    need = _RANGE_OP_RIGHTS.get(op)
    if need is not None and h.rights & need == need and (buffer is not None or buffer_size):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "buffer and buffer_size must be empty")
    region.op_range(op, address, size, h.rights)
    return None


def sys_vmar_destroy(p: Process, vmar: int) -> None:
    """zx_vmar_destroy: unmap everything inside and free the range (handles stay valid)."""
    h = _vmar_handle(p, vmar, zx.ZX_RIGHT_OP_CHILDREN)
    region: Vmar = h.obj
    if region.parent is None:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "the root VMAR cannot be destroyed")
    if region.destroyed:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "already destroyed")
    region.destroy()
    return None


def info_vmar(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_vmar_t:
    """ZX_INFO_VMAR: base and length."""
    zx.zx_info_vmar_t.check_buffer(buffer_size)  # BUFFER_TOO_SMALL, actual 0, avail 1
    v: Vmar = h.obj
    return zx.zx_info_vmar_t(base=v.base, len=v.size)


def maps_records(vmar: Vmar, depth: int) -> list[zx.zx_info_maps_t]:
    out = []
    for d, node in vmar.walk(depth):
        if isinstance(node, Vmar):
            out.append(zx.zx_info_maps_t(name=node.name, base=node.base, size=node.size, depth=d,
                                         type=zx.ZX_INFO_MAPS_TYPE_VMAR))
        else:
            committed = node.obj.committed_pages(node.offset, node.size)
            out.append(zx.zx_info_maps_t(
                name=node.obj.name, base=node.base, size=node.size, depth=d,
                type=zx.ZX_INFO_MAPS_TYPE_MAPPING, mmu_flags=node.perms,
                vmo_koid=getattr(node.obj, "user_koid", 0) or node.obj.koid,
                vmo_offset=node.offset, committed_pages=committed, populated_pages=committed,
            ))
    return out


def info_vmar_maps(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_VMAR_MAPS: the VMAR and everything below it, pre-order."""
    v: Vmar = h.obj
    if v.destroyed:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMAR is destroyed")
    return InfoList.clip(maps_records(v, 0), zx.zx_info_maps_t.SIZE, buffer_size)


def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    """Mappings and sub-VMARs lie inside their parent, in order, without overlap."""
    for proc in kernel.processes:
        root = proc.root_vmar
        if root is None:
            continue
        for _, node in root.walk(0):
            if not isinstance(node, Vmar):
                continue
            prev_end = node.base
            for base, child in node.children.items():
                if child.base != base:
                    report(f"{child!r} filed under {base:#x}")
                if child.base < prev_end:
                    report(f"{child!r} overlaps its neighbour in {node!r}")
                if child.end > node.end or child.size <= 0 or child.base % PAGE or child.size % PAGE:
                    report(f"{child!r} is not a page-aligned range inside {node!r}")
                prev_end = child.end
                if isinstance(child, Mapping) and not child.obj.alive:
                    report(f"{child!r} maps destroyed {child.obj!r}")
                if isinstance(child, Vmar) and child.destroyed:
                    report(f"destroyed {child!r} still in {node!r}")
            if node.destroyed and node.children:
                report(f"destroyed {node!r} still has children")


SYSCALLS: dict[str, Callable[..., Any]] = {
    "zx_vmar_allocate": sys_vmar_allocate,
    "zx_vmar_map": sys_vmar_map,
    "zx_vmar_unmap": sys_vmar_unmap,
    "zx_vmar_protect": sys_vmar_protect,
    "zx_vmar_destroy": sys_vmar_destroy,
    "zx_vmar_op_range": sys_vmar_op_range,
}
INFO_TOPICS: list[tuple[int, Callable[..., Any], str, type[KernelObject] | None, int]] = [
    (zx.ZX_INFO_VMAR, info_vmar, "ZX_INFO_VMAR", Vmar, zx.ZX_RIGHT_INSPECT),
    (zx.ZX_INFO_VMAR_MAPS, info_vmar_maps, "ZX_INFO_VMAR_MAPS", Vmar, zx.ZX_RIGHT_INSPECT),
]
