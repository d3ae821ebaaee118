"""The port plugin: ports, zx_object_wait_async, zx_port_wait/queue/cancel.

A wait_async registration is a one-shot signal observer on the object: when a requested
signal is asserted (at once unless ZX_WAIT_ASYNC_EDGE; strobes count), it queues a
ZX_PKT_TYPE_SIGNAL_ONE packet and goes away. Closing the handle it was made through
removes the registration but keeps packets already queued; zx_port_cancel removes both.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from microsim import hookimpl, zx
from microsim.core.handle import Handle
from microsim.core.object import KernelObject, SignalObserver
from microsim.core.sched import Wait
from microsim.core.syscall import arg_i64, arg_u32, arg_u64
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "ports: packet queues fed by wait_async observers and zx_port_queue"


class Port(KernelObject):
    """A port: a FIFO of packets."""

    obj_type = zx.ZX_OBJ_TYPE_PORT
    type_name = "port"
    default_rights = zx.ZX_DEFAULT_PORT_RIGHTS
    waitable = False

    __slots__ = ("observers_by_key", "packets", "waiters")

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.packets: deque[tuple[zx.zx_port_packet_t, _AsyncWait | None]] = deque()
        self.waiters: deque[_PortWait] = deque()
        self.observers_by_key: list[_AsyncWait] = []

    def queue(self, packet: zx.zx_port_packet_t, source: _AsyncWait | None = None) -> None:
        """Queue a packet and hand it to the first waiting thread, if any."""
        self.packets.append((packet, source))
        while self.waiters and self.packets:
            w = self.waiters.popleft()
            if not w.done:
                w.packet = self.packets.popleft()[0]
                self.kernel.sched.finish(w, zx.ZX_OK)

    def on_destroy(self) -> None:
        for obs in list(self.observers_by_key):
            obs.detach()
        self.packets.clear()


class _AsyncWait(SignalObserver):
    __slots__ = ("key", "obj", "options", "port", "signals")

    def __init__(self, handle: Handle, port: Port, key: int, signals: int, options: int) -> None:
        super().__init__(handle)
        self.port = port
        self.obj = handle.obj
        self.key = key
        self.signals = signals
        self.options = options

    def fire(self, observed: int) -> None:
        k = self.port.kernel
        ts = k.now if self.options & zx.ZX_WAIT_ASYNC_TIMESTAMP else 0
        sig = zx.zx_packet_signal_t(trigger=self.signals, observed=observed, count=1, timestamp=ts)
        pkt = zx.zx_port_packet_t(key=self.key, type=zx.ZX_PKT_TYPE_SIGNAL_ONE, status=zx.ZX_OK, signal=sig)
        if self in self.port.observers_by_key:
            self.port.observers_by_key.remove(self)
        self.port.queue(pkt, self)

    def on_signals(self, obj: KernelObject, signals: int) -> bool:
        if signals & self.signals:
            self.fire(signals)
            return True
        return False

    def on_cancel(self, obj: KernelObject) -> None:
        if self in self.port.observers_by_key:
            self.port.observers_by_key.remove(self)

    def is_live(self) -> bool:
        return self.port.alive and self in self.port.observers_by_key

    def detach(self) -> None:
        """Stop observing (cancel or port gone)."""
        self.obj.remove_observer(self)
        if self in self.port.observers_by_key:
            self.port.observers_by_key.remove(self)


class _PortWait(Wait):
    def __init__(self, port: Port) -> None:
        super().__init__(f"port_wait(koid {port.koid})")
        self.port = port
        self.packet: zx.zx_port_packet_t | None = None

    def cancel(self) -> None:
        if self in self.port.waiters:
            self.port.waiters.remove(self)


def sys_port_create(p: Process, options: int) -> int:
    """zx_port_create: a new port (options 0; ZX_PORT_BIND_TO_INTERRUPT is accepted)."""
    if arg_u32(options) & ~zx.ZX_PORT_BIND_TO_INTERRUPT:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("object")
    port = Port(k)
    k.publish(port, p.koid)
    return k.new_handle(p, port, Port.default_rights, reserved=True)


def sys_object_wait_async(p: Process, handle: int, port: int, key: int, signals: int, options: int) -> None:
    """zx_object_wait_async: one packet on `port` when any of `signals` is asserted."""
    h = p.lookup(handle, None, zx.ZX_RIGHT_WAIT)
    pt: Port = p.obj(port, Port, zx.ZX_RIGHT_WRITE)
    key = arg_u64(key)
    signals = arg_u32(signals)
    options = arg_u32(options)
    if options & ~(zx.ZX_WAIT_ASYNC_TIMESTAMP | zx.ZX_WAIT_ASYNC_EDGE | zx.ZX_WAIT_ASYNC_BOOT_TIMESTAMP):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown options")
    if not h.obj.waitable:
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("observer")
    obs = _AsyncWait(h, pt, key, signals, options)
    if not options & zx.ZX_WAIT_ASYNC_EDGE and h.obj.signals & signals:
        obs.fire(h.obj.signals)
        return None
    pt.observers_by_key.append(obs)
    h.obj.add_observer(obs)
    return None


def sys_port_wait(p: Process, handle: int, deadline: int) -> zx.zx_port_packet_t:
    """zx_port_wait: the next packet, waiting until `deadline` (ZX_ERR_TIMED_OUT)."""
    pt: Port = p.obj(handle, Port, zx.ZX_RIGHT_READ)
    deadline = arg_i64(deadline)
    if pt.packets:
        return pt.packets.popleft()[0]
    k = p.kernel
    if deadline <= k.now:
        raise ZxError(zx.ZX_ERR_TIMED_OUT)
    w = _PortWait(pt)
    pt.waiters.append(w)
    status = k.sched.block(w, deadline)
    if status != zx.ZX_OK or w.packet is None:
        raise ZxError(status if status != zx.ZX_OK else zx.ZX_ERR_INTERNAL)
    return w.packet


def sys_port_queue(p: Process, handle: int, packet: zx.zx_port_packet_t) -> None:
    """zx_port_queue: queue a user packet (its type is forced to ZX_PKT_TYPE_USER)."""
    pt: Port = p.obj(handle, Port, zx.ZX_RIGHT_WRITE)
    if not isinstance(packet, zx.zx_port_packet_t):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "expected a zx_port_packet_t")
    key = arg_u64(packet.key)
    user = packet.user if isinstance(packet.user, zx.zx_packet_user_t) else zx.zx_packet_user_t()
    if p.kernel.mem.armed:
        p.kernel.mem.alloc("packet")
    pt.queue(zx.zx_port_packet_t(key=key, type=zx.ZX_PKT_TYPE_USER, status=packet.status if type(packet.status) is int else 0, user=user))
    return None


def sys_port_cancel(p: Process, handle: int, source: int, key: int) -> None:
    """zx_port_cancel: drop the registrations (and their queued packets) for source+key."""
    pt: Port = p.obj(handle, Port, zx.ZX_RIGHT_WRITE)
    src = p.lookup(source, None, zx.ZX_RIGHT_WAIT)
    key = arg_u64(key)
    found = False
    for obs in list(pt.observers_by_key):
        if obs.obj is src.obj and obs.key == key:
            obs.detach()
            found = True
    kept = deque(e for e in pt.packets if not (e[1] is not None and e[1].obj is src.obj and e[1].key == key))
    found = found or len(kept) != len(pt.packets)
    pt.packets = kept
    if not found:
        raise ZxError(zx.ZX_ERR_NOT_FOUND)
    return None


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Port)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_port_create", sys_port_create)
    register("zx_object_wait_async", sys_object_wait_async)
    register("zx_port_wait", sys_port_wait)
    register("zx_port_queue", sys_port_queue)
    register("zx_port_cancel", sys_port_cancel)
