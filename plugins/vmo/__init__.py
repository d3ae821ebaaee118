"""The VMO plugin: virtual memory objects.

Public API for other plugins (the IOB plugin builds on it):

- `Vmo.create(kernel, size, options=0, *, name=b"") -> Vmo`: validated like
  zx_vmo_create; UNPUBLISHED (call `kernel.publish(vmo, owner_koid)`).
- `vmo.create_child(options, offset, size)`, `vmo.create_reference()`: children
  (unpublished); a child holds a kernel reference on its parent.
- `vmo.set_child_observer(obs)`: `obs.on_zero_children(vmo)` when the direct-child count
  drops to 0, and `obs.on_first_child(vmo)` (optional) when it rises from 0 (Zircon's
  VmObjectChildObserver). Hooks `vmo_first_child` / `vmo_zero_children` see every VMO.
- `vmo.read(offset, length)`, `vmo.write(offset, data)`, `vmo.zero_range(offset, length)`,
  `vmo.stream_size()` (None: no stream size), `vmo.set_content_size(n)`, `vmo.expand(size)`
  (grow, keeping the content size), `vmo.resizable`, `vmo.size`, `vmo.content_size`,
  `vmo.children`, `vmo.parent`, `vmo.num_mappings`, `vmo.pin()` / `unpin()`,
  `vmo.info(handle_rights, extra_flags)`.
- Hook `process_vmos(kernel, process, add)`: contribute ZX_INFO_PROCESS_VMOS entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microsim_vmo import hookspecs as _hookspecs
from microsim_vmo.syscalls import (
    SYSCALLS,
    info_vmo,
    info_vmo_v1,
    info_vmo_v2,
    prop_content_size_get,
    prop_content_size_set,
)
from microsim_vmo.vmo import VMO_MAX_SIZE, ChildObserver, PageStore, Vmo

from microsim import ZxError, hookimpl, zx
from microsim.core.handle import Handle
from microsim.core.info import InfoList
from microsim.kernel import Kernel
from microsim.objects.process import DEAD, DYING, Process

description = "virtual memory objects: sparse pages, reference/slice/snapshot children"

__all__ = ["VMO_MAX_SIZE", "ChildObserver", "PageStore", "Vmo"]


@dataclass
class VmoHooks:
    """Cached observer-hook callers (None when no plugin implements them)."""

    first_child: Any
    zero_children: Any
    process_vmos: Any


@hookimpl
def register_hookspecs(register: Callable[[Any], None]) -> None:
    register(_hookspecs)


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Vmo)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    for name, impl in SYSCALLS.items():
        register(name, impl)


@hookimpl
def register_event_kinds(register: Callable[[str, tuple[str, ...]], None]) -> None:
    register("vmo.child_created", ("koid", "child", "child_kind"))
    register("vmo.zero_children", ("koid",))


def _process_vmos(p: Process, h: Handle, buffer_size: int | None) -> InfoList:
    proc: Process = h.obj
    # Zircon answers BAD_STATE unless the process is running. A process driven from
    # Python (no thread started) counts as running here, as it makes syscalls.
    if proc.state in (DYING, DEAD):
        raise ZxError(zx.ZX_ERR_BAD_STATE, "the process is exiting or dead")
    k = p.kernel
    entries: list[zx.zx_info_vmo_t] = []
    for handle in list(proc.handles.values()):
        if isinstance(handle.obj, Vmo):
            entries.append(handle.obj.info(handle.rights, zx.ZX_INFO_VMO_VIA_HANDLE))
    root = proc.root_vmar
    if root is not None and not proc.exited:
        for _, node in root.walk(0):
            obj = getattr(node, "obj", None)
            if isinstance(obj, Vmo):
                entries.append(obj.info(0, zx.ZX_INFO_VMO_VIA_MAPPING))
    hooks: VmoHooks | None = getattr(k, "vmo_hooks", None)
    if hooks is not None and hooks.process_vmos is not None:
        hooks.process_vmos(kernel=k, process=proc, add=entries.append)
    return InfoList.clip(entries, zx.zx_info_vmo_t.SIZE, buffer_size)


@hookimpl
def register_info_topics(register: Callable[..., None]) -> None:
    register(zx.ZX_INFO_VMO, info_vmo, name="ZX_INFO_VMO", cls=Vmo)
    register(zx.ZX_INFO_VMO_V1, info_vmo_v1, name="ZX_INFO_VMO_V1", cls=Vmo)
    register(zx.ZX_INFO_VMO_V2, info_vmo_v2, name="ZX_INFO_VMO_V2", cls=Vmo)
    register(zx.ZX_INFO_PROCESS_VMOS, _process_vmos, name="ZX_INFO_PROCESS_VMOS",
             cls=Process, rights=zx.ZX_RIGHT_INSPECT)


@hookimpl
def register_properties(register: Callable[..., None]) -> None:
    register(zx.ZX_PROP_VMO_CONTENT_SIZE, name="ZX_PROP_VMO_CONTENT_SIZE",
             get=prop_content_size_get, set=prop_content_size_set, cls=Vmo, set_rights=zx.ZX_RIGHT_WRITE, size=8)


@hookimpl
def kernel_started(kernel: Kernel) -> None:
    def caller(name: str) -> Any:
        hook = getattr(kernel.pm.hook, name)
        return hook if hook.get_hookimpls() else None

    kernel.vmo_hooks = VmoHooks(  # type: ignore[attr-defined]
        caller("vmo_first_child"), caller("vmo_zero_children"), caller("process_vmos")
    )


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    mapped: dict[int, int] = {}
    for proc in kernel.processes:
        if proc.root_vmar is None:
            continue
        for _, node in proc.root_vmar.walk(0):
            obj = getattr(node, "obj", None)
            if isinstance(obj, Vmo):
                mapped[obj.koid] = mapped.get(obj.koid, 0) + 1
    stores: dict[int, tuple[PageStore, int]] = {}
    for obj in kernel.live_objects("vmo"):
        assert isinstance(obj, Vmo)
        zero = bool(obj.signals & zx.ZX_VMO_ZERO_CHILDREN)
        if zero != (not obj.children):
            report(f"{obj!r}: ZERO_CHILDREN={zero} with {len(obj.children)} children")
        for child in obj.children:
            if child.parent is not obj or not child.alive:
                report(f"{obj!r}: child {child!r} is not linked back or is dead")
        if obj.num_mappings != mapped.get(obj.koid, 0):
            report(f"{obj!r}: num_mappings {obj.num_mappings} != {mapped.get(obj.koid, 0)} mappings")
        if obj.parent is not None and obj not in obj.parent.children:
            report(f"{obj!r}: missing from its parent's children")
        stores.setdefault(id(obj.store), (obj.store, 0))
    total = sum(len(s.pages) for s, _ in stores.values())
    if total > kernel.mem.pages_used:
        report(f"VMO pages held {total} exceed pages charged {kernel.mem.pages_used}")
