"""The socket plugin: Zircon sockets (ZX_OBJ_TYPE_SOCKET), stream or datagram.

- `zx_socket_create(options) -> (h0, h1)`: ZX_SOCKET_STREAM (0) or ZX_SOCKET_DATAGRAM (1);
  other bits -> ZX_ERR_INVALID_ARGS. Rights 0x10F0CF; both ends start WRITABLE.
- `zx_socket_write(h, options, data) -> actual`: WRITE right; appends to the peer's
  receive buffer. Stream writes are short when the buffer fills; datagrams are queued
  whole or refused.
- `zx_socket_read(h, options, size) -> bytes`: READ right; ZX_SOCKET_PEEK copies without
  consuming. A datagram read returns the first datagram, truncated to `size` (the rest of
  it is discarded).
- `zx_socket_set_disposition(h, disposition, disposition_peer)`: MANAGE_SOCKET right;
  ZX_SOCKET_DISPOSITION_WRITE_DISABLED / _WRITE_ENABLED on this end and/or the peer.
- Properties ZX_PROP_SOCKET_RX_THRESHOLD / ZX_PROP_SOCKET_TX_THRESHOLD (size_t) drive
  ZX_SOCKET_READ_THRESHOLD / ZX_SOCKET_WRITE_THRESHOLD; ZX_INFO_SOCKET (48 bytes) reports
  both directions' buffers.
- Signals: READABLE, WRITABLE, PEER_CLOSED, PEER_WRITE_DISABLED, WRITE_DISABLED,
  READ_THRESHOLD, WRITE_THRESHOLD; `zx_object_signal[_peer]` may change user signals only.

Limits: each end's receive buffer holds at most `SOCKET_MAX` = 264160 bytes (Zircon's
MBufChain::kSizeMax, reported as rx_buf_max); a write to a full buffer is
ZX_ERR_SHOULD_WAIT, a datagram larger than the buffer ZX_ERR_OUT_OF_RANGE, a write or read
size above 2**32-1 ZX_ERR_INVALID_ARGS. Buffered bytes are charged to simulated memory
until read or destroyed (ZX_ERR_NO_MEMORY when it is full).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from microsim import hookimpl, zx
from microsim.core.handle import Handle
from microsim.core.object import PeeredObject
from microsim.core.syscall import arg_bytes, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "sockets: peered byte streams and datagram queues"

# Zircon's MBufChain::kSizeMax: round_up(256 KiB, 4064-byte MBuf payloads).
SOCKET_MAX = 264160

_READABLE = zx.ZX_SOCKET_READABLE
_WRITABLE = zx.ZX_SOCKET_WRITABLE
_PEER_CLOSED = zx.ZX_SOCKET_PEER_CLOSED
_PEER_WRITE_DISABLED = zx.ZX_SOCKET_PEER_WRITE_DISABLED
_WRITE_DISABLED = zx.ZX_SOCKET_WRITE_DISABLED
_READ_THRESHOLD = zx.ZX_SOCKET_READ_THRESHOLD
_WRITE_THRESHOLD = zx.ZX_SOCKET_WRITE_THRESHOLD
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_DISABLE = zx.ZX_SOCKET_DISPOSITION_WRITE_DISABLED
_ENABLE = zx.ZX_SOCKET_DISPOSITION_WRITE_ENABLED


class Socket(PeeredObject):
    """One end of a socket; `stream` / `datagrams` hold what this end will read."""

    obj_type = zx.ZX_OBJ_TYPE_SOCKET
    type_name = "socket"
    default_rights = zx.ZX_DEFAULT_SOCKET_RIGHTS
    __slots__ = ("datagrams", "options", "read_disabled", "rx_threshold", "stream",
                 "tx_threshold", "used")

    def __init__(self, kernel: Kernel, options: int) -> None:
        super().__init__(kernel)
        self.options = options
        self.stream = bytearray()
        self.datagrams: deque[bytes] = deque()
        self.used = 0
        self.rx_threshold = 0
        self.tx_threshold = 0
        self.read_disabled = False

    @property
    def is_datagram(self) -> bool:
        """Whether this is a datagram socket."""
        return bool(self.options & zx.ZX_SOCKET_DATAGRAM)

    def on_peer_zero_handles(self) -> None:
        self.update_signals(_WRITABLE, _PEER_CLOSED)

    def on_zero_handles(self) -> None:
        super().on_zero_handles()
        self._drop()

    def on_destroy(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.used:
            self.kernel.mem.uncharge_bytes(self.used)
        self.used = 0
        self.stream = bytearray()
        self.datagrams.clear()

    def available(self) -> int:
        """Bytes the next read could return (the first datagram's length for datagrams)."""
        if self.is_datagram:
            return len(self.datagrams[0]) if self.datagrams else 0
        return self.used

    def describe(self) -> dict[str, Any]:
        return {"used": self.used, "datagram": self.is_datagram}


def _source(data: Any, n: int) -> bytes:
    """The first `n` bytes of the caller's buffer (shorter: a bad buffer, INVALID_ARGS)."""
    buf = data if type(data) is bytes else arg_bytes(data)
    if len(buf) < n:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "the buffer is shorter than the size")
    return buf if len(buf) == n else buf[:n]


def sys_socket_create(p: Process, options: int) -> tuple[int, int]:
    """zx_socket_create: two connected ends. Options: ZX_SOCKET_STREAM (0) or
    ZX_SOCKET_DATAGRAM (1); anything else -> ZX_ERR_INVALID_ARGS.

    Limits: each end buffers at most 264160 bytes (rx_buf_max in ZX_INFO_SOCKET)."""
    p.enforce_policy(zx.ZX_POL_NEW_SOCKET)  # first, as Zircon
    options = arg_u32(options)
    if options & ~zx.ZX_SOCKET_CREATE_MASK:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown options")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
        k.mem.alloc("handle")
    a, b = Socket(k, options), Socket(k, options)
    PeeredObject.link(a, b)
    a.signals = b.signals = _WRITABLE
    k.publish(a, p.koid)
    k.publish(b, p.koid)
    rights = Socket.default_rights
    return k.new_handle(p, a, rights, reserved=True), k.new_handle(p, b, rights, reserved=True)


def sys_socket_write(p: Process, handle: int, options: int, data: bytes | None, size: int | None = None) -> int:
    """zx_socket_write: append `data` (its first `size` bytes; all of it when `size` is
    None) to the peer's buffer; the number of bytes written.

    Errors in Zircon's order: `size > 0` with no `data` (NULL) -> INVALID_ARGS;
    `options != 0` -> INVALID_ARGS; handle lookup (WRITE); PEER_CLOSED (even for 0 bytes);
    this end write-disabled -> BAD_STATE; (`size == 0` -> OK, 0); `size` above 2**32-1 ->
    INVALID_ARGS; peer's buffer full -> SHOULD_WAIT; a datagram larger than 264160 bytes ->
    OUT_OF_RANGE, one that does not fit -> SHOULD_WAIT (never short); `data` shorter than
    `size` (a bad buffer) -> INVALID_ARGS with nothing queued. A stream write is short when
    the buffer fills.
    """
    if size is None:
        size = 0 if data is None else len(arg_bytes(data))
    elif type(size) is not int:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "size must be a size_t")
    elif size < 0 or size > _U64:
        size = _U64  # what a negative or wider value is to the kernel: huge
    if size > 0 and data is None:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "NULL buffer")
    if options != 0 or type(options) is not int:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "options must be 0")
    own: Socket = p.obj(handle, Socket, zx.ZX_RIGHT_WRITE)
    peer = own.peer
    if peer is None:
        raise ZxError(zx.ZX_ERR_PEER_CLOSED)
    assert isinstance(peer, Socket)
    if own.signals & _WRITE_DISABLED:
        raise ZxError(zx.ZX_ERR_BAD_STATE, "writes are disabled")
    if size == 0:
        return 0
    if size > _U32:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS)
    used = peer.used
    if used >= SOCKET_MAX:
        raise ZxError(zx.ZX_ERR_SHOULD_WAIT)
    if peer.is_datagram:
        if size > SOCKET_MAX:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "datagram larger than the socket")
        if size + used > SOCKET_MAX:
            raise ZxError(zx.ZX_ERR_SHOULD_WAIT)
        n = size
        buf = _source(data, n)
        own.kernel.mem.charge_bytes(n, "socket")
        peer.datagrams.append(buf)
    else:
        n = min(size, SOCKET_MAX - used)
        buf = _source(data, n)
        own.kernel.mem.charge_bytes(n, "socket")
        peer.stream += buf
    peer.used = used = used + n
    if used == n:
        set_mask = _READABLE
        if peer.rx_threshold and used >= peer.rx_threshold:
            set_mask |= _READ_THRESHOLD
        peer.update_signals(0, set_mask)
    elif peer.rx_threshold and used >= peer.rx_threshold and not peer.signals & _READ_THRESHOLD:
        peer.update_signals(0, _READ_THRESHOLD)
    clear = 0
    if own.tx_threshold and SOCKET_MAX - used < own.tx_threshold:
        clear |= _WRITE_THRESHOLD
    if used >= SOCKET_MAX:
        clear |= _WRITABLE
    if clear & own.signals:
        own.update_signals(clear, 0)
    return n


def sys_socket_read(p: Process, handle: int, options: int, size: int) -> bytes:
    """zx_socket_read: up to `size` bytes (ZX_SOCKET_PEEK: without consuming them).

    Errors in Zircon's order: unknown options -> INVALID_ARGS; handle lookup (READ);
    `size` above 2**32-1 -> INVALID_ARGS; nothing buffered -> PEER_CLOSED if the peer is
    gone, BAD_STATE if reads are disabled, else SHOULD_WAIT. A datagram read returns the
    first datagram truncated to `size` and discards its rest; `size == 0` consumes nothing.
    """
    if type(options) is not int or options & ~zx.ZX_SOCKET_PEEK or options < 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown options")
    own: Socket = p.obj(handle, Socket, zx.ZX_RIGHT_READ)
    if type(size) is not int or not 0 <= size <= _U32:
        # Negative or wider sizes are huge size_t values to the kernel: above 2**32-1.
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "size above 2**32-1")
    if own.used == 0:
        if own.peer is None:
            raise ZxError(zx.ZX_ERR_PEER_CLOSED)
        if own.read_disabled:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "reads are disabled")
        raise ZxError(zx.ZX_ERR_SHOULD_WAIT)
    peek = bool(options & zx.ZX_SOCKET_PEEK)
    if own.is_datagram:
        first = own.datagrams[0]
        out = first[:size]
        if peek or size == 0:
            return out
        own.datagrams.popleft()
        consumed = len(first)
    else:
        stream = own.stream
        out = bytes(stream[:size])
        if peek or not out:
            return out
        consumed = len(out)
        del stream[:consumed]
    was_full = own.used >= SOCKET_MAX
    own.used = used = own.used - consumed
    own.kernel.mem.uncharge_bytes(consumed)
    clear = 0
    if own.rx_threshold and used < own.rx_threshold:
        clear |= _READ_THRESHOLD
    if used == 0:
        clear |= _READABLE
    if clear & own.signals:
        own.update_signals(clear, 0)
    peer = own.peer
    if isinstance(peer, Socket):
        set_mask = 0
        if peer.tx_threshold and SOCKET_MAX - used >= peer.tx_threshold:
            set_mask |= _WRITE_THRESHOLD
        if was_full and consumed:
            set_mask |= _WRITABLE
        if set_mask & ~peer.signals:
            peer.update_signals(0, set_mask)
    return out


def sys_socket_set_disposition(p: Process, handle: int, disposition: int, disposition_peer: int) -> None:
    """zx_socket_set_disposition: disable or re-enable writes on this end and/or the peer.

    Each argument is 0, ZX_SOCKET_DISPOSITION_WRITE_DISABLED or _WRITE_ENABLED (else
    INVALID_ARGS, before the lookup); MANAGE_SOCKET right. Re-enabling writes toward an
    end that still holds data it received while disabled -> BAD_STATE (nothing changed).
    """
    if disposition not in (0, _DISABLE, _ENABLE) or type(disposition) is not int:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "bad disposition")
    if disposition_peer not in (0, _DISABLE, _ENABLE) or type(disposition_peer) is not int:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "bad peer disposition")
    own: Socket = p.obj(handle, Socket, zx.ZX_RIGHT_MANAGE_SOCKET)
    if disposition == 0 and disposition_peer == 0:
        return None
    # Writes toward an end may not be re-enabled while it holds data it got before its
    # reads were disabled (also after its peer closed: SetDispositionOfClosedPeerWithBufferedData).
    if disposition_peer == _ENABLE and own.used and own.read_disabled:
        raise ZxError(zx.ZX_ERR_BAD_STATE)
    peer = own.peer
    if isinstance(peer, Socket) and disposition == _ENABLE and peer.used and peer.read_disabled:
        raise ZxError(zx.ZX_ERR_BAD_STATE)
    if disposition == _DISABLE:
        own.update_signals(_WRITABLE, _WRITE_DISABLED)
        if isinstance(peer, Socket):
            peer.read_disabled = True
            peer.update_signals(0, _PEER_WRITE_DISABLED)
    elif disposition == _ENABLE:
        own.update_signals(_WRITE_DISABLED, _WRITABLE)
        if isinstance(peer, Socket):
            peer.read_disabled = False
            peer.update_signals(_PEER_WRITE_DISABLED, 0)
    if disposition_peer == _DISABLE:
        own.read_disabled = True
        if isinstance(peer, Socket):
            own.update_signals(0, _PEER_WRITE_DISABLED)
            peer.update_signals(_WRITABLE, _WRITE_DISABLED)
    elif disposition_peer == _ENABLE:
        own.read_disabled = False
        if isinstance(peer, Socket):
            own.update_signals(_PEER_WRITE_DISABLED, 0)
            peer.update_signals(_WRITE_DISABLED, _WRITABLE)
    return None


# --------------------------------------------------------------------------- properties, info
def _socket_of(h: Handle) -> Socket:
    if not isinstance(h.obj, Socket):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    return h.obj


def _check_size(value_size: int | None) -> None:
    if value_size is not None and value_size < 8:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)


def _get_rx(p: Process, h: Handle, value_size: int | None) -> int:
    _check_size(value_size)
    return _socket_of(h).rx_threshold


def _get_tx(p: Process, h: Handle, value_size: int | None) -> int:
    _check_size(value_size)
    return _socket_of(h).tx_threshold


def _threshold_value(value: Any) -> int:
    if type(value) is not int or value < 0 or value > (1 << 64) - 1:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "a threshold is a size_t")
    return value


def _set_rx(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_SOCKET_RX_THRESHOLD: READ_THRESHOLD is asserted while buffered >= value."""
    s = _socket_of(h)
    value = _threshold_value(value)
    if value > SOCKET_MAX:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "threshold above the buffer size")
    s.rx_threshold = value
    if value and s.used >= value:
        s.update_signals(0, _READ_THRESHOLD)
    else:
        s.update_signals(_READ_THRESHOLD, 0)


def _set_tx(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_SOCKET_TX_THRESHOLD: WRITE_THRESHOLD is asserted while the peer's free
    space >= value."""
    s = _socket_of(h)
    value = _threshold_value(value)
    peer = s.peer
    if not isinstance(peer, Socket):
        raise ZxError(zx.ZX_ERR_PEER_CLOSED)
    if value > SOCKET_MAX:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "threshold above the buffer size")
    s.tx_threshold = value
    if value and SOCKET_MAX - peer.used >= value:
        s.update_signals(0, _WRITE_THRESHOLD)
    else:
        s.update_signals(_WRITE_THRESHOLD, 0)


def info_socket(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_socket_t:
    """ZX_INFO_SOCKET: options and the buffer sizes of both directions."""
    if buffer_size is not None and buffer_size < zx.zx_info_socket_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    s: Socket = h.obj
    peer = s.peer
    alive = isinstance(peer, Socket)
    return zx.zx_info_socket_t(
        options=s.options, rx_buf_max=SOCKET_MAX, rx_buf_size=s.used,
        rx_buf_available=s.available(),
        tx_buf_max=SOCKET_MAX if alive else 0, tx_buf_size=peer.used if isinstance(peer, Socket) else 0,
    )


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Socket)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_socket_create", sys_socket_create)
    register("zx_socket_write", sys_socket_write)
    register("zx_socket_read", sys_socket_read)
    register("zx_socket_set_disposition", sys_socket_set_disposition)


@hookimpl
def register_info_topics(register: Callable[..., None]) -> None:
    register(zx.ZX_INFO_SOCKET, info_socket, name="ZX_INFO_SOCKET", cls=Socket, rights=zx.ZX_RIGHT_INSPECT)


@hookimpl
def register_properties(register: Callable[..., None]) -> None:
    register(zx.ZX_PROP_SOCKET_RX_THRESHOLD, name="ZX_PROP_SOCKET_RX_THRESHOLD", get=_get_rx, set=_set_rx)
    register(zx.ZX_PROP_SOCKET_TX_THRESHOLD, name="ZX_PROP_SOCKET_TX_THRESHOLD", get=_get_tx, set=_set_tx)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("socket"):
        assert isinstance(obj, Socket)
        held = sum(map(len, obj.datagrams)) if obj.is_datagram else len(obj.stream)
        if held != obj.used or obj.used > SOCKET_MAX:
            report(f"{obj!r}: {held} bytes held, {obj.used} counted")
        if bool(obj.signals & _READABLE) != bool(obj.used):
            report(f"{obj!r}: READABLE does not match {obj.used} bytes")
