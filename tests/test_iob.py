"""The IOB plugin: Zircon's IOB core-tests (iob.cc) ported, plus the peer-closed order."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microsim import Kernel, ZxError, zx
from microsim.objects.process import Process
from microsim.testing import TraceCapture
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
RW = 0x33  # kIoBufferEpRwMap: both endpoints map read+write
E0RW = 0x03  # kIoBufferEp0OnlyRwMap
RO = 0x11  # kIoBufferRdOnlyMap
MW0 = zx.ZX_IOB_ACCESS_EP0_CAN_MEDIATED_WRITE
MW1 = zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_WRITE
MR1 = zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_READ
R, W = zx.ZX_VM_PERM_READ, zx.ZX_VM_PERM_WRITE
NONE = zx.ZX_IOB_DISCIPLINE_TYPE_NONE
IDA = zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR
RING = zx.ZX_IOB_DISCIPLINE_TYPE_MEDIATED_WRITE_RING_BUFFER
TAG = 0x0123456789ABCDEF


def region(access: int = RW, size: int = P, discipline: int = NONE, **kw: int) -> zx.zx_iob_region_t:
    r = zx.zx_iob_region_t(type=kw.get("type", zx.ZX_IOB_REGION_TYPE_PRIVATE), access=access, size=size)
    r.discipline.type = discipline
    r.private_region.options = kw.get("options", 0)
    if "shared" in kw:
        r.type = zx.ZX_IOB_REGION_TYPE_SHARED
        r.shared_region.shared_region = kw["shared"]
        r.shared_region.options = kw.get("shared_options", 0)
        r.discipline.reserved = (kw.get("tag", TAG),) + (0,) * 7
    return r


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["vmo", "iob"]).create_process("iob-test")



def map_(p: Process, h: int, idx: int, off: int, length: int, perms: int) -> int:
    return p.zx.vmar_map_iob(p.root_vmar_handle, perms, 0, h, idx, off, length)


def peer_closed(p: Process, h: int) -> bool:
    try:
        p.zx.object_wait_one(h, zx.ZX_IOB_PEER_CLOSED, zx.ZX_TIME_INFINITE_PAST)
    except ZxError as e:
        assert e.status == zx.ZX_ERR_TIMED_OUT
        return False
    return True


# ---------------------------------------------------------------------------- create
def test_create(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    p.zx.handle_close(ep0)
    p.zx.handle_close(ep1)
    before = dict(p.handles)
    assert status(p.zx.iob_create, 0, []) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, None) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, [region(access=0)]) == zx.ZX_ERR_INVALID_ARGS
    assert p.handles == before


def test_create_huge_and_bad_vm_options(p: Process) -> None:
    assert status(p.zx.iob_create, 0, [region(size=2**64 - 1)]) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.iob_create, 0, [region(options=0xFFF)]) == zx.ZX_ERR_INVALID_ARGS


def test_create_out_of_range_and_invalid_args(p: Process) -> None:
    assert status(p.zx.iob_create, 0, [region()] * 65) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.iob_create, 1, [region()]) == zx.ZX_ERR_INVALID_ARGS
    ep0, ep1 = p.zx.iob_create(0, [region(size=0)])  # a 0-byte region is fine
    p.zx.handle_close_many([ep0, ep1])
    assert status(p.zx.iob_create, 0, [region(type=42)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, [region(discipline=42)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, [region(access=RO)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, [region(access=RW | MW0)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, [region(access=E0RW | MR1, discipline=IDA)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, [region(size=0, discipline=RING, shared=0)]) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.iob_create, 0, [region(size=0, discipline=RING, shared=0, shared_options=1)]) == zx.ZX_ERR_INVALID_ARGS
    ch = p.root_vmar_handle  # not a shared region
    assert status(p.zx.iob_create, 0, [region(size=0, discipline=RING, shared=ch)]) == zx.ZX_ERR_WRONG_TYPE
    # Garbage of other kinds is a status too.
    assert status(p.zx.iob_create, 0, [b"short"]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, -1, [region()]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_create, 0, "regions") == zx.ZX_ERR_INVALID_ARGS


def test_first_failing_region_creates_nothing(p: Process) -> None:
    kernel = p.kernel
    live = set(kernel.objects)
    assert status(p.zx.iob_create, 0, [region(), region(), region(type=42)]) == zx.ZX_ERR_INVALID_ARGS
    assert set(kernel.objects) == live


def test_handle_basic_info_and_rights(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    i0 = p.zx.object_get_info(ep0, zx.ZX_INFO_HANDLE_BASIC)
    i1 = p.zx.object_get_info(ep1, zx.ZX_INFO_HANDLE_BASIC)
    assert i0.type == i1.type == zx.ZX_OBJ_TYPE_IOB == 33
    assert i0.rights == i1.rights == zx.ZX_DEFAULT_IOB_RIGHTS == 0xF0EF
    assert i0.koid and i1.koid and i0.koid != i1.koid
    assert i0.related_koid == i1.koid and i1.related_koid == i0.koid
    r = p.zx.handle_replace(ep0, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP)
    ir = p.zx.object_get_info(r, zx.ZX_INFO_HANDLE_BASIC)
    assert ir.rights == zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP and ir.koid == i0.koid


# ---------------------------------------------------------------------------- mapping
def test_region_map(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    a0 = map_(p, ep0, 0, 0, P, R | W)
    assert a0 and a0 % P == 0
    p.write_memory(a0, b"ABCDEFG\0")
    a1 = map_(p, ep1, 0, 0, P, R | W)
    assert p.read_memory(a1, 8) == b"ABCDEFG\0"


def test_mapping_rights(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [
        region(access=MW0, discipline=IDA),
        region(access=E0RW),
        region(access=RO | MW0, discipline=IDA),
    ])
    d = zx.ZX_DEFAULT_IOB_RIGHTS
    no_write = p.zx.handle_duplicate(ep0, d & ~zx.ZX_RIGHT_WRITE)
    p.zx.handle_duplicate(ep0, d & ~(zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_READ))
    no_map = p.zx.handle_duplicate(ep0, d & ~zx.ZX_RIGHT_MAP)
    assert no_write
    assert status(map_, p, ep0, 0, 0, P, R | W) == zx.ZX_ERR_ACCESS_DENIED
    assert status(map_, p, ep1, 0, 0, P, R | W) == zx.ZX_ERR_ACCESS_DENIED
    assert status(map_, p, ep1, 1, 0, 0, R | W) == zx.ZX_ERR_ACCESS_DENIED
    assert map_(p, ep0, 1, 0, P, R | W)
    assert status(map_, p, no_map, 1, 0, P, R | W) == zx.ZX_ERR_ACCESS_DENIED  # newest rule
    assert status(map_, p, ep0, 2, 0, 0, R | W) == zx.ZX_ERR_ACCESS_DENIED
    assert status(map_, p, ep1, 2, 0, 0, R | W) == zx.ZX_ERR_ACCESS_DENIED


def test_vmar_map_iob_errors(p: Process) -> None:
    ep0, _ = p.zx.iob_create(0, [region(size=2 * P), region(access=MW0, discipline=IDA)])
    vmar = p.root_vmar_handle
    m = p.zx.vmar_map_iob
    assert status(m, 0xBADC0FFE, R, 0, ep0, 0, 0, P) == zx.ZX_ERR_BAD_HANDLE
    assert status(m, ep0, R, 0, ep0, 0, 0, P) == zx.ZX_ERR_WRONG_TYPE
    assert status(m, vmar, R, 0, 0xBADC0FFE, 0, 0, P) == zx.ZX_ERR_BAD_HANDLE
    assert status(m, vmar, R, 0, vmar, 0, 0, P) == zx.ZX_ERR_WRONG_TYPE
    assert status(m, vmar, R, 0, ep0, 2, 0, P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(m, vmar, R, 0, ep0, 0, 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, vmar, R | zx.ZX_VM_SPECIFIC, 1, ep0, 0, 0, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, vmar, R, 0, ep0, 0, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(m, vmar, R, 0, ep0, 0, 2**64 - P, P) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(m, vmar, R | W, 0, ep0, 1, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    no_read = p.zx.handle_duplicate(ep0, zx.ZX_DEFAULT_IOB_RIGHTS & ~zx.ZX_RIGHT_READ)
    assert status(m, vmar, R, 0, no_read, 0, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    no_write = p.zx.handle_duplicate(ep0, zx.ZX_DEFAULT_IOB_RIGHTS & ~zx.ZX_RIGHT_WRITE)
    assert status(m, vmar, R | W, 0, no_write, 0, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    assert status(m, vmar, R | zx.ZX_VM_PERM_EXECUTE, 0, ep0, 0, 0, P) == zx.ZX_ERR_ACCESS_DENIED
    # b/504721827: FAULT_BEYOND_STREAM_SIZE on an IOB region is refused, never a crash.
    opts = R | zx.ZX_VM_MAP_RANGE | zx.ZX_VM_FAULT_BEYOND_STREAM_SIZE | zx.ZX_VM_ALLOW_FAULTS
    assert status(m, vmar, opts, 0, ep0, 0, 0, P) == zx.ZX_ERR_INVALID_ARGS


def test_failed_map_changes_no_peer_count(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    assert status(map_, p, ep0, 0, 1, P, R) == zx.ZX_ERR_INVALID_ARGS
    p.zx.handle_close(ep0)
    assert peer_closed(p, ep1)  # the failed map left no mapping behind


def test_map_when_peer_closed(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    p.zx.handle_close(ep1)
    assert map_(p, ep0, 0, 0, P, R | W)


# ---------------------------------------------------------------------------- peer closed
def test_peer_closed(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    for h in (ep0, ep1):
        with pytest.raises(ZxError) as e:
            p.zx.object_wait_one(h, zx.ZX_IOB_PEER_CLOSED, zx.ZX_TIME_INFINITE_PAST)
        assert e.value.status == zx.ZX_ERR_TIMED_OUT and e.value.observed == 0
    p.zx.handle_close(ep0)
    assert p.zx.object_wait_one(ep1, zx.ZX_IOB_PEER_CLOSED, 0) == zx.ZX_IOB_PEER_CLOSED
    ep0, ep1 = p.zx.iob_create(0, [region()])
    p.zx.handle_close(ep1)
    assert p.zx.object_wait_one(ep0, zx.ZX_IOB_PEER_CLOSED, 0) == zx.ZX_IOB_PEER_CLOSED


def test_peer_closed_waits_for_the_closed_side_to_unmap(p: Process) -> None:
    trace = TraceCapture(p.kernel)
    ep0, ep1 = p.zx.iob_create(0, [region()])
    koid1 = p.zx.object_get_info(ep1, zx.ZX_INFO_HANDLE_BASIC).koid
    a = map_(p, ep0, 0, 0, P, R | W)
    b = map_(p, ep0, 0, 0, P, R | W)
    p.zx.handle_close(ep0)
    assert not peer_closed(p, ep1)
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    assert not peer_closed(p, ep1)
    p.zx.vmar_unmap(p.root_vmar_handle, b, P)
    assert peer_closed(p, ep1)
    trace.assert_event("iob.peer_closed", iob=koid1)
    kinds = [r["kind"] for r in trace.records if r["kind"].startswith("iob.")]
    assert kinds.count("iob.region_mapped") == 2 and kinds.count("iob.region_unmapped") == 2
    assert kinds.index("iob.endpoint_destroyed") < kinds.index("iob.peer_closed")


def test_own_mappings_never_delay_own_peer_closed(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(), region()])
    map_(p, ep1, 0, 0, P, R | W)
    map_(p, ep1, 1, 0, P, R | W)
    p.zx.handle_close(ep0)
    assert peer_closed(p, ep1)


def test_peer_closed_counts_regions_not_mappings(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(), region()])
    a = map_(p, ep0, 0, 0, P, R)
    b = map_(p, ep0, 1, 0, P, R)
    p.zx.handle_close(ep0)
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    assert not peer_closed(p, ep1)
    p.zx.vmar_unmap(p.root_vmar_handle, b, P)
    assert peer_closed(p, ep1)


def test_peer_closed_when_the_mapping_process_exits(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo", "iob"])
    a, b = k.create_process("a"), k.create_process("b")
    ep0, ep1 = a.zx.iob_create(0, [region()])
    map_(a, ep0, 0, 0, P, R | W)
    a.zx.handle_close(ep0)
    assert not peer_closed(a, ep1)
    # ep1 moves to b, then a exits: its mapping goes, so b's endpoint sees PEER_CLOSED.
    h = a.take_handle(ep1, "transfer")
    v = b.add_handle(h, "transfer")
    k.exit_process(a)
    assert peer_closed(b, v)


def test_regions_live_until_endpoints_and_mappings_are_gone(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    koid = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS)[0].koid
    a = map_(p, ep0, 0, 0, P, R | W)
    p.write_memory(a, b"still here")
    p.zx.handle_close_many([ep0, ep1])
    assert koid in p.kernel.objects
    assert p.read_memory(a, 10) == b"still here"
    p.zx.vmar_unmap(p.root_vmar_handle, a, P)
    assert koid not in p.kernel.objects
    assert not [o for o in p.kernel.live_objects() if o.type_name in ("iob", "vmo")]


# ---------------------------------------------------------------------------- info, names
def test_get_info_iob_regions(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(size=P), region(size=2 * P), region(size=3 * P)])
    regions = [region(size=P), region(size=2 * P), region(size=3 * P)]
    full = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS, 5 * zx.zx_iob_region_info_t.SIZE)
    assert (full.actual, full.avail) == (3, 3)
    assert [e.region.pack() for e in full] == [r.pack() for r in regions]
    empty = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS, 0)
    assert (empty.actual, empty.avail) == (0, 3)
    two = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS, 2 * zx.zx_iob_region_info_t.SIZE)
    assert (two.actual, two.avail) == (2, 3)
    for h in (ep0, ep1):
        info = p.zx.object_get_info(h, zx.ZX_INFO_IOB)
        assert (info.options, info.region_count) == (0, 3)
    no_inspect = p.zx.handle_duplicate(ep0, zx.ZX_RIGHT_DUPLICATE)
    assert status(p.zx.object_get_info, no_inspect, zx.ZX_INFO_IOB_REGIONS) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.object_get_info, p.self_handle, zx.ZX_INFO_IOB) == zx.ZX_ERR_WRONG_TYPE


def test_region_info_swapped_access(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(access=E0RW)])
    r0 = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS)[0]
    r1 = p.zx.object_get_info(ep1, zx.ZX_INFO_IOB_REGIONS)[0]
    assert r0.koid == r1.koid
    assert r0.region.access == 0x03 and r1.region.access == 0x30


def test_rounded_sizes(p: Process) -> None:
    ep0, _ = p.zx.iob_create(0, [region(size=P), region(size=P + 1), region(size=P - 1)])
    sizes = [e.region.size for e in p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS)]
    assert sizes == [P, 2 * P, P]


def test_get_set_names(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(), region(size=2 * P)])
    p.zx.object_set_property(ep0, zx.ZX_PROP_NAME, b"TestIob")
    assert p.zx.object_get_property(ep0, zx.ZX_PROP_NAME) == b"TestIob"
    assert p.zx.object_get_property(ep1, zx.ZX_PROP_NAME) == b"TestIob"
    p.zx.object_set_property(ep1, zx.ZX_PROP_NAME, b"TestIob2")
    assert p.zx.object_get_property(ep0, zx.ZX_PROP_NAME) == b"TestIob2"
    vmos = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_VMOS)
    named = [v for v in vmos if v.name == b"TestIob2" and v.flags & zx.ZX_INFO_VMO_VIA_IOB_HANDLE]
    assert len(named) >= 2
    p.zx.object_set_property(ep0, zx.ZX_PROP_NAME, b"")
    assert p.zx.object_get_property(ep1, zx.ZX_PROP_NAME) == b""
    p.zx.object_set_property(ep1, zx.ZX_PROP_NAME, b"A" * 31)
    assert p.zx.object_get_property(ep0, zx.ZX_PROP_NAME) == b"A" * 31


def test_get_info_process_maps_and_vmos(p: Process) -> None:
    ep0, _ep1 = p.zx.iob_create(0, [region(access=E0RW)])
    koid = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS)[0].koid
    before = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_MAPS)
    map_(p, ep0, 0, 0, P, R | W)
    after = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_MAPS)
    assert len(after) == len(before) + 1
    entry = [m for m in after if m.type == zx.ZX_INFO_MAPS_TYPE_MAPPING and m.vmo_koid == koid]
    assert len(entry) == 1 and entry[0].size == P
    vmos = [v for v in p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_VMOS)
            if v.flags & zx.ZX_INFO_VMO_VIA_IOB_HANDLE and v.koid == koid]
    rights = sorted(v.handle_rights for v in vmos)
    assert rights == [0, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE]  # ep1 has neither, ep0 both


# ---------------------------------------------------------------------------- signals
def test_signals_and_signal_peer(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region()])
    u0, u1, u2, u3 = (zx.ZX_USER_SIGNAL_0, zx.ZX_USER_SIGNAL_1, zx.ZX_USER_SIGNAL_2, zx.ZX_USER_SIGNAL_3)
    p.zx.object_signal(ep0, 0, u0 | u1)
    assert p.zx.object_wait_one(ep0, u0 | u1, 0) == u0 | u1
    assert status(p.zx.object_wait_one, ep1, u0, 0) == zx.ZX_ERR_TIMED_OUT
    p.zx.object_signal(ep0, u0, 0)
    assert p.zx.object_wait_one(ep0, u1, 0) == u1
    p.zx.object_signal_peer(ep0, 0, u2)
    assert p.zx.object_wait_one(ep1, u2, 0) == u2
    assert status(p.zx.object_wait_one, ep0, u2, 0) == zx.ZX_ERR_TIMED_OUT
    p.zx.object_signal_peer(ep0, u2, 0)
    assert status(p.zx.object_wait_one, ep1, u2, 0) == zx.ZX_ERR_TIMED_OUT
    d = zx.ZX_DEFAULT_IOB_RIGHTS
    assert status(p.zx.object_signal, p.zx.handle_duplicate(ep0, d & ~zx.ZX_RIGHT_SIGNAL), 0, u0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.object_signal_peer, p.zx.handle_duplicate(ep0, d & ~zx.ZX_RIGHT_SIGNAL_PEER), 0, u0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.object_signal, ep0, 0, zx.ZX_IOB_PEER_CLOSED) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal, ep0, zx.ZX_IOB_PEER_CLOSED, 0) == zx.ZX_ERR_INVALID_ARGS
    p.zx.handle_close(ep1)
    assert status(p.zx.object_signal_peer, ep0, 0, u3) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.object_signal_peer, ep0, 0, zx.ZX_IOB_PEER_CLOSED) == zx.ZX_ERR_INVALID_ARGS


# ---------------------------------------------------------------------------- ID allocator
def decode_id_allocator(data: bytes) -> tuple[int, list[bytes]]:
    """Read a mapped ID-allocator region with the layout of lib/iob/blob-id-allocator.h."""
    next_id, blob_head = struct.unpack_from("<II", data, 0)
    assert 8 + 8 * next_id <= blob_head <= len(data)
    blobs = []
    for i in range(next_id):
        size, offset = struct.unpack_from("<II", data, 8 + 8 * i)
        assert blob_head <= offset and size <= len(data) - offset
        blobs.append(data[offset : offset + size])
    return next_id, blobs


def test_id_allocator_mediated_access(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(access=E0RW | MW1, discipline=IDA)])
    addr = map_(p, ep0, 0, 0, P, R | W)
    assert decode_id_allocator(p.read_memory(addr, P)) == (0, [])
    blob = b"a" + bytes(9)
    for i in range(100):
        next_id, _ = decode_id_allocator(p.read_memory(addr, P))
        assert next_id == i
        if i % 2 == 0:
            # Userspace allocation through the mapping, with the same layout.
            _, head = struct.unpack("<II", p.read_memory(addr, 8))
            new_head = head - len(blob)
            p.write_memory(addr, struct.pack("<II", i + 1, new_head))
            p.write_memory(addr + new_head, blob)
            p.write_memory(addr + 8 + 8 * i, struct.pack("<II", len(blob), new_head))
        else:
            assert p.zx.iob_allocate_id(ep1, 0, 0, blob) == i
    next_id, blobs = decode_id_allocator(p.read_memory(addr, P))
    assert next_id == 100 and blobs == [blob] * 100


def test_id_allocator_multiple_endpoints_and_zero_blob(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(access=zx.ZX_IOB_ACCESS_EP0_CAN_MAP_READ | MW0 | MW1, discipline=IDA)])
    assert p.zx.iob_allocate_id(ep0, 0, 0, None) == 0
    assert p.zx.iob_allocate_id(ep1, 0, 0, b"0123456789") == 1
    assert p.zx.iob_allocate_id(ep1, 0, 0, b"") == 2
    assert p.zx.iob_allocate_id(ep0, 0, 0, bytes(20)) == 3
    addr = map_(p, ep0, 0, 0, P, R)
    assert decode_id_allocator(p.read_memory(addr, P)) == (4, [b"", b"0123456789", b"", bytes(20)])
    assert status(p.zx.iob_allocate_id, 0xBADC0FFE, 0, 0, b"") == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.iob_allocate_id, p.root_vmar_handle, 0, 0, b"") == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.iob_allocate_id, ep0, 0, 0, 12345) == zx.ZX_ERR_INVALID_ARGS


def test_id_allocator_errors(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(access=E0RW | MW0, discipline=IDA), region()])
    assert status(p.zx.iob_allocate_id, ep0, 1, 0, b"") == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.iob_allocate_id, ep0, 0, 2, b"") == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.iob_allocate_id, ep0, 0, 1, b"") == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.iob_allocate_id, ep1, 0, 0, b"") == zx.ZX_ERR_ACCESS_DENIED
    no_write = p.zx.handle_duplicate(ep0, zx.ZX_DEFAULT_IOB_RIGHTS & ~zx.ZX_RIGHT_WRITE)
    assert status(p.zx.iob_allocate_id, no_write, 0, 0, b"") == zx.ZX_ERR_ACCESS_DENIED
    # (4096 - 8) / 18 = 227 ten-byte blobs fit, then the region is full.
    ids = [p.zx.iob_allocate_id(ep0, 0, 0, bytes(10)) for _ in range(227)]
    assert ids == list(range(227))
    assert status(p.zx.iob_allocate_id, ep0, 0, 0, bytes(10)) == zx.ZX_ERR_NO_MEMORY


def test_id_allocator_decommit_of_pinned_region_is_bad_state(p: Process) -> None:
    ep0, _ = p.zx.iob_create(0, [region(access=E0RW | MW0, discipline=IDA)])
    addr = map_(p, ep0, 0, 0, P, R | W)
    assert addr
    # The kernel pins the region: its memory can't be decommitted from under it.
    ref = p.zx.object_get_info(ep0, zx.ZX_INFO_IOB_REGIONS)[0]
    vmo = p.kernel.objects[ref.koid]
    with pytest.raises(ZxError) as e:
        vmo.decommit(0, P)  # type: ignore[attr-defined]
    assert e.value.status == zx.ZX_ERR_BAD_STATE


@pytest.mark.parametrize(
    "header,slot",
    [
        (struct.pack("<II", 1, 8), None),  # blob_head below the index end
        (struct.pack("<II", 0, P + 1), None),  # blob_head past the region
        (struct.pack("<II", 0xFFFF_FFFF, P), None),  # next_id overflows the index
        (struct.pack("<II", 0, P), struct.pack("<II", 1, 2)),  # index slot not empty
    ],
)
def test_id_allocator_corrupted_header(p: Process, header: bytes, slot: bytes | None) -> None:
    ep0, _ = p.zx.iob_create(0, [region(access=E0RW | MW0, discipline=IDA)])
    addr = map_(p, ep0, 0, 0, P, R | W)
    p.write_memory(addr, header)
    if slot is not None:
        p.write_memory(addr + 8, slot)
    assert status(p.zx.iob_allocate_id, ep0, 0, 0, b"x") == zx.ZX_ERR_IO_DATA_INTEGRITY


# ---------------------------------------------------------------------------- shared regions
def test_shared_region_create(p: Process) -> None:
    c = p.zx.iob_create_shared_region
    assert status(c, 1, P) == zx.ZX_ERR_INVALID_ARGS
    assert status(c, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(c, 0, P + 3) == zx.ZX_ERR_INVALID_ARGS
    assert status(c, 0, 2**64 - P) == zx.ZX_ERR_OUT_OF_RANGE
    h = c(0, P)
    info = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC)
    assert info.type == zx.ZX_OBJ_TYPE_IOB_SHARED_REGION == 35
    assert info.rights == zx.ZX_DEFAULT_IOB_SHARED_REGION_RIGHTS == 0xD0C3
    assert info.koid and info.related_koid == 0


def test_shared_region_discipline_rules(p: Process) -> None:
    sh = p.zx.iob_create_shared_region(0, 2 * P)
    one = p.zx.iob_create_shared_region(0, P)
    bad = [
        region(size=0, discipline=NONE, shared=sh),
        region(size=0, discipline=IDA, shared=sh),
        region(discipline=RING),  # private with the ring discipline
        region(size=0, discipline=RING, shared=one),  # needs 2 pages
        region(size=2 * P, discipline=RING, shared=sh),  # size must be 0
    ]
    for r in bad:
        assert status(p.zx.iob_create, 0, [r]) == zx.ZX_ERR_INVALID_ARGS
    # RW access without any mediated bit is accepted.
    ep0, ep1 = p.zx.iob_create(0, [region(size=0, discipline=RING, shared=sh)])
    assert ep0 and ep1


def ring(p: Process, access: int = MW0 | RW, size: int = 2 * P, tag: int = TAG) -> tuple[int, int, int]:
    sh = p.zx.iob_create_shared_region(0, size)
    ep0, ep1 = p.zx.iob_create(0, [region(access=access, size=0, discipline=RING, shared=sh, tag=tag)])
    return sh, ep0, ep1


def test_iob_write_checks_rights(p: Process) -> None:
    _, ep0, ep1 = ring(p, access=MW0)
    assert status(p.zx.iob_writev, p.zx.handle_duplicate(ep0, 0), 0, 0, [b"hello\0"]) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.iob_writev, ep1, 0, 0, [b"hello\0"]) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.iob_writev(ep0, 0, 0, [b"hello\0"])


def test_iob_write_invalid_args(p: Process) -> None:
    sh = p.zx.iob_create_shared_region(0, 2 * P)
    ep0, _ = p.zx.iob_create(0, [region(access=MW0, size=0, discipline=RING, shared=sh), region()])
    w = p.zx.iob_writev
    assert status(w, ep0, 1, 0, [b"x"]) == zx.ZX_ERR_INVALID_ARGS
    assert status(w, zx.ZX_HANDLE_INVALID, 0, 0, [b"x"]) == zx.ZX_ERR_BAD_HANDLE
    assert status(w, ep0, 0, 2, [b"x"]) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(w, ep0, 0, 1, [b"x"]) == zx.ZX_ERR_WRONG_TYPE
    assert status(w, ep0, 0, 0, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(w, ep0, 0, 0, [bytes(65520)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(w, ep0, 0, 0, [bytes(P + 1)]) == zx.ZX_ERR_NO_SPACE
    assert status(w, ep0, 0, 0, [b"123456"] * 9) == zx.ZX_ERR_INVALID_ARGS
    assert status(w, ep0, 0, 0, [b"ok", None]) == zx.ZX_ERR_INVALID_ARGS
    w(ep0, 0, 0, [b"12345\0"])


def read_ring(p: Process, addr: int, size: int) -> tuple[int, int, list[tuple[int, bytes]]]:
    """Decode a mapped ring: (head, tail, records between tail and head)."""
    head, tail = struct.unpack("<QQ", p.read_memory(addr, 16))
    buffer_size = size - P
    data = p.read_memory(addr + P, buffer_size)
    records = []
    pos = tail
    while pos < head:
        raw = bytes(data[(pos + i) % buffer_size] for i in range(16))
        tag, length = struct.unpack("<QQ", raw)
        payload = bytes(data[(pos + 16 + i) % buffer_size] for i in range(length))
        records.append((tag, payload))
        pos += (16 + length + 7) & ~7
    return head, tail, records


def test_iob_write_success_and_wrap(p: Process) -> None:
    _, ep0, _ = ring(p)
    addr = map_(p, ep0, 0, 0, 2 * P, R | W)
    for i in range(170):
        p.zx.iob_writev(ep0, 0, 0, [b"12345\0"])
        head, tail = struct.unpack("<QQ", p.read_memory(addr, 16))
        assert (head, tail) == (24 * (i + 1), 0)
    first = p.read_memory(addr + P, 24)
    assert first == bytes.fromhex("efcdab8967452301") + bytes([6, 0, 0, 0, 0, 0, 0, 0]) + b"12345\0\0\0"
    assert status(p.zx.iob_writev, ep0, 0, 0, [b"12345\0"]) == zx.ZX_ERR_NO_SPACE
    p.write_memory(addr + 8, struct.pack("<Q", 24))
    p.zx.iob_writev(ep0, 0, 0, [b"123", b"45\0"])  # two vectors, one record
    head, tail, records = read_ring(p, addr, 2 * P)
    assert (head, tail) == (4104, 24) and len(records) == 170
    assert records[-1] == (TAG, b"12345\0")
    # The last record wraps: 16 header bytes at the data end, the payload at its start.
    assert p.read_memory(addr + P + 4080, 16)[:8] == bytes.fromhex("efcdab8967452301")
    assert p.read_memory(addr + P, 6) == b"12345\0"


def test_iob_write_record_sizes_and_multiple_iobs(p: Process) -> None:
    sh = p.zx.iob_create_shared_region(0, 2 * P)
    a0, _ = p.zx.iob_create(0, [region(access=MW0, size=0, discipline=RING, shared=sh, tag=1)])
    b0, _ = p.zx.iob_create(0, [region(access=MW0 | RW, size=0, discipline=RING, shared=sh, tag=2)])
    p.zx.iob_writev(a0, 0, 0, [])
    p.zx.iob_writev(b0, 0, 0, None)
    p.zx.iob_writev(a0, 0, 0, [bytes(9)])
    p.zx.iob_writev(b0, 0, 0, [bytes(11)])
    addr = map_(p, b0, 0, 0, 2 * P, R)
    head, _, records = read_ring(p, addr, 2 * P)
    assert head == 16 + 16 + 32 + 32
    assert [(t, len(d)) for t, d in records] == [(1, 0), (2, 0), (1, 9), (2, 11)]
    # Every IOB on the shared region reports the shared region's koid.
    ka = p.zx.object_get_info(a0, zx.ZX_INFO_IOB_REGIONS)[0].koid
    kb = p.zx.object_get_info(b0, zx.ZX_INFO_IOB_REGIONS)[0].koid
    assert ka == kb == p.zx.object_get_info(sh, zx.ZX_INFO_HANDLE_BASIC).koid


def test_iob_write_corrupt(p: Process) -> None:
    _, ep0, _ = ring(p)
    addr = map_(p, ep0, 0, 0, 2 * P, R | W)
    msg = [b"12345678abc\0"]
    p.write_memory(addr, struct.pack("<QQ", 0, 8))
    assert status(p.zx.iob_writev, ep0, 0, 0, msg) == zx.ZX_ERR_IO_DATA_INTEGRITY
    p.write_memory(addr, struct.pack("<QQ", 9, 8))
    assert status(p.zx.iob_writev, ep0, 0, 0, msg) == zx.ZX_ERR_IO_DATA_INTEGRITY
    big = 0xFFFF_FFFF_FFFF_FFE0
    p.write_memory(addr, struct.pack("<QQ", big, big))
    assert status(p.zx.iob_writev, ep0, 0, 0, msg) == zx.ZX_ERR_IO_DATA_INTEGRITY
    p.zx.iob_writev(ep0, 0, 0, [b"1234\0"])  # a 24-byte record still fits


def test_iob_write_max_message(p: Process) -> None:
    size = 2 * (65519 // P + 2) * P
    _, ep0, _ = ring(p, size=size)
    payload = bytes(i & 0xFF for i in range(65519))
    p.zx.iob_writev(ep0, 0, 0, [payload])
    addr = map_(p, ep0, 0, 0, size, R)
    assert p.read_memory(addr + P + 8, 8) == bytes.fromhex("efff000000000000")
    assert p.read_memory(addr + P + 16, 65519) == payload
    assert struct.unpack("<Q", p.read_memory(addr, 8))[0] == 65536
    parts = [payload[i * 8189 : (i + 1) * 8189] for i in range(7)] + [payload[7 * 8189 :]]
    p.zx.iob_writev(ep0, 0, 0, parts)
    assert p.read_memory(addr + P + 65536 + 16, 65519) == payload


def test_iob_write_strobes_updated_signal(p: Process) -> None:
    sh, ep0, _ = ring(p)
    with pytest.raises(ZxError):
        p.zx.object_wait_one(sh, zx.ZX_IOB_SHARED_REGION_UPDATED, 0)
    seen: list[int] = []

    from microsim.core.object import SignalObserver

    class Watch(SignalObserver):
        def on_signals(self, obj, signals):  # type: ignore[no-untyped-def]
            seen.append(signals)
            return False

    p.kernel.objects[p.zx.object_get_info(sh, zx.ZX_INFO_HANDLE_BASIC).koid].add_observer(Watch())
    p.zx.iob_writev(ep0, 0, 0, [b"12345\0"])
    assert seen == [zx.ZX_IOB_SHARED_REGION_UPDATED]
    # Strobed, not latched.
    assert status(p.zx.object_wait_one, sh, zx.ZX_IOB_SHARED_REGION_UPDATED, 0) == zx.ZX_ERR_TIMED_OUT


def test_shared_region_lives_while_iobs_use_it(p: Process) -> None:
    sh, ep0, _ = ring(p, tag=0x1234)
    p.zx.object_signal(sh, 0, zx.ZX_USER_SIGNAL_0)
    assert p.zx.object_wait_one(sh, zx.ZX_USER_SIGNAL_0, 0) & zx.ZX_USER_SIGNAL_0
    assert status(p.zx.object_signal_peer, sh, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.handle_close(sh)
    p.zx.iob_writev(ep0, 0, 0, [b"AliveAfterClose\0"])
    addr = map_(p, ep0, 0, 0, 2 * P, R)
    assert struct.unpack("<Q", p.read_memory(addr, 8))[0] > 0


# ---------------------------------------------------------------------------- untrusted bytes


@given(
    header=st.binary(min_size=8, max_size=8),
    index=st.binary(min_size=0, max_size=64),
    blob=st.binary(max_size=64),
    ring=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
)
def test_random_region_bytes_give_statuses_never_exceptions(
    header: bytes, index: bytes, blob: bytes, ring: tuple[int, int]
) -> None:
    """Userspace may write anything into a mapped region the kernel also updates."""
    with Kernel(plugins=["vmo", "iob"], check_invariants=True) as k:
        p = k.create_process("scribbler")
        ep0, _ = p.zx.iob_create(0, [region(access=E0RW | MW0, discipline=IDA)])
        addr = map_(p, ep0, 0, 0, P, R | W)
        p.write_memory(addr, header + index)
        try:
            new_id = p.zx.iob_allocate_id(ep0, 0, 0, blob)
        except ZxError as e:
            assert e.status in (zx.ZX_ERR_IO_DATA_INTEGRITY, zx.ZX_ERR_NO_MEMORY)
        else:
            next_id, blob_head = struct.unpack("<II", p.read_memory(addr, 8))
            assert next_id == new_id + 1 and blob_head <= P
        sh = p.zx.iob_create_shared_region(0, 2 * P)
        w0, _ = p.zx.iob_create(0, [region(access=MW0 | RW, size=0, discipline=RING, shared=sh)])
        raddr = map_(p, w0, 0, 0, 2 * P, R | W)
        p.write_memory(raddr, struct.pack("<QQ", *ring))
        try:
            p.zx.iob_writev(w0, 0, 0, [blob])
        except ZxError as e:
            assert e.status in (zx.ZX_ERR_IO_DATA_INTEGRITY, zx.ZX_ERR_NO_SPACE)
