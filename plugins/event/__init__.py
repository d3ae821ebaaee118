"""The event plugin: Zircon events (ZX_OBJ_TYPE_EVENT), objects whose only state is signals.

- `zx_event_create(options) -> handle`: rights BASIC | SIGNAL (0xD003), no signal set.
  `options` must be 0 (else ZX_ERR_INVALID_ARGS).
- `zx_object_signal` may change ZX_EVENT_SIGNALED and the user signals
  (ZX_EVENT_SIGNAL_MASK = 0xFF000008); any other bit is ZX_ERR_INVALID_ARGS.
- `zx_object_signal_peer` is ZX_ERR_ACCESS_DENIED (no ZX_RIGHT_SIGNAL_PEER by default).

Limits: none beyond simulated memory (one object and one handle per event).
"""

from __future__ import annotations

from collections.abc import Callable

from microsim import hookimpl, zx
from microsim.core.object import KernelObject
from microsim.core.syscall import arg_u32
from microsim.errors import ZxError
from microsim.objects.process import Process

description = "events: objects whose only state is their signals"


class Event(KernelObject):
    """A Zircon event."""

    obj_type = zx.ZX_OBJ_TYPE_EVENT
    type_name = "event"
    default_rights = zx.ZX_DEFAULT_EVENT_RIGHTS
    signal_mask = zx.ZX_EVENT_SIGNAL_MASK
    __slots__ = ()


def sys_event_create(p: Process, options: int) -> int:
    """zx_event_create: a new event. `options != 0` -> ZX_ERR_INVALID_ARGS.

    Signals: ZX_EVENT_SIGNALED and the user signals (mask 0xFF000008), set with
    zx_object_signal. Limits: none but simulated memory (one object, one handle).
    """
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    p.enforce_policy(zx.ZX_POL_NEW_EVENT)  # after the options, as Zircon
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
    event = Event(k)
    k.publish(event, p.koid)
    return k.new_handle(p, event, Event.default_rights, reserved=True)


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Event)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_event_create", sys_event_create)
