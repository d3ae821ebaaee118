"""Simulated memory: page accounting and allocation-failure injection.

Every allocation point in the kernel and the plugins calls `alloc(kind)` *before* it
changes any state (Zircon's AllocChecker discipline), so making it fail leaves no
half-built object behind. Pages are charged against an optional memory size.

Injection is off by default and then costs one attribute test (`armed`) per allocation.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from microsim import zx
from microsim.errors import ZxError


class Memory:
    """Page accounting plus a plan for failing allocations.

    `size`: bytes of simulated memory (None: unlimited). `fail_at`: fail the N-th
    allocation (1-based) counted from arming. `fail_rate` with `seed`: fail each
    allocation with that probability. `kinds`: restrict failures to these kinds.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.pages_used = 0
        self.peak_pages = 0
        # Bytes of queued IPC data (messages, packets, socket/fifo buffers) in the kernel.
        self.bytes_used = 0
        # Called with the new total after every change of committed pages (the kernel
        # sets it when tracing, to emit `pages` events); None costs nothing.
        self.on_pages: Callable[[int], None] | None = None
        self.armed = False
        self.count = 0
        self.counts: dict[str, int] = {}
        self.fail_at: int | None = None
        self.fail_rate = 0.0
        self.kinds: frozenset[str] | None = None
        self.failures = 0
        self._rng = random.Random(0)

    def arm(
        self,
        *,
        fail_at: int | None = None,
        fail_rate: float = 0.0,
        seed: int = 0,
        kinds: frozenset[str] | set[str] | None = None,
    ) -> None:
        """Start counting allocations and failing the chosen ones."""
        self.armed = True
        self.count = 0
        self.counts = {}
        self.fail_at = fail_at
        self.fail_rate = fail_rate
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.failures = 0
        self._rng = random.Random(f"alloc:{seed}")

    def disarm(self) -> None:
        """Stop failing allocations (counts are kept for inspection)."""
        self.armed = False
        self.fail_at = None
        self.fail_rate = 0.0

    def alloc(self, kind: str, n: int = 1) -> None:
        """An allocation point: raise ZX_ERR_NO_MEMORY if the plan says so."""
        if not self.armed:
            return
        self.count += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.kinds is not None and kind not in self.kinds:
            return
        if self.count == self.fail_at or (
            self.fail_rate and self._rng.random() < self.fail_rate
        ):
            self.failures += 1
            raise ZxError(zx.ZX_ERR_NO_MEMORY, f"injected failure of {kind} allocation")

    def charge_pages(self, n: int) -> None:
        """Take `n` pages of memory (ZX_ERR_NO_MEMORY if the memory is full)."""
        if self.armed:
            self.alloc("page")
        if self.size is not None and (self.pages_used + n) * zx.ZX_PAGE_SIZE + self.bytes_used > self.size:
            raise ZxError(zx.ZX_ERR_NO_MEMORY, "simulated memory is full")
        self.pages_used += n
        if self.pages_used > self.peak_pages:
            self.peak_pages = self.pages_used
        if self.on_pages is not None and n:
            self.on_pages(self.pages_used)

    def uncharge_pages(self, n: int) -> None:
        """Give back `n` pages."""
        self.pages_used -= n

    def charge_bytes(self, n: int, kind: str = "buffer") -> None:
        """Take `n` bytes of kernel memory for queued data (a channel message, a port
        packet, bytes buffered in a socket): an allocation point (injected failures count
        it as `kind`) that raises ZX_ERR_NO_MEMORY when the simulated memory is full."""
        if self.armed:
            self.alloc(kind)
        size = self.size
        if size is not None and self.pages_used * zx.ZX_PAGE_SIZE + self.bytes_used + n > size:
            raise ZxError(zx.ZX_ERR_NO_MEMORY, "simulated memory is full")
        self.bytes_used += n

    def uncharge_bytes(self, n: int) -> None:
        """Give back `n` bytes taken with `charge_bytes`."""
        self.bytes_used -= n
        if self.on_pages is not None and n:
            self.on_pages(self.pages_used)
