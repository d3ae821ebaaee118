"""Benchmark: a futex handoff. Two simulated threads pass a turn back and forth through
a futex word in simulated memory (zx_futex_wait while it is the other's turn, which
returns ZX_ERR_BAD_STATE at once when it is already ours; flip it; wake the other), against the same handoff between two asyncio tasks on an asyncio.Condition, in
the same run. Target: ratio <= 2x.
Run: python bench/bench_futex.py   (MICROSIM_BENCH_REPEATS=3 for a short run)
"""

from __future__ import annotations

import asyncio
import time

from harness import compare

from microsim import Kernel, ZxError, zx

N = 5_000


def simulated() -> float:
    """Seconds per handoff between two simulated threads over a futex."""
    with Kernel(seed=1) as k:
        p = k.create_process("bench")
        vmo = p.zx.vmo_create(zx.ZX_PAGE_SIZE, 0)
        addr = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE,
                             0, vmo, 0, zx.ZX_PAGE_SIZE)
        write = p.write_memory
        wait, wake = p.zx.futex_wait, p.zx.futex_wake
        inf = zx.ZX_TIME_INFINITE
        words = (b"\0\0\0\0", b"\1\0\0\0")

        def player(me: int) -> None:
            other = 1 - me
            for _ in range(N):
                while True:
                    try:
                        wait(addr, other, 0, inf)  # sleep while it is the other's turn
                    except ZxError:
                        break  # BAD_STATE: the word is no longer the other's: our turn
                write(addr, words[other])
                wake(addr, 1)

        k.create_thread(p, player, 0)
        k.create_thread(p, player, 1)
        t0 = time.perf_counter()
        k.run()
        return (time.perf_counter() - t0) / (2 * N)


def with_asyncio() -> float:
    """Seconds per handoff between two asyncio tasks on a condition variable."""
    async def run() -> float:
        cond = asyncio.Condition()
        turn = [0]

        async def player(me: int) -> None:
            other = 1 - me
            for _ in range(N):
                async with cond:
                    await cond.wait_for(lambda: turn[0] == me)
                    turn[0] = other
                    cond.notify(1)

        t0 = time.perf_counter()
        await asyncio.gather(player(0), player(1))
        return (time.perf_counter() - t0) / (2 * N)

    return asyncio.run(run())


def main() -> None:
    compare({"microsim futex handoff": simulated, "asyncio condition handoff": with_asyncio},
            baseline="asyncio condition handoff", unit="µs per handoff", target=2.0)


if __name__ == "__main__":
    main()
