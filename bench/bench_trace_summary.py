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

from microsim.testing.workloads import ping_pong
from microsim.trace.summary import summarize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import compare


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
        lines = ping_pong(path, events=n)
        print(f"{lines} events ({os.path.getsize(path) / 1e6:.0f} MB)")
        compare({"bare orjson parse": lambda: bare(path), "trace summary": lambda: tool(path)},
                baseline="bare orjson parse", unit="s", scale=1.0, target=2.0)


if __name__ == "__main__":
    main()
