"""The generic syscalls every object type shares: handles, info, properties, signals, waits, time."""

from __future__ import annotations

from typing import Any

from microsim import zx
from microsim.blocking import deadline_after, sleep_until, wait_signals, wait_signals_many
from microsim.core.handle import Handle
from microsim.core.info import PropertySpec
from microsim.core.syscall import arg_bytes, arg_i64, arg_u32
from microsim.errors import ZxError
from microsim.objects.process import Process

_SAME = zx.ZX_RIGHT_SAME_RIGHTS
_DUP = zx.ZX_RIGHT_DUPLICATE
_INVALID_ARGS = zx.ZX_ERR_INVALID_ARGS
_BAD_HANDLE = zx.ZX_ERR_BAD_HANDLE


# --------------------------------------------------------------------------- handles
def sys_handle_duplicate(p: Process, handle: int, rights: int) -> int:
    """zx_handle_duplicate: a new handle to the same object with `rights` (or the same)."""
    h = p.handles.get(handle) if type(handle) is int else None
    if h is None:
        raise p.bad_handle()  # ZX_ERR_BAD_HANDLE, after the job's ZX_POL_BAD_HANDLE
    if not h.rights & _DUP:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)
    if rights == _SAME and type(rights) is int:
        new_rights = h.rights
    else:
        rights = arg_u32(rights)
        if rights & h.rights != rights:
            raise ZxError(_INVALID_ARGS, "rights must be a subset of the handle's rights")
        new_rights = rights
    # Kernel.new_handle, inline (its allocation point, then Process.new_handle): duplicate +
    # close is the hottest pair of syscalls.
    mem = p.kernel.mem
    if mem.armed:
        mem.alloc("handle")
    return p.new_handle(h.obj, new_rights, "duplicate")


def sys_handle_replace(p: Process, handle: int, rights: int) -> int:
    """zx_handle_replace: swap a handle for one with fewer rights.

    As in Zircon, the source handle is gone even when the new rights are not a subset
    (ZX_ERR_INVALID_ARGS): `HandleDup.ReplaceFailureBothInvalid`.
    """
    h = p.handle(handle)
    if not (rights == _SAME and type(rights) is int):
        arg_u32(rights)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
    new_rights = h.rights if rights == _SAME else rights
    p.take_handle(handle, "replace")
    if new_rights & h.rights != new_rights:
        k.close_handle(h)
        raise ZxError(_INVALID_ARGS, "rights must be a subset of the handle's rights")
    # The object keeps its count: the new handle takes the old one's place.
    return p.add_handle(Handle(h.obj, new_rights), "replace")


def sys_handle_close(p: Process, handle: int) -> None:
    """zx_handle_close: close a handle (ZX_HANDLE_INVALID is accepted and ignored)."""
    if handle == 0 and type(handle) is int:  # ZX_HANDLE_INVALID
        return None
    # Process.take_handle, then Kernel.close_handle, inline: duplicate + close is the
    # hottest pair of syscalls, and each Python frame saved is measurable (bench/).
    h = p.handles.pop(handle, None) if type(handle) is int else None
    if h is None:
        raise p.bad_handle()
    h.owner = None
    obj = h.obj
    k = p.kernel
    if k.handle_events:
        trace = k.trace
        if trace is not None and k.obs_handle_closed is None:
            # Traced, not observed (the common case): the row, inline.
            buf = trace.buffer
            buf.append(("handle_closed", k.now, k.cur_sc, p.koid, k.cur_tid, handle, obj.koid, "close"))
            if len(buf) >= trace.batch:
                trace.flush()
        else:
            p.emit_handle_closed(h, handle, "close")
    if obj.observers:
        obj.cancel_observers(h)
    obj.handle_count -= 1
    if obj.handle_count == 0:
        k.last_handle_closed(obj)
    return None


def sys_handle_close_many(p: Process, handles: list[int]) -> None:
    """zx_handle_close_many: close every valid handle; BAD_HANDLE if any was bad."""
    if not isinstance(handles, (list, tuple)):
        raise ZxError(_INVALID_ARGS, "expected a list of handle values")
    bad = False
    for value in handles:
        if value == zx.ZX_HANDLE_INVALID and type(value) is int:
            continue
        try:
            h = p.take_handle(value, "close")
        except ZxError:
            bad = True
            continue
        p.kernel.close_handle(h)
    if bad:
        raise ZxError(_BAD_HANDLE)
    return None


# --------------------------------------------------------------------------- info
def _fixed(cls: Any, buffer_size: int | None) -> None:
    """The old private name of `zx.Struct.check_buffer` (kept for code not yet moved)."""
    cls.check_buffer(buffer_size)


def sys_object_get_info(p: Process, handle: int, topic: int, buffer_size: int | None = None) -> Any:
    """zx_object_get_info: one record, or an `InfoList` for array topics.

    `buffer_size` is the size in bytes of the caller's buffer (None: large enough).
    """
    topic = arg_u32(topic)
    if buffer_size is not None and (type(buffer_size) is not int or buffer_size < 0):
        raise ZxError(_INVALID_ARGS, "buffer_size must be a non-negative int or None")
    spec = p.kernel.info_topics.get(topic)
    if spec is None:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, f"unknown info topic {topic:#x}")
    if topic == zx.ZX_INFO_HANDLE_VALID and (type(handle) is not int or handle not in p.handles):
        raise ZxError(_BAD_HANDLE)  # the one lookup exempt from ZX_POL_BAD_HANDLE
    h = p.lookup(handle, spec.cls, spec.rights)
    return spec.handler(p, h, buffer_size)


def info_handle_valid(p: Process, h: Handle, buffer_size: int | None) -> None:
    """ZX_INFO_HANDLE_VALID: OK when the handle is valid (no buffer)."""
    return None


def info_handle_basic(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_HANDLE_BASIC: koid, rights, type and related koid."""
    zx.zx_info_handle_basic_t.check_buffer(buffer_size)
    obj = h.obj
    return zx.zx_info_handle_basic_t(
        koid=obj.koid, rights=h.rights, type=obj.obj_type, related_koid=obj.related_koid
    )


def info_handle_count(p: Process, h: Handle, buffer_size: int | None) -> Any:
    """ZX_INFO_HANDLE_COUNT: how many handles refer to the object."""
    zx.zx_info_handle_count_t.check_buffer(buffer_size)
    return zx.zx_info_handle_count_t(handle_count=h.obj.handle_count)


# --------------------------------------------------------------------------- properties
def _check_property(spec: PropertySpec, h: Handle, rights: int) -> None:
    """A registered property's class (WRONG_TYPE), then its rights (ACCESS_DENIED)."""
    if spec.cls is not None and not isinstance(h.obj, spec.cls):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    if h.rights & rights != rights:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED)


def sys_object_get_property(p: Process, handle: int, property: int, value_size: int | None = None) -> Any:
    """zx_object_get_property: ZX_PROP_NAME gives the name (bytes); plugins add more."""
    h = p.lookup(handle, None, zx.ZX_RIGHT_GET_PROPERTY)
    prop = arg_u32(property)
    if value_size is not None and (type(value_size) is not int or value_size < 0):
        raise ZxError(_INVALID_ARGS, "value_size must be a non-negative int or None")
    if prop == zx.ZX_PROP_NAME:
        if value_size is not None and value_size < zx.ZX_MAX_NAME_LEN:
            raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
        return h.obj.get_name()
    spec = p.kernel.properties.get(prop)
    if spec is None or spec.get is None:
        raise ZxError(_INVALID_ARGS, f"unknown property {prop}")
    if value_size is not None and value_size < spec.size:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
    _check_property(spec, h, spec.rights)
    return spec.get(p, h, value_size)


def sys_object_set_property(p: Process, handle: int, property: int, value: Any) -> None:
    """zx_object_set_property: ZX_PROP_NAME takes bytes (or str), truncated to 31 bytes."""
    h = p.lookup(handle, None, zx.ZX_RIGHT_SET_PROPERTY)
    prop = arg_u32(property)
    if prop == zx.ZX_PROP_NAME:
        data = value.encode() if isinstance(value, str) else arg_bytes(value)
        data = data[: zx.ZX_MAX_NAME_LEN - 1].split(b"\0", 1)[0]
        h.obj.set_name(data)
        k = p.kernel
        if k.trace is not None:
            k.emit("name", h.obj.koid, h.obj.get_name().decode(errors="replace"))
        return None
    spec = p.kernel.properties.get(prop)
    if spec is None or spec.set is None:
        raise ZxError(_INVALID_ARGS, f"unknown property {prop}")
    _check_property(spec, h, spec.rights | spec.set_rights)
    spec.set(p, h, value)
    return None


# --------------------------------------------------------------------------- signals
def sys_object_signal(p: Process, handle: int, clear_mask: int, set_mask: int) -> None:
    """zx_object_signal: change the object's own user signals (ZX_RIGHT_SIGNAL)."""
    h = p.lookup(handle, None, zx.ZX_RIGHT_SIGNAL)
    clear_mask = arg_u32(clear_mask)
    set_mask = arg_u32(set_mask)
    obj = h.obj
    if not obj.waitable:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED)
    if (clear_mask | set_mask) & ~type(obj).signal_mask:
        raise ZxError(_INVALID_ARGS, "only user signals may be changed")
    obj.update_signals(clear_mask, set_mask)
    return None


def sys_object_signal_peer(p: Process, handle: int, clear_mask: int, set_mask: int) -> None:
    """zx_object_signal_peer: change the peer's user signals (ZX_RIGHT_SIGNAL_PEER)."""
    h = p.lookup(handle, None, zx.ZX_RIGHT_SIGNAL_PEER)
    h.obj.user_signal_peer(arg_u32(clear_mask), arg_u32(set_mask))
    return None


# --------------------------------------------------------------------------- waiting
def _waitable(p: Process, handle: Any) -> Handle:
    h = p.lookup(handle, None, zx.ZX_RIGHT_WAIT)
    if not h.obj.waitable:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED)
    return h


def sys_object_wait_one(p: Process, handle: int, signals: int, deadline: int) -> int:
    """zx_object_wait_one: wait until any of `signals` is asserted; returns observed.

    ZX_ERR_TIMED_OUT (with `.observed`) when the deadline passes first; ZX_ERR_CANCELED
    (observed includes ZX_SIGNAL_HANDLE_CLOSED) if the handle is closed meanwhile.
    """
    h = _waitable(p, handle)
    signals = arg_u32(signals)
    return wait_signals(h, signals, arg_i64(deadline))


def _wait_item(item: Any) -> tuple[Any, int]:
    if isinstance(item, zx.zx_wait_item_t):
        return item.handle, item.waitfor
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    raise ZxError(_INVALID_ARGS, "a wait item is zx_wait_item_t or (handle, signals)")


def sys_object_wait_many(p: Process, items: list[Any], deadline: int) -> list[int]:
    """zx_object_wait_many: wait on several handles; returns each item's pending signals."""
    if not isinstance(items, (list, tuple)):
        raise ZxError(_INVALID_ARGS, "items must be a list")
    if len(items) > zx.ZX_WAIT_MANY_MAX_ITEMS:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE)
    parsed = [_wait_item(i) for i in items]
    entries: list[tuple[Handle, int]] = []
    for value, signals in parsed:
        h = _waitable(p, value)
        entries.append((h, arg_u32(signals)))
    return wait_signals_many(p.kernel, entries, arg_i64(deadline))


# --------------------------------------------------------------------------- time
def sys_clock_get_monotonic(p: Process) -> int:
    """zx_clock_get_monotonic: virtual time in nanoseconds."""
    return p.kernel.now


def sys_deadline_after(p: Process, nanoseconds: int) -> int:
    """zx_deadline_after: now + nanoseconds, saturating at ZX_TIME_INFINITE."""
    return deadline_after(p.kernel, arg_i64(nanoseconds))


def sys_nanosleep(p: Process, deadline: int) -> None:
    """zx_nanosleep: block until `deadline` (virtual time)."""
    deadline = arg_i64(deadline)
    sleep_until(p.kernel, deadline, description=lambda: f"nanosleep(until {deadline})")
    return None


SYSCALLS: dict[str, Any] = {
    "zx_handle_duplicate": sys_handle_duplicate,
    "zx_handle_replace": sys_handle_replace,
    "zx_handle_close": sys_handle_close,
    "zx_handle_close_many": sys_handle_close_many,
    "zx_object_get_info": sys_object_get_info,
    "zx_object_get_property": sys_object_get_property,
    "zx_object_set_property": sys_object_set_property,
    "zx_object_signal": sys_object_signal,
    "zx_object_signal_peer": sys_object_signal_peer,
    "zx_object_wait_one": sys_object_wait_one,
    "zx_object_wait_many": sys_object_wait_many,
    "zx_clock_get_monotonic": sys_clock_get_monotonic,
    "zx_deadline_after": sys_deadline_after,
    "zx_nanosleep": sys_nanosleep,
}
INFO_TOPICS: list[tuple[int, Any, str, Any, int]] = [
    (zx.ZX_INFO_HANDLE_VALID, info_handle_valid, "ZX_INFO_HANDLE_VALID", None, 0),
    (zx.ZX_INFO_HANDLE_BASIC, info_handle_basic, "ZX_INFO_HANDLE_BASIC", None, 0),
    (zx.ZX_INFO_HANDLE_COUNT, info_handle_count, "ZX_INFO_HANDLE_COUNT", None, zx.ZX_RIGHT_INSPECT),
]
