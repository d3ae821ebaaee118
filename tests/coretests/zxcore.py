"""Helpers for the ports of Zircon's core-tests (zircon/system/utest/core)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from microsim import ZxError
from microsim.objects.process import Process


def status_of(fn, *args) -> int:  # type: ignore[no-untyped-def]
    """The ZX_ERR_* status `fn(*args)` raises (fails the test if it succeeds)."""
    with pytest.raises(ZxError) as e:
        fn(*args)
    return e.value.status


def get_signals(p: Process, h: int) -> int:
    """The handle's pending signals, as the core-tests' GetSignals (a wait_one of 0 ns)."""
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)  # type: ignore[no-any-return]
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


def keep_alive(p: Process) -> Callable[[], None]:
    """Start a thread that keeps `p` alive (a process exits with its last thread) until
    the returned function is called: the test's own code plays a thread of `p` that the
    simulator does not count."""
    ev = p.zx.event_create(0)
    p.kernel.create_thread(p, lambda: p.zx.object_wait_one(ev, 1 << 24, (1 << 63) - 1), name="keeper")
    return lambda: p.zx.object_signal(ev, 0, 1 << 24)
