"""FIFOs (Zircon's fifo core-tests)."""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

R = zx.ZX_FIFO_READABLE
W = zx.ZX_FIFO_WRITABLE
PC = zx.ZX_FIFO_PEER_CLOSED



def signals(p: Process, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


def elems(*values: int) -> bytes:
    return b"".join(v.to_bytes(8, "little") for v in values)


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["fifo"]).create_process("fifo")


def test_create_limits(p: Process) -> None:
    for count, size in ((0, 0), (0, 1), (1, 0), (4097, 1), (1, 4097), (128, 33), (2**64 - 1, 2)):
        assert status(p.zx.fifo_create, count, size, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.fifo_create, 0, 0, 1) == zx.ZX_ERR_OUT_OF_RANGE  # sizes before options
    assert status(p.zx.fifo_create, -1, 8, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.fifo_create, "4", 8, 0) == zx.ZX_ERR_INVALID_ARGS
    a, b = p.zx.fifo_create(4096, 1, 0)
    a2, b2 = p.zx.fifo_create(3, 7, 0)  # not a power of two: fine
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a2, b2))
    assert ia.type == zx.ZX_OBJ_TYPE_FIFO and ia.rights == 0xF00F and ia.related_koid == ib.koid
    assert signals(p, a2) == W and signals(p, b2) == W
    assert p.kernel.mem.bytes_used == 2 * 4096 + 2 * 21
    p.zx.handle_close_many([a, b, a2, b2])
    assert p.kernel.mem.bytes_used == 0


def test_write_read_partial_and_signals(p: Process) -> None:
    a, b = p.zx.fifo_create(4, 8, 0)
    assert status(p.zx.fifo_read, b, 8, 1) == zx.ZX_ERR_SHOULD_WAIT
    assert p.zx.fifo_write(a, 8, elems(1, 2), 2) == 2
    assert signals(p, b) == R | W and signals(p, a) == W
    # Partial write: only the elements that fit.
    assert p.zx.fifo_write(a, 8, elems(3, 4, 5, 6), 4) == 2
    assert signals(p, a) == 0  # full: not writable, nothing to read on this end
    assert status(p.zx.fifo_write, a, 8, elems(7), 1) == zx.ZX_ERR_SHOULD_WAIT
    assert p.zx.fifo_read(b, 8, 3) == elems(1, 2, 3)
    assert signals(p, a) == W
    assert p.zx.fifo_read(b, 8, 10) == elems(4)
    assert signals(p, b) == W
    # The other direction is independent.
    assert p.zx.fifo_write(b, 8, elems(9), 1) == 1
    assert p.zx.fifo_read(a, 8, 1) == elems(9)


def test_errors_in_order(p: Process) -> None:
    a, b = p.zx.fifo_create(2, 4, 0)
    assert status(p.zx.fifo_write, a, 8, bytes(8), 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.fifo_write, a, 4, bytes(8), 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.fifo_write, a, 4, bytes(3), 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.fifo_write, a, 4, None, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.fifo_read, b, 8, 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.fifo_read, b, 4, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.fifo_read, b, 4, 1) == zx.ZX_ERR_SHOULD_WAIT
    ro = p.zx.handle_duplicate(a, zx.ZX_RIGHT_READ)
    wo = p.zx.handle_duplicate(b, zx.ZX_RIGHT_WRITE)
    assert status(p.zx.fifo_write, ro, 4, bytes(4), 1) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.fifo_read, wo, 4, 1) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.fifo_read, p.self_handle, 4, 1) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.fifo_read, 12345, 4, 1) == zx.ZX_ERR_BAD_HANDLE
    # Nothing was queued by the failed calls.
    assert status(p.zx.fifo_read, b, 4, 1) == zx.ZX_ERR_SHOULD_WAIT
    # Peer closed beats the element-size check on write.
    p.zx.handle_close_many([b, wo])
    assert status(p.zx.fifo_write, a, 99, bytes(4), 1) == zx.ZX_ERR_PEER_CLOSED


def test_peer_closed_keeps_queued_elements(p: Process) -> None:
    a, b = p.zx.fifo_create(4, 4, 0)
    p.zx.fifo_write(a, 4, b"abcdefgh", 2)
    p.zx.object_signal_peer(a, 0, zx.ZX_USER_SIGNAL_0)
    p.zx.handle_close(a)
    assert signals(p, b) == R | PC | zx.ZX_USER_SIGNAL_0
    assert p.zx.fifo_read(b, 4, 4) == b"abcdefgh"
    assert signals(p, b) == PC | zx.ZX_USER_SIGNAL_0
    assert status(p.zx.fifo_read, b, 4, 1) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.fifo_write, b, 4, b"abcd", 1) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.object_signal_peer, b, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.object_signal, b, 0, R) == zx.ZX_ERR_INVALID_ARGS


def test_blocked_reader_wakes(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.fifo_create(1, 4, 0)
    got: list[bytes] = []

    def reader() -> None:
        for _ in range(3):
            p.zx.object_wait_one(b, R, zx.ZX_TIME_INFINITE)
            got.append(p.zx.fifo_read(b, 4, 1))

    def writer() -> None:
        for i in range(3):
            p.zx.object_wait_one(a, W, zx.ZX_TIME_INFINITE)
            p.zx.fifo_write(a, 4, bytes([i]) * 4, 1)

    k.create_thread(p, reader)
    k.create_thread(p, writer)
    k.run()
    assert got == [b"\0\0\0\0", b"\1\1\1\1", b"\2\2\2\2"]
