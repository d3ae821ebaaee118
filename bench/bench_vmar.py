"""Benchmark: vmar_map + vmar_unmap with 100,000 live mappings vs with 1,000.

Address-space bookkeeping is a SortedDict, so the cost per operation should barely grow
with the number of mappings. Target: ratio <= 2x. Run: python bench/bench_vmar.py
"""

from __future__ import annotations

import time

from microsim import Kernel, zx

P = zx.ZX_PAGE_SIZE


def per_op(live: int, ops: int = 20_000) -> float:
    """Microseconds per map+unmap pair with `live` other mappings present."""
    with Kernel(seed=1, plugins=["vmo"]) as k:
        p = k.create_process("bench")
        v = p.zx.vmo_create(P, 0)
        root = p.root_vmar_handle
        for _ in range(live):
            p.zx.vmar_map(root, zx.ZX_VM_PERM_READ, 0, v, 0, P)
        vmap, vunmap = p.zx.vmar_map, p.zx.vmar_unmap
        t0 = time.perf_counter()
        for _ in range(ops):
            vunmap(root, vmap(root, zx.ZX_VM_PERM_READ, 0, v, 0, P), P)
        return (time.perf_counter() - t0) / ops * 1e6


def main() -> None:
    small = min(per_op(1_000) for _ in range(3))
    large = min(per_op(100_000) for _ in range(2))
    print(f"map+unmap with   1,000 live mappings  {small:8.2f} us")
    print(f"map+unmap with 100,000 live mappings  {large:8.2f} us")
    print(f"ratio {large / small:.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
