"""A bug of depth 1 that needs one thread to run many steps before another looks.

The worker makes 40 increments, each followed by a syscall (a point where another thread
may run); main fails if it sees the worker already done. Random scheduling must keep the
worker running at all 40 points; PCT gives the worker the higher priority half the time.
"""

from microsim import zx

STEPS = 40


def worker(ctx, state):  # type: ignore[no-untyped-def]
    for _ in range(STEPS):
        state["n"] += 1
        ctx.zx.clock_get_monotonic()


def main(ctx):  # type: ignore[no-untyped-def]
    state = {"n": 0}
    t = ctx.thread(worker, ctx, state, name="worker")
    ctx.zx.clock_get_monotonic()
    assert state["n"] < STEPS, "the worker finished before main looked"
    ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
