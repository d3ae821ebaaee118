"""Benchmark: `trace summary` over one million events, against a bare loop that only
parses the same file's lines with the same JSON library (orjson), interleaved in the same
run (bench/harness.py). Target: ratio <= 2x. Run: python bench/bench_trace_summary.py [--events N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import orjson

from microsim import Kernel, zx
from microsim.trace.summary import summarize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import compare


def make_trace(path: str, events: int) -> int:
    """A real trace: two threads passing a message back and forth over a channel, one of
    them duplicating, signalling and closing a handle each round (syscalls, handle events,
    signals, and the scheduler's block and wake records as the threads switch)."""
    with Kernel(seed=1, plugins=["vmo", "channel"], trace=path) as k:
        p = k.create_process("bench")
        v = p.zx.vmo_create(4096, 0)
        a, b = p.zx.channel_create(0)
        inf = zx.ZX_TIME_INFINITE
        trace = k.trace
        assert trace is not None

        def ping() -> None:
            while trace.count + len(trace.buffer) < events:
                h = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
                p.zx.object_signal(h, 0, zx.ZX_USER_SIGNAL_0)
                p.zx.channel_write(a, 0, b"ping", [])
                p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, inf)
                p.zx.channel_read(a, 0)
                p.zx.object_signal(h, zx.ZX_USER_SIGNAL_0, 0)
                p.zx.handle_close(h)
            p.zx.handle_close(a)

        def pong() -> None:
            while p.zx.object_wait_one(b, zx.ZX_CHANNEL_READABLE | zx.ZX_CHANNEL_PEER_CLOSED,
                                       inf) & zx.ZX_CHANNEL_READABLE:
                p.zx.channel_read(b, 0)
                p.zx.channel_write(b, 0, b"pong", [])

        k.create_thread(p, ping, name="ping")
        k.create_thread(p, pong, name="pong")
        k.run()
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def bare(path: str) -> float:
    t0 = time.perf_counter()
    loads = orjson.loads
    with open(path, "rb") as f:
        for line in f:
            loads(line)
    return time.perf_counter() - t0


def tool(path: str) -> float:
    t0 = time.perf_counter()
    summarize(path)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    n = parser.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.jsonl")
        lines = make_trace(path, n)
        print(f"{lines} events ({os.path.getsize(path) / 1e6:.0f} MB)")
        compare({"bare orjson parse": lambda: bare(path), "trace summary": lambda: tool(path)},
                baseline="bare orjson parse", unit="s", scale=1.0, target=2.0)


if __name__ == "__main__":
    main()
