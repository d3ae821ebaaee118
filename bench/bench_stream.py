"""Benchmark: stream writev + readv of 4 KiB records against vmo_write + vmo_read of the
same bytes at the same offsets, in the same run (default kernel, every installed plugin).

Target: stream <= 1.5x the VMO calls. Run: python bench/bench_stream.py
(MICROSIM_BENCH_REPEATS sets the number of interleaved repeats.)
"""

from __future__ import annotations

import time

from harness import compare

from microsim import Kernel, zx

RECORD = 4096
RECORDS = 256
ROUNDS = 8


def main() -> None:
    with Kernel(seed=1) as k:
        p = k.create_process("bench")
        records = [bytes([i % 251]) * RECORD for i in range(RECORDS)]
        v1 = p.zx.vmo_create(RECORD * RECORDS, 0)
        v2 = p.zx.vmo_create(RECORD * RECORDS, 0)
        s = p.zx.stream_create(zx.ZX_STREAM_MODE_READ | zx.ZX_STREAM_MODE_WRITE, v2, 0)
        writev, readv, seek = p.zx.stream_writev, p.zx.stream_readv, p.zx.stream_seek
        vwrite, vread = p.zx.vmo_write, p.zx.vmo_read
        cap = [RECORD]
        start = zx.ZX_STREAM_SEEK_ORIGIN_START

        def stream() -> float:
            t0 = time.perf_counter()
            for _ in range(ROUNDS):
                seek(s, start, 0)
                for rec in records:
                    writev(s, 0, [rec])
                seek(s, start, 0)
                for _ in records:
                    readv(s, 0, cap)
            return (time.perf_counter() - t0) / (ROUNDS * RECORDS)

        def vmo() -> float:
            t0 = time.perf_counter()
            for _ in range(ROUNDS):
                off = 0
                for rec in records:
                    vwrite(v1, rec, off)
                    off += RECORD
                off = 0
                for _ in records:
                    vread(v1, off, RECORD)
                    off += RECORD
            return (time.perf_counter() - t0) / (ROUNDS * RECORDS)

        assert stream() and vmo()
        assert p.zx.vmo_read(v1, 0, RECORD * RECORDS) == p.zx.vmo_read(v2, 0, RECORD * RECORDS)
        compare({"vmo_write+vmo_read": vmo, "stream writev+readv": stream},
                baseline="vmo_write+vmo_read", unit="µs per 4 KiB record (write+read)",
                target=1.5)


if __name__ == "__main__":
    main()
