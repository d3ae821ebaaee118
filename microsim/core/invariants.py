"""The invariant checker: walks all kernel state and reports what is inconsistent.

Core checks here; each plugin adds its own through the `check_invariants` hook.

Accounting is exact: every live object's handle count equals the handles that name it
in process tables plus the handles kernel-held places keep for it (queued channel
messages...; plugins report those through the `count_held_handles` hook). A handle that
left a table and was neither closed nor stored anywhere makes its object's count too high
and is reported, as is a handle counted twice. Every observer registered on an object
must belong to a live wait or registration, made through a handle still in a table.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from microsim.errors import MicrosimError

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.kernel import Kernel


class InvariantViolation(MicrosimError):
    """The kernel state is inconsistent (a bug in the kernel or a plugin)."""


def held_handles(kernel: Kernel) -> list[tuple[Handle, str]]:
    """Every handle kept outside process tables, with where it is (plugins report them)."""
    held: list[tuple[Handle, str]] = []
    kernel.pm.hook.count_held_handles(kernel=kernel, count=lambda h, where: held.append((h, where)))
    return held


def check_core(kernel: Kernel) -> list[str]:
    """Core invariants: handles, exact handle counts, observers, koids, destroyed objects."""
    problems: list[str] = []
    counts: Counter[int] = Counter()
    seen_values: set[int] = set()
    seen_handles: set[int] = set()
    for proc in kernel.processes:
        for value, h in proc.handles.items():
            if value in seen_values:
                problems.append(f"handle value {value:#x} appears in two tables")
            seen_values.add(value)
            seen_handles.add(id(h))
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
    for h, where in held_handles(kernel):
        if id(h) in seen_handles:
            problems.append(f"{h!r} held by {where} is also in a table or held twice")
            continue
        seen_handles.add(id(h))
        if h.owner is not None:
            problems.append(f"{h!r} held by {where} still has an owner")
        if not h.obj.alive:
            problems.append(f"{h!r} held by {where} names destroyed {h.obj!r}")
        counts[h.obj.koid] += 1
    for koid, obj in kernel.objects.items():
        if obj.koid != koid:
            problems.append(f"{obj!r} registered under koid {koid}")
        if not obj.alive:
            problems.append(f"destroyed {obj!r} still registered")
        if obj.handle_count != counts[koid]:
            problems.append(
                f"{obj!r}: handle_count {obj.handle_count} != {counts[koid]} handles "
                "in tables and kernel-held places"
            )
        if obj.handle_count < 0 or obj.kernel_refs < 0:
            problems.append(f"{obj!r}: negative count ({obj.handle_count}, {obj.kernel_refs})")
        if obj.handle_count == 0 and obj.kernel_refs == 0:
            problems.append(f"{obj!r} has no handle and no reference but is alive")
        for obs in obj.observers or ():
            if not obs.is_live():
                problems.append(f"{obj!r}: observer {type(obs).__name__} outlived its wait")
            via = obs.handle
            if via is not None and (via.owner is None or via.owner.handles.get(via.value) is not via):
                problems.append(f"{obj!r}: observer {type(obs).__name__} through a handle no table holds")
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
