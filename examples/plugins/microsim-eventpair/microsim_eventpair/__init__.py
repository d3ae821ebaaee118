"""Events and eventpairs: a microsim plugin written the way any outside author would.

- `zx_event_create(options) -> handle`: an object whose only state is its signals;
  ZX_EVENT_SIGNALED and the user signals may be set with zx_object_signal.
- `zx_eventpair_create(options) -> (h0, h1)`: two peered events; each end may signal its
  peer, and closing one end asserts ZX_EVENTPAIR_PEER_CLOSED on the other.
"""

from __future__ import annotations

from collections.abc import Callable

from microsim import KernelObject, PeeredObject, ZxError, hookimpl, zx
from microsim.core.syscall import arg_u32
from microsim.objects.process import Process

description = "events and eventpairs (zx_event_create, zx_eventpair_create)"


class Event(KernelObject):
    """A Zircon event."""

    obj_type = zx.ZX_OBJ_TYPE_EVENT
    type_name = "event"
    default_rights = zx.ZX_DEFAULT_EVENT_RIGHTS
    signal_mask = zx.ZX_USER_SIGNAL_ALL | zx.ZX_EVENT_SIGNALED
    __slots__ = ()


class EventPair(PeeredObject):
    """One end of a Zircon eventpair."""

    obj_type = zx.ZX_OBJ_TYPE_EVENTPAIR
    type_name = "eventpair"
    default_rights = zx.ZX_DEFAULT_EVENTPAIR_RIGHTS
    signal_mask = zx.ZX_USER_SIGNAL_ALL | zx.ZX_EVENTPAIR_SIGNALED
    peer_closed_signal = zx.ZX_EVENTPAIR_PEER_CLOSED
    __slots__ = ()


def sys_event_create(p: Process, options: int) -> int:
    """zx_event_create: a new event (options must be 0)."""
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    k = p.kernel
    if k.mem.armed:  # allocation points come before any change of state
        k.mem.alloc("object")
        k.mem.alloc("handle")
    event = Event(k)
    k.publish(event, p.koid)
    return k.new_handle(p, event, Event.default_rights, reserved=True)


def sys_eventpair_create(p: Process, options: int) -> tuple[int, int]:
    """zx_eventpair_create: two peered events (options must be 0)."""
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
        k.mem.alloc("handle")
    a, b = EventPair(k), EventPair(k)
    PeeredObject.link(a, b)
    k.publish(a, p.koid)
    k.publish(b, p.koid)
    rights = EventPair.default_rights
    return k.new_handle(p, a, rights, reserved=True), k.new_handle(p, b, rights, reserved=True)


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Event)
    register(EventPair)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_event_create", sys_event_create)
    register("zx_eventpair_create", sys_eventpair_create)
