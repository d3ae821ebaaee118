"""Regression tests for what the independent fuzzer found (reliability, second round)."""

from __future__ import annotations

from typing import Any

import pytest

from microsim import Kernel, ZxError, zx
from microsim.core.invariants import collect
from microsim.errors import Deadlock, KernelClosed
from microsim.objects.process import Process
from microsim.trace import load

P = zx.ZX_PAGE_SIZE


def _status(fn: Any, *args: Any) -> int:
    try:
        fn(*args)
    except ZxError as e:
        return e.status
    return zx.ZX_OK


@pytest.fixture
def k() -> Any:
    with Kernel(seed=3, plugins=["vmo", "channel", "port"]) as kernel:
        yield kernel


@pytest.fixture
def p(k: Kernel) -> Process:
    return k.create_process("p")


def _disp(handle: Any, rights: Any = zx.ZX_RIGHT_SAME_RIGHTS, op: Any = zx.ZX_HANDLE_OP_MOVE,
          type: Any = 0) -> zx.zx_handle_disposition_t:
    return zx.zx_handle_disposition_t(operation=op, handle=handle, type=type, rights=rights)


# --------------------------------------------------------------------------- item 3
@pytest.mark.parametrize("field,bad", [
    ("rights", None), ("rights", "x"), ("rights", 1.5), ("rights", [1]), ("rights", 2**64),
    ("type", None), ("type", -1), ("operation", "move"), ("operation", None),
])
def test_write_etc_with_a_bad_disposition_field_leaks_nothing(k: Kernel, p: Process, field: str, bad: Any) -> None:
    a, b = p.zx.channel_create(0)
    v = p.zx.vmo_create(P, 0)
    koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
    d = _disp(v)
    setattr(d, field, bad)
    assert _status(p.zx.channel_write_etc, a, 0, b"x", [d]) == zx.ZX_ERR_INVALID_ARGS
    # Nothing was queued; the moved handle was consumed and closed (Zircon: the source
    # handle of a MOVE is always closed), so the VMO is gone and nothing is unaccounted.
    assert _status(p.zx.channel_read, b, 0, 64, 4) == zx.ZX_ERR_SHOULD_WAIT
    assert koid not in k.objects
    assert collect(k) == []


def test_write_etc_disposition_checks_follow_zircon(k: Kernel, p: Process) -> None:
    a, b = p.zx.channel_create(0)
    v = p.zx.vmo_create(P, 0)
    # WRONG_TYPE for a type that does not match; the disposition reports it in `result`.
    d = _disp(p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS), type=zx.ZX_OBJ_TYPE_CHANNEL)
    assert _status(p.zx.channel_write_etc, a, 0, b"", [d]) == zx.ZX_ERR_WRONG_TYPE
    assert d.result == zx.ZX_ERR_WRONG_TYPE
    # Rights that are not a subset: INVALID_ARGS.
    d = _disp(p.zx.handle_duplicate(v, zx.ZX_RIGHT_TRANSFER), rights=zx.ZX_RIGHT_READ)
    assert _status(p.zx.channel_write_etc, a, 0, b"", [d]) == zx.ZX_ERR_INVALID_ARGS
    # An unknown operation: INVALID_ARGS, the source consumed.
    h = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
    assert _status(p.zx.channel_write_etc, a, 0, b"", [_disp(h, op=7)]) == zx.ZX_ERR_INVALID_ARGS
    assert h not in p.handles
    # DUPLICATE sends a copy with the asked rights and keeps the source.
    p.zx.channel_write_etc(a, 0, b"dup", [_disp(v, rights=zx.ZX_RIGHT_TRANSFER | zx.ZX_RIGHT_READ,
                                                op=zx.ZX_HANDLE_OP_DUPLICATE)])
    assert v in p.handles
    data, infos = p.zx.channel_read_etc(b, 0, 64, 4)
    assert data == b"dup" and infos[0].rights == zx.ZX_RIGHT_TRANSFER | zx.ZX_RIGHT_READ
    # MOVE with fewer rights.
    p.zx.channel_write_etc(a, 0, b"mv", [_disp(v, rights=zx.ZX_RIGHT_TRANSFER)])
    assert v not in p.handles
    _, infos = p.zx.channel_read_etc(b, 0, 64, 4)
    assert infos[0].rights == zx.ZX_RIGHT_TRANSFER
    assert collect(k) == []


# --------------------------------------------------------------------------- items 4, 5
def test_port_wait_deadlock_leaves_no_waiter(k: Kernel, p: Process) -> None:
    port = p.zx.port_create(0)
    with pytest.raises(Deadlock):
        p.zx.port_wait(port, zx.ZX_TIME_INFINITE)
    assert not p.handles[port].obj.waiters
    # The next packet is not eaten by a ghost waiter.
    p.zx.port_queue(port, zx.zx_port_packet_t(key=7))
    assert p.zx.port_wait(port, 0).key == 7
    assert collect(k) == []


def test_wait_one_and_wait_many_deadlock_leave_no_observer(k: Kernel, p: Process) -> None:
    a, b = p.zx.channel_create(0)
    with pytest.raises(Deadlock):
        p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    assert not p.handles[a].obj.observers
    with pytest.raises(Deadlock):
        p.zx.object_wait_many([zx.zx_wait_item_t(handle=a, waitfor=zx.ZX_CHANNEL_READABLE),
                               zx.zx_wait_item_t(handle=b, waitfor=zx.ZX_CHANNEL_READABLE)],
                              zx.ZX_TIME_INFINITE)
    assert not p.handles[a].obj.observers and not p.handles[b].obj.observers
    assert collect(k) == []
    # A later wait still works.
    p.zx.channel_write(b, 0, b"x", [])
    assert p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE) & zx.ZX_CHANNEL_READABLE


def test_deadlocked_direct_wait_with_a_blocked_thread_leaves_nothing(k: Kernel, p: Process) -> None:
    a, b = p.zx.channel_create(0)

    def reader() -> None:
        p.zx.object_wait_one(b, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)

    k.create_thread(p, reader)
    with pytest.raises(Deadlock):
        p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    # The direct caller's observer is gone; the thread's own wait is still registered.
    assert not p.handles[a].obj.observers
    assert len(p.handles[b].obj.observers) == 1
    p.zx.channel_write(a, 0, b"wake", [])
    k.run()
    assert collect(k) == []


# --------------------------------------------------------------------------- item 6
def test_closed_kernel_refuses_everything(tmp_path: Any) -> None:
    path = str(tmp_path / "t.jsonl")
    k = Kernel(seed=1, plugins=["vmo", "channel", "port"], trace=path)
    p = k.create_process("p")
    q = k.create_process("q")
    v = p.zx.vmo_create(P, 0)
    k.close()
    for call in (lambda: p.zx.vmo_get_size(v), lambda: q.zx.vmo_create(P, 0), lambda: p.zx.process_self(),
                 lambda: p.zx.channel_create(0), lambda: k.create_process("late"),
                 lambda: k.create_thread(p, lambda: None), lambda: k.run(), lambda: k.exit_process(p)):
        with pytest.raises(KernelClosed, match="the kernel is closed"):
            call()
    k.observe_syscalls("vmo_*")  # rebuilding the facade keeps it closed
    with pytest.raises(KernelClosed):
        p.zx.vmo_get_size(v)
    k.close()  # idempotent
    kinds = [e.kind for e in load(path)]
    assert kinds[0] == "trace_start" and kinds[-1] == "trace_end"


def test_open_kernels_are_not_affected_by_another_closing() -> None:
    with Kernel(plugins=["vmo"]) as k1, Kernel(plugins=["vmo"]) as k2:
        p1, p2 = k1.create_process("a"), k2.create_process("b")
        k1.close()
        assert p2.zx.vmo_create(P, 0)
        with pytest.raises(KernelClosed):
            p1.zx.vmo_create(P, 0)


# --------------------------------------------------------------------------- exact accounting
def test_invariants_count_handles_exactly(k: Kernel, p: Process) -> None:
    a, b = p.zx.channel_create(0)
    v = p.zx.vmo_create(P, 0)
    d = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
    p.zx.channel_write(a, 0, b"m", [d])  # in flight: counted through count_held_handles
    assert collect(k) == []
    # Item 3's leak: a handle leaves the table and goes nowhere.
    lost = p.take_handle(v, "transfer")
    problems = collect(k)
    assert any("handle_count 2 != 1" in m for m in problems), problems
    k.close_handle(lost)
    assert collect(k) == []
    # A handle both in flight and in a table is counted twice.
    held = p.handles[b].obj.messages[0][1][0]
    p.handles[0x7FFFFFF3] = held
    held.value, held.owner = 0x7FFFFFF3, p
    problems = collect(k)
    assert any("also in a table" in m for m in problems), problems


def test_invariants_find_an_observer_that_outlived_its_wait(k: Kernel, p: Process) -> None:
    from microsim.blocking import _SignalWait  # what zx_object_wait_one registers

    a, _ = p.zx.channel_create(0)
    h = p.handles[a]
    w = _SignalWait(h.obj, h, zx.ZX_CHANNEL_READABLE, zx.ZX_THREAD_STATE_BLOCKED_WAIT_ONE, "test")
    h.obj.add_observer(w)
    # Nobody waits on it (no blocked thread, no direct caller): a leftover, like the
    # observer a deadlocked direct wait used to leave.
    assert any("outlived its wait" in m for m in collect(k))
    k.sched.direct_waits.append(w)  # as while a direct call drives the run
    assert collect(k) == []
    w.done = True  # ended without cancelling its observers
    assert any("outlived its wait" in m for m in collect(k))
    w.cancel()
    k.sched.direct_waits.remove(w)
    assert collect(k) == []
    port = p.zx.port_create(0)
    p.zx.object_wait_async(a, port, 1, zx.ZX_CHANNEL_READABLE, 0)
    assert collect(k) == []
    p.handles[port].obj.observers_by_key.clear()  # a registration the port forgot
    assert any("outlived its wait" in m for m in collect(k))
