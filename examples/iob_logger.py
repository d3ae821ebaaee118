"""An IOB logger: interned format strings (ID allocator) plus a record region.

The client interns each format string once with zx_iob_allocate_id (region 0, the ID
allocator discipline) and appends fixed-size records carrying the id and an argument to
region 1 through its own mapping. The reader maps both regions read-only, decodes the
ID allocator container and the records, and prints the log.

The client closes its endpoint handle while it still maps region 1: the reader sees no
ZX_IOB_PEER_CLOSED until the client unmaps, and then sees it.

    microsim run examples/iob_logger.py
"""

from __future__ import annotations

import struct

from microsim import ZxError, zx

PAGE = zx.ZX_PAGE_SIZE
DONE = zx.ZX_USER_SIGNAL_0
MESSAGES = [("boot took %d ms", 12), ("disk %d is ready", 0), ("boot took %d ms", 9), ("disk %d is ready", 1)]


def regions() -> list[zx.zx_iob_region_t]:
    """Region 0: ID allocator (client mediated write, reader map read).
    Region 1: records (client map read/write, reader map read)."""
    strings = zx.zx_iob_region_t(
        type=zx.ZX_IOB_REGION_TYPE_PRIVATE, size=PAGE,
        access=zx.ZX_IOB_ACCESS_EP0_CAN_MEDIATED_WRITE | zx.ZX_IOB_ACCESS_EP1_CAN_MAP_READ,
    )
    strings.discipline.type = zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR
    records = zx.zx_iob_region_t(
        type=zx.ZX_IOB_REGION_TYPE_PRIVATE, size=PAGE,
        access=zx.ZX_IOB_ACCESS_EP0_CAN_MAP_READ | zx.ZX_IOB_ACCESS_EP0_CAN_MAP_WRITE
        | zx.ZX_IOB_ACCESS_EP1_CAN_MAP_READ,
    )
    return [strings, records]


def decode_strings(data: bytes) -> dict[int, str]:
    """The ID allocator container: header {next_id, blob_head}, index, blobs."""
    next_id, _ = struct.unpack_from("<II", data, 0)
    out = {}
    for i in range(next_id):
        size, offset = struct.unpack_from("<II", data, 8 + 8 * i)
        out[i] = data[offset : offset + size].decode()
    return out


def reader(ctx) -> None:  # type: ignore[no-untyped-def]
    """Map both regions read-only and print the log."""
    (chan,) = ctx.handles
    ctx.zx.object_wait_one(chan, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    _, (ep1,) = ctx.zx.channel_read(chan, 0)
    vmar = ctx.zx.vmar_root_self()
    strings_at = ctx.zx.vmar_map_iob(vmar, zx.ZX_VM_PERM_READ, 0, ep1, 0, 0, PAGE)
    records_at = ctx.zx.vmar_map_iob(vmar, zx.ZX_VM_PERM_READ, 0, ep1, 1, 0, PAGE)
    ctx.zx.object_wait_one(ep1, DONE, zx.ZX_TIME_INFINITE)
    strings = decode_strings(ctx.process.read_memory(strings_at, PAGE))
    (count,) = struct.unpack("<I", ctx.process.read_memory(records_at, 4))
    for i in range(count):
        fmt_id, arg = struct.unpack("<II", ctx.process.read_memory(records_at + 4 + 8 * i, 8))
        print(f"log: {strings[fmt_id] % arg}")
    try:
        ctx.zx.object_wait_one(ep1, zx.ZX_IOB_PEER_CLOSED, 0)
        print("reader: PEER_CLOSED too early!")
    except ZxError as e:
        assert e.status == zx.ZX_ERR_TIMED_OUT
        print("reader: no PEER_CLOSED yet: the client still maps region 1")
    ctx.zx.channel_write(chan, 0, b"ack", [])
    ctx.zx.object_wait_one(ep1, zx.ZX_IOB_PEER_CLOSED, zx.ZX_TIME_INFINITE)
    print("reader: PEER_CLOSED after the client unmapped")
    ctx.zx.handle_close_many([ep1, chan])


def main(ctx) -> None:  # type: ignore[no-untyped-def]
    """The client."""
    ep0, ep1 = ctx.zx.iob_create(0, regions())
    mine, theirs = ctx.zx.channel_create(0)
    ctx.spawn(reader, handles=[theirs], name="log-reader")
    ctx.zx.channel_write(mine, 0, b"", [ep1])
    vmar = ctx.zx.vmar_root_self()
    records_at = ctx.zx.vmar_map_iob(vmar, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, ep0, 1, 0, PAGE)
    ids: dict[str, int] = {}
    for i, (fmt, arg) in enumerate(MESSAGES):
        if fmt not in ids:
            ids[fmt] = ctx.zx.iob_allocate_id(ep0, 0, 0, fmt.encode())
        ctx.process.write_memory(records_at + 4 + 8 * i, struct.pack("<II", ids[fmt], arg))
        ctx.process.write_memory(records_at, struct.pack("<I", i + 1))
    ctx.zx.object_signal_peer(ep0, 0, DONE)
    ctx.zx.handle_close(ep0)  # closed, but region 1 is still mapped here
    ctx.zx.object_wait_one(mine, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    ctx.zx.vmar_unmap(vmar, records_at, PAGE)
    ctx.zx.handle_close(mine)
