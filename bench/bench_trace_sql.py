"""Benchmark: loading a trace into SQLite (`microsim trace sqlite`) against a bare loop
that only parses the same file's lines with the same JSON library (orjson), interleaved
in the same run (bench/harness.py). Target: ratio <= 3x.

    python bench/bench_trace_sql.py [--events N]     # default 1,000,000 events
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import orjson

from microsim.testing.workloads import ping_pong
from microsim.trace.sql import load_sqlite

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import compare


def main() -> None:
    """Build the trace once, then time the two variants interleaved."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    n = parser.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.jsonl")
        db = os.path.join(tmp, "big.db")
        lines = ping_pong(path, events=n)

        def bare() -> float:
            t0 = time.perf_counter()
            loads = orjson.loads
            with open(path, "rb") as f:
                for line in f:
                    loads(line)
            return time.perf_counter() - t0

        def sqlite_load() -> float:
            t0 = time.perf_counter()
            load_sqlite(path, db)
            return time.perf_counter() - t0

        print(f"{lines} events ({os.path.getsize(path) / 1e6:.0f} MB)")
        compare({"bare orjson parse": bare, "trace sqlite (load)": sqlite_load}, baseline="bare orjson parse",
                unit="s", scale=1.0, target=3.0)


if __name__ == "__main__":
    main()
