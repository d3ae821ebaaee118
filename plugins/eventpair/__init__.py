"""The eventpair plugin: two peered events (ZX_OBJ_TYPE_EVENTPAIR).

- `zx_eventpair_create(options) -> (h0, h1)`: both ends with rights BASIC | SIGNAL |
  SIGNAL_PEER (0xF003), no signal set, each end's related koid the other's.
  `options != 0` -> ZX_ERR_NOT_SUPPORTED (Zircon's CheckNoFlagsSupported, not INVALID_ARGS).
- `zx_object_signal` / `zx_object_signal_peer` may change ZX_EVENTPAIR_SIGNALED and the
  user signals (0xFF000008) on this end / on the peer; PEER_CLOSED is not user-settable.
  A bad mask is ZX_ERR_INVALID_ARGS before a closed peer's ZX_ERR_PEER_CLOSED.
- Closing the last handle of one end asserts ZX_EVENTPAIR_PEER_CLOSED on the other and
  keeps its other signals.

Limits: none beyond simulated memory.
"""

from __future__ import annotations

from collections.abc import Callable

from microsim import hookimpl, zx
from microsim.core.object import PeeredObject
from microsim.core.syscall import arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "eventpairs: two peered events that signal each other"


class EventPair(PeeredObject):
    """One end of a Zircon eventpair."""

    obj_type = zx.ZX_OBJ_TYPE_EVENTPAIR
    type_name = "eventpair"
    default_rights = zx.ZX_DEFAULT_EVENTPAIR_RIGHTS
    signal_mask = zx.ZX_USER_SIGNAL_ALL | zx.ZX_EVENTPAIR_SIGNALED
    peer_closed_signal = zx.ZX_EVENTPAIR_PEER_CLOSED
    __slots__ = ()


def sys_eventpair_create(p: Process, options: int) -> tuple[int, int]:
    """zx_eventpair_create: two peered events. `options != 0` -> ZX_ERR_NOT_SUPPORTED.

    Signals: ZX_EVENTPAIR_SIGNALED and the user signals on either end (zx_object_signal,
    zx_object_signal_peer); ZX_EVENTPAIR_PEER_CLOSED when the other end's last handle
    closes. Limits: none but simulated memory.
    """
    if arg_u32(options) != 0:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "options must be 0")
    p.enforce_policy(zx.ZX_POL_NEW_EVENTPAIR)  # after the options, as Zircon
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
    register(EventPair)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_eventpair_create", sys_eventpair_create)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("eventpair"):
        assert isinstance(obj, EventPair)
        if obj.peer is not None and obj.peer.peer is not obj:
            report(f"{obj!r}: peer link is not symmetric")
        if obj.peer is not None and obj.signals & zx.ZX_EVENTPAIR_PEER_CLOSED:
            report(f"{obj!r}: PEER_CLOSED with a live peer")
