"""Counting semaphores: a microsim plugin for an object type Zircon lacks, written the way
any outside author would (only microsim's public API).

- `zx_semaphore_create(options, initial, maximum) -> handle`
- `zx_semaphore_acquire(handle, deadline)`: take one unit, blocking until one is released,
  the deadline passes (ZX_ERR_TIMED_OUT) or the handle is closed (ZX_ERR_CANCELED).
- `zx_semaphore_release(handle, count) -> previous count`: give `count` units back; waiting
  threads get them first, in arrival order. Past the maximum: ZX_ERR_OUT_OF_RANGE.
- Signal SEMAPHORE_POSITIVE while the count is above zero; info topic SEMAPHORE_INFO;
  property SEMAPHORE_PROP_MAX; trace events `semaphore.acquired` and `semaphore.released`.
"""

from __future__ import annotations

from collections.abc import Callable

from microsim import Handle, KernelObject, Process, WaitQueue, ZxError, hookimpl, zx
from microsim.core.syscall import arg_i64, arg_u32, arg_u64
from microsim.kernel import Kernel
from microsim_semaphore.abi import (
    SEMAPHORE_DEFAULT_RIGHTS,
    SEMAPHORE_INFO,
    SEMAPHORE_OBJ_TYPE,
    SEMAPHORE_POSITIVE,
    SEMAPHORE_PROP_MAX,
    semaphore_info_t,
)

description = "counting semaphores (zx_semaphore_create/acquire/release)"

_U64_MAX = (1 << 64) - 1


class Semaphore(KernelObject):
    """A counting semaphore: `count` units available out of at most `maximum`."""

    obj_type = SEMAPHORE_OBJ_TYPE
    type_name = "semaphore"
    default_rights = SEMAPHORE_DEFAULT_RIGHTS
    signal_mask = zx.ZX_USER_SIGNAL_ALL           # zx_object_signal may touch user signals only
    __slots__ = ("count", "maximum", "waiters")

    def __init__(self, kernel: Kernel, initial: int, maximum: int) -> None:
        super().__init__(kernel)
        self.count = initial
        self.maximum = maximum
        self.waiters = WaitQueue(kernel, self)       # threads blocked in acquire
        if initial:
            self.signals = SEMAPHORE_POSITIVE        # not published yet: nothing to trace

    def set_count(self, count: int) -> None:
        """Change the count and keep SEMAPHORE_POSITIVE in step."""
        self.count = count
        if count:
            self.update_signals(0, SEMAPHORE_POSITIVE)
        else:
            self.update_signals(SEMAPHORE_POSITIVE, 0)

    def on_destroy(self) -> None:
        # No handle is left, so no thread can be waiting through one: nothing to wake.
        self.waiters.wake_all(status=zx.ZX_ERR_BAD_STATE)


def sys_semaphore_create(p: Process, options: int, initial: int, maximum: int) -> int:
    """zx_semaphore_create: a semaphore with `initial` units of at most `maximum` (>= 1)."""
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    initial, maximum = arg_u64(initial), arg_u64(maximum)
    if maximum == 0 or initial > maximum:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "need 0 <= initial <= maximum and maximum >= 1")
    k = p.kernel
    if k.mem.armed:                 # allocation points come before any change of state
        k.mem.alloc("object")
        k.mem.alloc("handle")
    sem = Semaphore(k, initial, maximum)
    k.publish(sem, p.koid)
    return k.new_handle(p, sem, Semaphore.default_rights, reserved=True)


def sys_semaphore_acquire(p: Process, handle: int, deadline: int) -> None:
    """zx_semaphore_acquire: take one unit, waiting until `deadline` for one."""
    h = p.lookup(handle, Semaphore, zx.ZX_RIGHT_WAIT)
    deadline = arg_i64(deadline)
    sem: Semaphore = h.obj
    k = p.kernel
    waited = 0
    if sem.count:
        sem.set_count(sem.count - 1)
    else:
        # Blocks; a release hands this thread its unit directly (the count stays 0).
        # Raises ZX_ERR_TIMED_OUT at the deadline, ZX_ERR_CANCELED if `h` is closed.
        t0 = k.now
        sem.waiters.wait(
            deadline, handle=h, reason=zx.ZX_THREAD_STATE_BLOCKED_FUTEX,
            description=lambda: f"semaphore_acquire(koid {sem.koid})",
        )
        waited = k.now - t0
    if k.trace is not None:
        k.emit("semaphore.acquired", sem.koid, sem.count, waited)
    return None


def sys_semaphore_release(p: Process, handle: int, count: int) -> int:
    """zx_semaphore_release: give back `count` (>= 1) units; returns the previous count."""
    sem: Semaphore = p.obj(handle, Semaphore, zx.ZX_RIGHT_WRITE)
    count = arg_u64(count)
    if count == 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "count must be at least 1")
    previous = sem.count
    if previous + max(0, count - len(sem.waiters)) > sem.maximum:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "the count would pass the maximum")
    woken = 0
    while woken < count and sem.waiters.wake_one():
        woken += 1
    if count > woken:
        sem.set_count(previous + count - woken)
    k = p.kernel
    if k.trace is not None:
        k.emit("semaphore.released", sem.koid, count, woken)
    return previous


def info_semaphore(p: Process, h: Handle, buffer_size: int | None) -> semaphore_info_t:
    """SEMAPHORE_INFO (the kernel checked the type and ZX_RIGHT_INSPECT already)."""
    semaphore_info_t.check_buffer(buffer_size)
    sem: Semaphore = h.obj
    return semaphore_info_t(count=sem.count, maximum=sem.maximum, waiters=len(sem.waiters))


def get_maximum(p: Process, h: Handle, value_size: int | None) -> int:
    """SEMAPHORE_PROP_MAX get: a uint64 (the kernel checked the type and the size)."""
    return h.obj.maximum  # type: ignore[no-any-return]


def set_maximum(p: Process, h: Handle, value: object) -> None:
    """SEMAPHORE_PROP_MAX set: not below the current count, and at least 1."""
    maximum = arg_u64(value)
    sem: Semaphore = h.obj
    if maximum == 0 or maximum < sem.count:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "the maximum must be >= 1 and >= the count")
    sem.maximum = maximum


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Semaphore)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_semaphore_create", sys_semaphore_create)
    register("zx_semaphore_acquire", sys_semaphore_acquire)
    register("zx_semaphore_release", sys_semaphore_release)


@hookimpl
def register_info_topics(register: Callable[..., None]) -> None:
    register(SEMAPHORE_INFO, info_semaphore, name="SEMAPHORE_INFO", cls=Semaphore,
             rights=zx.ZX_RIGHT_INSPECT)


@hookimpl
def register_properties(register: Callable[..., None]) -> None:
    register(SEMAPHORE_PROP_MAX, name="SEMAPHORE_PROP_MAX", get=get_maximum, set=set_maximum,
             cls=Semaphore, set_rights=zx.ZX_RIGHT_WRITE, size=8)


@hookimpl
def register_event_kinds(register: Callable[..., None]) -> None:
    # `objects` names the fields holding koids: `microsim trace object KOID` finds these.
    register("semaphore.acquired", ("semaphore", "count", "waited_ns"), objects=("semaphore",))
    register("semaphore.released", ("semaphore", "released", "woken"), objects=("semaphore",))


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("semaphore"):
        assert isinstance(obj, Semaphore)
        if not 0 <= obj.count <= obj.maximum:
            report(f"{obj!r}: count {obj.count} outside 0..{obj.maximum}")
        if obj.count and obj.waiters:
            report(f"{obj!r}: {len(obj.waiters)} threads wait while {obj.count} units are free")
        if bool(obj.signals & SEMAPHORE_POSITIVE) != bool(obj.count):
            report(f"{obj!r}: SEMAPHORE_POSITIVE does not match count {obj.count}")
