"""The counter plugin: Zircon counters (ZX_OBJ_TYPE_COUNTER), a signed 64-bit value.

- `zx_counter_create(options) -> handle`: value 0, rights BASIC | IO | SIGNAL (0xD00F),
  signals ZX_COUNTER_NON_POSITIVE. `options != 0` -> ZX_ERR_INVALID_ARGS.
- `zx_counter_add(h, value)`: needs ZX_RIGHT_READ **and** ZX_RIGHT_WRITE; a result outside
  int64 -> ZX_ERR_OUT_OF_RANGE with value and signals unchanged.
- `zx_counter_read(h) -> int`: needs ZX_RIGHT_READ.
- `zx_counter_write(h, value)`: needs ZX_RIGHT_WRITE only; any int64.
- Exactly one of ZX_COUNTER_POSITIVE (value > 0) and ZX_COUNTER_NON_POSITIVE (value <= 0)
  is asserted; they change only when the value crosses zero.
- `zx_object_signal` may change the user signals and ZX_COUNTER_SIGNALED (the newest
  kernel's mask, 0xFF000008).

Limits: the value is an int64 (-2**63 .. 2**63-1); a value argument outside it is
ZX_ERR_INVALID_ARGS.
"""

from __future__ import annotations

from collections.abc import Callable

from microsim import hookimpl, zx
from microsim.core.object import KernelObject
from microsim.core.syscall import arg_i64, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "counters: a signed 64-bit value with POSITIVE / NON_POSITIVE signals"

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_POS = zx.ZX_COUNTER_POSITIVE
_NONPOS = zx.ZX_COUNTER_NON_POSITIVE


class Counter(KernelObject):
    """A Zircon counter."""

    obj_type = zx.ZX_OBJ_TYPE_COUNTER
    type_name = "counter"
    default_rights = zx.ZX_DEFAULT_COUNTER_RIGHTS
    signal_mask = zx.ZX_USER_SIGNAL_ALL | zx.ZX_COUNTER_SIGNALED
    __slots__ = ("value",)

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.value = 0

    def set_value(self, value: int) -> None:
        """Store `value` and move POSITIVE / NON_POSITIVE if it crossed zero."""
        was = self.value > 0
        self.value = value
        now = value > 0
        if was != now:
            if now:
                self.update_signals(_NONPOS, _POS)
            else:
                self.update_signals(_POS, _NONPOS)

    def describe(self) -> dict[str, int]:
        return {"value": self.value}


def sys_counter_create(p: Process, options: int) -> int:
    """zx_counter_create: a counter of value 0. `options != 0` -> ZX_ERR_INVALID_ARGS.

    Signals: exactly one of ZX_COUNTER_POSITIVE / ZX_COUNTER_NON_POSITIVE. Limits: the
    value is an int64; an add that leaves that range is ZX_ERR_OUT_OF_RANGE.
    """
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
    c = Counter(k)
    c.signals = _NONPOS
    k.publish(c, p.koid)
    return k.new_handle(p, c, Counter.default_rights, reserved=True)


def sys_counter_add(p: Process, handle: int, value: int) -> None:
    """zx_counter_add: add `value` (READ and WRITE); overflow -> ZX_ERR_OUT_OF_RANGE."""
    c: Counter = p.obj(handle, Counter, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    value = arg_i64(value)
    result = c.value + value
    if result < _I64_MIN or result > _I64_MAX:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "counter overflow")
    c.set_value(result)


def sys_counter_read(p: Process, handle: int) -> int:
    """zx_counter_read: the current value (READ)."""
    c: Counter = p.obj(handle, Counter, zx.ZX_RIGHT_READ)
    return c.value


def sys_counter_write(p: Process, handle: int, value: int) -> None:
    """zx_counter_write: set the value (WRITE)."""
    c: Counter = p.obj(handle, Counter, zx.ZX_RIGHT_WRITE)
    c.set_value(arg_i64(value))


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Counter)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_counter_create", sys_counter_create)
    register("zx_counter_add", sys_counter_add)
    register("zx_counter_read", sys_counter_read)
    register("zx_counter_write", sys_counter_write)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("counter"):
        assert isinstance(obj, Counter)
        want = _POS if obj.value > 0 else _NONPOS
        if obj.signals & (_POS | _NONPOS) != want:
            report(f"{obj!r}: value {obj.value} with signals {obj.signals:#x}")
