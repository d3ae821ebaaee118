"""Benchmark: a thread switch. Two threads ping-pong over a channel (write, then
zx_object_wait_one and read: the blocking-wait path), against the same ping-pong written
with asyncio queues, interleaved in the same run (bench/harness.py). Target: ratio <= 2x.
The kernel is the default one (every installed plugin), untraced.
Run: python bench/bench_switch.py   (MICROSIM_BENCH_REPEATS=3 for a short run)
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from microsim import Kernel, zx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare

N = 20_000


def simulated() -> float:
    """Seconds per round trip between two simulated threads."""
    with Kernel(seed=1) as k:
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
    compare({"simulated threads (channel)": simulated, "asyncio tasks (queues)": with_asyncio},
            baseline="asyncio tasks (queues)", unit="µs per round trip", scale=1e6, target=2.0)


if __name__ == "__main__":
    main()
