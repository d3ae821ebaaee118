"""The futex plugin: Zircon futexes on the calling process's simulated memory.

A futex is an aligned int32 (`zx_futex_t`) at an address of the caller's address space;
it has no handle. Each process is a futex context: waiters queue per address, FIFO.

- `zx_futex_wait(value_ptr, current_value, new_futex_owner, deadline)`: blocks while
  `*value_ptr == current_value` until woken (OK) or the deadline (TIMED_OUT). Order:
  `value_ptr` 0 or not 4-byte aligned -> INVALID_ARGS; the owner handle is looked up but
  its error (BAD_HANDLE, WRONG_TYPE for a non-thread, INVALID_ARGS for a thread of another
  process) is held back; an unreadable address -> INVALID_ARGS; a different value ->
  BAD_STATE; then the held-back owner error; the owner being the caller, or already waiting
  on this futex -> INVALID_ARGS. The owner becomes `new_futex_owner`'s thread (none for
  ZX_HANDLE_INVALID). A deadline already past times out at once.
- `zx_futex_wake(value_ptr, wake_count)`: wakes up to `wake_count` waiters (0xFFFFFFFF:
  all); the futex has no owner afterwards.
- `zx_futex_wake_single_owner(value_ptr)`: wakes at most one; it becomes the owner.
- `zx_futex_requeue(value_ptr, wake_count, current_value, requeue_ptr, requeue_count,
  new_requeue_owner)` and `zx_futex_requeue_single_owner(...)` (wakes one): wake, then move
  up to `requeue_count` remaining waiters to `requeue_ptr`.
- `zx_futex_get_owner(value_ptr) -> koid` (ZX_KOID_INVALID when none). An owner exists
  only while a thread waits; a dead owner reads as none.

Blocked futex waits are preemption points, appear in the deadlock report and carry
ZX_THREAD_STATE_BLOCKED_FUTEX. Limits: counts are uint32, values int32 (or their uint32
spelling), addresses 4-byte aligned and non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsim import hookimpl, zx
from microsim.blocking import WaitQueue
from microsim.core.syscall import arg_i64, arg_u32
from microsim.errors import MemoryFault, ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.thread import Thread

description = "futexes: wait queues on aligned int32 words of a process's memory"

_INVALID_ARGS = zx.ZX_ERR_INVALID_ARGS
_BAD_STATE = zx.ZX_ERR_BAD_STATE
_U64_END = 1 << 64
_U32_MAX = (1 << 32) - 1
_I32_END = 1 << 31
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_PERM_READ = zx.ZX_VM_PERM_READ


_BLOCKED_FUTEX = zx.ZX_THREAD_STATE_BLOCKED_FUTEX


class Futex:
    """The waiters (a `WaitQueue`, FIFO) and owner of one futex address."""

    __slots__ = ("addr", "description", "owner", "waiters")

    def __init__(self, ctx: FutexContext, kernel: Kernel, addr: int) -> None:
        self.addr = addr
        self.waiters = WaitQueue(kernel, self, on_empty=ctx.emptied)
        self.owner: Thread | None = None
        self.description = f"futex_wait(addr {addr:#x})"


class FutexContext:
    """A process's futexes, by address."""

    __slots__ = ("futexes", "kernel", "spare")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.futexes: dict[int, Futex] = {}
        # The futex forgotten last, reused if its address is waited on again (a lock's
        # futex comes and goes with each contended handoff).
        self.spare: Futex | None = None

    def get(self, addr: int) -> Futex:
        """The futex at `addr` (made on first use)."""
        f = self.futexes.get(addr)
        if f is None:
            f = self.spare
            if f is None or f.addr != addr:
                f = Futex(self, self.kernel, addr)
            else:
                self.spare = None
            self.futexes[addr] = f
        return f

    def tidy(self, f: Futex) -> None:
        """Forget a futex nobody waits on (its owner goes with the last waiter)."""
        if not f.waiters:
            f.owner = None
            if self.futexes.get(f.addr) is f:
                del self.futexes[f.addr]
                self.spare = f

    def emptied(self, queue: WaitQueue) -> None:
        """The last waiter of a futex left without a wake (timed out or killed)."""
        self.tidy(queue.owner)


def _context(p: Process) -> FutexContext:
    contexts: dict[int, FutexContext] = p.kernel.futex_contexts  # type: ignore[attr-defined]
    ctx = contexts.get(p.koid)
    if ctx is None:
        ctx = contexts[p.koid] = FutexContext(p.kernel)
    return ctx


def _addr(value_ptr: Any) -> int:
    if type(value_ptr) is not int or value_ptr <= 0 or value_ptr % 4 or value_ptr >= 1 << 64:
        raise ZxError(_INVALID_ARGS, "futex address is NULL or misaligned")
    return value_ptr


def _value(v: Any) -> int:
    if type(v) is not int or not -(1 << 31) <= v < 1 << 32:
        raise ZxError(_INVALID_ARGS, "a futex value is an int32")
    return v - (1 << 32) if v >= 1 << 31 else v


def _read(p: Process, addr: int) -> int:
    # An aligned word never straddles a page, so it lies in one mapping: look it up once.
    root = p.root_vmar
    m = root.find_mapping(addr) if root is not None and not p.exited else None
    if m is not None and m.perms & _PERM_READ:
        off = m.offset + (addr - m.base)
        if off + 4 <= m.obj.mappable_size():
            return m.obj.read_i32(off)
    try:  # the general path (and its fault report) for everything else
        data = p.read_memory(addr, 4)
    except MemoryFault:
        raise ZxError(_INVALID_ARGS, "futex address is not readable") from None
    return int.from_bytes(data, "little", signed=True)


def _owner(p: Process, handle: Any) -> tuple[Thread | None, int]:
    """The new owner's thread, and the status to return later if the handle is bad."""
    if handle == zx.ZX_HANDLE_INVALID and type(handle) is int:
        return None, 0
    h = p.handles.get(handle) if type(handle) is int else None
    if h is None:
        return None, zx.ZX_ERR_BAD_HANDLE
    t = h.obj
    if not isinstance(t, Thread):
        return None, zx.ZX_ERR_WRONG_TYPE
    if t.process is not p or t.state == "new":
        return None, _INVALID_ARGS
    return t, 0


def _alive(t: Thread | None) -> Thread | None:
    return t if t is not None and t.state != "dead" and not t.killed else None


def _waiting_on(t: Thread, f: Futex | None) -> bool:
    return f is not None and t in f.waiters.threads()


def sys_futex_wait(p: Process, value_ptr: int, current_value: int, new_futex_owner: int, deadline: int) -> None:
    """zx_futex_wait: sleep on `value_ptr` while it holds `current_value`, until woken
    (OK) or `deadline` (TIMED_OUT).

    Order: NULL or misaligned `value_ptr` -> INVALID_ARGS; owner handle errors are held
    back; unreadable word -> INVALID_ARGS; value differs -> BAD_STATE; then the owner's
    error (BAD_HANDLE, WRONG_TYPE, INVALID_ARGS for another process's thread); owner is
    the caller or already waits here -> INVALID_ARGS. Limits: 4-byte aligned, non-zero
    addresses of the calling process; int32 values.
    """
    # The common case (valid address, value, deadline; no owner) checked inline: this is
    # every lock's slow path.
    if type(value_ptr) is not int or value_ptr <= 0 or value_ptr & 3 or value_ptr >= _U64_END:
        _addr(value_ptr)
    addr = value_ptr
    if type(current_value) is int and -_I32_END <= current_value < _I32_END:
        expected = current_value
    else:
        expected = _value(current_value)
    if type(deadline) is not int or not _I64_MIN <= deadline <= _I64_MAX:
        deadline = arg_i64(deadline)
    if new_futex_owner == 0 and type(new_futex_owner) is int:
        owner, owner_error = None, 0
    else:
        owner, owner_error = _owner(p, new_futex_owner)
    # _read's fast path inlined: the word in one readable mapping of a live process.
    root = p.root_vmar
    m = root.find_mapping(addr) if root is not None and not p.exited else None
    if m is not None and m.perms & _PERM_READ and (off := m.offset + (addr - m.base)) + 4 <= m.obj.mappable_size():
        value = m.obj.read_i32(off)
    else:
        value = _read(p, addr)
    if value != expected:
        raise ZxError(_BAD_STATE)
    if owner_error:
        raise ZxError(owner_error)
    k = p.kernel
    ctx = k.futex_contexts.get(p.koid) or _context(p)  # type: ignore[attr-defined]
    if owner is not None and (owner is k.sched.current or _waiting_on(owner, ctx.futexes.get(addr))):
        raise ZxError(_INVALID_ARGS, "bad futex owner")
    if deadline <= k.now:
        # Zircon would set the owner, time out at once and drop it with the last waiter.
        raise ZxError(zx.ZX_ERR_TIMED_OUT)
    f = ctx.futexes.get(addr) or ctx.get(addr)
    f.owner = None if owner is None else _alive(owner)
    f.waiters.wait(deadline, reason=_BLOCKED_FUTEX, description=f.description)
    return None


def _wake(f: Futex | None, count: int) -> Thread | None:
    """Wake up to `count` waiters of `f` in FIFO order; the last thread woken."""
    if f is None:
        return None
    woken = f.waiters.wake(count)
    return woken[-1] if woken else None


def sys_futex_wake(p: Process, value_ptr: int, wake_count: int) -> None:
    """zx_futex_wake: wake up to `wake_count` waiters; the futex's owner becomes none."""
    if type(value_ptr) is not int or value_ptr <= 0 or value_ptr & 3 or value_ptr >= _U64_END:
        _addr(value_ptr)
    count = wake_count if type(wake_count) is int and 0 <= wake_count <= _U32_MAX else arg_u32(wake_count)
    ctx = p.kernel.futex_contexts.get(p.koid)  # type: ignore[attr-defined]
    f = ctx.futexes.get(value_ptr) if ctx is not None else None
    if f is None:
        return None
    f.waiters.wake(count)
    f.owner = None
    ctx.tidy(f)
    return None


def sys_futex_wake_single_owner(p: Process, value_ptr: int) -> None:
    """zx_futex_wake_single_owner: wake at most one waiter, which becomes the owner."""
    addr = _addr(value_ptr)
    ctx = _context(p)
    f = ctx.futexes.get(addr)
    if f is None:
        return None
    woken = _wake(f, 1)
    f.owner = woken if f.waiters else None
    ctx.tidy(f)
    return None


def _requeue(p: Process, value_ptr: int, wake_count: int, current_value: int, requeue_ptr: int,
             requeue_count: int, new_requeue_owner: int, single: bool) -> None:
    addr = _addr(value_ptr)
    raddr = _addr(requeue_ptr)
    if addr == raddr:
        raise ZxError(_INVALID_ARGS, "the two futexes are the same")
    count = 1 if single else arg_u32(wake_count)
    moves = arg_u32(requeue_count)
    expected = _value(current_value)
    owner, owner_error = _owner(p, new_requeue_owner)
    if _read(p, addr) != expected:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "futex value mismatch")
    if owner_error:
        raise ZxError(owner_error)
    ctx = _context(p)
    f = ctx.futexes.get(addr)
    r = ctx.futexes.get(raddr)
    if owner is not None and (_waiting_on(owner, f) or _waiting_on(owner, r)):
        raise ZxError(_INVALID_ARGS, "the requeue owner waits on one of the futexes")
    woken = _wake(f, count)
    if f is not None:
        f.owner = woken if single and f.waiters else None
        if moves and f.waiters:
            r = ctx.get(raddr)
            f.waiters.requeue(r.waiters, moves)
        ctx.tidy(f)
    if r is not None and r.waiters:
        r.owner = _alive(owner)
    return None


def sys_futex_requeue(p: Process, value_ptr: int, wake_count: int, current_value: int,
                      requeue_ptr: int, requeue_count: int, new_requeue_owner: int) -> None:
    """zx_futex_requeue: wake `wake_count` waiters of `value_ptr` (if it holds
    `current_value`), move up to `requeue_count` others to `requeue_ptr`, whose owner
    becomes `new_requeue_owner`. Same address twice -> INVALID_ARGS."""
    _requeue(p, value_ptr, wake_count, current_value, requeue_ptr, requeue_count, new_requeue_owner, False)


def sys_futex_requeue_single_owner(p: Process, value_ptr: int, current_value: int, requeue_ptr: int,
                                   requeue_count: int, new_requeue_owner: int) -> None:
    """zx_futex_requeue_single_owner: requeue waking one waiter, which owns `value_ptr`."""
    _requeue(p, value_ptr, 1, current_value, requeue_ptr, requeue_count, new_requeue_owner, True)


def sys_futex_get_owner(p: Process, value_ptr: int) -> int:
    """zx_futex_get_owner: the owning thread's koid, or ZX_KOID_INVALID (0)."""
    addr = _addr(value_ptr)
    f = _context(p).futexes.get(addr)
    owner = _alive(f.owner) if f is not None else None
    return owner.koid if owner is not None else zx.ZX_KOID_INVALID


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_futex_wait", sys_futex_wait)
    register("zx_futex_wake", sys_futex_wake)
    register("zx_futex_wake_single_owner", sys_futex_wake_single_owner)
    register("zx_futex_requeue", sys_futex_requeue)
    register("zx_futex_requeue_single_owner", sys_futex_requeue_single_owner)
    register("zx_futex_get_owner", sys_futex_get_owner)


@hookimpl
def kernel_started(kernel: Kernel) -> None:
    kernel.futex_contexts = {}  # type: ignore[attr-defined]


@hookimpl
def process_exiting(kernel: Kernel, process: Process) -> None:
    # Its threads are killed next; their waits cancel themselves on the detached context.
    kernel.futex_contexts.pop(process.koid, None)  # type: ignore[attr-defined]


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for koid, ctx in kernel.futex_contexts.items():  # type: ignore[attr-defined]
        for addr, f in ctx.futexes.items():
            if not f.waiters:
                report(f"futex {addr:#x} of process {koid}: kept without waiters")
            if f.waiters.owner is not f:
                report(f"futex {addr:#x} of process {koid}: its wait queue belongs elsewhere")
            for t in f.waiters.threads():
                if t is not None and t.state == "dead":
                    report(f"futex {addr:#x} of process {koid}: a dead thread still waits")
