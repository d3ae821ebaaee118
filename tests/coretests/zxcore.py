"""Helpers for the ports of Zircon's core-tests (zircon/system/utest/core)."""

from __future__ import annotations

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
