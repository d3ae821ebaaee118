"""Benchmark: handle_duplicate + handle_close of a VMO handle through `process.zx`, on the
default kernel (`Kernel(seed=1)`: every installed plugin), as a new user would run it.

Two comparisons, each with its variants interleaved (bench/harness.py):

1. untraced syscalls vs a bare-Python baseline doing the same dict work behind two calls
   (a dict get, a rights test, a tuple stored, a dict delete)          target <= 4x
2. traced to a file vs untraced; the trace is rendered, written and the kernel closed
   inside the timed region                                              target <= 3x
   (also: the live strace view to /dev/null, and capture=True, for their cost)

Run: python bench/bench_handles.py [--n N]   (MICROSIM_BENCH_REPEATS=3 for a short run)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

from harness import compare

from microsim import Kernel, zx


def bare_loop(n: int) -> float:
    """The same dict work as duplicate + close, behind two Python calls, nothing else."""
    table: dict[int, tuple[object, int]] = {7: (object(), 0xFFFF)}  # has DUPLICATE
    counter = [100]

    def duplicate(value: int, rights: int) -> int:
        h = table.get(value)
        if h is None or not h[1] & 1:
            raise ValueError
        counter[0] += 1
        v = counter[0] * 4 + 3
        table[v] = (h[0], h[1])
        return v

    def close(value: int) -> None:
        del table[value]

    t0 = time.perf_counter()
    for _ in range(n):
        close(duplicate(7, 0x80000000))
    return (time.perf_counter() - t0) / n


def sim_loop(n: int, **kernel_args: object) -> float:
    """duplicate + close of a VMO handle through the syscall facade of a default kernel;
    the kernel's close (trace flushed and written) is inside the timed region."""
    k = Kernel(seed=1, **kernel_args)  # type: ignore[arg-type]
    p = k.create_process("bench")
    vmo = p.zx.vmo_create(4096, 0)
    dup: Callable[[int, int], int] = p.zx.handle_duplicate
    close: Callable[[int], None] = p.zx.handle_close
    same = zx.ZX_RIGHT_SAME_RIGHTS
    t0 = time.perf_counter()
    for _ in range(n):
        close(dup(vmo, same))
    k.close()
    return (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        path = os.path.join(tmp, "bench.jsonl")
        print(f"handle_duplicate + handle_close of a VMO handle, default kernel, {n} pairs per sample")
        compare(
            {"bare dict work": lambda: bare_loop(n), "untraced": lambda: sim_loop(n)},
            baseline="bare dict work", unit="µs per pair", target=4.0,
        )
        compare(
            {"untraced": lambda: sim_loop(n), "traced to a file": lambda: sim_loop(n, trace=path)},
            baseline="untraced", unit="µs per pair", target=3.0,
        )
        print("cost of the other trace sinks (no target):")
        compare(
            {
                "untraced": lambda: sim_loop(n),
                "capture=True": lambda: sim_loop(n, capture=True),
                "strace to /dev/null": lambda: sim_loop(n // 10, strace=devnull),
            },
            baseline="untraced", unit="µs per pair",
        )
        size = os.path.getsize(path)
    print(f"trace file: {size / (4 * n):.0f} bytes per event")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
