"""IOB region descriptions: validation in Zircon's order, and the rights they grant.

Mirrors the region checks of `IoBufferDispatcher::Create` (io_buffer_dispatcher.cc) and
`GetMapRights` / `GetMediatedRights` (io_buffer_dispatcher.h).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from microsim import zx
from microsim.errors import ZxError

_INVALID = zx.ZX_ERR_INVALID_ARGS

MAP_WRITE_ANY = zx.ZX_IOB_ACCESS_EP0_CAN_MAP_WRITE | zx.ZX_IOB_ACCESS_EP1_CAN_MAP_WRITE
MEDIATED_ANY = (
    zx.ZX_IOB_ACCESS_EP0_CAN_MEDIATED_READ | zx.ZX_IOB_ACCESS_EP0_CAN_MEDIATED_WRITE
    | zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_READ | zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_WRITE
)
# Per endpoint: (map read, map write, mediated read, mediated write).
_EP_BITS = (
    (zx.ZX_IOB_ACCESS_EP0_CAN_MAP_READ, zx.ZX_IOB_ACCESS_EP0_CAN_MAP_WRITE,
     zx.ZX_IOB_ACCESS_EP0_CAN_MEDIATED_READ, zx.ZX_IOB_ACCESS_EP0_CAN_MEDIATED_WRITE),
    (zx.ZX_IOB_ACCESS_EP1_CAN_MAP_READ, zx.ZX_IOB_ACCESS_EP1_CAN_MAP_WRITE,
     zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_READ, zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_WRITE),
)
PAGE = zx.ZX_PAGE_SIZE


def parse_region(value: Any) -> zx.zx_iob_region_t:
    """A region from a `zx_iob_region_t` or its 120 bytes (INVALID_ARGS otherwise)."""
    if isinstance(value, zx.zx_iob_region_t):
        try:
            # Round-trip through the ABI layout: the kernel copies bytes, not objects.
            return zx.zx_iob_region_t.unpack(value.pack())
        except Exception as exc:
            raise ZxError(_INVALID, f"malformed zx_iob_region_t: {exc}") from None
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == zx.zx_iob_region_t.SIZE:
        return zx.zx_iob_region_t.unpack(bytes(value))
    raise ZxError(_INVALID, "a region is a zx_iob_region_t or its 120 bytes")


def map_rights(access: int, ep: int) -> int:
    """GetMapRights: the rights a mapping through endpoint `ep` may have (never EXECUTE)."""
    read, write, _, _ = _EP_BITS[ep]
    rights = 0
    if access & write:
        rights |= zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_MAP
    if access & read:
        rights |= zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP
    return rights


def mediated_rights(access: int, ep: int) -> int:
    """GetMediatedRights: READ for mediated read, WRITE for mediated write."""
    _, _, mread, mwrite = _EP_BITS[ep]
    rights = 0
    if access & mwrite:
        rights |= zx.ZX_RIGHT_WRITE
    if access & mread:
        rights |= zx.ZX_RIGHT_READ
    return rights


def swap_access(access: int) -> int:
    """The access bits as seen from endpoint 1 ("EP0" bits describe the querying end)."""
    return ((access & 0x0F) << 4) | ((access & 0xF0) >> 4)


def check_access(region: zx.zx_iob_region_t) -> None:
    """The access rules common to every discipline."""
    access = region.access
    if access & ~0xFF:
        raise ZxError(_INVALID, "reserved access bits")
    if not access & MAP_WRITE_ANY and not access & MEDIATED_ANY:
        raise ZxError(_INVALID, "region is neither map-writable nor mediated")


def check_discipline(region: zx.zx_iob_region_t, shared: bool) -> None:
    """Discipline-specific rules (NONE, ID_ALLOCATOR, MEDIATED_WRITE_RING_BUFFER)."""
    kind = region.discipline.type
    access = region.access
    if kind == zx.ZX_IOB_DISCIPLINE_TYPE_NONE:
        if shared:
            raise ZxError(_INVALID, "a shared region needs the ring-buffer discipline")
        if access & MEDIATED_ANY:
            raise ZxError(_INVALID, "mediated access needs a discipline")
    elif kind == zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR:
        if shared:
            raise ZxError(_INVALID, "a shared region needs the ring-buffer discipline")
        for _, _, mread, mwrite in _EP_BITS:
            if access & mread and not access & mwrite:
                raise ZxError(_INVALID, "ID allocator mediated access must include write")
        if not 8 <= region.size <= 0xFFFF_FFFF:
            raise ZxError(_INVALID, "an ID allocator region is 8 bytes to 4 GiB")
    elif kind == zx.ZX_IOB_DISCIPLINE_TYPE_MEDIATED_WRITE_RING_BUFFER:
        if not shared:
            raise ZxError(_INVALID, "the ring-buffer discipline needs a shared region")
    else:
        raise ZxError(_INVALID, f"unknown discipline {kind}")


def rounded(region: zx.zx_iob_region_t, size: int) -> zx.zx_iob_region_t:
    """The stored description: the same fields with the rounded size."""
    return replace(region, size=size)
