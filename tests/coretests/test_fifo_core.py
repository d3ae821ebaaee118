"""Ports of Zircon's fifo core-tests (zircon/system/utest/core/fifo/fifo.cc)."""

from __future__ import annotations

from zxcore import get_signals, status_of

from microsim import zx
from microsim.objects.process import Process

R = zx.ZX_FIFO_READABLE
W = zx.ZX_FIFO_WRITABLE
ES = 8


def elems(*values: int) -> bytes:
    return b"".join(v.to_bytes(ES, "little") for v in values)


def values(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + ES], "little") for i in range(0, len(data), ES)]


def test_InvalidParametersReturnOutOfRange(p: Process) -> None:
    assert status_of(p.zx.fifo_create, 0, 0, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status_of(p.zx.fifo_create, 128, 33, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status_of(p.zx.fifo_create, 0, 0, 1) == zx.ZX_ERR_OUT_OF_RANGE


def test_EndpointsAreRelated(p: Process) -> None:
    a, b = p.zx.fifo_create(8, ES, 0)
    assert get_signals(p, a) == W and get_signals(p, b) == W
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.koid and ia.related_koid and ib.koid and ib.related_koid
    assert ia.koid == ib.related_koid and ib.koid == ia.related_koid


def test_EmptyQueueReturnsErrShouldWait(p: Process) -> None:
    a, _ = p.zx.fifo_create(8, ES, 0)
    assert status_of(p.zx.fifo_read, a, ES, 8) == zx.ZX_ERR_SHOULD_WAIT


def test_ReadAndWriteValidatesSizeAndElementCount(p: Process) -> None:
    a, _ = p.zx.fifo_create(8, ES, 0)
    data = elems(*range(1, 9))
    assert status_of(p.zx.fifo_read, a, ES, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status_of(p.zx.fifo_write, a, ES, data, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status_of(p.zx.fifo_read, a, ES + 1, 8) == zx.ZX_ERR_OUT_OF_RANGE
    assert status_of(p.zx.fifo_write, a, ES + 1, data, 8) == zx.ZX_ERR_OUT_OF_RANGE


def test_DequeueSignalsWriteable(p: Process) -> None:
    a, b = p.zx.fifo_create(8, ES, 0)
    assert get_signals(p, a) == W and get_signals(p, b) == W
    data = elems(*range(1, 9))
    assert p.zx.fifo_write(a, ES, data, 8) == 8
    assert get_signals(p, b) == R | W
    assert status_of(p.zx.fifo_write, a, ES, data, 8) == zx.ZX_ERR_SHOULD_WAIT
    assert get_signals(p, a) == 0
    assert values(p.zx.fifo_read(b, ES, 4)) == [1, 2, 3, 4]
    assert get_signals(p, a) == W
    assert values(p.zx.fifo_read(b, ES, 4)) == [5, 6, 7, 8]
    assert get_signals(p, b) == W


def test_FifoOrderIsPreserved(p: Process) -> None:
    a, b = p.zx.fifo_create(8, ES, 0)
    p.zx.fifo_write(a, ES, elems(*range(1, 9)), 8)
    assert values(p.zx.fifo_read(b, ES, 4)) == [1, 2, 3, 4]
    assert p.zx.fifo_write(a, ES, elems(9, 10), 2) == 2
    assert values(p.zx.fifo_read(b, ES, 8)) == [5, 6, 7, 8, 9, 10]
    assert p.zx.fifo_write(a, ES, elems(11, 12, 13, 14, 15), 5) == 5


def test_PartialWriteQueuesElementsThatFit(p: Process) -> None:
    a, _ = p.zx.fifo_create(8, ES, 0)
    p.zx.fifo_write(a, ES, elems(1, 2, 3, 4, 5), 5)
    assert p.zx.fifo_write(a, ES, elems(16, 17, 18, 4, 5), 5) == 3


def test_IndividualReadsPreserveOrder(p: Process) -> None:
    a, b = p.zx.fifo_create(8, ES, 0)
    p.zx.fifo_write(a, ES, elems(*range(1, 9)), 8)
    for i in range(1, 9):
        assert values(p.zx.fifo_read(b, ES, 1)) == [i]


def test_EndpointCloseSignalsPeerClosed(p: Process) -> None:
    a, b = p.zx.fifo_create(8, ES, 0)
    assert p.zx.fifo_write(a, ES, elems(19), 1) == 1
    p.zx.handle_close(a)
    assert get_signals(p, b) == R | zx.ZX_FIFO_PEER_CLOSED
    assert values(p.zx.fifo_read(b, ES, 8)) == [19]
    assert get_signals(p, b) == zx.ZX_FIFO_PEER_CLOSED
    assert status_of(p.zx.fifo_read, b, ES, 8) == zx.ZX_ERR_PEER_CLOSED
    assert status_of(p.zx.object_signal_peer, b, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_PEER_CLOSED


def test_NonPowerOfTwoCountSupported(p: Process) -> None:
    a, b = p.zx.fifo_create(10, ES, 0)
    data = elems(*range(1, 10))
    for _ in range(2):
        assert p.zx.fifo_write(a, ES, data, 9) == 9
        assert values(p.zx.fifo_read(b, ES, 9)) == list(range(1, 10))


def test_WriteNullBuffer(p: Process) -> None:
    a, _ = p.zx.fifo_create(4, ES, 0)
    assert status_of(p.zx.fifo_write, a, ES, None, 1) == zx.ZX_ERR_INVALID_ARGS


def test_WritePartialBadBuffer(p: Process) -> None:
    # Only one of the two elements is readable: nothing is queued.
    a, b = p.zx.fifo_create(4, ES, 0)
    assert status_of(p.zx.fifo_write, a, ES, elems(1), 2) == zx.ZX_ERR_INVALID_ARGS
    assert get_signals(p, b) == W
