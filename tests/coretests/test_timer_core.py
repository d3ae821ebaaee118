"""Ports of Zircon's timer core-tests (zircon/system/utest/core/timer/timer.cc)."""

from __future__ import annotations

from zxcore import get_signals, status_of

from microsim import ZxError, zx
from microsim.objects.process import Process

SIG = zx.ZX_TIMER_SIGNALED
INF = zx.ZX_TIME_INFINITE
INF_PAST = -(1 << 63)
MS = 1_000_000


def check_info(p: Process, t: int, options: int, deadline: int, slack: int) -> None:
    info = p.zx.object_get_info(t, zx.ZX_INFO_TIMER)
    assert (info.options, info.deadline, info.slack) == (options, deadline, slack)


def test_DeadlineAfter(p: Process) -> None:
    then = p.zx.clock_get_monotonic()
    assert then > 1000  # "the day we boot and run this test in less than 1 µs ..."
    assert then < p.zx.deadline_after(3600 * 10**9)
    assert p.zx.deadline_after((1 << 63) - 1 - 100) == INF
    assert p.zx.deadline_after(10 * 365 * 24 * 3600 * 10**9) > 0
    assert p.zx.deadline_after(INF_PAST) < 0


def test_SetNegativeDeadline(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    check_info(p, t, 0, 0, 0)
    p.zx.timer_set(t, -1, 0)
    check_info(p, t, 0, 0, 0)
    assert p.zx.object_wait_one(t, SIG, INF) == SIG
    check_info(p, t, 0, 0, 0)


def test_SetNegativeDeadlineMax(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    p.zx.timer_set(t, INF_PAST, 0)
    check_info(p, t, 0, 0, 0)
    assert p.zx.object_wait_one(t, SIG, INF) == SIG
    check_info(p, t, 0, 0, 0)


def test_SetNegativeSlack(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    assert status_of(p.zx.timer_set, t, 0, -1) == zx.ZX_ERR_OUT_OF_RANGE
    check_info(p, t, 0, 0, 0)


def test_AlreadyPassedDeadlineOnWaitOne(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    p.zx.timer_set(t, INF_PAST, 0)
    check_info(p, t, 0, 0, 0)
    assert p.zx.object_wait_one(t, SIG, INF_PAST) == SIG
    check_info(p, t, 0, 0, 0)


def test_Basic(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    assert get_signals(p, t) == 0
    for _ in range(3):
        deadline_timer = p.zx.deadline_after(10 * MS)
        deadline_wait = p.zx.deadline_after(1000 * 10**9)
        p.zx.timer_set(t, deadline_timer, 0)
        assert p.zx.object_wait_one(t, SIG, deadline_wait) == SIG
        assert p.zx.clock_get_monotonic() >= deadline_timer
        check_info(p, t, 0, 0, 0)


def test_Restart(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    for _ in range(10):
        deadline_timer = p.zx.deadline_after(365 * 24 * 3600 * 10**9)
        deadline_wait = p.zx.deadline_after(MS)
        p.zx.timer_set(t, deadline_timer, 0)
        check_info(p, t, 0, deadline_timer, 0)
        try:
            p.zx.object_wait_one(t, SIG, deadline_wait)
            raise AssertionError("the timer fired early")
        except ZxError as e:
            assert e.status == zx.ZX_ERR_TIMED_OUT and e.observed == 0
        check_info(p, t, 0, deadline_timer, 0)


def test_InvalidCalls(p: Process) -> None:
    assert status_of(p.zx.timer_create, 0, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status_of(p.zx.timer_create, zx.ZX_TIMER_SLACK_LATE + 1, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status_of(p.zx.timer_create, zx.ZX_TIMER_SLACK_LATE + 1, 0) == zx.ZX_ERR_INVALID_ARGS


def test_EdgeCases(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    p.zx.timer_set(t, 0, 0)


def test_RestartRace(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    for _ in range(50):
        p.zx.timer_set(t, p.zx.deadline_after(100_000), 0)
        p.zx.nanosleep(p.zx.deadline_after(50_000))
    p.zx.timer_cancel(t)
    p.zx.nanosleep(p.zx.deadline_after(MS))
    assert get_signals(p, t) == 0


def test_SignalsAssertedImmediately(p: Process) -> None:
    t = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    for _ in range(100):
        now = p.zx.clock_get_monotonic()
        p.zx.timer_set(t, now, 0)
        assert p.zx.object_wait_one(t, SIG, 0) == SIG
        p.zx.timer_cancel(t)
        assert get_signals(p, t) == 0


def _check_coalescing(p: Process, mode: int) -> None:
    t1 = p.zx.timer_create(0, zx.ZX_CLOCK_MONOTONIC)
    t2 = p.zx.timer_create(mode, zx.ZX_CLOCK_MONOTONIC)
    start = p.zx.clock_get_monotonic()
    p.zx.timer_set(t1, start + 350 * MS, 0)
    p.zx.timer_set(t2, start + 250 * MS, 110 * MS)
    check_info(p, t2, mode, start + 250 * MS, 110 * MS)
    assert p.zx.object_wait_one(t2, SIG, INF) == SIG
    check_info(p, t2, mode, 0, 0)
    elapsed = p.zx.clock_get_monotonic() - start
    if mode == zx.ZX_TIMER_SLACK_LATE:
        assert 250 * MS <= elapsed <= 360 * MS
    else:
        assert 140 * MS <= elapsed <= 250 * MS


def test_CoalesceTestEarly(p: Process) -> None:
    _check_coalescing(p, zx.ZX_TIMER_SLACK_EARLY)


def test_CoalesceTestLate(p: Process) -> None:
    _check_coalescing(p, zx.ZX_TIMER_SLACK_LATE)
