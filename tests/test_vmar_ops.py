"""zx_vmar_op_range, and protect / unmap / SPECIFIC_OVERWRITE over sub-VMARs
(Zircon's VmAddressRegion::RangeOp, Protect, UnmapInternalLocked and the vmar core-tests)."""

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
COMMIT, DECOMMIT, MAP_RANGE, ZERO = (
    zx.ZX_VMAR_OP_COMMIT, zx.ZX_VMAR_OP_DECOMMIT, zx.ZX_VMAR_OP_MAP_RANGE, zx.ZX_VMAR_OP_ZERO,
)
DONT_NEED, ALWAYS_NEED, PREFETCH = (
    zx.ZX_VMAR_OP_DONT_NEED, zx.ZX_VMAR_OP_ALWAYS_NEED, zx.ZX_VMAR_OP_PREFETCH,
)
ALL_OPS = (COMMIT, DECOMMIT, MAP_RANGE, ZERO, DONT_NEED, ALWAYS_NEED, PREFETCH)


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["vmo"]).create_process("vmar-ops")



def committed(p: Process, vmo: int) -> int:
    return p.zx.object_get_info(vmo, zx.ZX_INFO_VMO).committed_bytes


def mapped(p: Process, pages: int = 4, perms: int = RW) -> tuple[int, int]:
    vmo = p.zx.vmo_create(pages * P, 0)
    addr = p.zx.vmar_map(p.root_vmar_handle, perms, 0, vmo, 0, pages * P)
    return vmo, addr


# --------------------------------------------------------------------------- op_range
def test_commit_decommit_zero_through_a_mapping(p: Process) -> None:
    vmo, addr = mapped(p)
    root = p.root_vmar_handle
    p.zx.vmar_op_range(root, COMMIT, addr + P, 2 * P)
    assert committed(p, vmo) == 2 * P
    p.write_memory(addr + P, b"keep")
    p.zx.vmar_op_range(root, ZERO, addr + P, P - 1)  # rounded up to the page
    assert p.read_memory(addr + P, 4) == bytes(4)
    p.zx.vmo_write(vmo, b"x" * 3 * P, 0)
    p.zx.vmar_op_range(root, DECOMMIT, addr, 2 * P)
    assert committed(p, vmo) == P
    assert p.read_memory(addr, 2 * P) == bytes(2 * P)
    for op in (MAP_RANGE, DONT_NEED, ALWAYS_NEED, PREFETCH):
        p.zx.vmar_op_range(root, op, addr, 4 * P)
    assert committed(p, vmo) == P


def test_op_and_rights_checks_come_first(p: Process) -> None:
    vmo, addr = mapped(p)
    root = p.root_vmar_handle
    assert status(p.zx.vmar_op_range, root, 4, addr, P) == zx.ZX_ERR_INVALID_ARGS  # LOCK is VMO-only
    assert status(p.zx.vmar_op_range, root, 99, 3, 0) == zx.ZX_ERR_INVALID_ARGS
    ro = p.zx.handle_duplicate(root, zx.ZX_RIGHT_READ)
    wo = p.zx.handle_duplicate(root, zx.ZX_RIGHT_WRITE)
    none = p.zx.handle_duplicate(root, 0)
    for op in (COMMIT, DECOMMIT, ZERO):
        assert status(p.zx.vmar_op_range, ro, op, 3, 0) == zx.ZX_ERR_ACCESS_DENIED  # before args
    for op in (MAP_RANGE, PREFETCH):
        assert status(p.zx.vmar_op_range, wo, op, addr, P) == zx.ZX_ERR_ACCESS_DENIED
    for op in (DONT_NEED, ALWAYS_NEED):
        # Hints need no right; this handle lacks OP_CHILDREN, which only matters in sub-VMARs.
        p.zx.vmar_op_range(none, op, addr, P)
    assert status(p.zx.vmar_op_range, vmo, COMMIT, addr, P) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.vmar_op_range, 12345, COMMIT, addr, P) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.vmar_op_range, root, "commit", addr, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_op_range, root, 2**32 + 1, addr, P) == zx.ZX_ERR_INVALID_ARGS
    assert committed(p, vmo) == 0


def test_range_argument_statuses(p: Process) -> None:
    vmo, addr = mapped(p)
    root = p.root_vmar_handle
    op = p.zx.vmar_op_range
    assert status(op, root, COMMIT, addr, P, b"buf", 3) == zx.ZX_ERR_INVALID_ARGS
    assert status(op, root, COMMIT, addr, P, None, 8) == zx.ZX_ERR_INVALID_ARGS
    assert status(op, root, COMMIT, addr + 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(op, root, COMMIT, addr, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(op, root, COMMIT, addr, 2**64 - 1) == zx.ZX_ERR_INVALID_ARGS  # rounds to 0
    assert status(op, root, COMMIT, 0, P) == zx.ZX_ERR_OUT_OF_RANGE  # below the VMAR
    assert status(op, root, COMMIT, 2**47, P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(op, root, COMMIT, addr, 2**65) == zx.ZX_ERR_OUT_OF_RANGE  # > 64 bits
    assert status(op, root, COMMIT, -P, P) == zx.ZX_ERR_OUT_OF_RANGE
    assert committed(p, vmo) == 0


def test_unmapped_ranges_are_bad_state(p: Process) -> None:
    vmo, addr = mapped(p, 2)
    root = p.root_vmar_handle
    for op in ALL_OPS:
        assert status(p.zx.vmar_op_range, root, op, addr, 3 * P) == zx.ZX_ERR_BAD_STATE  # gap at end
        assert status(p.zx.vmar_op_range, root, op, addr - P, 2 * P) == zx.ZX_ERR_BAD_STATE  # before
    # A failing range changes nothing, even where the first part is mapped.
    assert committed(p, vmo) == 0
    sub, base = p.zx.vmar_allocate(root, CAN_RW, 0, 4 * P)
    assert status(p.zx.vmar_op_range, sub, COMMIT, base, P) == zx.ZX_ERR_BAD_STATE  # empty VMAR
    p.zx.vmar_destroy(sub)
    assert status(p.zx.vmar_op_range, sub, COMMIT, base, P) == zx.ZX_ERR_BAD_STATE


def test_mapping_permissions(p: Process) -> None:
    vmo = p.zx.vmo_create(2 * P, 0)
    ro_vmo = p.zx.handle_duplicate(vmo, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP)
    addr = p.zx.vmar_map(p.root_vmar_handle, R, 0, ro_vmo, 0, 2 * P)
    root = p.root_vmar_handle
    for op in (COMMIT, DECOMMIT, ZERO):  # the mapping can never be writable
        assert status(p.zx.vmar_op_range, root, op, addr, P) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_op_range(root, PREFETCH, addr, P)
    # Currently no access, but the maximum allows write: COMMIT works (a notional protect).
    addr2 = p.zx.vmar_map(root, 0, 0, vmo, 0, 2 * P)
    p.zx.vmar_op_range(root, COMMIT, addr2, P)
    assert committed(p, vmo) == P
    none = p.zx.handle_duplicate(vmo, zx.ZX_RIGHT_MAP)
    addr3 = p.zx.vmar_map(root, 0, 0, none, 0, P)
    assert status(p.zx.vmar_op_range, root, PREFETCH, addr3, P) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_op_range(root, MAP_RANGE, addr3, P)


def test_sub_vmar_mappings(p: Process) -> None:
    root = p.root_vmar_handle
    sub, base = p.zx.vmar_allocate(root, CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 4 * P)
    vmo = p.zx.vmo_create(4 * P, 0)
    p.zx.vmar_map(sub, RW | SPEC, 0, vmo, 0, 4 * P)
    p.zx.vmo_write(vmo, b"z" * 4 * P, 0)
    for op in (COMMIT, DECOMMIT, PREFETCH):  # never through a parent
        assert status(p.zx.vmar_op_range, root, op, base, P) == zx.ZX_ERR_INVALID_ARGS
    no_children = p.zx.handle_duplicate(root, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    for op in (ZERO, MAP_RANGE, DONT_NEED, ALWAYS_NEED):
        assert status(p.zx.vmar_op_range, no_children, op, base, P) == zx.ZX_ERR_INVALID_ARGS
    assert p.zx.vmo_read(vmo, 0, 1) == b"z"
    p.zx.vmar_op_range(root, ZERO, base, P)  # with OP_CHILDREN
    assert p.zx.vmo_read(vmo, P - 1, 2) == b"\0z"
    p.zx.vmar_op_range(sub, DECOMMIT, base + P, P)  # through the sub-VMAR's own handle
    assert committed(p, vmo) == 2 * P


def test_decommit_rules_through_mappings(p: Process) -> None:
    root = p.root_vmar_handle
    vmo = p.zx.vmo_create(2 * P, 0)
    snap = p.zx.vmo_create_child(vmo, zx.ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P)
    a = p.zx.vmar_map(root, RW, 0, vmo, 0, 2 * P)
    b = p.zx.vmar_map(root, RW, 0, snap, 0, 2 * P)
    p.zx.vmo_write(vmo, b"1" * P, 0)
    assert status(p.zx.vmar_op_range, root, DECOMMIT, a, P) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(p.zx.vmar_op_range, root, DECOMMIT, b, P) == zx.ZX_ERR_NOT_SUPPORTED
    p.zx.vmar_op_range(root, ZERO, a, P)  # ZERO works where DECOMMIT cannot
    assert p.read_memory(a, 2) == bytes(2)
    # A mapping longer than the VMO: the ops that need the VMO's range fail.
    small = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    c = p.zx.vmar_map(root, RW, 0, small, 0, 2 * P)
    assert status(p.zx.vmar_op_range, root, COMMIT, c, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmar_op_range, root, ZERO, c, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    # DECOMMIT too: the range must lie inside the VMO (GetCowRange), it is not trimmed.
    assert status(p.zx.vmar_op_range, root, DECOMMIT, c, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmar_op_range(root, DECOMMIT, c, P)
    assert committed(p, small) == 0


def test_commit_is_all_or_nothing_when_memory_runs_out(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo"], memory=3 * P)
    p = k.create_process("small")
    vmo = p.zx.vmo_create(4 * P, 0)
    addr = p.zx.vmar_map(p.root_vmar_handle, RW, 0, vmo, 0, 4 * P)
    assert status(p.zx.vmar_op_range, p.root_vmar_handle, COMMIT, addr, 4 * P) == zx.ZX_ERR_NO_MEMORY
    assert committed(p, vmo) == 0 and k.mem.pages_used == 0
    p.zx.vmar_op_range(p.root_vmar_handle, COMMIT, addr, 3 * P)
    assert k.mem.pages_used == 3


# --------------------------------------------------------------------------- protect / unmap / overwrite
def test_protect_through_a_parent_may_only_reduce(p: Process) -> None:
    root = p.root_vmar_handle
    sub, base = p.zx.vmar_allocate(root, CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 4 * P)
    vmo = p.zx.vmo_create(4 * P, 0)
    p.zx.vmar_map(sub, RW | SPEC, 0, vmo, 0, 4 * P)
    no_children = p.zx.handle_duplicate(root, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    assert status(p.zx.vmar_protect, no_children, R, base, P) == zx.ZX_ERR_INVALID_ARGS
    p.zx.vmar_protect(root, R, base, 2 * P)  # reduce: allowed through the parent
    with pytest.raises(MemoryFault):
        p.write_memory(base, b"x")
    assert status(p.zx.vmar_protect, root, RW, base, P) == zx.ZX_ERR_ACCESS_DENIED  # raise: no
    p.zx.vmar_protect(sub, RW, base, P)  # the sub-VMAR's own handle may raise it
    p.write_memory(base, b"x")
    assert status(p.zx.vmar_protect, root, RW, base, 4 * P) == zx.ZX_ERR_ACCESS_DENIED  # page 2 is R
    assert status(p.zx.vmar_protect, root, R, base - P, 2 * P) == zx.ZX_ERR_NOT_FOUND  # hole first


def test_protect_hole_inside_a_sub_vmar_is_not_found(p: Process) -> None:
    root = p.root_vmar_handle
    sub, base = p.zx.vmar_allocate(root, CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 4 * P)
    vmo = p.zx.vmo_create(P, 0)
    p.zx.vmar_map(sub, RW | SPEC, 0, vmo, 0, P)
    assert status(p.zx.vmar_protect, root, R, base, 2 * P) == zx.ZX_ERR_NOT_FOUND
    # Nothing changed: the mapping is still writable.
    p.write_memory(base, b"ok")


def test_specific_overwrite_over_a_sub_vmar(p: Process) -> None:
    root = p.root_vmar_handle
    info = p.zx.object_get_info(root, zx.ZX_INFO_VMAR)
    sub, base = p.zx.vmar_allocate(root, CAN_RW, 0, 2 * P)
    vmo = p.zx.vmo_create(4 * P, 0)
    off = base - info.base
    ow = zx.ZX_VM_SPECIFIC_OVERWRITE
    assert status(p.zx.vmar_map, root, RW | ow, off, vmo, 0, 2 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_map, root, RW | ow, off - P, vmo, 0, 4 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_map, root, RW | SPEC, off, vmo, 0, P) == zx.ZX_ERR_ALREADY_EXISTS
    assert p.zx.object_get_info(sub, zx.ZX_INFO_VMAR).base == base  # still there


def test_unmap_over_sub_vmars(p: Process) -> None:
    root = p.root_vmar_handle
    sub, base = p.zx.vmar_allocate(root, CAN_RW | zx.ZX_VM_CAN_MAP_SPECIFIC, 0, 4 * P)
    vmo = p.zx.vmo_create(4 * P, 0)
    p.zx.vmar_map(sub, RW | SPEC, 0, vmo, 0, 4 * P)
    no_children = p.zx.handle_duplicate(root, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmar_unmap, no_children, base, 4 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmar_unmap, root, base, 2 * P) == zx.ZX_ERR_INVALID_ARGS  # partial
    assert status(p.zx.vmar_unmap, root, base + 1, P) == zx.ZX_ERR_INVALID_ARGS
    p.write_memory(base, b"still mapped")
    p.zx.vmar_unmap(root, base, 4 * P)
    with pytest.raises(MemoryFault):
        p.read_memory(base, 1)
    assert status(p.zx.vmar_map, sub, R, 0, vmo, 0, P) == zx.ZX_ERR_BAD_STATE  # destroyed


def test_range_op_commit_vmo_pages_port(p: Process) -> None:
    """Zircon's Vmar.RangeOpCommitVmoPages, through simulated memory accesses."""
    vmo = p.zx.vmo_create(5 * P, 0)
    flags = zx.ZX_VM_CAN_MAP_SPECIFIC | CAN_RW
    vmar, base = p.zx.vmar_allocate(p.root_vmar_handle, flags, 0, 5 * P)
    assert p.zx.vmar_map(vmar, SPEC | RW, 0, vmo, 0, 2 * P) == base
    p.zx.vmar_map(vmar, SPEC | RW, 2 * P, vmo, 3 * P, P)
    p.zx.vmar_map(vmar, SPEC | R, 4 * P, vmo, P, P)
    p.write_memory(base, b"\x05")
    p.zx.vmar_op_range(vmar, DECOMMIT, base, P)
    assert p.read_memory(base, 1) == b"\0"
    p.write_memory(base + P, b"\x07")
    p.zx.vmar_op_range(vmar, DECOMMIT, base + P, P)
    assert p.read_memory(base + P, 1) == b"\0"
    p.write_memory(base + P, b"\x05")
    p.write_memory(base + 2 * P, b"\x06")
    assert p.read_memory(base + 4 * P, 1) == b"\x05"  # the same VMO page, mapped read-only
    p.zx.vmar_op_range(vmar, DECOMMIT, base + P, 2 * P)
    assert p.read_memory(base + P, 1) == b"\0" and p.read_memory(base + 2 * P, 1) == b"\0"
    assert p.read_memory(base + 4 * P, 1) == b"\0"
    assert status(p.zx.vmar_op_range, vmar, DECOMMIT, base + P, 3 * P) == zx.ZX_ERR_BAD_STATE
    p.zx.vmar_op_range(vmar, DECOMMIT, base + 4 * P, P)  # read-only now, writable maximum
    ro = p.zx.handle_duplicate(vmo, zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_READ)
    a = p.zx.vmar_map(p.root_vmar_handle, R, 0, ro, 0, P)
    assert status(p.zx.vmar_op_range, p.root_vmar_handle, DECOMMIT, a, P) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    p.zx.vmar_unmap(p.root_vmar_handle, base, 5 * P)


def test_range_op_map_range_port(p: Process) -> None:
    """Zircon's Vmar.RangeOpMapRange: MAP_RANGE over committed, partly committed and
    uncommitted pages all succeed (and commit nothing)."""
    vmo = p.zx.vmo_create(4 * P, 0)
    vmar, _base = p.zx.vmar_allocate(p.root_vmar_handle, CAN_RW, 0, 4 * P)
    m = p.zx.vmar_map(vmar, RW, 0, vmo, 0, 4 * P)
    p.zx.vmar_op_range(vmar, MAP_RANGE, m, 4 * P)
    p.zx.vmo_op_range(vmo, zx.ZX_VMO_OP_COMMIT, 0, P)
    p.zx.vmar_op_range(vmar, MAP_RANGE, m, 4 * P)
    p.zx.vmar_op_range(vmar, MAP_RANGE, m + P, 3 * P)
    assert committed(p, vmo) == P


def test_pinned_memory(p: Process) -> None:
    vmo, addr = mapped(p, 2)
    p.zx.vmo_write(vmo, b"p" * 2 * P, 0)
    p.obj(vmo).pin()  # what a BTI pin does (the VMO plugin's public API)
    root = p.root_vmar_handle
    assert status(p.zx.vmar_op_range, root, DECOMMIT, addr, P) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_op_range, vmo, zx.ZX_VMO_OP_DECOMMIT, 0, P) == zx.ZX_ERR_BAD_STATE
    assert p.read_memory(addr, 1) == b"p"
    p.zx.vmar_op_range(root, ZERO, addr, P)  # zeroed in place: pinned pages stay committed
    assert p.read_memory(addr, 2) == bytes(2) and committed(p, vmo) == 2 * P
    p.obj(vmo).unpin()
    p.zx.vmar_op_range(root, DECOMMIT, addr, 2 * P)
    assert committed(p, vmo) == 0
