"""Helpers for tests that call syscalls: the Zircon status of a call, whatever it does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsim import zx
from microsim.errors import ZxError


def status(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The Zircon status of `fn(*args, **kwargs)`: ZX_OK when it returns, the status of
    the `ZxError` it raises otherwise. Any other exception propagates (a syscall that
    raises one has a bug), so `assert status(p.zx.vmo_create, -1, 0) == ZX_ERR_...`
    checks both the status and that nothing else escaped."""
    try:
        fn(*args, **kwargs)
    except ZxError as err:
        return err.status
    return zx.ZX_OK
