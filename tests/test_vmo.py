"""The VMO plugin through the syscall API (Zircon's vmo.cc core-tests, ported)."""

from __future__ import annotations

import tracemalloc

import pytest

from microsim import zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
U64 = 2**64 - 1


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["vmo"]).create_process("vmo-test")



def test_create_sizes_and_options(p: Process) -> None:
    for i in range(16):
        v = p.zx.vmo_create(i * P, 0)
        assert p.zx.vmo_get_size(v) == i * P
    for s in (0, 1, P - 1, P, P + 1, 4 * P - 1):
        assert p.zx.vmo_get_size(p.zx.vmo_create(s, 0)) == (s + P - 1) // P * P
    assert status(p.zx.vmo_create, P, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create, P, zx.ZX_VMO_RESIZABLE | zx.ZX_VMO_UNBOUNDED) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create, U64, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_create, -1, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_create, "big", 0) == zx.ZX_ERR_INVALID_ARGS
    rights = p.zx.object_get_info(p.zx.vmo_create(P, 0), zx.ZX_INFO_HANDLE_BASIC).rights
    assert rights == zx.ZX_DEFAULT_VMO_RIGHTS
    r = p.zx.object_get_info(p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE), zx.ZX_INFO_HANDLE_BASIC).rights
    assert r == zx.ZX_DEFAULT_VMO_RIGHTS | zx.ZX_RIGHT_RESIZE


def test_unbounded(p: Process) -> None:
    v = p.zx.vmo_create(42, zx.ZX_VMO_UNBOUNDED)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == 42
    assert p.zx.vmo_get_size(v) > 2**60
    p.zx.vmo_write(v, b"far", 2**50)
    assert p.zx.vmo_read(v, 2**50, 3) == b"far"


def test_read_write_ranges(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    assert p.zx.vmo_read(v, 0, 16) == bytes(16)
    p.zx.vmo_write(v, b"abc", P - 1)
    assert p.zx.vmo_read(v, P - 1, 3) == b"abc"
    assert p.zx.vmo_read(v, 2 * P, 0) == b""
    p.zx.vmo_write(v, b"", 2 * P)
    assert status(p.zx.vmo_read, v, 2 * P + 1, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_read, v, 2 * P - 1, 2) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_write, v, b"xx", 2 * P - 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_read, v, 1, U64) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_read, v, U64, 2) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_write, v, "text", 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_read, v, -1, 1) == zx.ZX_ERR_OUT_OF_RANGE


def test_rights_and_wrong_type(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    wo = p.zx.handle_duplicate(v, zx.ZX_RIGHT_WRITE)
    assert status(p.zx.vmo_write, ro, b"x", 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.vmo_read, wo, 0, 1) == zx.ZX_ERR_ACCESS_DENIED
    no_rights = p.zx.handle_duplicate(p.self_handle, 0)
    assert status(p.zx.vmo_read, no_rights, 0, 1) == zx.ZX_ERR_WRONG_TYPE  # type first
    assert status(p.zx.vmo_get_size, p.self_handle) == zx.ZX_ERR_WRONG_TYPE
    assert p.zx.vmo_get_size(p.zx.handle_duplicate(v, 0)) == P  # no rights needed


def test_resize(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    p.zx.vmo_write(v, b"x" * P, 0)
    p.zx.vmo_set_size(v, 5461)
    assert p.zx.vmo_get_size(v) == 2 * P
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == 5461
    assert p.zx.vmo_read(v, P, 16) == bytes(16)
    p.zx.vmo_set_size(v, 10)
    assert p.zx.vmo_read(v, 0, 12) == b"x" * 10 + bytes(2)  # the tail of the page is zeroed
    assert status(p.zx.vmo_set_size, v, U64) == zx.ZX_ERR_OUT_OF_RANGE
    no_resize = p.zx.handle_duplicate(v, zx.ZX_DEFAULT_VMO_RIGHTS)
    assert status(p.zx.vmo_set_size, no_resize, P) == zx.ZX_ERR_ACCESS_DENIED
    fixed = p.zx.vmo_create(P, 0)
    assert status(p.zx.vmo_set_size, fixed, 2 * P) == zx.ZX_ERR_UNAVAILABLE
    assert status(p.zx.vmo_set_size, fixed, 0) == zx.ZX_ERR_UNAVAILABLE
    ro = p.zx.handle_duplicate(fixed, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_set_size, ro, P) == zx.ZX_ERR_ACCESS_DENIED


def test_content_size_property(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == P
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, P + 15643)
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == P + 15643
    assert p.zx.vmo_get_size(v) == P
    assert status(p.zx.object_get_property, v, zx.ZX_PROP_VMO_CONTENT_SIZE, 4) == zx.ZX_ERR_BUFFER_TOO_SMALL
    no_write = p.zx.handle_duplicate(v, zx.ZX_DEFAULT_VMO_RIGHTS & ~zx.ZX_RIGHT_WRITE)
    assert status(p.zx.object_set_property, no_write, zx.ZX_PROP_VMO_CONTENT_SIZE, 1) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.vmo_write(v, b"zz", 100)
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, 100)
    assert p.zx.vmo_read(v, 100, 2) == bytes(2)  # bytes beyond the content size are zeroed


def test_op_range(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0, 2 * P)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).committed_bytes == 2 * P
    p.zx.vmo_write(v, b"data", P)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, 2 * P)
    assert p.zx.vmo_read(v, P, 4) == bytes(4)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).committed_bytes == 0
    p.zx.vmo_write(v, b"data", 10)
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_ZERO, 10, 2)
    assert p.zx.vmo_read(v, 10, 4) == b"\0\0ta"
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_DECOMMIT, 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_COMMIT, 0, 5 * P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_op_range, v, 99, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_LOCK, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_CACHE_SYNC, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_op_range, ro, zx.ZX_VMO_OP_COMMIT, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    d = p.zx.vmo_create(P, zx.ZX_VMO_DISCARDABLE)
    assert status(p.zx.vmo_op_range, d, zx.ZX_VMO_OP_UNLOCK, 0, P) == zx.ZX_ERR_BAD_STATE
    p.zx.vmo_op_range(d, zx.ZX_VMO_OP_TRY_LOCK, 0, P)
    p.zx.vmo_op_range(d, zx.ZX_VMO_OP_UNLOCK, 0, P)


def test_snapshot_isolation_both_ways(p: Process) -> None:
    v = p.zx.vmo_create(2 * P, 0)
    p.zx.vmo_write(v, b"parent", 0)
    for kind in (zx.ZX_VMO_CHILD_SNAPSHOT, zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE):
        c = p.zx.vmo_create_child(v, kind, 0, 3 * P)
        assert p.zx.vmo_read(c, 0, 6) == b"parent"
        assert p.zx.vmo_read(c, 2 * P, 4) == bytes(4)  # beyond the parent reads zeros
        p.zx.vmo_write(c, b"CHILD!", 0)
        assert p.zx.vmo_read(v, 0, 6) == b"parent"
        p.zx.vmo_write(v, b"PARENT", 0)
        assert p.zx.vmo_read(c, 0, 6) == b"CHILD!"
        p.zx.vmo_write(v, b"parent", 0)
        info = p.zx.object_get_info(c, zx.ZX_INFO_VMO)
        assert info.flags & zx.ZX_INFO_VMO_IS_COW_CLONE and info.parent_koid


def test_slice_and_reference_share_pages(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    s = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SLICE, P, 2 * P)
    p.zx.vmo_write(s, b"slice", 0)
    assert p.zx.vmo_read(v, P, 5) == b"slice"
    p.zx.vmo_write(v, b"both", 2 * P)
    assert p.zx.vmo_read(s, P, 4) == b"both"
    assert status(p.zx.vmo_read, s, 2 * P, 1) == zx.ZX_ERR_OUT_OF_RANGE
    r = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    p.zx.vmo_write(r, b"ref", 0)
    assert p.zx.vmo_read(v, 0, 3) == b"ref"
    assert p.zx.vmo_get_size(r) == 4 * P
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SLICE, 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SLICE | zx.ZX_VMO_CHILD_RESIZABLE, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_REFERENCE | zx.ZX_VMO_CHILD_SNAPSHOT, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    resizable = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    assert status(p.zx.vmo_create_child, resizable, zx.ZX_VMO_CHILD_SLICE, 0, P) == zx.ZX_ERR_NOT_SUPPORTED


def test_child_errors_and_rights(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert status(p.zx.vmo_create_child, v, 0, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SNAPSHOT | 0x1000, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SNAPSHOT, 1, P) == zx.ZX_ERR_INVALID_ARGS
    nw_rs = zx.ZX_VMO_CHILD_SNAPSHOT | zx.ZX_VMO_CHILD_NO_WRITE | zx.ZX_VMO_CHILD_RESIZABLE
    assert status(p.zx.vmo_create_child, v, nw_rs, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, U64) == zx.ZX_ERR_OUT_OF_RANGE
    no_dup = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_create_child, no_dup, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    d = p.zx.vmo_create(P, zx.ZX_VMO_DISCARDABLE)
    assert status(p.zx.vmo_create_child, d, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    # Child rights: parent's minus RESIZE, plus properties; snapshots add WRITE, drop EXECUTE.
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP)
    snap = p.zx.vmo_create_child(ro, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    want = zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP | zx.ZX_RIGHTS_PROPERTY | zx.ZX_RIGHT_WRITE
    assert p.zx.object_get_info(snap, zx.ZX_INFO_HANDLE_BASIC).rights == want
    nw = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT | zx.ZX_VMO_CHILD_NO_WRITE, 0, P)
    assert not p.zx.object_get_info(nw, zx.ZX_INFO_HANDLE_BASIC).rights & zx.ZX_RIGHT_WRITE
    sl = p.zx.vmo_create_child(ro, zx.ZX_VMO_CHILD_SLICE, 0, P)
    assert p.zx.object_get_info(sl, zx.ZX_INFO_HANDLE_BASIC).rights == want & ~zx.ZX_RIGHT_WRITE
    rc = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT | zx.ZX_VMO_CHILD_RESIZABLE, 0, P)
    assert p.zx.object_get_info(rc, zx.ZX_INFO_HANDLE_BASIC).rights & zx.ZX_RIGHT_RESIZE
    p.zx.vmo_set_size(rc, 3 * P)  # a resizable child of a fixed-size parent


def test_zero_children_signal_lifecycle(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN
    kids = []
    for kind in (zx.ZX_VMO_CHILD_SNAPSHOT, zx.ZX_VMO_CHILD_SLICE, zx.ZX_VMO_CHILD_REFERENCE):
        kids.append(p.zx.vmo_create_child(v, kind, 0, 0 if kind == zx.ZX_VMO_CHILD_REFERENCE else P))
        assert status(p.zx.object_wait_one, v, zx.ZX_VMO_ZERO_CHILDREN, zx.ZX_TIME_INFINITE_PAST) == zx.ZX_ERR_TIMED_OUT
        assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_children == len(kids)
        assert p.zx.object_wait_one(kids[-1], zx.ZX_VMO_ZERO_CHILDREN, 0)
    for i, k in enumerate(reversed(kids)):
        p.zx.handle_close(k)
        assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).num_children == len(kids) - i - 1
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0) & zx.ZX_VMO_ZERO_CHILDREN


def test_child_kept_alive_by_mapping(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    c = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    addr = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ, 0, c, 0, P)
    p.zx.handle_close(c)
    assert status(p.zx.object_wait_one, v, zx.ZX_VMO_ZERO_CHILDREN, 0) == zx.ZX_ERR_TIMED_OUT
    p.zx.vmar_unmap(p.root_vmar_handle, addr, P)
    assert p.zx.object_wait_one(v, zx.ZX_VMO_ZERO_CHILDREN, 0)


def test_child_observer_and_hooks(make_kernel) -> None:  # type: ignore[no-untyped-def]
    from microsim import hookimpl

    seen: list[tuple[str, int]] = []

    class Watch:
        name = "watch"
        requires = ("vmo",)

        @hookimpl
        def vmo_first_child(self, vmo) -> None:  # type: ignore[no-untyped-def]
            seen.append(("first", vmo.koid))

        @hookimpl
        def vmo_zero_children(self, vmo) -> None:  # type: ignore[no-untyped-def]
            seen.append(("zero", vmo.koid))

    k = make_kernel(plugins=["vmo", Watch()])
    p = k.create_process("a")
    v = p.zx.vmo_create(P, 0)
    koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
    calls: list[str] = []

    class Obs:
        def on_first_child(self, vmo) -> None:  # type: ignore[no-untyped-def]
            calls.append("first")

        def on_zero_children(self, vmo) -> None:  # type: ignore[no-untyped-def]
            calls.append("zero")

    k.objects[koid].set_child_observer(Obs())  # type: ignore[attr-defined]
    a = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    b = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    p.zx.handle_close_many([a, b])
    assert calls == ["first", "zero"]
    assert seen == [("first", koid), ("zero", koid)]


def test_info_vmo_and_name(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    info = p.zx.object_get_info(v, zx.ZX_INFO_VMO)
    assert info.flags == zx.ZX_INFO_VMO_TYPE_PAGED | zx.ZX_INFO_VMO_VIA_HANDLE
    assert info.handle_rights == zx.ZX_DEFAULT_VMO_RIGHTS and info.cache_policy == 0
    assert info.size_bytes == P and info.parent_koid == 0 and info.num_children == 0
    r = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    assert p.zx.object_get_info(r, zx.ZX_INFO_VMO).flags & zx.ZX_INFO_VMO_RESIZABLE
    assert status(p.zx.object_get_info, v, zx.ZX_INFO_VMO, 8) == zx.ZX_ERR_BUFFER_TOO_SMALL
    p.zx.object_set_property(v, zx.ZX_PROP_NAME, b"my-vmo")
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).name == b"my-vmo"
    c = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert p.zx.object_get_property(c, zx.ZX_PROP_NAME) == b"my-vmo"
    no_prop = p.zx.handle_duplicate(v, zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_READ)
    c2 = p.zx.vmo_create_child(no_prop, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert p.zx.object_get_property(c2, zx.ZX_PROP_NAME) == b""
    vmos = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_VMOS)
    assert any(e.name == b"my-vmo" for e in vmos)


def test_sparse_memory_costs_only_touched_pages(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo"], check_invariants=False, capture=False)
    p = k.create_process("sparse")
    v = p.zx.vmo_create(2**40, 0)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(1000):
        p.zx.vmo_write(v, b"x", (i * 1_099_511_627) % (2**40 - 1))
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert k.mem.pages_used == 1000
    assert held < 1.5 * 1000 * P


def test_memory_limit(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo"], memory=4 * P)
    p = k.create_process("small")
    v = p.zx.vmo_create(16 * P, 0)
    p.zx.vmo_write(v, bytes(4 * P), 0)
    assert status(p.zx.vmo_write, v, b"x", 5 * P) == zx.ZX_ERR_NO_MEMORY
    assert p.zx.vmo_read(v, 5 * P, 1) == b"\0"


def test_runaway_commit_is_no_memory_not_a_hang(make_kernel) -> None:  # type: ignore[no-untyped-def]
    p = make_kernel(plugins=["vmo"]).create_process("greedy")  # default: 1 GiB of memory
    v = p.zx.vmo_create(0, zx.ZX_VMO_UNBOUNDED)
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_COMMIT, 0, 2**50) == zx.ZX_ERR_NO_MEMORY
    assert p.kernel.mem.pages_used == 0


# --------------------------------------------------------------------------- large reads
def test_huge_read_is_refused_before_building_a_buffer(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo"])  # default simulated memory: 1 GiB
    p = k.create_process("huge")
    v = p.zx.vmo_create(2**40, 0)
    p.zx.vmo_write(v, b"data", 2**32)
    tracemalloc.start()
    assert status(p.zx.vmo_read, v, 0, 2**33) == zx.ZX_ERR_NO_MEMORY
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    # Bounds still come first; a read the memory can hold works.
    assert status(p.zx.vmo_read, v, 2**40 - 1, 2**33) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_read(v, 2**32 - 2, 8) == b"\0\0data\0\0"


def test_read_longer_than_an_address_space(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo"], memory=None)
    p = k.create_process("aspace")
    v = p.zx.vmo_create(0, zx.ZX_VMO_UNBOUNDED)
    assert status(p.zx.vmo_read, v, 0, 2**48) == zx.ZX_ERR_INVALID_ARGS


def test_large_sparse_read_copies_only_present_pages(p: Process) -> None:
    v = p.zx.vmo_create(64 * 2**20, 0)
    for i in (0, 1000, 16382):
        p.zx.vmo_write(v, b"%05d" % i, i * P + P - 2)
    data = p.zx.vmo_read(v, 0, 64 * 2**20)
    assert len(data) == 64 * 2**20
    assert data[P - 2 : P + 3] == b"00000"
    assert data[1000 * P + P - 2 : 1000 * P + P + 3] == b"01000"
    assert data[-P - 2 : -P + 3] == b"16382"
    assert data.count(0) == len(data) - 15


def test_process_read_memory_of_huge_mapping(make_kernel) -> None:  # type: ignore[no-untyped-def]
    from microsim.errors import MemoryFault
    from microsim.objects import vmar

    k = make_kernel(plugins=["vmo"])
    p = k.create_process("mapped")
    v = p.zx.vmo_create(2**34, 0)
    addr = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, v, 0, 2**34)
    p.write_memory(addr + 2**33, b"hi")
    assert p.read_memory(addr + 2**33 - 1, 4) == b"\0hi\0"
    tracemalloc.start()
    assert status(p.read_memory, addr, 2**33) == zx.ZX_ERR_NO_MEMORY
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()
    with pytest.raises(MemoryFault):  # a fault is reported before the size
        p.read_memory(addr, 2**35)
    # The debugger path (zx_process_read_memory's core): one mapping, trimmed, 64 MiB cap.
    assert vmar.debug_read_memory(p, addr + 2**33, 2) == b"hi"
    assert status(vmar.debug_read_memory, p, addr, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(vmar.debug_read_memory, p, addr, vmar.MAX_DEBUG_BLOCK + 1) == zx.ZX_ERR_INVALID_ARGS
    assert len(vmar.debug_read_memory(p, addr + 2**34 - 3, 100)) == 3
    assert status(vmar.debug_read_memory, p, addr + 2**34, 1) == zx.ZX_ERR_NOT_FOUND
    assert status(vmar.debug_read_memory, p, "x", 1) == zx.ZX_ERR_INVALID_ARGS
    assert vmar.debug_write_memory(p, addr + 2**34 - 2, b"abcd") == 2
    assert p.read_memory(addr + 2**34 - 2, 2) == b"ab"
    assert status(vmar.debug_write_memory, p, addr, b"") == zx.ZX_ERR_INVALID_ARGS
    small = p.zx.vmo_create(P, 0)
    a2 = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ, 0, small, 0, 2 * P)
    assert status(vmar.debug_read_memory, p, a2 + P, 1) == zx.ZX_ERR_OUT_OF_RANGE


# --------------------------------------------------------------------------- child rules
def test_slice_checks_range_before_resizability(p: Process) -> None:
    SLICE = zx.ZX_VMO_CHILD_SLICE
    rv = p.zx.vmo_create(2 * P, zx.ZX_VMO_RESIZABLE)
    assert status(p.zx.vmo_create_child, rv, SLICE, 1, P) == zx.ZX_ERR_INVALID_ARGS  # unaligned
    assert status(p.zx.vmo_create_child, rv, SLICE, 0, 3 * P) == zx.ZX_ERR_INVALID_ARGS  # beyond
    assert status(p.zx.vmo_create_child, rv, SLICE, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    v = p.zx.vmo_create(2 * P, 0)
    rref = p.zx.vmo_create_child(rv, zx.ZX_VMO_CHILD_REFERENCE | zx.ZX_VMO_CHILD_RESIZABLE, 0, 0)
    assert status(p.zx.vmo_create_child, rref, SLICE, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    s = p.zx.vmo_create_child(v, SLICE, P, P)
    assert p.zx.vmo_get_size(s) == P


def test_reference_rules(p: Process) -> None:
    REF, RES = zx.ZX_VMO_CHILD_REFERENCE, zx.ZX_VMO_CHILD_RESIZABLE
    v = p.zx.vmo_create(2 * P, 0)
    assert status(p.zx.vmo_create_child, v, REF, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, v, REF | RES, 0, 0) == zx.ZX_ERR_NOT_SUPPORTED
    s = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SLICE, 0, P)
    assert status(p.zx.vmo_create_child, s, REF, 0, 0) == zx.ZX_ERR_NOT_SUPPORTED
    ref = p.zx.vmo_create_child(v, REF, 0, 0)
    assert status(p.zx.vmo_set_size, ref, P) == zx.ZX_ERR_UNAVAILABLE
    # A resizable VMO: a RESIZABLE reference resizes the shared pages; a plain one cannot.
    rv = p.zx.vmo_create(2 * P, zx.ZX_VMO_RESIZABLE)
    rref = p.zx.vmo_create_child(rv, REF | RES, 0, 0)
    fixed = p.zx.vmo_create_child(rv, REF, 0, 0)
    rights = p.zx.object_get_info(fixed, zx.ZX_INFO_HANDLE_BASIC).rights
    assert not rights & zx.ZX_RIGHT_RESIZE
    assert status(p.zx.vmo_set_size, fixed, P) == zx.ZX_ERR_ACCESS_DENIED  # lacks RESIZE
    m = zx.ZX_VM_PERM_READ | zx.ZX_VM_REQUIRE_NON_RESIZABLE
    assert status(p.zx.vmar_map, p.root_vmar_handle, m, 0, fixed, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    p.zx.vmo_write(rv, b"x" * 2 * P, 0)
    p.zx.vmo_set_size(rref, P + 5)
    for h in (rv, rref, fixed):
        assert p.zx.vmo_get_size(h) == 2 * P
        assert p.zx.object_get_property(h, zx.ZX_PROP_VMO_CONTENT_SIZE) == P + 5
    assert p.zx.vmo_read(rv, P + 4, 2) == b"x\0"
    p.zx.vmo_set_size(rref, P)
    assert p.zx.vmo_get_size(fixed) == P


def test_decommit_through_and_under_references(p: Process) -> None:
    DECOMMIT = zx.ZX_VMO_OP_DECOMMIT
    v = p.zx.vmo_create(4 * P, 0)
    ref = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    p.zx.vmo_write(v, b"a" * 4 * P, 0)
    p.zx.vmo_op_range(ref, DECOMMIT, 0, P)  # through the reference: the shared pages
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).committed_bytes == 3 * P
    p.zx.vmo_op_range(v, DECOMMIT, P, P)  # the parent of a reference
    assert p.zx.vmo_read(ref, 0, 2 * P) == bytes(2 * P)
    # Order: range past the size (not trimmed), then support, then alignment.
    assert status(p.zx.vmo_op_range, ref, DECOMMIT, 5 * P, P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_op_range, ref, DECOMMIT, 2 * P, 8 * P) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_op_range(ref, DECOMMIT, 2 * P, 2 * P)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).committed_bytes == 0
    p.zx.vmo_op_range(ref, DECOMMIT, 4 * P, 0)  # empty: OK
    assert status(p.zx.vmo_op_range, ref, DECOMMIT, 1, P) == zx.ZX_ERR_INVALID_ARGS
    snap = p.zx.vmo_create_child(ref, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)  # a COW child under v
    for h in (v, ref):
        assert status(p.zx.vmo_op_range, h, DECOMMIT, 1, P) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(p.zx.vmo_op_range, snap, DECOMMIT, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    p.zx.handle_close(snap)
    p.zx.vmo_op_range(v, DECOMMIT, 0, P)


# --------------------------------------------------------------------------- stream size
def test_stream_size_syscalls(p: Process) -> None:
    v = p.zx.vmo_create(2 * P + 10, 0)
    assert p.zx.vmo_get_stream_size(v) == 2 * P + 10
    assert p.zx.vmo_get_stream_size(p.zx.handle_duplicate(v, 0)) == 2 * P + 10  # no rights
    p.zx.vmo_write(v, b"y" * 3 * P, 0)
    p.zx.vmo_set_stream_size(v, 100)
    assert p.zx.vmo_get_stream_size(v) == 100
    assert p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE) == 100
    assert p.zx.vmo_read(v, 99, 2) == b"y\0"  # zeroed from the new size to the end
    assert p.zx.vmo_get_size(v) == 3 * P  # not resized
    p.zx.vmo_write(v, b"z", 200)
    p.zx.vmo_set_stream_size(v, 100)  # same size: nothing is zeroed
    assert p.zx.vmo_read(v, 200, 1) == b"z"
    p.zx.vmo_set_stream_size(v, 300)  # growing zeroes from the old size
    assert p.zx.vmo_read(v, 200, 1) == b"\0"
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert status(p.zx.vmo_set_stream_size, ro, 1) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.vmo_set_stream_size, v, 3 * P + 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_set_stream_size, v, -1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_set_stream_size, v, "1") == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_set_stream_size, p.self_handle, 1) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.vmo_get_stream_size, p.self_handle) == zx.ZX_ERR_WRONG_TYPE
    assert p.zx.vmo_get_stream_size(v) == 300
    ref = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    p.zx.vmo_set_stream_size(ref, 5)  # shared with the parent
    assert p.zx.vmo_get_stream_size(v) == 5


def test_fault_beyond_stream_size_mappings(p: Process) -> None:
    from microsim import MemoryFault

    v = p.zx.vmo_create(4 * P, 0)
    p.zx.vmo_set_stream_size(v, P + 1)
    flags = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE | zx.ZX_VM_ALLOW_FAULTS
    fb = flags | zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE
    assert status(p.zx.vmar_map, p.root_vmar_handle, fb & ~zx.ZX_VM_ALLOW_FAULTS, 0, v, 0, 4 * P) \
        == zx.ZX_ERR_INVALID_ARGS
    addr = p.zx.vmar_map(p.root_vmar_handle, fb, 0, v, 0, 4 * P)
    plain = p.zx.vmar_map(p.root_vmar_handle, flags, 0, v, 0, 4 * P)
    p.write_memory(addr + 2 * P - 1, b"k")  # inside the page holding the stream end
    with pytest.raises(MemoryFault) as e:
        p.write_memory(addr + 2 * P - 1, b"kk")
    assert e.value.address == addr + 2 * P and e.value.status == zx.ZX_ERR_OUT_OF_RANGE
    assert p.read_memory(plain + 3 * P, 1) == b"\0"  # a plain mapping does not care
    p.zx.vmo_set_stream_size(v, 4 * P)
    assert p.read_memory(addr + 3 * P, 1) == b"\0"
    # zx_vmar_op_range refuses ranges passing the (unrounded) stream size on such mappings.
    p.zx.vmo_set_stream_size(v, P + 1)
    op = p.zx.vmar_op_range
    assert status(op, p.root_vmar_handle, zx.ZX_VMAR_OP_COMMIT, addr, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    op(p.root_vmar_handle, zx.ZX_VMAR_OP_COMMIT, addr, P)
    op(p.root_vmar_handle, zx.ZX_VMAR_OP_COMMIT, plain, 4 * P)


# --------------------------------------------------------------------------- executable, cache, transfer
def test_replace_as_executable(p: Process) -> None:
    R, X = zx.ZX_VM_PERM_READ, zx.ZX_VM_PERM_EXECUTE
    v = p.zx.vmo_create(P, 0)
    assert status(p.zx.vmar_map, p.root_vmar_handle, R | X, 0, v, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    base = zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP | zx.ZX_RIGHT_DUPLICATE
    ro = p.zx.handle_duplicate(v, base)
    x = p.zx.vmo_replace_as_executable(ro, zx.ZX_HANDLE_INVALID)  # ambient policy: allowed
    assert p.zx.object_get_info(x, zx.ZX_INFO_HANDLE_BASIC).rights == base | zx.ZX_RIGHT_EXECUTE
    assert status(p.zx.handle_close, ro) == zx.ZX_ERR_BAD_HANDLE  # the source is consumed
    addr = p.zx.vmar_map(p.root_vmar_handle, R | X, 0, x, 0, P)
    maps = p.zx.object_get_info(p.root_vmar_handle, zx.ZX_INFO_VMAR_MAPS)
    assert any(m.base == addr and m.mmu_flags == R | X for m in maps)
    # A snapshot child of an executable VMO loses EXECUTE (gains WRITE).
    snap = p.zx.vmo_create_child(x, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert not p.zx.object_get_info(snap, zx.ZX_INFO_HANDLE_BASIC).rights & zx.ZX_RIGHT_EXECUTE


def test_replace_as_executable_failures_consume_the_handle(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    # A vmex that is not a resource: WRONG_TYPE (stale: BAD_HANDLE); the VMO handle is gone.
    h1 = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
    assert status(p.zx.vmo_replace_as_executable, h1, v) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.handle_close, h1) == zx.ZX_ERR_BAD_HANDLE
    h2 = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
    assert status(p.zx.vmo_replace_as_executable, h2, 777) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.handle_close, h2) == zx.ZX_ERR_BAD_HANDLE
    # A bad source handle is reported first and nothing is consumed.
    assert status(p.zx.vmo_replace_as_executable, 777, v) == zx.ZX_ERR_BAD_HANDLE
    # A source that is not a VMO: BAD_HANDLE, and it is consumed too.
    ev = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
    assert status(p.zx.vmo_replace_as_executable, ev, zx.ZX_HANDLE_INVALID) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.handle_close, ev) == zx.ZX_ERR_BAD_HANDLE
    p.zx.handle_close(v)


def test_replace_as_executable_honours_a_job_policy(p: Process) -> None:
    # ZX_POL_AMBIENT_MARK_VMO_EXEC of the process's job decides when vmex is invalid.
    job = p.zx.job_create(p.zx.job_default(), 0)
    p.zx.job_set_policy(job, zx.ZX_JOB_POL_ABSOLUTE, zx.ZX_JOB_POL_BASIC_V2, [
        zx.zx_policy_basic_v2_t(zx.ZX_POL_AMBIENT_MARK_VMO_EXEC, zx.ZX_POL_ACTION_DENY,
                                zx.ZX_POL_OVERRIDE_DENY)])
    restricted = p.kernel.create_process("restricted", job=p.obj(job))
    v = restricted.zx.vmo_create(P, 0)
    assert status(restricted.zx.vmo_replace_as_executable, v, zx.ZX_HANDLE_INVALID) == zx.ZX_ERR_ACCESS_DENIED
    assert status(restricted.zx.handle_close, v) == zx.ZX_ERR_BAD_HANDLE  # consumed
    # The same call in a process of the root job is allowed.
    w = p.zx.vmo_create(P, 0)
    x = p.zx.vmo_replace_as_executable(w, zx.ZX_HANDLE_INVALID)
    assert p.zx.object_get_info(x, zx.ZX_INFO_HANDLE_BASIC).rights & zx.ZX_RIGHT_EXECUTE


def test_set_cache_policy(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).cache_policy == zx.ZX_CACHE_POLICY_UNCACHED
    assert status(p.zx.vmo_set_cache_policy, v, 4) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_set_cache_policy, v, "x") == zx.ZX_ERR_INVALID_ARGS
    no_map = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    assert status(p.zx.vmo_set_cache_policy, no_map, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.vmo_set_cache_policy, p.self_handle, 0) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_REFERENCE, 0, 0) == zx.ZX_ERR_BAD_STATE
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0, P)  # committed while uncached: no way back
    assert status(p.zx.vmo_set_cache_policy, v, zx.ZX_CACHE_POLICY_CACHED) == zx.ZX_ERR_BAD_STATE
    w = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(w, b"x", 0)
    p.zx.vmo_set_cache_policy(w, zx.ZX_CACHE_POLICY_WRITE_COMBINING)  # from cached: fine
    m = p.zx.vmo_create(P, 0)
    p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ, 0, m, 0, P)
    assert status(p.zx.vmo_set_cache_policy, m, 1) == zx.ZX_ERR_BAD_STATE  # mapped
    parent = p.zx.vmo_create(P, 0)
    child = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SLICE, 0, P)
    assert status(p.zx.vmo_set_cache_policy, parent, 1) == zx.ZX_ERR_BAD_STATE  # has children
    assert status(p.zx.vmo_set_cache_policy, child, 1) == zx.ZX_ERR_BAD_STATE  # is a child


def test_transfer_data(p: Process) -> None:
    src = p.zx.vmo_create(5 * P, 0)
    dst = p.zx.vmo_create(5 * P, 0)
    p.zx.vmo_write(src, b"s" * 5 * P, 0)
    p.zx.vmo_write(dst, b"d" * 5 * P, 0)
    used = p.kernel.mem.pages_used
    p.zx.vmo_transfer_data(dst, 0, 2 * P, 3 * P, src, 0)
    assert p.zx.vmo_read(dst, 0, 5 * P) == b"d" * 2 * P + b"s" * 3 * P
    assert p.zx.vmo_read(src, 0, 5 * P) == bytes(3 * P) + b"s" * 2 * P
    assert p.kernel.mem.pages_used == used - 3  # pages moved, the replaced ones freed
    same = p.zx.vmo_create(5 * P, 0)
    p.zx.vmo_write(same, b"s" * 5 * P, 0)
    p.zx.vmo_transfer_data(same, 0, 2 * P, 3 * P, same, 0)
    assert p.zx.vmo_read(same, 0, 5 * P) == bytes(2 * P) + b"s" * 3 * P
    parent = p.zx.vmo_create(5 * P, 0)
    p.zx.vmo_write(parent, b"d" * 5 * P, 0)
    ref = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    p.zx.vmo_write(src, b"t" * P, 0)
    p.zx.vmo_transfer_data(ref, 0, 0, P, src, 0)  # into a reference child: the shared pages
    assert p.zx.vmo_read(parent, 0, 2) == b"tt"


def test_transfer_data_invalid_inputs(p: Process) -> None:
    src = p.zx.vmo_create(5 * P, 0)
    dst = p.zx.vmo_create(5 * P, 0)
    t = p.zx.vmo_transfer_data
    assert status(t, dst, 0, P, P, 777, 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(t, 777, 0, P, P, src, 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(t, dst, 1, P - 1, P, src, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(t, dst, 0, P - 1, P, src, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(t, dst, 0, P, P - 1, src, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(t, dst, 0, P, P, src, P - 1) == zx.ZX_ERR_INVALID_ARGS
    for rights in (0, zx.ZX_RIGHT_READ, zx.ZX_RIGHT_WRITE):
        assert status(t, dst, 0, P, P, p.zx.handle_duplicate(src, rights), 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(t, p.zx.handle_duplicate(dst, 0), 0, P, P, src, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(t, dst, 0, P, 6 * P, src, 0) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(t, dst, 0, P, P, src, 6 * P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(t, dst, 0, 6 * P, P, src, 3 * P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(t, dst, 0, 0, P, src, U64 - P + 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(t, dst, 0, 0, P, p.self_handle, 0) == zx.ZX_ERR_WRONG_TYPE
    assert status(t, dst, "0", 0, P, src, 0) == zx.ZX_ERR_INVALID_ARGS


def test_hints_are_ignored_on_anonymous_memory(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    for op in (zx.ZX_VMO_OP_DONT_NEED, zx.ZX_VMO_OP_ALWAYS_NEED):
        p.zx.vmo_op_range(v, op, 0, 100 * P)  # beyond the size: still a no-op
        assert status(p.zx.vmo_op_range, v, op, 2, U64) == zx.ZX_ERR_OUT_OF_RANGE  # overflow
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_PREFETCH, 0, 2 * P) == zx.ZX_ERR_OUT_OF_RANGE
    # Through a mapping larger than the VMO, hints pass where COMMIT cannot.
    r = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    a = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ, 0, r, 0, 2 * P)
    p.zx.vmar_op_range(p.root_vmar_handle, zx.ZX_VMAR_OP_DONT_NEED, a, 2 * P)
    assert status(p.zx.vmar_op_range, p.root_vmar_handle, zx.ZX_VMAR_OP_PREFETCH, a, 2 * P) \
        == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).committed_bytes == 0


def test_cache_policy_port(p: Process) -> None:
    """Zircon's VmoTestCase.Cache."""
    v = p.zx.vmo_create(P, 0)
    for policy in (zx.ZX_CACHE_POLICY_CACHED, zx.ZX_CACHE_POLICY_UNCACHED,
                   zx.ZX_CACHE_POLICY_UNCACHED_DEVICE, zx.ZX_CACHE_POLICY_WRITE_COMBINING):
        p.zx.vmo_set_cache_policy(v, policy)
    assert status(p.zx.vmo_set_cache_policy, v, zx.ZX_CACHE_POLICY_MASK + 1) == zx.ZX_ERR_INVALID_ARGS
    a = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ, 0, v, 0, P)
    assert status(p.zx.vmo_set_cache_policy, v, 0) == zx.ZX_ERR_BAD_STATE
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    clone = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P)
    assert status(p.zx.vmo_set_cache_policy, v, 0) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_set_cache_policy, clone, 0) == zx.ZX_ERR_BAD_STATE
    p.zx.handle_close(clone)
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_UNCACHED)
    assert status(p.zx.vmo_create_child, v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, P) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_read, v, 0, 1) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_write, v, b"c", 0) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.vmo_read, v, 5 * P, 1) == zx.ZX_ERR_BAD_STATE  # before the range check
    p.zx.vmo_set_cache_policy(v, zx.ZX_CACHE_POLICY_CACHED)
    p.zx.vmo_write(v, b"c", 0)
    assert p.zx.vmo_read(v, 0, 1) == b"c"


def test_slice_ports(p: Process) -> None:
    """VmoSliceTestCase: NonSlice, NonResizable, ZeroSized, Pin, AttributedCounts, DeepHierarchy."""
    SLICE, RES = zx.ZX_VMO_CHILD_SLICE, zx.ZX_VMO_CHILD_RESIZABLE
    rv = p.zx.vmo_create(2 * P, zx.ZX_VMO_RESIZABLE)
    assert status(p.zx.vmo_create_child, rv, SLICE, 0, 3 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, rv, SLICE, P, 2 * P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, rv, SLICE, 0, U64) == zx.ZX_ERR_OUT_OF_RANGE
    near = U64 - P + 1
    assert status(p.zx.vmo_create_child, rv, SLICE, 0, near) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_create_child, rv, SLICE, near, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.vmo_create_child, rv, SLICE, near, near) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.vmo_create_child, rv, SLICE, 0, P) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(p.zx.vmo_create_child, rv, SLICE | RES, 0, P) == zx.ZX_ERR_INVALID_ARGS
    v = p.zx.vmo_create(P, 0)
    for off in (0, P):
        z = p.zx.vmo_create_child(v, SLICE, off, 0)
        assert status(p.zx.vmo_read, z, 0, 1) == zx.ZX_ERR_OUT_OF_RANGE
        assert status(p.zx.vmo_write, z, b"x", 0) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.vmo_write(v, b"*", 0)
    s = p.zx.vmo_create_child(v, SLICE, 0, P)
    assert p.zx.object_get_info(v, zx.ZX_INFO_VMO).populated_bytes == P
    assert p.zx.object_get_info(s, zx.ZX_INFO_VMO).populated_bytes == 0
    p.obj(s).pin()
    assert status(p.zx.vmo_op_range, v, zx.ZX_VMO_OP_DECOMMIT, 0, P) == zx.ZX_ERR_BAD_STATE
    p.obj(s).unpin()
    p.zx.vmo_op_range(v, zx.ZX_VMO_OP_DECOMMIT, 0, P)


def test_deep_slice_hierarchy(make_kernel) -> None:  # type: ignore[no-untyped-def]
    SLICE = zx.ZX_VMO_CHILD_SLICE
    k = make_kernel(plugins=["vmo"], check_invariants=False, capture=False)
    p = k.create_process("deep")
    deep = p.zx.vmo_create(P, 0)
    for _ in range(1000):
        nxt = p.zx.vmo_create_child(deep, SLICE, 0, P)
        p.zx.handle_close(deep)
        deep = nxt
    p.zx.handle_close(deep)  # the chain unwinds without recursion
    assert not list(k.live_objects("vmo"))


def test_read_i32_agrees_with_read_bytes(p: Process) -> None:
    """The one-word fast read (futex words) against the general read, in every kind of
    store: own pages, a page never written, a slice's offset, a snapshot's inherited and
    own pages, and (unaligned) a word across a page boundary."""
    v = p.zx.vmo_create(3 * P, 0)
    p.zx.vmo_write(v, (-2).to_bytes(4, "little", signed=True) + (7).to_bytes(4, "little"), P - 4)
    slice_ = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SLICE, P, 2 * P)
    snap = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, 3 * P)
    p.zx.vmo_write(snap, (9).to_bytes(4, "little"), 8)
    seen = []
    for handle in (v, slice_, snap):
        obj = p.handles.get(handle).obj
        for off in (0, 4, 8, P - 4, P - 2, P, 2 * P - 4, 2 * P + 8):
            if off + 4 <= obj.mappable_size():
                word = obj.read_i32(off)
                assert word == int.from_bytes(obj.read_bytes(off, 4), "little", signed=True), (handle, off)
                seen.append(word)
    assert {-2, 7, 9, 0, (7 << 16) | 0xFFFF} <= set(seen)
