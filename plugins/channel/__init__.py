"""The channel plugin: Zircon channels, with handles moved through messages.

Rules from Zircon's channel syscalls and core-tests: ZX_RIGHT_TRANSFER on every handle
sent, handles consumed whether the write succeeds or fails, a message read whole or not at
all (ZX_ERR_BUFFER_TOO_SMALL with the needed sizes; it stays queued unless MAY_DISCARD),
READABLE / WRITABLE / PEER_CLOSED signals, and handles in messages still queued to a
closed end closed with it (which may cascade PEER_CLOSED to channels in flight).

zx_channel_call / zx_channel_call_etc write a request whose first 4 bytes the kernel
replaces with a transaction id >= 0x80000000 and block until a message carrying that txid
is written back to the calling end (it bypasses the queue), the deadline passes
(ZX_ERR_TIMED_OUT), the peer closes (ZX_ERR_PEER_CLOSED) or the calling end's last handle
closes (ZX_ERR_CANCELED).

Limits (Zircon's): a message carries at most ZX_CHANNEL_MAX_MSG_BYTES (65536) bytes and
ZX_CHANNEL_MAX_MSG_HANDLES (64) handles (else ZX_ERR_OUT_OF_RANGE); a call's request is at
least 4 bytes (else ZX_ERR_INVALID_ARGS). Every queued message is charged to the kernel's
simulated memory (its bytes plus a 64-byte header) until it is read or destroyed, so a
flood ends in ZX_ERR_NO_MEMORY. An endpoint holding more than 3500 unread messages
(`MAX_PENDING_MESSAGES`) raises Zircon's ZX_EXCP_POLICY_CODE_CHANNEL_FULL_WRITE policy
exception on the writing thread (`Process.raise_policy_exception`; unhandled, it kills the
writer's process); the message is queued all the same, as in Zircon.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from microsim import hookimpl, zx
from microsim.blocking import WaitQueue
from microsim.core.handle import Handle
from microsim.core.object import PeeredObject
from microsim.core.syscall import arg_bytes, arg_i64, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "channels: bidirectional message queues that carry bytes and handles"

_READABLE = zx.ZX_CHANNEL_READABLE
_WRITABLE = zx.ZX_CHANNEL_WRITABLE
_PAGE = zx.ZX_PAGE_SIZE

# Zircon's kMaxPendingMessageCount (channel_dispatcher.cc).
MAX_PENDING_MESSAGES = 3500
# Simulated-memory charge per queued message beyond its bytes (Zircon's MessagePacket header).
MESSAGE_OVERHEAD = 64
# Transaction ids the kernel generates for zx_channel_call are >= this (kMinKernelGeneratedTxid).
MIN_KERNEL_TXID = 0x80000000


class Channel(PeeredObject):
    """One end of a channel; `messages` are those queued for this end to read."""

    obj_type = zx.ZX_OBJ_TYPE_CHANNEL
    type_name = "channel"
    default_rights = zx.ZX_DEFAULT_CHANNEL_RIGHTS

    __slots__ = ("call_waiters", "messages", "txid_counter")

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.messages: deque[tuple[bytes, list[Handle]]] = deque()
        # zx_channel_call waiters of this end by txid: a one-thread queue and the slot
        # the reply is put in.
        self.call_waiters: dict[int, _Call] | None = None
        self.txid_counter = 0

    def on_peer_zero_handles(self) -> None:
        self.update_signals(_WRITABLE, zx.ZX_CHANNEL_PEER_CLOSED)
        self._finish_calls(zx.ZX_ERR_PEER_CLOSED)

    def on_zero_handles(self) -> None:
        super().on_zero_handles()
        self._drop_messages()
        self._finish_calls(zx.ZX_ERR_CANCELED)

    def _finish_calls(self, status: int) -> None:
        waiters = self.call_waiters
        self.call_waiters = None
        if waiters:
            for call in list(waiters.values()):
                call.queue.wake_all(status=status)

    def next_txid(self) -> int:
        """A kernel txid (>= 0x80000000) not used by another call waiting on this end."""
        busy = self.call_waiters or {}
        while True:
            self.txid_counter = (self.txid_counter + 1) & 0x7FFFFFFF
            txid = self.txid_counter | MIN_KERNEL_TXID
            if txid not in busy:
                return txid

    def deliver_call_reply(self, data: bytes, handles: list[Handle]) -> bool:
        """Hand a message written to this end to the zx_channel_call waiting for its txid."""
        waiters = self.call_waiters
        if not waiters or len(data) < 4:
            return False
        txid = int.from_bytes(data[:4], "little")
        call = waiters.get(txid) if txid >= MIN_KERNEL_TXID else None
        if call is None or call.reply is not None or not call.queue:
            return False
        call.reply = (data, handles)
        call.queue.wake_one()
        return True

    def enqueue(self, p: Process, data: bytes, handles: list[Handle]) -> None:
        """Queue a message (already charged to simulated memory) for this end to read."""
        if self.call_waiters and self.deliver_call_reply(data, handles):
            self.kernel.mem.uncharge_bytes(len(data) + MESSAGE_OVERHEAD)
            return
        self.messages.append((data, handles))
        if not self.signals & _READABLE:
            self.update_signals(0, _READABLE)
        if len(self.messages) > MAX_PENDING_MESSAGES:
            self.queue_full(p)

    def queue_full(self, p: Process) -> None:
        """More than MAX_PENDING_MESSAGES unread: Zircon's CHANNEL_FULL_WRITE on the writer."""
        k = self.kernel
        if k.trace is not None:
            k.emit("channel.queue_full", self.koid, len(self.messages))
        p.raise_policy_exception(zx.ZX_EXCP_POLICY_CODE_CHANNEL_FULL_WRITE)

    def on_destroy(self) -> None:
        self._drop_messages()

    def _drop_messages(self) -> None:
        # Messages queued to this end die with it; the handles inside are closed.
        k = self.kernel
        while self.messages:
            data, handles = self.messages.popleft()
            k.mem.uncharge_bytes(len(data) + MESSAGE_OVERHEAD)
            for h in handles:
                k.close_handle(h)
        if self.signals & _READABLE:
            self.update_signals(_READABLE, 0)


def sys_channel_create(p: Process, options: int) -> tuple[int, int]:
    """zx_channel_create: two connected ends (no ZX_RIGHT_DUPLICATE by default)."""
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    p.enforce_policy(zx.ZX_POL_NEW_CHANNEL)
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
        mem = p.kernel.mem
        cost = len(data) + MESSAGE_OVERHEAD
        if mem.armed or (mem.size is not None and mem.bytes_used + cost + mem.pages_used * _PAGE > mem.size):
            mem.charge_bytes(cost, "message")  # the allocation point (raises when full)
        else:
            mem.bytes_used += cost
        if fast_peer.call_waiters:
            fast_peer.enqueue(p, data, [])
            return
        queue = fast_peer.messages
        queue.append((data, []))
        if not fast_peer.signals & _READABLE:
            fast_peer.update_signals(0, _READABLE)
        if len(queue) > MAX_PENDING_MESSAGES:
            fast_peer.queue_full(p)
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
    _send(p, own, buf, taken, status)


def _send(p: Process, own: Channel, buf: bytes, taken: list[Handle], status: int) -> None:
    """The end of zx_channel_write[_etc]: with no earlier error (`status` 0), check the
    peer and charge the message, then queue it; on any error close every handle taken
    (they are consumed whatever happens) and raise it."""
    k = p.kernel
    peer = own.peer
    if not status and peer is None:
        status = zx.ZX_ERR_PEER_CLOSED
    if not status:
        try:
            k.mem.charge_bytes(len(buf) + MESSAGE_OVERHEAD, "message")
        except ZxError as err:
            status = err.status
    if status:
        for h in taken:
            k.close_handle(h)
        raise ZxError(status)
    assert isinstance(peer, Channel)
    peer.enqueue(p, buf, taken)


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
    _send(p, own, buf, taken, status)


def sys_channel_write(p: Process, handle: int, options: int, data: bytes, handles: list[int]) -> None:
    """zx_channel_write: queue `data` and `handles` (moved out of this process).

    Limits: at most 65536 bytes and 64 handles (ZX_ERR_OUT_OF_RANGE); each queued message
    is charged to simulated memory (its bytes plus 64) until read (ZX_ERR_NO_MEMORY when
    full); more than 3500 unread messages raise the CHANNEL_FULL_WRITE policy exception.
    """
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
            k.mem.uncharge_bytes(len(data) + MESSAGE_OVERHEAD)
            for h in handles:
                k.close_handle(h)
            if not ch.messages:
                ch.update_signals(_READABLE, 0)
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual_bytes=len(data), actual_handles=len(handles))
    if k.mem.armed:
        for _ in handles:
            k.mem.alloc("handle")
    ch.messages.popleft()
    k.mem.bytes_used -= len(data) + MESSAGE_OVERHEAD
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


class _Call:
    """A zx_channel_call waiting on its endpoint for the reply with its txid."""

    __slots__ = ("queue", "reply")

    def __init__(self, channel: Channel) -> None:
        self.queue = WaitQueue(channel.kernel, channel)
        self.reply: tuple[bytes, list[Handle]] | None = None


def _call_handle_values(wr_handles: Any, etc: bool) -> list[Any]:
    if not isinstance(wr_handles, (list, tuple)):
        return []
    if etc:
        # Only MOVE entries leave the caller's table; DUPLICATE entries stay valid.
        return [d.handle for d in wr_handles if isinstance(d, zx.zx_handle_disposition_t)
                and d.operation == zx.ZX_HANDLE_OP_MOVE]
    return list(wr_handles)


def _call(p: Process, handle: int, options: int, deadline: int, args: Any, etc: bool) -> tuple[bytes, list[Handle]]:
    if not isinstance(args, zx.zx_channel_call_args_t):
        # The arguments could not be read: nothing was consumed.
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "expected a zx_channel_call_args_t")
    k = p.kernel
    wr_handles = args.wr_handles

    def fail(status: int) -> ZxError:
        taken, _ = _consume(p, _call_handle_values(wr_handles, etc))
        for h in taken:
            k.close_handle(h)
        return ZxError(status)

    if type(options) is not int or options < 0 or options & ~zx.ZX_CHANNEL_WRITE_USE_IOVEC:
        raise fail(zx.ZX_ERR_INVALID_ARGS)
    try:
        deadline = arg_i64(deadline)
        rd_bytes = arg_u32(args.rd_num_bytes)
        rd_handles = arg_u32(args.rd_num_handles)
        ch = p.lookup(handle, Channel, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
        if not isinstance(wr_handles, (list, tuple)):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "wr_handles must be a list")
        buf = arg_bytes(args.wr_bytes)
    except ZxError as err:
        raise fail(err.status) from None
    if len(buf) > zx.ZX_CHANNEL_MAX_MSG_BYTES or len(wr_handles) > zx.ZX_CHANNEL_MAX_MSG_HANDLES:
        raise fail(zx.ZX_ERR_OUT_OF_RANGE)
    if len(buf) < 4:
        raise fail(zx.ZX_ERR_INVALID_ARGS)
    own: Channel = ch.obj
    txid = own.next_txid()
    # Attaching handles, the peer check and the queueing follow zx_channel_write's rules.
    _write(p, handle, 0, txid.to_bytes(4, "little") + buf[4:], list(wr_handles), etc)
    call = _Call(own)
    if own.call_waiters is None:
        own.call_waiters = {txid: call}
    else:
        own.call_waiters[txid] = call
    try:
        call.queue.wait(deadline, reason=zx.ZX_THREAD_STATE_BLOCKED_CHANNEL,
                        description=lambda: f"channel_call(koid {own.koid}, txid {txid:#x})")
    except BaseException:
        if call.reply is not None:  # replied, then killed before it could run
            for h in call.reply[1]:
                k.close_handle(h)
        raise
    finally:
        waiters = own.call_waiters
        if waiters is not None and waiters.get(txid) is call:
            del waiters[txid]
    if call.reply is None:
        raise ZxError(zx.ZX_ERR_INTERNAL)
    data, handles = call.reply
    if len(data) > rd_bytes or len(handles) > rd_handles:
        # The reply is consumed and discarded (its handles closed); actual_* not written.
        for h in handles:
            k.close_handle(h)
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
    if k.mem.armed:
        try:
            for _ in handles:
                k.mem.alloc("handle")
        except ZxError:
            for h in handles:
                k.close_handle(h)
            raise
    for h in handles:
        p.add_handle(h, "transfer")
    return data, handles


def sys_channel_call(p: Process, handle: int, options: int, deadline: int, args: Any) -> tuple[bytes, list[int]]:
    """zx_channel_call: write `args.wr_bytes` (first 4 bytes replaced by a kernel txid
    >= 0x80000000) and `args.wr_handles`, then wait until `deadline` for the reply with
    that txid; returns (reply bytes, handle values).

    The channel needs READ and WRITE. Errors in Zircon's order: `args` unreadable ->
    INVALID_ARGS (handles untouched); from then on the handles are consumed on failure:
    unknown options -> INVALID_ARGS; handle lookup; more than 65536 bytes or 64 handles ->
    OUT_OF_RANGE; fewer than 4 bytes -> INVALID_ARGS; the handle rules of
    zx_channel_write; peer closed -> PEER_CLOSED. Then TIMED_OUT (a late reply is queued
    normally), PEER_CLOSED, CANCELED (the calling end's last handle closed), and
    BUFFER_TOO_SMALL when the reply exceeds `args.rd_num_bytes` / `rd_num_handles`
    (the reply is discarded).
    """
    data, handles = _call(p, handle, options, deadline, args, etc=False)
    return data, [h.value for h in handles]


def sys_channel_call_etc(p: Process, handle: int, options: int, deadline: int, args: Any) -> tuple[bytes, list[zx.zx_handle_info_t]]:
    """zx_channel_call_etc: zx_channel_call with zx_handle_disposition_t entries to send
    and zx_handle_info_t records (type, rights) for the reply's handles."""
    data, handles = _call(p, handle, options, deadline, args, etc=True)
    return data, [zx.zx_handle_info_t(h.value, h.obj.obj_type, h.rights, 0) for h in handles]


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Channel)


@hookimpl
def register_event_kinds(register: Callable[..., None]) -> None:
    # A write left more than MAX_PENDING_MESSAGES unread on the end `koid`.
    register("channel.queue_full", ("koid", "pending"))


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_channel_create", sys_channel_create)
    register("zx_channel_write", sys_channel_write)
    register("zx_channel_write_etc", sys_channel_write_etc)
    register("zx_channel_read", sys_channel_read)
    register("zx_channel_read_etc", sys_channel_read_etc)
    register("zx_channel_call", sys_channel_call)
    register("zx_channel_call_etc", sys_channel_call_etc)


@hookimpl
def count_held_handles(kernel: Kernel, count: Callable[[Handle, str], None]) -> None:
    for obj in kernel.live_objects("channel"):
        assert isinstance(obj, Channel)
        for i, (_, handles) in enumerate(obj.messages):
            for h in handles:
                count(h, f"{obj!r} message {i}")
        # A reply handed to a zx_channel_call whose thread has not resumed yet.
        for txid, call in (obj.call_waiters or {}).items():
            if call.reply is not None:
                for h in call.reply[1]:
                    count(h, f"{obj!r} reply to channel_call txid {txid:#x}")


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("channel"):
        assert isinstance(obj, Channel)
        readable = bool(obj.signals & _READABLE)
        if readable != bool(obj.messages):
            report(f"{obj!r}: READABLE={readable} with {len(obj.messages)} messages")
        if bool(obj.signals & zx.ZX_CHANNEL_PEER_CLOSED) == (obj.peer is not None):
            report(f"{obj!r}: PEER_CLOSED does not match the peer link")
        if obj.peer is None and obj.call_waiters:
            report(f"{obj!r}: zx_channel_call waiters without a peer")
        for _, handles in obj.messages:
            for h in handles:
                if h.owner is not None or not h.obj.alive:
                    report(f"{obj!r}: in-flight {h!r} is owned or names a dead object")


class KernelChannel:
    """A channel whose other end the kernel holds (see the `make_kernel_channel` hook)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel_end = Channel(kernel)
        self.user_end = Channel(kernel)
        PeeredObject.link(self.kernel_end, self.user_end)
        self.kernel_end.signals = self.user_end.signals = _WRITABLE
        self.kernel_end.retain()  # held by the kernel, not by a handle
        kernel.publish(self.kernel_end)
        kernel.publish(self.user_end)

    def alive(self) -> bool:
        """Whether the user end is still open."""
        return self.kernel_end.peer is not None

    def send(self, data: bytes, handles: list[Handle]) -> bool:
        """Queue a message for the user end (False if it is closed)."""
        peer = self.user_end
        if self.kernel_end.peer is None:
            return False
        # Charged like any message, so reading it gives back what was taken.
        try:
            self.kernel_end.kernel.mem.charge_bytes(len(data) + MESSAGE_OVERHEAD, "message")
        except ZxError:
            return False
        peer.messages.append((data, handles))
        if not peer.signals & _READABLE:
            peer.update_signals(0, _READABLE)
        return True

    def close(self) -> None:
        """Close the kernel's end (the user end sees PEER_CLOSED)."""
        end = self.kernel_end
        if end.alive:
            end.on_zero_handles()
            end.release()


@hookimpl
def make_kernel_channel(kernel: Kernel) -> KernelChannel:
    return KernelChannel(kernel)
