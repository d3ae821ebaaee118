"""Workloads shared by the benchmarks and the tests: programs whose traces are realistic
enough to measure and to check the trace tools on."""

from __future__ import annotations

from microsim import zx
from microsim.kernel import Kernel


def ping_pong(path: str, *, events: int | None = None, rounds: int | None = None, seed: int = 1) -> int:
    """Write the trace of two threads passing a message back and forth over a channel,
    one of them duplicating, signalling and closing a handle each round (syscalls, handle
    events, signals, and the scheduler's block and wake records as the threads switch).

    It runs `rounds` rounds, or until the trace holds about `events` events. Returns the
    number of lines written.
    """
    if (events is None) == (rounds is None):
        raise ValueError("give events or rounds")
    with Kernel(seed=seed, plugins=["vmo", "channel"], trace=path) as k:
        p = k.create_process("pingpong")
        v = p.zx.vmo_create(4096, 0)
        a, b = p.zx.channel_create(0)
        inf = zx.ZX_TIME_INFINITE
        trace = k.trace
        assert trace is not None

        def more(done: int) -> bool:
            if rounds is not None:
                return done < rounds
            assert trace is not None and events is not None
            return trace.count + len(trace.buffer) < events

        def ping() -> None:
            done = 0
            while more(done):
                h = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
                p.zx.object_signal(h, 0, zx.ZX_USER_SIGNAL_0)
                p.zx.channel_write(a, 0, b"ping", [])
                p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, inf)
                p.zx.channel_read(a, 0)
                p.zx.object_signal(h, zx.ZX_USER_SIGNAL_0, 0)
                p.zx.handle_close(h)
                done += 1
            p.zx.handle_close(a)

        def pong() -> None:
            while p.zx.object_wait_one(b, zx.ZX_CHANNEL_READABLE | zx.ZX_CHANNEL_PEER_CLOSED,
                                       inf) & zx.ZX_CHANNEL_READABLE:
                p.zx.channel_read(b, 0)
                p.zx.channel_write(b, 0, b"pong", [])

        k.create_thread(p, ping, name="ping")
        k.create_thread(p, pong, name="pong")
        k.run()
    with open(path, "rb") as f:
        return sum(1 for _ in f)
