"""The channel plugin: Zircon channels, with handles moved through messages.

Rules from Zircon's channel syscalls and core-tests: ZX_RIGHT_TRANSFER on every handle
sent, handles consumed whether the write succeeds or fails, a message read whole or not at
all (ZX_ERR_BUFFER_TOO_SMALL with the needed sizes; it stays queued unless MAY_DISCARD),
READABLE / WRITABLE / PEER_CLOSED signals, and handles in messages still queued to a
closed end closed with it (which may cascade PEER_CLOSED to channels in flight).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from microsim import hookimpl, zx
from microsim.core.handle import Handle
from microsim.core.object import PeeredObject
from microsim.core.syscall import arg_bytes, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "channels: bidirectional message queues that carry bytes and handles"

_READABLE = zx.ZX_CHANNEL_READABLE
_WRITABLE = zx.ZX_CHANNEL_WRITABLE


class Channel(PeeredObject):
    """One end of a channel; `messages` are those queued for this end to read."""

    obj_type = zx.ZX_OBJ_TYPE_CHANNEL
    type_name = "channel"
    default_rights = zx.ZX_DEFAULT_CHANNEL_RIGHTS

    __slots__ = ("messages",)

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.messages: deque[tuple[bytes, list[Handle]]] = deque()

    def on_peer_zero_handles(self) -> None:
        self.update_signals(_WRITABLE, zx.ZX_CHANNEL_PEER_CLOSED)

    def on_zero_handles(self) -> None:
        super().on_zero_handles()
        self._drop_messages()

    def on_destroy(self) -> None:
        self._drop_messages()

    def _drop_messages(self) -> None:
        # Messages queued to this end die with it; the handles inside are closed.
        k = self.kernel
        while self.messages:
            _, handles = self.messages.popleft()
            for h in handles:
                k.close_handle(h)
        if self.signals & _READABLE:
            self.update_signals(_READABLE, 0)


def sys_channel_create(p: Process, options: int) -> tuple[int, int]:
    """zx_channel_create: two connected ends (no ZX_RIGHT_DUPLICATE by default)."""
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("handle")
        k.mem.alloc("object")
    a, b = Channel(k), Channel(k)
    PeeredObject.link(a, b)
    a.signals = b.signals = _WRITABLE
    k.publish(a, p.koid)
    k.publish(b, p.koid)
    rights = Channel.default_rights
    return k.new_handle(p, a, rights, reserved=True), k.new_handle(p, b, rights, reserved=True)


def _consume(p: Process, values: list[Any]) -> tuple[list[Handle], int]:
    """Take every valid handle out of the table; the first error status (0 if none)."""
    taken: list[Handle] = []
    error = 0
    for v in values:
        try:
            h = p.take_handle(v, "transfer")
        except ZxError:
            error = error or zx.ZX_ERR_BAD_HANDLE
            continue
        taken.append(h)
    return taken, error


def _write(p: Process, handle: int, options: int, data: Any, handles: Any, etc: bool) -> None:
    if not handles and type(handles) in (list, tuple) and type(data) is bytes and options == 0:
        # The common case (bytes only) without the handle bookkeeping below.
        own: Channel = p.obj(handle, Channel, zx.ZX_RIGHT_WRITE)
        if len(data) > zx.ZX_CHANNEL_MAX_MSG_BYTES:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE)
        fast_peer = own.peer
        if not isinstance(fast_peer, Channel):
            raise ZxError(zx.ZX_ERR_PEER_CLOSED)
        if p.kernel.mem.armed:
            p.kernel.mem.alloc("message")
        fast_peer.messages.append((data, []))
        if not fast_peer.signals & _READABLE:
            fast_peer.update_signals(0, _READABLE)
        return
    if not isinstance(handles, (list, tuple)):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "handles must be a list")
    if etc:
        ops = []
        for d in handles:
            if not isinstance(d, zx.zx_handle_disposition_t):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "write_etc takes zx_handle_disposition_t")
            ops.append(d)
        # A DUPLICATE leaves its source in the table; every other disposition (even an
        # invalid one) names a handle that is consumed whatever happens.
        values = [d.handle for d in ops if d.operation != zx.ZX_HANDLE_OP_DUPLICATE]
    else:
        values = list(handles)
    k = p.kernel
    # Handles are consumed whatever happens next (WriteConsumesAllHandles).
    if len(handles) > zx.ZX_CHANNEL_MAX_MSG_HANDLES:
        taken, _ = _consume(p, values)
        for h in taken:
            k.close_handle(h)
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "too many handles")
    try:
        ch = p.lookup(handle, Channel, zx.ZX_RIGHT_WRITE)
        status = 0
        if type(options) is not int or options & ~zx.ZX_CHANNEL_WRITE_USE_IOVEC or options < 0:
            status = zx.ZX_ERR_INVALID_ARGS
        buf = arg_bytes(data)
    except ZxError:
        taken, _ = _consume(p, values)
        for h in taken:
            k.close_handle(h)
        raise
    if not status and len(buf) > zx.ZX_CHANNEL_MAX_MSG_BYTES:
        status = zx.ZX_ERR_OUT_OF_RANGE
    own = ch.obj
    if etc:
        _write_dispositions(p, own, buf, ops, status)
        return
    for v in values:
        found = p.handles.get(v) if type(v) is int else None
        if found is not None and found.obj is own and not status:
            status = zx.ZX_ERR_NOT_SUPPORTED
    taken, bad = _consume(p, values)
    status = status or bad
    if not status:
        for h in taken:
            if not h.rights & zx.ZX_RIGHT_TRANSFER:
                status = zx.ZX_ERR_ACCESS_DENIED
                break
    peer: Any = own.peer
    if not status and peer is None:
        status = zx.ZX_ERR_PEER_CLOSED
    if not status and k.mem.armed:
        try:
            k.mem.alloc("message")
        except ZxError as err:
            status = err.status
    if status:
        for h in taken:
            k.close_handle(h)
        raise ZxError(status)
    assert peer is not None
    peer.messages.append((buf, taken))
    if not peer.signals & _READABLE:
        peer.update_signals(0, _READABLE)


def _disposition_fields_ok(d: Any) -> bool:
    """Every field of a disposition is a uint32 (a Python caller may put anything there)."""
    return all(type(f) is int and 0 <= f <= 0xFFFFFFFF for f in (d.operation, d.handle, d.type, d.rights))


def _transfer_check(h: Handle, own: Channel, d: Any) -> int:
    """Zircon's common_handle_checks_locked for one disposition (0: fine)."""
    if not h.rights & zx.ZX_RIGHT_TRANSFER:
        return zx.ZX_ERR_ACCESS_DENIED
    if h.obj is own:
        return zx.ZX_ERR_NOT_SUPPORTED
    if d.type != zx.ZX_OBJ_TYPE_NONE and h.obj.obj_type != d.type:
        return zx.ZX_ERR_WRONG_TYPE
    if d.rights != zx.ZX_RIGHT_SAME_RIGHTS and h.rights & d.rights != d.rights:
        return zx.ZX_ERR_INVALID_ARGS
    return 0


def _write_dispositions(p: Process, own: Channel, buf: bytes, ops: list[Any], status: int) -> None:
    """zx_channel_write_etc once the channel, options and bytes are checked.

    Every disposition is validated before the message is queued. As in Zircon, each one
    that is not a DUPLICATE loses its source handle whatever happens; the first error is
    returned (and stored in that disposition's `result`), and then nothing is sent and
    every handle taken is closed.
    """
    k = p.kernel
    taken: list[Handle] = []
    for d in ops:
        err = 0
        if not _disposition_fields_ok(d):
            err = zx.ZX_ERR_INVALID_ARGS
            if type(d.handle) is int and d.operation != zx.ZX_HANDLE_OP_DUPLICATE and d.handle in p.handles:
                taken.append(p.take_handle(d.handle, "transfer"))
        elif d.handle not in p.handles:
            err = zx.ZX_ERR_BAD_HANDLE
        elif d.operation == zx.ZX_HANDLE_OP_DUPLICATE:
            src = p.handles[d.handle]
            err = _transfer_check(src, own, d)
            if not err and not src.rights & zx.ZX_RIGHT_DUPLICATE:
                err = zx.ZX_ERR_ACCESS_DENIED
            if not err and k.mem.armed:
                try:
                    k.mem.alloc("handle")
                except ZxError as e:
                    err = e.status
            if not err:
                rights = src.rights if d.rights == zx.ZX_RIGHT_SAME_RIGHTS else d.rights
                dup = Handle(src.obj, rights)
                src.obj.handle_count += 1
                taken.append(dup)
        else:
            h = p.take_handle(d.handle, "transfer")
            taken.append(h)
            if d.operation != zx.ZX_HANDLE_OP_MOVE:
                err = zx.ZX_ERR_INVALID_ARGS
            else:
                err = _transfer_check(h, own, d)
                if not err and d.rights != zx.ZX_RIGHT_SAME_RIGHTS:
                    h.rights = d.rights
        if err:
            with contextlib.suppress(AttributeError, TypeError):
                d.result = err
            status = status or err
    peer: Any = own.peer
    if not status and peer is None:
        status = zx.ZX_ERR_PEER_CLOSED
    if not status and k.mem.armed:
        try:
            k.mem.alloc("message")
        except ZxError as err2:
            status = err2.status
    if status:
        for h in taken:
            k.close_handle(h)
        raise ZxError(status)
    peer.messages.append((buf, taken))
    if not peer.signals & _READABLE:
        peer.update_signals(0, _READABLE)


def sys_channel_write(p: Process, handle: int, options: int, data: bytes, handles: list[int]) -> None:
    """zx_channel_write: queue `data` and `handles` (moved out of this process)."""
    _write(p, handle, options, data, handles, etc=False)


def sys_channel_write_etc(p: Process, handle: int, options: int, data: bytes, handles: list[Any]) -> None:
    """zx_channel_write_etc: like write, with zx_handle_disposition_t entries (MOVE)."""
    _write(p, handle, options, data, handles, etc=True)


def _read(p: Process, handle: int, options: int, num_bytes: int, num_handles: int) -> tuple[bytes, list[Handle]]:
    ch: Channel = p.obj(handle, Channel, zx.ZX_RIGHT_READ)
    options = arg_u32(options)
    if options & ~zx.ZX_CHANNEL_READ_MAY_DISCARD:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown options")
    num_bytes = arg_u32(num_bytes)
    num_handles = arg_u32(num_handles)
    if not ch.messages:
        if ch.peer is None:
            raise ZxError(zx.ZX_ERR_PEER_CLOSED)
        raise ZxError(zx.ZX_ERR_SHOULD_WAIT)
    data, handles = ch.messages[0]
    k = p.kernel
    if len(data) > num_bytes or len(handles) > num_handles:
        if options & zx.ZX_CHANNEL_READ_MAY_DISCARD:
            ch.messages.popleft()
            for h in handles:
                k.close_handle(h)
            if not ch.messages:
                ch.update_signals(_READABLE, 0)
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual_bytes=len(data), actual_handles=len(handles))
    if k.mem.armed:
        for _ in handles:
            k.mem.alloc("handle")
    ch.messages.popleft()
    if not ch.messages:
        ch.update_signals(_READABLE, 0)
    for h in handles:
        p.add_handle(h, "transfer")
    return data, handles


def sys_channel_read(
    p: Process, handle: int, options: int = 0, num_bytes: int = zx.ZX_CHANNEL_MAX_MSG_BYTES,
    num_handles: int = zx.ZX_CHANNEL_MAX_MSG_HANDLES,
) -> tuple[bytes, list[int]]:
    """zx_channel_read: the next message as (bytes, handle values)."""
    data, handles = _read(p, handle, options, num_bytes, num_handles)
    return data, [h.value for h in handles]


def sys_channel_read_etc(
    p: Process, handle: int, options: int = 0, num_bytes: int = zx.ZX_CHANNEL_MAX_MSG_BYTES,
    num_handles: int = zx.ZX_CHANNEL_MAX_MSG_HANDLES,
) -> tuple[bytes, list[zx.zx_handle_info_t]]:
    """zx_channel_read_etc: like read, with each handle's type and rights."""
    data, handles = _read(p, handle, options, num_bytes, num_handles)
    return data, [zx.zx_handle_info_t(h.value, h.obj.obj_type, h.rights, 0) for h in handles]


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Channel)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_channel_create", sys_channel_create)
    register("zx_channel_write", sys_channel_write)
    register("zx_channel_write_etc", sys_channel_write_etc)
    register("zx_channel_read", sys_channel_read)
    register("zx_channel_read_etc", sys_channel_read_etc)


@hookimpl
def count_held_handles(kernel: Kernel, count: Callable[[Handle, str], None]) -> None:
    for obj in kernel.live_objects("channel"):
        assert isinstance(obj, Channel)
        for i, (_, handles) in enumerate(obj.messages):
            for h in handles:
                count(h, f"{obj!r} message {i}")


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("channel"):
        assert isinstance(obj, Channel)
        readable = bool(obj.signals & _READABLE)
        if readable != bool(obj.messages):
            report(f"{obj!r}: READABLE={readable} with {len(obj.messages)} messages")
        if bool(obj.signals & zx.ZX_CHANNEL_PEER_CLOSED) == (obj.peer is not None):
            report(f"{obj!r}: PEER_CLOSED does not match the peer link")
        for _, handles in obj.messages:
            for h in handles:
                if h.owner is not None or not h.obj.alive:
                    report(f"{obj!r}: in-flight {h!r} is owned or names a dead object")
