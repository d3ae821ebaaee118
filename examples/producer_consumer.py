"""A producer and a consumer thread in one process, talking over a channel.

    microsim run examples/producer_consumer.py -- 20
"""

from __future__ import annotations

from microsim import ZxError, zx


def consumer(ctx, end: int, received: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Read numbers until the producer hangs up."""
    while True:
        try:
            seen = ctx.zx.object_wait_one(end, zx.ZX_CHANNEL_READABLE | zx.ZX_CHANNEL_PEER_CLOSED,
                                          zx.ZX_TIME_INFINITE)
        except ZxError:
            return
        if seen & zx.ZX_CHANNEL_READABLE:
            data, _ = ctx.zx.channel_read(end, 0)
            received.append(int.from_bytes(data, "little"))
        elif seen & zx.ZX_CHANNEL_PEER_CLOSED:
            ctx.zx.handle_close(end)
            return


def main(ctx) -> int:  # type: ignore[no-untyped-def]
    """Start the consumer thread, produce N numbers, check they all arrived in order."""
    n = int(ctx.args[0]) if ctx.args else 10
    prod, cons = ctx.zx.channel_create(0)
    received: list[int] = []
    t = ctx.thread(consumer, ctx, cons, received, name="consumer")
    for i in range(n):
        ctx.zx.channel_write(prod, 0, i.to_bytes(4, "little"), [])
    ctx.zx.handle_close(prod)
    # Wait for the consumer thread to finish.
    ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
    ctx.zx.handle_close(t)
    assert received == list(range(n)), received
    print(f"consumer received {len(received)} messages in order")
    return 0
