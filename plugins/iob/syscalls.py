"""The IOB syscalls (zircon/kernel/lib/syscalls/iob.cc, vmar.cc's map_iob) and info topics."""

from __future__ import annotations

from typing import Any

from microsim_iob import id_allocator, ring_buffer
from microsim_iob.endpoint import IobEndpoint, IobRegion, IobSharedRegion, SharedState
from microsim_iob.regions import (
    check_access,
    check_discipline,
    parse_region,
    rounded,
    swap_access,
)
from microsim_vmo import Vmo
from microsim_vmo.vmo import round_size

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.info import InfoList
from microsim.core.object import PeeredObject
from microsim.core.syscall import arg_bytes, arg_size, arg_u32, arg_u64
from microsim.errors import ZxError
from microsim.objects.process import Process
from microsim.objects.vmar import Mapping, Vmar

_INVALID = zx.ZX_ERR_INVALID_ARGS
PAGE = zx.ZX_PAGE_SIZE


# --------------------------------------------------------------------------- create
def _validate(p: Process, index: int, region: zx.zx_iob_region_t) -> tuple[zx.zx_iob_region_t, IobSharedRegion | None, int]:
    """Check one region in Zircon's order; returns (stored description, shared, size)."""
    shared: IobSharedRegion | None = None
    if region.type == zx.ZX_IOB_REGION_TYPE_PRIVATE:
        options = region.private_region.options
        allowed = zx.ZX_VMO_RESIZABLE | zx.ZX_VMO_DISCARDABLE | zx.ZX_VMO_UNBOUNDED
        if options & ~allowed or (options & zx.ZX_VMO_RESIZABLE and options & zx.ZX_VMO_UNBOUNDED):
            raise ZxError(_INVALID, f"region {index}: bad VMO options {options:#x}")
        if options & zx.ZX_VMO_UNBOUNDED:
            from microsim_vmo import VMO_MAX_SIZE

            size = VMO_MAX_SIZE
        else:
            size = round_size(region.size)
    elif region.type == zx.ZX_IOB_REGION_TYPE_SHARED:
        if region.shared_region.options != 0 or region.size != 0:
            raise ZxError(_INVALID, f"region {index}: shared regions take size 0 and options 0")
        shared = p.obj(region.shared_region.shared_region, IobSharedRegion, zx.ZX_RIGHT_NONE)
        assert shared is not None
        if shared.vmo.size < 2 * PAGE:
            raise ZxError(_INVALID, f"region {index}: a shared region needs 2 pages")
        size = 0
    else:
        raise ZxError(_INVALID, f"region {index}: unknown type {region.type}")
    stored = rounded(region, size)
    check_access(stored)
    check_discipline(stored, shared is not None)
    return stored, shared, size


def sys_iob_create(p: Process, options: int, regions: list[Any]) -> tuple[int, int]:
    """zx_iob_create: an IOB with 1..64 regions; returns (ep0, ep1).

    `regions` is a list of `zx_iob_region_t` (or their 120-byte encodings).
    """
    if arg_u64(options) != 0:
        raise ZxError(_INVALID, "options must be 0")
    p.enforce_policy(zx.ZX_POL_NEW_IOB)
    if not isinstance(regions, (list, tuple)):
        raise ZxError(_INVALID, "regions must be a list")
    if len(regions) > zx.ZX_IOB_MAX_REGIONS:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"more than {zx.ZX_IOB_MAX_REGIONS} regions")
    parsed = [parse_region(r) for r in regions]
    if not parsed:
        raise ZxError(_INVALID, "at least one region is needed")
    checked = [_validate(p, i, r) for i, r in enumerate(parsed)]
    k = p.kernel
    # Allocation points, before any state changes: 2 handles, 2 endpoints, and per
    # region its VMO (private) and the two endpoint references.
    if k.mem.armed:
        for _ in range(2):
            k.mem.alloc("handle")
    built: list[IobRegion] = []
    try:
        for i, (desc, shared, size) in enumerate(checked):
            if shared is None:
                vmo_options = desc.private_region.options
                unbounded = vmo_options & zx.ZX_VMO_UNBOUNDED
                vmo = Vmo.create(k, 0 if unbounded else size, vmo_options)
                if desc.discipline.type == zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR:
                    vmo.commit(0, size)  # pinned and committed, like the kernel mapping
            else:
                vmo = shared.vmo
            region = IobRegion(i, desc, vmo, shared)
            region.ep_vmos = [vmo.create_reference(), vmo.create_reference()]
            built.append(region)
    except ZxError:
        _discard(built)
        raise
    # Commit: nothing below can fail.
    state = SharedState(k, built)
    ep0, ep1 = IobEndpoint(k, state, 0), IobEndpoint(k, state, 1)
    PeeredObject.link(ep0, ep1)
    k.publish(ep0, p.koid)
    k.publish(ep1, p.koid)
    for region in built:
        vmo = region.vmo
        if region.shared is None:
            vmo.retain()  # the shared state's reference
            k.publish(vmo, ep0.koid)
            if region.discipline == zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR:
                vmo.pin()
                id_allocator.init(vmo, region.desc.size)
        else:
            region.shared.retain()
            vmo.retain()
        for ep, ref in enumerate(region.ep_vmos):
            ref.retain()  # the shared state's reference
            ref.user_koid = region.koid
            ref.has_stream_size = False
            k.publish(ref, (ep0, ep1)[ep].koid)
        # Each endpoint observes the *other* endpoint's reference (the seed's
        # ep_vmos_[i]->SetChildObserver(peer)).
        region.ep_vmos[0].set_child_observer(ep1)
        region.ep_vmos[1].set_child_observer(ep0)
        if k.trace is not None:
            k.emit("iob.region_created", ep0.koid, region.index, region.koid, region.desc.size,
                   region.desc.type, region.discipline)
    rights = IobEndpoint.default_rights
    return k.new_handle(p, ep0, rights, reserved=True), k.new_handle(p, ep1, rights, reserved=True)


def _discard(built: list[IobRegion]) -> None:
    """Undo the references made for regions of a failed create (never published)."""
    for region in built:
        for ref in region.ep_vmos:
            ref.kernel.destroy(ref)


# --------------------------------------------------------------------------- map
def sys_vmar_map_iob(
    p: Process, vmar: int, options: int, vmar_offset: int, iob: int, region_index: int,
    region_offset: int, region_len: int,
) -> int:
    """zx_vmar_map_iob: map a region through an endpoint; returns the address.

    The mapping's rights are the handle's rights AND the region's map access for this
    endpoint (ZX_ERR_ACCESS_DENIED beyond them); then the checks of zx_vmar_map.
    """
    vh = p.lookup(vmar, Vmar, 0)
    ih = p.lookup(iob, IobEndpoint, 0)
    ep: IobEndpoint = ih.obj
    index = arg_u32(region_index)
    regions = ep.state.regions
    if index >= len(regions):
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"region {index} of {len(regions)}")
    region = regions[index]
    rights = ep.map_rights(region, ih.rights)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
    # Zircon creates the mappable child first; if the map then fails, dropping it undoes
    # the peer's count (first child, then zero children): no net change.
    ref = region.ep_vmos[ep.ep]
    child = ref.create_reference()
    child.user_koid = region.koid
    child.has_stream_size = False
    k.publish(child, ep.koid)
    target: Vmar = vh.obj
    try:
        mapping = target.map_object(options, vmar_offset, child, region_offset, region_len,
                                    rights, vh.rights)
    except ZxError:
        k.destroy(child)
        raise

    def unmapped(vmo: Vmo, m: Mapping) -> None:
        if k.trace is not None:
            k.emit("iob.region_unmapped", ep.koid, ep.ep, index, m.base, m.size)

    child.mapping_listener = unmapped
    if k.trace is not None:
        k.emit("iob.region_mapped", ep.koid, ep.ep, index, mapping.base, mapping.size, child.koid)
    return mapping.base


# --------------------------------------------------------------------------- mediated ops
def _mediated_write_region(p: Process, iob: Any, region_index: Any, discipline: int) -> tuple[IobEndpoint, int, IobRegion]:
    """The checks both mediated syscalls make, in Zircon's order: the handle with
    ZX_RIGHT_WRITE, the region index (OUT_OF_RANGE), the discipline (WRONG_TYPE), the
    endpoint's mediated write access (ACCESS_DENIED)."""
    ep: IobEndpoint = p.obj(iob, IobEndpoint, zx.ZX_RIGHT_WRITE)
    index = arg_u32(region_index)
    regions = ep.state.regions
    if index >= len(regions):
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"region {index} of {len(regions)}")
    region = regions[index]
    if region.discipline != discipline:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE, "the region has another discipline")
    if not ep.mediated_rights(region) & zx.ZX_RIGHT_WRITE:
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "no mediated write access")
    return ep, index, region


def sys_iob_allocate_id(p: Process, iob: int, options: int, region_index: int, blob: bytes | None) -> int:
    """zx_iob_allocate_id: store `blob` in an ID_ALLOCATOR region; returns its id."""
    if arg_u32(options) != 0:
        raise ZxError(_INVALID, "options must be 0")
    ep, index, region = _mediated_write_region(p, iob, region_index, zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR)
    data = b"" if blob is None else arg_bytes(blob)
    new_id = id_allocator.allocate(region.vmo, region.desc.size, data)
    k = p.kernel
    if k.trace is not None:
        k.emit("iob.id_allocated", ep.koid, index, new_id, len(data))
    return new_id


def sys_iob_create_shared_region(p: Process, options: int, size: int) -> int:
    """zx_iob_create_shared_region: memory for ring-buffer regions; returns its handle."""
    if arg_u64(options) != 0:
        raise ZxError(_INVALID, "options must be 0")
    size = arg_size(size)
    if size == 0 or size % PAGE:
        raise ZxError(_INVALID, "size must be a non-zero multiple of the page size")
    round_size(size)
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("handle")
        k.mem.alloc("object")  # the region, before its memory is committed
    vmo = Vmo.create(k, size, 0)
    vmo.commit(0, size)
    vmo.has_stream_size = False
    shared = IobSharedRegion(k, vmo)
    vmo.retain()
    vmo.pin()
    vmo.user_koid = shared.koid
    k.publish(shared, p.koid)
    k.publish(vmo, shared.koid)
    return k.new_handle(p, shared, IobSharedRegion.default_rights, reserved=True)


def sys_iob_writev(p: Process, iob: int, options: int, region_index: int, vectors: list[bytes] | None) -> None:
    """zx_iob_writev: append the vectors as one record to a ring-buffer region."""
    if arg_u64(options) != 0:
        raise ZxError(_INVALID, "options must be 0")
    ep, index, region = _mediated_write_region(
        p, iob, region_index, zx.ZX_IOB_DISCIPLINE_TYPE_MEDIATED_WRITE_RING_BUFFER
    )
    if vectors is None:
        vectors = []
    if not isinstance(vectors, (list, tuple)):
        raise ZxError(_INVALID, "vectors must be a list of buffers")
    if len(vectors) > ring_buffer.MAX_VECTORS:
        raise ZxError(_INVALID, f"more than {ring_buffer.MAX_VECTORS} vectors")
    payload = b"".join(arg_bytes(v) for v in vectors)
    if len(payload) > ring_buffer.MAX_PAYLOAD:
        raise ZxError(_INVALID, f"more than {ring_buffer.MAX_PAYLOAD} bytes")
    assert region.shared is not None
    head = ring_buffer.write(region.vmo, region.desc.discipline.tag, payload)
    k = p.kernel
    if k.trace is not None:
        k.emit("iob.ring_write", ep.koid, index, len(payload), head)
    region.shared.strobe(zx.ZX_IOB_SHARED_REGION_UPDATED)
    return None


# --------------------------------------------------------------------------- info
def info_iob(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_iob_t:
    """ZX_INFO_IOB: options (always 0) and the region count."""
    zx.zx_info_iob_t.check_buffer(buffer_size)
    ep: IobEndpoint = h.obj
    return zx.zx_info_iob_t(options=0, region_count=len(ep.state.regions))


def info_iob_regions(p: Process, h: Handle, buffer_size: int | None) -> InfoList:
    """ZX_INFO_IOB_REGIONS: each region's description (endpoint-relative access) and koid."""
    ep: IobEndpoint = h.obj
    records = []
    for region in ep.state.regions:
        desc = zx.zx_iob_region_t.unpack(region.desc.pack())
        if ep.ep == 1:
            desc.access = swap_access(desc.access)
        records.append(zx.zx_iob_region_info_t(region=desc, koid=region.koid))
    return InfoList.clip(records, zx.zx_iob_region_info_t.SIZE, buffer_size)


SYSCALLS = {
    "zx_iob_create": sys_iob_create,
    "zx_vmar_map_iob": sys_vmar_map_iob,
    "zx_iob_allocate_id": sys_iob_allocate_id,
    "zx_iob_create_shared_region": sys_iob_create_shared_region,
    "zx_iob_writev": sys_iob_writev,
}
