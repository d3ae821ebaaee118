"""Benchmark: a socket stream. One simulated thread writes 64 MiB into a stream socket in
64 KiB writes (short writes and waits for WRITABLE included) while another reads it,
against the same transfer between two asyncio tasks over an OS socketpair with asyncio
streams, in the same run. Target: ratio <= 2x.
Run: python bench/bench_socket.py   (MICROSIM_BENCH_REPEATS=3 for a short run)
"""

from __future__ import annotations

import asyncio
import socket
import time

from harness import compare

from microsim import Kernel, ZxError, zx

TOTAL = 64 << 20
CHUNK = 64 << 10


def simulated() -> float:
    """Seconds per MiB through a simulated stream socket."""
    with Kernel(seed=1) as k:
        p = k.create_process("bench")
        a, b = p.zx.socket_create(zx.ZX_SOCKET_STREAM)
        write, read, wait = p.zx.socket_write, p.zx.socket_read, p.zx.object_wait_one
        inf = zx.ZX_TIME_INFINITE
        chunk = bytes(CHUNK)
        got = [0]

        def writer() -> None:
            sent = 0
            while sent < TOTAL:
                try:
                    n = write(a, 0, chunk if TOTAL - sent >= CHUNK else chunk[: TOTAL - sent])
                except ZxError:
                    wait(a, zx.ZX_SOCKET_WRITABLE, inf)
                    continue
                sent += n
                if n < CHUNK:  # short write: the socket is full
                    wait(a, zx.ZX_SOCKET_WRITABLE, inf)

        def reader() -> None:
            while got[0] < TOTAL:
                try:
                    got[0] += len(read(b, 0, CHUNK))
                except ZxError:
                    wait(b, zx.ZX_SOCKET_READABLE, inf)

        k.create_thread(p, writer)
        k.create_thread(p, reader)
        t0 = time.perf_counter()
        k.run()
        elapsed = time.perf_counter() - t0
        assert got[0] == TOTAL
        return elapsed / (TOTAL >> 20)


def with_asyncio() -> float:
    """Seconds per MiB through an OS socketpair with asyncio streams."""
    async def run() -> float:
        s1, s2 = socket.socketpair()
        _r1, w1 = await asyncio.open_unix_connection(sock=s1)
        r2, w2 = await asyncio.open_unix_connection(sock=s2)
        chunk = bytes(CHUNK)

        async def writer() -> None:
            sent = 0
            while sent < TOTAL:
                w1.write(chunk)
                sent += CHUNK
                await w1.drain()

        async def reader() -> int:
            got = 0
            while got < TOTAL:
                got += len(await r2.read(CHUNK))
            return got

        t0 = time.perf_counter()
        _, got = await asyncio.gather(writer(), reader())
        elapsed = time.perf_counter() - t0
        assert got == TOTAL
        for w in (w1, w2):
            w.close()
        return elapsed / (TOTAL >> 20)

    return asyncio.run(run())


def main() -> None:
    compare({"microsim stream socket": simulated, "asyncio socketpair streams": with_asyncio},
            baseline="asyncio socketpair streams", unit="ms per MiB", scale=1e3, target=2.0)


if __name__ == "__main__":
    main()
