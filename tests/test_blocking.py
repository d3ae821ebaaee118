"""The public blocking API (`microsim.blocking`) through a plugin written against it."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from microsim import Deadlock, Kernel, KernelObject, WaitQueue, ZxError, hookimpl, zx
from microsim.blocking import deadline_after, wait_signals
from microsim.core.syscall import arg_i64, arg_u32
from microsim.objects.process import Process


class Gate(KernelObject):
    """A test object: callers of zx_gate_pass block until zx_gate_open hands them a ticket."""

    obj_type = zx.ZX_OBJ_TYPE_UPPER_BOUND - 1
    type_name = "gate"
    default_rights = zx.ZX_DEFAULT_EVENT_RIGHTS
    __slots__ = ("described", "tickets", "waiters")

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.waiters = WaitQueue(kernel, self)
        self.tickets = 0
        self.described = 0


def sys_gate_create(p: Process) -> int:
    k = p.kernel
    g = Gate(k)
    k.publish(g, p.koid)
    return k.new_handle(p, g, Gate.default_rights)


def sys_gate_pass(p: Process, handle: int, deadline: int) -> int:
    h = p.lookup(handle, Gate, zx.ZX_RIGHT_WAIT)
    deadline = arg_i64(deadline)
    g: Gate = h.obj

    def describe() -> str:
        g.described += 1
        return f"gate_pass(koid {g.koid})"

    ticket: int = g.waiters.wait(deadline, handle=h, reason=zx.ZX_THREAD_STATE_BLOCKED_FUTEX,
                                 description=describe)
    return ticket


def sys_gate_open(p: Process, handle: int, count: int, status: int) -> int:
    g: Gate = p.obj(handle, Gate, zx.ZX_RIGHT_SIGNAL)
    count = arg_u32(count)
    if status != zx.ZX_OK:
        return g.waiters.wake_all(status=status)
    woken = 0
    for _ in range(count):
        g.tickets += 1
        if not g.waiters.wake_one(g.tickets):
            break
        woken += 1
    return woken


def _plugin() -> Any:
    @hookimpl
    def register_object_types(register: Callable[..., None]) -> None:
        register(Gate)

    @hookimpl
    def register_syscalls(register: Callable[..., None]) -> None:
        register("zx_gate_create", sys_gate_create)
        register("zx_gate_pass", sys_gate_pass)
        register("zx_gate_open", sys_gate_open)

    return SimpleNamespace(name="gate", register_object_types=register_object_types,
                           register_syscalls=register_syscalls)


@pytest.fixture
def k() -> Any:
    with Kernel(seed=3, plugins=[_plugin()], check_invariants=True) as kernel:
        yield kernel


def _status(fn: Callable[..., Any], *args: Any) -> int:
    try:
        fn(*args)
    except ZxError as e:
        return e.status
    return zx.ZX_OK


def test_wait_queue_wakes_in_order_with_values(k: Kernel) -> None:
    p = k.create_process("p")
    g = p.zx.gate_create()
    got: list[tuple[str, int]] = []
    for name in ("a", "b", "c"):
        k.create_thread(p, lambda n=name: got.append((n, p.zx.gate_pass(g, zx.ZX_TIME_INFINITE))), name=name)
    # Let every passer block, then open the gate for two of them.
    k.create_thread(p, lambda: (p.zx.nanosleep(p.zx.deadline_after(10_000)), p.zx.gate_open(g, 2, 0)))
    with pytest.raises(Deadlock) as err:
        k.run()
    assert sorted(t for _, t in got) == [1, 2]
    # The third passer is still blocked: the deadlock report says on what.
    assert len(err.value.blocked) == 1 and "gate_pass(koid" in err.value.blocked[0]


def test_deadline_times_out_and_time_advances(k: Kernel) -> None:
    p = k.create_process("p")
    g = p.zx.gate_create()
    assert _status(p.zx.gate_pass, g, 0) == zx.ZX_ERR_TIMED_OUT  # passed: no blocking
    t0 = k.now
    deadline = deadline_after(k, 5_000_000)
    assert _status(p.zx.gate_pass, g, deadline) == zx.ZX_ERR_TIMED_OUT
    assert k.now >= deadline > t0
    assert len(k.objects[p.zx.object_get_info(g, zx.ZX_INFO_HANDLE_BASIC).koid].waiters) == 0


def test_closing_the_handle_cancels_the_wait(k: Kernel) -> None:
    p = k.create_process("p")
    g = p.zx.gate_create()
    result: list[int] = []

    def passer() -> None:
        result.append(_status(p.zx.gate_pass, g, zx.ZX_TIME_INFINITE))

    k.create_thread(p, passer)
    k.create_thread(p, lambda: (p.zx.nanosleep(p.zx.deadline_after(1_000_000)), p.zx.handle_close(g)))
    k.run()
    assert result == [zx.ZX_ERR_CANCELED]


def test_wake_with_an_error_status(k: Kernel) -> None:
    p = k.create_process("p")
    g = p.zx.gate_create()
    result: list[int] = []
    for _ in range(2):
        k.create_thread(p, lambda: result.append(_status(p.zx.gate_pass, g, zx.ZX_TIME_INFINITE)))
    k.create_thread(p, lambda: (p.zx.nanosleep(p.zx.deadline_after(1_000_000)),
                                result.append(p.zx.gate_open(g, 0, zx.ZX_ERR_BAD_STATE))))
    k.run()
    assert sorted(result) == sorted([zx.ZX_ERR_BAD_STATE, zx.ZX_ERR_BAD_STATE, 2])


def test_reason_and_lazy_description(k: Kernel) -> None:
    p = k.create_process("p")
    g = p.zx.gate_create()
    seen: list[int] = []

    def watcher() -> None:
        p.zx.nanosleep(p.zx.deadline_after(1_000_000))
        t = next(t for t in k.sched.threads if t.wait is not None)
        seen.append(t.wait.reason)
        p.zx.gate_open(g, 1, 0)

    gate = next(iter(k.live_objects("gate")))
    k.create_thread(p, lambda: p.zx.gate_pass(g, zx.ZX_TIME_INFINITE))
    k.create_thread(p, watcher)
    k.run()
    assert seen == [zx.ZX_THREAD_STATE_BLOCKED_FUTEX]
    assert gate.described == 0  # untraced: the description was never formatted


def test_killing_a_waiter_leaves_the_queue_empty(k: Kernel) -> None:
    p = k.create_process("p")
    g = p.zx.gate_create()
    gate = next(iter(k.live_objects("gate")))
    k.create_thread(p, lambda: p.zx.gate_pass(g, zx.ZX_TIME_INFINITE))
    with pytest.raises(Deadlock):
        k.run()
    assert len(gate.waiters) == 1
    k.exit_process(p)
    assert len(gate.waiters) == 0


def test_traced_block_records_the_description() -> None:
    with Kernel(seed=1, plugins=[_plugin()], capture=True) as k:
        p = k.create_process("p")
        g = p.zx.gate_create()
        k.create_thread(p, lambda: _status(p.zx.gate_pass, g, p.zx.deadline_after(10_000_000)))
        k.run()
        k.trace.flush()  # type: ignore[union-attr]
        blocked = [r for r in k.trace.records if r["kind"] == "thread_state" and r["state"] == "blocked"]  # type: ignore[union-attr]
    assert blocked and blocked[0]["detail"].startswith("gate_pass(koid")


def test_wait_signals_directly_and_cancel(k: Kernel) -> None:
    p = k.create_process("p")
    e = p.zx.gate_create()
    h = p.handles[e]
    with pytest.raises(ZxError) as err:
        wait_signals(h, zx.ZX_USER_SIGNAL_0, 0)
    assert err.value.status == zx.ZX_ERR_TIMED_OUT and err.value.observed == 0
    p.zx.object_signal(e, 0, zx.ZX_USER_SIGNAL_0)
    assert wait_signals(h, zx.ZX_USER_SIGNAL_0, 0) == zx.ZX_USER_SIGNAL_0
    out: list[Any] = []

    def waiter() -> None:
        try:
            p.zx.object_wait_one(e, zx.ZX_USER_SIGNAL_1, zx.ZX_TIME_INFINITE)
        except ZxError as exc:
            out.append((exc.status, exc.observed))

    k.create_thread(p, waiter)
    k.create_thread(p, lambda: (p.zx.nanosleep(p.zx.deadline_after(1_000_000)), p.zx.handle_close(e)))
    k.run()
    assert out == [(zx.ZX_ERR_CANCELED, zx.ZX_USER_SIGNAL_0 | zx.ZX_SIGNAL_HANDLE_CLOSED)]


def test_wait_many_with_no_items_sleeps_until_the_deadline(k: Kernel) -> None:
    p = k.create_process("p")
    deadline = p.zx.deadline_after(50_000)
    with pytest.raises(ZxError) as err:
        p.zx.object_wait_many([], deadline)
    assert err.value.status == zx.ZX_ERR_TIMED_OUT and k.now >= deadline


def test_wait_many_cancel_reports_every_item(k: Kernel) -> None:
    p = k.create_process("p")
    a, b = p.zx.gate_create(), p.zx.gate_create()
    p.zx.object_signal(b, 0, zx.ZX_USER_SIGNAL_2)
    out: list[Any] = []

    def waiter() -> None:
        try:
            p.zx.object_wait_many([(a, zx.ZX_USER_SIGNAL_0), (b, zx.ZX_USER_SIGNAL_0)], zx.ZX_TIME_INFINITE)
        except ZxError as exc:
            out.append((exc.status, exc.pending))

    gate_b = p.handles[b].obj
    observers: list[Any] = []

    def closer() -> None:
        p.zx.nanosleep(p.zx.deadline_after(1_000_000))
        observers.append(len(gate_b.observers or ()))
        p.zx.handle_close(a)
        observers.append(len(gate_b.observers or ()))

    k.create_thread(p, waiter)
    k.create_thread(p, closer)
    k.run()
    assert out == [(zx.ZX_ERR_CANCELED, [zx.ZX_SIGNAL_HANDLE_CLOSED, zx.ZX_USER_SIGNAL_2])]
    assert observers == [1, 0]  # the other item's observer went with the wait


def test_wait_queue_wake_count_threads_requeue_and_on_empty() -> None:
    """WaitQueue.wake(count), threads(), requeue(other, count) and on_empty, as the
    futex plugin uses them, driven from plain simulated threads."""
    with Kernel(seed=3) as k:
        p = k.create_process("wq")
        emptied: list[str] = []
        a = WaitQueue(k, "a", on_empty=lambda q: emptied.append(q.owner))
        b = WaitQueue(k, "b", on_empty=lambda q: emptied.append(q.owner))
        got: dict[str, object] = {}

        def waiter(name: str, deadline: int) -> None:
            try:
                got[name] = a.wait(deadline, reason=zx.ZX_THREAD_STATE_BLOCKED_FUTEX, description=name)
            except ZxError as e:
                got[name] = e.status

        for n in ("t0", "t1", "t2"):
            k.create_thread(p, waiter, n, zx.ZX_TIME_INFINITE, name=n)
        short = k.create_thread(p, waiter, "t3", 5_000_000, name="t3")
        p.zx.nanosleep(deadline_after(k, 1_000_000))
        order = a.threads()  # the order they blocked in (the seeded scheduler's)
        assert len(order) == 4 and short in order and len(b) == 0
        long = [t for t in order if t is not short]
        assert a.requeue(b, 0) == 0
        while a.threads()[0] is short:  # keep the timing-out thread in `a`
            a.requeue(a, 1)
        first = a.threads()[0]
        assert a.requeue(b, 1) == 1
        assert b.threads() == [first] and first not in a.threads()
        rest = [t for t in long if t is not first]
        waiting = a.threads()
        assert sorted(waiting, key=id) == sorted([*rest, short], key=id)
        while a.threads()[-1] is not short:  # the two long waiters first
            a.requeue(a, 1)
        expected = a.threads()[:2]
        assert a.wake(2, "v") == expected
        assert a.threads() == [short]
        p.zx.nanosleep(deadline_after(k, 1_000_000))
        assert sorted(got) == sorted(t.name.decode() for t in rest) and set(got.values()) == {"v"}
        assert emptied == []
        p.zx.nanosleep(deadline_after(k, 10_000_000))  # t3 times out: a is empty now
        assert got["t3"] == zx.ZX_ERR_TIMED_OUT and emptied == ["a"]
        assert b.wake(5) == [first] and a.wake(1) == []
        p.zx.nanosleep(deadline_after(k, 1_000_000))
        assert got[first.name.decode()] is None and emptied == ["a"]  # woken: not "emptied"
