"""A futex-based mutex: two threads increment a shared counter under the lock.

The lock is Drepper's three-state futex mutex on a word of simulated memory (0 free, 1
locked, 2 locked with waiters). Simulated threads switch only at syscalls, so reading and
writing process memory between two syscalls is atomic: that is the compare-and-swap.
Inside the critical section each thread yields (a syscall) between reading and writing the
counter, which loses increments without the lock (see race.py); with it none are lost,
under every seed.

    microsim run examples/futex_mutex.py -- 50
    microsim run examples/futex_mutex.py --seeds 0..19 -- 20
"""

from __future__ import annotations

from microsim import ZxError, zx

PAGE = zx.ZX_PAGE_SIZE


class FutexMutex:
    """A mutex on the 32-bit word at `addr` of the process's memory."""

    def __init__(self, ctx, addr: int) -> None:  # type: ignore[no-untyped-def]
        self.zx = ctx.zx
        self.mem = ctx.process
        self.addr = addr

    def _load(self) -> int:
        return int.from_bytes(self.mem.read_memory(self.addr, 4), "little")

    def _cas(self, expected: int, new: int) -> int:
        """Compare-and-swap (atomic: no syscall in between); returns the old value."""
        old = self._load()
        if old == expected:
            self.mem.write_memory(self.addr, new.to_bytes(4, "little"))
        return old

    def _swap(self, new: int) -> int:
        old = self._load()
        self.mem.write_memory(self.addr, new.to_bytes(4, "little"))
        return old

    def lock(self) -> None:
        """Take the lock, sleeping on the futex while another thread holds it."""
        c = self._cas(0, 1)
        if c == 0:
            return
        if c != 2:
            c = self._swap(2)
        while c != 0:
            try:
                self.zx.futex_wait(self.addr, 2, zx.ZX_HANDLE_INVALID, zx.ZX_TIME_INFINITE)
            except ZxError as err:
                if err.status != zx.ZX_ERR_BAD_STATE:  # the word changed: just retry
                    raise
            c = self._swap(2)

    def unlock(self) -> None:
        """Release the lock; wake one sleeper if there may be any."""
        if self._swap(0) == 2:
            self.zx.futex_wake(self.addr, 1)


def worker(ctx, mutex: FutexMutex, counter: int, n: int) -> None:  # type: ignore[no-untyped-def]
    """Increment the counter `n` times under the lock, yielding inside the section."""
    for _ in range(n):
        mutex.lock()
        value = int.from_bytes(ctx.process.read_memory(counter, 4), "little")
        ctx.zx.clock_get_monotonic()  # a syscall: the other thread may run here
        ctx.process.write_memory(counter, (value + 1).to_bytes(4, "little"))
        mutex.unlock()


def main(ctx) -> int:  # type: ignore[no-untyped-def]
    """Two workers, N increments each; every increment must be there."""
    n = int(ctx.args[0]) if ctx.args else 20
    vmo = ctx.zx.vmo_create(PAGE, 0)
    base = ctx.zx.vmar_map(ctx.zx.vmar_root_self(), zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE,
                           0, vmo, 0, PAGE)
    ctx.zx.handle_close(vmo)
    mutex = FutexMutex(ctx, base)
    counter = base + 4
    threads = [ctx.thread(worker, ctx, mutex, counter, n, name=f"worker{i}") for i in range(2)]
    for t in threads:
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
        ctx.zx.handle_close(t)
    total = int.from_bytes(ctx.process.read_memory(counter, 4), "little")
    assert total == 2 * n, f"lost an increment: counter is {total}"
    print(f"counter is {total}: no increment lost")
    return 0
