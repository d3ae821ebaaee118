"""The blob ID allocator container living in an ID_ALLOCATOR region's bytes.

Layout (little endian, region length L): u32 next_id and u32 blob_head at offset 0 (one
atomic u64 header), index entries {u32 size, u32 offset} at 8 + 8*id growing up, blobs
growing down from L. The bytes are shared with userspace mappings, so everything read
from them is untrusted: every pattern leads to a status, never an exception.
"""

from __future__ import annotations

import struct

from microsim_vmo import Vmo

from microsim import zx
from microsim.errors import ZxError

HEADER_SIZE = 8
INDEX_ENTRY_SIZE = 8
_MAX_NEXT_ID = (0xFFFF_FFFF - HEADER_SIZE) // INDEX_ENTRY_SIZE


def init(vmo: Vmo, length: int) -> None:
    """Initialise the container: header {next_id 0, blob_head L}; the rest is zero."""
    vmo.write(0, struct.pack("<II", 0, length))


def allocate(vmo: Vmo, length: int, blob: bytes) -> int:
    """Allocate the next id for `blob` (Zircon's Allocate; see the module docstring).

    ZX_ERR_IO_DATA_INTEGRITY for a corrupt header or a non-empty index slot (the header
    has then already advanced, as in Zircon), ZX_ERR_NO_MEMORY when full.
    """
    next_id, blob_head = struct.unpack("<II", vmo.read(0, HEADER_SIZE))
    if next_id > _MAX_NEXT_ID:
        raise ZxError(zx.ZX_ERR_IO_DATA_INTEGRITY, "corrupt header: next_id overflows the index")
    index_end = HEADER_SIZE + INDEX_ENTRY_SIZE * next_id
    if not index_end <= blob_head <= length:
        raise ZxError(zx.ZX_ERR_IO_DATA_INTEGRITY, "corrupt header")
    remaining = blob_head - index_end
    n = len(blob)
    if remaining < INDEX_ENTRY_SIZE or remaining - INDEX_ENTRY_SIZE < n:
        raise ZxError(zx.ZX_ERR_NO_MEMORY, "the ID allocator region is full")
    new_head = blob_head - n
    vmo.write(0, struct.pack("<II", next_id + 1, new_head))
    if n:
        vmo.write(new_head, blob)
    slot = HEADER_SIZE + INDEX_ENTRY_SIZE * next_id
    if vmo.read(slot, INDEX_ENTRY_SIZE) != bytes(INDEX_ENTRY_SIZE):
        raise ZxError(zx.ZX_ERR_IO_DATA_INTEGRITY, f"index slot of id {next_id} is not empty")
    vmo.write(slot, struct.pack("<II", n, new_head))
    return next_id
