"""The IOB plugin: Zircon's IOBuffer (io_buffer_dispatcher.cc) as a plugin.

Peered endpoints sharing 1..64 regions; each region backed by a VMO from the VMO plugin,
with one child reference per endpoint and one more per mapping, so that the VMO plugin's
child observers drive ZX_IOB_PEER_CLOSED; access bits per endpoint for mapping and for
kernel-mediated operations; the ID-allocator and mediated-write ring-buffer disciplines
and shared regions. See docs/iob-walkthrough.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsim_iob.endpoint import IobEndpoint, IobRegion, IobSharedRegion
from microsim_iob.regions import map_rights, mediated_rights, swap_access
from microsim_iob.syscalls import SYSCALLS, info_iob, info_iob_regions

from microsim import hookimpl, zx
from microsim.kernel import Kernel
from microsim.objects.process import Process

requires = ("vmo",)
description = "IOBuffers: peered endpoints sharing regions, mediated access, disciplines"

__all__ = [
    "IobEndpoint",
    "IobRegion",
    "IobSharedRegion",
    "map_rights",
    "mediated_rights",
    "swap_access",
]


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(IobEndpoint)
    register(IobSharedRegion)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    for name, impl in SYSCALLS.items():
        register(name, impl)


@hookimpl
def register_info_topics(register: Callable[..., None]) -> None:
    register(zx.ZX_INFO_IOB, info_iob, name="ZX_INFO_IOB", cls=IobEndpoint,
             rights=zx.ZX_RIGHT_INSPECT)
    register(zx.ZX_INFO_IOB_REGIONS, info_iob_regions, name="ZX_INFO_IOB_REGIONS",
             cls=IobEndpoint, rights=zx.ZX_RIGHT_INSPECT)


@hookimpl
def register_event_kinds(register: Callable[[str, tuple[str, ...]], None]) -> None:
    register("iob.region_created", ("iob", "region", "region_koid", "size", "region_type", "discipline"))
    register("iob.region_mapped", ("iob", "ep", "region", "addr", "len", "child"))
    register("iob.region_unmapped", ("iob", "ep", "region", "addr", "len"))
    register("iob.peer_closed", ("iob", "ep"))
    register("iob.endpoint_destroyed", ("iob", "ep"))
    register("iob.id_allocated", ("iob", "region", "id", "blob_len"))
    register("iob.ring_write", ("iob", "region", "len", "head"))


@hookimpl
def process_vmos(kernel: Kernel, process: Process, add: Callable[[Any], None]) -> None:
    """ZX_INFO_PROCESS_VMOS: one entry per region per IOB endpoint handle."""
    for handle in list(process.handles.values()):
        ep = handle.obj
        if not isinstance(ep, IobEndpoint):
            continue
        for region in ep.state.regions:
            ref = region.ep_vmos[ep.ep]
            info = ref.info(ep.map_rights(region, handle.rights) & (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE),
                            zx.ZX_INFO_VMO_VIA_IOB_HANDLE)
            info.koid = region.koid
            add(info)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("iob"):
        assert isinstance(obj, IobEndpoint)
        peer_ep = 1 - obj.ep
        expected = sum(
            1 for r in obj.state.regions
            if r.ep_vmos[peer_ep].children and r.ep_vmos[peer_ep].child_observer is obj
        )
        if obj.peer_mapped_regions != expected:
            report(f"{obj!r}: peer_mapped_regions {obj.peer_mapped_regions} != {expected}")
        closed = bool(obj.signals & zx.ZX_IOB_PEER_CLOSED)
        if closed != (obj.peer_zero_handles and obj.peer_mapped_regions == 0):
            report(f"{obj!r}: PEER_CLOSED={closed} but peer_zero_handles="
                   f"{obj.peer_zero_handles}, peer_mapped_regions={obj.peer_mapped_regions}")
        for r in obj.state.regions:
            observer = r.ep_vmos[obj.ep].child_observer
            if observer is not None and not observer.alive:
                report(f"{obj!r}: region {r.index} is observed by destroyed {observer!r}")
