"""Counters (Zircon's counter core-tests)."""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

POS = zx.ZX_COUNTER_POSITIVE
NONPOS = zx.ZX_COUNTER_NON_POSITIVE
I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)



def signals(p: Process, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["counter"]).create_process("counter")


def test_create(p: Process) -> None:
    c = p.zx.counter_create(0)
    info = p.zx.object_get_info(c, zx.ZX_INFO_HANDLE_BASIC)
    assert info.type == zx.ZX_OBJ_TYPE_COUNTER and info.rights == 0xD00F
    assert p.zx.counter_read(c) == 0 and signals(p, c) == NONPOS
    assert status(p.zx.counter_create, 1) == zx.ZX_ERR_INVALID_ARGS


def test_add_read_write_and_signals(p: Process) -> None:
    c = p.zx.counter_create(0)
    p.zx.counter_add(c, 0)
    assert signals(p, c) == NONPOS
    p.zx.counter_add(c, 5)
    assert p.zx.counter_read(c) == 5 and signals(p, c) == POS
    p.zx.counter_add(c, -5)
    assert p.zx.counter_read(c) == 0 and signals(p, c) == NONPOS
    p.zx.counter_write(c, -7)
    assert p.zx.counter_read(c) == -7 and signals(p, c) == NONPOS
    p.zx.counter_write(c, I64_MAX)
    assert signals(p, c) == POS
    p.zx.counter_write(c, I64_MIN)
    assert p.zx.counter_read(c) == I64_MIN and signals(p, c) == NONPOS


def test_overflow_and_underflow_change_nothing(p: Process) -> None:
    c = p.zx.counter_create(0)
    p.zx.counter_write(c, I64_MAX)
    assert status(p.zx.counter_add, c, 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.counter_read(c) == I64_MAX and signals(p, c) == POS
    p.zx.counter_write(c, I64_MIN)
    assert status(p.zx.counter_add, c, -1) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.counter_read(c) == I64_MIN and signals(p, c) == NONPOS
    assert status(p.zx.counter_add, c, 1 << 63) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.counter_write, c, "1") == zx.ZX_ERR_INVALID_ARGS


def test_rights(p: Process) -> None:
    c = p.zx.counter_create(0)
    r = p.zx.handle_duplicate(c, zx.ZX_RIGHT_READ)
    w = p.zx.handle_duplicate(c, zx.ZX_RIGHT_WRITE)
    # add needs READ and WRITE.
    assert status(p.zx.counter_add, r, 1) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.counter_add, w, 1) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.counter_read, w) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.counter_write, r, 1) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.counter_write(w, 3)
    assert p.zx.counter_read(r) == 3
    e = p.zx.port_create(0) if "zx_port_create" in p.kernel.syscalls.specs else p.self_handle
    assert status(p.zx.counter_read, e) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.counter_read, 0x77) == zx.ZX_ERR_BAD_HANDLE


def test_signal_mask(p: Process) -> None:
    c = p.zx.counter_create(0)
    p.zx.object_signal(c, 0, zx.ZX_USER_SIGNAL_1 | zx.ZX_COUNTER_SIGNALED)
    assert signals(p, c) == NONPOS | zx.ZX_USER_SIGNAL_1 | zx.ZX_COUNTER_SIGNALED
    assert status(p.zx.object_signal, c, 0, POS) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal, c, NONPOS, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal_peer, c, 0, 0) == zx.ZX_ERR_ACCESS_DENIED


def test_wait_for_positive(p: Process) -> None:
    k = p.kernel
    c = p.zx.counter_create(0)
    got: list[int] = []
    k.create_thread(p, lambda: got.append(p.zx.object_wait_one(c, POS, zx.ZX_TIME_INFINITE)))
    k.create_thread(p, lambda: p.zx.counter_add(c, 2))
    k.run()
    assert got == [POS]
