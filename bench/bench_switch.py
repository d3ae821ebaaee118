"""Benchmark: a thread switch. Two threads ping-pong over a channel, against the same
ping-pong written with asyncio queues, in the same run. Target: ratio <= 2x.
Run: python bench/bench_switch.py
"""

from __future__ import annotations

import asyncio
import time

from microsim import Kernel, zx

N = 20_000


def simulated() -> float:
    """Seconds per round trip between two simulated threads."""
    with Kernel(seed=1, plugins=["channel"]) as k:
        p = k.create_process("bench")
        a, b = p.zx.channel_create(0)
        wait, read, write = p.zx.object_wait_one, p.zx.channel_read, p.zx.channel_write
        inf = zx.ZX_TIME_INFINITE
        readable = zx.ZX_CHANNEL_READABLE

        def ping() -> None:
            for _ in range(N):
                write(a, 0, b"p", [])
                wait(a, readable, inf)
                read(a, 0)

        def pong() -> None:
            for _ in range(N):
                wait(b, readable, inf)
                read(b, 0)
                write(b, 0, b"q", [])

        k.create_thread(p, ping)
        k.create_thread(p, pong)
        t0 = time.perf_counter()
        k.run()
        return (time.perf_counter() - t0) / N


def with_asyncio() -> float:
    """Seconds per round trip between two asyncio tasks over queues."""
    async def run() -> float:
        q1: asyncio.Queue[bytes] = asyncio.Queue()
        q2: asyncio.Queue[bytes] = asyncio.Queue()

        async def ping() -> None:
            for _ in range(N):
                await q1.put(b"p")
                await q2.get()

        async def pong() -> None:
            for _ in range(N):
                await q1.get()
                await q2.put(b"q")

        t0 = time.perf_counter()
        await asyncio.gather(ping(), pong())
        return (time.perf_counter() - t0) / N

    return asyncio.run(run())


def main() -> None:
    sim = min(simulated() for _ in range(3))
    aio = min(with_asyncio() for _ in range(3))
    print(f"simulated threads over a channel  {sim * 1e6:8.2f} us per round trip")
    print(f"asyncio tasks over queues         {aio * 1e6:8.2f} us per round trip")
    print(f"ratio {sim / aio:.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
