"""The main demo: two processes share an IOBuffer.

The writer creates an IOB, sends endpoint 1 to the reader over a channel, maps its own
endpoint and writes a few messages into the shared region, signalling after each one.
The reader maps the region through endpoint 1 and prints what it reads. When the writer
closes its endpoint and unmaps, the reader sees ZX_IOB_PEER_CLOSED.

    microsim run examples/demo.py --trace demo.jsonl
"""

from __future__ import annotations

import struct

from microsim import zx

PAGE = zx.ZX_PAGE_SIZE
MESSAGES = [b"hello from the writer", b"IOBs share memory", b"goodbye"]
NEXT = zx.ZX_USER_SIGNAL_0  # set on the reader's endpoint: a new message is there
ACK = zx.ZX_USER_SIGNAL_1  # set on the writer's endpoint: the reader took it


def reader(ctx) -> None:  # type: ignore[no-untyped-def]
    """Receive endpoint 1 over the channel, map it read-only, print each message."""
    (chan,) = ctx.handles
    ctx.zx.object_wait_one(chan, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    _, (ep1,) = ctx.zx.channel_read(chan, 0)
    addr = ctx.zx.vmar_map_iob(ctx.zx.vmar_root_self(), zx.ZX_VM_PERM_READ, 0, ep1, 0, 0, PAGE)
    while True:
        seen = ctx.zx.object_wait_one(ep1, NEXT | zx.ZX_IOB_PEER_CLOSED, zx.ZX_TIME_INFINITE)
        if seen & NEXT:
            (length,) = struct.unpack("<I", ctx.process.read_memory(addr, 4))
            text = ctx.process.read_memory(addr + 4, length)
            print(f"reader: got {text.decode()!r}")
            ctx.zx.object_signal(ep1, NEXT, 0)
            ctx.zx.object_signal_peer(ep1, 0, ACK)
        elif seen & zx.ZX_IOB_PEER_CLOSED:
            print("reader: the writer closed its endpoint (ZX_IOB_PEER_CLOSED)")
            break
    ctx.zx.vmar_unmap(ctx.zx.vmar_root_self(), addr, PAGE)
    ctx.zx.handle_close_many([ep1, chan])


def main(ctx) -> None:  # type: ignore[no-untyped-def]
    """The writer: create the IOB and the reader process, then write the messages."""
    access = (zx.ZX_IOB_ACCESS_EP0_CAN_MAP_READ | zx.ZX_IOB_ACCESS_EP0_CAN_MAP_WRITE
              | zx.ZX_IOB_ACCESS_EP1_CAN_MAP_READ)
    region = zx.zx_iob_region_t(type=zx.ZX_IOB_REGION_TYPE_PRIVATE, access=access, size=PAGE)
    ep0, ep1 = ctx.zx.iob_create(0, [region])
    ctx.zx.object_set_property(ep0, zx.ZX_PROP_NAME, b"demo-iob")
    mine, theirs = ctx.zx.channel_create(0)
    ctx.spawn(reader, handles=[theirs], name="reader")
    ctx.zx.channel_write(mine, 0, b"endpoint", [ep1])
    addr = ctx.zx.vmar_map_iob(ctx.zx.vmar_root_self(), zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE,
                               0, ep0, 0, 0, PAGE)
    for text in MESSAGES:
        ctx.process.write_memory(addr, struct.pack("<I", len(text)) + text)
        print(f"writer: wrote {text.decode()!r}")
        ctx.zx.object_signal_peer(ep0, 0, NEXT)
        ctx.zx.object_wait_one(ep0, ACK, zx.ZX_TIME_INFINITE)
        ctx.zx.object_signal(ep0, ACK, 0)
    ctx.zx.handle_close(ep0)
    print("writer: closed endpoint 0; still mapped, so no PEER_CLOSED yet")
    ctx.zx.nanosleep(ctx.zx.deadline_after(1_000_000))
    ctx.zx.vmar_unmap(ctx.zx.vmar_root_self(), addr, PAGE)
    print("writer: unmapped the region")
    ctx.zx.handle_close(mine)
