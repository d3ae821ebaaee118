"""The mediated-write ring buffer in a shared region.

Page 0 holds `head` (u64 @0, total bytes ever written; only the kernel advances it) and
`tail` (u64 @8, the reader's progress). Records live in [page, size): tag u64, payload
length u64, payload, padded to 8 bytes, at data offset head % buffer_size, wrapping
byte-wise. head and tail are untrusted (userspace may write them).
"""

from __future__ import annotations

import struct

from microsim_vmo import Vmo

from microsim import zx
from microsim.errors import ZxError

PAGE = zx.ZX_PAGE_SIZE
RECORD_HEADER = 16
MAX_PAYLOAD = 65535 - RECORD_HEADER  # 65519
MAX_VECTORS = 8
_U64 = (1 << 64) - 1


def record_size(payload: int) -> int:
    """Bytes a record with `payload` bytes occupies (header + payload, 8-aligned)."""
    return (RECORD_HEADER + payload + 7) & ~7


def write(vmo: Vmo, tag: int, payload: bytes) -> int:
    """Append one record; returns the new head. NO_SPACE / IO_DATA_INTEGRITY as Zircon."""
    buffer_size = vmo.size - PAGE
    rounded = record_size(len(payload))
    if rounded > buffer_size:
        raise ZxError(zx.ZX_ERR_NO_SPACE, "the record is larger than the ring")
    head, tail = struct.unpack("<QQ", vmo.read(0, 16))
    if tail > head or _U64 - head < rounded or head % 8:
        raise ZxError(zx.ZX_ERR_IO_DATA_INTEGRITY, "corrupt ring head/tail")
    if head - tail > buffer_size - rounded:
        raise ZxError(zx.ZX_ERR_NO_SPACE, "the ring is full")
    record = struct.pack("<QQ", tag, len(payload)) + payload
    pos = head % buffer_size
    first = min(len(record), buffer_size - pos)
    vmo.write(PAGE + pos, record[:first])
    if first < len(record):
        vmo.write(PAGE, record[first:])
    new_head = head + rounded
    vmo.write(0, struct.pack("<Q", new_head))
    return new_head
