"""Run every benchmark: python bench/run.py (each prints its ratio against a baseline
measured in the same run)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for name in ("bench_handles", "bench_vmar", "bench_vmo_sparse", "bench_stream", "bench_switch",
             "bench_trace_summary", "bench_explore", "bench_futex", "bench_socket",
             "bench_trace_sql"):
    print(f"== {name}")
    sys.argv = [name]
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
    print()
