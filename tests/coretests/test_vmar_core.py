"""Ports of Zircon's core-tests for VMARs (zircon/system/utest/core/vmar/vmar.cc).

Each test is named after the Zircon case it ports (Vmar.XTest -> test_x_test). The tests
create a process with zx_process_create; here a fresh simulated process plays that part and
zx_process_read_memory is `Process.read_memory` (an unmapped address raises MemoryFault).
Not ported: the bad out-pointer checks of InvalidArgsTest (no user pointers in the API).
"""

from __future__ import annotations

import pytest

from microsim import MemoryFault, ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
U64 = 2**64 - 1
R, W, X = zx.ZX_VM_PERM_READ, zx.ZX_VM_PERM_WRITE, zx.ZX_VM_PERM_EXECUTE
RW = R | W
RWX = R | W | X
CR, CW, CX, CS = zx.ZX_VM_CAN_MAP_READ, zx.ZX_VM_CAN_MAP_WRITE, zx.ZX_VM_CAN_MAP_EXECUTE, zx.ZX_VM_CAN_MAP_SPECIFIC
CRW = CR | CW
SPEC = zx.ZX_VM_SPECIFIC


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("test-proc-vmar")



def mapped(p: Process, addr: int) -> bool:
    try:
        p.read_memory(addr, 1)
    except MemoryFault:
        return False
    return True


def test_destroy_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    sub, _ = p.zx.vmar_allocate(vmar, CRW, 0, 1024 * P)
    dup = p.zx.handle_duplicate(sub, zx.ZX_DEFAULT_VMAR_RIGHTS & ~zx.ZX_RIGHT_OP_CHILDREN)
    assert status(p.zx.vmar_destroy, dup) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.handle_close(dup)
    p.zx.vmar_destroy(sub)
    assert status(p.zx.vmar_allocate, sub, CRW, 0, 10 * P) == zx.ZX_ERR_BAD_STATE
    p.zx.handle_close(sub)


def test_basic_allocate_test(p: Process) -> None:
    r1, a1 = p.zx.vmar_allocate(p.root_vmar_handle, CRW, 0, 10 * P)
    r2, a2 = p.zx.vmar_allocate(r1, CRW, 0, P)
    assert a2 >= a1 and a2 + P <= a1 + 10 * P
    p.zx.handle_close(r1)
    p.zx.handle_close(r2)


def test_map_in_compact_test(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    region, base = p.zx.vmar_allocate(p.root_vmar_handle, CRW | zx.ZX_VM_COMPACT, 0, 10 * P)
    for _ in range(2):
        a = p.zx.vmar_map(region, RW, 0, v, 0, P)
        assert base <= a and a + P <= base + 10 * P


def test_map_in_upper_limit_test(p: Process) -> None:
    pages = 100
    size = pages * P
    v = p.zx.vmo_create(size, 0)
    parent, base = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, size)
    upper = size // 2
    opts = RW | zx.ZX_VM_OFFSET_IS_UPPER_LIMIT
    assert status(p.zx.vmar_map, parent, opts, size + P, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_map, parent, opts, P, v, 0, 2 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_map, parent, opts, P, v, 0, size + P) == zx.ZX_ERR_INVALID_ARGS
    a = p.zx.vmar_map(parent, opts, size, v, 0, size)
    assert a == base
    p.zx.vmar_unmap(parent, a, size)
    for _ in range(pages // 2):
        a = p.zx.vmar_map(parent, opts, upper, v, 0, P)
        assert base <= a and a + P <= base + upper
    assert status(p.zx.vmar_map, parent, opts, upper, v, 0, P) == zx.ZX_ERR_NO_RESOURCES
    a = p.zx.vmar_map(parent, RW, 0, v, 0, P)
    assert base <= a and a + P <= base + size


def test_allocate_oob_test(p: Process) -> None:
    r1, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 10 * P)
    assert status(p.zx.vmar_allocate, r1, CRW | SPEC, 10 * P, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_allocate, r1, CRW | SPEC, 9 * P, 2 * P) == zx.ZX_ERR_INVALID_ARGS


def test_allocate_unsatisfiable_test(p: Process) -> None:
    r1, a1 = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 10 * P)
    assert status(p.zx.vmar_allocate, r1, CRW, 0, 11 * P) == zx.ZX_ERR_INVALID_ARGS
    _r2, a2 = p.zx.vmar_allocate(r1, CRW, 0, 10 * P)
    assert a2 == a1
    assert status(p.zx.vmar_allocate, r1, CRW, 0, P) == zx.ZX_ERR_NO_RESOURCES


def test_allocate_at_low_address_test(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    info = p.zx.object_get_info(p.root_vmar_handle, zx.ZX_INFO_VMAR)
    assert info.base <= 0x200000
    p.zx.vmar_map(p.root_vmar_handle, 0, 0x200000 - info.base, v, 0, P)


def test_destroyed_vmar_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_create(P, 0)
    r0, _ = p.zx.vmar_allocate(vmar, CRW, 0, 10 * P)
    m0 = p.zx.vmar_map(r0, RW, 0, v, 0, P)
    r1, _ = p.zx.vmar_allocate(r0, CRW, 0, P)
    m1 = p.zx.vmar_map(r1, RW, 0, v, 0, P)
    p.write_memory(m0, b"\x05")
    assert p.read_memory(m1, 1) == b"\x05"
    p.zx.vmar_destroy(r0)
    for r, m in ((r0, m0), (r1, m1)):
        p.zx.object_get_info(r, zx.ZX_INFO_HANDLE_VALID)
        assert not mapped(p, m)
        assert status(p.zx.vmar_destroy, r) == zx.ZX_ERR_BAD_STATE
        assert status(p.zx.vmar_allocate, r, CRW, 0, P) == zx.ZX_ERR_BAD_STATE
        assert status(p.zx.vmar_unmap, r, m, P) == zx.ZX_ERR_BAD_STATE
        assert status(p.zx.vmar_protect, r, R, m, P) == zx.ZX_ERR_BAD_STATE
        assert status(p.zx.vmar_map, r, R, 0, v, 0, P) == zx.ZX_ERR_BAD_STATE
    p.zx.vmar_allocate(vmar, CRW, 0, P)


def test_map_over_destroyed_test(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    v2 = p.zx.vmo_create(P, 0)
    r0, a0 = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 10 * P)
    r1, _ = p.zx.vmar_allocate(r0, CRW, 0, P)
    m = p.zx.vmar_map(r1, RW, 0, v, 0, P)
    p.zx.vmo_write(v, b"\x05", 0)
    assert p.read_memory(m, 1) == b"\x05"
    p.zx.vmar_destroy(r1)
    assert not mapped(p, m)
    assert p.zx.vmar_map(r0, RW | SPEC, m - a0, v2, 0, P) == m
    assert p.read_memory(m, 1) == b"\0"


_ALIGNS = [(getattr(zx, f"ZX_VM_ALIGN_{name}"), bits) for name, bits in (
    ("1KB", 10), ("2KB", 11), ("4KB", 12), ("8KB", 13), ("16KB", 14), ("32KB", 15), ("64KB", 16),
    ("128KB", 17), ("256KB", 18), ("512KB", 19), ("1MB", 20), ("2MB", 21), ("4MB", 22), ("8MB", 23),
    ("16MB", 24), ("32MB", 25), ("64MB", 26), ("128MB", 27), ("256MB", 28), ("512MB", 29), ("1GB", 30),
    ("2GB", 31), ("4GB", 32))]


def _manual_aligned_vmar(p: Process, size: int) -> int:
    info = p.zx.object_get_info(p.root_vmar_handle, zx.ZX_INFO_VMAR)
    start = -(-info.base // size) * size
    while start < info.base + info.len:
        try:
            vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS | SPEC, start - info.base, size)
            return int(vmar)
        except ZxError:
            start += size
    raise AssertionError("no aligned VMAR")


def _ctz(x: int) -> int:
    return (x & -x).bit_length() - 1


def test_alignment_vmar_map_test(p: Process) -> None:
    size = 2 * P
    v = p.zx.vmo_create(size, 0)
    vmar = _manual_aligned_vmar(p, 8 << 30)
    assert status(p.zx.vmar_map, vmar, RW | zx.ZX_VM_ALIGN_64KB | SPEC, 4096, v, 0, size) == zx.ZX_ERR_INVALID_ARGS
    a = p.zx.vmar_map(vmar, RW | zx.ZX_VM_ALIGN_64KB | SPEC, 64 * 1024, v, 0, size)
    p.zx.vmar_unmap(vmar, a, 64 * 1024)
    for bad in (9 << zx.ZX_VM_ALIGN_BASE, 33 << zx.ZX_VM_ALIGN_BASE):
        assert status(p.zx.vmar_map, vmar, RW | bad, 0, v, 0, size) == zx.ZX_ERR_INVALID_ARGS
    for align, bits in _ALIGNS:
        a = p.zx.vmar_map(vmar, RW | align, 0, v, 0, size)
        assert a != 0 and _ctz(a) >= bits
        p.write_memory(a + 8, (0x1234321).to_bytes(8, "little"))
        p.zx.vmar_unmap(vmar, a, size)
    p.zx.vmar_destroy(vmar)


def test_alignment_vmar_allocate_test(p: Process) -> None:
    size = 16 * P
    vmar = _manual_aligned_vmar(p, 8 << 30)
    assert status(p.zx.vmar_allocate, vmar, CRW | zx.ZX_VM_ALIGN_64KB | SPEC, 4096, size) == zx.ZX_ERR_INVALID_ARGS
    h, _ = p.zx.vmar_allocate(vmar, CRW | zx.ZX_VM_ALIGN_64KB | SPEC, 64 * 1024, size)
    p.zx.vmar_destroy(h)
    for bad in (9 << zx.ZX_VM_ALIGN_BASE, 33 << zx.ZX_VM_ALIGN_BASE):
        assert status(p.zx.vmar_allocate, vmar, CRW | bad, 0, size) == zx.ZX_ERR_INVALID_ARGS
    for align, bits in _ALIGNS:
        child, a = p.zx.vmar_allocate(vmar, CRW | align, 0, size)
        assert a != 0 and _ctz(a) >= bits
        p.zx.vmar_destroy(child)
        p.zx.handle_close(child)
    p.zx.vmar_destroy(vmar)


def test_vmar_map_range_offset_test(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_MAP_RANGE, 0, v, 0x2000, 0x1000)


def test_overmapping_test(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    v2 = p.zx.vmo_create(4 * P, 0)
    r0, a0 = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 10 * P)
    m0 = p.zx.vmar_map(r0, RW | SPEC, P, v, 0, 2 * P)
    for n in (2 * P, P, 4 * P):
        assert status(p.zx.vmar_map, r0, RW | SPEC, m0 - a0, v2, 0, n) == zx.ZX_ERR_ALREADY_EXISTS
    assert status(p.zx.vmar_allocate, r0, CRW | SPEC, m0 - a0, P) == zx.ZX_ERR_ALREADY_EXISTS
    p.zx.vmar_unmap(r0, m0, 2 * P)
    _, a1 = p.zx.vmar_allocate(r0, CRW | SPEC, P, 2 * P)
    for n in (2 * P, P, 4 * P):
        assert status(p.zx.vmar_map, r0, RW | SPEC, a1 - a0, v2, 0, n) == zx.ZX_ERR_ALREADY_EXISTS
    assert status(p.zx.vmar_allocate, r0, CRW | SPEC, a1 - a0, P) == zx.ZX_ERR_ALREADY_EXISTS


def test_invalid_args_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_create(4 * P, 0)
    wt = zx.ZX_ERR_WRONG_TYPE
    inval = zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_destroy, v) == wt
    assert status(p.zx.vmar_allocate, v, CRW, 0, 10 * P) == wt
    assert status(p.zx.vmar_map, v, RW, 0, v, 0, 4 * P) == wt
    assert status(p.zx.vmar_map, vmar, RW, 0, p.self_handle, 0, 4 * P) == wt
    assert status(p.zx.vmar_unmap, v, 0, 0) == wt
    assert status(p.zx.vmar_protect, v, R, 0, 0) == wt

    assert status(p.zx.vmar_allocate, vmar, CRW, P, 10 * P) == inval
    assert status(p.zx.vmar_map, vmar, RW, P, v, 0, 4 * P) == inval
    upper = zx.ZX_VM_OFFSET_IS_UPPER_LIMIT
    assert status(p.zx.vmar_allocate, vmar, CRW | SPEC | upper, P, 10 * P) == inval
    assert status(p.zx.vmar_map, vmar, RW | SPEC | upper, P, v, 0, 4 * P) == inval
    assert status(p.zx.vmar_allocate, vmar, CRW | zx.ZX_VM_SPECIFIC_OVERWRITE | upper, P, 10 * P) == inval
    assert status(p.zx.vmar_map, vmar, RW | zx.ZX_VM_SPECIFIC_OVERWRITE | upper, P, v, 0, 4 * P) == inval
    assert status(p.zx.vmar_allocate, vmar, CR | R, P, 10 * P) == inval
    assert status(p.zx.vmar_map, vmar, R | zx.ZX_VM_SPECIFIC_OVERWRITE | zx.ZX_VM_MAP_RANGE, P, v, 0, 4 * P) == inval

    assert status(p.zx.vmar_allocate, vmar, CRW, 0, P - 1) == inval
    assert status(p.zx.vmar_allocate, vmar, CRW | CS, P - 1, P) == inval
    for map_range in (0, zx.ZX_VM_MAP_RANGE):
        assert status(p.zx.vmar_map, vmar, RW | SPEC | map_range, P - 1, v, 0, 4 * P) == inval
        assert status(p.zx.vmar_map, vmar, RW | SPEC | map_range, P, v, P - 1, 3 * P) == inval
        assert status(p.zx.vmar_map, vmar, RW | map_range, 0, v, P - 1, 3 * P) == inval
    a = p.zx.vmar_map(vmar, RW, 0, v, 0, 4 * P)
    assert status(p.zx.vmar_unmap, vmar, a + 1, P) == inval
    assert status(p.zx.vmar_protect, vmar, R, a + 1, P) == inval
    p.zx.vmar_unmap(vmar, a, 4 * P)

    assert status(p.zx.vmar_map, vmar, RW, 0, v, 2**64 - P, P) == zx.ZX_ERR_OUT_OF_RANGE
    a = p.zx.vmar_map(vmar, RW, 0, v, 2**64 - 2 * P, P)
    p.zx.vmar_unmap(vmar, a, P)

    assert status(p.zx.vmar_allocate, vmar, CRW, 0, 0) == inval
    assert status(p.zx.vmar_map, vmar, RW, 0, v, 0, 0) == inval
    a = p.zx.vmar_map(vmar, RW, 0, v, 0, 4 * P)
    assert status(p.zx.vmar_unmap, vmar, a, 0) == inval
    assert status(p.zx.vmar_protect, vmar, R, a, 0) == inval
    p.zx.vmar_unmap(vmar, a, 4 * P)

    bad_size = U64 - P + 2
    assert status(p.zx.vmar_allocate, vmar, CRW, 0, bad_size) == inval
    assert status(p.zx.vmar_map, vmar, RW, 0, v, 0, bad_size) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmar_map, vmar, R | zx.ZX_VM_MAP_RANGE, 0, v, 0, bad_size) == zx.ZX_ERR_OUT_OF_RANGE
    a = p.zx.vmar_map(vmar, RW | SPEC, P, v, 0, 4 * P)
    for i in (-1, 0, 1):
        assert status(p.zx.vmar_protect, vmar, R, a + P * i, bad_size) == inval
        assert status(p.zx.vmar_unmap, vmar, a + P * i, bad_size) == inval
    p.zx.vmar_unmap(vmar, a, 4 * P)

    assert status(p.zx.vmar_allocate, vmar, R | CRW, 0, 4 * P) == inval
    assert status(p.zx.vmar_allocate, vmar, CR | (1 << 31), 0, 4 * P) == inval
    assert status(p.zx.vmar_map, vmar, RW | CX, 0, v, 0, 4 * P) == inval
    assert status(p.zx.vmar_map, vmar, RW | (1 << 31), 0, v, 0, 4 * P) == inval
    a = p.zx.vmar_map(vmar, RW, 0, v, 0, 4 * P)
    assert status(p.zx.vmar_protect, vmar, R | CW, a, 4 * P) == inval
    assert status(p.zx.vmar_protect, vmar, R | (1 << 31), a, 4 * P) == inval
    p.zx.vmar_unmap(vmar, a, 4 * P)


def test_unaligned_len_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_create(4 * P, 0)
    a = p.zx.vmar_map(vmar, R, 0, v, 0, 4 * P)
    p.zx.vmar_protect(vmar, RW, a, 4 * P - 1)
    p.zx.vmar_unmap(vmar, a, 4 * P - 1)
    assert not mapped(p, a + 3 * P)


def test_unaligned_len_map_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_create(4 * P, 0)
    for map_range in (0, zx.ZX_VM_MAP_RANGE):
        a = p.zx.vmar_map(vmar, R | map_range, 0, v, 0, 4 * P - 1)
        assert mapped(p, a + 3 * P)
        p.zx.vmar_unmap(vmar, a, 4 * P - 1)
        assert not mapped(p, a + 3 * P)


_TEST_RIGHTS = (
    (zx.ZX_RIGHT_READ, R),
    (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE, RW),
    (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_EXECUTE, R | X),
)


def test_rights_drop_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_replace_as_executable(p.zx.vmo_create(P, 0), zx.ZX_HANDLE_INVALID)
    for right, perm in _TEST_RIGHTS:
        h = p.zx.handle_duplicate(vmar, right)
        assert status(p.zx.vmar_map, h, RWX, 0, v, 0, P) == zx.ZX_ERR_ACCESS_DENIED
        a = p.zx.vmar_map(h, perm, 0, v, 0, P)
        assert status(p.zx.vmar_protect, h, RWX, a, P) == zx.ZX_ERR_ACCESS_DENIED
        p.zx.vmar_unmap(h, a, P)
        assert status(p.zx.vmar_allocate, h, CR | CW | CX, 0, 10 * P) == zx.ZX_ERR_ACCESS_DENIED
        p.zx.handle_close(h)


def test_protect_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_replace_as_executable(p.zx.vmo_create(P, 0), zx.ZX_HANDLE_INVALID)
    for right, perm in _TEST_RIGHTS:
        h = p.zx.handle_duplicate(v, right | zx.ZX_RIGHT_MAP)
        assert status(p.zx.vmar_map, vmar, RWX, 0, h, 0, P) == zx.ZX_ERR_ACCESS_DENIED
        a = p.zx.vmar_map(vmar, perm, 0, h, 0, P)
        assert status(p.zx.vmar_protect, vmar, RWX, a, P) == zx.ZX_ERR_ACCESS_DENIED
        p.zx.handle_close(h)
        assert status(p.zx.vmar_protect, vmar, RWX, a, P) == zx.ZX_ERR_ACCESS_DENIED
        p.zx.vmar_unmap(vmar, a, P)


def test_protect_subregion_test(p: Process) -> None:
    vmar, addr = p.zx.vmar_allocate(p.root_vmar_handle, CRW, 0, P)
    child, caddr = p.zx.vmar_allocate(vmar, CRW, 0, P)
    v = p.zx.vmo_create(P, 0)
    m = p.zx.vmar_map(child, RW, 0, v, 0, P)
    assert addr == caddr == m
    p.zx.vmar_protect(vmar, R, addr, P)
    assert status(p.zx.vmar_protect, vmar, RW, addr, P) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_protect(child, RW, caddr, P)
    r = p.zx.object_get_info(vmar, zx.ZX_INFO_HANDLE_BASIC).rights
    dup = p.zx.handle_duplicate(vmar, r & ~zx.ZX_RIGHT_OP_CHILDREN)
    assert status(p.zx.vmar_protect, dup, R, addr, P) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmar_destroy(vmar)


def test_nested_region_perms_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_replace_as_executable(p.zx.vmo_create(P, 0), zx.ZX_HANDLE_INVALID)
    alloc_all = CR | CW | CX
    for excl_alloc, excl_map in ((CR, R), (CW, W), (CX, X)):
        r0, _ = p.zx.vmar_allocate(vmar, alloc_all ^ excl_alloc, 0, 10 * P)
        assert status(p.zx.vmar_allocate, r0, alloc_all, 0, P) == zx.ZX_ERR_ACCESS_DENIED
        assert status(p.zx.vmar_map, r0, RWX, 0, v, 0, P) == zx.ZX_ERR_ACCESS_DENIED
        if excl_map != R:
            a = p.zx.vmar_map(r0, RWX ^ excl_map, 0, v, 0, P)
            p.zx.vmar_unmap(r0, a, P)
        r1, _ = p.zx.vmar_allocate(r0, alloc_all ^ excl_alloc, 0, P)
        p.zx.vmar_destroy(r1)
        p.zx.handle_close(r1)
        p.zx.vmar_destroy(r0)
        p.zx.handle_close(r0)
    r0, _ = p.zx.vmar_allocate(vmar, alloc_all, 0, 10 * P)
    assert status(p.zx.vmar_map, r0, SPEC | R, P, v, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.vmar_map, r0, zx.ZX_VM_SPECIFIC_OVERWRITE | R, P, v, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_destroy(r0)


def test_object_info_test(p: Process) -> None:
    region, addr = p.zx.vmar_allocate(p.root_vmar_handle, CRW, 0, 10 * P)
    info = p.zx.object_get_info(region, zx.ZX_INFO_VMAR)
    assert (info.base, info.len) == (addr, 10 * P)


def check_pages_mapped(p: Process, base: int, bitmap: int, count: int) -> bool:
    return all(mapped(p, base + i * P) == bool(bitmap >> i & 1) for i in range(count))


def test_unmap_split_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_create(4 * P, 0)
    addrs = [p.zx.vmar_map(vmar, RW, 0, v, 0, 4 * P) for _ in range(3)]
    p.zx.vmar_unmap(vmar, addrs[0], 2 * P)
    assert check_pages_mapped(p, addrs[0], 0b1100, 4)
    p.zx.vmar_unmap(vmar, addrs[0] + 2 * P, 2 * P)
    assert check_pages_mapped(p, addrs[0], 0, 4)
    p.zx.vmar_unmap(vmar, addrs[1] + 2 * P, 2 * P)
    assert check_pages_mapped(p, addrs[1], 0b0011, 4)
    p.zx.vmar_unmap(vmar, addrs[1], 2 * P)
    assert check_pages_mapped(p, addrs[1], 0, 4)
    p.zx.vmar_unmap(vmar, addrs[2] + P, 2 * P)
    assert check_pages_mapped(p, addrs[2], 0b1001, 4)
    p.zx.vmar_unmap(vmar, addrs[2], P)
    p.zx.vmar_unmap(vmar, addrs[2] + 3 * P, P)
    assert check_pages_mapped(p, addrs[2], 0, 4)
    info = p.zx.object_get_info(vmar, zx.ZX_INFO_VMAR)
    for a in addrs:
        assert p.zx.vmar_map(vmar, RW | SPEC, a - info.base, v, 0, 4 * P) == a
        assert check_pages_mapped(p, a, 0b1111, 4)
        p.zx.vmar_unmap(vmar, a, 4 * P)


def test_unmap_multiple_test(p: Process) -> None:
    # The tests map at fixed offsets in a fresh process's root VMAR; a sub-VMAR stands in.
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 64 * P)
    ms = 4 * P
    v = p.zx.vmo_create(ms, 0)
    a = [p.zx.vmar_map(vmar, RW | SPEC, i * ms, v, 0, ms) for i in range(2)]
    assert a[0] + ms == a[1]
    p.zx.vmar_unmap(vmar, a[0] + 2 * P, 3 * P)
    assert check_pages_mapped(p, a[0], 0b1110_0011, 8)
    p.zx.vmar_unmap(vmar, a[0], 2 * P)
    p.zx.vmar_unmap(vmar, a[1] + P, 3 * P)
    assert check_pages_mapped(p, a[0], 0, 8)

    a = [p.zx.vmar_map(vmar, RW | SPEC, 2 * i * ms, v, 0, ms) for i in range(2)]
    assert a[0] + 2 * ms == a[1]
    p.zx.vmar_unmap(vmar, a[0], 2 * ms + P)
    assert check_pages_mapped(p, a[0], 0b1110_0000_0000, 12)
    p.zx.vmar_unmap(vmar, a[1] + P, 3 * P)
    assert check_pages_mapped(p, a[0], 0, 12)

    a = [p.zx.vmar_map(vmar, RW | SPEC, 2 * i * ms, v, 0, ms) for i in range(2)]
    sub, _ = p.zx.vmar_allocate(vmar, CRW | CS | SPEC, ms, ms)
    a2 = p.zx.vmar_map(sub, RW | SPEC, 0, v, 0, P)
    assert a[0] + ms == a2
    assert check_pages_mapped(p, a[0], 0b1111_0001_1111, 12)
    p.zx.vmar_unmap(vmar, a[0], 2 * ms + P)
    assert check_pages_mapped(p, a[0], 0b1110_0000_0000, 12)
    assert status(p.zx.vmar_map, sub, RW | SPEC, P, v, 0, P) == zx.ZX_ERR_BAD_STATE
    p.zx.vmar_unmap(vmar, a[1] + P, 3 * P)
    assert check_pages_mapped(p, a[0], 0, 12)
    p.zx.handle_close(sub)

    a = [p.zx.vmar_map(vmar, RW | SPEC, i * ms, v, 0, ms) for i in range(2)]
    sub, _ = p.zx.vmar_allocate(vmar, CRW | CS | SPEC, 2 * ms, ms)
    a2 = p.zx.vmar_map(sub, RW | SPEC, 0, v, 0, P)
    assert a[0] + 2 * ms == a2
    assert check_pages_mapped(p, a[0], 0b0001_1111_1111, 12)
    assert status(p.zx.vmar_unmap, vmar, a[0] + P, 3 * ms - 2 * P) == zx.ZX_ERR_INVALID_ARGS
    assert check_pages_mapped(p, a[0], 0b0001_1111_1111, 12)
    p.zx.vmar_unmap(vmar, a[0] + P, 3 * ms - P)
    assert check_pages_mapped(p, a[0], 0b0000_0000_0001, 12)
    assert status(p.zx.vmar_map, sub, RW | SPEC, P, v, 0, P) == zx.ZX_ERR_BAD_STATE
    p.zx.vmar_unmap(vmar, a[0], P)
    assert check_pages_mapped(p, a[0], 0, 12)
    p.zx.handle_close(sub)

    a = [p.zx.vmar_map(vmar, RW | SPEC, (i + 1) * ms, v, 0, ms) for i in range(2)]
    sub, sub_addr = p.zx.vmar_allocate(vmar, CRW | CS | SPEC, 0, ms)
    p.zx.vmar_map(sub, RW | SPEC, ms - P, v, 0, P)
    assert sub_addr + ms == a[0] and sub_addr + 2 * ms == a[1]
    assert check_pages_mapped(p, sub_addr, 0b1111_1111_1000, 12)
    assert status(p.zx.vmar_unmap, vmar, sub_addr + P, 3 * ms - P) == zx.ZX_ERR_INVALID_ARGS
    assert check_pages_mapped(p, sub_addr, 0b1111_1111_1000, 12)
    p.zx.vmar_unmap(vmar, sub_addr, 3 * ms)
    assert check_pages_mapped(p, sub_addr, 0, 12)
    assert status(p.zx.vmar_map, sub, RW | SPEC, P, v, 0, P) == zx.ZX_ERR_BAD_STATE


def test_unmap_base_not_mapped_test(p: Process) -> None:
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 64 * P)
    ms = 4 * P
    v = p.zx.vmo_create(ms, 0)
    a = p.zx.vmar_map(vmar, RW | SPEC, P, v, 0, ms)
    p.zx.vmar_unmap(vmar, a - P, ms + P)
    p.zx.vmar_map(vmar, RW | SPEC, 0, v, 0, ms)
    for gap in (P, 2 * P):
        a = p.zx.vmar_map(vmar, RW | SPEC, ms + gap, v, 0, ms)
        p.zx.vmar_unmap(vmar, a - P, ms + P)


def test_unmap_op_children(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    vmar, addr = p.zx.vmar_allocate(p.root_vmar_handle, CRW, 0, P)
    child, caddr = p.zx.vmar_allocate(vmar, CRW, 0, P)
    m = p.zx.vmar_map(child, RW, 0, v, 0, P)
    assert addr == caddr == m
    dup = p.zx.handle_duplicate(vmar, zx.ZX_DEFAULT_VMAR_RIGHTS & ~zx.ZX_RIGHT_OP_CHILDREN)
    assert status(p.zx.vmar_unmap, dup, addr, P) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmar_unmap(vmar, addr, P)
    p.zx.vmar_destroy(vmar)


def test_map_specific_overwrite_test(p: Process) -> None:
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 64 * P)
    ms = 4 * P
    v = p.zx.vmo_create(2 * ms, 0)
    v2 = p.zx.vmo_create(2 * ms, 0)
    for i in range(4):
        p.zx.vmo_write(v, b"\x01", i * P)
        p.zx.vmo_write(v2, b"\x02", i * P)
    a0 = p.zx.vmar_map(vmar, RW | SPEC, P, v, 0, ms)
    assert status(p.zx.vmar_map, vmar, RW | SPEC, P, v2, 0, ms) == zx.ZX_ERR_ALREADY_EXISTS
    a1 = p.zx.vmar_map(vmar, RW | zx.ZX_VM_SPECIFIC_OVERWRITE, P, v2, 0, ms)
    assert a0 == a1
    assert all(p.read_memory(a0 + i * P, 1) == b"\x02" for i in range(4))
    a0 = p.zx.vmar_map(vmar, RW | zx.ZX_VM_SPECIFIC_OVERWRITE, 2 * P, v, 0, 2 * P)
    assert a0 == a1 + P
    assert [p.read_memory(a1 + i * P, 1) for i in range(4)] == [b"\x02", b"\x01", b"\x01", b"\x02"]
    _, sub_addr = p.zx.vmar_allocate(vmar, CRW | SPEC, P + ms, ms)
    assert sub_addr == a1 + ms
    assert status(p.zx.vmar_map, vmar, RW | zx.ZX_VM_SPECIFIC_OVERWRITE, P, v2, 0, 2 * ms) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmar_unmap(vmar, a1, 2 * ms)


def test_protect_split_test(p: Process) -> None:
    vmar = p.root_vmar_handle
    v = p.zx.vmo_create(4 * P, 0)
    for off in (0, 2 * P, P):
        a = p.zx.vmar_map(vmar, RW, 0, v, 0, 4 * P)
        p.zx.vmar_protect(vmar, R, a + off, 2 * P)
        assert check_pages_mapped(p, a, 0b1111, 4)
        with pytest.raises(MemoryFault):
            p.write_memory(a + off, b"x")
        p.write_memory(a + (3 * P if off < 2 * P else 0), b"x")
        p.zx.vmar_unmap(vmar, a, 4 * P)
        assert check_pages_mapped(p, a, 0, 4)


def test_protect_multiple_test(p: Process) -> None:
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 64 * P)
    ms = 4 * P
    v = p.zx.vmo_create(ms, 0)
    v2 = p.zx.handle_duplicate(v, zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_READ)
    a = [p.zx.vmar_map(vmar, RW | SPEC, i * ms, v, 0, ms) for i in range(3)]
    p.zx.vmar_protect(vmar, R, a[0] + P, 3 * ms - 2 * P)
    assert check_pages_mapped(p, a[0], 0xFFF, 12)
    p.zx.vmar_unmap(vmar, a[0], 3 * ms)
    assert check_pages_mapped(p, a[0], 0, 12)

    p.zx.vmar_map(vmar, RW | SPEC, 0, v, 0, ms)
    p.zx.vmar_map(vmar, R | SPEC, ms, v2, 0, ms)
    p.zx.vmar_map(vmar, RW | SPEC, 2 * ms, v, 0, ms)
    assert status(p.zx.vmar_protect, vmar, RW, a[0] + P, 3 * ms - 2 * P) == zx.ZX_ERR_ACCESS_DENIED
    p.write_memory(a[0] + P, b"x")  # nothing changed
    p.zx.vmar_unmap(vmar, a[0], 3 * ms)

    p.zx.vmar_map(vmar, RW | SPEC, 0, v, 0, ms)
    p.zx.vmar_map(vmar, RW | SPEC, 2 * ms, v, 0, ms)
    assert status(p.zx.vmar_protect, vmar, R, a[0] + P, 3 * ms - 2 * P) == zx.ZX_ERR_NOT_FOUND
    assert check_pages_mapped(p, a[0], 0b1111_0000_1111, 12)
    p.write_memory(a[0] + P, b"x")
    p.zx.vmar_unmap(vmar, a[0], 3 * ms)

    p.zx.vmar_map(vmar, RW | SPEC, 0, v, 0, ms)
    sub, _ = p.zx.vmar_allocate(vmar, CRW | SPEC, ms, ms)
    p.zx.vmar_map(vmar, RW | SPEC, 2 * ms, v, 0, ms)
    assert status(p.zx.vmar_protect, vmar, R, a[0] + P, 3 * ms - 2 * P) == zx.ZX_ERR_NOT_FOUND
    assert check_pages_mapped(p, a[0], 0b1111_0000_1111, 12)
    p.zx.vmar_unmap(vmar, a[0], 3 * ms)
    p.zx.handle_close(sub)

    p.zx.vmar_map(vmar, RW | SPEC, 0, v, 0, ms)
    sub, _ = p.zx.vmar_allocate(vmar, CRW | SPEC | CS, ms, ms)
    p.zx.vmar_map(sub, RW | SPEC, 0, v, 0, ms)
    p.zx.vmar_map(vmar, RW | SPEC, 2 * ms, v, 0, ms)
    p.zx.vmar_protect(vmar, R, a[0] + P, 3 * ms - 2 * P)
    assert check_pages_mapped(p, a[0], 0xFFF, 12)
    p.zx.vmar_unmap(vmar, a[0], 3 * ms)
    assert check_pages_mapped(p, a[0], 0, 12)


def test_protect_over_demand_paged_test(p: Process) -> None:
    size = 100 * P
    v = p.zx.vmo_create(size, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, size)
    p.zx.handle_close(v)
    p.write_memory(a, b"\x05")
    p.write_memory(a + size // 2, b"\x06")
    p.write_memory(a + size - 1, b"\x07")
    p.zx.vmar_protect(p.root_vmar_handle, R, a, size)
    for off in (0, size // 4, size // 2, size - 1):
        with pytest.raises(MemoryFault):
            p.write_memory(a + off, b"x")
    p.zx.vmar_unmap(p.root_vmar_handle, a, size)


def test_protect_large_uncomitted_test(p: Process) -> None:
    size = 1 << 30
    v = p.zx.vmo_create(size, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, size)
    p.zx.handle_close(v)
    for off, b in ((0, b"\x05"), (size // 2, b"\x06"), (size - 1, b"\x07")):
        p.write_memory(a + off, b)
    base = -(-a // (512 * P)) * (512 * P) + P
    p.zx.vmar_protect(p.root_vmar_handle, R, base, a + size - base)
    p.write_memory(a, b"x")
    for off in (size // 4, size // 2, size - 1):
        with pytest.raises(MemoryFault):
            p.write_memory(a + off, b"x")
    p.zx.vmar_unmap(p.root_vmar_handle, a, size)


def test_range_op_sub_regions(p: Process) -> None:
    vmar, addr = p.zx.vmar_allocate(p.root_vmar_handle, CRW, 0, P)
    child, caddr = p.zx.vmar_allocate(vmar, CRW, 0, P)
    v = p.zx.vmo_create(P, 0)
    m = p.zx.vmar_map(child, RW, 0, v, 0, P)
    assert addr == caddr == m
    r = p.zx.object_get_info(vmar, zx.ZX_INFO_HANDLE_BASIC).rights
    dup = p.zx.handle_duplicate(vmar, r & ~zx.ZX_RIGHT_OP_CHILDREN)
    for op in (zx.ZX_VMAR_OP_MAP_RANGE, zx.ZX_VMAR_OP_DONT_NEED, zx.ZX_VMAR_OP_ALWAYS_NEED):
        p.zx.vmar_op_range(vmar, op, addr, P)
        assert status(p.zx.vmar_op_range, dup, op, addr, P) == zx.ZX_ERR_INVALID_ARGS
    for op in (zx.ZX_VMAR_OP_COMMIT, zx.ZX_VMAR_OP_DECOMMIT):
        assert status(p.zx.vmar_op_range, dup, op, addr, P) == zx.ZX_ERR_INVALID_ARGS
        assert status(p.zx.vmar_op_range, vmar, op, addr, P) == zx.ZX_ERR_INVALID_ARGS


def test_unmap_large_uncommitted_test(p: Process) -> None:
    size = 1 << 30
    v = p.zx.vmo_create(size, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, size)
    p.zx.handle_close(v)
    for off, b in ((0, b"\x05"), (size // 2, b"\x06"), (size - 1, b"\x07")):
        p.write_memory(a + off, b)
    base = -(-a // (512 * P)) * (512 * P) + P
    p.zx.vmar_unmap(p.root_vmar_handle, base, a + size - base)
    p.write_memory(a, b"x")
    for off in (size // 4, size // 2, size - 1):
        assert not mapped(p, a + off)
    p.zx.vmar_unmap(p.root_vmar_handle, a, size)


def test_partial_unmap_and_read(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, 2 * P)
    p.zx.handle_close(v)
    p.write_memory(a, bytes(2 * P))
    p.zx.vmar_unmap(p.root_vmar_handle, a + P, P)
    assert p.read_memory(a, P) == bytes(P)
    assert not mapped(p, a + P)
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


def test_partial_unmap_with_vmar_offset(p: Process) -> None:
    off = 0x1000
    size = 10 * P
    v = p.zx.vmo_create(size, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, off, size - off)
    p.zx.handle_close(v)
    p.write_memory(a, bytes(size - off))
    assert p.read_memory(a, size - off) == bytes(size - off)
    p.write_memory(a + size - off - 1, b"\0")
    assert p.read_memory(a + size - off - 1, 1) == b"\0"
    assert not mapped(p, a + size - off)
    with pytest.raises(MemoryFault):
        p.write_memory(a + size - off, b"\0")


def test_allow_faults_test(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    a = p.zx.vmar_map(p.root_vmar_handle, RW | zx.ZX_VM_ALLOW_FAULTS, 0, v, 0, P)
    p.zx.handle_close(v)
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


def test_op_on_range_with_child_vmar_next_to_it(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    parent, _ = p.zx.vmar_allocate(p.root_vmar_handle, CS | CRW, 0, 2 * P)
    va, _ = p.zx.vmar_allocate(parent, CS | CRW, 0, 2 * P)
    p.zx.vmar_allocate(va, SPEC | CS | CRW, 0x1000, P)
    a = p.zx.vmar_map(va, SPEC | RW, 0, v, 0, P)
    p.zx.vmar_op_range(parent, zx.ZX_VMAR_OP_MAP_RANGE, a, P)


def test_range_op_commit_vmo_pages2(p: Process) -> None:
    size = 10 * P
    v = p.zx.vmo_create(size, 0)
    vmar, base = p.zx.vmar_allocate(p.root_vmar_handle, CS | CRW, 0, size)
    a1 = p.zx.vmar_map(vmar, SPEC | RW, 0, v, 0, 5 * P)
    assert a1 == base
    a2 = p.zx.vmar_map(vmar, SPEC | RW, 6 * P, v, 5 * P, 4 * P)
    p.write_memory(a1, bytes(4 * P))
    p.write_memory(a2, bytes(4 * P))
    p.zx.vmar_op_range(vmar, zx.ZX_VMAR_OP_DECOMMIT, a2, 4 * P)


def test_bad_range_op_nested_vmar(p: Process) -> None:
    root = p.root_vmar_handle
    mid, _ = p.zx.vmar_allocate(root, CS | CRW, 0, 8 * P)
    v = p.zx.vmo_create(P, 0)
    a = p.zx.vmar_map(mid, SPEC | RW, P, v, 0, P)
    assert status(p.zx.vmar_op_range, root, zx.ZX_VMAR_OP_COMMIT, a, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_op_range, root, zx.ZX_VMAR_OP_DECOMMIT, a, P) == zx.ZX_ERR_INVALID_ARGS


def test_range_op_commit(p: Process) -> None:
    vsize = 20 * P
    vmar, base = p.zx.vmar_allocate(p.root_vmar_handle, CS | CRW, 0, vsize)
    ssize = 8 * P
    s1, b1 = p.zx.vmar_allocate(vmar, CS | CRW | SPEC, P, ssize)
    assert b1 == base + P
    s2, b2 = p.zx.vmar_allocate(vmar, CS | CRW | SPEC, ssize + 2 * P, ssize)
    assert b2 == b1 + ssize + P
    n = 5 * P
    v = p.zx.vmo_create(n, 0)
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, n)
    assert p.zx.vmar_map(s1, SPEC | RW, 0, v, 0, n) == b1
    assert p.zx.vmar_map(s2, SPEC | RW, 0, clone, 0, n) == b2
    p.zx.vmar_op_range(s1, zx.ZX_VMAR_OP_COMMIT, b1 + P, 2 * P)
    p.zx.vmar_op_range(s2, zx.ZX_VMAR_OP_COMMIT, b2 + 2 * P, 2 * P)

    def committed(h: int) -> int:
        return int(p.zx.object_get_info(h, zx.ZX_INFO_VMO).committed_bytes)

    assert committed(v) == 2 * P
    assert committed(clone) == 2 * P
    p.zx.vmar_op_range(s2, zx.ZX_VMAR_OP_COMMIT, b2, n)
    assert committed(v) == 2 * P
    assert committed(clone) == n
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_READ)
    a = p.zx.vmar_map(vmar, SPEC | R, vsize - P, ro, 0, P)
    assert a == base + vsize - P
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, a, P) == zx.ZX_ERR_ACCESS_DENIED
    assert committed(v) == 2 * P and committed(clone) == n
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, base, 2 * vsize) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, 0, vsize) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, base, vsize) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, base, b1 + ssize - base) == zx.ZX_ERR_BAD_STATE


def test_protect_cow_writable(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    p.zx.vmo_write(v, (42).to_bytes(8, "little"), 0)
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, clone, 0, 2 * P)
    p.zx.vmar_protect(p.root_vmar_handle, R, a, 2 * P)
    assert p.read_memory(a, 8) == p.zx.vmo_read(clone, 0, 8)
    p.zx.vmar_protect(p.root_vmar_handle, RW, a, P)
    p.write_memory(a, (77).to_bytes(8, "little"))
    assert p.zx.vmo_read(v, 0, 8) == (42).to_bytes(8, "little")
    assert p.zx.vmo_read(clone, 0, 8) == (77).to_bytes(8, "little")


def test_map_read_if_xom_unsupported(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED, 0, v, 0, P)
    assert p.read_memory(a, 1) == b"\0"  # the simulated MMU has no execute-only mappings


def test_protect_read_if_xom_unsupported(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P)
    p.zx.vmar_protect(p.root_vmar_handle, zx.ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED, a, P)
    assert p.read_memory(a, 1) == b"\0"


def test_address_space_limits_test(p: Process) -> None:
    """MemoryMappingTest.AddressSpaceLimitsTest (x86-64: 48-bit addresses)."""
    v = p.zx.vmo_create(P, 0)
    noncanon = 1 << 47
    info = p.zx.object_get_info(p.root_vmar_handle, zx.ZX_INFO_VMAR)
    off = noncanon - P - info.base
    assert status(p.zx.vmar_map, p.root_vmar_handle, RW | SPEC, off, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    off = noncanon - 2 * P - info.base
    a = p.zx.vmar_map(p.root_vmar_handle, RW | SPEC, off, v, 0, P)
    assert status(p.zx.vmar_map, p.root_vmar_handle, RW | SPEC, off, v, 0, P) == zx.ZX_ERR_ALREADY_EXISTS
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)


# ----------------------------------------------------------------- newer vmar.cc cases
def test_map_range_resizable(p: Process) -> None:
    root = p.root_vmar_handle
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    a = p.zx.vmar_map(root, zx.ZX_VM_MAP_RANGE, 0, v, 0, P)
    p.zx.vmar_unmap(root, a, P)
    a = p.zx.vmar_map(root, zx.ZX_VM_MAP_RANGE | R, 0, v, 0, 2 * P)
    with pytest.raises(MemoryFault) as e:
        p.read_memory(a + P, 1)
    assert e.value.status == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmar_unmap(root, a, 2 * P)
    a = p.zx.vmar_map(root, zx.ZX_VM_MAP_RANGE, 0, v, 2 * P, 2 * P)
    p.zx.vmar_unmap(root, a, 2 * P)
    p.zx.vmo_set_size(v, 2 * P)
    a = p.zx.vmar_map(root, zx.ZX_VM_MAP_RANGE | R, 0, v, 0, 2 * P)
    p.zx.vmo_set_size(v, P)
    p.read_memory(a, 1)
    with pytest.raises(MemoryFault) as e:
        p.read_memory(a + P, 1)
    assert e.value.status == zx.ZX_ERR_OUT_OF_RANGE


def test_prefetch(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    vmar, base = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 4 * P)
    a = p.zx.vmar_map(vmar, RW | SPEC, P, v, 0, 2 * P)
    assert a == base + P
    op = zx.ZX_VMAR_OP_PREFETCH
    p.zx.vmar_op_range(vmar, op, a, P)
    p.zx.vmar_op_range(vmar, op, a, 2 * P)
    assert status(p.zx.vmar_op_range, vmar, op, a, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_op_range, vmar, op, a + P - 1, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_op_range, vmar, op, a + 2 * P, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmar_op_range, vmar, op, a + 2 * P, P) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmar_op_range, p.root_vmar_handle, op, a, P) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmar_protect(vmar, 0, a, 2 * P)
    p.zx.vmar_op_range(vmar, op, a, 2 * P)
    p.zx.vmar_destroy(vmar)


FBSS = zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE | zx.ZX_VM_ALLOW_FAULTS


def _fault_status(p: Process, fn, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(MemoryFault) as e:
        fn(*args)
    return e.value.status


def test_fault_beyond_reduced_stream_size(p: Process) -> None:
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 6 * P)
    v = p.zx.vmo_create(5 * P, zx.ZX_VMO_UNBOUNDED)
    a = p.zx.vmar_map(vmar, RW | SPEC | FBSS, 0, v, 0, 6 * P)
    dead = (0xDEADBEEF).to_bytes(8, "little")
    for i in range(5):
        p.write_memory(a + i * P, dead)
    assert _fault_status(p, p.write_memory, a + 5 * P, b"x") == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_read(v, 0, 8) == dead and p.zx.vmo_read(v, 4 * P, 8) == dead
    p.read_memory(a + 4 * P, 1)
    p.zx.vmo_set_stream_size(v, 4 * P)
    assert _fault_status(p, p.read_memory, a + 4 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    p.write_memory(a + 4 * P - 8, dead)
    p.zx.vmo_set_stream_size(v, 3 * P + P // 2)
    p.read_memory(a + 3 * P, 1)
    assert p.zx.vmo_read(v, 3 * P + P // 2, 8) == bytes(8)
    assert p.zx.vmo_read(v, 3 * P, 8) == dead
    assert p.zx.vmo_read(v, 4 * P - 8, 8) == bytes(8)
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, 2 * P)
    for i in (3, 2):
        assert _fault_status(p, p.read_memory, a + i * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    p.read_memory(a + P, 1)
    p.read_memory(a, 1)
    p.zx.vmar_destroy(vmar)
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 4 * P)
    b = p.zx.vmo_create(4 * P, 0)
    a = p.zx.vmar_map(vmar, RW | SPEC | FBSS, 0, b, 0, 4 * P)
    p.zx.vmo_set_stream_size(b, 2 * P)
    for i in (3, 2):
        assert _fault_status(p, p.read_memory, a + i * P, 1) == zx.ZX_ERR_OUT_OF_RANGE


def test_fault_beyond_stream_size_range(p: Process) -> None:
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 6 * P)
    v = p.zx.vmo_create(2 * P, zx.ZX_VMO_UNBOUNDED)
    ones = b"\x01" * (4 * P)
    p.zx.vmo_write(v, ones, 0)
    a = p.zx.vmar_map(vmar, RW | SPEC | FBSS | zx.ZX_VM_MAP_RANGE, 0, v, 0, 6 * P)
    oor = zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_PREFETCH, a, 3 * P) == oor
    assert _fault_status(p, p.read_memory, a + 2 * P, 1) == oor
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, a, 3 * P) == oor
    assert _fault_status(p, p.write_memory, a + 2 * P, b"x") == oor
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_DECOMMIT, a, 3 * P) == oor
    assert p.zx.vmo_read(v, 0, 4 * P) == ones
    for op in (zx.ZX_VMAR_OP_PREFETCH, zx.ZX_VMAR_OP_COMMIT, zx.ZX_VMAR_OP_DECOMMIT):
        p.zx.vmar_op_range(vmar, op, a, 2 * P)
    assert status(p.zx.vmar_op_range, vmar, zx.ZX_VMAR_OP_COMMIT, a + P, 2 * P) == oor
    assert p.zx.vmo_read(v, 0, 2 * P) == bytes(2 * P)
    assert p.zx.vmo_read(v, 2 * P, 2 * P) == ones[: 2 * P]


def test_fault_beyond_stream_size(p: Process) -> None:
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 6 * P)
    v = p.zx.vmo_create(3 * P, zx.ZX_VMO_UNBOUNDED)
    assert p.zx.vmo_get_stream_size(v) == 3 * P
    assert p.zx.vmo_get_size(v) > 3 * P
    assert status(p.zx.vmar_map, vmar, RW | SPEC | zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE, 0, v, 0, 4 * P) \
        == zx.ZX_ERR_INVALID_ARGS
    a = p.zx.vmar_map(vmar, RW | SPEC | FBSS, 0, v, 0, 4 * P)
    p.read_memory(a, 1)
    assert _fault_status(p, p.read_memory, a + 3 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert _fault_status(p, p.write_memory, a + 3 * P, b"x") == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_write(v, bytes(4 * P), 0)
    assert p.zx.vmo_read(v, 0, 4 * P) == bytes(4 * P)
    assert _fault_status(p, p.read_memory, a + 3 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    p.write_memory(a, b"\0")
    p.zx.vmo_set_stream_size(v, 2 * P)
    assert _fault_status(p, p.write_memory, a + 2 * P, b"x") == zx.ZX_ERR_OUT_OF_RANGE
    assert _fault_status(p, p.read_memory, a + 2 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    v2 = p.zx.vmo_create(P // 2, zx.ZX_VMO_UNBOUNDED)
    assert p.zx.vmo_get_stream_size(v2) == P // 2
    assert status(p.zx.vmar_map, vmar, R | SPEC | FBSS, 0, v2, 0, 2 * P) == zx.ZX_ERR_ALREADY_EXISTS
    a2 = p.zx.vmar_map(vmar, R | zx.ZX_VM_SPECIFIC_OVERWRITE | FBSS, 0, v2, 0, 2 * P)
    assert a2 == a
    assert _fault_status(p, p.write_memory, a, b"x") == zx.ZX_ERR_ACCESS_DENIED
    p.read_memory(a2, 1)
    p.read_memory(a2 + P - 8, 1)
    assert _fault_status(p, p.read_memory, a2 + P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmar_destroy(vmar)
    vmar, _ = p.zx.vmar_allocate(p.root_vmar_handle, CRW | CS, 0, 6 * P)
    v3 = p.zx.vmo_create(2 * P, zx.ZX_VMO_UNBOUNDED)
    p.zx.vmo_write(v3, bytes(4 * P), 0)
    a3 = p.zx.vmar_map(vmar, RW | SPEC | FBSS, 0, v3, 0, 6 * P)
    assert _fault_status(p, p.read_memory, a3 + 2 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_set_stream_size(v3, 4 * P)
    p.read_memory(a3 + 2 * P, 1)
    p.zx.vmo_set_stream_size(v3, 2 * P)
    assert _fault_status(p, p.read_memory, a3 + 2 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE


def test_unmapped_access_is_not_found(p: Process) -> None:
    """UnmapLargeUncommittedTest / PartialUnmapAndRead (newer vmar.cc): an access to an
    address with no mapping faults with ZX_ERR_NOT_FOUND."""
    v = p.zx.vmo_create(2 * P, 0)
    a = p.zx.vmar_map(p.root_vmar_handle, RW, 0, v, 0, 2 * P)
    p.zx.vmar_unmap(p.root_vmar_handle, a + P, P)
    assert _fault_status(p, p.read_memory, a + P, 1) == zx.ZX_ERR_NOT_FOUND
    assert _fault_status(p, p.write_memory, a + P, b"x") == zx.ZX_ERR_NOT_FOUND
