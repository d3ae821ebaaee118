"""The IOB dispatcher state: two peered endpoints sharing an array of regions.

As in Zircon's IoBufferDispatcher, every region is backed by a VMO, and each endpoint
holds its own child *reference* of it (`region.ep_vmos[ep]`). Each endpoint's reference
has the *other* endpoint registered as its child observer. A mapping made through
endpoint X maps a further reference child of X's reference, so the VMO plugin's first-
child / zero-children notifications tell X's peer when X starts and stops mapping a
region. That is how ZX_IOB_PEER_CLOSED is delayed while the closed side still maps
something:

- `peer_zero_handles`: the peer has lost its last handle;
- `peer_mapped_regions`: regions whose peer-side reference has at least one child;
- PEER_CLOSED is asserted when both say the peer is gone (never cleared).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from microsim_iob.regions import map_rights, mediated_rights

from microsim import zx
from microsim.core.object import KernelObject, PeeredObject

if TYPE_CHECKING:
    from microsim_vmo import Vmo

    from microsim.kernel import Kernel


class IobSharedRegion(KernelObject):
    """An IOB shared region: memory several IOBs' ring-buffer regions write into."""

    obj_type = zx.ZX_OBJ_TYPE_IOB_SHARED_REGION
    type_name = "iob_shared_region"
    default_rights = zx.ZX_DEFAULT_IOB_SHARED_REGION_RIGHTS

    __slots__ = ("vmo",)

    def __init__(self, kernel: Kernel, vmo: Vmo) -> None:
        super().__init__(kernel)
        self.vmo = vmo

    def on_destroy(self) -> None:
        self.vmo.unpin()
        self.vmo.release()


class IobRegion:
    """One region: its description (rounded size), memory and per-endpoint references."""

    __slots__ = ("desc", "ep_vmos", "index", "koid", "shared", "vmo")

    def __init__(self, index: int, desc: zx.zx_iob_region_t, vmo: Vmo, shared: IobSharedRegion | None) -> None:
        self.index = index
        self.desc = desc
        self.vmo = vmo
        self.ep_vmos: list[Vmo] = []
        self.koid = shared.koid if shared is not None else vmo.koid
        self.shared = shared

    @property
    def discipline(self) -> int:
        """The region's ZX_IOB_DISCIPLINE_TYPE_*."""
        return int(self.desc.discipline.type)

    @property
    def private(self) -> bool:
        """Whether the region is a PRIVATE one (names apply only to those)."""
        return self.shared is None


class SharedState:
    """What both endpoints share: the regions. Released when both endpoints are gone."""

    __slots__ = ("kernel", "live_endpoints", "regions")

    def __init__(self, kernel: Kernel, regions: list[IobRegion]) -> None:
        self.kernel = kernel
        self.regions = regions
        self.live_endpoints = 2

    def endpoint_gone(self) -> None:
        """One endpoint was destroyed; the second one releases the regions."""
        self.live_endpoints -= 1
        if self.live_endpoints:
            return
        for region in self.regions:
            for ref in region.ep_vmos:
                ref.release()
            if region.desc.discipline.type == zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR:
                region.vmo.unpin()
            region.vmo.release()
            if region.shared is not None:
                region.shared.release()


class IobEndpoint(PeeredObject):
    """One endpoint of an IOB (`ep` is 0 or 1)."""

    obj_type = zx.ZX_OBJ_TYPE_IOB
    type_name = "iob"
    default_rights = zx.ZX_DEFAULT_IOB_RIGHTS
    peer_closed_signal = zx.ZX_IOB_PEER_CLOSED

    __slots__ = ("ep", "peer_mapped_regions", "peer_zero_handles", "state")

    def __init__(self, kernel: Kernel, state: SharedState, ep: int) -> None:
        super().__init__(kernel)
        self.state = state
        self.ep = ep
        self.peer_zero_handles = False
        self.peer_mapped_regions = 0

    # ------------------------------------------------------------------ rights
    def map_rights(self, region: IobRegion, handle_rights: int) -> int:
        """Newest GetMapRights rule: the handle's rights AND the region's map rights."""
        return handle_rights & map_rights(region.desc.access, self.ep)

    def mediated_rights(self, region: IobRegion) -> int:
        """The region's mediated rights for this endpoint."""
        return mediated_rights(region.desc.access, self.ep)

    # ------------------------------------------------------------------ peer closed
    def on_peer_zero_handles(self) -> None:
        """OnPeerZeroHandles: remember it; signal now unless the peer still maps."""
        self.peer_zero_handles = True
        self._maybe_peer_closed()

    def on_first_child(self, vmo: Vmo) -> None:
        """The peer started mapping a region (its reference got a first child)."""
        self.peer_mapped_regions += 1

    def on_zero_children(self, vmo: Vmo) -> None:
        """OnZeroChild: the peer stopped mapping a region."""
        self.peer_mapped_regions -= 1
        self._maybe_peer_closed()

    def _maybe_peer_closed(self) -> None:
        if (
            self.peer_zero_handles
            and self.peer_mapped_regions == 0
            and not self.signals & zx.ZX_IOB_PEER_CLOSED
        ):
            k = self.kernel
            if k.trace is not None:
                k.emit("iob.peer_closed", self.koid, self.ep)
            self.update_signals(0, zx.ZX_IOB_PEER_CLOSED)

    # ------------------------------------------------------------------ names
    def set_name(self, name: bytes) -> None:
        """Name both endpoints' references of every private region."""
        for region in self.state.regions:
            if region.private:
                for ref in region.ep_vmos:
                    ref.name = name

    def get_name(self) -> bytes:
        """Region 0's endpoint-0 reference name, as Zircon reports."""
        regions = self.state.regions
        return regions[0].ep_vmos[0].name if regions and regions[0].private else b""

    # ------------------------------------------------------------------ lifetime
    def on_destroy(self) -> None:
        # The seed's destructor: stop observing the peer's references, so no
        # notification reaches a destroyed endpoint.
        peer_ep = 1 - self.ep
        for region in self.state.regions:
            ref = region.ep_vmos[peer_ep]
            if ref.child_observer is self:
                ref.set_child_observer(None)
        k = self.kernel
        if k.trace is not None:
            k.emit("iob.endpoint_destroyed", self.koid, self.ep)
        self.state.endpoint_gone()

    def describe(self) -> dict[str, Any]:
        return {
            "ep": self.ep,
            "peer_zero_handles": self.peer_zero_handles,
            "peer_mapped_regions": self.peer_mapped_regions,
        }
