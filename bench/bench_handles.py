"""Benchmark: handle_duplicate + handle_close through `process.zx`.

Prints two ratios, each measured against a baseline in the same run (machines are noisy):

1. untraced syscalls vs a bare-Python baseline doing the same dict work (look the handle
   up, check the right, make a handle object, insert it, pop it)   target <= 4x
2. the same syscalls traced to a JSON-lines file vs untraced         target <= 3x

Run: python bench/bench_handles.py [--n N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

from microsim import Kernel, zx


class _BareHandle:
    __slots__ = ("obj", "owner", "rights", "value")

    def __init__(self, obj: object, rights: int) -> None:
        self.obj = obj
        self.rights = rights
        self.value = 0
        self.owner = None


def bare_loop(n: int) -> float:
    """The same dict work as duplicate + close, with nothing else around it."""
    table: dict[int, _BareHandle] = {7: _BareHandle(object(), 0xFFFF)}  # has DUPLICATE
    counter = [100]  # fresh values never collide with the source handle 7

    def duplicate(value: int, rights: int) -> int:
        h = table.get(value)
        if h is None or not h.rights & 1 or rights & ~h.rights & 0x7FFFFFFF:
            raise ValueError
        counter[0] += 1
        new = _BareHandle(h.obj, h.rights)
        v = counter[0] * 4 + 3
        new.value = v
        table[v] = new
        return v

    def close(value: int) -> None:
        h = table.pop(value)
        h.owner = None

    t0 = time.perf_counter()
    for _ in range(n):
        close(duplicate(7, 0x80000000))
    return time.perf_counter() - t0


def sim_loop(n: int, trace: str | None) -> float:
    """duplicate + close through the syscall facade."""
    with Kernel(seed=1, plugins=[], trace=trace) as k:
        p = k.create_process("bench")
        dup: Callable[[int, int], int] = p.zx.handle_duplicate
        close: Callable[[int], None] = p.zx.handle_close
        src = p.self_handle
        same = zx.ZX_RIGHT_SAME_RIGHTS
        t0 = time.perf_counter()
        for _ in range(n):
            close(dup(src, same))
        elapsed = time.perf_counter() - t0
    return elapsed


def best(fn: Callable[[], float], repeat: int = 5) -> float:
    """Best of `repeat` runs (the least disturbed by the machine)."""
    return min(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.jsonl")
        bare = best(lambda: bare_loop(n))
        untraced = best(lambda: sim_loop(n, None))
        traced = best(lambda: sim_loop(n, path))
    per = 1e6 / n
    print(f"bare dict work       {bare * per:8.3f} us per duplicate+close")
    print(f"untraced syscalls    {untraced * per:8.3f} us per duplicate+close")
    print(f"traced to JSONL      {traced * per:8.3f} us per duplicate+close")
    print(f"ratio untraced/bare   {untraced / bare:6.2f}x  (target <= 4x)")
    print(f"ratio traced/untraced {traced / untraced:6.2f}x  (target <= 3x)")


if __name__ == "__main__":
    main()
