"""Failure injection for tests: make allocations fail and check nothing half-built is left.

Every allocation point (`kernel.mem.alloc(kind)`: an object, a handle entry, a page, a
mapping, a queued packet...) comes before any change of state, so a syscall whose
allocation fails must raise ZX_ERR_NO_MEMORY and leave the kernel exactly as it was.

    from microsim.testing import check_allocation_failures, fail_allocation

    with fail_allocation(kernel):                 # the next allocation fails
        with pytest.raises(ZxError):
            proc.zx.semaphore_create(0, 4)

    # Fail each allocation point of one syscall in turn, each on a fresh kernel:
    points = check_allocation_failures(
        lambda: Kernel(plugins=["semaphore"], check_invariants=True),
        setup=lambda k: (k.create_process("p"),),
        action=lambda p: p.zx.semaphore_create(0, 4),
    )

`fail_allocation(kernel, n=2, kinds={"handle"})` fails the second handle allocation
instead; underneath it is `kernel.mem.arm(fail_at=n, kinds=kinds)` ... `kernel.mem.disarm()`
(`kernel.mem.arm(fail_rate=p, seed=s)` fails allocations at random, reproducibly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from microsim import zx
from microsim.core.invariants import collect
from microsim.core.memory import Memory
from microsim.errors import ZxError
from microsim.kernel import Kernel

__all__ = ["check_allocation_failures", "count_allocations", "fail_allocation", "kernel_state"]


@contextlib.contextmanager
def fail_allocation(
    kernel: Kernel, n: int = 1, *, kinds: Iterable[str] | None = None
) -> Iterator[Memory]:
    """Within the block, the `n`-th allocation (of `kinds`, if given; counted from the
    block's start) raises ZX_ERR_NO_MEMORY. Yields `kernel.mem` (`.failures`, `.counts`)."""
    kernel.mem.arm(fail_at=n, kinds=None if kinds is None else frozenset(kinds))
    try:
        yield kernel.mem
    finally:
        kernel.mem.disarm()


def count_allocations(kernel: Kernel, action: Callable[..., Any], *args: Any) -> int:
    """How many allocation points `action(*args)` passes (none fails)."""
    kernel.mem.arm()
    try:
        action(*args)
    finally:
        count = kernel.mem.count
        kernel.mem.disarm()
    return count


def kernel_state(kernel: Kernel) -> Any:
    """A comparable snapshot of what a failed syscall must not change: every process's
    handle table, every live object's signals and counts, and the pages in use."""
    procs = tuple(
        (p.koid, tuple(sorted((v, h.obj.koid, h.rights) for v, h in p.handles.items())))
        for p in kernel.processes
    )
    objs = tuple(sorted(
        (o.koid, o.type_name, o.signals, o.handle_count, o.kernel_refs) for o in kernel.objects.values()
    ))
    return procs, objs, kernel.mem.pages_used


def check_allocation_failures(
    make_kernel: Callable[[], Kernel],
    setup: Callable[[Kernel], tuple[Any, ...]],
    action: Callable[..., Any],
) -> int:
    """Fail each allocation point of `action` once, each time on a fresh kernel.

    `make_kernel()` builds a kernel, `setup(kernel)` prepares it and returns the
    arguments of `action`, which makes ONE syscall. For every allocation point N of
    that syscall: it must raise ZxError(ZX_ERR_NO_MEMORY), leave `kernel_state`
    unchanged, and break no invariant. Returns the number of allocation points (an
    AssertionError says which point failed how).
    """
    with make_kernel() as k:
        total = count_allocations(k, action, *setup(k))
    for n in range(1, total + 1):
        with make_kernel() as k:
            args = setup(k)
            before = kernel_state(k)
            with fail_allocation(k, n) as mem:
                try:
                    action(*args)
                except ZxError as e:
                    if e.status != zx.ZX_ERR_NO_MEMORY:
                        raise AssertionError(
                            f"allocation {n} of {total} failed, but the call raised {e}"
                        ) from e
                else:
                    raise AssertionError(f"allocation {n} of {total} failed, but the call succeeded")
                assert mem.failures == 1, f"allocation {n} of {total}: {mem.failures} failures"
            after = kernel_state(k)
            assert after == before, (
                f"allocation {n} of {total} failed and the call changed the kernel:\n"
                f"  before {before}\n  after  {after}"
            )
            broken = collect(k)
            assert not broken, f"allocation {n} of {total}: broken invariants {broken}"
    return total
