"""Ports of Zircon's core-tests for VMOs (zircon/system/utest/core/vmo/vmo.cc).

Each test is named after the Zircon case it ports (VmoTestCase.X -> test_x). Not ported
(need hardware, a pager, threads racing on real memory, or syscalls microsim does not have):
ParallelWriteAndDecommit, ParallelRead, PhysicalSlice, CacheFlush (zx_cache_flush),
MappedVmoSmallerThanMapping (zx_process_read_memory), the pager halves of ResizeRight and
the BTI/contiguous half of Info.
"""

from __future__ import annotations

import pytest

from microsim import MemoryFault, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
U64 = 2**64 - 1
R, W, X = zx.ZX_VM_PERM_READ, zx.ZX_VM_PERM_WRITE, zx.ZX_VM_PERM_EXECUTE
RW = R | W


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("vmo-core")



def fault(fn, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(MemoryFault) as e:
        fn(*args)
    return e.value.status


def rights(p: Process, h: int) -> int:
    return int(p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights)


def test_create(p: Process) -> None:
    vmos = [p.zx.vmo_create(i * P, 0) for i in range(16)]
    for v in vmos:
        p.zx.handle_close(v)


def test_read_write_bad_len(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    for i in (1, 2):
        assert status(p.zx.vmo_read, v, 0, U64 - P // i) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_read(v, 0, 4 * P) == bytes(4 * P)
    p.zx.vmo_write(v, bytes(4 * P), 0)


def test_read_write(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    assert p.zx.vmo_read(v, 0, 4 * P) == bytes(4 * P)
    p.zx.vmo_write(v, b"\x99" * (4 * P), 0)
    ptr = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, 4 * P)
    assert ptr != 0
    assert p.read_memory(ptr, 4 * P) == b"\x99" * (4 * P)
    p.zx.vmar_unmap(p.root_vmar_handle, ptr, 4 * P)
    p.zx.handle_close(v)


def test_read_write_range(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, 0)
    assert status(p.zx.vmo_read, v, 0, 2 * n) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_read(v, n, 0) == b""
    assert status(p.zx.vmo_read, v, n + 1, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_write, v, bytes(2 * n), 0) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_write(v, b"", n)
    assert status(p.zx.vmo_write, v, b"", n + 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_read, v, U64 - n // 2, n) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_write, v, bytes(n), U64 - n // 2) == zx.ZX_ERR_OUT_OF_RANGE


def test_map(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P)
    assert a != 0
    b = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P)
    assert b != 0 and b != a
    assert status(p.zx.vmar_map, p.root_vmar_handle, R | zx.ZX_VM_SPECIFIC, 2**64 - 1, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    p.zx.handle_close(v)
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    p.zx.vmar_unmap(p.root_vmar_handle, b, P)


def test_map_read(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, P)
    # Reading the second page of the VMO into the mapping of its first page.
    data = p.zx.vmo_read(v, P, P)
    p.write_memory(a, data)
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


def test_read_only_map(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P)
    assert fault(p.write_memory, a, b"x") == zx.ZX_ERR_ACCESS_DENIED
    assert p.read_memory(a, 1) == b"\0"
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


def test_no_perm_map(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P)
    p.zx.vmar_protect(p.root_vmar_handle, 0, a, P)
    assert fault(p.read_memory, a, 1) == zx.ZX_ERR_ACCESS_DENIED
    assert fault(p.write_memory, a, b"x") == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


def test_no_perm_protect(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, 0, 0, v, 0, P)
    assert fault(p.write_memory, a, b"x") == zx.ZX_ERR_ACCESS_DENIED
    assert fault(p.read_memory, a, 1) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_protect(p.root_vmar_handle, R, a, P)
    assert fault(p.write_memory, a, b"x") == zx.ZX_ERR_ACCESS_DENIED
    assert p.read_memory(a, 1) == b"\0"
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


def test_resize(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, zx.ZX_VMO_RESIZABLE)
    assert p.zx.vmo_get_size(v) == n
    n += P
    p.zx.vmo_set_size(v, n)
    assert p.zx.vmo_get_size(v) == n
    assert status(p.zx.vmo_set_size, v, U64) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_set_size(v, n + 1)
    size = p.zx.vmo_get_size(v)
    assert size == n + P
    n = size
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, n)
    assert status(p.zx.vmar_map, p.root_vmar_handle, R | zx.ZX_VM_REQUIRE_NON_RESIZABLE, 0, v, 0, n) == zx.ZX_ERR_NOT_SUPPORTED
    p.zx.vmo_set_size(v, size)
    p.zx.vmar_unmap(p.root_vmar_handle, a, n)


def test_grow_mapped_vmo(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, zx.ZX_VMO_RESIZABLE)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, 8 * P)
    size = 6 * P + P // 2
    p.zx.vmo_set_size(v, size)
    p.write_memory(a + 5 * P, b"\x01")
    assert p.zx.vmo_read(v, 5 * P, 1) == b"\x01"
    p.write_memory(a + size + 16, b"\x02")
    assert p.zx.vmo_read(v, size + 16, 1) == b"\x02"
    p.zx.vmo_write(v, b"\x03", 5 * P + 16)
    assert p.read_memory(a + 5 * P + 16, 1) == b"\x03"
    p.zx.vmar_unmap(p.root_vmar_handle, a, 8 * P)


def test_mapped_vmo_smaller_than_mapping_faults(p: Process) -> None:
    """The probe half of MappedVmoSmallerThanMapping."""
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, 2 * P)
    p.write_memory(a, b"x")
    assert p.read_memory(a, 1) == b"x"
    assert fault(p.read_memory, a + P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert fault(p.write_memory, a + P, b"x") == zx.ZX_ERR_OUT_OF_RANGE


def test_no_resize(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, 0)
    assert status(p.zx.vmo_set_size, v, n + P) == zx.ZX_ERR_UNAVAILABLE
    assert status(p.zx.vmo_set_size, v, n - P) == zx.ZX_ERR_UNAVAILABLE
    assert p.zx.vmo_get_size(v) == n
    a = p.zx.vmar_map(p.root_vmar_handle, RW | zx.ZX_VM_REQUIRE_NON_RESIZABLE, 0, v, 0, n)
    assert a != 0
    p.zx.vmar_unmap(p.root_vmar_handle, a, n)


def test_resize_right(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, 0)
    assert rights(p, v) & zx.ZX_RIGHT_RESIZE == 0
    assert status(p.zx.vmo_set_size, v, n + P) == zx.ZX_ERR_UNAVAILABLE
    v = p.zx.vmo_create(n, zx.ZX_VMO_RESIZABLE)
    r = rights(p, v)
    assert r & zx.ZX_RIGHT_RESIZE
    p.zx.vmo_set_size(v, n + P)
    dup = p.zx.handle_duplicate(v, r & ~zx.ZX_RIGHT_RESIZE)
    assert status(p.zx.vmo_set_size, dup, P) == zx.ZX_ERR_ACCESS_DENIED


def test_child_resize_right(p: Process) -> None:
    n = 4 * P
    parent = p.zx.vmo_create(n, 0)
    for kind in (zx.ZX_VMO_CHILD_SNAPSHOT, zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, zx.ZX_VMO_CHILD_SLICE):
        c = p.zx.vmo_create_child(parent, kind, 0, n)
        assert rights(p, c) & zx.ZX_RIGHT_RESIZE == 0
        assert status(p.zx.vmo_set_size, c, n + P) == zx.ZX_ERR_UNAVAILABLE
        p.zx.handle_close(c)
        if kind == zx.ZX_VMO_CHILD_SLICE:
            continue
        c = p.zx.vmo_create_child(parent, kind | zx.ZX_VMO_CHILD_RESIZABLE, 0, n)
        r = rights(p, c)
        assert r & zx.ZX_RIGHT_RESIZE
        p.zx.vmo_set_size(c, n + P)
        dup = p.zx.handle_duplicate(c, r & ~zx.ZX_RIGHT_RESIZE)
        assert status(p.zx.vmo_set_size, dup, P) == zx.ZX_ERR_ACCESS_DENIED


def test_info(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    info = p.zx.object_get_info(v, zx.ZX_INFO_VMO)
    assert info.size_bytes == 4 * P
    assert info.flags == zx.ZX_INFO_VMO_TYPE_PAGED | zx.ZX_INFO_VMO_VIA_HANDLE
    assert info.cache_policy == zx.ZX_CACHE_POLICY_CACHED
    v = p.zx.vmo_create(8 * P, zx.ZX_VMO_RESIZABLE)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    info = p.zx.object_get_info(v, zx.ZX_INFO_VMO)
    basic = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC)
    assert info.size_bytes == 8 * P
    assert info.flags == zx.ZX_INFO_VMO_TYPE_PAGED | zx.ZX_INFO_VMO_VIA_HANDLE | zx.ZX_INFO_VMO_RESIZABLE
    assert info.cache_policy == zx.ZX_CACHE_POLICY_UNCACHED
    assert info.handle_rights == basic.rights


def test_size_align(p: Process) -> None:
    for s in [*range(0, 4 * P, 97), P - 1, P, P + 1, 4 * P - 1]:
        v = p.zx.vmo_create(s, 0)
        assert p.zx.vmo_get_size(v) == (s + P - 1) // P * P
        p.zx.handle_close(v)


def test_resize_align(p: Process) -> None:
    v = p.zx.vmo_create(0, zx.ZX_VMO_RESIZABLE)
    for s in [*range(0, 4 * P, 97), P - 1, P, P + 1, 4 * P - 1]:
        p.zx.vmo_set_size(v, s)
        assert p.zx.vmo_get_size(v) == (s + P - 1) // P * P


def test_content_size(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, zx.ZX_VMO_RESIZABLE)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == n
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, n // 3)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == n // 3
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, n + 15643)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == n + 15643
    p.zx.vmo_set_size(v, 5461)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == 5461


def _map_helper(p: Process, v: int, n: int, flags: int, expect: int) -> None:
    if expect == zx.ZX_OK:
        a = p.zx.vmar_map(p.root_vmar_handle, flags, 0, v, 0, n)
        p.zx.vmar_unmap(p.root_vmar_handle, a, n)
    else:
        assert status(p.zx.vmar_map, p.root_vmar_handle, flags, 0, v, 0, n) == expect


def _child_perms_helper(p: Process, v: int) -> None:
    pr = rights(p, v)
    gs = zx.ZX_RIGHT_GET_PROPERTY | zx.ZX_RIGHT_SET_PROPERTY
    c = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert rights(p, c) == (pr | gs | zx.ZX_RIGHT_WRITE) & ~zx.ZX_RIGHT_EXECUTE
    p.zx.handle_close(c)
    c = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT | zx.ZX_VMO_CHILD_NO_WRITE, 0, P)
    assert rights(p, c) == (pr | gs) & ~zx.ZX_RIGHT_WRITE
    p.zx.handle_close(c)
    c = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SLICE, 0, P)
    assert rights(p, c) == pr | gs
    p.zx.handle_close(c)
    c = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SLICE | zx.ZX_VMO_CHILD_NO_WRITE, 0, P)
    assert rights(p, c) == (pr | gs) & ~zx.ZX_RIGHT_WRITE
    p.zx.handle_close(c)


def test_rights(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, 0)
    expected = (zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_TRANSFER | zx.ZX_RIGHT_WAIT | zx.ZX_RIGHT_READ
                | zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_GET_PROPERTY | zx.ZX_RIGHT_SET_PROPERTY)
    assert rights(p, v) & expected == expected
    assert p.zx.vmo_read(v, 0, 0) == b""
    p.zx.vmo_write(v, b"", 0)
    v2 = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    p.zx.vmo_read(v2, 0, 0)
    assert status(p.zx.vmo_write, v2, b"", 0) == zx.ZX_ERR_ACCESS_DENIED
    v2 = p.zx.handle_duplicate(v, zx.ZX_RIGHT_WRITE)
    assert status(p.zx.vmo_read, v2, 0, 0) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmo_write(v2, b"", 0)
    v2 = p.zx.handle_duplicate(v, 0)
    assert status(p.zx.vmo_read, v2, 0, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.vmo_write, v2, b"", 0) == zx.ZX_ERR_ACCESS_DENIED

    ok, inval, denied = zx.ZX_OK, zx.ZX_ERR_INVALID_ARGS, zx.ZX_ERR_ACCESS_DENIED
    _child_perms_helper(p, v)
    for flags, exp in ((0, ok), (R, ok), (W, inval), (RW, ok)):
        _map_helper(p, v, n, flags, exp)
    cases = (
        (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_DUPLICATE, True, (denied, denied, denied, denied)),
        (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_DUPLICATE, True, (ok, ok, inval, denied)),
        (zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_DUPLICATE, False, (ok, denied, inval, denied)),
        (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_DUPLICATE, True, (ok, ok, inval, ok)),
    )
    for r, children, exps in cases:
        v2 = p.zx.handle_duplicate(v, r)
        if children:
            _child_perms_helper(p, v2)
        for flags, exp in zip((0, R, W, RW), exps, strict=True):
            _map_helper(p, v2, n, flags, exp)
        p.zx.handle_close(v2)

    p.zx.object_set_property(v, zx.ZX_PROP_NAME, b"test vmo")
    assert p.zx.object_get_property(v, zx.ZX_PROP_NAME) in (b"test vmo", "test vmo")
    p.zx.handle_close(v)
    port = p.zx.port_create(0)
    port2 = p.zx.handle_duplicate(port, 0)
    assert status(p.zx.vmo_read, port2, 0, 0) == zx.ZX_ERR_WRONG_TYPE


def test_rights_exec(p: Process) -> None:
    n = 4 * P
    v = p.zx.vmo_create(n, 0)
    v = p.zx.vmo_replace_as_executable(v, zx.ZX_HANDLE_INVALID)
    assert rights(p, v) & zx.ZX_RIGHT_EXECUTE
    ok, inval, denied = zx.ZX_OK, zx.ZX_ERR_INVALID_ARGS, zx.ZX_ERR_ACCESS_DENIED
    _child_perms_helper(p, v)
    for flags, exp in ((0, ok), (R, ok), (W, inval), (RW, ok), (RW | X, ok), (R | X, ok)):
        _map_helper(p, v, n, flags, exp)
    rr, ww, ee, mm, dd = zx.ZX_RIGHT_READ, zx.ZX_RIGHT_WRITE, zx.ZX_RIGHT_EXECUTE, zx.ZX_RIGHT_MAP, zx.ZX_RIGHT_DUPLICATE
    cases = (
        (rr | ww | ee | dd, True, (denied,) * 6),
        (rr | mm | dd, True, (ok, ok, inval, denied, denied, denied)),
        (ww | mm | dd, False, (ok, denied, inval, denied, denied, denied)),
        (rr | ww | mm | dd, True, (ok, ok, inval, ok, denied, denied)),
        (rr | ee | mm | dd, True, (ok, ok, inval, denied, denied, ok)),
        (rr | ww | ee | mm | dd, True, (ok, ok, inval, ok, ok, ok)),
    )
    for r, children, exps in cases:
        v2 = p.zx.handle_duplicate(v, r)
        if children:
            _child_perms_helper(p, v2)
        for flags, exp in zip((0, R, W, RW, RW | X, R | X), exps, strict=True):
            _map_helper(p, v2, n, flags, exp)
        p.zx.handle_close(v2)


def test_commit(p: Process) -> None:
    size = 16384
    v = p.zx.vmo_create(size, 0)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0, size)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, size)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0, size)
    ptr = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, size)
    ptr2 = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, P, size)
    # The third mapping starts past the VMO end: allowed, accesses fault.
    ptr3 = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, size * 2, size)
    p.write_memory(ptr + P, (99).to_bytes(4, "little"))
    assert p.read_memory(ptr2, 4) == (99).to_bytes(4, "little")
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    assert p.read_memory(ptr + P, 4) == (99).to_bytes(4, "little")
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, P, P)
    assert p.read_memory(ptr + P, 4) == bytes(4)
    assert p.read_memory(ptr2, 4) == bytes(4)
    for a in (ptr, ptr2, ptr3):
        p.zx.vmar_unmap(p.root_vmar_handle, a, size)
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_COMMIT, P, U64 - P + 1) == zx.ZX_ERR_OUT_OF_RANGE


def test_zero_page(p: Process) -> None:
    size = 4 * P
    v = p.zx.vmo_create(size, 0)
    ptrs = [p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, size) for _ in range(3)]
    assert p.read_memory(ptrs[0], 4) == bytes(4)
    p.write_memory(ptrs[1], (99).to_bytes(4, "little"))
    assert p.read_memory(ptrs[2], 4) == (99).to_bytes(4, "little")
    assert p.read_memory(ptrs[0], 4) == (99).to_bytes(4, "little")
    assert p.read_memory(ptrs[0] + P, 4) == bytes(4)
    p.zx.vmo_write(v, (100).to_bytes(4, "little"), P)
    assert p.read_memory(ptrs[0] + P, 4) == (100).to_bytes(4, "little")
    assert p.read_memory(ptrs[0] + 2 * P, 4) == bytes(4)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 2 * P, P)
    p.zx.vmo_write(v, (100).to_bytes(4, "little"), 2 * P)
    assert p.read_memory(ptrs[0] + 2 * P, 4) == (100).to_bytes(4, "little")
    for a in ptrs:
        p.zx.vmar_unmap(p.root_vmar_handle, a, size)


def test_cache(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    for pol in (zx.ZX_CACHE_POLICY_CACHED, zx.ZX_CACHE_POLICY_UNCACHED,
                zx.ZX_CACHE_POLICY_UNCACHED_DEVICE, zx.ZX_CACHE_POLICY_WRITE_COMBINING):
        p.zx.vmo_set_cache_policy(v, pol)
    assert status(p.zx.vmo_set_cache_policy, v, zx.ZX_CACHE_POLICY_MASK + 1) == zx.ZX_ERR_INVALID_ARGS
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P)
    assert status(p.zx.vmo_set_cache_policy, v, zx.ZX_CACHE_POLICY_CACHED) == zx.ZX_ERR_BAD_STATE
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert status(p.zx.vmo_set_cache_policy, v, zx.ZX_CACHE_POLICY_CACHED) == zx.ZX_ERR_BAD_STATE
    p.zx.handle_close(clone)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert status(p.zx.vmo_set_cache_policy, clone, zx.ZX_CACHE_POLICY_CACHED) == zx.ZX_ERR_BAD_STATE
    p.zx.handle_close(clone)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P) == zx.ZX_ERR_BAD_STATE
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    p.zx.handle_close(p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P))
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    assert status(p.zx.vmo_read, v, 0, 1) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_write, v, b"c", 0) == zx.ZX_ERR_BAD_STATE
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    p.zx.vmo_read(v, 0, 1)
    p.zx.vmo_write(v, b"c", 0)
    big = p.zx.vmo_create(P << 40, 0)
    p.zx.vmo_write(big, b"\x2a", 1 << 50)
    p.zx.vmo_set_cache_policy(big, zx.ZX_CACHE_POLICY_UNCACHED)


@pytest.mark.parametrize("op", [zx.ZX_VMO_OP_CACHE_SYNC, zx.ZX_VMO_OP_CACHE_CLEAN,
                                zx.ZX_VMO_OP_CACHE_CLEAN_INVALIDATE])
def test_cache_op(p: Process, op: int) -> None:
    size = 0x8000
    v = p.zx.vmo_create(size, 0)
    # CACHE_INVALIDATE needs kernel.enable-debugging-syscalls (off in microsim): NOT_SUPPORTED,
    # even before the rights check.
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_op_range, ro, zx.ZX_VMO_OP_CACHE_INVALIDATE, 0, 1) == zx.ZX_ERR_NOT_SUPPORTED
    for off, n in ((0, 1), (0, 1), (1, 1), (0, size), (1, size - 1), (0x5200, 1), (0x5200, 0x800),
                   (0x5200, 0x1000), (0x5200, 0x1200)):
        p.zx.vmo_op_range(v, op, off, n)
    assert status(p.zx.vmo_op_range, v, op, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    for off, n in ((1, size), (size, 1), (size + 1, 1), (U64 - 1, 1), (U64, 1), (U64, U64)):
        assert status(p.zx.vmo_op_range, v, op, off, n) == zx.ZX_ERR_OUT_OF_RANGE


def test_cache_op_invalidate_with_debugging_syscalls(p: Process) -> None:
    """CacheOp's CACHE_INVALIDATE half: the core-tests run with debugging syscalls on."""
    p.kernel.debugging_syscalls = True  # type: ignore[attr-defined]
    op = zx.ZX_VMO_OP_CACHE_INVALIDATE
    size = 0x8000
    v = p.zx.vmo_create(size, 0)
    for off, n in ((0, 1), (1, 1), (0, size), (1, size - 1), (0x5200, 0x1200)):
        p.zx.vmo_op_range(v, op, off, n)
    assert status(p.zx.vmo_op_range, v, op, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    for off, n in ((1, size), (size, 1), (2**64 - 1, 1)):
        assert status(p.zx.vmo_op_range, v, op, off, n) == zx.ZX_ERR_OUT_OF_RANGE
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_op_range, ro, op, 0, 1) == zx.ZX_ERR_ACCESS_DENIED


def test_cache_op_large_vmo(p: Process) -> None:
    size = U64 - P * 64 + 1
    v = p.zx.vmo_create(size, 0)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_CACHE_CLEAN, 0, size)
    for i in range(64):
        p.zx.vmo_write(v, (42).to_bytes(8, "little"), size // 64 * i)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_CACHE_CLEAN, 0, size)


def test_cache_op_out_of_range(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    p.zx.vmo_write(v, b"A", P)
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, P, U64) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, U64 - P + 1, 1) == zx.ZX_ERR_OUT_OF_RANGE


def test_decommit_misaligned(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_DECOMMIT, 0x10, 0x100) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0x10, 0x100)
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_DECOMMIT, 0x10, 0x100) == zx.ZX_ERR_INVALID_ARGS


def test_resize_hazard(p: Process) -> None:
    size = 2 * P
    v = p.zx.vmo_create(size, zx.ZX_VMO_RESIZABLE)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, size)
    assert p.read_memory(a + 4, 4) == bytes(4)
    p.zx.vmo_set_size(v, 0)
    assert fault(p.read_memory, a + 4, 4) == zx.ZX_ERR_OUT_OF_RANGE
    assert fault(p.write_memory, a + 4, b"\0") == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.handle_close(v)
    p.zx.vmar_unmap(p.root_vmar_handle, a, size)


def _slice_levels(p: Process) -> list[tuple[int, int, int]]:
    """The three-level slice hierarchy of PinTests/DecommitChildSliceTests: (vmo, size, size_past_end)."""
    pages = 6
    root = p.zx.vmo_create(pages * P, 0)
    levels = [(root, pages * P, 0)]
    for off, size in ((P, (pages - 2) * P), (P, (pages - 4) * P)):
        parent, psize, ppast = levels[-1]
        child = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SLICE, off, size)
        levels.append((child, size, ppast + psize - (size + off)))
    return levels


def test_decommit_child_slice_tests(p: Process) -> None:
    levels = _slice_levels(p)
    root, root_size, _ = levels[0]
    for vmo, size, past in levels:
        root_end = size + past
        seen = set()
        for start in range(0, root_end + P + 1, P):
            for end in range(start + P, root_end + 2 * P + 1, P):
                p.zx.vmo_op_range(root, zx.ZX_VMO_OP_COMMIT, 0, root_size)
                if end > size:
                    assert status(p.zx.vmo_op_range, vmo, zx.ZX_VMO_OP_DECOMMIT, start, end - start) == zx.ZX_ERR_OUT_OF_RANGE
                    seen.add("oor")
                else:
                    p.zx.vmo_op_range(vmo, zx.ZX_VMO_OP_DECOMMIT, start, end - start)
                    seen.add("ok")
        assert seen == {"ok", "oor"}


def test_metadata_bytes(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).metadata_bytes == 0
    p.zx.vmo_write(v, b"x" * 64, 0)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).metadata_bytes != 0


def test_v1_info(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    v1 = p.zx.object_get_info(v, zx.ZX_INFO_VMO_V1)
    info = p.zx.object_get_info(v, zx.ZX_INFO_VMO)
    for f in ("koid", "size_bytes", "parent_koid", "num_children", "num_mappings", "share_count",
              "flags", "handle_rights", "cache_policy"):
        assert getattr(v1, f) == getattr(info, f), f


def test_discardable(p: Process) -> None:
    size = 3 * P
    v = p.zx.vmo_create(size, zx.ZX_VMO_DISCARDABLE)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).flags & zx.ZX_INFO_VMO_DISCARDABLE
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_LOCK, 0, size)
    assert p.zx.vmo_read(v, 0, size) == bytes(size)
    p.zx.vmo_write(v, b"\xbb" * size, 0)
    assert status(p.zx.vmar_map, p.root_vmar_handle, RW, 0, v, 0, size) == zx.ZX_ERR_NOT_SUPPORTED
    a = p.zx.vmar_map(p.root_vmar_handle, RW | zx.ZX_VM_ALLOW_FAULTS, 0, v, 0, size)
    assert p.read_memory(a, size) == b"\xbb" * size
    p.write_memory(a, b"\xcc" * size)
    assert p.zx.vmo_read(v, 0, size) == b"\xcc" * size
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_UNLOCK, 0, size)
    p.zx.vmar_unmap(p.root_vmar_handle, a, size)
    for kind in (zx.ZX_VMO_CHILD_SLICE, zx.ZX_VMO_CHILD_SNAPSHOT, zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE):
        assert status(p.zx.vmo_create_child, v, kind, 0, size) == zx.ZX_ERR_NOT_SUPPORTED


def test_lock_unlock(p: Process) -> None:
    size = 3 * P
    lock, try_lock, unlock = zx.ZX_VMO_OP_LOCK, zx.ZX_VMO_OP_TRY_LOCK, zx.ZX_VMO_OP_UNLOCK
    v = p.zx.vmo_create(size, 0)
    for op in (try_lock, lock, unlock):
        assert status(p.zx.vmo_op_range, v, op, 0, size) == zx.ZX_ERR_NOT_SUPPORTED
    v = p.zx.vmo_create(size, zx.ZX_VMO_DISCARDABLE)
    for op in (try_lock, unlock, lock, unlock):
        p.zx.vmo_op_range(v, op, 0, size)
    r = rights(p, v)
    assert r & zx.ZX_RIGHT_READ and r & zx.ZX_RIGHT_WRITE
    v = p.zx.handle_replace(v, r & ~zx.ZX_RIGHT_WRITE)
    for op in (try_lock, unlock, lock, unlock):
        p.zx.vmo_op_range(v, op, 0, size)
    v = p.zx.handle_replace(v, r & ~(zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE))
    for op in (try_lock, lock, unlock):
        assert status(p.zx.vmo_op_range, v, op, 0, size) == zx.ZX_ERR_ACCESS_DENIED
    v = p.zx.vmo_create(size, zx.ZX_VMO_DISCARDABLE)
    for off, n in ((0, P), (P, size - P), (P, P)):
        for op in (try_lock, lock, unlock):
            assert status(p.zx.vmo_op_range, v, op, off, n) == zx.ZX_ERR_OUT_OF_RANGE
    state = p.zx.vmo_op_range(v, lock, 0, size)
    assert (state.offset, state.size) == (0, size)
    p.zx.vmo_op_range(v, unlock, 0, size)
    assert status(p.zx.vmo_op_range, v, unlock, 0, size) == zx.ZX_ERR_BAD_STATE


def test_no_write_resizable(p: Process) -> None:
    nw, rs = zx.ZX_VMO_CHILD_NO_WRITE, zx.ZX_VMO_CHILD_RESIZABLE
    for opts in (0, zx.ZX_VMO_RESIZABLE):
        v = p.zx.vmo_create(P, opts)
        for kind in (zx.ZX_VMO_CHILD_SNAPSHOT, zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, zx.ZX_VMO_CHILD_SLICE):
            assert status(p.zx.vmo_create_child, v, kind | nw | rs, 0, P) == zx.ZX_ERR_INVALID_ARGS
        p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT | nw, 0, P)


def test_op_out_of_bounds(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    for op in (zx.ZX_VMO_OP_COMMIT, zx.ZX_VMO_OP_DECOMMIT, zx.ZX_VMO_OP_ZERO, zx.ZX_VMO_OP_CACHE_SYNC,
               zx.ZX_VMO_OP_CACHE_CLEAN, zx.ZX_VMO_OP_CACHE_CLEAN_INVALIDATE):
        assert status(p.zx.vmo_op_range, v, op, 0, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE, op
    d = p.zx.vmo_create(P, zx.ZX_VMO_DISCARDABLE)
    for op in (zx.ZX_VMO_OP_LOCK, zx.ZX_VMO_OP_TRY_LOCK, zx.ZX_VMO_OP_UNLOCK):
        assert status(p.zx.vmo_op_range, d, op, 0, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE


def test_cache_policy_race(p: Process) -> None:
    """The single-threaded outcome: once mapped, the policy is fixed and both mappings agree."""
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, P)
    assert status(p.zx.vmo_set_cache_policy, v, zx.ZX_CACHE_POLICY_UNCACHED) == zx.ZX_ERR_BAD_STATE
    b = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, P)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).cache_policy == zx.ZX_CACHE_POLICY_CACHED
    for i in range(0, 10, 2):
        p.write_memory(a, i.to_bytes(8, "little"))
        assert p.read_memory(b, 8) == i.to_bytes(8, "little")


def test_no_write_resizable_snapshot_modified(p: Process) -> None:
    """NoWriteResizable's SNAPSHOT_MODIFIED cases (newer vmo.cc)."""
    for opts in (0, zx.ZX_VMO_RESIZABLE):
        v = p.zx.vmo_create(P, opts)
        kind = zx.ZX_VMO_CHILD_SNAPSHOT_MODIFIED | zx.ZX_VMO_CHILD_NO_WRITE | zx.ZX_VMO_CHILD_RESIZABLE
        assert status(p.zx.vmo_create_child, v, kind, 0, P) == zx.ZX_ERR_INVALID_ARGS


def test_vmo_unbounded(p: Process) -> None:
    assert status(p.zx.vmo_create, 0, zx.ZX_VMO_UNBOUNDED | zx.ZX_VMO_RESIZABLE) == zx.ZX_ERR_INVALID_ARGS
    v = p.zx.vmo_create(42, zx.ZX_VMO_UNBOUNDED)
    assert p.zx.vmo_get_stream_size(v) == 42
    size = p.zx.vmo_get_size(v)
    assert status(p.zx.vmo_set_size, v, P) == zx.ZX_ERR_UNAVAILABLE
    n = 4 * P
    p.zx.vmo_read(v, size - n, n)
    assert status(p.zx.vmo_read, v, size, n) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_write(v, bytes(n), size - n)
    assert status(p.zx.vmo_write, v, bytes(n), size) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_read(v, size - n, n) == bytes(n)
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, size)
    assert rights(p, clone) & zx.ZX_RIGHT_RESIZE == 0
    assert p.zx.vmo_read(clone, size - n, n) == bytes(n)
    assert status(p.zx.vmo_set_size, clone, P) == zx.ZX_ERR_UNAVAILABLE
    assert rights(p, v) & zx.ZX_RIGHT_RESIZE == 0
    assert status(p.zx.vmo_set_size, v, n + P) == zx.ZX_ERR_UNAVAILABLE
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, n)
    assert rights(p, clone) & zx.ZX_RIGHT_RESIZE == 0
    assert status(p.zx.vmo_set_size, clone, P) == zx.ZX_ERR_UNAVAILABLE


def test_protect_to_write(p: Process) -> None:
    """The paged-VMO half of ProtectToWrite."""
    n = 2 * P
    v = p.zx.vmo_create(n, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, n)
    p.write_memory(a, (0xDEAD1EAF).to_bytes(8, "little"))
    p.zx.vmar_protect(p.root_vmar_handle, R, a, n)
    assert p.read_memory(a, 8) == (0xDEAD1EAF).to_bytes(8, "little")
    p.zx.vmar_protect(p.root_vmar_handle, RW, a, n)
    p.write_memory(a, (0xC0FFEE).to_bytes(8, "little"))
    p.write_memory(a + P, (0xC0FFEE).to_bytes(8, "little"))
    assert p.read_memory(a, 8) == p.read_memory(a + P, 8) == (0xC0FFEE).to_bytes(8, "little")


def test_prefetch(p: Process) -> None:
    size = 2 * P
    v = p.zx.vmo_create(size, 0)
    op = zx.ZX_VMO_OP_PREFETCH
    for off, n in ((0, P), (0, 0), (4, 2), (P - 1, 2)):
        p.zx.vmo_op_range(v, op, off, n)
    assert status(p.zx.vmo_op_range, v, op, 0, size + P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_op_range, v, op, size + P, 0) == zx.ZX_ERR_OUT_OF_RANGE
    dup = p.zx.handle_duplicate(v, rights(p, v) & ~zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_op_range, dup, op, 0, P) == zx.ZX_ERR_ACCESS_DENIED
