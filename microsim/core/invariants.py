"""The invariant checker: walks all kernel state and reports what is inconsistent.

Core checks here; each plugin adds its own through the `check_invariants` hook.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from microsim.errors import MicrosimError

if TYPE_CHECKING:
    from microsim.kernel import Kernel


class InvariantViolation(MicrosimError):
    """The kernel state is inconsistent (a bug in the kernel or a plugin)."""


def check_core(kernel: Kernel) -> list[str]:
    """Core invariants: handles, handle counts, koids, destroyed objects."""
    problems: list[str] = []
    counts: Counter[int] = Counter()
    seen_values: set[int] = set()
    for proc in kernel.processes:
        for value, h in proc.handles.items():
            if value in seen_values:
                problems.append(f"handle value {value:#x} appears in two tables")
            seen_values.add(value)
            if h.value != value or h.owner is not proc:
                problems.append(f"handle {value:#x} of {proc!r} has value/owner mismatch")
            if value & 3 != 3:
                problems.append(f"handle {value:#x} lacks the fixed low bits")
            if not h.obj.alive:
                problems.append(f"handle {value:#x} names destroyed {h.obj!r}")
            elif h.obj.koid not in kernel.objects:
                problems.append(f"handle {value:#x} names unpublished {h.obj!r}")
            counts[h.obj.koid] += 1
        if proc.exited and proc.handles:
            problems.append(f"exited {proc!r} still holds {len(proc.handles)} handles")
    for koid, obj in kernel.objects.items():
        if obj.koid != koid:
            problems.append(f"{obj!r} registered under koid {koid}")
        if not obj.alive:
            problems.append(f"destroyed {obj!r} still registered")
        if obj.handle_count < counts[koid]:
            problems.append(
                f"{obj!r}: handle_count {obj.handle_count} < {counts[koid]} handles in tables"
            )
        if obj.handle_count < 0 or obj.kernel_refs < 0:
            problems.append(f"{obj!r}: negative count ({obj.handle_count}, {obj.kernel_refs})")
        if obj.handle_count == 0 and obj.kernel_refs == 0:
            problems.append(f"{obj!r} has no handle and no reference but is alive")
    return problems


def collect(kernel: Kernel) -> list[str]:
    """Every broken invariant, core and plugins."""
    problems = check_core(kernel)
    kernel.pm.hook.check_invariants(kernel=kernel, report=problems.append)
    return problems


def assert_invariants(kernel: Kernel, after: str = "") -> None:
    """Raise `InvariantViolation` listing every broken invariant."""
    problems = collect(kernel)
    if problems:
        where = f" after {after}" if after else ""
        raise InvariantViolation(f"kernel invariants broken{where}:\n  " + "\n  ".join(problems))
