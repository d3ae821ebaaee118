"""A bug that needs two preemptions: each thread must read the other's flag while the
other is between setting and clearing it, so both must be switched away mid-window."""

from microsim import zx


def side(ctx, s, me, other):  # type: ignore[no-untyped-def]
    s[me] = 1
    ctx.zx.clock_get_monotonic()
    s["seen_" + other] = s[other]
    ctx.zx.clock_get_monotonic()
    s[me] = 0


def main(ctx):  # type: ignore[no-untyped-def]
    s = {"a": 0, "b": 0, "seen_a": 0, "seen_b": 0}
    ta = ctx.thread(side, ctx, s, "a", "b", name="a")
    tb = ctx.thread(side, ctx, s, "b", "a", name="b")
    for t in (ta, tb):
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
    assert not (s["seen_a"] and s["seen_b"]), "each side saw the other mid-window"
