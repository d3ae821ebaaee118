"""Benchmark: a 2**40-byte VMO with 1,000 scattered one-byte writes.

Memory held (tracemalloc) against the bytes of the 1,000 pages touched. Target <= 1.5x.
Run: python bench/bench_vmo_sparse.py
"""

from __future__ import annotations

import tracemalloc

from microsim import Kernel, zx


def main() -> None:
    with Kernel(seed=1, plugins=["vmo"]) as k:
        p = k.create_process("bench")
        v = p.zx.vmo_create(2**40, 0)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            p.zx.vmo_write(v, b"x", (i * 1_099_511_627) % (2**40 - 1))
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        pages = 1000 * zx.ZX_PAGE_SIZE
        print(f"pages touched {k.mem.pages_used}, memory held {held / 1e6:.2f} MB, pages' bytes {pages / 1e6:.2f} MB")
        print(f"ratio {held / pages:.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
