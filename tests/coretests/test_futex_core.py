"""Ports of Zircon's futex core-tests (zircon/system/utest/core/futex/futex.cc).

The test's own Python code plays the main thread: a direct syscall from it (nanosleep)
drives the seeded scheduler, so the waiter threads run until they block.
"""

from __future__ import annotations

import pytest
from zxcore import keep_alive, status_of

from microsim import ZxError, zx
from microsim.objects.process import Process

INF = zx.ZX_TIME_INFINITE
ALL = 0xFFFFFFFF
RW = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE


def word(p: Process, value: int, slots: int = 1) -> list[int]:
    """`slots` zx_futex_t words in fresh simulated memory, each holding `value`."""
    vmo = p.zx.vmo_create(zx.ZX_PAGE_SIZE, 0)
    base = p.zx.vmar_map(p.root_vmar_handle, RW, 0, vmo, 0, zx.ZX_PAGE_SIZE)
    addrs = [base + 4 * i for i in range(slots)]
    for a in addrs:
        p.write_memory(a, value.to_bytes(4, "little", signed=True))
    return addrs


def settle(p: Process) -> None:
    """Let the other threads run until they block (the main thread sleeps a while)."""
    p.zx.nanosleep(p.zx.deadline_after(1_000_000))


class FutexThread:
    """A thread that calls zx_futex_wait(futex, *futex, INVALID, deadline_after(timeout))."""

    def __init__(self, p: Process) -> None:
        self.p = p
        self.result: int | None = None

    def start(self, futex: int, timeout: int = INF) -> None:
        p = self.p

        def run() -> None:
            current = int.from_bytes(p.read_memory(futex, 4), "little", signed=True)
            deadline = INF if timeout == INF else p.zx.deadline_after(timeout)
            try:
                p.zx.futex_wait(futex, current, zx.ZX_HANDLE_INVALID, deadline)
                self.result = zx.ZX_OK
            except ZxError as e:
                self.result = e.status

        self.thread = p.kernel.create_thread(p, run, name="wakeup-test-thread")
        settle(p)
        self.check_is_blocked_on_futex()

    def state(self) -> int:
        """The thread's ZX_THREAD_STATE_BLOCKED_* reason (what ZX_INFO_THREAD reports)."""
        t = self.thread
        return t.wait.reason if t.state == "blocked" else 0  # type: ignore[attr-defined,no-any-return]

    def check_is_blocked_on_futex(self) -> None:
        assert self.result is None
        assert self.state() == zx.ZX_THREAD_STATE_BLOCKED_FUTEX

    @property
    def woken(self) -> bool:
        return self.result is not None


def woken_count(threads: list[FutexThread]) -> int:
    return sum(t.woken for t in threads)


def test_WaitValueMismatch(p: Process) -> None:
    (f,) = word(p, 123)
    assert status_of(p.zx.futex_wait, f, 124, zx.ZX_HANDLE_INVALID, INF) == zx.ZX_ERR_BAD_STATE


def test_WaitTimeout(p: Process) -> None:
    (f,) = word(p, 123)
    assert status_of(p.zx.futex_wait, f, 123, zx.ZX_HANDLE_INVALID, 0) == zx.ZX_ERR_TIMED_OUT


def test_WaitTimeoutElapsed(p: Process) -> None:
    (f,) = word(p, 0)
    for _ in range(5):
        deadline = p.zx.deadline_after(100_000_000)
        assert status_of(p.zx.futex_wait, f, 0, zx.ZX_HANDLE_INVALID, deadline) == zx.ZX_ERR_TIMED_OUT
        assert p.zx.clock_get_monotonic() >= deadline


def test_WaitBadAddress(p: Process) -> None:
    assert status_of(p.zx.futex_wait, 0, 123, zx.ZX_HANDLE_INVALID, INF) == zx.ZX_ERR_INVALID_ARGS


def test_Wakeup(p: Process) -> None:
    (f,) = word(p, 1)
    t = FutexThread(p)
    t.start(f)
    p.zx.futex_wake(f, ALL)
    settle(p)
    assert t.result == zx.ZX_OK


def test_WakeupLimit(p: Process) -> None:
    (f,) = word(p, 1)
    threads = [FutexThread(p) for _ in range(4)]
    for t in threads:
        t.start(f)
    p.zx.futex_wake(f, 2)
    settle(p)
    assert woken_count(threads) == 2
    settle(p)
    assert woken_count(threads) == 2
    p.zx.futex_wake(f, ALL)
    settle(p)
    assert woken_count(threads) == 4
    assert all(t.result == zx.ZX_OK for t in threads)


def test_WakeupAddress(p: Process) -> None:
    f0, f1, f2 = word(p, 1, 3)
    threads = [FutexThread(p), FutexThread(p)]
    threads[0].start(f0)
    threads[1].start(f1)
    p.zx.futex_wake(f2, ALL)
    settle(p)
    threads[0].check_is_blocked_on_futex()
    threads[1].check_is_blocked_on_futex()
    p.zx.futex_wake(f0, ALL)
    settle(p)
    assert threads[0].result == zx.ZX_OK
    threads[1].check_is_blocked_on_futex()
    p.zx.futex_wake(f1, ALL)
    settle(p)
    assert threads[1].result == zx.ZX_OK


def test_RequeueValueMismatch(p: Process) -> None:
    f1, f2 = word(p, 100, 2)
    assert status_of(p.zx.futex_requeue, f1, 1, 101, f2, 1, zx.ZX_HANDLE_INVALID) == zx.ZX_ERR_BAD_STATE


def test_RequeueSameAddr(p: Process) -> None:
    (f,) = word(p, 100)
    assert status_of(p.zx.futex_requeue, f, 1, 100, f, 1, zx.ZX_HANDLE_INVALID) == zx.ZX_ERR_INVALID_ARGS


def test_Requeue(p: Process) -> None:
    f1, f2 = word(p, 100, 2)
    p.write_memory(f2, (200).to_bytes(4, "little"))
    threads = [FutexThread(p) for _ in range(6)]
    for t in threads:
        t.start(f1)
    p.zx.futex_requeue(f1, 3, 100, f2, 2, zx.ZX_HANDLE_INVALID)
    settle(p)
    assert woken_count(threads) == 3
    p.zx.futex_wake(f2, ALL)
    settle(p)
    assert woken_count(threads) == 5
    p.zx.futex_wake(f1, 1)
    settle(p)
    assert woken_count(threads) == 6


def test_RequeueUnqueuedOnTimeout(p: Process) -> None:
    f1, f2 = word(p, 100, 2)
    p.write_memory(f2, (200).to_bytes(4, "little"))
    threads = [FutexThread(p), FutexThread(p)]
    threads[0].start(f1, 1_500_000_000)
    p.zx.futex_requeue(f1, 0, 100, f2, ALL, zx.ZX_HANDLE_INVALID)
    threads[1].start(f2)
    p.zx.nanosleep(p.zx.deadline_after(2_000_000_000))
    assert threads[0].result == zx.ZX_ERR_TIMED_OUT
    threads[1].check_is_blocked_on_futex()
    p.zx.futex_wake(f2, 1)
    settle(p)
    assert threads[1].result == zx.ZX_OK


def test_MisalignedFutextAddr(p: Process) -> None:
    (f,) = word(p, 0)
    for fn, args in ((p.zx.futex_wait, (f + 1, 0, zx.ZX_HANDLE_INVALID, INF)),
                     (p.zx.futex_wake, (f + 1, 1)),
                     (p.zx.futex_requeue, (f + 1, 1, 0, f + 8, 1, zx.ZX_HANDLE_INVALID)),
                     (p.zx.futex_requeue, (f, 1, 0, f + 9, 1, zx.ZX_HANDLE_INVALID)),
                     (p.zx.futex_get_owner, (f + 2,))):
        assert status_of(fn, *args) == zx.ZX_ERR_INVALID_ARGS


@pytest.mark.parametrize("count", [1, 2])
def test_WakeZeroOrUnwaitedIsOk(p: Process, count: int) -> None:
    (f,) = word(p, 0)
    p.zx.futex_wake(f, count)
    p.zx.futex_wake_single_owner(f)
    assert p.zx.futex_get_owner(f) == zx.ZX_KOID_INVALID


def test_EventSignaling(p: Process) -> None:
    (signaled,) = word(p, 0)
    done: list[str] = []

    def waiter(name: str) -> None:
        if int.from_bytes(p.read_memory(signaled, 4), "little") == 0:
            p.zx.futex_wait(signaled, 0, zx.ZX_HANDLE_INVALID, INF)
        done.append(name)

    threads = [p.kernel.create_thread(p, waiter, f"thread {i}", name=f"thread {i}") for i in (1, 2, 3)]
    settle(p)
    assert all(t.wait.reason == zx.ZX_THREAD_STATE_BLOCKED_FUTEX for t in threads)  # type: ignore[attr-defined]
    p.write_memory(signaled, (1).to_bytes(4, "little"))
    p.zx.futex_wake(signaled, ALL)
    settle(p)
    assert sorted(done) == ["thread 1", "thread 2", "thread 3"]


def test_WaitExitRace(p: Process) -> None:
    # A new owner that exits around the wait: whatever the status, nothing breaks.
    release = keep_alive(p)
    for _ in range(10):
        vmo = p.zx.vmo_create(zx.ZX_PAGE_SIZE, 0)
        addr = p.zx.vmar_map(p.root_vmar_handle, RW, 0, vmo, 0, zx.ZX_PAGE_SIZE)
        p.zx.vmo_op_range(vmo, zx.ZX_VMO_OP_DECOMMIT, 0, zx.ZX_PAGE_SIZE)
        t2 = p.kernel.create_thread(p, lambda: None, name="t2")
        h = p.kernel.new_handle(p, t2, zx.ZX_DEFAULT_THREAD_RIGHTS)
        try:
            p.zx.futex_wait(addr, 0, h, p.zx.deadline_after(100_000))
        except ZxError as e:
            assert e.status in (zx.ZX_ERR_TIMED_OUT, zx.ZX_ERR_INVALID_ARGS)
        settle(p)
        assert p.zx.futex_get_owner(addr) == zx.ZX_KOID_INVALID
        p.zx.vmar_unmap(p.root_vmar_handle, addr, zx.ZX_PAGE_SIZE)
        p.zx.handle_close_many([vmo, h])
    release()
