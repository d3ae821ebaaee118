"""Timers on virtual time (Zircon's timer core-tests)."""

from __future__ import annotations

from typing import Any

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

SIG = zx.ZX_TIMER_SIGNALED
MS = 1_000_000



def signals(p: Process, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["timer", "event"]).create_process("timer")


def test_create(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    info = p.zx.object_get_info(t, zx.ZX_INFO_HANDLE_BASIC)
    assert info.type == zx.ZX_OBJ_TYPE_TIMER and info.rights == 0xD00B
    assert signals(p, t) == 0
    ti = p.zx.object_get_info(t, zx.ZX_INFO_TIMER)
    assert (ti.options, ti.clock_id, ti.deadline, ti.slack) == (0, 0, 0, 0)
    p.zx.timer_create(zx.ZX_TIMER_SLACK_LATE, zx.ZX_CLOCK_BOOT)
    assert status(p.zx.timer_create, 0, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.timer_create, 3, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.timer_create, 3, 7) == zx.ZX_ERR_INVALID_ARGS  # clock first


def test_wait_wakes_at_deadline(p: Process) -> None:
    k = p.kernel
    t = p.zx.timer_create(0, 0)
    deadline = k.now + 10_000_000
    p.zx.timer_set(t, deadline, 0)
    ti = p.zx.object_get_info(t, zx.ZX_INFO_TIMER)
    assert (ti.deadline, ti.slack) == (deadline, 0)
    assert status(p.zx.object_wait_one, t, SIG, 0) == zx.ZX_ERR_TIMED_OUT
    assert p.zx.object_wait_one(t, SIG, zx.ZX_TIME_INFINITE) == SIG
    assert k.now - k.syscall_ns == deadline  # the wait returned at the deadline
    assert p.zx.object_get_info(t, zx.ZX_INFO_TIMER).deadline == 0  # one-shot


def test_thread_waits_while_another_runs(p: Process) -> None:
    k = p.kernel
    t = p.zx.timer_create(0, 0)
    woke: list[int] = []
    spins: list[int] = []

    def waiter() -> None:
        p.zx.timer_set(t, p.zx.deadline_after(50_000), 0)
        p.zx.object_wait_one(t, SIG, zx.ZX_TIME_INFINITE)
        woke.append(p.zx.clock_get_monotonic())

    def spinner() -> None:
        # Never blocks: the timer still fires once time passes its deadline.
        while not woke:
            spins.append(1)
            p.zx.clock_get_monotonic()

    k.create_thread(p, waiter)
    k.create_thread(p, spinner)
    k.run()
    assert woke and woke[0] >= 50_000 and 0 < len(spins) < 200


def test_past_deadline_signals_at_once(p: Process) -> None:
    t = p.zx.timer_create(0, 0)
    for deadline in (0, -1, zx.ZX_TIME_INFINITE_PAST, p.kernel.now):
        p.zx.timer_cancel(t)
        assert signals(p, t) == 0
        p.zx.timer_set(t, deadline, 0)
        assert signals(p, t) == SIG
        ti = p.zx.object_get_info(t, zx.ZX_INFO_TIMER)
        assert (ti.deadline, ti.slack) == (0, 0)


def test_set_clears_signaled_and_cancel(p: Process) -> None:
    k = p.kernel
    t = p.zx.timer_create(0, 0)
    p.zx.timer_set(t, 0, 0)
    assert signals(p, t) == SIG
    p.zx.timer_set(t, k.now + 1_000_000, 5)
    assert signals(p, t) == 0
    assert p.zx.object_get_info(t, zx.ZX_INFO_TIMER).slack == 5
    p.zx.timer_cancel(t)
    p.zx.timer_cancel(t)  # OK when not armed
    ti = p.zx.object_get_info(t, zx.ZX_INFO_TIMER)
    assert (ti.deadline, ti.slack) == (0, 0)
    e = p.zx.event_create(0)
    # Nothing fires: waiting on the cancelled timer times out at the wait's deadline.
    assert status(p.zx.object_wait_one, t, SIG, k.now + 5_000_000) == zx.ZX_ERR_TIMED_OUT
    assert signals(p, e) == 0


def test_slack_window_is_respected_and_seeded(make_kernel) -> None:  # type: ignore[no-untyped-def]
    def fire_times(seed: int, mode: int) -> list[int]:
        k = make_kernel(plugins=["timer"], seed=seed, capture=False)
        p = k.create_process("slack")
        t = p.zx.timer_create(mode, 0)
        out = []
        for _ in range(20):
            d = k.now + 1_000_000
            p.zx.timer_set(t, d, 300_000)
            p.zx.object_wait_one(t, SIG, zx.ZX_TIME_INFINITE)
            out.append(k.now - k.syscall_ns - d)
        return out

    center = fire_times(1, zx.ZX_TIMER_SLACK_CENTER)
    assert all(-300_000 <= x <= 300_000 for x in center) and len(set(center)) > 1
    assert all(-300_000 <= x <= 0 for x in fire_times(1, zx.ZX_TIMER_SLACK_EARLY))
    assert all(0 <= x <= 300_000 for x in fire_times(1, zx.ZX_TIMER_SLACK_LATE))
    assert fire_times(1, 0) == center and fire_times(2, 0) != center


def test_errors(p: Process) -> None:
    t = p.zx.timer_create(0, 0)
    # Negative slack: OUT_OF_RANGE before the handle is looked up.
    assert status(p.zx.timer_set, 0x999, 1, -1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.timer_set, 0x999, 1, 0) == zx.ZX_ERR_BAD_HANDLE
    e = p.zx.event_create(0)
    assert status(p.zx.timer_set, e, 1, 0) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.timer_cancel, e) == zx.ZX_ERR_WRONG_TYPE
    nw = p.zx.handle_duplicate(t, zx.ZX_RIGHT_WAIT)
    assert status(p.zx.timer_set, nw, 1, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.timer_cancel, nw) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.timer_set, t, 1 << 63, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal_peer, t, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.object_signal, t, 0, SIG) == zx.ZX_ERR_INVALID_ARGS
    p.zx.object_signal(t, 0, zx.ZX_USER_SIGNAL_0)
    assert status(p.zx.object_get_info, t, zx.ZX_INFO_TIMER, 23) == zx.ZX_ERR_BUFFER_TOO_SMALL


def test_closing_cancels(p: Process) -> None:
    k = p.kernel
    t = p.zx.timer_create(0, 0)
    p.zx.timer_set(t, k.now + 1000, 0)
    assert k.sched.armed_deadlines == 1
    p.zx.handle_close(t)
    assert k.sched.armed_deadlines == 0


def test_restarting_does_not_accumulate_deadlines(p: Process) -> None:
    k = p.kernel
    t = p.zx.timer_create(0, 0)
    year = 365 * 24 * 3600 * 10**9
    for _ in range(5000):
        p.zx.timer_set(t, k.now + year, 0)
    assert len(k.sched.timers) < 2000 and k.sched.armed_deadlines == 1
    assert status(p.zx.object_wait_one, t, SIG, p.zx.deadline_after(1_000_000)) == zx.ZX_ERR_TIMED_OUT
    p.zx.timer_cancel(t)


def _slack_job(k: Any, host: Process, slack: int, mode: int) -> tuple[int, Any]:
    """A child job with a ZX_JOB_POL_TIMER_SLACK policy, and a process in it."""
    job = host.zx.job_create(host.zx.job_default(), 0)
    host.zx.job_set_policy(job, zx.ZX_JOB_POL_RELATIVE, zx.ZX_JOB_POL_TIMER_SLACK,
                           [zx.zx_policy_timer_slack_t(min_slack=slack, default_mode=mode)])
    job_obj = k.objects[host.zx.object_get_info(job, zx.ZX_INFO_HANDLE_BASIC).koid]
    return job, k.create_process("slack", job=job_obj)


def test_job_timer_slack_policy_is_the_least_slack_of_a_timer(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["timer"])
    host = k.create_process("host")
    _, p = _slack_job(k, host, 10 * MS, zx.ZX_TIMER_SLACK_LATE)
    t = p.zx.timer_create(zx.ZX_TIMER_SLACK_EARLY, zx.ZX_CLOCK_MONOTONIC)
    deadline = p.zx.deadline_after(50 * MS)
    p.zx.timer_set(t, deadline, 0)
    assert p.zx.object_get_info(t, zx.ZX_INFO_TIMER).slack == 10 * MS  # the policy's
    p.zx.timer_set(t, deadline, 20 * MS)
    assert p.zx.object_get_info(t, zx.ZX_INFO_TIMER).slack == 20 * MS  # the caller's, larger
    # The timer's own mode (EARLY) places it: it fires within [d - 20 ms, d].
    p.zx.object_wait_one(t, SIG, zx.ZX_TIME_INFINITE)
    assert deadline - 20 * MS <= k.now <= deadline + 2 * k.syscall_ns
    # Outside the job, no policy: the slack is the caller's.
    t2 = host.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    host.zx.timer_set(t2, host.zx.deadline_after(MS), 0)
    assert host.zx.object_get_info(t2, zx.ZX_INFO_TIMER).slack == 0


@pytest.mark.parametrize("mode", [zx.ZX_TIMER_SLACK_EARLY, zx.ZX_TIMER_SLACK_LATE, zx.ZX_TIMER_SLACK_CENTER])
def test_job_timer_slack_policy_moves_blocking_deadlines(make_kernel, mode: int) -> None:  # type: ignore[no-untyped-def]
    """A thread's waits take its job's slack (Zircon's `Deadline(d, GetTimerSlackPolicy())`):
    each wakes somewhere in the mode's window, drawn from the seed."""
    slack = 5 * MS
    woke: list[tuple[int, int]] = []
    k = make_kernel(plugins=["timer", "event"])
    host = k.create_process("host")
    _, p = _slack_job(k, host, slack, mode)
    e = p.zx.event_create(0)

    def sleeper() -> None:
        for i in range(20):
            d = p.zx.deadline_after(MS)
            if i % 2:
                p.zx.nanosleep(d)
            else:
                with pytest.raises(ZxError):
                    p.zx.object_wait_one(e, zx.ZX_EVENT_SIGNALED, d)
            woke.append((d, k.now))

    k.create_thread(p, sleeper, name="sleeper")
    k.run()
    lo = -slack if mode != zx.ZX_TIMER_SLACK_LATE else 0
    hi = slack if mode != zx.ZX_TIMER_SLACK_EARLY else 0
    cost = 2 * k.syscall_ns
    offsets = [now - d for d, now in woke]
    assert all(lo <= off <= hi + cost for off in offsets)
    assert len(set(offsets)) > 5  # drawn, not fixed
