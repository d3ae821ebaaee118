"""The two-preemption program made correct: a lock (a token message in a channel) makes
each side's window atomic, so no schedule can fail."""

from microsim import ZxError, zx


def lock(ctx, ch):  # type: ignore[no-untyped-def]
    while True:
        try:
            ctx.zx.channel_read(ch, 0)
            return
        except ZxError as e:
            if e.status != zx.ZX_ERR_SHOULD_WAIT:
                raise
        ctx.zx.object_wait_one(ch, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)


def side(ctx, s, me, other, ends):  # type: ignore[no-untyped-def]
    lock(ctx, ends[0])
    s[me] = 1
    ctx.zx.clock_get_monotonic()
    s["seen_" + other] = s[other]
    ctx.zx.clock_get_monotonic()
    s[me] = 0
    ctx.zx.channel_write(ends[1], 0, b"token", [])


def main(ctx):  # type: ignore[no-untyped-def]
    s = {"a": 0, "b": 0, "seen_a": 0, "seen_b": 0}
    ends = ctx.zx.channel_create(0)
    ctx.zx.channel_write(ends[1], 0, b"token", [])
    ta = ctx.thread(side, ctx, s, "a", "b", ends, name="a")
    tb = ctx.thread(side, ctx, s, "b", "a", ends, name="b")
    for t in (ta, tb):
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
    assert not (s["seen_a"] or s["seen_b"]), "a side saw the other mid-window"
