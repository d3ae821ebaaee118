"""The VMO syscalls, info topics and properties (zircon/kernel/lib/syscalls/vmo.cc)."""

from __future__ import annotations

from typing import Any

from microsim_vmo.vmo import Vmo, round_size

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.syscall import arg_bytes, arg_size, arg_u32
from microsim.errors import ZxError
from microsim.objects.process import Process

_INVALID = zx.ZX_ERR_INVALID_ARGS


def _check_range(vmo: Vmo, offset: int, length: int) -> None:
    if offset + length > vmo.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"[{offset}, +{length}) is beyond the VMO's {vmo.size} bytes")


def sys_vmo_create(p: Process, size: int, options: int) -> int:
    """zx_vmo_create: a new VMO of `size` bytes (rounded up to a page); returns its handle.

    Options: ZX_VMO_RESIZABLE, ZX_VMO_DISCARDABLE, ZX_VMO_UNBOUNDED (size becomes the
    maximum; the argument is the content size). RESIZABLE handles also get ZX_RIGHT_RESIZE.
    """
    p.enforce_policy(zx.ZX_POL_NEW_VMO)
    options = arg_u32(options)
    size = arg_size(size)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
    vmo = Vmo.create(k, size, options)
    rights = Vmo.default_rights | (zx.ZX_RIGHT_RESIZE if vmo.resizable else 0)
    k.publish(vmo, p.koid)
    return k.new_handle(p, vmo, rights, reserved=True)


def sys_vmo_read(p: Process, handle: int, offset: int, length: int) -> bytes:
    """zx_vmo_read: `length` bytes at `offset` (ZX_RIGHT_READ; bounds are the VMO size)."""
    vmo: Vmo = p.obj(handle, Vmo, zx.ZX_RIGHT_READ)
    offset = arg_size(offset)
    length = arg_size(length)
    _check_range(vmo, offset, length)
    return vmo.read(offset, length)


def sys_vmo_write(p: Process, handle: int, data: bytes, offset: int) -> None:
    """zx_vmo_write: write `data` at `offset` (ZX_RIGHT_WRITE; all or nothing)."""
    vmo: Vmo = p.obj(handle, Vmo, zx.ZX_RIGHT_WRITE)
    buf = arg_bytes(data)
    offset = arg_size(offset)
    _check_range(vmo, offset, len(buf))
    if vmo.immutable:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "immutable VMO")
    vmo.write(offset, buf)
    return None


def sys_vmo_get_size(p: Process, handle: int) -> int:
    """zx_vmo_get_size: the page-rounded size (no rights needed)."""
    vmo: Vmo = p.obj(handle, Vmo, 0)
    return vmo.size


def sys_vmo_set_size(p: Process, handle: int, size: int) -> None:
    """zx_vmo_set_size: resize (WRITE, and RESIZE; UNAVAILABLE if not resizable)."""
    h = p.lookup(handle, Vmo, zx.ZX_RIGHT_WRITE)
    vmo: Vmo = h.obj
    if vmo.resizable and not h.rights & zx.ZX_RIGHT_RESIZE:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the handle lacks ZX_RIGHT_RESIZE")
    if not vmo.resizable:
        raise ZxError(zx.ZX_ERR_UNAVAILABLE, "the VMO is not resizable")
    size = arg_size(size)
    round_size(size)
    vmo.set_size(size)
    return None


_OP_RIGHTS = {
    zx.ZX_VMO_OP_COMMIT: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMO_OP_DECOMMIT: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMO_OP_ZERO: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMO_OP_CACHE_SYNC: zx.ZX_RIGHT_READ,
    zx.ZX_VMO_OP_CACHE_CLEAN: zx.ZX_RIGHT_READ,
    zx.ZX_VMO_OP_CACHE_CLEAN_INVALIDATE: zx.ZX_RIGHT_READ,
    zx.ZX_VMO_OP_CACHE_INVALIDATE: zx.ZX_RIGHT_WRITE,
    zx.ZX_VMO_OP_PREFETCH: zx.ZX_RIGHT_READ,
    zx.ZX_VMO_OP_DONT_NEED: 0,
    zx.ZX_VMO_OP_ALWAYS_NEED: 0,
}
_LOCK_OPS = (zx.ZX_VMO_OP_LOCK, zx.ZX_VMO_OP_TRY_LOCK, zx.ZX_VMO_OP_UNLOCK)
_CACHE_OPS = (
    zx.ZX_VMO_OP_CACHE_SYNC, zx.ZX_VMO_OP_CACHE_CLEAN, zx.ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    zx.ZX_VMO_OP_CACHE_INVALIDATE,
)


def sys_vmo_op_range(p: Process, handle: int, op: int, offset: int, size: int) -> Any:
    """zx_vmo_op_range: COMMIT, DECOMMIT, ZERO, cache and lock ops on a range."""
    h = p.lookup(handle, Vmo, 0)
    vmo: Vmo = h.obj
    op = arg_u32(op)
    offset = arg_size(offset)
    size = arg_size(size)
    if op in _LOCK_OPS:
        if not h.rights & (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE):
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
        if not vmo.discardable:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "lock ops need a discardable VMO")
        if op == zx.ZX_VMO_OP_UNLOCK:
            if not vmo.lock_count:
                raise ZxError(zx.ZX_ERR_BAD_STATE, "not locked")
            vmo.lock_count -= 1
            return None
        vmo.lock_count += 1
        if op == zx.ZX_VMO_OP_LOCK:
            return zx.zx_vmo_lock_state_t(offset=offset, size=size)
        return None
    if op not in _OP_RIGHTS:
        raise ZxError(_INVALID, f"unknown op {op}")
    need = _OP_RIGHTS[op]
    if h.rights & need != need:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    if op in _CACHE_OPS:
        if size == 0:
            raise ZxError(_INVALID, "a cache op needs a non-zero size")
        if op == zx.ZX_VMO_OP_CACHE_INVALIDATE:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "needs debugging syscalls")
    if offset + size > vmo.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE)
    if op == zx.ZX_VMO_OP_COMMIT:
        vmo.commit(offset, size)
    elif op == zx.ZX_VMO_OP_DECOMMIT:
        if offset % zx.ZX_PAGE_SIZE or size % zx.ZX_PAGE_SIZE:
            raise ZxError(_INVALID, "DECOMMIT needs a page-aligned range")
        if vmo.kind not in ("root", "slice") or any(c.kind != "slice" for c in vmo.children):
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "DECOMMIT on a VMO with non-slice children")
        vmo.decommit(offset, size)
    elif op == zx.ZX_VMO_OP_ZERO:
        if vmo.immutable:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
        vmo.store.zero(vmo.base + offset, size)
    return None


def child_rights(parent_rights: int, options: int) -> int:
    """The child handle's rights (ChildPermsTestHelper in Zircon's vmo.cc)."""
    rights = parent_rights & ~zx.ZX_RIGHT_RESIZE
    if options & zx.ZX_VMO_CHILD_RESIZABLE:
        rights |= zx.ZX_RIGHT_RESIZE
    rights |= zx.ZX_RIGHT_GET_PROPERTY | zx.ZX_RIGHT_SET_PROPERTY
    if options & zx.ZX_VMO_CHILD_NO_WRITE:
        rights &= ~zx.ZX_RIGHT_WRITE
    elif options & (
        zx.ZX_VMO_CHILD_SNAPSHOT | zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE
        | zx.ZX_VMO_CHILD_SNAPSHOT_MODIFIED
    ) and not options & (zx.ZX_VMO_CHILD_SLICE | zx.ZX_VMO_CHILD_REFERENCE):
        rights = (rights | zx.ZX_RIGHT_WRITE) & ~zx.ZX_RIGHT_EXECUTE
    return rights


def sys_vmo_create_child(p: Process, handle: int, options: int, offset: int, size: int) -> int:
    """zx_vmo_create_child: REFERENCE, SLICE or SNAPSHOT* child (+RESIZABLE, NO_WRITE)."""
    size = arg_size(size)
    round_size(size)  # before the handle lookup, as Zircon does
    options = arg_u32(options)
    if options & zx.ZX_VMO_CHILD_NO_WRITE and options & zx.ZX_VMO_CHILD_RESIZABLE:
        raise ZxError(_INVALID, "NO_WRITE with RESIZABLE")
    h = p.lookup(handle, Vmo, zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_READ)
    offset = arg_size(offset)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
    parent: Vmo = h.obj
    child = parent.create_child(options, offset, size)
    rights = child_rights(h.rights, options)
    if h.rights & zx.ZX_RIGHT_GET_PROPERTY:
        child.name = parent.name
    else:
        child.name = b""
    k.publish(child, p.koid)
    return k.new_handle(p, child, rights, reserved=True)


# --------------------------------------------------------------------------- info, properties
def info_vmo(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_vmo_t:
    """ZX_INFO_VMO: the VMO as seen through this handle."""
    if buffer_size is not None and buffer_size < zx.zx_info_vmo_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    vmo: Vmo = h.obj
    return vmo.info(h.rights)


def prop_content_size_get(p: Process, h: Handle, value_size: int | None) -> int:
    """ZX_PROP_VMO_CONTENT_SIZE get: the content size (8-byte value)."""
    vmo = h.obj
    if not isinstance(vmo, Vmo):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if value_size is not None and value_size < 8:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
    return vmo.content_size


def prop_content_size_set(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_VMO_CONTENT_SIZE set: needs WRITE too; may exceed the size; zeroes beyond."""
    vmo = h.obj
    if not isinstance(vmo, Vmo):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if not h.rights & zx.ZX_RIGHT_WRITE:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    if isinstance(value, (bytes, bytearray)) and len(value) == 8:
        value = int.from_bytes(value, "little")
    new = arg_size(value)
    if new < vmo.size:
        vmo.store.zero(vmo.base + new, vmo.size - new)
    vmo.content.value = new
    return None


SYSCALLS = {
    "zx_vmo_create": sys_vmo_create,
    "zx_vmo_read": sys_vmo_read,
    "zx_vmo_write": sys_vmo_write,
    "zx_vmo_get_size": sys_vmo_get_size,
    "zx_vmo_set_size": sys_vmo_set_size,
    "zx_vmo_op_range": sys_vmo_op_range,
    "zx_vmo_create_child": sys_vmo_create_child,
}
