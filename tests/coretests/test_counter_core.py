"""Ports of Zircon's counter core-tests (zircon/system/utest/core/counter/counter.cc)."""

from __future__ import annotations

from zxcore import get_signals, status_of

from microsim import zx
from microsim.objects.process import Process

POS = zx.ZX_COUNTER_POSITIVE
NONPOS = zx.ZX_COUNTER_NON_POSITIVE
RIGHTS = zx.ZX_DEFAULT_COUNTER_RIGHTS
I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)


def test_CreateInitial(p: Process) -> None:
    c = p.zx.counter_create(0)
    info = p.zx.object_get_info(c, zx.ZX_INFO_HANDLE_BASIC)
    assert info.koid != 0 and info.type == zx.ZX_OBJ_TYPE_COUNTER and info.rights == RIGHTS
    assert get_signals(p, c) == NONPOS
    assert p.zx.counter_read(c) == 0


def test_CreateInvalidOptions(p: Process) -> None:
    for options in (1, 2, 3, 0xFFFFFFFF):
        assert status_of(p.zx.counter_create, options) == zx.ZX_ERR_INVALID_ARGS


def test_AddInvalidHandle(p: Process) -> None:
    assert status_of(p.zx.counter_add, zx.ZX_HANDLE_INVALID, 0) == zx.ZX_ERR_BAD_HANDLE


def test_AddWrongType(p: Process) -> None:
    e = p.zx.event_create(0)
    assert status_of(p.zx.counter_add, e, 0) == zx.ZX_ERR_WRONG_TYPE


def test_AddMissingRights(p: Process) -> None:
    c = p.zx.counter_create(0)
    for drop in (zx.ZX_RIGHT_READ, zx.ZX_RIGHT_WRITE, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE):
        d = p.zx.handle_duplicate(c, RIGHTS & ~drop)
        assert status_of(p.zx.counter_add, d, 0) == zx.ZX_ERR_ACCESS_DENIED


def test_AddOverflow(p: Process) -> None:
    c = p.zx.counter_create(0)
    p.zx.counter_add(c, I64_MAX)
    assert get_signals(p, c) == POS
    assert status_of(p.zx.counter_add, c, 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert get_signals(p, c) == POS
    assert p.zx.counter_read(c) == I64_MAX


def test_AddUnderflow(p: Process) -> None:
    c = p.zx.counter_create(0)
    p.zx.counter_add(c, I64_MIN)
    assert get_signals(p, c) == NONPOS
    assert status_of(p.zx.counter_add, c, -1) == zx.ZX_ERR_OUT_OF_RANGE
    assert get_signals(p, c) == NONPOS
    assert p.zx.counter_read(c) == I64_MIN


def test_AddHappyCase(p: Process) -> None:
    c = p.zx.counter_create(0)
    for delta, value, sig in ((0, 0, NONPOS), (-1, -1, NONPOS), (1, 0, NONPOS), (1, 1, POS)):
        p.zx.counter_add(c, delta)
        assert get_signals(p, c) == sig
        assert p.zx.counter_read(c) == value


def test_ReadInvalidHandle(p: Process) -> None:
    assert status_of(p.zx.counter_read, zx.ZX_HANDLE_INVALID) == zx.ZX_ERR_BAD_HANDLE


def test_ReadWrongType(p: Process) -> None:
    assert status_of(p.zx.counter_read, p.zx.event_create(0)) == zx.ZX_ERR_WRONG_TYPE


def test_ReadMissingRights(p: Process) -> None:
    c = p.zx.handle_duplicate(p.zx.counter_create(0), RIGHTS & ~zx.ZX_RIGHT_READ)
    assert status_of(p.zx.counter_read, c) == zx.ZX_ERR_ACCESS_DENIED


def test_ReadHappyCase(p: Process) -> None:
    c = p.zx.counter_create(0)
    assert p.zx.counter_read(c) == 0
    p.zx.counter_write(c, 42)
    assert p.zx.counter_read(c) == 42


def test_WriteInvalidHandle(p: Process) -> None:
    assert status_of(p.zx.counter_write, zx.ZX_HANDLE_INVALID, 0) == zx.ZX_ERR_BAD_HANDLE


def test_WriteWrongType(p: Process) -> None:
    assert status_of(p.zx.counter_write, p.zx.event_create(0), 0) == zx.ZX_ERR_WRONG_TYPE


def test_WriteMissingRights(p: Process) -> None:
    c = p.zx.counter_create(0)
    d = p.zx.handle_duplicate(c, RIGHTS & ~zx.ZX_RIGHT_WRITE)
    assert status_of(p.zx.counter_write, d, 0) == zx.ZX_ERR_ACCESS_DENIED
    d = p.zx.handle_duplicate(c, RIGHTS & ~zx.ZX_RIGHT_READ)
    p.zx.counter_write(d, 0)  # no READ is fine


def test_WriteHappyCase(p: Process) -> None:
    c = p.zx.counter_create(0)
    assert get_signals(p, c) == NONPOS
    for value, sig in ((0, NONPOS), (-1, NONPOS), (1, POS)):
        p.zx.counter_write(c, value)
        assert get_signals(p, c) == sig
        assert p.zx.counter_read(c) == value
