"""Futexes on simulated memory (Zircon's futex core-tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from microsim import ZxError, zx
from microsim.errors import Deadlock
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.thread import Thread
from microsim.testing.calls import status

INF = zx.ZX_TIME_INFINITE
RW = zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE



@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["futex", "vmo", "event"]).create_process("futex")


def mem(p: Process) -> int:
    vmo = p.zx.vmo_create(zx.ZX_PAGE_SIZE, 0)
    return p.zx.vmar_map(p.root_vmar_handle, RW, 0, vmo, 0, zx.ZX_PAGE_SIZE)  # type: ignore[no-any-return]


def store(p: Process, addr: int, value: int) -> None:
    p.write_memory(addr, value.to_bytes(4, "little", signed=True))


def thread(p: Process, fn: Callable[[], object], name: str = "t") -> tuple[Thread, int]:
    k: Kernel = p.kernel
    t = k.create_thread(p, fn, name=name)
    return t, k.new_handle(p, t, zx.ZX_DEFAULT_THREAD_RIGHTS)


def test_wait_checks_in_order(p: Process) -> None:
    addr = mem(p)
    store(p, addr, 5)
    assert status(p.zx.futex_wait, 0, 5, 0, INF) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.futex_wait, addr + 2, 5, 0, INF) == zx.ZX_ERR_INVALID_ARGS
    # Mismatch beats a bad owner handle and the timeout.
    assert status(p.zx.futex_wait, addr, 6, 0x999, 0) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.futex_wait, addr, 5, 0x999, 0) == zx.ZX_ERR_BAD_HANDLE
    e = p.zx.event_create(0)
    assert status(p.zx.futex_wait, addr, 5, e, 0) == zx.ZX_ERR_WRONG_TYPE
    other = p.kernel.create_process("other")
    thread(other, lambda: None)
    h_foreign = p.kernel.new_handle(p, other.threads[0], zx.ZX_DEFAULT_THREAD_RIGHTS)
    assert status(p.zx.futex_wait, addr, 5, h_foreign, 0) == zx.ZX_ERR_INVALID_ARGS
    # Unmapped memory.
    assert status(p.zx.futex_wait, 0x1000, 5, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    # Deadline already past.
    assert status(p.zx.futex_wait, addr, 5, 0, 0) == zx.ZX_ERR_TIMED_OUT
    assert status(p.zx.futex_wait, addr, -1 & 0xFFFFFFFF, 0, 0) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.futex_wait, addr, 1 << 32, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert p.zx.futex_get_owner(addr) == 0


def test_wait_reads_the_word_through_clones_and_slices(p: Process) -> None:
    """The value check reads the word wherever the mapping's pages come from: a
    snapshot's inherited and own pages, a slice at an offset, a page never written."""
    v = p.zx.vmo_create(2 * zx.ZX_PAGE_SIZE, 0)
    p.zx.vmo_write(v, (-3).to_bytes(4, "little", signed=True), zx.ZX_PAGE_SIZE + 4)
    snap = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, 2 * zx.ZX_PAGE_SIZE)
    slice_ = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SLICE, zx.ZX_PAGE_SIZE, zx.ZX_PAGE_SIZE)
    at_snap = p.zx.vmar_map(p.root_vmar_handle, RW, 0, snap, 0, 2 * zx.ZX_PAGE_SIZE)
    at_slice = p.zx.vmar_map(p.root_vmar_handle, RW, 0, slice_, 0, zx.ZX_PAGE_SIZE)

    def holds(addr: int, value: int) -> bool:  # TIMED_OUT: it matched; BAD_STATE: it did not
        got = status(p.zx.futex_wait, addr, value, 0, 0)
        assert got in (zx.ZX_ERR_TIMED_OUT, zx.ZX_ERR_BAD_STATE)
        return got == zx.ZX_ERR_TIMED_OUT

    assert holds(at_snap + zx.ZX_PAGE_SIZE + 4, -3) and holds(at_slice + 4, -3)
    assert holds(at_snap, 0) and holds(at_slice, 0) and not holds(at_snap, 1)
    store(p, at_snap + zx.ZX_PAGE_SIZE + 4, 11)  # the snapshot's own page now
    store(p, at_slice + 8, 12)  # the parent's page, through the slice
    assert holds(at_snap + zx.ZX_PAGE_SIZE + 4, 11) and holds(at_slice + 4, -3)
    assert holds(at_slice + 8, 12) and not holds(at_snap + zx.ZX_PAGE_SIZE + 8, 12)


def test_wait_timeout_and_negative_values(p: Process) -> None:
    addr = mem(p)
    store(p, addr, -7)
    start = p.kernel.now
    assert status(p.zx.futex_wait, addr, -7 & 0xFFFFFFFF, 0, start + 100_000) == zx.ZX_ERR_TIMED_OUT
    assert p.kernel.now >= start + 100_000
    assert status(p.zx.futex_wait, addr, -7, 0, p.kernel.now + 10) == zx.ZX_ERR_TIMED_OUT


def test_wake_fifo_and_counts(p: Process) -> None:
    addr = mem(p)
    order: list[int] = []
    for i in range(4):
        thread(p, lambda i=i: (p.zx.futex_wait(addr, 0, 0, INF), order.append(i)))  # type: ignore[misc]

    def waker() -> None:
        while sum(1 for t in p.threads if t.state == "blocked") < 4:
            p.zx.nanosleep(p.zx.deadline_after(100_000))
        p.zx.futex_wake(addr, 0)  # wakes nobody
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        order.append(-1)
        p.zx.futex_wake(addr, 1)
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        p.zx.futex_wake(addr, 0xFFFFFFFF)

    thread(p, waker)
    p.kernel.run()
    assert order[0] == -1 and order[1:2] == [order[1]] and sorted(order[1:]) == [0, 1, 2, 3]
    assert len(order) == 5


def test_owner_assignment_and_release(p: Process) -> None:
    addr = mem(p)
    seen: list[object] = []
    t_owner, h_owner = thread(p, lambda: p.zx.nanosleep(p.zx.deadline_after(10**7)), "owner")

    def waiter() -> None:
        p.zx.futex_wait(addr, 0, h_owner, INF)

    def checker() -> None:
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        seen.append(p.zx.futex_get_owner(addr) == t_owner.koid)
        p.zx.futex_wake(addr, 1)
        seen.append(p.zx.futex_get_owner(addr))

    thread(p, waiter, "w1")
    thread(p, checker, "checker")
    p.kernel.run()
    assert seen == [True, 0]


def test_owner_is_caller_or_a_waiter(p: Process) -> None:
    addr = mem(p)
    res: list[int] = []
    me: list[int] = []

    def self_owner() -> None:
        res.append(status(p.zx.futex_wait, addr, 0, me[0], INF))

    _t, h = thread(p, self_owner)
    me.append(h)
    _waiter_t, waiter_h = thread(p, lambda: p.zx.futex_wait(addr, 0, 0, INF))

    def second() -> None:
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        res.append(status(p.zx.futex_wait, addr, 0, waiter_h, INF))  # owner already waits here
        p.zx.futex_wake(addr, 0xFFFFFFFF)

    thread(p, second)
    p.kernel.run()
    assert res == [zx.ZX_ERR_INVALID_ARGS, zx.ZX_ERR_INVALID_ARGS]


def test_wake_single_owner(p: Process) -> None:
    addr = mem(p)
    woke: list[str] = []
    owners: list[int] = []
    ts = {}
    for name in ("a", "b"):
        ts[name], _ = thread(p, lambda n=name: (p.zx.futex_wait(addr, 0, 0, INF), woke.append(n)), name)  # type: ignore[misc]

    def waker() -> None:
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        p.zx.futex_wake_single_owner(addr)
        owners.append(p.zx.futex_get_owner(addr))
        p.zx.futex_wake_single_owner(addr)
        owners.append(p.zx.futex_get_owner(addr))  # no waiter left: no owner

    thread(p, waker)
    p.kernel.run()
    assert owners[0] in (ts["a"].koid, ts["b"].koid) and owners[1] == 0
    assert sorted(woke) == ["a", "b"]


def test_requeue(p: Process) -> None:
    base = mem(p)
    a, b = base, base + 4
    woke: list[int] = []
    got: list[object] = []
    for i in range(3):
        thread(p, lambda i=i: (p.zx.futex_wait(a, 0, 0, INF), woke.append(i)))  # type: ignore[misc]
    t_owner, h_owner = thread(p, lambda: p.zx.nanosleep(p.zx.deadline_after(10**7)), "owner")

    def mover() -> None:
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        got.append(status(p.zx.futex_requeue, a, 1, 0, a, 1, 0))  # same address
        got.append(status(p.zx.futex_requeue, a, 1, 0, b + 1, 1, 0))  # misaligned
        got.append(status(p.zx.futex_requeue, a, 1, 9, b, 1, 0x999))  # mismatch first
        got.append(status(p.zx.futex_requeue, a, 1, 0, b, 1, 0x999))
        p.zx.futex_requeue(a, 1, 0, b, 1, h_owner)
        got.append(len(woke))
        got.append(p.zx.futex_get_owner(b) == t_owner.koid)
        p.zx.futex_wake(a, 0xFFFFFFFF)  # the one left on a
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        got.append(len(woke))
        p.zx.futex_wake(b, 0xFFFFFFFF)

    thread(p, mover)
    p.kernel.run()
    assert got == [zx.ZX_ERR_INVALID_ARGS, zx.ZX_ERR_INVALID_ARGS, zx.ZX_ERR_BAD_STATE,
                   zx.ZX_ERR_BAD_HANDLE, 0, True, 2]
    assert sorted(woke) == [0, 1, 2]


def test_requeued_waiter_times_out_from_the_new_futex(p: Process) -> None:
    base = mem(p)
    a, b = base, base + 8
    res: list[int] = []

    def waiter() -> None:
        try:
            p.zx.futex_wait(a, 0, 0, p.zx.deadline_after(50_000))
            res.append(zx.ZX_OK)
        except ZxError as e:
            res.append(e.status)

    thread(p, waiter)
    thread(p, waiter)
    owner: list[int] = []

    def mover() -> None:
        # Both waiters queue first; then one is woken and the other moves to `b`.
        def queued() -> int:
            ctx = p.kernel.futex_contexts.get(p.koid)  # type: ignore[attr-defined]
            futex = ctx.futexes.get(a) if ctx is not None else None
            return len(futex.waiters) if futex is not None else 0

        while queued() < 2:
            p.zx.nanosleep(p.zx.deadline_after(1_000))
        p.zx.futex_requeue_single_owner(a, 0, b, 1, 0)
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        owner.append(p.zx.futex_get_owner(b))

    thread(p, mover)
    p.kernel.run()
    assert sorted(res) == sorted([zx.ZX_OK, zx.ZX_ERR_TIMED_OUT]) and owner == [0]
    assert not p.kernel.futex_contexts.get(p.koid, None) or not p.kernel.futex_contexts[p.koid].futexes  # type: ignore[attr-defined]


def test_futex_wait_in_deadlock_report(p: Process) -> None:
    addr = mem(p)
    thread(p, lambda: p.zx.futex_wait(addr, 0, 0, INF))
    with pytest.raises(Deadlock) as err:
        p.kernel.run()
    assert f"futex_wait(addr {addr:#x})" in str(err.value)


def test_bad_arguments(p: Process) -> None:
    addr = mem(p)
    assert status(p.zx.futex_wake, addr + 1, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.futex_wake, addr, -1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.futex_wake_single_owner, None) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.futex_get_owner, 3) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.futex_requeue_single_owner, addr, 0, 0, 1, 0) == zx.ZX_ERR_INVALID_ARGS
    p.zx.futex_wake(addr, 5)  # nobody waiting: OK
    assert p.zx.futex_get_owner(addr) == 0


def test_futex_mutex_example_never_loses_an_increment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from microsim import trace
    from microsim.runner import run_program

    example = Path(__file__).resolve().parent.parent / "examples" / "futex_mutex.py"
    waits = 0
    for seed in range(4):
        path = tmp_path / f"s{seed}.jsonl"
        r = run_program(example, seed=seed, trace=str(path), args=["15"])
        assert r.ok, r.error
        waits += sum(1 for _, rec in trace.records(str(path))
                     if rec["kind"] == "syscall" and rec["name"] == "zx_futex_wait" and rec["status"] == 0)
    assert waits > 0  # the lock was contended and threads slept on the futex


def test_process_exit_drops_its_futexes(p: Process) -> None:
    k = p.kernel
    addr = mem(p)
    thread(p, lambda: p.zx.futex_wait(addr, 0, 0, INF))
    thread(p, lambda: (p.zx.nanosleep(p.zx.deadline_after(100_000)), p.zx.process_exit(3)))
    k.run()
    assert p.exited and p.exit_code == 3
    assert p.koid not in k.futex_contexts  # type: ignore[attr-defined]


def _handoff_run(seed: int, drive: Callable[[Kernel], None]) -> tuple[list[Any], list[tuple[int, int, int]], int]:
    """Three threads pass a futex turn around (one also sleeps, one ends early), traced;
    the records, each thread's (koid, cpu time, queue time), and the context switches."""
    with Kernel(seed=seed, capture=True) as k:
        p = k.create_process("handoff")
        addr = mem(p)

        def player(me: int, rounds: int) -> None:
            for i in range(rounds):
                while True:
                    try:
                        p.zx.futex_wait(addr, (me + 1) % 3, 0, p.zx.deadline_after(50_000))
                    except ZxError as e:
                        if e.status == zx.ZX_ERR_BAD_STATE:
                            break
                if i % 7 == me:
                    p.zx.nanosleep(p.zx.deadline_after(3_000))
                store(p, addr, (me + 1) % 3)
                p.zx.futex_wake(addr, 0xFFFFFFFF)  # all

        threads = [k.create_thread(p, player, me, 30 if me else 12) for me in range(3)]
        drive(k)
        assert k.trace is not None and k.trace.records is not None
        k.trace.flush()
        return list(k.trace.records), [(t.koid, t.runtime, t.queue_time) for t in threads], k.sched.switches


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_threads_handing_the_cpu_to_each_other_change_nothing(seed: int) -> None:
    """The scheduler lets a thread leaving the CPU pick and switch to the next one itself
    (no `until`); driven by the loop at every switch instead, a run makes the same
    decisions: the same trace, CPU and queue times, and context switches."""
    direct = _handoff_run(seed, lambda k: k.run())
    looped = _handoff_run(seed, lambda k: k.sched.run(until=lambda: all(t.state == "dead" for t in k.sched.threads)))
    assert direct[0] == looped[0]
    assert direct[1:] == looped[1:]
    assert direct[2] > 50 and any(cpu for _, cpu, _ in direct[1])
