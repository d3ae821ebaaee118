"""Ports of Zircon's core-tests for reference children (zircon/system/utest/core/vmo/vmo-reference.cc).

Named after the VmoReference case each ports. Not ported: the pager-backed cases
(ChildSnapshotAtLeastOnWrite, UnsupportedChild).
"""

from __future__ import annotations

import pytest

from microsim import zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
REF = zx.ZX_VMO_CHILD_REFERENCE


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("vmo-ref-core")



def rd(p: Process, v: int) -> bytes:
    return p.zx.vmo_read(v, 0, 1)


def info(p: Process, v: int):  # type: ignore[no-untyped-def]
    return p.zx.object_get_info(v, zx.ZX_INFO_VMO)


def test_write(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    assert rd(p, ref) == b"\xaa"
    p.zx.vmo_write(ref, b"\xbb", 0)
    assert rd(p, v) == b"\xbb"


def test_zero_children(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN
    c = p.zx.vmo_create_child(v, REF, 0, 0)
    assert status(p.zx.object_wait_one, v, zx.ZX_VMO_ZERO_CHILDREN, 0) == zx.ZX_ERR_TIMED_OUT
    p.zx.handle_close(c)
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN


def test_child_snapshot(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    child = p.zx.vmo_create_child(ref, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert info(p, ref).koid == info(p, child).parent_koid
    assert rd(p, child) == b"\xaa"
    p.zx.vmo_write(v, b"\xbb", 0)
    assert rd(p, child) == b"\xaa"
    p.zx.vmo_write(child, b"\xcc", 0)
    assert rd(p, v) == b"\xbb" and rd(p, ref) == b"\xbb" and rd(p, child) == b"\xcc"


def test_child_slice(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    child = p.zx.vmo_create_child(ref, zx.ZX_VMO_CHILD_SLICE, 0, P)
    assert info(p, ref).koid == info(p, child).parent_koid
    assert rd(p, child) == b"\xaa"
    p.zx.vmo_write(v, b"\xbb", 0)
    assert rd(p, child) == b"\xbb"
    p.zx.vmo_write(child, b"\xcc", 0)
    assert rd(p, v) == rd(p, ref) == rd(p, child) == b"\xcc"


def test_nested_child(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    c1 = p.zx.vmo_create_child(ref, REF, 0, 0)
    assert info(p, ref).koid == info(p, c1).parent_koid
    c2 = p.zx.vmo_create_child(c1, REF, 0, 0)
    assert info(p, c1).koid == info(p, c2).parent_koid
    assert rd(p, c1) == rd(p, c2) == b"\xaa"
    p.zx.vmo_write(v, b"\xbb", 0)
    assert rd(p, c1) == rd(p, c2) == b"\xbb"
    p.zx.vmo_write(c2, b"\xcc", 0)
    assert rd(p, v) == rd(p, ref) == rd(p, c1) == b"\xcc"


def test_mapping_update(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, ref, 0, P)
    assert p.read_memory(a, 1) == b"\xaa"
    p.zx.vmo_write(ref, b"\xbb", 0)
    assert p.read_memory(a, 1) == b"\xbb"
    p.zx.vmo_op_range(ref, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert info(p, ref).committed_bytes == 0 and info(p, v).committed_bytes == 0
    assert p.read_memory(a, 1) == b"\0"


def test_attributed_counts(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    assert info(p, ref).committed_bytes == 0
    assert info(p, v).committed_bytes == P
    assert rd(p, ref) == b"\xaa"


def _sizes(p: Process, v: int) -> tuple[int, int]:
    return p.zx.vmo_get_size(v), p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE)


def test_resize(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, zx.ZX_VMO_RESIZABLE)
    ref = p.zx.vmo_create_child(v, REF | zx.ZX_VMO_CHILD_RESIZABLE, 0, 0)
    p.zx.vmo_set_size(v, 2 * P - 8)
    assert _sizes(p, v) == _sizes(p, ref) == (2 * P, 2 * P - 8)
    p.zx.vmo_set_size(ref, 3 * P - 8)
    assert _sizes(p, ref) == _sizes(p, v) == (3 * P, 3 * P - 8)


def test_unsupported_resize(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, zx.ZX_VMO_RESIZABLE)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    assert status(p.zx.vmo_set_size, ref, P) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmo_set_size(v, 2 * P - 8)
    assert _sizes(p, v) == _sizes(p, ref) == (2 * P, 2 * P - 8)
    nr = p.zx.vmo_create(4 * P, 0)
    assert status(p.zx.vmo_create_child, nr, REF | zx.ZX_VMO_CHILD_RESIZABLE, 0, 0) == zx.ZX_ERR_NOT_SUPPORTED
    p.zx.vmo_create_child(nr, REF, 0, 0)


def test_streams(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    r1 = p.zx.vmo_create_child(v, REF, 0, 0)
    s1 = p.zx.stream_create(zx.ZX_STREAM_MODE_READ, r1, 0)
    assert p.zx.stream_readv(s1, 0, [1]) == b"\xaa"
    r2 = p.zx.vmo_create_child(v, REF, 0, 0)
    s2 = p.zx.stream_create(zx.ZX_STREAM_MODE_WRITE, r2, 0)
    assert p.zx.stream_writev(s2, 0, [b"\xbb"]) == 1
    assert rd(p, v) == rd(p, r1) == rd(p, r2) == b"\xbb"
    p.zx.stream_seek(s1, zx.ZX_STREAM_SEEK_ORIGIN_START, 0)
    assert p.zx.stream_readv(s1, 0, [1]) == b"\xbb"


RW = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE


def test_mapping_update_after_dropping_ref(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, P)
    assert p.read_memory(a, 1) == b"\xaa"
    p.zx.vmo_write(ref, b"\xbb", 0)
    assert p.read_memory(a, 1) == b"\xbb"
    p.zx.handle_close(ref)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert info(p, v).committed_bytes == 0
    assert p.read_memory(a, 1) == b"\0"


def test_mapping_update_after_dropping_parent(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, ref, 0, P)
    assert p.read_memory(a, 1) == b"\xaa"
    p.zx.vmo_write(ref, b"\xbb", 0)
    assert p.read_memory(a, 1) == b"\xbb"
    p.zx.handle_close(v)
    p.zx.vmo_op_range(ref, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert info(p, ref).committed_bytes == 0
    assert p.read_memory(a, 1) == b"\0"


def test_mapping_update_nested_child_destroy(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    nested = p.zx.vmo_create_child(ref, REF, 0, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, nested, 0, P)
    assert p.read_memory(a, 1) == b"\xaa"
    p.zx.vmo_write(v, b"\xbb", 0)
    assert p.read_memory(a, 1) == b"\xbb"
    p.zx.handle_close(ref)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert info(p, v).committed_bytes == 0
    assert p.read_memory(a, 1) == b"\0"


def test_mapping_update_nested_root_destroy(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xaa", 0)
    r1 = p.zx.vmo_create_child(v, REF, 0, 0)
    r2 = p.zx.vmo_create_child(v, REF, 0, 0)
    nested = p.zx.vmo_create_child(r1, REF, 0, 0)
    addrs = [p.zx.vmar_map(p.root_vmar_handle, RW, 0, h, 0, P) for h in (r1, r2, nested)]
    assert all(p.read_memory(a, 1) == b"\xaa" for a in addrs)
    p.zx.vmo_write(v, b"\xbb", 0)
    assert all(p.read_memory(a, 1) == b"\xbb" for a in addrs)
    p.zx.handle_close(v)
    p.zx.vmo_op_range(nested, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert info(p, nested).committed_bytes == 0
    assert all(p.read_memory(a, 1) == b"\0" for a in addrs)
