"""The semaphore plugin's tests, written with microsim's pytest kit as any third party would:
the fixtures (`kernel_args`, `proc`, `trace`), failure injection and the conformance suite."""

from __future__ import annotations

from typing import Any

import pytest
from microsim_semaphore.abi import SEMAPHORE_INFO, SEMAPHORE_POSITIVE, SEMAPHORE_PROP_MAX

from microsim import Deadlock, Kernel, Process, ZxError, zx
from microsim.testing import TraceCapture, check_allocation_failures, fail_allocation
from microsim.testing.conformance import Blocking, conformance_suite

INF = zx.ZX_TIME_INFINITE

# Zircon's generic object rules, plus this plugin's info topic, property, allocation
# points and blocking call (acquire on an empty semaphore blocks).
TestConformance = conformance_suite(
    plugins=["semaphore"],
    factories={"semaphore": lambda p: p.zx.semaphore_create(0, 0, 4)},
    blocking={"semaphore_acquire": Blocking(
        "semaphore", lambda p, h, deadline: p.zx.semaphore_acquire(h, deadline))},
)


@pytest.fixture
def kernel_args() -> dict[str, Any]:
    """Every test here runs on a kernel with this plugin alone (`kernel`, `proc` and
    `trace` all follow)."""
    return {"plugins": ["semaphore"]}


def status(fn: Any, *args: Any) -> int:
    try:
        fn(*args)
    except ZxError as e:
        return e.status
    return zx.ZX_OK


def test_create_checks_its_arguments(proc: Process) -> None:
    assert status(proc.zx.semaphore_create, 1, 0, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(proc.zx.semaphore_create, 0, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(proc.zx.semaphore_create, 0, 5, 4) == zx.ZX_ERR_INVALID_ARGS
    assert status(proc.zx.semaphore_create, 0, -1, 4) == zx.ZX_ERR_INVALID_ARGS
    assert status(proc.zx.semaphore_create, 0, 0, 2**64) == zx.ZX_ERR_INVALID_ARGS


def test_acquire_and_release_without_blocking(proc: Process) -> None:
    s = proc.zx.semaphore_create(0, 2, 3)
    assert proc.zx.object_wait_one(s, SEMAPHORE_POSITIVE, 0) & SEMAPHORE_POSITIVE
    proc.zx.semaphore_acquire(s, 0)
    proc.zx.semaphore_acquire(s, 0)
    assert status(proc.zx.semaphore_acquire, s, 0) == zx.ZX_ERR_TIMED_OUT
    assert status(proc.zx.object_wait_one, s, SEMAPHORE_POSITIVE, 0) == zx.ZX_ERR_TIMED_OUT
    assert proc.zx.semaphore_release(s, 3) == 0
    assert status(proc.zx.semaphore_release, s, 1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(proc.zx.semaphore_release, s, 0) == zx.ZX_ERR_INVALID_ARGS
    reader = proc.zx.handle_duplicate(s, zx.ZX_RIGHT_WAIT)
    assert status(proc.zx.semaphore_release, reader, 1) == zx.ZX_ERR_ACCESS_DENIED


def test_release_wakes_waiters_in_order(kernel: Kernel, proc: Process) -> None:
    s = proc.zx.semaphore_create(0, 0, 1)
    order: list[str] = []

    def taker(name: str, delay: int) -> None:
        proc.zx.nanosleep(proc.zx.deadline_after(delay))   # "first" blocks before "second"
        proc.zx.semaphore_acquire(s, INF)
        order.append(name)

    kernel.create_thread(proc, taker, "second", 2_000_000, name="second")
    kernel.create_thread(proc, taker, "first", 1_000_000, name="first")

    def releaser() -> None:
        proc.zx.nanosleep(proc.zx.deadline_after(5_000_000))   # both takers are blocked now
        assert proc.zx.object_get_info(s, SEMAPHORE_INFO).waiters == 2
        for _ in range(2):
            proc.zx.semaphore_release(s, 1)   # hands the unit to the longest waiter
            proc.zx.nanosleep(proc.zx.deadline_after(1_000_000))
        assert proc.zx.object_get_info(s, SEMAPHORE_INFO).count == 0

    kernel.create_thread(proc, releaser)
    kernel.run()   # (the process exits with its last thread)
    assert order == ["first", "second"]


def test_release_to_waiters_may_exceed_what_the_count_could_hold(kernel: Kernel, proc: Process) -> None:
    s = proc.zx.semaphore_create(0, 0, 1)
    done: list[int] = []
    for _ in range(2):
        kernel.create_thread(proc, lambda: done.append(status(proc.zx.semaphore_acquire, s, INF)))

    def releaser() -> None:
        proc.zx.nanosleep(proc.zx.deadline_after(1_000_000))
        proc.zx.semaphore_release(s, 2)   # both go to waiters: the maximum of 1 is not passed
        assert status(proc.zx.semaphore_release, s, 2) == zx.ZX_ERR_OUT_OF_RANGE

    kernel.create_thread(proc, releaser)
    kernel.run()
    assert done == [zx.ZX_OK, zx.ZX_OK]


def test_deadline_and_cancel(kernel: Kernel, proc: Process) -> None:
    s = proc.zx.semaphore_create(0, 0, 1)
    deadline = proc.zx.deadline_after(5_000_000)
    assert status(proc.zx.semaphore_acquire, s, deadline) == zx.ZX_ERR_TIMED_OUT
    assert kernel.now >= deadline
    seen: list[int] = []
    kernel.create_thread(proc, lambda: seen.append(status(proc.zx.semaphore_acquire, s, INF)))
    kernel.create_thread(proc, lambda: (proc.zx.nanosleep(proc.zx.deadline_after(1_000_000)),
                                        proc.zx.handle_close(s)))
    kernel.run()
    assert seen == [zx.ZX_ERR_CANCELED]


def test_a_lost_release_is_a_deadlock(kernel: Kernel, proc: Process) -> None:
    s = proc.zx.semaphore_create(0, 0, 1)
    kernel.create_thread(proc, lambda: proc.zx.semaphore_acquire(s, INF), name="stuck")
    with pytest.raises(Deadlock) as err:
        kernel.run()
    assert "stuck" in err.value.blocked[0] and "semaphore_acquire(koid" in err.value.blocked[0]


def test_info_topic_and_property(proc: Process) -> None:
    s = proc.zx.semaphore_create(0, 1, 2)
    info = proc.zx.object_get_info(s, SEMAPHORE_INFO)
    assert (info.count, info.maximum, info.waiters) == (1, 2, 0)
    assert len(info.pack()) == type(info).SIZE == 24
    assert status(proc.zx.object_get_info, s, SEMAPHORE_INFO, 23) == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert proc.zx.object_get_property(s, SEMAPHORE_PROP_MAX) == 2
    proc.zx.object_set_property(s, SEMAPHORE_PROP_MAX, 8)
    assert proc.zx.object_get_info(s, SEMAPHORE_INFO).maximum == 8
    assert status(proc.zx.object_set_property, s, SEMAPHORE_PROP_MAX, 0) == zx.ZX_ERR_INVALID_ARGS
    ro = proc.zx.handle_duplicate(s, zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHTS_PROPERTY)
    assert status(proc.zx.object_set_property, ro, SEMAPHORE_PROP_MAX, 9) == zx.ZX_ERR_ACCESS_DENIED
    assert status(proc.zx.object_get_property, proc.self_handle, SEMAPHORE_PROP_MAX) == zx.ZX_ERR_WRONG_TYPE


def test_its_trace_events_name_the_semaphore(proc: Process, trace: TraceCapture) -> None:
    s = proc.zx.semaphore_create(0, 1, 1)
    koid = proc.zx.object_get_info(s, zx.ZX_INFO_HANDLE_BASIC).koid
    proc.zx.semaphore_acquire(s, 0)
    proc.zx.semaphore_release(s, 1)
    trace.assert_event("semaphore.acquired", semaphore=koid, count=0, waited_ns=0)
    trace.assert_event("semaphore.released", semaphore=koid, released=1, woken=0)
    assert proc.kernel.event_kinds["semaphore.released"][1] == ("semaphore",)


def test_a_failed_allocation_changes_nothing(proc: Process) -> None:
    with fail_allocation(proc.kernel), pytest.raises(ZxError) as err:
        proc.zx.semaphore_create(0, 0, 1)
    assert err.value.status == zx.ZX_ERR_NO_MEMORY
    assert not list(proc.kernel.live_objects("semaphore"))
    points = check_allocation_failures(
        lambda: Kernel(plugins=["semaphore"], check_invariants=True),
        setup=lambda k: (k.create_process("p"),),
        action=lambda p: p.zx.semaphore_create(0, 1, 1),
    )
    assert points == 2
