"""`@pytest.mark.microsim(...)`: a test body explored under a strategy."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

TESTS = '''
import pytest
from microsim import zx


def _side(ctx, s, me, other):
    s[me] = 1
    ctx.zx.clock_get_monotonic()
    s["seen_" + other] = s[other]
    ctx.zx.clock_get_monotonic()
    s[me] = 0


def _two_sides(ctx):
    s = {"a": 0, "b": 0, "seen_a": 0, "seen_b": 0}
    ts = [ctx.thread(_side, ctx, s, "a", "b"), ctx.thread(_side, ctx, s, "b", "a")]
    for t in ts:
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
    return s


@pytest.mark.microsim(explore="dfs", bound=2)
def test_needs_two_preemptions(ctx):
    s = _two_sides(ctx)
    assert not (s["seen_a"] and s["seen_b"]), "both mid-window"


@pytest.mark.microsim(explore="dfs", bound=1)
def test_clean_within_bound_1(ctx):
    s = _two_sides(ctx)
    assert not (s["seen_a"] and s["seen_b"])


@pytest.mark.microsim(explore="pct", runs=200, depth=1)
def test_pct_with_fixtures(ctx, tmp_path):
    state = {"n": 0}

    def worker(ctx):
        for _ in range(30):
            state["n"] += 1
            ctx.zx.clock_get_monotonic()

    ctx.thread(worker, ctx)
    ctx.zx.clock_get_monotonic()
    assert tmp_path.is_dir()
    print("n is", state["n"])
    assert state["n"] < 30, "worker ran first"


@pytest.mark.microsim(explore="random", runs=5)
def test_random_passes(ctx):
    v = ctx.zx.vmo_create(4096, 0)
    ctx.zx.handle_close(v)


@pytest.mark.microsim(explore="dfs", bound=2, max_runs=3)
def test_incomplete_dfs_fails(ctx):
    _two_sides(ctx)


@pytest.mark.microsim(runs=3, colour="red")
def test_bad_marker(ctx):
    pass


def test_ctx_without_marker(ctx):
    pass
'''


def test_marker_runs_bodies_under_strategies(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_explored=TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=4, errors=1)
    text = result.stdout.str()
    two = text[text.index("test_needs_two_preemptions") :]
    assert "failed (with at most 2 preemptions)" in two and "both mid-window" in two
    assert re.search(r"shortest failing schedule \(2 preemptions, \d+ steps\)", two)
    assert re.search(r"replay schedule: v1-s0-r1:[0-9x.]+", two)
    m = re.search(r"trace of the shortest failing run: (\S+)", two)
    assert m is not None
    pct = text[text.index("_ test_pct_with_fixtures _") :]
    assert "worker ran first" in pct and "n is 30" in pct and "PCT run, 1 failed" in pct
    assert re.search(r"explored 3 schedules \(bound \d, incomplete\)", text)
    assert "microsim marker takes keywords" in text and "colour" in text
    assert "the ctx fixture is for tests marked @pytest.mark.microsim" in text
