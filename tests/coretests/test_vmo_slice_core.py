"""Ports of Zircon's core-tests for slices (zircon/system/utest/core/vmo/vmo-slice.cc).

Named after the VmoSliceTestCase case each ports. Not ported: the contiguous/BTI cases
(ChildSliceOfContiguousParentIsContiguous, ParentContiguousVmoStaysPinnedWithoutHandle).
"""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
U64 = 2**64 - 1
SLICE = zx.ZX_VMO_CHILD_SLICE


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("vmo-slice-core")



def u32(p: Process, v: int, off: int) -> int:
    return int.from_bytes(p.zx.vmo_read(v, off, 4), "little")


def put(p: Process, v: int, val: int, off: int) -> None:
    p.zx.vmo_write(v, val.to_bytes(4, "little"), off)


def zero_children(p: Process, v: int) -> bool:
    try:
        return bool(p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN)
    except ZxError as e:
        assert e.status == zx.ZX_ERR_TIMED_OUT
        return False


def test_write_through(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    put(p, v, 42, 0)
    put(p, v, 42, P)
    s = p.zx.vmo_create_child(v, SLICE, P, 2 * P)
    assert u32(p, s, 0) == 42
    put(p, s, 84, 0)
    put(p, s, 84, P)
    assert [u32(p, v, i * P) for i in range(4)] == [42, 84, 84, 0]


def test_decommit_parent(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\x2a", 0)
    s = p.zx.vmo_create_child(v, SLICE, 0, P)
    assert p.zx.vmo_read(s, 0, 1) == b"\x2a"
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert p.zx.vmo_read(s, 0, 1) == b"\0"


def test_nested(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    put(p, v, 42, 0)
    s = p.zx.vmo_create_child(v, SLICE, 0, 2 * P)
    ss = p.zx.vmo_create_child(s, SLICE, 0, 2 * P)
    assert u32(p, ss, 0) == 42
    put(p, ss, 84, 0)
    put(p, ss, 84, P)
    assert u32(p, v, 0) == 84 and u32(p, v, P) == 84


def test_non_slice(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, zx.ZX_VMO_RESIZABLE)
    inval, oor = zx.ZX_ERR_INVALID_ARGS, zx.ZX_ERR_OUT_OF_RANGE
    nearly = U64 - P + 1
    for off, size, exp in ((0, 3 * P, inval), (P, 2 * P, inval), (2 * P, P, inval), (0, U64, oor),
                           (0, nearly, oor), (nearly, P, inval), (nearly, nearly, oor), (nearly, U64, oor)):
        assert status(p.zx.vmo_create_child, v, SLICE, off, size) == exp, (off, size)


def test_non_resizable(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    assert status(p.zx.vmo_create_child, v, SLICE, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(p.zx.vmo_create_child, v, SLICE | zx.ZX_VMO_CHILD_RESIZABLE, 0, P) == zx.ZX_ERR_INVALID_ARGS
    v = p.zx.vmo_create(P, 0)
    assert status(p.zx.vmo_create_child, v, SLICE | zx.ZX_VMO_CHILD_RESIZABLE, 0, P) == zx.ZX_ERR_INVALID_ARGS


def test_commit_child(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    s = p.zx.vmo_create_child(v, SLICE, 0, P)
    p.zx.vmo_op_range(s, zx.ZX_VMO_OP_COMMIT, 0, P)
    p.zx.vmo_write(s, b"\x2a", 0)
    assert p.zx.vmo_read(v, 0, 1) == b"\x2a"


def test_decommit_child(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\x2a", 0)
    s = p.zx.vmo_create_child(v, SLICE, 0, P)
    p.zx.vmo_op_range(s, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert p.zx.vmo_read(v, 0, 1) == b"\0"


def test_zero_sized(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    s1 = p.zx.vmo_create_child(v, SLICE, 0, 0)
    s2 = p.zx.vmo_create_child(v, SLICE, P, 0)
    for s in (s1, s2):
        assert status(p.zx.vmo_read, s, 0, 1) == zx.ZX_ERR_OUT_OF_RANGE
        assert status(p.zx.vmo_write, s, b"\x2a", 0) == zx.ZX_ERR_OUT_OF_RANGE


def test_zero_children(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert zero_children(p, v)
    c = p.zx.vmo_create_child(v, SLICE, 0, P)
    assert not zero_children(p, v)
    p.zx.handle_close(c)
    assert zero_children(p, v)


def test_zero_children_grandchild_closed_last(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert zero_children(p, v)
    c = p.zx.vmo_create_child(v, SLICE, 0, P)
    assert not zero_children(p, v)
    g = p.zx.vmo_create_child(c, SLICE, 0, P)
    assert not zero_children(p, v)
    p.zx.handle_close(c)
    assert not zero_children(p, v)
    p.zx.handle_close(g)
    assert zero_children(p, v)


def test_cow_page_source_through_slices(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0, P)
    cow = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    s = p.zx.vmo_create_child(cow, SLICE, 0, P)
    try:
        cow2 = p.zx.vmo_create_child(s, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    except ZxError as e:
        assert e.status == zx.ZX_ERR_NOT_SUPPORTED
        return
    p.zx.vmo_write(cow2, b"\x01", 0)
    assert p.zx.vmo_read(cow2, 0, 1) == b"\x01"
    assert p.zx.vmo_read(s, 0, 1) == b"\0" and p.zx.vmo_read(v, 0, 1) == b"\0"
