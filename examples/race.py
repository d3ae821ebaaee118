"""A race that only some schedules expose.

Two threads each read a counter from shared memory, yield (a syscall: another thread may
run), and write back the value plus one. Under most seeds the increments serialise; under
some the second thread reads before the first writes, and an increment is lost.

    microsim run examples/race.py --seeds 0..49     # finds the failing seeds
    microsim run examples/race.py --seed N          # replays one
"""

from __future__ import annotations

from microsim import zx

PAGE = zx.ZX_PAGE_SIZE


def bump(ctx, vmo: int) -> None:  # type: ignore[no-untyped-def]
    """Read-modify-write without a lock: the bug."""
    value = int.from_bytes(ctx.zx.vmo_read(vmo, 0, 4), "little")
    ctx.zx.clock_get_monotonic()  # any syscall is a point where another thread may run
    ctx.zx.vmo_write(vmo, (value + 1).to_bytes(4, "little"), 0)


def main(ctx) -> None:  # type: ignore[no-untyped-def]
    """Two increments; fail if one was lost."""
    vmo = ctx.zx.vmo_create(PAGE, 0)
    threads = [ctx.thread(bump, ctx, vmo, name=f"bump{i}") for i in range(2)]
    for t in threads:
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
        ctx.zx.handle_close(t)
    total = int.from_bytes(ctx.zx.vmo_read(vmo, 0, 4), "little")
    ctx.zx.handle_close(vmo)
    assert total == 2, f"lost an increment: counter is {total}"
