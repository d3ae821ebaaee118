"""Ports of Zircon's core-tests for snapshot children (zircon/system/utest/core/vmo/vmo-clone2.cc).

Each test is named after the VmoClone2TestCase case it ports. VmoWrite/VmoCheck write and
check a uint32 at an offset; InitPageTaggedVmo tags page i with i + 1; VmoCommittedBytes is
zx_info_vmo_t.committed_bytes. Not ported: the contiguous/physical/pager cases, the
memory-statistics (kernel-wide counters) cases and the thread races.
"""

from __future__ import annotations

import itertools

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process

P = zx.ZX_PAGE_SIZE
SNAP = zx.ZX_VMO_CHILD_SNAPSHOT


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("vmo-clone-core")


def status(fn, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ZxError) as e:
        fn(*args)
    return e.value.status


def write(p: Process, v: int, data: int, offset: int = 0) -> None:
    p.zx.vmo_write(v, data.to_bytes(4, "little"), offset)


def check(p: Process, v: int, data: int, offset: int = 0) -> None:
    assert int.from_bytes(p.zx.vmo_read(v, offset, 4), "little") == data


def tagged(p: Process, pages: int) -> int:
    v = p.zx.vmo_create(pages * P, 0)
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
