"""The one way benchmarks here measure: compared variants interleaved, several repeats,
the median and spread of each (never the best of N), and ratios taken in the same run.

    from harness import compare
    compare({"microsim": run_sim, "asyncio": run_asyncio}, baseline="asyncio",
            unit="µs per round trip", scale=1e6, target=2.0)

Each variant is a zero-argument callable returning the measured seconds per operation
(it times its own loop, so set-up stays outside the figure). Variants run in turn
A B A B ..., so a machine whose speed drifts affects all of them alike.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable

REPEATS = int(os.environ.get("MICROSIM_BENCH_REPEATS", "7"))


def machine() -> str:
    """One line naming the machine the figures come from."""
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"


def compare(
    variants: dict[str, Callable[[], float]],
    *,
    baseline: str,
    unit: str = "µs",
    scale: float = 1e6,
    target: float | None = None,
    repeats: int = REPEATS,
) -> dict[str, float]:
    """Run the variants interleaved `repeats` times; print each one's median and spread
    and its median ratio to `baseline` (ratios are taken repeat by repeat). Returns the
    median ratio of each variant."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            samples[name].append(fn())
    base = samples[baseline]
    ratios: dict[str, float] = {}
    print(f"machine: {machine()}; {repeats} interleaved repeats")
    for name, values in samples.items():
        med = statistics.median(values)
        lo, hi = min(values), max(values)
        line = f"  {name:<28} median {med * scale:10.3f} {unit}  (spread {lo * scale:.3f} .. {hi * scale:.3f})"
        if name != baseline:
            per_repeat = [v / b for v, b in zip(values, base)]
            ratio = statistics.median(per_repeat)
            ratios[name] = ratio
            line += f"  ratio {ratio:.2f}x (spread {min(per_repeat):.2f} .. {max(per_repeat):.2f})"
            if target is not None:
                line += f"  target <= {target}x: {'met' if ratio <= target else 'NOT MET'}"
        print(line)
    return ratios
