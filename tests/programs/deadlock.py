"""A deadlock: three threads each wait for a message that only another, also waiting,
thread would send.

    microsim run tests/programs/deadlock.py --trace dl.jsonl   # reports the deadlock
    microsim trace summary dl.jsonl                      # the three waits did not return
"""

from __future__ import annotations

from microsim import zx


def waiter(ctx, inbox: int, outbox: int) -> None:  # type: ignore[no-untyped-def]
    """Wait for a message on `inbox`, then pass one on through `outbox` (never gets there)."""
    ctx.zx.object_wait_one(inbox, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    ctx.zx.channel_write(outbox, 0, b"go", [])


def main(ctx) -> None:  # type: ignore[no-untyped-def]
    """Three channels in a ring; nobody writes first."""
    ring = [ctx.zx.channel_create(0) for _ in range(3)]  # (outbox, inbox) pairs
    for i in range(2):
        ctx.thread(waiter, ctx, ring[i][1], ring[(i + 1) % 3][0], name=f"waiter{i}")
    waiter(ctx, ring[2][1], ring[0][0])
