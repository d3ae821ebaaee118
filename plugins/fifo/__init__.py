"""The fifo plugin: Zircon FIFOs (ZX_OBJ_TYPE_FIFO), two rings of fixed-size elements.

- `zx_fifo_create(elem_count, elem_size, options) -> (h0, h1)`: each end owns a ring of
  `elem_count` elements of `elem_size` bytes that the *peer* writes into. Rights BASIC |
  IO | SIGNAL | SIGNAL_PEER (0xF00F); both ends start WRITABLE. `options` is ignored, as
  by Zircon's kernel.
- `zx_fifo_write(h, elem_size, data, count) -> actual_count`: WRITE right; copies
  `min(count, free slots)` whole elements from `data` into the peer's ring.
- `zx_fifo_read(h, elem_size, count) -> bytes`: READ right; up to `count` whole elements
  (`len(result) // elem_size` is the actual count).
- Signals: READABLE when this end's ring has elements, WRITABLE while the peer's ring
  has room, PEER_CLOSED (WRITABLE cleared) when the peer's last handle closes; queued
  elements stay readable. `zx_object_signal[_peer]` may change the user signals only.

Limits (Zircon's): `elem_count` and `elem_size` at least 1 and
`elem_count * elem_size <= ZX_FIFO_MAX_SIZE_BYTES` (4096), else ZX_ERR_OUT_OF_RANGE. Both
rings are charged to simulated memory at creation (2 * elem_count * elem_size bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsim import hookimpl, zx
from microsim.core.object import PeeredObject
from microsim.core.syscall import arg_bytes, arg_size, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "fifos: peered rings of fixed-size elements"

_READABLE = zx.ZX_FIFO_READABLE
_WRITABLE = zx.ZX_FIFO_WRITABLE
_OUT_OF_RANGE = zx.ZX_ERR_OUT_OF_RANGE


class Fifo(PeeredObject):
    """One end of a FIFO; `ring` holds the elements queued for this end to read."""

    obj_type = zx.ZX_OBJ_TYPE_FIFO
    type_name = "fifo"
    default_rights = zx.ZX_DEFAULT_FIFO_RIGHTS
    __slots__ = ("count", "elem_count", "elem_size", "ring")

    def __init__(self, kernel: Kernel, elem_count: int, elem_size: int) -> None:
        super().__init__(kernel)
        self.elem_count = elem_count
        self.elem_size = elem_size
        self.ring = bytearray()
        self.count = 0

    def on_peer_zero_handles(self) -> None:
        self.update_signals(_WRITABLE, zx.ZX_FIFO_PEER_CLOSED)

    def on_destroy(self) -> None:
        self.kernel.mem.uncharge_bytes(self.elem_count * self.elem_size)
        self.ring = bytearray()
        self.count = 0

    def describe(self) -> dict[str, Any]:
        return {"elements": self.count, "elem_count": self.elem_count, "elem_size": self.elem_size}


def sys_fifo_create(p: Process, elem_count: int, elem_size: int, options: int) -> tuple[int, int]:
    """zx_fifo_create: two ends, each with a ring of `elem_count` x `elem_size` bytes.

    Limits: 1 <= elem_count, 1 <= elem_size, elem_count * elem_size <= 4096
    (ZX_FIFO_MAX_SIZE_BYTES), else ZX_ERR_OUT_OF_RANGE; `options` is ignored.
    """
    p.enforce_policy(zx.ZX_POL_NEW_FIFO)  # first, as Zircon
    count = arg_size(elem_count)
    size = arg_size(elem_size)
    arg_u32(options)
    limit = zx.ZX_FIFO_MAX_SIZE_BYTES
    if not count or not size or count > limit or size > limit or count * size > limit:
        raise ZxError(_OUT_OF_RANGE, "fifo sizes out of range")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
        k.mem.alloc("handle")
    k.mem.charge_bytes(2 * count * size, "fifo")
    a, b = Fifo(k, count, size), Fifo(k, count, size)
    PeeredObject.link(a, b)
    a.signals = b.signals = _WRITABLE
    k.publish(a, p.koid)
    k.publish(b, p.koid)
    rights = Fifo.default_rights
    return k.new_handle(p, a, rights, reserved=True), k.new_handle(p, b, rights, reserved=True)


def sys_fifo_write(p: Process, handle: int, elem_size: int, data: bytes, count: int) -> int:
    """zx_fifo_write: queue up to `count` elements of `data` on the peer; the number queued.

    Errors in Zircon's order: handle lookup (WRITE); PEER_CLOSED; `elem_size` not the
    fifo's -> OUT_OF_RANGE; `count == 0` -> OUT_OF_RANGE; peer's ring full -> SHOULD_WAIT;
    `data` shorter than the elements to copy (a bad buffer) -> INVALID_ARGS.
    """
    own: Fifo = p.obj(handle, Fifo, zx.ZX_RIGHT_WRITE)
    peer = own.peer
    if peer is None:
        raise ZxError(zx.ZX_ERR_PEER_CLOSED)
    assert isinstance(peer, Fifo)
    if arg_size(elem_size) != own.elem_size:
        raise ZxError(_OUT_OF_RANGE, "element size mismatch")
    count = arg_size(count)
    if count == 0:
        raise ZxError(_OUT_OF_RANGE, "count is 0")
    room = peer.elem_count - peer.count
    if room == 0:
        raise ZxError(zx.ZX_ERR_SHOULD_WAIT)
    n = min(count, room)
    buf = arg_bytes(data)
    nbytes = n * own.elem_size
    if len(buf) < nbytes:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "data is shorter than the elements")
    was_empty = peer.count == 0
    peer.ring += buf[:nbytes]
    peer.count += n
    if was_empty:
        peer.update_signals(0, _READABLE)
    if peer.count == peer.elem_count:
        own.update_signals(_WRITABLE, 0)
    return n


def sys_fifo_read(p: Process, handle: int, elem_size: int, count: int) -> bytes:
    """zx_fifo_read: up to `count` whole elements (their bytes; actual count = len // elem_size).

    Errors in Zircon's order: handle lookup (READ); `elem_size` mismatch -> OUT_OF_RANGE;
    `count == 0` -> OUT_OF_RANGE; nothing queued -> PEER_CLOSED if the peer is gone, else
    SHOULD_WAIT.
    """
    own: Fifo = p.obj(handle, Fifo, zx.ZX_RIGHT_READ)
    if arg_size(elem_size) != own.elem_size:
        raise ZxError(_OUT_OF_RANGE, "element size mismatch")
    count = arg_size(count)
    if count == 0:
        raise ZxError(_OUT_OF_RANGE, "count is 0")
    if own.count == 0:
        raise ZxError(zx.ZX_ERR_PEER_CLOSED if own.peer is None else zx.ZX_ERR_SHOULD_WAIT)
    n = min(count, own.count)
    nbytes = n * own.elem_size
    was_full = own.count == own.elem_count
    out = bytes(own.ring[:nbytes])
    del own.ring[:nbytes]
    own.count -= n
    peer = own.peer
    if was_full and peer is not None:
        peer.update_signals(0, _WRITABLE)
    if own.count == 0:
        own.update_signals(_READABLE, 0)
    return out


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Fifo)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_fifo_create", sys_fifo_create)
    register("zx_fifo_write", sys_fifo_write)
    register("zx_fifo_read", sys_fifo_read)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("fifo"):
        assert isinstance(obj, Fifo)
        if len(obj.ring) != obj.count * obj.elem_size or obj.count > obj.elem_count:
            report(f"{obj!r}: {obj.count} elements in {len(obj.ring)} bytes")
        if bool(obj.signals & _READABLE) != bool(obj.count):
            report(f"{obj!r}: READABLE does not match {obj.count} elements")
        peer = obj.peer
        if isinstance(peer, Fifo) and bool(obj.signals & _WRITABLE) == (peer.count == peer.elem_count):
            report(f"{obj!r}: WRITABLE does not match the peer's ring")
