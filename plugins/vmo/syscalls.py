"""The VMO syscalls, info topics and properties (zircon/kernel/lib/syscalls/vmo.cc)."""

from __future__ import annotations

import dataclasses
from typing import Any

from microsim_vmo.vmo import Vmo, round_size

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.syscall import arg_bytes, arg_size, arg_u32
from microsim.errors import ZxError
from microsim.objects.process import Process
from microsim.objects.vmar import check_user_buffer

_INVALID = zx.ZX_ERR_INVALID_ARGS


def _check_range(vmo: Vmo, offset: int, length: int) -> None:
    if offset + length > vmo.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"[{offset}, +{length}) is beyond the VMO's {vmo.size} bytes")


def _check_cached(vmo: Vmo) -> None:
    # VmObjectPaged's read/write paths refuse uncached VMOs before the range check.
    if vmo.cache_policy != zx.ZX_CACHE_POLICY_CACHED:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "zx_vmo_read/write on an uncached VMO")


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
    """zx_vmo_read: `length` bytes at `offset` (ZX_RIGHT_READ; bounds are the VMO size).

    After the bounds check (OUT_OF_RANGE), the output buffer must be one the process could
    hold: longer than a user address space is INVALID_ARGS, more than the whole simulated
    memory is NO_MEMORY (the user buffer's pages could never be faulted in). Nothing is built
    on the host before these checks.
    """
    vmo: Vmo = p.obj(handle, Vmo, zx.ZX_RIGHT_READ)
    offset = arg_size(offset)
    length = arg_size(length)
    _check_cached(vmo)
    _check_range(vmo, offset, length)
    check_user_buffer(p.kernel, length)
    return vmo.read(offset, length)


def sys_vmo_write(p: Process, handle: int, data: bytes, offset: int) -> None:
    """zx_vmo_write: write `data` at `offset` (ZX_RIGHT_WRITE; all or nothing)."""
    vmo: Vmo = p.obj(handle, Vmo, zx.ZX_RIGHT_WRITE)
    buf = arg_bytes(data)
    offset = arg_size(offset)
    _check_cached(vmo)
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


def sys_vmo_get_stream_size(p: Process, handle: int) -> int:
    """zx_vmo_get_stream_size: the stream (content) size; no rights needed. Memory that is
    not stream-compatible (IOB regions) reports 0."""
    vmo: Vmo = p.obj(handle, Vmo, 0)
    size = vmo.stream_size()
    return 0 if size is None else size


def sys_vmo_set_stream_size(p: Process, handle: int, size: int) -> None:
    """zx_vmo_set_stream_size: set the stream size (ZX_RIGHT_WRITE). Does not resize the
    VMO: a size beyond the VMO's is OUT_OF_RANGE; NOT_SUPPORTED for memory without a stream
    size. The same size is a no-op; otherwise the bytes from min(old, new) to the end of the
    VMO are zeroed (VmObjectDispatcher::SetStreamSize)."""
    vmo: Vmo = p.obj(handle, Vmo, zx.ZX_RIGHT_WRITE)
    size = arg_size(size)
    old = vmo.stream_size()
    if old is None:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "the VMO has no stream size")
    if size == old:
        return None
    if size > vmo.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"stream size {size} is beyond the VMO's {vmo.size} bytes")
    start = min(size, old)
    if start < vmo.size:
        vmo.store.zero(vmo.base + start, vmo.size - start)
    vmo.content.value = size
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
        if offset != 0 or size != vmo.size:
            # VmCowPages::LockRangeLocked: only the whole VMO can be locked or unlocked.
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "lock ops cover the whole VMO")
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
    if op == zx.ZX_VMO_OP_CACHE_INVALIDATE and not getattr(p.kernel, "debugging_syscalls", False):
        # VmObjectDispatcher::RangeOp: refused before the rights check unless the kernel runs
        # with kernel.enable-debugging-syscalls (`Kernel.debugging_syscalls`, as the
        # core-tests do).
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "needs debugging syscalls")
    need = _OP_RIGHTS[op]
    if h.rights & need != need:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    if op in _CACHE_OPS and size == 0:
        raise ZxError(_INVALID, "a cache op needs a non-zero size")
    if op in (zx.ZX_VMO_OP_DONT_NEED, zx.ZX_VMO_OP_ALWAYS_NEED):
        # VmObjectPaged::HintRange: only an overflowing range is refused; hints on memory
        # that is never evicted (no pager) are ignored.
        if offset + size > (1 << 64) - 1:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE)
        return None
    if op == zx.ZX_VMO_OP_DECOMMIT:
        n = vmo.check_decommit(offset, size)
        if n:
            vmo.decommit(offset, n)
        return None
    if offset + size > vmo.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE)
    if op == zx.ZX_VMO_OP_COMMIT:
        vmo.commit(offset, size)
    elif op == zx.ZX_VMO_OP_ZERO:
        if vmo.immutable:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
        vmo.store.zero(vmo.base + offset, size, keep=vmo.pinned())
    return None


def ambient_mark_vmo_exec(p: Process) -> int:
    """The status of Zircon's `EnforceBasicPolicy(ZX_POL_AMBIENT_MARK_VMO_EXEC)` for `p`:
    its job's basic policy decides (the root job allows; DENY is ZX_ERR_ACCESS_DENIED; the
    *_EXCEPTION and KILL actions act as they do for every policy)."""
    try:
        p.enforce_policy(zx.ZX_POL_AMBIENT_MARK_VMO_EXEC)
    except ZxError as err:
        return err.status
    return zx.ZX_OK


def sys_vmo_replace_as_executable(p: Process, handle: int, vmex: int) -> int:
    """zx_vmo_replace_as_executable: replace a VMO handle by one with ZX_RIGHT_EXECUTE added.

    Authorisation: a valid `vmex` resource, or with ZX_HANDLE_INVALID the process's ambient
    ZX_POL_AMBIENT_MARK_VMO_EXEC policy (`ambient_mark_vmo_exec`). microsim has no resource
    objects, so a `vmex` handle is never a valid resource: BAD_HANDLE if stale, WRONG_TYPE
    otherwise. As in Zircon, the authorisation is decided first but reported after the
    source handle lookup (BAD_HANDLE), and from then on the source handle is consumed even
    on failure; a source that is not a VMO is BAD_HANDLE.
    """
    if type(vmex) is int and vmex == zx.ZX_HANDLE_INVALID:
        auth = ambient_mark_vmo_exec(p)
    else:
        try:
            p.lookup(vmex, None, 0)
            auth = zx.ZX_ERR_WRONG_TYPE  # no object here is a ZX_RSRC_KIND_VMEX resource
        except ZxError as err:
            auth = err.status
    h = p.handle(handle)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
    p.take_handle(handle, "replace")
    if auth != zx.ZX_OK:
        k.close_handle(h)
        raise ZxError(auth, "not authorised to mark the VMO executable")
    if not isinstance(h.obj, Vmo):
        k.close_handle(h)
        raise ZxError(zx.ZX_ERR_BAD_HANDLE, "not a VMO handle")
    return p.add_handle(Handle(h.obj, h.rights | zx.ZX_RIGHT_EXECUTE), "replace")


def sys_vmo_set_cache_policy(p: Process, handle: int, cache_policy: int) -> None:
    """zx_vmo_set_cache_policy: the handle needs ZX_RIGHT_MAP; then `Vmo.set_cache_policy`'s
    rules (INVALID_ARGS for an unknown policy; BAD_STATE when mapped, pinned, with
    children, a child, or committed while uncached)."""
    vmo: Vmo = p.obj(handle, Vmo, zx.ZX_RIGHT_MAP)
    vmo.set_cache_policy(arg_u32(cache_policy))
    return None


def sys_vmo_transfer_data(
    p: Process, dst_vmo: int, options: int, offset: int, length: int, src_vmo: int, src_offset: int
) -> None:
    """zx_vmo_transfer_data: move the pages of src[src_offset, +length) to
    dst[offset, +length); the source range then reads as zeros.

    Order: options != 0, then any unaligned offset or length (INVALID_ARGS); the
    destination handle needs WRITE, the source READ and WRITE (BAD_HANDLE / WRONG_TYPE /
    ACCESS_DENIED); a range past either VMO (OUT_OF_RANGE); pinned pages (BAD_STATE).
    The same VMO may be source and destination.
    """
    options = arg_u32(options)
    offset = arg_size(offset)
    length = arg_size(length)
    src_offset = arg_size(src_offset)
    if options != 0:
        raise ZxError(_INVALID, "options must be 0")
    if (offset | length | src_offset) % zx.ZX_PAGE_SIZE:
        raise ZxError(_INVALID, "offsets and length must be page-aligned")
    dst: Vmo = p.obj(dst_vmo, Vmo, zx.ZX_RIGHT_WRITE)
    src: Vmo = p.obj(src_vmo, Vmo, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    if src_offset + length > src.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "the source range is beyond the source VMO")
    if offset + length > dst.size:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "the destination range is beyond the VMO")
    if src.pinned() or dst.pinned():
        raise ZxError(zx.ZX_ERR_BAD_STATE, "pinned pages")
    dst.transfer_from(offset, length, src, src_offset)
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


def _older_vmo_info(cls: Any, p: Process, h: Handle, buffer_size: int | None) -> Any:
    if buffer_size is not None and buffer_size < cls.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    full = h.obj.info(h.rights)
    return cls(**{f.name: getattr(full, f.name) for f in dataclasses.fields(cls)})


def info_vmo_v1(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_vmo_v1_t:
    """ZX_INFO_VMO_V1: the first, shorter zx_info_vmo_t layout."""
    return _older_vmo_info(zx.zx_info_vmo_v1_t, p, h, buffer_size)  # type: ignore[no-any-return]


def info_vmo_v2(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_vmo_v2_t:
    """ZX_INFO_VMO_V2: the second zx_info_vmo_t layout (adds metadata_bytes)."""
    return _older_vmo_info(zx.zx_info_vmo_v2_t, p, h, buffer_size)  # type: ignore[no-any-return]


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
    "zx_vmo_get_stream_size": sys_vmo_get_stream_size,
    "zx_vmo_set_stream_size": sys_vmo_set_stream_size,
    "zx_vmo_replace_as_executable": sys_vmo_replace_as_executable,
    "zx_vmo_set_cache_policy": sys_vmo_set_cache_policy,
    "zx_vmo_transfer_data": sys_vmo_transfer_data,
}
