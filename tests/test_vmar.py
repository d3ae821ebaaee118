"""VMARs and memory access (Zircon's vmar.cc core-tests, ported)."""

from __future__ import annotations

import pytest

from microsim import MemoryFault, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
R, W, X = zx.ZX_VM_PERM_READ, zx.ZX_VM_PERM_WRITE, zx.ZX_VM_PERM_EXECUTE
RW = R | W
CAN_RW = zx.ZX_VM_CAN_MAP_READ | zx.ZX_VM_CAN_MAP_WRITE
SPEC = zx.ZX_VM_SPECIFIC


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["vmo"]).create_process("vmar-test")



def root(p: Process) -> int:
    return p.root_vmar_handle


def test_root_vmar(p: Process) -> None:
    info = p.zx.object_get_info(root(p), zx.ZX_INFO_VMAR)
    assert info.base <= 0x200000 and info.len > 2**46
    assert status(p.zx.vmar_destroy, root(p)) == zx.ZX_ERR_NOT_SUPPORTED
    v = p.zx.vmo_create(P, 0)
    addr = p.zx.vmar_map(root(p), RW | SPEC, 0x200000 - info.base, v, 0, P)
    assert addr == 0x200000


def test_allocate_basic_and_nested(p: Process) -> None:
    sub, addr = p.zx.vmar_allocate(root(p), CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 16 * P)
    info = p.zx.object_get_info(sub, zx.ZX_INFO_VMAR)
    assert info.base == addr and info.len == 16 * P and addr % P == 0
    rights = p.zx.object_get_info(sub, zx.ZX_INFO_HANDLE_BASIC).rights
    assert rights == zx.ZX_DEFAULT_VMAR_RIGHTS | zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE
    inner, iaddr = p.zx.vmar_allocate(sub, zx.ZX_VM_CAN_MAP_READ, 0, 4 * P)
    assert addr <= iaddr and iaddr + 4 * P <= addr + 16 * P
    # The child cannot have a CAN_MAP flag its parent lacks.
    assert status(p.zx.vmar_allocate, inner, zx.ZX_VM_CAN_MAP_READ | zx.ZX_VM_CAN_MAP_WRITE, 0, P) == zx.ZX_ERR_ACCESS_DENIED


def test_allocate_errors(p: Process) -> None:
    a = p.zx.vmar_allocate
    assert status(a, root(p), R, 0, P) == zx.ZX_ERR_INVALID_ARGS  # PERM_* bits
    assert status(a, root(p), zx.ZX_VM_SPECIFIC_OVERWRITE, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(a, root(p), 0, 0, P + 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(a, root(p), 0, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(a, root(p), 0, P, P) == zx.ZX_ERR_INVALID_ARGS  # offset without SPECIFIC
    assert status(a, root(p), 9 << 24, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(a, root(p), 33 << 24, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(a, root(p), 1 << 31, 0, P) == zx.ZX_ERR_INVALID_ARGS
    sub, _ = p.zx.vmar_allocate(root(p), CAN_RW, 0, 4 * P)
    assert status(a, sub, SPEC, 0, P) == zx.ZX_ERR_ACCESS_DENIED  # no CAN_MAP_SPECIFIC
    spec, _ = p.zx.vmar_allocate(root(p), CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 4 * P)
    assert status(a, spec, SPEC, 4 * P, P) == zx.ZX_ERR_INVALID_ARGS  # out of bounds
    assert status(a, spec, 0, 0, 8 * P) == zx.ZX_ERR_INVALID_ARGS  # too large
    assert status(a, spec, SPEC | zx.ZX_VM_OFFSET_IS_UPPER_LIMIT, P, P) == zx.ZX_ERR_INVALID_ARGS
    a(spec, SPEC, 0, 4 * P)
    assert status(a, spec, 0, 0, P) == zx.ZX_ERR_NO_RESOURCES  # full
    no_write = p.zx.handle_duplicate(sub, zx.ZX_DEFAULT_VMAR_RIGHTS | zx.ZX_RIGHT_READ)
    assert status(a, no_write, zx.ZX_VM_CAN_MAP_WRITE, 0, P) == zx.ZX_ERR_ACCESS_DENIED


def test_map_errors(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    m = p.zx.vmar_map
    no_map = p.zx.handle_duplicate(v, zx.ZX_DEFAULT_VMO_RIGHTS & ~zx.ZX_RIGHT_MAP)
    assert status(m, root(p), 0, 0, no_map, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    assert status(m, root(p), W, 0, v, 0, P) == zx.ZX_ERR_INVALID_ARGS  # write without read
    assert status(m, root(p), R | zx.ZX_VM_CAN_MAP_READ, 0, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, root(p), R | zx.ZX_VM_MAP_RANGE | zx.ZX_VM_SPECIFIC_OVERWRITE, 0, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP)
    assert status(m, root(p), RW, 0, ro, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    assert status(m, root(p), R, 0, v, 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, root(p), R, 0, v, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, root(p), R, 0, v, 2**64 - P, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(m, root(p), R | SPEC, 2**64 - P, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, root(p), R | zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE, 0, v, 0, P) == zx.ZX_ERR_INVALID_ARGS
    rv = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    assert status(m, root(p), R | zx.ZX_VM_REQUIRE_NON_RESIZABLE, 0, rv, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    assert m(root(p), R, 0, rv, 0, P)  # a resizable VMO without ALLOW_FAULTS is accepted
    assert status(m, v, R, 0, v, 0, P) == zx.ZX_ERR_WRONG_TYPE
    assert status(m, root(p), R, 0, root(p), 0, P) == zx.ZX_ERR_WRONG_TYPE
    sub, _ = p.zx.vmar_allocate(root(p), zx.ZX_VM_CAN_MAP_READ, 0, 4 * P)
    assert status(m, sub, RW, 0, v, 0, P) == zx.ZX_ERR_ACCESS_DENIED  # the VMAR's rights
    assert m(p.root_vmar_handle, 0, 0, v, 0, P)  # no permissions at all is legal


def test_overmapping_and_specific_overwrite(p: Process) -> None:
    v = p.zx.vmo_create(8 * P, 0)
    sub, base = p.zx.vmar_allocate(root(p), CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 8 * P)
    p.zx.vmar_map(sub, RW | SPEC, 2 * P, v, 0, 2 * P)
    for off, length in ((2 * P, 2 * P), (P, 2 * P), (3 * P, 2 * P), (P, 4 * P)):
        assert status(p.zx.vmar_map, sub, RW | SPEC, off, v, 0, length) == zx.ZX_ERR_ALREADY_EXISTS
    p.zx.vmo_write(v, b"A", 0)
    p.zx.vmo_write(v, b"B", 4 * P)
    p.zx.vmar_map(sub, RW | zx.ZX_VM_SPECIFIC_OVERWRITE, 3 * P, v, 4 * P, P)
    assert p.read_memory(base + 2 * P, 1) == b"A"
    assert p.read_memory(base + 3 * P, 1) == b"B"
    maps = [m for m in p.zx.object_get_info(sub, zx.ZX_INFO_VMAR_MAPS) if m.type == zx.ZX_INFO_MAPS_TYPE_MAPPING]
    assert [(m.base - base, m.size) for m in maps] == [(2 * P, P), (3 * P, P)]


def test_unaligned_len_is_rounded(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    addr = p.zx.vmar_map(root(p), RW, 0, v, 0, 4 * P - 1)
    p.write_memory(addr + 4 * P - 1, b"z")
    p.zx.vmar_unmap(root(p), addr, 4 * P - 1)
    with pytest.raises(MemoryFault):
        p.read_memory(addr, 1)


def test_unmap_splits_and_empty_range(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    addr = p.zx.vmar_map(root(p), RW, 0, v, 0, 4 * P)
    p.zx.vmar_unmap(root(p), addr + P, P)
    assert p.read_memory(addr, 1) == b"\0" and p.read_memory(addr + 2 * P, 1) == b"\0"
    with pytest.raises(MemoryFault) as e:
        p.read_memory(addr + P, 1)
    assert e.value.status == zx.ZX_ERR_NOT_FOUND and hex(addr + P) in str(e.value)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_mappings == 2
    p.zx.vmar_unmap(root(p), addr + P, P)  # nothing mapped there: OK
    assert status(p.zx.vmar_unmap, root(p), addr + 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_unmap, root(p), addr, 0) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmar_unmap(root(p), addr, 4 * P)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_mappings == 0


def test_unmap_subvmar_needs_op_children(p: Process) -> None:
    sub, base = p.zx.vmar_allocate(root(p), CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 8 * P)
    inner, _ibase = p.zx.vmar_allocate(sub, CAN_RW | SPEC, 2 * P, 2 * P)
    no_op = p.zx.handle_duplicate(sub, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    assert status(p.zx.vmar_unmap, no_op, base, 8 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_unmap, sub, base, 3 * P) == zx.ZX_ERR_INVALID_ARGS  # partial
    p.zx.vmar_unmap(sub, base, 8 * P)
    assert status(p.zx.vmar_allocate, inner, 0, 0, P) == zx.ZX_ERR_BAD_STATE


def test_protect(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    addr = p.zx.vmar_map(root(p), RW, 0, v, 0, 4 * P)
    p.zx.vmar_protect(root(p), R, addr + P, P)
    with pytest.raises(MemoryFault) as e:
        p.write_memory(addr + P, b"x")
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    p.write_memory(addr, b"ok")
    p.zx.vmar_protect(root(p), RW, addr + P, P)  # back up to the maximum
    p.write_memory(addr + P, b"x")
    p.zx.vmar_protect(root(p), 0, addr, P)  # no access is valid
    with pytest.raises(MemoryFault):
        p.read_memory(addr, 1)
    assert status(p.zx.vmar_protect, root(p), RW | X, addr, P) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.vmar_protect, root(p), W, addr, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_protect, root(p), R | zx.ZX_VM_CAN_MAP_READ, addr, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_protect, root(p), R, addr + 4 * P, P) == zx.ZX_ERR_NOT_FOUND
    assert status(p.zx.vmar_protect, root(p), R, addr + 1, P) == zx.ZX_ERR_INVALID_ARGS
    # The maximum is fixed at map time, even after the VMO handle is closed.
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP)
    raddr = p.zx.vmar_map(root(p), R, 0, ro, 0, P)
    p.zx.handle_close(ro)
    assert status(p.zx.vmar_protect, root(p), RW, raddr, P) == zx.ZX_ERR_ACCESS_DENIED
    ro_vmar = p.zx.handle_duplicate(root(p), zx.ZX_DEFAULT_VMAR_RIGHTS | zx.ZX_RIGHT_READ)
    assert status(p.zx.vmar_protect, ro_vmar, RW, addr, P) == zx.ZX_ERR_ACCESS_DENIED


def test_destroy(p: Process) -> None:
    sub, base = p.zx.vmar_allocate(root(p), CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 4 * P)
    inner, _ = p.zx.vmar_allocate(sub, CAN_RW, 0, P)
    v = p.zx.vmo_create(P, 0)
    p.zx.vmar_map(sub, RW | SPEC, 2 * P, v, 0, P)
    no_op = p.zx.handle_duplicate(sub, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmar_destroy, no_op) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_destroy(sub)
    assert p.zx.object_get_info(sub, zx.ZX_INFO_HANDLE_VALID) is None  # handle stays valid
    for fn, args in ((p.zx.vmar_allocate, (sub, 0, 0, P)), (p.zx.vmar_map, (sub, R, 0, v, 0, P)),
                     (p.zx.vmar_unmap, (sub, base, P)), (p.zx.vmar_protect, (sub, R, base, P)),
                     (p.zx.vmar_destroy, (sub,)), (p.zx.vmar_allocate, (inner, 0, 0, P))):
        assert status(fn, *args) == zx.ZX_ERR_BAD_STATE
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_mappings == 0
    # The freed range can be mapped again with SPECIFIC.
    off = base - p.zx.object_get_info(root(p), zx.ZX_INFO_VMAR).base
    assert p.zx.vmar_map(root(p), R | SPEC, off, v, 0, P) == base


def test_alignment(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    for log2 in range(10, 25):
        addr = p.zx.vmar_map(root(p), R | (log2 << 24), 0, v, 0, P)
        assert addr % max(1 << log2, P) == 0
        _, vaddr = p.zx.vmar_allocate(root(p), log2 << 24, 0, P)
        assert vaddr % max(1 << log2, P) == 0


def test_compact_and_upper_limit(p: Process) -> None:
    sub, base = p.zx.vmar_allocate(root(p), CAN_RW | zx.ZX_VM_COMPACT | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 64 * P)
    v = p.zx.vmo_create(P, 0)
    addrs = [p.zx.vmar_map(sub, R, 0, v, 0, P) for _ in range(8)]
    assert max(addrs) - min(addrs) == 7 * P  # close together
    lim = [p.zx.vmar_map(sub, R | zx.ZX_VM_OFFSET_IS_UPPER_LIMIT, 32 * P, v, 0, P) for _ in range(20)]
    assert all(a + P <= base + 32 * P for a in lim)
    assert status(p.zx.vmar_map, sub, R | zx.ZX_VM_OFFSET_IS_UPPER_LIMIT, 32 * P, v, 0, 8 * P) == zx.ZX_ERR_NO_RESOURCES


def test_placement_is_deterministic_and_random(make_kernel) -> None:  # type: ignore[no-untyped-def]
    def addrs(seed: int) -> list[int]:
        p = make_kernel(seed=seed, plugins=["vmo"]).create_process("a")
        v = p.zx.vmo_create(P, 0)
        return [p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, P) for _ in range(5)]

    assert addrs(1) == addrs(1)
    assert addrs(1) != addrs(2)


def test_memory_shared_across_processes(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo"])
    a, b = k.create_process("a"), k.create_process("b")
    v = a.zx.vmo_create(2 * P, 0)
    h = a.take_handle(a.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS), "transfer")
    bv = b.add_handle(h, "transfer")
    aa = a.zx.vmar_map(a.root_vmar_handle, RW, 0, v, 0, 2 * P)
    ba = b.zx.vmar_map(b.root_vmar_handle, R, 0, bv, 0, 2 * P)
    a.write_memory(aa + P - 2, b"span")  # crosses a page boundary
    assert b.read_memory(ba + P - 2, 4) == b"span"
    with pytest.raises(MemoryFault) as e:
        b.write_memory(ba, b"no")
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED


def test_mapping_past_the_object_end_faults_out_of_range(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    addr = p.zx.vmar_map(p.root_vmar_handle, R, 0, v, 0, 2 * P)
    with pytest.raises(MemoryFault) as e:
        p.read_memory(addr + P, 1)
    assert e.value.status == zx.ZX_ERR_OUT_OF_RANGE


def test_process_maps(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    sub, _base = p.zx.vmar_allocate(root(p), CAN_RW, 0, 4 * P)
    p.zx.vmar_map(sub, R, 0, v, 0, P)
    maps = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_MAPS)
    assert [m.type for m in maps] == [zx.ZX_INFO_MAPS_TYPE_ASPACE, zx.ZX_INFO_MAPS_TYPE_VMAR,
                                      zx.ZX_INFO_MAPS_TYPE_VMAR, zx.ZX_INFO_MAPS_TYPE_MAPPING]
    assert [m.depth for m in maps] == [0, 1, 2, 3]
    koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
    assert maps[3].vmo_koid == koid and maps[3].mmu_flags == R
    two = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_MAPS, 2 * zx.zx_info_maps_t.SIZE)
    assert (two.actual, two.avail) == (2, 4)
