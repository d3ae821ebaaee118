"""The port plugin: ports, zx_object_wait_async, zx_port_wait/queue/cancel.

A wait_async registration is a one-shot signal observer on the object: when a requested
signal is asserted (at once unless ZX_WAIT_ASYNC_EDGE; strobes count), it queues a
ZX_PKT_TYPE_SIGNAL_ONE packet and goes away. Closing the handle it was made through
removes the registration but keeps packets already queued; zx_port_cancel removes both.

Limits (Zircon's kMaxAllocatedPacketCountPerPort): at most 4096 user packets
(`MAX_USER_PACKETS`) may be pending before zx_port_queue refuses one: the refused packet is
dropped, the caller gets ZX_ERR_SHOULD_WAIT (and Zircon's
ZX_EXCP_POLICY_CODE_PORT_TOO_MANY_PACKETS policy exception on the calling thread,
`Process.raise_policy_exception`). Each pending user
packet is charged to simulated memory (`PACKET_BYTES`) until dequeued; signal packets
from wait_async are pre-allocated with their observer and count toward neither.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from microsim import hookimpl, zx
from microsim.blocking import WaitQueue
from microsim.core.handle import Handle
from microsim.core.object import KernelObject, SignalObserver
from microsim.core.syscall import arg_i64, arg_u32, arg_u64
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "ports: packet queues fed by wait_async observers and zx_port_queue"

# Zircon's kMaxAllocatedPacketCountPerPort; the kernel tests "count > max" before
# queueing, so one more than this can be pending.
MAX_USER_PACKETS = 4096
# Simulated-memory charge of one pending user packet (zx_port_packet_t plus list links).
PACKET_BYTES = 64


class Port(KernelObject):
    """A port: a FIFO of packets."""

    obj_type = zx.ZX_OBJ_TYPE_PORT
    type_name = "port"
    default_rights = zx.ZX_DEFAULT_PORT_RIGHTS
    waitable = False

    __slots__ = ("observers_by_key", "packets", "user_packets", "waiters")

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.packets: deque[tuple[zx.zx_port_packet_t, _AsyncWait | None]] = deque()
        self.waiters = WaitQueue(kernel, self)
        self.observers_by_key: list[_AsyncWait] = []
        self.user_packets = 0

    def queue(self, packet: zx.zx_port_packet_t, source: _AsyncWait | None = None) -> None:
        """Queue a packet and hand it to the first waiting thread, if any.

        A user packet (`source` None) must have been charged with `PACKET_BYTES` first.
        """
        self.packets.append((packet, source))
        if source is None:
            self.user_packets += 1
        if self.waiters and self.waiters.wake_one(self.packets[0][0]):
            self.take()

    def take(self) -> zx.zx_port_packet_t:
        """Dequeue the first packet (a user packet gives its memory back)."""
        packet, source = self.packets.popleft()
        if source is None:
            self.user_packets -= 1
            self.kernel.mem.uncharge_bytes(PACKET_BYTES)
        return packet

    def on_destroy(self) -> None:
        for obs in list(self.observers_by_key):
            obs.detach()
        self.kernel.mem.uncharge_bytes(self.user_packets * PACKET_BYTES)
        self.user_packets = 0
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


def sys_port_create(p: Process, options: int) -> int:
    """zx_port_create: a new port (options 0; ZX_PORT_BIND_TO_INTERRUPT is accepted)."""
    p.enforce_policy(zx.ZX_POL_NEW_PORT)
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
        return pt.take()
    packet: zx.zx_port_packet_t = pt.waiters.wait(
        deadline, reason=zx.ZX_THREAD_STATE_BLOCKED_PORT,
        description=lambda: f"port_wait(koid {pt.koid})")
    return packet


def sys_port_queue(p: Process, handle: int, packet: zx.zx_port_packet_t) -> None:
    """zx_port_queue: queue a user packet (its type is forced to ZX_PKT_TYPE_USER).

    Limits: beyond 4096 pending user packets (Zircon's test is "more than 4096", so 4097
    may be pending) the packet is dropped and the result is ZX_ERR_SHOULD_WAIT (with
    Zircon's PORT_TOO_MANY_PACKETS policy exception where the kernel models it); each
    pending user packet is charged 64 bytes of simulated memory (ZX_ERR_NO_MEMORY when
    full). Signal packets from zx_object_wait_async count toward neither.
    """
    pt: Port = p.obj(handle, Port, zx.ZX_RIGHT_WRITE)
    if not isinstance(packet, zx.zx_port_packet_t):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "expected a zx_port_packet_t")
    key = arg_u64(packet.key)
    user = packet.user if isinstance(packet.user, zx.zx_packet_user_t) else zx.zx_packet_user_t()
    k = p.kernel
    if pt.user_packets > MAX_USER_PACKETS:
        if k.trace is not None:
            k.emit("port.queue_full", pt.koid, pt.user_packets)
        p.raise_policy_exception(zx.ZX_EXCP_POLICY_CODE_PORT_TOO_MANY_PACKETS)
        raise ZxError(zx.ZX_ERR_SHOULD_WAIT, "too many pending packets")
    k.mem.charge_bytes(PACKET_BYTES, "packet")
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
    # Only signal packets are removed here, so the user-packet count is unchanged.
    found = found or len(kept) != len(pt.packets)
    pt.packets = kept
    if not found:
        raise ZxError(zx.ZX_ERR_NOT_FOUND)
    return None


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Port)


@hookimpl
def register_event_kinds(register: Callable[..., None]) -> None:
    # zx_port_queue dropped a packet: the port `koid` held `pending` user packets.
    register("port.queue_full", ("koid", "pending"))


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_port_create", sys_port_create)
    register("zx_object_wait_async", sys_object_wait_async)
    register("zx_port_wait", sys_port_wait)
    register("zx_port_queue", sys_port_queue)
    register("zx_port_cancel", sys_port_cancel)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("port"):
        assert isinstance(obj, Port)
        users = sum(1 for _, src in obj.packets if src is None)
        if users != obj.user_packets:
            report(f"{obj!r}: {users} user packets queued, {obj.user_packets} counted")
    if kernel.mem.bytes_used < 0:
        report(f"simulated memory: {kernel.mem.bytes_used} bytes charged")
