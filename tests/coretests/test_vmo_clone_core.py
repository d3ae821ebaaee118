"""Ports of Zircon's core-tests for snapshot children (zircon/system/utest/core/vmo/vmo-clone2.cc).

Each test is named after the VmoClone2TestCase case it ports. VmoWrite/VmoCheck write and
check a uint32 at an offset; InitPageTaggedVmo tags page i with i + 1; VmoCommittedBytes is
zx_info_vmo_t.committed_bytes. Not ported: the contiguous/physical/pager cases, the
memory-statistics (kernel-wide counters) cases and the thread races.
"""

from __future__ import annotations

import itertools

import pytest

from microsim import zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
SNAP = zx.ZX_VMO_CHILD_SNAPSHOT


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("vmo-clone-core")



def write(p: Process, v: int, data: int, offset: int = 0) -> None:
    p.zx.vmo_write(v, data.to_bytes(4, "little"), offset)


def check(p: Process, v: int, data: int, offset: int = 0) -> None:
    assert int.from_bytes(p.zx.vmo_read(v, offset, 4), "little") == data


def tagged(p: Process, pages: int) -> int:
    v = p.zx.vmo_create(pages * P, zx.ZX_VMO_RESIZABLE)
    for i in range(pages):
        write(p, v, i + 1, i * P)
    return v


def committed(p: Process, v: int) -> int:
    return int(p.zx.object_get_info(v, zx.ZX_INFO_VMO).committed_bytes)


def test_info(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    orig = p.zx.object_get_info(v, zx.ZX_INFO_VMO)
    c = p.zx.vmo_create_child(v, SNAP, 0, P)
    new = p.zx.object_get_info(v, zx.ZX_INFO_VMO)
    ci = p.zx.object_get_info(c, zx.ZX_INFO_VMO)
    assert orig.koid == new.koid != ci.koid
    assert ci.parent_koid == orig.koid
    base = zx.ZX_INFO_VMO_TYPE_PAGED | zx.ZX_INFO_VMO_VIA_HANDLE
    assert orig.flags == base and new.flags == base
    assert ci.flags == base | zx.ZX_INFO_VMO_IS_COW_CLONE


def test_read(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    write(p, v, 0xDEADBEEF)
    c = p.zx.vmo_create_child(v, SNAP, 0, P)
    check(p, v, 0xDEADBEEF)
    check(p, c, 0xDEADBEEF)


@pytest.mark.parametrize("clone_write", [True, False], ids=["clone_vmo_write", "parent_vmo_write"])
def test_vmo_write(p: Process, clone_write: bool) -> None:
    """CloneVmoWrite / ParentVmoWrite."""
    v = p.zx.vmo_create(P, 0)
    write(p, v, 0xDEADBEEF)
    c = p.zx.vmo_create_child(v, SNAP, 0, P)
    write(p, c if clone_write else v, 0xC0FFEE)
    check(p, v, 0xDEADBEEF if clone_write else 0xC0FFEE)
    check(p, c, 0xC0FFEE if clone_write else 0xDEADBEEF)


@pytest.mark.parametrize("clone_write", [True, False], ids=["clone_vmar_write", "parent_vmar_write"])
def test_vmar_write(p: Process, clone_write: bool) -> None:
    """CloneVmarWrite / ParentVmarWrite."""
    rw = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE
    v = p.zx.vmo_create(P, 0)
    vm = p.zx.vmar_map(p.root_vmar_handle, rw, 0, v, 0, P)
    p.write_memory(vm, (0xDEADBEEF).to_bytes(4, "little"))
    c = p.zx.vmo_create_child(v, SNAP, 0, P)
    cm = p.zx.vmar_map(p.root_vmar_handle, rw, 0, c, 0, P)
    p.write_memory(cm if clone_write else vm, (0xC0FFEE).to_bytes(4, "little"))
    assert int.from_bytes(p.read_memory(vm, 4), "little") == (0xDEADBEEF if clone_write else 0xC0FFEE)
    assert int.from_bytes(p.read_memory(cm, 4), "little") == (0xC0FFEE if clone_write else 0xDEADBEEF)


@pytest.mark.parametrize("close_orig", [True, False], ids=["close_original", "close_clone"])
def test_close(p: Process, close_orig: bool) -> None:
    """CloseOriginal / CloseClone."""
    v = p.zx.vmo_create(P, 0)
    write(p, v, 0xDEADBEEF)
    c = p.zx.vmo_create_child(v, SNAP, 0, P)
    p.zx.handle_close(v if close_orig else c)
    check(p, c if close_orig else v, 0xDEADBEEF)


def test_obj_mem_accounting(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    write(p, v, 1, 0)
    write(p, v, 1, P)
    assert committed(p, v) == 2 * P
    c = p.zx.vmo_create_child(v, SNAP, 0, 2 * P)
    assert committed(p, v) == 2 * P and committed(p, c) == 0
    write(p, v, 2, 0)
    assert committed(p, v) == 2 * P and committed(p, c) == P
    write(p, c, 2, P)
    assert committed(p, v) == 2 * P and committed(p, c) == 2 * P
    write(p, v, 2, P)
    write(p, c, 2, 0)
    assert committed(p, v) == 2 * P and committed(p, c) == 2 * P


def test_zero_page_write(p: Process) -> None:
    vmos = [p.zx.vmo_create(P, 0)]
    vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, 0, P))
    vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, 0, P))
    vmos.append(p.zx.vmo_create_child(vmos[1], SNAP, 0, P))
    for i in range(4):
        write(p, vmos[i], i + 1)
        for j in range(4):
            check(p, vmos[j], j + 1 if j <= i else 0)
            assert committed(p, vmos[j]) == (P if j <= i else 0)


def test_split_page_closure(p: Process) -> None:
    v = tagged(p, 1)
    c1 = p.zx.vmo_create_child(v, SNAP, 0, P)
    c2 = p.zx.vmo_create_child(c1, SNAP, 0, P)
    write(p, c1, 3)
    write(p, c2, 4)
    assert committed(p, v) == committed(p, c1) == committed(p, c2) == P
    p.zx.handle_close(v)
    check(p, c1, 3)
    check(p, c2, 4)
    assert committed(p, c1) == committed(p, c2) == P
    p.zx.handle_close(c1)
    check(p, c2, 4)
    assert committed(p, c2) == P


def test_offset(p: Process) -> None:
    v = tagged(p, 3)
    c = p.zx.vmo_create_child(v, SNAP, P, 3 * P)
    check(p, c, 2)
    check(p, c, 3, P)
    check(p, c, 0, 2 * P)
    write(p, c, 4, P)
    p.zx.handle_close(v)
    check(p, c, 2)
    check(p, c, 4, P)
    check(p, c, 0, 2 * P)
    assert committed(p, c) == 2 * P


def test_offset_test2(p: Process) -> None:
    v = tagged(p, 4)
    off = p.zx.vmo_create_child(v, SNAP, P, 3 * P)
    c1 = p.zx.vmo_create_child(off, SNAP, 0, 2 * P)
    c2 = p.zx.vmo_create_child(off, SNAP, 2 * P, P)
    check(p, c1, 2)
    check(p, c1, 3, P)
    check(p, c2, 4)
    write(p, off, 4, P)
    p.zx.handle_close(off)
    check(p, c1, 2)
    check(p, c1, 3, P)
    check(p, c2, 4)
    assert committed(p, v) == 4 * P
    assert committed(p, c1) <= 2 * P
    assert committed(p, c2) == 0
    p.zx.handle_close(c1)
    assert committed(p, v) == 4 * P
    assert committed(p, c2) == 0


def test_offset_progressive_write(p: Process) -> None:
    v = tagged(p, 2)
    c = p.zx.vmo_create_child(v, SNAP, P, 2 * P)
    check(p, c, 2)
    write(p, c, 3)
    check(p, c, 3)
    check(p, v, 1)
    check(p, v, 2, P)
    c2 = p.zx.vmo_create_child(c, SNAP, P, P)
    write(p, c, 4)
    assert committed(p, v) == 2 * P
    assert committed(p, c) == P
    assert committed(p, c2) == 0
    p.zx.handle_close(v)
    check(p, c, 4)
    p.zx.handle_close(c2)
    check(p, c, 4)
    assert committed(p, c) == P


def test_overflow(p: Process) -> None:
    v = tagged(p, 1)
    c = p.zx.vmo_create_child(v, SNAP, 0, 2 * P)
    check(p, c, 1)
    check(p, c, 0, P)
    write(p, c, 2, P)
    c2 = p.zx.vmo_create_child(c, SNAP, 0, 3 * P)
    check(p, c2, 1)
    check(p, c2, 2, P)
    check(p, c2, 0, 2 * P)
    write(p, c2, 3, 2 * P)
    check(p, c2, 3, 2 * P)
    assert committed(p, v) == committed(p, c) == committed(p, c2) == P
    write(p, c2, 4, 0)
    write(p, c2, 5, P)
    check(p, v, 1)
    check(p, c, 1)
    check(p, c, 2, P)
    check(p, c2, 4)
    check(p, c2, 5, P)
    check(p, c2, 3, 2 * P)
    assert committed(p, v) <= P and committed(p, c) <= 2 * P and committed(p, c2) <= 3 * P
    p.zx.handle_close(c)
    check(p, v, 1)
    check(p, c2, 4)
    check(p, c2, 5, P)
    check(p, c2, 3, 2 * P)
    assert committed(p, v) == P
    assert committed(p, c2) == 3 * P


def test_out_of_bounds(p: Process) -> None:
    v = tagged(p, 1)
    c = p.zx.vmo_create_child(v, SNAP, 2 * P, 2 * P)
    check(p, c, 0)
    check(p, c, 0, P)
    write(p, c, 2, P)
    c2 = p.zx.vmo_create_child(c, SNAP, 0, 3 * P)
    check(p, c2, 0)
    check(p, c2, 2, P)
    check(p, c2, 0, 2 * P)
    write(p, c2, 3, 2 * P)
    check(p, c2, 3, 2 * P)
    assert committed(p, v) == committed(p, c) == committed(p, c2) == P


def test_small_clone(p: Process) -> None:
    v = tagged(p, 3)
    c = p.zx.vmo_create_child(v, SNAP, P, P)
    check(p, c, 2)
    write(p, v, 4, 0)
    write(p, v, 5, 2 * P)
    assert committed(p, v) == 3 * P and committed(p, c) == 0
    p.zx.handle_close(v)
    check(p, c, 2)
    assert committed(p, c) == P


def test_small_clone_child(p: Process) -> None:
    v = tagged(p, 3)
    c = p.zx.vmo_create_child(v, SNAP, P, P)
    check(p, c, 2)
    c2 = p.zx.vmo_create_child(c, SNAP, 0, 2 * P)
    check(p, c2, 2)
    check(p, c2, 0, P)


def test_small_clones(p: Process) -> None:
    v = tagged(p, 3)
    c = p.zx.vmo_create_child(v, SNAP, 0, 2 * P)
    write(p, c, 4, P)
    c2 = p.zx.vmo_create_child(v, SNAP, 0, P)
    assert committed(p, v) == 3 * P and committed(p, c) == P and committed(p, c2) == 0
    p.zx.handle_close(v)
    assert committed(p, c) + committed(p, c2) == 2 * P
    assert committed(p, c) <= 2 * P and committed(p, c2) <= P


def _disjoint(p: Process) -> tuple[int, int, list[int]]:
    v = tagged(p, 4)
    c = p.zx.vmo_create_child(v, SNAP, P, 2 * P)
    leaves = [
        p.zx.vmo_create_child(v, SNAP, 0, P),
        p.zx.vmo_create_child(c, SNAP, 0, P),
        p.zx.vmo_create_child(c, SNAP, P, P),
        p.zx.vmo_create_child(v, SNAP, 3 * P, P),
    ]
    return v, c, leaves


@pytest.mark.parametrize("early_close", [True, False], ids=["disjoint_clone_early_close", "disjoint_clone_late_close"])
def test_disjoint_clones(p: Process, early_close: bool) -> None:
    """DisjointCloneEarlyClose / DisjointCloneLateClose."""
    v, c, leaves = _disjoint(p)
    if early_close:
        p.zx.handle_close(v)
        p.zx.handle_close(c)
    for i, leaf in enumerate(leaves):
        check(p, leaf, i + 1)
        write(p, leaf, i + 5)
    if not early_close:
        p.zx.handle_close(v)
        p.zx.handle_close(c)
    for i, leaf in enumerate(leaves):
        check(p, leaf, i + 5)
        assert committed(p, leaf) == P


def test_disjoint_clone_test2(p: Process) -> None:
    for perm in itertools.permutations(range(4)):
        v, c, leaves = _disjoint(p)
        p.zx.handle_close(v)
        p.zx.handle_close(c)
        for i, leaf in enumerate(leaves):
            check(p, leaf, i + 1)
        closed: set[int] = set()
        for i in perm:
            p.zx.handle_close(leaves[i])
            closed.add(i)
            for j in range(4):
                if j not in closed:
                    check(p, leaves[j], j + 1)
                    assert committed(p, leaves[j]) == P


def test_disjoint_clone_progressive(p: Process) -> None:
    v = tagged(p, 6)
    main = p.zx.vmo_create_child(v, SNAP, P, 5 * P)
    write(p, main, 7, 3 * P)
    clones = [p.zx.vmo_create_child(main, SNAP, off * P, n * P) for off, n in ((1, 4), (4, 1), (2, 1), (10, 1))]
    p.zx.handle_close(main)
    for i in (0, 2, 3, 1):
        p.zx.handle_close(clones[i])
    last = p.zx.vmo_create_child(v, SNAP, 0, 6 * P)
    for i in range(6):
        check(p, v, i + 1, i * P)
        check(p, last, i + 1, i * P)
    write(p, v, 8, 4 * P)
    for i in range(6):
        check(p, v, 8 if i == 4 else i + 1, i * P)
        check(p, last, i + 1, i * P)


@pytest.mark.parametrize("resize_child", [True, False], ids=["resize_child", "resize_original"])
def test_resize(p: Process, resize_child: bool) -> None:
    """VmoCloneResizeTests.ResizeChild / ResizeOriginal (non-contiguous)."""
    v = p.zx.vmo_create(4 * P, zx.ZX_VMO_RESIZABLE)
    for i in range(4):
        write(p, v, i + 1, i * P)
    c = p.zx.vmo_create_child(v, SNAP | zx.ZX_VMO_CHILD_RESIZABLE, 0, 4 * P)
    write(p, v, 5, P)
    write(p, c, 5, 2 * P)
    assert committed(p, v) == 4 * P and committed(p, c) == 2 * P
    target, other = (c, v) if resize_child else (v, c)
    p.zx.vmo_set_size(target, P)
    written = 1 if resize_child else 2
    for i in range(4):
        check(p, other, 5 if i == written else i + 1, i * P)
    check(p, target, 1)
    assert committed(p, v) == (4 if resize_child else 1) * P
    assert committed(p, c) == (0 if resize_child else 3) * P
    p.zx.vmo_set_size(target, 2 * P)
    check(p, target, 0, P)
    write(p, other, 6, 3 * P)
    assert committed(p, v) == (4 if resize_child else 1) * P
    assert committed(p, c) == (0 if resize_child else 3) * P
    p.zx.handle_close(other)
    check(p, target, 1)
    assert committed(p, target) == P


def test_resize_grow(p: Process) -> None:
    v = tagged(p, 2)
    c = p.zx.vmo_create_child(v, SNAP | zx.ZX_VMO_CHILD_RESIZABLE, 0, P)
    check(p, c, 1)
    p.zx.vmo_set_size(c, 2 * P)
    check(p, c, 0, P)
    write(p, v, 3, P)
    check(p, c, 0, P)
    assert committed(p, v) == 2 * P and committed(p, c) == 0


def test_resize_offset_child(p: Process) -> None:
    v = tagged(p, 3)
    c = p.zx.vmo_create_child(v, SNAP, P, P)
    p.zx.vmo_set_size(v, 0)
    check(p, c, 2)
    assert committed(p, v) == 0 and committed(p, c) == P


def test_resize_disjoint_child(p: Process) -> None:
    for perm in itertools.permutations(range(3)):
        v = tagged(p, 3)
        clones = []
        for i in range(3):
            clones.append(p.zx.vmo_create_child(v, SNAP | zx.ZX_VMO_CHILD_RESIZABLE, i * P, P))
            check(p, clones[i], i + 1)
            assert committed(p, clones[i]) == 0
        assert committed(p, v) == 3 * P
        p.zx.vmo_set_size(clones[perm[0]], 0)
        p.zx.vmo_set_size(clones[perm[1]], 0)
        p.zx.vmo_set_size(v, 0)
        check(p, clones[perm[2]], perm[2] + 1)
        assert committed(p, v) == 0
        assert committed(p, clones[perm[0]]) == committed(p, clones[perm[1]]) == 0
        assert committed(p, clones[perm[2]]) == P
        p.zx.vmo_set_size(clones[perm[2]], 0)
        assert committed(p, clones[perm[2]]) == 0


def test_resize_multiple_progressive(p: Process) -> None:
    v = tagged(p, 3)
    c = p.zx.vmo_create_child(v, SNAP | zx.ZX_VMO_CHILD_RESIZABLE, 0, 2 * P)
    write(p, v, 4, 0)
    write(p, c, 5, P)
    c2 = p.zx.vmo_create_child(v, SNAP, 0, P)
    p.zx.vmo_set_size(c, 0)
    check(p, v, 4, 0)
    check(p, v, 2, P)
    check(p, v, 3, 2 * P)
    check(p, c2, 4)
    assert committed(p, v) == 3 * P and committed(p, c) == 0 and committed(p, c2) == 0
    p.zx.vmo_set_size(v, 0)
    check(p, c2, 4)
    assert committed(p, v) == 0
    assert committed(p, c) + committed(p, c2) == P


def test_resize_over_sibling_range(p: Process) -> None:
    v = tagged(p, 4)
    p.zx.vmo_create_child(v, SNAP, 0, 4 * P)
    p.zx.vmo_create_child(v, SNAP | zx.ZX_VMO_CHILD_RESIZABLE, 2 * P, P)
    p.zx.vmo_set_size(v, P)
    p.zx.vmo_set_size(v, 4 * P)
    check(p, v, 1, 0)
    for i in (1, 2, 3):
        check(p, v, 0, i * P)
    for i in (1, 2, 3):
        write(p, v, i + 1, i * P)
        check(p, v, i + 1, i * P)


def test_children(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN
    c = p.zx.vmo_create_child(v, SNAP, 0, P)
    assert status(p.zx.object_wait_one, v, zx.ZX_VMO_ZERO_CHILDREN, 0) == zx.ZX_ERR_TIMED_OUT
    assert p.zx.object_wait_one(c, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN
    p.zx.handle_close(c)
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN


@pytest.mark.parametrize("reverse", [False, True], ids=["many_children", "many_children_rev_close"])
def test_many_children(p: Process, reverse: bool) -> None:
    """ManyChildren / ManyChildrenRevClose."""
    v = p.zx.vmo_create(P, 0)
    clones = []
    for i in range(5):
        clones.append(p.zx.vmo_create_child(v, SNAP, 0, P))
        assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_children == i + 1
    order = list(reversed(range(5))) if reverse else list(range(5))
    for n, i in enumerate(order):
        p.zx.handle_close(clones[i])
        assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_children == 5 - n - 1
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN


def test_many_clone_mapping(p: Process) -> None:
    rw = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE
    orig, new = (0xDEADBEEF).to_bytes(4, "little"), (0xC0FFEE).to_bytes(4, "little")
    for perm in itertools.permutations(range(4)):
        vmos = [p.zx.vmo_create(P, 0)]
        write(p, vmos[0], 0xDEADBEEF)
        vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, 0, P))
        vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, 0, P))
        vmos.append(p.zx.vmo_create_child(vmos[1], SNAP, 0, P))
        maps = [p.zx.vmar_map(p.root_vmar_handle, rw, 0, v, 0, P) for v in vmos]
        assert all(p.read_memory(m, 4) == orig for m in maps)
        written: set[int] = set()
        for i in perm:
            p.write_memory(maps[i], new)
            written.add(i)
            for j in range(4):
                assert p.read_memory(maps[j], 4) == (new if j in written else orig)
        for m in maps:
            p.zx.vmar_unmap(p.root_vmar_handle, m, P)
        p.zx.handle_close_many(vmos)


def test_many_clone_offset(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    write(p, v, 1)
    c1 = p.zx.vmo_create_child(v, SNAP, 0, P)
    p.zx.vmo_create_child(c1, SNAP, P, P)
    write(p, c1, 1)
    p.zx.handle_close(c1)
    check(p, v, 1)


def test_many_clone_mapping_offset(p: Process) -> None:
    rw = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE
    vmos = [p.zx.vmo_create(2 * P, 0)]
    write(p, vmos[0], 1)
    vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, 0, 2 * P))
    vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, P, P))
    vmos.append(p.zx.vmo_create_child(vmos[0], SNAP, 0, 2 * P))
    maps = [p.zx.vmar_map(p.root_vmar_handle, rw, 0, v, 0, P) for v in vmos]
    for i in (0, 1, 3):
        assert int.from_bytes(p.read_memory(maps[i], 4), "little") == 1
    write(p, vmos[3], 2)
    write(p, vmos[1], 3)
    assert [int.from_bytes(p.read_memory(maps[i], 4), "little") for i in (1, 3, 0)] == [3, 2, 1]
    for i in range(4):
        assert committed(p, vmos[i]) == (P if i != 2 else 0)


@pytest.mark.parametrize("close", [True, False], ids=["progressive_clone_close", "progressive_clone_truncate"])
def test_progressive_clone_discard(p: Process, close: bool) -> None:
    """ProgressiveCloneDiscardTests.ProgressiveCloneClose / ProgressiveCloneTruncate."""
    n = 6
    vmos = [tagged(p, n)]
    assert committed(p, vmos[0]) == n * P
    for i in range(1, n):
        vmos.append(p.zx.vmo_create_child(vmos[0], SNAP | zx.ZX_VMO_CHILD_RESIZABLE, 0, n * P))
        write(p, vmos[i], n + 2, i * P)
    for i in range(n):
        assert committed(p, vmos[i]) == (n - i) * P
    for i in range(n):
        for j in range(n):
            check(p, vmos[i], n + 2 if (i != 0 and j == i) else j + 1, j * P)
    if close:
        p.zx.handle_close(vmos[0])
    else:
        p.zx.vmo_set_size(vmos[0], 0)
    for i in range(1, n):
        for j in range(n):
            check(p, vmos[i], n + 2 if j == i else j + 1, j * P)
    assert sum(committed(p, vmos[i]) for i in range(1, n)) == (n * (n + 1) // 2 - 1) * P
    for i in range(1, n - 2):
        if close:
            p.zx.handle_close(vmos[i])
        else:
            p.zx.vmo_set_size(vmos[i], 0)
    for i in range(n - 2, n):
        for j in range(n):
            check(p, vmos[i], n + 2 if j == i else j + 1, j * P)


def test_uncached(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    m = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, v, 0, P)
    p.write_memory(m, (0xDEADBEEF).to_bytes(4, "little"))
    assert status(p.zx.vmo_create_child, v, SNAP, 0, P) == zx.ZX_ERR_BAD_STATE
    assert p.read_memory(m, 4) == (0xDEADBEEF).to_bytes(4, "little")


def test_parent_start_limit_regression(p: Process) -> None:
    r = p.zx.vmo_create(0x3000, 0)
    m = p.zx.vmo_create_child(r, SNAP, 0x1000, 0x2000)
    c = p.zx.vmo_create_child(m, SNAP, 0, 0x1000)
    s = p.zx.vmo_create_child(r, SNAP, 0x2000, 0x1000)
    p.zx.handle_close(r)
    h = p.zx.vmo_create_child(m, SNAP, 0x1000, 0x1000)
    p.zx.handle_close(m)
    hc = p.zx.vmo_create_child(h, SNAP, 0, 0x1000)
    p.zx.handle_close(c)
    for v in (s, h, hc):
        check(p, v, 0)


def test_drop_children_in_parallel(p: Process) -> None:
    """The single-threaded outcome of dropping both children of a hidden parent."""
    for _ in range(10):
        v = p.zx.vmo_create(P, 0)
        c = p.zx.vmo_create_child(v, SNAP, 0, P)
        p.zx.handle_close(c)
        p.zx.handle_close(v)


def test_no_accumulated_overflow(p: Process) -> None:
    v = p.zx.vmo_create(0, 0)
    c1 = p.zx.vmo_create_child(v, SNAP, 0xFFFFFFFFFFFF8000, 0)
    assert status(p.zx.vmo_create_child, c1, SNAP, 0x8000, 0) == zx.ZX_ERR_INVALID_ARGS
    c2 = p.zx.vmo_create_child(c1, SNAP | zx.ZX_VMO_CHILD_RESIZABLE, 0x4000, 0)
    assert status(p.zx.vmo_set_size, c2, 0x8000) == zx.ZX_ERR_INVALID_ARGS


def test_marker_clears_split_bits(p: Process) -> None:
    v = p.zx.vmo_create(3 * P, 0)
    p.zx.vmo_write(v, (42).to_bytes(8, "little"), P)
    c = p.zx.vmo_create_child(v, SNAP, 0, 3 * P)
    p.zx.vmo_write(c, (42).to_bytes(8, "little"), P)
    p.zx.vmo_op_range(c, zx.ZX_VMO_OP_ZERO, P, P)
    assert p.zx.vmo_read(c, P, 8) == bytes(8)
    p.zx.handle_close(c)
    c = p.zx.vmo_create_child(v, SNAP, 0, 3 * P)
    p.zx.vmo_write(c, (42).to_bytes(8, "little"), P)


def test_map_range_read_only(p: Process) -> None:
    n = 5
    v = p.zx.vmo_create(n * P, 0)
    for i in range(n):
        p.zx.vmo_write(v, (77).to_bytes(8, "little"), i * P)
    assert committed(p, v) == n * P
    c = p.zx.vmo_create_child(v, SNAP, 0, n * P)
    p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_MAP_RANGE | zx.ZX_VM_PERM_READ, 0, c, 0, n * P)
    assert committed(p, c) == 0
    assert committed(p, v) == n * P


def test_drop_parent_committed_bytes(p: Process) -> None:
    for _ in range(10):
        v = tagged(p, 3)
        c = p.zx.vmo_create_child(v, SNAP, P, 2 * P)
        check(p, c, 2)
        check(p, c, 3, P)
        write(p, c, 4, P)
        assert committed(p, c) == P
        p.zx.handle_close(v)
        check(p, c, 2)
        check(p, c, 4, P)
        assert committed(p, c) == 2 * P


# ------------------------------------------------------------------- vmo-zero.cc (VmoZeroTestCase)
ZERO = zx.ZX_VMO_OP_ZERO


def test_zero_unaligned_sub_page(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"\xff" * P, 0)
    p.zx.vmo_op_range(v, ZERO, 42, 91)
    data = p.zx.vmo_read(v, 0, P)
    assert data == b"\xff" * 42 + bytes(91) + b"\xff" * (P - 42 - 91)


def test_zero_unaligned_committed(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    p.zx.vmo_write(v, b"\xff" * 2 * P, 0)
    p.zx.vmo_op_range(v, ZERO, P // 2, P)
    assert p.zx.vmo_read(v, 0, 2 * P) == b"\xff" * (P // 2) + bytes(P) + b"\xff" * (P // 2)


def test_zero_unaligned_un_committed(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    assert committed(p, v) == 0
    p.zx.vmo_op_range(v, ZERO, P // 2, P)
    assert committed(p, v) == 0


def test_zero_decommit_middle(p: Process) -> None:
    v = p.zx.vmo_create(3 * P, 0)
    p.zx.vmo_write(v, b"\xff" * 3 * P, 0)
    assert committed(p, v) == 3 * P
    p.zx.vmo_op_range(v, ZERO, P // 2, 2 * P)
    assert committed(p, v) == 2 * P


def test_zero_content_in_parent_and_child(p: Process) -> None:
    parent = p.zx.vmo_create(2 * P, 0)
    write(p, parent, 1, 0)
    child = p.zx.vmo_create_child(parent, SNAP, 0, 2 * P)
    write(p, child, 2, 0)
    p.zx.vmo_op_range(child, ZERO, 0, P)
    check(p, child, 0, 0)


def test_zero_empty_cow_children(p: Process) -> None:
    parent = p.zx.vmo_create(2 * P, 0)
    write(p, parent, 1, 0)
    child = p.zx.vmo_create_child(parent, SNAP, 0, 2 * P)
    assert committed(p, parent) == P and committed(p, child) == 0
    check(p, child, 1, 0)
    p.zx.vmo_op_range(child, ZERO, 0, P)
    check(p, child, 0, 0)
    assert committed(p, parent) == P and committed(p, child) == 0
    p.zx.vmo_op_range(parent, ZERO, 0, P)
    check(p, parent, 0, 0)
    assert committed(p, parent) == 0 and committed(p, child) == 0


def test_zero_merge_zero_children(p: Process) -> None:
    parent = p.zx.vmo_create(2 * P, 0)
    write(p, parent, 1, 0)
    child = p.zx.vmo_create_child(parent, SNAP, 0, P)
    assert committed(p, parent) == P and committed(p, child) == 0
    p.zx.vmo_op_range(parent, ZERO, 0, P)
    assert committed(p, parent) == 0 and committed(p, child) == P
    p.zx.handle_close(child)
    assert committed(p, parent) == 0


def test_zero_allocate_after_merge(p: Process) -> None:
    parent = tagged(p, 2)
    child = p.zx.vmo_create_child(parent, SNAP, 0, 2 * P)
    check(p, child, 1, 0)
    check(p, child, 2, P)
    assert committed(p, parent) + committed(p, child) == 2 * P
    p.zx.vmo_op_range(child, ZERO, 0, P)
    assert committed(p, parent) + committed(p, child) == 2 * P
    p.zx.handle_close(parent)
    assert committed(p, child) == P
    check(p, child, 0, 0)
    check(p, child, 2, P)


def test_zero_allocate_after_merge_hidden_child(p: Process) -> None:
    parent = tagged(p, 3)
    c1 = p.zx.vmo_create_child(parent, SNAP, 0, 3 * P)
    assert committed(p, parent) + committed(p, c1) == 3 * P
    p.zx.vmo_op_range(parent, ZERO, 0, P)
    assert committed(p, parent) + committed(p, c1) == 3 * P
    c2 = p.zx.vmo_create_child(parent, SNAP, 0, 3 * P)
    p.zx.vmo_op_range(c1, ZERO, P, P)
    total = committed(p, parent) + committed(p, c1) + committed(p, c2)
    assert total == 3 * P
    check(p, c2, 0, 0)
    check(p, c2, 2, P)
    check(p, c2, 3, 2 * P)
    check(p, c1, 1, 0)
    check(p, c1, 0, P)
    check(p, c1, 3, 2 * P)
    p.zx.handle_close(c1)
    for v in (parent, c2):
        check(p, v, 0, 0)
        check(p, v, 2, P)
        check(p, v, 3, 2 * P)
    assert committed(p, parent) == 2 * P and committed(p, c2) == 0
    write(p, parent, 1, 64)
    check(p, parent, 0, 0)
    assert committed(p, parent) + committed(p, c2) == 3 * P
    write(p, c2, 5, P + 64)
    check(p, c2, 2, P)
    check(p, parent, 0, P + 64)
    check(p, parent, 2, P)
    assert committed(p, parent) + committed(p, c2) == 4 * P


def test_zero_write_cow_parent(p: Process) -> None:
    parent = p.zx.vmo_create(2 * P, 0)
    write(p, parent, 1, 0)
    child = p.zx.vmo_create_child(parent, SNAP, 0, 2 * P)
    assert committed(p, parent) == P and committed(p, child) == 0
    check(p, parent, 1, 0)
    write(p, parent, 2, 0)
    assert committed(p, parent) == P and committed(p, child) == P
    check(p, child, 1, 0)
    p.zx.vmo_op_range(child, ZERO, 0, P)
    check(p, child, 0, 0)
    check(p, parent, 2, 0)
    assert committed(p, parent) == P and committed(p, child) == 0
    p.zx.handle_close(parent)
    check(p, child, 0, 0)
    assert committed(p, child) == 0


def test_zero_child_zero_then_write(p: Process) -> None:
    parent = p.zx.vmo_create(2 * P, 0)
    write(p, parent, 1, 0)
    child = p.zx.vmo_create_child(parent, SNAP, 0, 2 * P)
    p.zx.vmo_op_range(child, ZERO, 0, P)
    assert committed(p, parent) == P and committed(p, child) == 0
    write(p, child, 1, 0)
    assert committed(p, parent) == P and committed(p, child) == P
    p.zx.handle_close(parent)
    assert committed(p, child) == P


def test_zero_nested(p: Process) -> None:
    parent = p.zx.vmo_create(2 * P, 0)
    write(p, parent, 1, 0)
    c1 = p.zx.vmo_create_child(parent, SNAP, 0, P)
    c2 = p.zx.vmo_create_child(parent, SNAP, 0, P)
    assert (committed(p, parent), committed(p, c1), committed(p, c2)) == (P, 0, 0)
    p.zx.vmo_op_range(parent, ZERO, 0, P)
    assert (committed(p, parent), committed(p, c1), committed(p, c2)) == (0, P, P)


def test_zero_lengths(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    for off in (0, 10, P):
        p.zx.vmo_op_range(v, ZERO, off, 0)


def test_zero_frees_and_allocates(p: Process) -> None:
    """VmoZeroTestcase.ZeroFreesAndAllocates."""
    parent = p.zx.vmo_create(3 * P, 0)
    write(p, parent, 1, P)
    inter = p.zx.vmo_create_child(parent, SNAP, 0, 3 * P)
    child = p.zx.vmo_create_child(inter, SNAP, 0, 3 * P)
    write(p, child, 1, 0)
    p.zx.vmo_op_range(child, ZERO, 0, 2 * P)
    check(p, child, 0, 0)
    check(p, child, 0, P)
    check(p, inter, 1, P)
    check(p, parent, 1, P)


def test_zero_resize_over_hidden_markers(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, zx.ZX_VMO_RESIZABLE)
    write(p, v, 1, 2 * P)
    p.zx.vmo_create_child(v, SNAP, 0, 4 * P)
    p.zx.vmo_op_range(v, ZERO, 2 * P, P)
    sibling = p.zx.vmo_create_child(v, SNAP, 2 * P, P)
    check(p, sibling, 0, 0)
    p.zx.vmo_set_size(v, P)
    check(p, sibling, 0, 0)
    write(p, sibling, 1, 0)
    check(p, sibling, 1, 0)


def test_decommit_refused_while_pages_are_shared(p: Process) -> None:
    """A VMO whose snapshot child was itself snapshotted still shares a hidden parent after
    the child goes: DECOMMIT stays NOT_SUPPORTED (it would uncover the shared pages)."""
    v = tagged(p, 2)
    c = p.zx.vmo_create_child(v, SNAP, 0, 2 * P)
    g = p.zx.vmo_create_child(c, SNAP, 0, 2 * P)
    p.zx.handle_close(c)
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_DECOMMIT, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    check(p, v, 1)
    p.zx.handle_close(g)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, P)
    check(p, v, 0)
    check(p, v, 2, P)
